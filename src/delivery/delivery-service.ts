import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import { attemptIdempotencyKey, attemptSince } from './attempt-key';
import { notePspWait } from '../admission/psp-wait';
import { markOperation } from '../metrics/stage-timing';
import { RedisClient } from '../redis/redis-connection';
import { EXTRA_HOLD_CHECK_DELAY_MS, ExtraHoldChecks, extraHoldChecks as extraHoldCheckCount, needsExtraHoldCheck } from './extra-hold-check';
import { Config } from '../config/config';
import { refundPendingEvent } from '../events/payment-event';
import { GatewayError } from '../errors/gateway-error';
import { commandRefused } from '../errors/command-refused';
import {
  CapturedPayment,
  GatewayOutcome,
  GatewayRequest,
  GatewayResponse,
  GatewayTransformer,
  OperationContext,
  inquirySupport,
  uncapturedRemainder,
} from '../gateways/gateway-adapter';
import { GatewayRoute } from '../gateways/gateway-route';
import { GatewayRouter, UNKNOWN_GATEWAY } from '../routing/gateway-router';
import { bridgeDecline, gatewayErrorDecline } from '../gateways/gateway-declines';
import { configuredVoidsOwnTransaction, declineTableFor, gatewayDefinition } from '../gateways/gateway-registry';
import { Interaction, Ledger, OperationRecord, TransitionFields } from '../ledger/ledger';
import { HistoryEntryDraft, afterTransition } from '../ledger/record-fields';
import { OperationState, isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { refusalAfterUnnamedAttempts, reportRefusalAfterUnnamedAttempts } from './sent-before-authorization';
import { BreakerBoard } from './breaker-board';
import { CircuitBreaker } from './circuit-breaker';
import { GatewayHealth, noteGatewayCall, resultOf } from './gateway-health';
import { ConfigHold, DeadLetterSink } from './config-hold';
import { DeliveryFaults } from './delivery-fault';
import {
  AUTHORIZATION_REFUSALS,
  Awaiting,
  CancelBasisChange,
  ContextRefusal,
  ContextResolution,
  DEPENDENT,
  FailedAuthorizationCancel,
  OWN_VOID_REFUSALS,
  resolveOperationContext,
} from './operation-context';
import { transactionVoids } from './own-transaction-void';
import {
  authorizationRefusals,
  refundsRefusedForOutsideRefunds,
  cancelVoidGuards,
  cancelsOfCaptured,
  cancelsOfFailedAuthorizations,
  dependentsWaiting,
  refundNoticesWithheld,
} from './authorization-metrics';
import { CancelBasis, cancelBasisOf } from '../ledger/cancel-basis';
import { InquiryResult, inquireStatus } from './status-inquiry';
import { InquiryMiss, inquiryMissRules, inquiryMisses, readInquiryMiss } from './inquiry-miss';
import { anyAttemptMayHaveLanded, lastAttemptUnfinished } from './attempt-ends';
import { failoverHeld, failoversHeld } from './held-failover';
import { inquiryErrorIsAnswer, inquiryErrorsUnresolved } from './inquiry-error';
import { OutcomeRecorder } from './outcome-recorder';
import { logMovedMeanwhile } from './moved-meanwhile';
import { noteMoveLost } from './moves-lost';
import { IDEMPOTENT_RESEND_WINDOW_MS, ReplayWithheldReason, replayInquiriesWithheld, replayWithheldReason } from './resend-window';
import { idempotencyConflictsOnResend } from './resend-conflict';
import { SAME_ANSWER_HELD_AFTER, maybeSavedAnswer, sameAnswersHeld, sameUnknownAnswersInARow } from './repeated-answer';
import { retryAfterCapped } from './retry-after-metrics';
import { maxAgeGiveUpResult, maxAgeGiveUps } from './max-age-give-up';
import { BackoffPolicy } from '../queueing/backoff';
import { OrchestrationPipeline, PipelineResult, planOf, routingRecordOf } from '../orchestration/orchestration-pipeline';
import { buildOrchestrationPipeline } from '../orchestration/orchestration-stages';
import { reviewNoticeOf, withRiskReviewFields } from '../orchestration/risk-stage';
import { riskReviewEvent } from '../events/risk-review-event';
import { FxLock, lockDetails } from '../fx/fx-lock';
import { DecisionCount, OrchestrationPlan, StageDecision } from '../orchestration/orchestration-stage';
import {
  FailoverTrigger,
  countDecisions,
  countFailover,
  reportFxLinesOmitted,
  reportFxRefundBounded,
  reportRouteDrops,
  riskReviewNoticesWithheld,
} from '../orchestration/orchestration-metrics';
import { fxLockOf, linesOmitted } from '../fx/locked-rate';
import type { Payment, PaymentLine } from '../contracts/payment-command';
import { FailoverStep, RoutingRecord, gatewayOf, routedPayment } from '../ledger/routing-record';
import {
  BOUNDED_WAIT_REFUSALS,
  LONG_WAIT_MS,
  WaitedOn,
  dependentWaitDelay,
  dependentWaits,
  expiredWait,
  voidWaitsExpired,
  waitKind,
  waitMaxMs,
  waitReason,
  waitStartField,
  waitersTtlSeconds,
} from './dependent-wait';
import type { SplitTenderSteps } from './split-step-wait';

/** What the caller (the BullMQ worker) must do next with the job. */
export type DeliveryStep =
  | { kind: 'done'; state: OperationRecord['state'] }
  /** A retryable failure: retry with backoff (counted as an attempt), waiting at least the gateway's Retry-After (ms). */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /**
   * Not a failure: come back after `delayMs` (breaker open, authorization not settled yet, siblings in flight).
   * `waitsOn`: what it waits for (its authorization, or the siblings ahead of it), as read; once the job is
   * delayed, the caller registers it to be woken when one of them moves (`DeliveryService.registerWait`).
   */
  | { kind: 'wait'; reason: string; delayMs: number; waitsOn?: readonly WaitedOn[] };

/**
 * A new operation's first attempt, prepared before the operation is written so that the attempt is
 * recorded with the creation (`Ledger.create` with `firstAttempt`): see `DeliveryService.prepareFirstAttempt`.
 */
export interface PreparedAttempt {
  route: GatewayRoute;
  context: OperationContext;
  request: GatewayRequest;
  /** The attempt's history entry, for `Ledger.create`. */
  interaction: Omit<Interaction, 'at'>;
  /** What the orchestration decided, for `Ledger.create` (`extra.routing`); absent when nothing is configured. */
  routing?: RoutingRecord;
  /** The stages' own counts of that plan, run by `deliver` once it sends this attempt (`DecisionCount`). */
  count?: () => void;
}

/**
 * The info line of a cancel of a captured payment its gateway refused to build, by refusal code, where the
 * reason needs saying (Cybersource's, cybersource-requests.ts `CANCEL_REFUSALS`); any other: a plain line.
 */
const CANCEL_REFUSAL_LINES: Readonly<Record<string, string>> = {
  SEVERAL_CAPTURES_TO_VOID:
    'cancel of an authorization several captures took in full: no hold is left to release, and a void undoes one capture, so Cybersource refuses it unsent (SEVERAL_CAPTURES_TO_VOID); a refund returns the money',
  CAPTURE_REFUNDED:
    'cancel of a captured payment refused unsent (CAPTURE_REFUNDED): refunds give part of it back already, and a void would return all of it while they stand (money paid back twice); a refund of the rest returns what is left',
};

/**
 * The guard a dependent's wait is counted as in `pb_cancel_void_guards_total{guard}` (those between a cancel and the
 * other operations of its payment); undefined: counted in `pb_dependents_waiting_total` only.
 */
const WAIT_GUARDS: Readonly<Record<Awaiting, string | undefined>> = {
  refunds: undefined,
  captures_in_flight: undefined,
  named_transaction: undefined,
  void: 'refund_waits_for_void',
  undelivered_captures: 'capture_not_yet_delivered',
  void_in_flight: 'void_waits_for_void',
  capture_void: 'void_waits_for_capture_void',
  refund_in_flight: 'void_waits_for_refund',
  split_tender: undefined,
};

/** The info line of a dependent's first wait, by what it waits for; undefined: the line of a wait for captures or siblings. */
const WAIT_LINES: Readonly<Record<Awaiting, string | undefined>> = {
  refunds:
    'cancel waits for refunds of the captured payment it would void in flight: a void would return what they return again; refused once one succeeds, sent once they fail',
  void: 'refund waits for a cancel that would void the captured payment it refunds: a void and a refund would return it twice; refused once the void succeeds, sent once the cancel fails',
  captures_in_flight: undefined,
  named_transaction: undefined,
  undelivered_captures: undefined,
  void_in_flight:
    'cancel waits for another void of the same transaction not yet decided: one transaction is never voided twice; refused once that one voided it, sent once it fails',
  capture_void:
    'cancel waits for the void of another capture of the payment not yet decided: both voids would return what its refunds need kept; refused once that one voided its capture, sent once it fails',
  refund_in_flight:
    'cancel waits for refunds of the payment in flight before voiding a capture: with them the refunds would give back more than the other captures collected; refused once they succeed, sent once they fail',
  split_tender:
    'split tender step: capture, cancel or refund waits for its split tender to settle: sent once the split is DONE, refused once it rolled back (the split reverses the step)',
};

/**
 * Carries one operation to its gateway: route ▸ wait for the authorization it depends on ▸ breaker ▸
 * (UNKNOWN: status inquiry first) ▸ record the attempt ▸ transform ▸ send with Idempotency-Key = operation
 * id ▸ classify ▸ record the outcome and its event. Stateless apart from the per-gateway breakers; safe to
 * run again for the same operation at any point (after a crash, a stalled job, a duplicate).
 */
export class DeliveryService {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly configHold: ConfigHold;
  private readonly faults: DeliveryFaults;
  private readonly health: GatewayHealth;
  private readonly pipeline: OrchestrationPipeline;
  /** The configured gateways, where a capture's PSP reference is looked for when not at the one it names. */
  private readonly gatewayNames: readonly string[];

  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      router: GatewayRouter;
      recorder: OutcomeRecorder;
      logger: Logger;
      /** Where operations held past `delivery.config_grace_ms` are parked; without it they stay held. */
      deadLetters?: DeadLetterSink;
      /** Where breaker state changes are reported for the operator console (one write per change); without it, nowhere. */
      breakerBoard?: Pick<BreakerBoard, 'report'>;
      /** Orchestration before each gateway call (route ▸ risk ▸ FX ▸ caps); default: the registered stages over `config`. */
      pipeline?: OrchestrationPipeline;
      /** Redis for the stages that keep counters (caps, risk velocity, review holds); without it they stay inactive. */
      redis?: RedisClient;
      /** The gateways' clients, for FX's gateway exchange rates; without them FX uses configured rates only. */
      routes?: ReadonlyMap<string, GatewayRoute>;
      /** Which split tender an authorization is a step of: a capture, cancel or refund of a step waits for its split. */
      splitTenders?: SplitTenderSteps;
      /**
       * Where an authorize's own SUCCESS after an unproven earlier attempt schedules its extra hold check
       * (src/delivery/extra-hold-check.ts); without it none is scheduled.
       */
      extraHoldChecks?: ExtraHoldChecks;
      now?: () => number;
    },
  ) {
    this.pipeline =
      deps.pipeline ?? buildOrchestrationPipeline({ config: deps.config, logger: deps.logger, now: deps.now, redis: deps.redis, routes: deps.routes });
    this.configHold = new ConfigHold({ config: deps.config, ledger: deps.ledger, logger: deps.logger, deadLetters: deps.deadLetters, now: deps.now });
    this.faults = new DeliveryFaults({
      config: deps.config,
      ledger: deps.ledger,
      recorder: deps.recorder,
      logger: deps.logger,
      deadLetters: deps.deadLetters,
      now: deps.now,
    });
    this.health = new GatewayHealth(deps.logger, deps.config.gateways);
    this.gatewayNames = Object.keys(deps.config.gateways);
  }

  /** Each gateway's breaker state in this process (readiness). */
  breakerStates(): Map<string, CircuitBreaker['state']> {
    return new Map([...this.breakers].map(([name, b]) => [name, b.state]));
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  breaker(gateway: string): CircuitBreaker {
    let b = this.breakers.get(gateway);
    if (!b) {
      const { breakerFailureThreshold, breakerOpenMs } = this.deps.config.delivery;
      b = new CircuitBreaker(breakerFailureThreshold, breakerOpenMs, undefined, (from, to) => {
        this.health.breakerChanged(gateway, from, to);
        this.deps.breakerBoard?.report(gateway, to);
      });
      this.health.breakerCreated(gateway);
      this.breakers.set(gateway, b);
    }
    return b;
  }

  /**
   * For an operation about to be created: the request of its first attempt, when nothing has to be read,
   * emitted or waited for before sending it (no earlier authorization to look up, no refund notice, a
   * route, a gateway that supports it, a closed breaker, not past `delivery.max_age_ms`). The caller then
   * records the attempt with the creation and calls `deliver(record, prepared)`: one Redis round trip
   * less per command. Pure: no I/O, nothing reserved. `null`: create plainly, then `deliver`.
   */
  prepareFirstAttempt(draft: OperationRecord): PreparedAttempt | null {
    if (DEPENDENT.has(draft.command)) return null;
    const { maxAgeMs } = this.deps.config.delivery;
    if (maxAgeMs > 0 && this.now() - draft.receivedAt > maxAgeMs) return null;
    let routed = draft;
    let count: (() => void) | undefined;
    if (this.pipeline.active) {
      // Only a plan every active stage can make without I/O; refusals and holds take the plain path, which records them.
      const planned = this.pipeline.planNow(draft, this.now());
      if (!planned || planned.kind !== 'send') return null;
      if (planned.plan.decisions.length > 0) routed = { ...draft, routing: routingRecordOf(draft, planned.plan) };
      count = planned.count;
    }
    const route = this.deps.router.route(routed);
    if ('refused' in route || !route.transformer.supports.includes(draft.command)) return null;
    if (this.breaker(route.gateway.name).state !== 'closed') return null;
    const context: OperationContext = { operationId: draft.id, command: draft.command, payment: routedPayment(routed) };
    let request: GatewayRequest;
    try {
      request = withRiskReviewFields(route.gateway.type, route.transformer.buildRequest(context, route.gateway), context.payment, routed.routing?.decisions);
    } catch {
      return null; // the plain path meets the same error where it is handled
    }
    const interaction = attemptInteraction(draft.id, 1, route, request, routed.routing?.decisions);
    const prepared: PreparedAttempt = routed.routing
      ? { route, context, request, interaction, routing: routed.routing }
      : { route, context, request, interaction };
    if (count) prepared.count = count;
    return prepared;
  }

  /**
   * Delivers one operation, by id (read from the ledger) or as the record the caller just created (the consumer's
   * inline delivery: no read-back; no earlier pass planned it). With `prepared`, the record must be the one
   * `Ledger.create` wrote with that attempt on record: the request goes out at once.
   */
  async deliver(operation: string | OperationRecord, prepared?: PreparedAttempt): Promise<DeliveryStep> {
    const { ledger, recorder, logger } = this.deps;
    // The prepared plan went on record with the creation (never planned again): its stages count it now, once. One the
    // fast path dropped is counted by the plain path that plans it.
    prepared?.count?.();
    if (prepared && typeof operation !== 'string' && operation.state === 'SENT' && operation.attempts === 1) {
      if (prepared.routing) {
        countDecisions(prepared.routing.decisions);
        reportRouteDrops(logger, operation, prepared.routing.decisions);
      }
      return this.exchange(operation, prepared.context, prepared.route, this.breaker(prepared.route.gateway.name), prepared.request);
    }
    const read = typeof operation === 'string' ? await ledger.get(operation) : operation;
    if (!read) {
      logger.error('delivery job for an operation the ledger does not know; dropping it', { operation_id: operation });
      return { kind: 'done', state: 'FAILED' };
    }
    // Only the rare failure paths log: a child logger per operation would cost on every command.
    const log = {
      warn: (m: string, meta: Record<string, unknown>) => logger.warn(m, { operation_id: op.id, command: op.command, ...meta }),
      error: (m: string, meta: Record<string, unknown>) => logger.error(m, { operation_id: op.id, command: op.command, ...meta }),
    };
    // A later pass of an operation whose attempt is on record: what an earlier pass left elsewhere (killed between its
    // move to the next candidate and the release of the one it left) is given back. No Redis call for a route of one
    // candidate in one currency.
    if (read.routing && read.attempts > 0 && read.state !== 'FAILED' && !DEPENDENT.has(read.command)) await this.pipeline.settled(read, planOf(read));
    if (isTerminal(read.state) || read.state === 'PENDING' || read.state === 'ACTION_REQUIRED' || read.state === 'UNRESOLVED') {
      // Already decided (or waiting for a webhook/the poller; UNRESOLVED is never sent again): make sure its event is on its way.
      const settled = await recorder.settle(read.id);
      // A FAILED one gives back what the orchestration still holds for it (idempotent: nothing when already given back),
      // so a worker killed between a refusal on record and its release (`unsent`) leaks no cap reservation.
      if (settled.state === 'FAILED') await this.pipeline.releaseFailed(settled);
      return { kind: 'done', state: settled.state };
    }
    // Orchestrate a new operation once (a decided route stands through retries, inquiries and webhooks).
    let op = read;
    if (this.pipeline.active && !read.routing && read.attempts === 0 && !DEPENDENT.has(read.command)) {
      const planned = await this.pipeline.plan(read, this.now());
      const unsent = await this.unsent(read, planned);
      if (unsent) return unsent;
      // Its stages' counts and lines run once the attempt carrying it is on record (`send`), not on each pass that waits.
      if (planned.plan.decisions.length > 0) {
        op = { ...read, routing: freshly(routingRecordOf(read, planned.plan), sendCount(planned), planned.plan) };
        // The consumer's pass over the record it just created: no earlier pass planned (and reserved for) it.
        if (typeof operation !== 'string' && op.routing) firstPlans.add(op.routing);
      }
    }
    let route = this.deps.router.route(op);
    // Our configuration lacks the gateway: hold (never send, never fail), then park for replay.
    if ('refused' in route && route.refused === UNKNOWN_GATEWAY) return this.configHold.hold(op);
    if ('refused' in route) {
      const sent = await this.refusalOfSent(op, route.refused);
      if (sent) return sent;
      const failed = await recorder.fail(op, route.refused, 'bridge', { ...planWritten(read, op), onlyFrom: op.state });
      await this.releasedUnsent(op, failed);
      if (!this.refusalLost(op, failed, route.refused)) log.warn('operation refused before any gateway call', { reason: route.refused });
      return { kind: 'done', state: failed.state };
    }
    if (!route.transformer.supports.includes(op.command)) {
      const sent = await this.refusalOfSent(op, 'UNSUPPORTED_COMMAND', { gateway: route.gateway.name });
      if (sent) return sent;
      const failed = await recorder.fail(op, 'UNSUPPORTED_COMMAND', 'bridge', {
        details: { gateway: route.gateway.name },
        ...planWritten(read, op),
        onlyFrom: op.state,
      });
      await this.releasedUnsent(op, failed);
      this.refusalLost(op, failed, 'UNSUPPORTED_COMMAND');
      return { kind: 'done', state: failed.state };
    }
    const ctx = await this.contextFor(op);
    if ('wait' in ctx) return ctx.wait;
    if (!('fail' in ctx) && DEPENDENT.has(op.command)) {
      // Its gateway is the authorization's (where it was routed), whatever the command names.
      const holder = ctx.context.payment.gateway;
      if (this.pipeline.active && !read.routing && read.attempts === 0) {
        const planned = await this.pipeline.plan(op, this.now(), holder);
        const unsent = await this.unsent(op, planned);
        if (unsent) return unsent;
        if (planned.plan.decisions.length > 0) {
          op = { ...op, routing: freshly(routingRecordOf(op, planned.plan), sendCount(planned)) };
          const { amount, currency } = planned.plan.payment;
          // A stage's own change only: a converted authorization's rate (below) is not undone.
          if (amount !== read.payment.amount || currency !== read.payment.currency)
            ctx.context = { ...ctx.context, payment: { ...ctx.context.payment, amount, currency } };
        }
      }
      if (holder !== gatewayOf(op)) op = { ...op, routing: freshly(followRouting(op, holder), countOf(op.routing)) };
      // Recorded with the attempt (see `send`): the outcome, whoever reports it, closes it in one script.
      if (ctx.authorizationId !== undefined && ctx.authorizationId !== op.authorizationId) op = { ...op, authorizationId: ctx.authorizationId };
      if (ctx.fxLock && !read.routing) {
        // Lines left out are counted and logged with the rest of the plan, once its attempt is on record (`send`): not
        // for each pass that waits (an open breaker).
        const planned = countOf(op.routing);
        const unlined = linesOmitted(op.payment, ctx.context.payment) ? { id: op.id, command: op.command, lines: op.payment.lines?.length ?? 0 } : undefined;
        // So is a refund its captures' converted amount bounded (docs/LIMITS.md, "Currency conversion").
        const bounded = ctx.refundBounded;
        const asked = { id: op.id, command: op.command, amount: op.payment.amount, currency: op.payment.currency };
        const count =
          unlined || bounded
            ? (): void => {
                planned?.();
                if (unlined) reportFxLinesOmitted(logger, unlined, holder, unlined.lines);
                if (bounded) reportFxRefundBounded(logger, asked, holder, bounded);
              }
            : planned;
        op = { ...op, routing: freshly(atLockedRateRouting(op, holder, ctx.context.payment, ctx.fxLock), count) };
      }
      if (gatewayOf(op) !== route.gateway.name) {
        route = this.deps.router.route(op);
        if ('refused' in route) return this.configHold.hold(op);
      }
    }
    if ('fail' in ctx) {
      // Refused against its authorization (failed, scope, currency, amount, a bounded wait run out): never sent to the
      // PSP. Decided on the record as read: one another worker moved meanwhile (sent it, perhaps to the PSP already) is
      // left as it is, never told FAIL; its sender records what the PSP did. One already sent (a record an earlier
      // release or configuration sent) that may be at the PSP is never told FAIL either (`refusalOfSent`).
      // Unless every attempt named nothing at the PSP: sent before the authorization it names by our id was on record.
      const unnamed = await refusalAfterUnnamedAttempts(op, ctx, this.deps.ledger);
      const sent = unnamed ? null : await this.refusalOfSent(op, ctx.fail, ctx.detail);
      if (sent) return sent;
      log.warn(
        unnamed
          ? 'operation refused against its authorization; not sent again (its attempts named nothing at the PSP)'
          : 'operation refused against its authorization; not sent to the gateway',
        {
          reason: ctx.fail,
          ...(ctx.field ? { field: ctx.field } : {}),
          ...ctx.detail,
        },
      );
      const decline = ctx.action ? { ...bridgeDecline(ctx.fail), suggested_action: ctx.action } : undefined;
      const failed = await recorder.fail(op, ctx.fail, 'bridge', { details: ctx.detail, field: ctx.field, decline, onlyFrom: op.state });
      await this.releasedUnsent(op, failed);
      if (this.refusalLost(op, failed, ctx.fail)) return { kind: 'done', state: failed.state };
      authorizationRefusals().inc({ gateway: route.gateway.name, reason: ctx.fail });
      if (unnamed) reportRefusalAfterUnnamedAttempts(this.deps.logger, op, route.gateway.name, ctx.fail, 'delivery');
      if (BOUNDED_WAIT_REFUSALS.has(ctx.fail)) voidWaitsExpired().inc({ gateway: gatewayOf(op), awaiting: String(ctx.detail?.awaiting) });
      if (refusedForOutsideRefunds(op.payment.amount, ctx)) refundsRefusedForOutsideRefunds().inc({ gateway: route.gateway.name });
      const named = ctx.detail?.named_command;
      if (OWN_VOID_REFUSALS.has(ctx.fail) && (named === 'capture' || named === 'refund'))
        transactionVoids().inc({ gateway: route.gateway.name, command: named, outcome: 'refused' });
      return { kind: 'done', state: failed.state };
    }
    const breaker = this.breaker(route.gateway.name);
    const permit = breaker.permit();
    if (!permit.allowed) {
      // Down before we call: another candidate may take it, when no attempt can be live here.
      if (this.mayFailOver(op) && op.state !== 'UNKNOWN' && (op.attempts === 0 || !(await this.mayHaveReachedPsp(op.id)))) {
        const moved = await this.failover(op, 'breaker_open', { gateway: route.gateway.name });
        if (moved) return moved;
      }
      return { kind: 'wait', reason: `circuit open for ${route.gateway.name}`, delayMs: permit.retryInMs };
    }
    // Past the breaker: said once per step that may call the PSP, not for each wait behind an open circuit.
    if (ctx.cancelBasisChanged) this.noteCancelBasisChanged(op, route.gateway.name, ctx.cancelBasisChanged);
    // The bridge's own reversals of a FAILED authorization say what they reverse in their own lines.
    if (ctx.failedAuthorization && op.attempts === 0 && op.channel !== 'bridge')
      this.noteFailedAuthorizationCancel(op, route.gateway.name, ctx.context.payment, ctx.failedAuthorization);

    const { maxAgeMs } = this.deps.config.delivery;
    const tooOld = maxAgeMs > 0 && this.now() - op.receivedAt > maxAgeMs;
    if (op.state === 'UNKNOWN') {
      if (inquirySupport(route.transformer, op.command) === 'webhook-only') {
        if (tooOld || this.now() - op.createdAt > IDEMPOTENT_RESEND_WINDOW_MS) {
          breaker.release(); // we did not call: a reserved probe is freed, the breaker stays as it is
          const cause = tooOld ? 'delivery.max_age_ms passed' : 'idempotency key too old to resend safely';
          // Decided on the record as read: a webhook meanwhile (PENDING, ACTION_REQUIRED) is a PSP fact it must not overwrite.
          const given = await recorder.unresolve(
            op,
            cause,
            'bridge',
            { age_ms: this.now() - op.receivedAt },
            this.now() + this.deps.config.poller.scheduleMs[0],
            { onlyFrom: op.state },
          );
          this.gaveUp(op, given, cause, tooOld);
          return { kind: 'done', state: given.state };
        }
        if ((await this.deps.ledger.interactions(op.id)).some((h) => h.psp_has_request === true)) {
          // The PSP said it holds the request (a resend refused as an idempotency conflict): its webhook settles
          // it; sending again would only be refused again.
          breaker.release(); // we did not call: a reserved probe is freed, the breaker stays as it is
          // Only from the state and attempt count read: the webhook itself may have come meanwhile (ACTION_REQUIRED, a
          // resend's outcome), and PENDING must not overwrite it.
          const waiting = await this.deps.ledger.transition(
            op.id,
            'PENDING',
            { event: 'awaiting_webhook', cause: 'psp_has_request' },
            { nextCheckAt: this.now() + this.deps.config.poller.scheduleMs[0], pollStep: 0, onlyFrom: op.state, onlyAttempts: op.attempts },
          );
          if (!waiting.applied) {
            logMovedMeanwhile(this.deps.logger, 'wait for the webhook', op, waiting.from, { command: op.command });
            return { kind: 'done', state: waiting.from ?? op.state };
          }
          return { kind: 'done', state: 'PENDING' };
        }
        // Nothing can be asked about this command (it settles by webhook), so the only way to learn whether
        // the PSP has it is to send it again with the same idempotency key: within the key's validity the PSP
        // replays its stored answer for a request it already has and performs it once otherwise.
        return this.send(op, ctx.context, route, breaker);
      }
      const withheld = replayWithheldReason(route.transformer, op, this.now(), maxAgeMs);
      if (withheld) return this.replayWithheld(op, route, breaker, withheld);
      // Never resend before asking: the first attempt may have moved money. Past delivery.max_age_ms it is still
      // asked, once, and then UNRESOLVED unless that settles it: never sent again (an inquiry that replays the request
      // is a send, withheld above).
      return this.inquireThenMaybeResend(op, ctx.context, route, breaker, tooOld);
    }
    if (tooOld) {
      breaker.release(); // we did not call: a reserved probe is freed, the breaker stays as it is
      const age = { age_ms: this.now() - op.receivedAt };
      if (op.attempts > 0 && (await this.mayHaveReachedPsp(op.id))) {
        // An attempt may have moved money: giving up must not tell the OMS it failed. Only from the state and attempt
        // count read: a webhook's PENDING or ACTION_REQUIRED meanwhile is a PSP fact an UNRESOLVED must not overwrite.
        const given = await recorder.unresolve(op, 'delivery.max_age_ms passed', 'bridge', age, this.now() + this.deps.config.poller.scheduleMs[0], {
          onlyFrom: op.state,
        });
        this.gaveUp(op, given, 'delivery.max_age_ms passed', true);
        return { kind: 'done', state: given.state };
      }
      const failed = await recorder.fail(op, 'UNRESPONSIVE', 'bridge', { details: age, ...planWritten(read, op), onlyFrom: op.state });
      await this.releasedUnsent(op, failed);
      maxAgeGiveUps().inc({ gateway: gatewayOf(op), result: maxAgeGiveUpResult('FAILED', failed.state) });
      if (!this.refusalLost(op, failed, 'UNRESPONSIVE'))
        log.error('operation failed: gateway did not take it within delivery.max_age_ms', { reason: 'UNRESPONSIVE' });
      return { kind: 'done', state: failed.state };
    }
    if (
      op.state === 'SENT' &&
      op.attempts > 0 &&
      route.transformer.resendIsNewRequest?.(op.command) === true &&
      inquirySupport(route.transformer, op.command) === 'supported' &&
      lastAttemptUnfinished(await this.deps.ledger.interactions(op.id))
    ) {
      breaker.release(); // we did not call: a reserved probe is freed, the breaker stays as it is
      return this.unfinishedAttemptUnknown(op, route);
    }
    return this.send(op, ctx.context, route, breaker);
  }

  /**
   * A SENT operation whose last attempt has no recorded end (its worker died mid-call; the recovery sweep revived it) at
   * a PSP that takes no idempotency key (`resendIsNewRequest`): sent again, it would be a new request, which the PSP's
   * duplicate check catches only for a while (Cybersource: 15 minutes), so a revival after every worker was down
   * longer could move the money twice. It becomes UNKNOWN instead (only from the state and attempt count read), and
   * its next delivery asks first, as for any outcome unknown: settled by what the PSP holds, resent only on a miss
   * that proves it never landed. Counted (`pb_unfinished_attempts_asked_total`) and logged.
   */
  private async unfinishedAttemptUnknown(op: OperationRecord, route: GatewayRoute): Promise<DeliveryStep> {
    const detail = { event: 'unfinished_attempt', cause: 'no idempotency key at the PSP: asked about before any resend' };
    const moved = await this.deps.ledger.transition(op.id, 'UNKNOWN', detail, {
      nextCheckAt: this.now() + this.deps.config.poller.scheduleMs[0],
      pollStep: 0,
      onlyFrom: 'SENT',
      onlyAttempts: op.attempts,
    });
    if (!moved.applied) {
      // Another worker or a PSP fact moved it meanwhile: whoever did records its event and its schedule.
      logMovedMeanwhile(this.deps.logger, 'move to UNKNOWN before a resend', op, moved.from);
      return { kind: 'done', state: moved.from ?? op.state };
    }
    unfinishedAttemptsAsked().inc({ gateway: route.gateway.name });
    this.deps.logger.warn('attempt with no recorded end at a PSP that takes no idempotency key: UNKNOWN, asked about before it is ever sent again', {
      operation_id: op.id,
      gateway: route.gateway.name,
      command: op.command,
      attempts: op.attempts,
    });
    return { kind: 'retry', reason: 'an attempt with no recorded end: asked about before any resend' };
  }

  /**
   * An UNKNOWN operation whose status inquiry would replay its request (`replayWithheldReason`): never asked. Past
   * the key's validity the replay could be performed twice; past `delivery.max_age_ms` it would perform, now, a
   * request that never landed, after the bridge gave up on it. UNRESOLVED (alerted, the OMS told), never FAILED: the
   * first attempt may have landed. It settles by the PSP's webhook (Adyen sends AUTHORISATION for what happened) or
   * by reconciliation; the poller does not replay it either. Counted (`pb_replay_inquiries_withheld_total`) and
   * logged with its reason.
   */
  private async replayWithheld(op: OperationRecord, route: GatewayRoute, breaker: CircuitBreaker, reason: ReplayWithheldReason): Promise<DeliveryStep> {
    breaker.release(); // we did not call: a reserved probe is freed, the breaker stays as it is
    replayInquiriesWithheld().inc({ gateway: route.gateway.name, by: 'delivery', reason });
    const pastMaxAge = reason === 'max_age';
    const details = pastMaxAge ? { age_ms: this.now() - op.receivedAt, inquiry: 'replay_withheld' } : { age_ms: this.now() - op.createdAt };
    this.deps.logger.warn(
      pastMaxAge
        ? 'status inquiry withheld: it would replay the request past delivery.max_age_ms (a request that never landed would be performed now); UNRESOLVED: its webhook or reconciliation settles it where the gateway has them, else an operator (docs/RUNBOOK.md)'
        : "status inquiry withheld: it would replay the request past its idempotency key's validity; UNRESOLVED: its webhook or reconciliation settles it where the gateway has them, else an operator (docs/RUNBOOK.md)",
      { operation_id: op.id, gateway: route.gateway.name, command: op.command, reason, ...details },
    );
    const cause = pastMaxAge ? 'delivery.max_age_ms passed' : 'idempotency key too old to ask by replaying the request';
    const given = await this.deps.recorder.unresolve(op, cause, 'bridge', details, this.now() + this.deps.config.poller.scheduleMs[0], { onlyFrom: 'UNKNOWN' });
    this.gaveUp(op, given, cause, pastMaxAge);
    return { kind: 'done', state: given.state };
  }

  /**
   * An UNKNOWN operation past `delivery.max_age_ms` whose status inquiry did not settle it (a miss of any meaning, a
   * failed inquiry): UNRESOLVED, never sent again nor failed; the poller keeps asking. Even a miss that would allow a
   * resend is no proof for a FAIL here: its last attempt's outcome is unknown (a timeout, a 5xx), and a PSP may still
   * act on a request it answered 5xx (Stripe reconciles them and calls their result indeterminate). `inquiry`: what
   * the inquiry found (the miss's meaning, or `inquiry_error`), for the history and the alert.
   */
  private async unresolvedPastMaxAge(op: OperationRecord, inquiry: string): Promise<DeliveryStep> {
    const details = { age_ms: this.now() - op.receivedAt, inquiry };
    const given = await this.deps.recorder.unresolve(op, 'delivery.max_age_ms passed', 'bridge', details, this.now() + this.deps.config.poller.scheduleMs[0], {
      onlyFrom: 'UNKNOWN',
    });
    this.gaveUp(op, given, 'delivery.max_age_ms passed', true);
    return { kind: 'done', state: given.state };
  }

  /**
   * A give-up as UNRESOLVED decided on the record as read (`read`), as it stands after the move (`after`): past
   * `delivery.max_age_ms` (`pastMaxAge`) counted by result in `pb_max_age_give_ups_total`; one that did not apply (the
   * operation moved meanwhile: a webhook's PSP fact, another worker) said at info, nothing else done.
   */
  private gaveUp(read: OperationRecord, after: OperationRecord, cause: string, pastMaxAge: boolean): void {
    if (pastMaxAge) maxAgeGiveUps().inc({ gateway: gatewayOf(read), result: maxAgeGiveUpResult('UNRESOLVED', after.state) });
    if (after.state === 'UNRESOLVED') return;
    logMovedMeanwhile(this.deps.logger, 'give-up', read, after.state, { command: read.command, cause, attempts: after.attempts });
  }

  /**
   * Sets aside an operation whose delivery kept throwing a fault of the bridge (see `DeliveryFaults`): never
   * sent, parked as a replayable dead letter; maybe sent, UNRESOLVED for the poller. The job then ends.
   */
  async setAside(operationId: string, err: unknown): Promise<DeliveryStep> {
    return this.faults.setAside(operationId, err);
  }

  /**
   * Whether any recorded attempt may have reached the PSP (`anyAttemptMayHaveLanded`, src/delivery/attempt-ends.ts): one
   * is proven not to have only when it ended in an error that says so (`not_sent`: it never left; `rate_limited`,
   * `authentication`: refused before processing, or the failover it led to), or a later status inquiry under its key
   * found no trace of it. An attempt with no recorded end (a crash mid-call), a timeout or a 5xx may have moved money,
   * whatever failover came after a later attempt. Read only on rare paths (giving up, a failover behind an open
   * breaker). `pending`: entries this pass decided and will write with its next move (a failover's,
   * `PendingFailover`), read after the history.
   */
  private async mayHaveReachedPsp(id: string, pending: readonly PendingFailover[] = []): Promise<boolean> {
    return anyAttemptMayHaveLanded([...(await this.deps.ledger.interactions(id)), ...pending.map((p) => p.entry)]);
  }

  /**
   * Before an authorize's own SUCCESS is recorded, at a gateway that takes a resend as a new request: when an earlier
   * attempt under the current key is unproven (`needsExtraHoldCheck`), it may be a second authorization, and nothing
   * asks about a SUCCEEDED operation again, so a follow-up search is scheduled ({@link EXTRA_HOLD_CHECK_DELAY_MS} on;
   * the poll pass runs it, src/poller/extra-hold-check-sweep.ts). Written first: a crash before the success leaves an
   * entry whose check waits for the operation to settle (then runs once it SUCCEEDED). One history read per such SUCCESS after a resend (attempts ≥ 2), at such a gateway only.
   */
  private async scheduleExtraHoldCheck(op: OperationRecord, route: GatewayRoute): Promise<void> {
    const checks = this.deps.extraHoldChecks;
    if (!checks || op.command !== 'authorize' || route.transformer.resendIsNewRequest?.(op.command) !== true) return;
    // The first attempt (this record's count includes the attempt that answered) has no earlier one: no history read.
    if (op.attempts < 2) return;
    if (!needsExtraHoldCheck(await this.deps.ledger.interactions(op.id), op.command, true)) return;
    await checks.schedule(op, this.now() + EXTRA_HOLD_CHECK_DELAY_MS);
    extraHoldCheckCount().inc({ gateway: route.gateway.name, result: 'scheduled' });
    this.deps.logger.info('extra hold check scheduled: an earlier attempt of this authorize may hold funds beside the one that answered', {
      operation_id: op.id,
      gateway: route.gateway.name,
      due_in_ms: EXTRA_HOLD_CHECK_DELAY_MS,
    });
  }

  /** The context the transformer sees (see `resolveOperationContext`), as the next delivery step. */
  private async contextFor(op: OperationRecord): Promise<Extract<ContextResolution, { context: OperationContext }> | { wait: DeliveryStep } | ContextRefusal> {
    // Amounts (and a void's window) are checked before the first attempt only: once sent, the PSP has decided.
    const first = op.state === 'RECEIVED' && op.attempts === 0;
    const resolved = await resolveOperationContext(op, this.deps.ledger, {
      checkAmounts: first,
      gateways: this.gatewayNames,
      singleCapture: (gateway) => this.deps.config.gateways[gateway]?.type === 'stripe',
      cancelFollowsCaptures: (gateway) => this.cancelFollowsCaptures(gateway),
      voidsOwnTransaction: (gateway, command) => configuredVoidsOwnTransaction(this.deps.config, gateway, command),
      ...(this.deps.splitTenders ? { splitTenders: this.deps.splitTenders } : {}),
      ...(first && op.command === 'cancel' ? { voidWindow: { now: this.now(), windowMs: (gateway: string) => this.voidWindowMs(gateway) } } : {}),
    });
    if ('wait' in resolved) {
      // Waited since the start of this wait: its creation for an authorization (the first thing it can wait for), else its
      // first wait of the same kind (`waitStartField`), never an earlier wait for something else.
      const since = resolved.siblings ? await this.waitingForSiblings(op, resolved.wait, resolved.siblings, resolved.awaiting) : op.createdAt;
      // A wait holds a command no longer than its bound (`waitMaxMs`): `delivery.void_wait_max_ms` for a guard between
      // voids and refunds (no longer than a void could still be done) and siblings that may stay undecided for good;
      // `delivery.authorization_wait_max_ms` for its authorization (an asynchronous method's customer pays days later):
      // then refused unsent. Only a command never sent (these waits come before the first attempt; checked again here).
      // Counted once the refusal applied (`deliver`).
      const maxMs = waitMaxMs(waitKind(resolved), this.deps.config.delivery);
      const expired = first ? expiredWait(resolved, since, this.now(), maxMs) : null;
      if (expired) return expired;
      return { wait: await this.dependentWait(op, resolved, since) };
    }
    return resolved;
  }

  /**
   * A dependent that cannot go yet, waiting since `since` (epoch ms): checked again after a delay that grows with
   * the wait (`dependentWaitDelay`), counted by reason, logged once (and put in its history) past
   * {@link LONG_WAIT_MS}; it is also woken when what it waits for (an undecided authorization, or each sibling it
   * names) moves (`waitsOn`).
   */
  private async dependentWait(
    op: OperationRecord,
    resolved: { wait: string; awaiting?: Awaiting; authorization?: WaitedOn; siblingsSeen?: readonly WaitedOn[] },
    since: number,
  ): Promise<DeliveryStep> {
    const { backoffBaseMs, backoffMaxMs } = this.deps.config.delivery;
    const now = this.now();
    const waited = now - since;
    const delayMs = dependentWaitDelay(waited, backoffBaseMs, backoffMaxMs);
    const reason = waitReason(resolved);
    dependentWaits().inc({ reason });
    // Once: a write per check only past the threshold, when checks are far apart already.
    if (waited >= LONG_WAIT_MS && (await this.deps.ledger.setFieldOnce(op.id, 'dependent_wait_noted_at', String(now)))) {
      await this.deps.ledger.appendInteraction(op.id, { event: 'waiting_long', reason, waited_ms: waited });
      this.deps.logger.warn(
        'dependent has waited over 10 minutes and still cannot go; checked again with a growing delay, and at once when its authorization moves',
        {
          operation_id: op.id,
          command: op.command,
          reason,
          waited_ms: waited,
          next_check_ms: delayMs,
          ...(resolved.authorization ? { authorization_id: resolved.authorization.id, authorization_state: resolved.authorization.state } : {}),
          wait: resolved.wait,
        },
      );
    }
    const waitsOn = resolved.authorization ? [resolved.authorization] : (resolved.siblingsSeen ?? []);
    return waitsOn.length > 0 ? { kind: 'wait', reason: resolved.wait, delayMs, waitsOn } : { kind: 'wait', reason: resolved.wait, delayMs };
  }

  /**
   * Registers dependent `operationId`, whose job is delayed now, to be woken when what it waits for (its
   * authorization, or each sibling ahead of it) leaves the state it saw (`Ledger.waitFor`; the ledger wakes it on
   * any move of one of them). Called after the job is delayed, so a wake always finds it delayed and promotes it.
   * `false`: one of them has moved already, the caller runs the job now. A registration that fails is only logged:
   * the wait's own re-check stands (`true`). One round trip per operation waited for, at once.
   */
  async registerWait(operationId: string, on: readonly WaitedOn[]): Promise<boolean> {
    const ttlS = waitersTtlSeconds(this.deps.config.delivery.backoffMaxMs);
    const registered = await Promise.all(
      on.map(async (one) => {
        try {
          return await this.deps.ledger.waitFor(one, operationId, one.state, ttlS);
        } catch (err) {
          this.deps.logger.warn('could not register a dependent to be woken by what it waits for; it is checked again after its delay', {
            operation_id: operationId,
            waited_for: one.id,
            error: (err as Error).message,
          });
          return true;
        }
      }),
    );
    return registered.every(Boolean);
  }

  /** The stored value void window of the gateway configured as `gateway` (`GatewayDefinition.storedValueVoidWindowMs`), ms. */
  private voidWindowMs(gateway: string): number | undefined {
    const type = this.deps.config.gateways[gateway]?.type;
    return type === undefined ? undefined : gatewayDefinition(type).storedValueVoidWindowMs;
  }

  /**
   * Whether the gateway configured as `gateway` builds a cancel from the captures standing against its
   * authorization (a definition with `cancelVoided`: Cybersource), so a cancel there waits for captures in flight.
   */
  private cancelFollowsCaptures(gateway: string): boolean {
    const type = this.deps.config.gateways[gateway]?.type;
    return type !== undefined && gatewayDefinition(type).cancelVoided !== undefined;
  }

  /**
   * Counts a capture's or refund's wait for siblings in flight ahead of it, or a cancel's for captures of its
   * authorization in flight (`awaiting: 'undelivered_captures'`: on record, not yet delivered; or, a void, for
   * refunds of what it would void: `awaiting: 'refunds'`), or a refund's for a cancel that would void what it
   * refunds (`awaiting: 'void'`), or a cancel's for another void of the same transaction not yet decided
   * (`awaiting: 'void_in_flight'`), or a capture void's for the void of another capture of the payment not yet decided
   * (`awaiting: 'capture_void'`), or for refunds of the payment in flight that alone would make its refunds exceed
   * (`awaiting: 'refund_in_flight'`); those guards also in `pb_cancel_void_guards_total`. Its first wait also
   * goes to its history and an info line (a wait on a sibling stuck UNKNOWN may be long: the operator sees why).
   * @returns when it first waited for what it waits for now (epoch ms, `waitStartField` of its kind: `siblings`, or its
   * `awaiting`): what its delay grows from and its bound counts from. Each kind's first wait goes to the history and its
   * info line once.
   */
  private async waitingForSiblings(op: OperationRecord, reason: string, siblings: readonly string[], awaiting?: Awaiting): Promise<number> {
    const gateway = gatewayOf(op);
    dependentsWaiting().inc({ gateway, command: op.command });
    const guard = awaiting === undefined ? undefined : WAIT_GUARDS[awaiting];
    if (guard !== undefined) cancelVoidGuards().inc({ gateway, guard });
    const now = this.now();
    const kind = waitKind({ awaiting });
    const first = await this.deps.ledger.setFieldOnceAndGet(op.id, waitStartField(kind), String(now));
    if (!first.set) return Number.isFinite(Number(first.value)) ? Number(first.value) : now;
    await this.deps.ledger.appendInteraction(op.id, { event: 'waiting_for_siblings', siblings: siblings.join(','), awaiting: kind });
    this.deps.logger.info(
      (awaiting === undefined ? undefined : WAIT_LINES[awaiting]) ??
        (op.command === 'cancel'
          ? 'cancel waits for captures of its authorization in flight: it is sent once they succeed or fail, to release what they leave'
          : 'capture or refund waits for others of its authorization in flight ahead of it'),
      {
        operation_id: op.id,
        command: op.command,
        siblings: siblings.join(','),
        ...(awaiting === 'undelivered_captures' ? { not_yet_delivered: true } : {}),
        reason,
      },
    );
    return now;
  }

  /**
   * A cancel retried (or asked about) on the reading its first attempt was built on while the ledger now reads
   * otherwise: counted (`pb_cancel_void_guards_total{guard="retry_reading_changed"}`) and logged at each delivery
   * step of it past the circuit breaker (one that may call the PSP). The request stays the first one: under one idempotency key the PSP may hold that one already.
   */
  private noteCancelBasisChanged(op: OperationRecord, gateway: string, change: CancelBasisChange): void {
    cancelVoidGuards().inc({ gateway, guard: 'retry_reading_changed' });
    this.deps.logger.warn(
      'cancel retried with the request of its first attempt: what stands against its authorization changed since, and one idempotency key carries one request',
      {
        operation_id: op.id,
        gateway,
        attempt: op.attempts + 1,
        pinned: basisLine(change.pinned),
        now: basisLine(change.now),
      },
    );
  }

  /**
   * A cancel naming an authorization the ledger holds FAILED (by PSP reference, or by id with a late success on record),
   * at its first attempt: counted, and a line saying what it asks and why (what a recorded late success confirmed; or
   * nothing on record, the PSP decides).
   */
  private noteFailedAuthorizationCancel(op: OperationRecord, gateway: string, sent: Payment, cancel: FailedAuthorizationCancel): void {
    cancelsOfFailedAuthorizations().inc({ gateway, held: cancel.held });
    const meta = {
      operation_id: op.id,
      gateway,
      authorization_id: cancel.authorizationId,
      held: cancel.held,
      amount: sent.amount,
      currency: sent.currency,
      ...(cancel.amount !== undefined ? { held_amount: cancel.amount, held_currency: cancel.currency } : {}),
    };
    if (cancel.held === 'late_success') {
      this.deps.logger.info(
        'cancel of an authorization the ledger holds FAILED that the PSP authorised after all: asking no more than that success confirmed',
        meta,
      );
    } else {
      this.deps.logger.warn(
        'cancel of an authorization the ledger holds FAILED, nothing on record saying the PSP holds anything: sent for its own amount, the PSP decides',
        meta,
      );
    }
  }

  /**
   * Asks about an UNKNOWN operation and acts on the answer: settles it, asks again later, or, when the PSP has no trace
   * of it, sends it again under the same idempotency key. `pastMaxAge` (`delivery.max_age_ms` passed): never sent
   * again; what the inquiry does not settle is UNRESOLVED (`unresolvedPastMaxAge`).
   */
  private async inquireThenMaybeResend(
    op: OperationRecord,
    ctx: OperationContext,
    route: GatewayRoute,
    breaker: CircuitBreaker,
    pastMaxAge = false,
  ): Promise<DeliveryStep> {
    let inquiry: InquiryResult;
    const started = performance.now();
    try {
      inquiry = await inquireStatus(route, ctx, this.deps.logger);
    } catch (err) {
      noteGatewayCall(route.gateway.name, 'inquiry', resultOf(err), started);
      const step = await this.onError(op, err, breaker, 'inquiry');
      return pastMaxAge && step.kind === 'retry' ? this.unresolvedPastMaxAge(op, 'inquiry_error') : step;
    }
    noteGatewayCall(route.gateway.name, 'inquiry', 'ok', started);
    const { outcome, elapsedMs } = inquiry;
    breaker.success();
    if (outcome === null) {
      const miss = readInquiryMiss(await this.deps.ledger.interactions(op.id), inquiryMissRules(route.transformer, op.command), this.now());
      inquiryMisses().inc({ gateway: route.gateway.name, meaning: miss.kind });
      if (miss.kind === 'psp_has_request') {
        // The PSP answered an earlier attempt with "I already have this" (e.g. Cybersource
        // DUPLICATE_REQUEST): the miss is its search index lagging. Ask again later, never resend.
        const lost = await this.inquiryLagAsRead(op, { event: 'inquiry_lag', found: false, elapsed_ms: elapsedMs });
        if (lost) return lost;
        if (pastMaxAge) return this.unresolvedPastMaxAge(op, miss.kind);
        return { kind: 'retry', reason: 'the PSP has the request but its status search does not show it yet' };
      }
      if (miss.kind === 'beyond_horizon') {
        // The attempt is older than the PSP's search reaches: its miss cannot see it, and a resend could move
        // the money twice (no idempotency key). Only the PSP's webhook, its reports or an operator settle it now.
        const details = { attempt_age_ms: miss.attemptAgeMs, horizon_ms: miss.horizonMs };
        const lost = await this.inquiryLagAsRead(op, { event: 'inquiry_lag', found: false, elapsed_ms: elapsedMs, ...details });
        if (lost) return lost;
        this.deps.logger.warn('status search cannot reach the attempt (older than what it searches); not resending: UNRESOLVED, resolve it at the PSP', {
          operation_id: op.id,
          gateway: route.gateway.name,
          command: op.command,
          ...details,
        });
        // Only from the state and attempt count read: a webhook's fact recorded during the inquiry (PENDING,
        // ACTION_REQUIRED) stands.
        const cause = 'attempt older than the status search reaches';
        const given = await this.deps.recorder.unresolve(op, cause, 'bridge', details, this.now() + this.deps.config.poller.scheduleMs[0], {
          onlyFrom: op.state,
        });
        this.gaveUp(op, given, cause, false);
        return { kind: 'done', state: given.state };
      }
      if (miss.kind === 'index_lag') return this.afterLaggingMiss(op, ctx, route, breaker, miss, elapsedMs, pastMaxAge);
      // Past delivery.max_age_ms nothing is sent again, here or to another gateway.
      if (pastMaxAge) return this.unresolvedPastMaxAge(op, miss.kind);
      // The PSP has no trace: the first attempt never landed. Resend, with the same idempotency key. Only from the state
      // and attempt count the inquiry was asked on: another worker's resend since (perhaps at the next candidate) is not
      // what this inquiry found nothing of, and nothing goes out beside it.
      const resent = await this.deps.ledger.transition(
        op.id,
        'SENT',
        { event: 'inquiry', found: false, elapsed_ms: elapsedMs },
        { onlyFrom: op.state, onlyAttempts: op.attempts },
      );
      if (!resent.applied) {
        noteMoveLost(this.deps.logger, 'resend after a status inquiry', op, resent.from, route.gateway.name, { command: op.command });
        return this.movedMeanwhile(op.id);
      }
      const again = await this.deps.ledger.get(op.id);
      if (!again || again.state !== 'SENT' || again.attempts !== op.attempts) return { kind: 'done', state: again?.state ?? 'FAILED' };
      // Proven to have done nothing there: the next candidate may take it (never two live authorizations).
      const moved = this.mayFailOver(again) ? await this.failover(again, 'inquiry_not_found', { gateway: route.gateway.name }) : null;
      return moved ?? this.send(again, ctx, route, breaker);
    }
    const settled = await this.deps.recorder.apply(op, outcome, 'inquiry', { elapsed_ms: elapsedMs });
    return { kind: 'done', state: settled.state };
  }

  /**
   * Appends an inquiry's `inquiry_lag` entry (read as the end of the attempt asked about: `ATTEMPT_ENDS`,
   * src/delivery/attempt-ends.ts) only while the operation stands as read (`Ledger.appendAsRead`); `null` then. After
   * another worker's move meanwhile (its resend: one more attempt) it would read as the end of that attempt, which may be
   * at the PSP: nothing written, said at info, and this run ends as for a lost move (that worker's attempt is that
   * worker's to finish).
   */
  private async inquiryLagAsRead(op: OperationRecord, entry: Omit<Interaction, 'at'>): Promise<DeliveryStep | null> {
    const appended = await this.deps.ledger.appendAsRead(op, entry);
    if (appended.appended) return null;
    logMovedMeanwhile(this.deps.logger, 'status search lag', op, appended.state, { command: op.command });
    return this.movedMeanwhile(op.id);
  }

  /**
   * A miss younger than the gateway's search lag proves nothing. Where the PSP replays a request it already
   * performed under the same idempotency key, the resend is the inquiry that can tell (its answer is the
   * first one's, or it performs the request once): sent again, never to another gateway. Elsewhere asked
   * again later, until the attempt is older than the lag. Either way the history says `inquiry_lag`, which
   * does not count as proof that the attempt did nothing (`mayHaveReachedPsp`).
   */
  private async afterLaggingMiss(
    op: OperationRecord,
    ctx: OperationContext,
    route: GatewayRoute,
    breaker: CircuitBreaker,
    miss: Extract<InquiryMiss, { kind: 'index_lag' }>,
    elapsedMs: number,
    pastMaxAge: boolean,
  ): Promise<DeliveryStep> {
    const entry = { event: 'inquiry_lag', found: false, elapsed_ms: elapsedMs, attempt_age_ms: miss.attemptAgeMs, lag_ms: miss.lagMs };
    const line = { operation_id: op.id, gateway: route.gateway.name, command: op.command, attempt_age_ms: miss.attemptAgeMs, lag_ms: miss.lagMs };
    if (pastMaxAge) {
      // Proves nothing, and nothing is sent past delivery.max_age_ms: the attempt may be at the PSP.
      const lost = await this.inquiryLagAsRead(op, entry);
      if (lost) return lost;
      return this.unresolvedPastMaxAge(op, miss.kind);
    }
    if (!miss.resend) {
      const lost = await this.inquiryLagAsRead(op, entry);
      if (lost) return lost;
      this.deps.logger.info('status search has no trace of the attempt yet; asking again, not resending (the PSP may not show it yet)', line);
      return { kind: 'retry', reason: 'the status search may not show the attempt yet' };
    }
    // Only from the record the inquiry was asked on (as above, `inquireThenMaybeResend`).
    const resent = await this.deps.ledger.transition(op.id, 'SENT', entry, { onlyFrom: op.state, onlyAttempts: op.attempts });
    if (!resent.applied) {
      noteMoveLost(this.deps.logger, 'resend after a status inquiry', op, resent.from, route.gateway.name, { command: op.command });
      return this.movedMeanwhile(op.id);
    }
    const again = await this.deps.ledger.get(op.id);
    if (!again || again.state !== 'SENT' || again.attempts !== op.attempts) return { kind: 'done', state: again?.state ?? 'FAILED' };
    this.deps.logger.info(
      'status search has no trace of the attempt yet; resending under the same idempotency key (the PSP answers a request it has with its first answer)',
      line,
    );
    return this.send(again, ctx, route, breaker);
  }

  /**
   * Records the attempt (the move to SENT, only from the state and attempt count read) and sends it. `failovers`: the
   * failover steps of this pass that led here, written in the same script as that move (or with the refusal of this
   * request unsent), and counted and logged only then: one whose move loses to another worker leaves nothing.
   */
  private async send(
    op: OperationRecord,
    ctx: OperationContext,
    route: GatewayRoute,
    breaker: CircuitBreaker,
    failovers: readonly PendingFailover[] = [],
  ): Promise<DeliveryStep> {
    const { ledger, recorder } = this.deps;
    if (op.command === 'refund' && op.attempts === 0 && this.deps.config.serviceBus.refundPendingNotice) {
      // The OMS hears PENDINGRELEASE before the money moves (unless service_bus.refund_pending_notice is false);
      // idempotent by event id. One the bus refuses for good is set aside, never holding the outcome back. Only while the
      // refund stands as read: one another worker refused, sent or settled meanwhile (a release with the notice off, in a
      // rolling deploy) gets none after what that worker reported. The move to SENT below goes on as on any read (it does not apply to
      // one decided meanwhile).
      if (!(await recorder.emitAsRead(refundPendingEvent(op, this.deps.config), op))) {
        refundNoticesWithheld().inc({ gateway: route.gateway.name });
        this.deps.logger.warn('refund pre-notice not sent: another worker moved the refund after the read it was decided on', {
          operation_id: op.id,
          command: op.command,
          read_state: op.state,
          read_attempts: op.attempts,
        });
      }
    }
    let request: GatewayRequest;
    try {
      // The PSP's own risk engine gets its fields when the risk rules asked for its review.
      request = withRiskReviewFields(route.gateway.type, route.transformer.buildRequest(ctx, route.gateway), ctx.payment, op.routing?.decisions);
    } catch (err) {
      // Refused before sending (an amount the PSP cannot take exactly, a currency it does not list, a bad
      // key, a transformer's own refusal of any other class): a FAIL with the reason, never a retry of the
      // same refusal. Non-gateway errors become invalid_request with gatewayCode COMMAND_REFUSED. The field it
      // names is the command's (nothing was answered): the FAIL event names it, as our other refusals do.
      const refusal = commandRefused(err, route.gateway.name);
      // A resend (an UNKNOWN webhook-only command, a retry) whose request no longer builds (a release changed the
      // builder, data it needs was erased): its earlier attempt may be at the PSP, so it is never told FAIL.
      // The failovers that led here were decided on proof that the attempt before them did nothing: read with them.
      const sent = await this.refusalOfSent(op, refusal.details.gatewayCode ?? refusal.code, { kind: refusal.kind }, failovers);
      // A route decided in this pass (a failover's next gateway, a first plan) is the one that refused.
      const refusedAt = op.routing !== undefined && fresh.has(op.routing) ? op.routing : undefined;
      if (sent) {
        breaker.release(); // we did not call: a reserved probe is freed, the breaker stays as it is
        // Left to the attempt on record (withheld, UNRESOLVED, or another worker's): no plan of this pass goes on record.
        await this.abandonPlans(op, refusedAt ? freshPlans.get(refusedAt) : undefined, failovers);
        return sent;
      }
      // Decided on the record as read: one another worker sent meanwhile is left as that one leaves it. A cancel of a
      // captured payment is counted and logged as refused only once the refusal is on record, and so are the failovers
      // that led here, whose entries go on record with it.
      const captured = op.attempts === 0 ? ctx.captured : undefined;
      const recorded =
        captured || failovers.length > 0
          ? (): void => {
              this.failedOver(op, failovers, refusal.details.gatewayCode ?? refusal.code);
              if (captured) this.noteCancelOfCaptured(op, captured, route.gateway.name, refusal.details.gatewayCode ?? refusal.code);
            }
          : undefined;
      // The route that refused is written with the FAIL, so the record says the gateway its history and FAIL event name
      // (the one a failover left, otherwise).
      return this.onError(op, refusal, breaker, 'send', undefined, refusal.details.field, {
        onlyFrom: op.state,
        ...(recorded ? { recorded } : {}),
        ...(failovers.length > 0 ? { precededBy: failovers.map((f) => f.entry) } : {}),
        ...(refusedAt ? { routing: refusedAt } : {}),
        // Lost to another worker's move: the plans of this pass never go on record, and give back what they reserved.
        lost: () => this.abandonPlans(op, refusedAt ? freshPlans.get(refusedAt) : undefined, failovers),
      });
    }
    // Noted once the request is built: a cancel refused unsent is counted and logged as refused (above).
    if (op.attempts === 0 && ctx.captured) this.noteCancelOfCaptured(op, ctx.captured, route.gateway.name);
    // The attempt is on record before the request leaves: an attempt is never invisible.
    // A route decided (or changed) for this attempt is written with it, and its decisions with its history entry.
    const decided = op.routing !== undefined && fresh.has(op.routing) ? op.routing : undefined;
    const fields: TransitionFields = { countAttempt: true, ...(op.routing ? { routing: op.routing } : {}) };
    if (op.authorizationId !== undefined) fields.authorizationId = op.authorizationId;
    // What a cancel built on the captures standing was built on, pinned with its first attempt: retries send it again.
    if (op.command === 'cancel' && op.attempts === 0 && !ctx.voidOf && this.cancelFollowsCaptures(route.gateway.name))
      fields.cancelBasis = cancelBasisOf(ctx.captured);
    // A resend after an attempt with no recorded end is that attempt's replay: read as one where the gateway says so.
    const asReplay =
      op.attempts > 0 &&
      route.transformer.readsUnfinishedResendAsReplay === true &&
      route.transformer.inquiryReplaysRequest === true &&
      lastAttemptUnfinished(await ledger.interactions(op.id));
    if (asReplay) {
      this.deps.logger.info('resending after an attempt with no recorded end: its answer is read as the replay of that attempt', {
        operation_id: op.id,
        command: op.command,
        gateway: route.gateway.name,
        attempts: op.attempts,
      });
    }
    const now = Date.now();
    const entry = attemptInteraction(op.id, op.attempts + 1, route, request, decided?.decisions, ctx.keyUnrecorded);
    // Only from the state and attempt count this attempt was decided on: another worker's send meanwhile (a first pass
    // at the route's first candidate while this one fails over on a breaker open in its own process, a plan decided
    // under another configuration) leaves one more attempt on record, and this one, perhaps at another gateway, must not
    // go out beside it (two live authorizations).
    // The failovers that led here go on record with it, in the same script: a move that loses writes none of them.
    const only: TransitionFields = { onlyFrom: op.state, onlyAttempts: op.attempts };
    if (failovers.length > 0) only.precededBy = failovers.map((f) => f.entry);
    const moved = await ledger.transition(op.id, 'SENT', asReplay ? { ...entry, read_as_replay: true } : entry, { ...fields, ...only }, now);
    if (moved.applied) this.failedOver(op, failovers);
    const plan = decided ? freshPlans.get(decided) : undefined;
    if (decided) {
      fresh.delete(decided);
      freshPlans.delete(decided);
      // The stages' own counts and lines of the plan this attempt carries (`DecisionCount`), once it is on record: one
      // another worker moved meanwhile is that one's to count, its routing decisions too.
      const count = planCounts.get(decided);
      planCounts.delete(decided);
      if (moved.applied) {
        count?.();
        countDecisions(decided.decisions);
        // The route is decided once per operation; a failover's attempt records it again.
        if (op.attempts === 0) reportRouteDrops(this.deps.logger, op, decided.decisions);
        // On record: what the operation holds elsewhere (the candidate a failover left, a plan of another currency
        // decided before a wait) is given back now, not before (a worker killed in between: its next pass, `deliver`).
        // Nothing to look for (no Redis call) for the first plan of the pass that created the operation: no candidate
        // left, no plan before it.
        // The record as the move left it: its attempt count tells the claims that can no longer go on record.
        if (!firstPlans.has(decided)) await this.pipeline.settled(afterTransition(op, 'SENT', fields, now), planOf(op), true);
      }
    } else if (moved.applied && op.routing && op.attempts > 0) {
      // A resend at the record's own candidate, on record: a failover decided on the record before it (its worker killed
      // between its reservation and its move) can never go on record now; what only it holds is given back (`reclaim`).
      await this.pipeline.reclaim(afterTransition(op, 'SENT', fields, now), planOf(op));
    }
    if (!moved.applied) {
      // A webhook or another worker decided it meanwhile. The plans decided in this pass never went on record: what
      // each reserved is given back (`releaseAbandoned`: unless another plan of the operation, the mover's, claims it),
      // every gateway of a failover chain's (one passed on its open breaker too), not only this one's.
      const failover = failovers[failovers.length - 1];
      noteMoveLost(this.deps.logger, 'attempt', op, moved.from, route.gateway.name, {
        command: op.command,
        ...(failover ? { failover_from: failover.from, failover_trigger: failover.trigger } : {}),
      });
      await this.abandonPlans(op, plan, failovers);
      return this.movedMeanwhile(op.id);
    }
    // The record as this move left it: the outcome's event is then recorded with the outcome in one round
    // trip (`Ledger.transitionAndRecord` applies it only to exactly that record; with the record as read
    // before the move, every command the web intake had created, RECEIVED, took the slower path: the move,
    // then the event in a second script), and a failover numbers its attempt after this one.
    return this.exchange(afterTransition(op, 'SENT', fields, now), ctx, route, breaker, request, asReplay);
  }

  /** A move of this pass did not apply: a webhook or another worker moved the operation meanwhile; that one goes on. */
  private async movedMeanwhile(id: string): Promise<DeliveryStep> {
    const settled = await this.deps.recorder.settle(id);
    return { kind: 'done', state: settled.state };
  }

  /**
   * A cancel of a captured payment undoes a capture, not a hold (Cybersource voids it, and refuses once it
   * has settled); one of an authorization whose captures left part of it releases that remainder and undoes
   * none; one of an authorization several captures took in full has nothing to release and no one capture to
   * void (Cybersource refuses it unsent), nor one whose sale or capture refunds already give back in part (a void
   * would pay that back twice). Counted and logged at its first attempt, where an operator looks for why a cancel
   * failed, once the request is built: `refused` (the gateway's refusal code, nothing sent) or `sent`, so neither
   * the metric nor the line says a void was asked for when none was.
   */
  private noteCancelOfCaptured(op: OperationRecord, captured: CapturedPayment, gateway: string, refused?: string): void {
    const remainder = captured.by === 'capture' ? uncapturedRemainder(captured) : undefined;
    const capturedBy =
      captured.by === 'sale'
        ? 'sale'
        : remainder !== undefined && remainder > 0
          ? 'partial_capture'
          : remainder === 0 && captured.captures.length > 1
            ? 'several_captures'
            : 'capture';
    cancelsOfCaptured().inc({ gateway, captured_by: capturedBy, outcome: refused === undefined ? 'sent' : 'refused', reason: refused ?? 'none' });
    const refunded = captured.refunded;
    const line = {
      operation_id: op.id,
      gateway,
      captured_by: capturedBy,
      outcome: refused === undefined ? 'sent' : 'refused',
      ...(refused !== undefined ? { reason: refused } : {}),
      ...(captured.by === 'capture'
        ? {
            capture_ids: captured.captures.map((c) => c.id).join(','),
            authorized_amount: captured.authorized.amount,
            ...(remainder !== undefined && remainder > 0 ? { remainder } : {}),
            currency: captured.authorized.currency,
          }
        : {}),
      ...(refunded
        ? {
            refund_ids: refunded.refunds.map((r) => r.id).join(','),
            refunds_in_flight: refunded.refunds
              .filter((r) => r.inFlight)
              .map((r) => r.id)
              .join(','),
            refunded_amount: refunded.refunds.reduce((total, r) => total + r.amount, 0),
            ...(refunded.refundedOutsideBridge !== undefined ? { refunded_outside_bridge: refunded.refundedOutsideBridge } : {}),
            refundable_amount: refunded.left,
            refund_currency: refunded.currency,
          }
        : {}),
    };
    const { logger } = this.deps;
    if (refused !== undefined) {
      logger.info(CANCEL_REFUSAL_LINES[refused] ?? `cancel of a captured payment refused unsent (${refused}): nothing voided or released`, line);
    } else if (capturedBy === 'partial_capture') {
      logger.info('cancel of a partially captured authorization: the gateway is asked to release the uncaptured remainder; no capture is undone', line);
    } else {
      logger.info('cancel of a captured payment: the gateway is asked to undo the capture (a void), refused once settled', line);
    }
  }

  /** Sends a request whose attempt is on record, and turns the answer (or its absence) into the next step. */
  private async exchange(
    op: OperationRecord,
    ctx: OperationContext,
    route: GatewayRoute,
    breaker: CircuitBreaker,
    request: GatewayRequest,
    /** Read the answer as the replay of an earlier attempt (`readsUnfinishedResendAsReplay`). */
    asReplay = false,
  ): Promise<DeliveryStep> {
    const { recorder } = this.deps;
    let response: GatewayResponse;
    const started = performance.now();
    markOperation(op.id, 'psp_start');
    try {
      response = await route.client.send(request);
    } catch (err) {
      notePspWait(performance.now() - started);
      noteGatewayCall(route.gateway.name, 'send', resultOf(err), started);
      return this.onError(op, err, breaker, 'send');
    }
    // The in-flight controller tells PSP time from the worker's own (src/admission/inflight-controller.ts).
    notePspWait(performance.now() - started);
    markOperation(op.id, 'psp_end');
    try {
      const outcome = asReplay ? replayOutcome(route, ctx, response) : route.transformer.parseResponse(ctx, response, route.gateway);
      noteGatewayCall(route.gateway.name, 'send', 'ok', started);
      breaker.success();
      // A decline that answers a new request only is held (see `onError`); else one "try elsewhere" may fail over.
      if (outcome.status === 'FAIL') {
        const code = outcome.reason ?? outcome.gatewayStatus;
        const detail = { gateway: route.gateway.name, gateway_code: code, http_status: response.status };
        const elsewhere = this.mayFailOver(op) && this.triesElsewhere(code);
        const held = await this.heldDecline(op, route.transformer, detail, elsewhere);
        if (held) return held;
        const moved = elsewhere ? await this.failover(op, 'declined', detail) : null;
        if (moved) return moved;
      }
      if (outcome.status === 'SUCCESS') await this.scheduleExtraHoldCheck(op, route);
      const settled = await recorder.apply(op, outcome, 'response', { http_status: response.status, elapsed_ms: response.elapsedMs });
      if (settled.state === 'FAILED') await this.released(op, 'failed');
      return { kind: 'done', state: settled.state };
    } catch (err) {
      noteGatewayCall(route.gateway.name, 'send', resultOf(err), started);
      return this.onError(op, err, breaker, 'send', response);
    }
  }

  /** One place that turns a failure into the next step, by error class and kind. */
  private async onError(
    op: OperationRecord,
    err: unknown,
    breaker: CircuitBreaker,
    phase: 'send' | 'inquiry',
    response?: GatewayResponse,
    /** The command field a refusal before any call names, for the record and the FAIL event (`field`). */
    field?: string,
    /**
     * A refusal before any call, decided on the record as read: FAIL only if the operation is still in `onlyFrom`;
     * `recorded` runs once that FAIL is on record (before the warn line), never for one another worker moved meanwhile;
     * `precededBy`: history entries written with that FAIL only (the failovers that led to this refusal); `routing`: the
     * route decided in this pass that refused (not yet on record), written with that FAIL; `lost` runs when that FAIL
     * did not apply (another worker moved the operation meanwhile).
     */
    stale?: {
      onlyFrom: OperationState;
      recorded?: () => void;
      precededBy?: TransitionFields['precededBy'];
      routing?: RoutingRecord;
      lost?: () => Promise<void>;
    },
  ): Promise<DeliveryStep> {
    if (!(err instanceof GatewayError)) throw err;
    const { ledger, recorder, logger } = this.deps;
    const answered = err.details.pspAnswered === true;
    const detail = {
      event: `${phase}_error`,
      kind: err.kind,
      http_status: err.details.httpStatus ?? response?.status,
      gateway_code: err.details.gatewayCode,
      elapsed_ms: response?.elapsedMs,
      ...(err.details.field ? { field: err.details.field } : {}),
      ...(err.details.pspHasRequest ? { psp_has_request: true } : {}),
    };
    if (err.kind === 'idempotency_conflict' && (phase === 'inquiry' || op.attempts > 1)) {
      // A resend (or a replaying inquiry) refused because the PSP holds another request under this key: an
      // earlier attempt of ours landed (built otherwise: a release between the two). It may have moved money,
      // so it is asked about, never failed nor sent again (a PSP that has the request).
      idempotencyConflictsOnResend().inc({ gateway: err.gateway });
      logger.warn('gateway refused a resend as an idempotency conflict: an earlier attempt landed; asking about it, not failing it', {
        operation_id: op.id,
        gateway: err.gateway,
        gateway_code: err.details.gatewayCode,
        attempts: op.attempts,
      });
      breaker.success();
      const firstCheck = this.deps.config.poller.scheduleMs[0];
      const schedule = op.state === 'UNKNOWN' ? {} : { nextCheckAt: this.now() + firstCheck, pollStep: 0 };
      // Only from the state and attempt count read: a webhook's PENDING recorded since the call is a PSP fact UNKNOWN
      // must not overwrite.
      const moved = await ledger.transition(
        op.id,
        'UNKNOWN',
        { ...detail, psp_has_request: true },
        { ...schedule, onlyFrom: op.state, onlyAttempts: op.attempts },
      );
      if (!moved.applied) return this.unknownNotRecorded(op, err, moved.from);
      return { kind: 'retry', reason: 'the PSP holds an earlier attempt under this key' };
    }
    if (err.kind === 'outcome_unknown') {
      // Retryable, but the request may have landed: UNKNOWN, asked about before it is ever sent again.
      const inARow = phase === 'send' && !err.details.pspHasRequest ? await this.sameAnswerHeld(op, err, detail.http_status) : 0;
      const held = err.details.pspHasRequest === true || inARow > 0;
      // A PSP that answered "I already have it" is up: only silence counts against its breaker. So is one whose every
      // request was answered (`pspAnswered`: a status walk stopped at our page cap, which has its own counter and warning).
      if (held || answered) breaker.success();
      else breaker.failure();
      if (!answered) this.health.retryableFailure(err, op.id);
      const firstCheck = this.deps.config.poller.scheduleMs[0];
      // A resend the PSP answered from what it holds keeps the schedule its first UNKNOWN began: restarting it at each
      // resend kept the operation from ever reaching UNRESOLVED.
      const kept = held && op.attempts > 1 && op.nextCheckAt !== undefined && op.pollStep !== undefined;
      const schedule =
        op.state === 'UNKNOWN' ? {} : kept ? { nextCheckAt: op.nextCheckAt, pollStep: op.pollStep } : { nextCheckAt: this.now() + firstCheck, pollStep: 0 };
      // Only from the state and attempt count read (as for the idempotency conflict above).
      const moved = await ledger.transition(op.id, 'UNKNOWN', inARow > 0 ? { ...detail, psp_has_request: true, same_answer_in_a_row: inARow } : detail, {
        ...schedule,
        onlyFrom: op.state,
        onlyAttempts: op.attempts,
      });
      if (!moved.applied) return this.unknownNotRecorded(op, err, moved.from);
      return { kind: 'retry', reason: `outcome unknown (${phase})` };
    }
    // Each proves only its own attempt absent. A decline is the PSP's answer for the key (its replay of an earlier
    // attempt's, or this attempt's own when none landed) only where the PSP replays a key's first answer; where a resend
    // is a new request (no idempotency key) it answers that request alone, and after an earlier attempt that may be live
    // it neither fails over nor fails: UNRESOLVED (`heldDecline`), whether or not it would have failed over.
    if (phase === 'send' && err.kind === 'declined' && !stale) {
      const route = this.deps.router.route(op);
      const elsewhere = this.mayFailOver(op) && this.triesElsewhere(err.details.gatewayCode ?? err.code);
      const declined =
        'refused' in route
          ? null
          : await this.heldDecline(
              op,
              route.transformer,
              { gateway: err.gateway, kind: err.kind, gateway_code: err.details.gatewayCode, http_status: detail.http_status },
              elsewhere,
            );
      if (declined) {
        breaker.success();
        return declined;
      }
    }
    let counted = false;
    if (phase === 'send' && this.mayFailOver(op)) {
      // Provably not sent, or a decline configured as "try elsewhere": the next candidate may take it.
      const code = err.details.gatewayCode ?? err.code;
      const trigger: FailoverTrigger | null = err.kind === 'not_sent' ? 'not_sent' : err.kind === 'declined' && this.triesElsewhere(code) ? 'declined' : null;
      if (trigger) {
        if (err.kind === 'not_sent') breaker.failure();
        else breaker.success();
        counted = true;
        // A not-sent one after an earlier attempt that may have landed stays here (retried under the same key, whose
        // answer is the PSP's for that attempt too); a decline held is above.
        const held = trigger === 'not_sent' && op.attempts > 1 && (await this.holdsNotSentFailover(op, err));
        const moved = held ? null : await this.failover(op, trigger, { gateway: err.gateway, kind: err.kind, gateway_code: err.details.gatewayCode });
        if (moved) return moved;
      }
    }
    // Whether to try again is the error's to say (`GatewayError.retryable`), never a list kept here.
    if (err.retryable) {
      // Refused credentials say nothing about the PSP's health: they do not count against its breaker. Counted once:
      // a failover that found no candidate counted it already (an "undo" by success() here closed a breaker it had
      // just opened and cleared the failures in a row, so a black-holed PSP with failover on never opened it).
      // An error whose every request the PSP answered (`pspAnswered`) is no fault of the PSP's: it is up.
      // A probe refused for our credentials is handed back: kept reserved, it held the breaker half-open for good and
      // the gateway waited in this worker until a restart.
      if (!counted && answered) breaker.success();
      else if (err.kind === 'authentication' && !counted) breaker.release();
      else if (!counted) breaker.failure();
      if (!answered) this.health.retryableFailure(err, op.id);
      // Only while the operation stands as read: after another worker's attempt meanwhile (a redelivery, a lapsed job
      // lock) this entry would read as the end of that attempt, which may be at the PSP (a `not_sent` or `rate_limited`
      // one even as proof it never landed). That worker's move stands and is that worker's to finish: nothing written.
      const appended = await ledger.appendAsRead(op, detail);
      if (!appended.appended) {
        logMovedMeanwhile(logger, `${phase} error`, op, appended.state, { command: op.command, gateway: err.gateway, kind: err.kind });
        return this.movedMeanwhile(op.id);
      }
      return { kind: 'retry', reason: err.kind, retryAfterMs: this.retryAfter(op, err) };
    }
    breaker.success();
    if (phase === 'inquiry') {
      // Only an answer about the operation may fail it; an error about the question (a status read refused, a
      // replay refused as invalid) leaves one that may be at the PSP UNRESOLVED, asked on by the poller.
      const route = this.deps.router.route(op);
      if ('refused' in route || !inquiryErrorIsAnswer(route.transformer, err)) return this.unresolvedByInquiryError(op, err, detail.http_status);
    }
    const reason = err.details.gatewayCode ?? err.code;
    const refusedForGood = (): void => {
      logger.warn('gateway refused the operation for good', {
        operation_id: op.id,
        kind: err.kind,
        reason,
        ...(err.details.field ? { field: err.details.field } : {}),
      });
    };
    // A refusal decided on the record as read says so only once it is on record (one that lost says that instead).
    if (!stale) refusedForGood();
    // The table of the gateway that answered (GatewayError names it as configured).
    const type = this.deps.config.gateways[err.gateway]?.type;
    const decline = type === undefined ? undefined : gatewayErrorDecline(declineTableFor(type), err);
    const failed = await recorder.fail(op, reason, phase === 'send' ? 'response' : 'inquiry', {
      details: detail,
      decline,
      ...(field ? { field } : {}),
      ...(stale ? { onlyFrom: stale.onlyFrom } : {}),
      ...(stale?.precededBy ? { precededBy: stale.precededBy } : {}),
      ...(stale?.routing ? { routing: stale.routing } : {}),
    });
    if (stale) {
      if (this.refusalLost(op, failed, reason)) {
        await stale.lost?.();
        return { kind: 'done', state: failed.state };
      }
      stale.recorded?.();
      refusedForGood();
    }
    if (failed.state === 'FAILED') await this.released(op, 'failed');
    return { kind: 'done', state: failed.state };
  }

  /**
   * A move to UNKNOWN (an outcome unknown, a resend refused as an idempotency conflict) that did not apply: the operation
   * left the state or attempt count the call was made on (a webhook's PENDING, SUCCEEDED or FAILED recorded during the
   * call; another worker's move). It stands as that move left it: said at info, its event made sure of and, FAILED, what
   * the orchestration holds for it given back, as a delivery of an operation already decided does; the job done.
   */
  private async unknownNotRecorded(op: OperationRecord, err: GatewayError, now: OperationState | null): Promise<DeliveryStep> {
    logMovedMeanwhile(this.deps.logger, 'outcome unknown', op, now, { command: op.command, gateway: err.gateway, kind: err.kind });
    const settled = await this.deps.recorder.settle(op.id);
    if (settled.state === 'FAILED') await this.pipeline.releaseFailed(settled);
    return { kind: 'done', state: settled.state };
  }

  /**
   * An UNKNOWN operation whose status inquiry was refused for good with an error that is no answer about the operation
   * (`inquiryErrorIsAnswer`): the operation may be at the PSP, so it is never failed on it. UNRESOLVED (alert, OMS
   * event), only from the state and attempt count read (another worker's resend meanwhile stands), asked again by the
   * poller at `poller.unresolved_interval_ms`; counted and logged once recorded.
   */
  private async unresolvedByInquiryError(op: OperationRecord, err: GatewayError, httpStatus: number | undefined): Promise<DeliveryStep> {
    const details = {
      inquiry: 'inquiry_error',
      kind: err.kind,
      ...(httpStatus !== undefined ? { http_status: httpStatus } : {}),
      ...(err.details.gatewayCode !== undefined ? { gateway_code: err.details.gatewayCode } : {}),
    };
    const given = await this.deps.recorder.unresolve(
      op,
      'status inquiry refused: an error about the question, not the operation',
      'inquiry',
      details,
      this.now() + this.deps.config.poller.unresolvedIntervalMs,
      { onlyFrom: op.state },
    );
    const line = { operation_id: op.id, gateway: err.gateway, command: op.command, ...details };
    if (given.state === 'UNRESOLVED' && op.state !== 'UNRESOLVED') {
      inquiryErrorsUnresolved().inc({ gateway: err.gateway, kind: err.kind });
      this.deps.logger.warn(
        'status inquiry refused for good: no answer about the operation, which may be at the PSP; UNRESOLVED, never failed, the poller asks again',
        line,
      );
    } else {
      this.deps.logger.info('status inquiry refused for good, but another worker moved the operation meanwhile; it stands as that one left it', {
        ...line,
        read_state: op.state,
        state: given.state,
      });
    }
    return { kind: 'done', state: given.state };
  }

  /**
   * For a resend answered `outcome_unknown` with a 500 in the PSP's own error body (`maybeSavedAnswer`: never a proxy's
   * 502/503/504) by a PSP that replays a key's first answer (`resendReplays`) without marking it a replay: how many
   * attempts in a row under its key got this same answer, when at least {@link SAME_ANSWER_HELD_AFTER} (the PSP's saved
   * answer: it holds the request; counted and logged), else 0.
   */
  private async sameAnswerHeld(op: OperationRecord, err: GatewayError, httpStatus: number | undefined): Promise<number> {
    const type = this.deps.config.gateways[err.gateway]?.type;
    if (type === undefined || gatewayDefinition(type).transformer.resendReplays !== true) return 0;
    const answer = { httpStatus, gatewayCode: err.details.gatewayCode };
    if (op.attempts < SAME_ANSWER_HELD_AFTER || !maybeSavedAnswer(answer)) return 0;
    const inARow = sameUnknownAnswersInARow(await this.deps.ledger.interactions(op.id), op.id, answer);
    if (inARow < SAME_ANSWER_HELD_AFTER) return 0;
    sameAnswersHeld().inc({ gateway: err.gateway });
    this.deps.logger.warn(
      'gateway answered the same idempotency key with the same 5xx several times in a row: read as its saved answer (it holds the request); asking about it, never sending it again',
      { operation_id: op.id, command: op.command, gateway: err.gateway, http_status: httpStatus, gateway_code: err.details.gatewayCode, in_a_row: inARow },
    );
    return inARow;
  }

  /**
   * A plan that does not send: a refusal fails the operation unsent (its decisions on record), a hold makes
   * it wait. `null` for a plan to send. `into`: the failover step to the refusing candidate (the last of
   * `failovers`), when a failover's next candidate refused it.
   */
  private async unsent(
    op: OperationRecord,
    planned: PipelineResult,
    failovers: readonly PendingFailover[] = [],
    into?: FailoverStep,
  ): Promise<DeliveryStep | null> {
    if (planned.kind === 'send') return null;
    // The failovers made before it, and the one into the refusing candidate, stay listed on its record and FAIL event
    // (this pass's and earlier ones): the late-webhook scope check reads routing.failovers to accept, report and void a
    // late success at a gateway left before.
    const routing = routingRecordOf(op, planned.plan, into ? [...(op.routing?.failovers ?? []), into] : op.routing?.failovers);
    if (planned.kind === 'wait') {
      const waiting: DeliveryStep = {
        kind: 'wait',
        reason: `held by orchestration (${planned.decisions[planned.decisions.length - 1]?.reasons[0] ?? 'hold'})`,
        delayMs: planned.delayMs,
      };
      // Held for review by the risk rules: the OMS hears it, with the deadline (once: idempotent by event id), only while
      // the operation stands as read. A hold decided on a stale read (another worker sent it meanwhile) tells the OMS
      // nothing (a PENDING RISK_REVIEW after its attempt would contradict what that attempt reports), and writes nothing:
      // no history entry, no count, no review record (`applied`) an operator would be asked to release.
      const review = reviewNoticeOf(planned.decisions);
      const notice = review ? riskReviewEvent(op, this.deps.config, review) : undefined;
      if (notice && !(await this.deps.recorder.emitAsRead(notice, op))) {
        riskReviewNoticesWithheld().inc();
        this.deps.logger.warn('risk review notice not sent: another worker moved the operation meanwhile; no hold recorded, it stands as that one left it', {
          operation_id: op.id,
          command: op.command,
          read_state: op.state,
          read_attempts: op.attempts,
        });
        return waiting;
      }
      countDecisions(planned.decisions);
      await this.deps.ledger.appendInteraction(op.id, { event: 'orchestration', decisions: planned.decisions });
      if (planned.applied) {
        // The notice on record may be an earlier pass's (it failed before the review record): the OMS holds its deadline.
        const told = notice ? await this.deps.recorder.toldReviewDeadline(notice.eventId) : undefined;
        await planned.applied(told !== undefined && told !== review?.deadline ? told : undefined);
      }
      return waiting;
    }
    // The failovers of this pass that led to the refusing candidate go on record with the FAIL (`failovers`).
    const failed = await this.deps.recorder.fail({ ...op, routing }, planned.reason, 'bridge', {
      details: { decisions: planned.decisions },
      ...(planned.field ? { field: planned.field } : {}),
      routing,
      onlyFrom: op.state,
      ...(failovers.length > 0 ? { precededBy: failovers.map((f) => f.entry) } : {}),
    });
    // Released only once the refusal is on record: one another worker sent meanwhile keeps the reservation it sent on.
    if (this.refusalLost(op, failed, planned.reason)) {
      // The refusing stage counts it apart (`refusal_lost`), never as a refusal that applied.
      planned.tally?.(false);
      // The failovers that led here never go on record: what their plans reserved (a gateway passed on its open breaker)
      // is given back, unless another plan of the operation claims it; the refused plan's (the last failover's) is not.
      const before = failovers.filter((f) => f.plan !== planned.plan);
      await this.abandonPlans(op, undefined, before);
      return { kind: 'done', state: failed.state };
    }
    this.failedOver(op, failovers, into ? planned.reason : undefined);
    // Logged once the refusal is on record: one that lost says so in `refusalLost`'s line instead.
    this.deps.logger.warn('operation refused by orchestration; not sent to any gateway', {
      operation_id: op.id,
      command: op.command,
      reason: planned.reason,
      decisions: planned.decisions.map((d) => `${d.stage}:${d.outcome}:${d.reasons.join('|')}`),
    });
    await this.pipeline.releaseRefused({ ...op, routing }, planned.plan);
    // Counted once the refusal is on record: one another worker sent meanwhile counts with its attempt.
    planned.tally?.(true);
    countDecisions(planned.decisions);
    if (op.attempts === 0) reportRouteDrops(this.deps.logger, op, planned.decisions);
    return { kind: 'done', state: failed.state };
  }

  /**
   * A refusal of an operation already sent (by route or gateway: a router's, `UNSUPPORTED_COMMAND`; against its
   * authorization), met after a configuration change or a release: one whose attempt may have reached the PSP is never
   * told FAIL (the PSP may have done it). `failovers`: those of this pass that led here, each proof that the attempt
   * before it did nothing (read as if on record: `mayHaveReachedPsp`).
   * UNKNOWN stays for its status inquiries (the poller's schedule, then UNRESOLVED); SENT, which nothing polls, becomes
   * UNRESOLVED (as past `delivery.max_age_ms`): alerted, asked about, settled by any later PSP fact. `null` for one
   * never sent (RECEIVED, no attempt, or every attempt proven not to have landed): the caller fails it unsent.
   */
  private async refusalOfSent(
    op: OperationRecord,
    reason: string,
    details: Record<string, unknown> = {},
    failovers: readonly PendingFailover[] = [],
  ): Promise<DeliveryStep | null> {
    if (op.state === 'RECEIVED' || op.attempts === 0) return null;
    if (op.state !== 'UNKNOWN' && !(await this.mayHaveReachedPsp(op.id, failovers))) return null;
    this.deps.logger.warn('refusal withheld: the operation was sent and may be at the PSP; never told FAIL, left to its status inquiries', {
      operation_id: op.id,
      command: op.command,
      reason,
      state: op.state,
      gateway: gatewayOf(op),
      ...details,
    });
    if (op.state === 'UNKNOWN') return { kind: 'done', state: op.state };
    const given = await this.deps.recorder.unresolve(
      op,
      `${reason} after an attempt that may have reached the PSP`,
      'bridge',
      { reason, ...details },
      this.now() + this.deps.config.poller.scheduleMs[0],
      { onlyFrom: op.state },
    );
    return { kind: 'done', state: given.state };
  }

  /**
   * Whether a refusal of a command not sent, decided on the record as read (`onlyFrom: read.state`), was left
   * unrecorded because another worker moved the operation meanwhile (sent it, perhaps to the PSP already): that
   * one's sender records what the PSP did, so the caller counts nothing. Says so in the loser's warn line.
   */
  private refusalLost(read: OperationRecord, after: OperationRecord, reason: string): boolean {
    if (after.state === 'FAILED') return false;
    this.deps.logger.warn('refusal not recorded: another worker moved the operation meanwhile; it stands as that one left it', {
      operation_id: read.id,
      command: read.command,
      reason,
      read_state: read.state,
      state: after.state,
    });
    return true;
  }

  /**
   * Whether the failover of a not-sent attempt is held back (`failoverHeld`): an earlier attempt may have reached the PSP
   * (a 5xx under the same key). The operation then stays at its gateway and is retried there under the same key, as a
   * retryable error is. Counted and logged (warn) when held.
   */
  private async holdsNotSentFailover(op: OperationRecord, err: GatewayError): Promise<boolean> {
    const reason = failoverHeld(await this.deps.ledger.interactions(op.id), 'not_sent', false);
    if (reason === null) return false;
    failoversHeld().inc({ gateway: err.gateway, reason });
    this.deps.logger.warn(
      'failover held back: the request was not sent, but an earlier attempt of the operation may have reached the PSP (a 5xx or a timeout under the same idempotency key); retried at this gateway under that key, never sent elsewhere beside it',
      { operation_id: op.id, command: op.command, gateway: err.gateway, attempts: op.attempts, reason },
    );
    return true;
  }

  /**
   * A decline of a resend (`detail`: the gateway, its code, the HTTP status) held back (`failoverHeld`, trigger
   * `declined`): the gateway takes a resend as a new request (`resendIsNewRequest`: no idempotency key, Cybersource), so
   * the decline answers this attempt only, and an earlier attempt under the key that may have reached the PSP (a 5xx, a
   * timeout, one with no recorded end) may be live there (its authorization may even be why the resend was declined).
   * Sent elsewhere (`elsewhere`: a decline "try elsewhere" that would fail over), the customer could be charged at both;
   * told FAIL (no failover configured, no candidate left, a code not "try elsewhere"), the OMS would let go of a
   * payment that may hold money. So it is given up on as past `delivery.max_age_ms` after such an attempt: UNRESOLVED
   * (alerted, the OMS told, asked about by the poller, settled by any later PSP fact), with the decline on record as
   * this attempt's end (`attempt_ended`, in the same script), only from the state and attempt count read; logged
   * (warn) once on record, and counted in `pb_routing_failovers_held_total` when it held a failover back. `null` when
   * the decline stands (the first attempt, a PSP that replays a key's first answer, every earlier attempt proven
   * absent). Reads the history only after a resend.
   */
  private async heldDecline(
    op: OperationRecord,
    transformer: Pick<GatewayTransformer, 'resendIsNewRequest'>,
    detail: { gateway: string; gateway_code?: string; http_status?: number; kind?: string },
    elsewhere: boolean,
  ): Promise<DeliveryStep | null> {
    if (op.attempts < 2 || transformer.resendIsNewRequest?.(op.command) !== true) return null;
    const reason = failoverHeld(await this.deps.ledger.interactions(op.id), 'declined', true);
    if (reason === null) return null;
    const details = { trigger: 'declined', ...detail, ...(elsewhere ? { failover_held: reason } : { decline_held: reason }) };
    const cause = elsewhere
      ? 'declined "try elsewhere" after an earlier attempt that may have reached the PSP'
      : 'declined after an earlier attempt that may have reached the PSP';
    const given = await this.deps.recorder.unresolve(op, cause, 'bridge', details, this.now() + this.deps.config.poller.scheduleMs[0], {
      onlyFrom: op.state,
      precededBy: [{ event: 'attempt_ended', ...details }],
    });
    this.gaveUp(op, given, cause, false);
    if (given.state !== 'UNRESOLVED') return { kind: 'done', state: given.state };
    const line = { operation_id: op.id, command: op.command, gateway: detail.gateway, gateway_code: detail.gateway_code, attempts: op.attempts, reason };
    if (elsewhere) {
      failoversHeld().inc({ gateway: detail.gateway, reason });
      this.deps.logger.warn(
        'failover held back: declined "try elsewhere", but the gateway took this resend as a new request (no idempotency key) and an earlier attempt of the operation may have reached it; UNRESOLVED, never failed, never sent elsewhere beside it',
        line,
      );
    } else {
      this.deps.logger.warn(
        'decline held back: the gateway took this resend as a new request (no idempotency key) and an earlier attempt of the operation may have reached it; the decline answers the resend only: UNRESOLVED, never failed',
        line,
      );
    }
    return { kind: 'done', state: given.state };
  }

  /** Whether this operation may move to another candidate: failover on, an authorization or sale, a candidate left. */
  private mayFailOver(op: OperationRecord): boolean {
    const r = op.routing;
    return (
      this.deps.config.routing.failover.enabled && (op.command === 'authorize' || op.command === 'sale') && r !== undefined && r.index + 1 < r.candidates.length
    );
  }

  /** Whether a decline code is configured as "try elsewhere" (`routing.failover.decline_codes`, case-insensitive). */
  private triesElsewhere(code: string | undefined): boolean {
    if (code === undefined) return false;
    const wanted = code.toLowerCase();
    return this.deps.config.routing.failover.declineCodes.some((c) => c.toLowerCase() === wanted);
  }

  /**
   * Moves an authorization or sale to its next candidate gateway and sends it there, when the attempt at the
   * current one is proven to have done nothing (the caller's to know: breaker open before any call, not sent with no
   * earlier attempt that may have landed, declined, or a status inquiry that found nothing). The attempt there carries a key of its own (two
   * gateway entries may share one PSP account: see `attempt-key.ts`), the same on every retry there. `null` when there is no candidate left (the caller goes on
   * as without failover).
   * The failover is on record (its history entry, `pb_routing_failovers_total`, the warn line) only with the move to SENT
   * at the next gateway, or the refusal there, that it led to: one whose move loses to another worker leaves nothing
   * (`send`). One that goes nowhere yet (the next candidate's breaker open, a stage's hold: a wait) records the end of
   * the attempt it left when that end is not on record yet (`attemptEnded`).
   */
  private async failover(op: OperationRecord, trigger: FailoverTrigger, detail: Record<string, unknown>): Promise<DeliveryStep | null> {
    const went = await this.failoverFrom(op, trigger, detail, []);
    // Only a wait that moved nothing: a wait after an attempt at a later gateway (declined there, its own failover
    // waiting) follows that attempt, whose own failover recorded its end; this one's end is the `failover` entry on record.
    if (went?.step.kind === 'wait' && !went.sent && ENDED_UNRECORDED.has(trigger)) await this.attemptEnded(op, trigger, detail, went.step.reason);
    return went?.step ?? null;
  }

  /**
   * `failover`'s steps: `pending`, the failovers of this pass before this one (a chain through open breakers). `sent`:
   * the step came after a move to SENT at a later gateway was tried (`send`), not from a wait or refusal before any.
   */
  private async failoverFrom(
    op: OperationRecord,
    trigger: FailoverTrigger,
    detail: Record<string, unknown>,
    pending: readonly PendingFailover[],
  ): Promise<{ step: DeliveryStep; sent: boolean } | null> {
    const current = planOf(op);
    const next = await this.pipeline.failover(op, current, this.now());
    if (!next) return null;
    const from = current.candidates[current.index];
    const to = next.plan.candidates[next.plan.index];
    // What the attempt left was asked at, when converted: a late success there is reversed in that currency.
    const left = fxLockOf(op);
    const step: FailoverStep = {
      from,
      to,
      trigger: trigger === 'declined' ? `declined:${String(detail.gateway_code ?? '')}` : trigger,
      at: this.now(),
      ...(left ? { fx: lockDetails(left) } : {}),
    };
    const failover: PendingFailover = { from, to, trigger, entry: { event: 'failover', from, to, trigger: step.trigger, ...detail }, plan: next.plan };
    if (next.kind !== 'send') {
      // A refusal at `to` goes on record with the failover that led there, as a move would: the FAILED record names
      // `to` and lists the step from `from`, so a late success at `from` is read as that earlier attempt's.
      const unsent = next.kind === 'refuse' ? await this.unsent(op, next, [...pending, failover], step) : await this.unsent(op, next, pending);
      return unsent ? { step: unsent, sent: false } : null;
    }
    // Counted for the attempt that goes there (`send`); the plan left behind, when not yet sent, counts nothing.
    const routing = freshly(routingRecordOf(op, next.plan, [...(op.routing?.failovers ?? []), step]), next.count, next.plan);
    const moved: OperationRecord = { ...op, routing };
    const route = this.deps.router.route(moved);
    if ('refused' in route || !route.transformer.supports.includes(op.command)) {
      // The move never goes on record: what the plan reserved at `to` is given back (the record's candidate keeps its own).
      await this.pipeline.releaseAbandoned(op, next.plan);
      return null;
    }
    const failovers = [...pending, failover];
    const ctx: OperationContext = {
      operationId: op.id,
      command: op.command,
      payment: routedPayment(moved),
      idempotencyKey: attemptIdempotencyKey(moved),
      attemptSince: attemptSince(moved),
    };
    const breaker = this.breaker(route.gateway.name);
    const permit = breaker.permit();
    if (!permit.allowed) {
      const further = await this.failoverFrom(moved, 'breaker_open', { gateway: route.gateway.name }, failovers);
      // Sent on, or refused on record, further along: that step's record settles what `to` holds. A wait (no candidate
      // left, a stage's hold) puts nothing on record: what the plan reserved at `to` is given back.
      if (further && further.step.kind !== 'wait') return further;
      await this.pipeline.releaseAbandoned(op, next.plan);
      return further ?? { step: { kind: 'wait', reason: `circuit open for ${to}`, delayMs: permit.retryInMs }, sent: false };
    }
    return { step: await this.send(moved, ctx, route, breaker, failovers), sent: true };
  }

  /**
   * Gives back what the plans of this pass reserved when nothing of it went on record (its move or refusal lost to another
   * worker or a PSP fact): `plan` (the one it was to send, if any) and each failover's of the chain that led there, once
   * each, every one unless another plan of the operation claims its reservation (`releaseAbandoned`).
   */
  private async abandonPlans(op: OperationRecord, plan: OrchestrationPlan | undefined, failovers: readonly PendingFailover[]): Promise<void> {
    const plans = new Set<OrchestrationPlan>(failovers.map((f) => f.plan));
    if (plan) plans.add(plan);
    for (const p of plans) await this.pipeline.releaseAbandoned(op, p);
  }

  /**
   * Counts and logs the failovers of this pass once the move (or the refusal) they led to is on record. `refused`: the
   * reason the last one's gateway refused the operation (a stage there, or its request refused while being built):
   * nothing was sent there, and its line says so instead of sending it there.
   */
  private failedOver(op: OperationRecord, failovers: readonly PendingFailover[], refused?: string): void {
    failovers.forEach((f, i) => {
      countFailover(f.from, f.to, f.trigger);
      const fields = { operation_id: op.id, command: op.command, from: f.from, to: f.to, trigger: f.trigger };
      if (refused !== undefined && i === failovers.length - 1) {
        this.deps.logger.warn('failover: the next candidate gateway refused the operation; nothing sent there', { ...fields, reason: refused });
      } else {
        this.deps.logger.warn('failover: sending the operation to its next candidate gateway', fields);
      }
    });
  }

  /**
   * The end of the attempt a failover left (not sent, declined "try elsewhere": nothing of it on record yet) when the
   * failover went nowhere yet (`reason`: why it waits): an `attempt_ended` entry, so a later pass reads that attempt as
   * having done nothing (it may fail over then, a give-up FAILs it) as a `failover` entry would have said. Only while
   * the operation stands as read (`Ledger.appendAsRead`): after another worker's attempt meanwhile it would read as that
   * attempt's end, which may be at the PSP. That one is said at info, nothing written.
   */
  private async attemptEnded(op: OperationRecord, trigger: FailoverTrigger, detail: Record<string, unknown>, reason: string): Promise<void> {
    const ended = await this.deps.ledger.appendAsRead(op, { event: 'attempt_ended', trigger, ...detail, failover_waits: reason });
    if (!ended.appended) logMovedMeanwhile(this.deps.logger, 'end of the attempt a failover left', op, ended.state, { command: op.command, trigger });
  }

  /** Tells the stages what they reserved for this attempt is not used (the operation failed for good). */
  private async released(op: OperationRecord, why: 'failed'): Promise<void> {
    if (op.routing) await this.pipeline.release(op, planOf(op), why);
  }

  /**
   * After a refusal of ours before any attempt (past `delivery.max_age_ms`, refused by its route or against its
   * authorization): gives back what the plan reserved once the operation is FAILED. The plan, decided in this pass, is
   * written with the FAIL (`planWritten`), so a worker killed between the two leaves it to the job's next run
   * (`releaseFailed`). Not when the refusal lost to another worker's move: that one may have sent on the reservation.
   */
  private async releasedUnsent(op: OperationRecord, failed: OperationRecord): Promise<void> {
    if (failed.state === 'FAILED') await this.released(op, 'failed');
  }

  /**
   * The gateway's Retry-After, which the next attempt waits for even above `delivery.backoff_max_ms`; one
   * above `delivery.retry_after_max_ms` is waited for only that long (counted and logged: a PSP asking for
   * more is either broken or telling operators something).
   */
  private retryAfter(op: OperationRecord, err: GatewayError): number | undefined {
    const asked = err.details.retryAfterMs;
    const ceiling = this.deps.config.delivery.retryAfterMaxMs;
    if (asked === undefined || asked <= ceiling) return asked;
    retryAfterCapped().inc({ gateway: err.gateway });
    this.deps.logger.warn('gateway asked to wait longer than delivery.retry_after_max_ms; retrying at the ceiling', {
      operation_id: op.id,
      gateway: err.gateway,
      kind: err.kind,
      retry_after_ms: asked,
      retry_after_max_ms: ceiling,
    });
    return ceiling;
  }
}

/** Gateway delivery's backoff: `delivery.backoff_*`, and a gateway's Retry-After up to `delivery.retry_after_max_ms`. */
export function deliveryBackoff(config: Config): BackoffPolicy {
  const { backoffBaseMs, backoffMaxMs, retryAfterMaxMs } = config.delivery;
  return { baseMs: backoffBaseMs, maxMs: backoffMaxMs, retryAfterMaxMs };
}

/** A cancel basis for a log line: `none`, `sale`, or the captures (id:amount) and the hold they are taken from. */
function basisLine(basis: CancelBasis): string {
  const c = basis.captured;
  if (c === null) return 'none';
  if (c.by === 'sale') return 'sale';
  return `captures ${c.captures.map((x) => `${x.id}:${x.amount ?? '?'}`).join(',')} of ${c.authorized.amount} ${c.authorized.currency}`;
}

/**
 * A failover decided in this pass, not yet on record: its step (for `pb_routing_failovers_total` and the warn line) and
 * its history entry, written in the same script as the move (or the refusal) it leads to.
 */
interface PendingFailover {
  readonly from: string;
  readonly to: string;
  readonly trigger: FailoverTrigger;
  readonly entry: HistoryEntryDraft;
  /** The plan decided for `to` (what the stages reserved there): given back if nothing of this pass goes on record. */
  readonly plan: OrchestrationPlan;
}

/** Failover triggers whose attempt has no recorded end when the failover is decided (the caller records it otherwise). */
const ENDED_UNRECORDED: ReadonlySet<FailoverTrigger> = new Set<FailoverTrigger>(['not_sent', 'declined']);

/**
 * `pb_unfinished_attempts_asked_total{gateway}`: attempts with no recorded end (a worker killed mid-call) at a PSP that
 * takes no idempotency key, made UNKNOWN so that a status inquiry comes before any resend (`resendIsNewRequest`).
 */
function unfinishedAttemptsAsked(): Counter<'gateway'> {
  return counter(
    'pb_unfinished_attempts_asked_total',
    'Attempts with no recorded end (a worker killed mid-call) at a PSP that takes no idempotency key, made UNKNOWN so that a status inquiry comes before any resend, by gateway',
    ['gateway'],
  );
}

/** A resend's answer read as the replay of the attempt before it; a replay never answers "never landed". */
function replayOutcome(route: GatewayRoute, ctx: OperationContext, response: GatewayResponse): GatewayOutcome {
  const outcome = route.transformer.parseStatusResponse(ctx, response, route.gateway);
  if (outcome) return outcome;
  throw new GatewayError(
    'outcome_unknown',
    route.gateway.name,
    `the resend (the replay of an attempt with no recorded end) answered HTTP ${response.status} with no trace of it`,
    {
      httpStatus: response.status,
    },
  );
}

/** The history entry of a gateway attempt: which one, where to, which call (the path is redacted on write). */
function attemptInteraction(
  operationId: string,
  attempt: number,
  route: GatewayRoute,
  request: GatewayRequest,
  decisions?: StageDecision[],
  keyUnrecorded?: true,
): Omit<Interaction, 'at'> {
  // The key is on record only when it is not the operation id (an attempt after a failover): the hot path stays as small.
  const key = request.headers['idempotency-key'] ?? request.headers['Idempotency-Key'];
  const own = key !== undefined && key !== operationId;
  const entry = {
    event: 'attempt',
    attempt,
    gateway: route.gateway.name,
    method: request.method,
    path: request.path,
    ...(own ? { idempotency_key: key } : {}),
    // A dependent's key that named nothing on record, sent as given (`sent-before-authorization.ts`).
    ...(keyUnrecorded ? { key_unrecorded: true } : {}),
  };
  return decisions && decisions.length > 0 ? { ...entry, orchestration: decisions } : entry;
}

/** Routing records decided in this process and not yet written with an attempt (their decisions go with it). */
/**
 * The routing record of a capture, cancel or refund of a converted authorization: sent to its holder at the
 * authorization's locked rate (the amount the PSP is asked for, and the lock, on record and on its event).
 */
function atLockedRateRouting(
  op: OperationRecord,
  holder: string,
  sent: { amount: number; currency: string; lines?: PaymentLine[] },
  lock: FxLock,
): RoutingRecord {
  const base = op.routing ?? { gateway: holder, requested: op.payment.gateway, candidates: [holder], index: 0, decisions: [] };
  const decision = {
    stage: 'fx' as const,
    outcome: 'changed' as const,
    reasons: ['locked_rate_of_authorization'],
    details: { ...lockDetails(lock), from_amount: op.payment.amount, to_amount: sent.amount },
  };
  return { ...base, decisions: [...base.decisions, decision], amount: sent.amount, currency: sent.currency, ...(sent.lines ? { lines: sent.lines } : {}) };
}

const fresh = new WeakSet<RoutingRecord>();

/**
 * The plans decided by the pass that delivers the record its caller just created (the consumer's inline delivery): no
 * earlier pass planned that operation, so its first attempt has nothing elsewhere to give back (`settled` skipped).
 */
const firstPlans = new WeakSet<RoutingRecord>();
/** The stages' counts of a fresh routing record's plan (`DecisionCount`), run by `send` once its attempt is on record. */
const planCounts = new WeakMap<RoutingRecord, DecisionCount>();

/**
 * The plan (with its claim: `OrchestrationPlan.claim`) of a fresh routing record of an authorization or sale, given back
 * as abandoned by `send` when its attempt's move does not apply (another worker moved the operation meanwhile).
 */
const freshPlans = new WeakMap<RoutingRecord, OrchestrationPlan>();

/**
 * `routing` decided in this pass, recorded with its attempt (`send`), with its stages' `count` run then; `plan`, the plan
 * it was made of, whose reservations are given back if that attempt never goes on record.
 */
function freshly(routing: RoutingRecord, count?: DecisionCount, plan?: OrchestrationPlan): RoutingRecord {
  fresh.add(routing);
  if (count) planCounts.set(routing, count);
  if (plan) freshPlans.set(routing, plan);
  return routing;
}

/**
 * The plan of an authorization or sale decided in this pass (`read`, as the ledger holds it, has none), for a refusal of
 * ours before any attempt to write with its FAIL: what it reserved is then on record for any later pass to give back
 * (`releaseFailed`), as an orchestration refusal's is (`unsent`). Nothing for a plan on record already, or a dependent's.
 */
function planWritten(read: OperationRecord, op: OperationRecord): { routing?: RoutingRecord } {
  return !read.routing && op.routing && !DEPENDENT.has(op.command) ? { routing: op.routing } : {};
}

/** The stages' counts of a plan to send (`unsent` has handled the others). */
function sendCount(planned: PipelineResult): DecisionCount | undefined {
  return planned.kind === 'send' ? planned.count : undefined;
}

/** The stages' counts of `routing`'s plan when it was decided in this pass and not yet recorded. */
function countOf(routing: RoutingRecord | undefined): DecisionCount | undefined {
  return routing ? planCounts.get(routing) : undefined;
}

/** The routing record of a capture, cancel, refund or revalidate that follows its authorization to `gateway`. */
function followRouting(op: OperationRecord, gateway: string): RoutingRecord {
  return {
    gateway,
    requested: op.payment.gateway,
    candidates: [gateway],
    index: 0,
    decisions: [{ stage: 'route', outcome: 'default', reasons: ['follows_authorization'], candidates: [gateway] }],
  };
}

/**
 * Whether a refusal is a refund's `amount_exceeds_captured` that would have fit without what the PSP refunded outside
 * the bridge (`refunded_outside_bridge` in its detail, `amountRefusal`). Pure.
 */
function refusedForOutsideRefunds(amount: number, refusal: ContextRefusal): boolean {
  const outside = refusal.detail?.refunded_outside_bridge;
  const refundable = refusal.detail?.refundable;
  return refusal.fail === AUTHORIZATION_REFUSALS.refund && typeof outside === 'number' && typeof refundable === 'number' && amount <= refundable + outside;
}

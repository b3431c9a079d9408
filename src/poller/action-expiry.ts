import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { actionDeadline, waitFromCreation } from '../delivery/action-deadline';
import { resolveOperationContext } from '../delivery/operation-context';
import { inquireStatus } from '../delivery/status-inquiry';
import { ReplayWithheldReason, replayInquiriesWithheld, replayWithheldReason } from '../delivery/resend-window';
import { GatewayRoute } from '../gateways/gateway-route';
import { GatewayError } from '../errors/gateway-error';
import { inquiryErrorIsAnswer } from '../delivery/inquiry-error';
import { GatewayOutcome, inquirySupport } from '../gateways/gateway-adapter';
import { InquiryMiss, inquiryMissRules, inquiryMisses, readInquiryMiss } from '../delivery/inquiry-miss';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { PeriodicItems } from '../periodic/periodic-items';
import { RedisClient } from '../redis/redis-connection';
import { bullJobId } from '../queueing/job-id';
import { GatewayRouter } from '../routing/gateway-router';
import { gatewayOf } from '../ledger/routing-record';
import { existingVoid, voidCommand, voidOperationId } from './orphan-reversal';

/** The reason a FAIL event of an expired customer action carries. */
export const ACTION_EXPIRED = 'ACTION_EXPIRED';

/** What one pass over expired customer actions did. */
export interface ActionExpiryReport {
  due: number;
  /** The PSP had settled it meanwhile (the webhook was lost or late): its outcome applied. */
  settled: number;
  /**
   * Still waiting, and the PSP's answer named a later deadline the record lacked (an operation that entered
   * ACTION_REQUIRED with the fixed timeout): it waits for that one instead.
   */
  extended: number;
  /** Failed as expired. */
  expired: number;
  /** Of those, voids queued for what the PSP holds. */
  voided: number;
  /** No answer from the PSP that may pass (an inquiry error, a route refused…), within `poller.action_expiry_inquiry_max_ms`: left ACTION_REQUIRED, asked again later. */
  deferred: number;
  /** No answer from the PSP past `poller.action_expiry_inquiry_max_ms`, or none to come (refused for good, webhook only, withheld): UNRESOLVED, nothing voided. */
  unresolved: number;
  errors: number;
}

const resumedVoids = counter(
  'pb_customer_action_voids_resumed_total',
  'Voids of expired customer actions queued by a later pass from their recorded intent (the pass that failed the operation stopped before queueing it)',
);

/** The history entry of an expiry deferred because the PSP gave no answer (`cause`); it carries when the run of them began. */
const DEFERRED = 'action_expiry_deferred';

/**
 * Why an expiry got no answer from the PSP (the `cause` label of `pb_action_expiry_inquiry_failures_total`):
 * - `inquiry_error`: its status inquiry erred (no answer about the operation);
 * - `route_refused`: the router refuses the gateway (`UNKNOWN_GATEWAY`: missing from this process's configuration): not asked;
 * - `context_unresolved`: the request could not be built (its authorization not resolved; `reason` says why): not asked;
 * - `search_lag`: the PSP's search missed it while a miss proves nothing (`readInquiryMiss`: index lag, the PSP holds the request);
 * - `beyond_horizon`: the PSP's search cannot reach its attempt: its miss proves nothing, and never will;
 * - `not_askable`: the gateway settles the command by webhook only (`inquiry`: webhook-only): it can never be asked;
 * - `replay_withheld`: the inquiry would replay the request past its idempotency key's validity or past
 *   `delivery.max_age_ms` (`replayWithheldReason`; the entry's `withheld`): never asked again.
 */
type NoAnswerCause = 'inquiry_error' | 'route_refused' | 'context_unresolved' | 'search_lag' | 'beyond_horizon' | 'not_askable' | 'replay_withheld';

/** No answer from the PSP at an expiry: why, whether it may pass (asked again until the bound), what to record. */
interface NoAnswer {
  cause: NoAnswerCause;
  retryable: boolean;
  details: Record<string, string | number | undefined>;
}

/** The cause of the UNRESOLVED move (its event and alert), by why the PSP gave no answer and whether that may pass. */
const UNRESOLVED_CAUSES: Readonly<Record<NoAnswerCause, (why: NoAnswer) => string>> = {
  inquiry_error: (why) => (why.retryable ? 'customer action expiry: status inquiry kept failing' : 'customer action expiry: status inquiry refused'),
  route_refused: () => "customer action expiry: gateway missing from this process's configuration past the bound",
  context_unresolved: () => 'customer action expiry: status inquiry could not be built (operation context unresolved) past the bound',
  search_lag: () => "customer action expiry: the PSP's status search kept missing it while a miss proves nothing",
  beyond_horizon: () => "customer action expiry: attempt older than the PSP's status search reaches",
  not_askable: () => 'customer action expiry: the PSP cannot be asked about this command (webhook only)',
  replay_withheld: (why) =>
    why.details.withheld === 'max_age'
      ? 'customer action expiry: status inquiry withheld (delivery.max_age_ms passed: replaying the request would send it again)'
      : 'customer action expiry: status inquiry withheld (idempotency key too old to ask by replaying the request)',
};

/** A miss that proves nothing as the expiry's no answer: a lag that passes (asked again), a horizon that never will. */
function missNoAnswer(miss: Exclude<InquiryMiss, { kind: 'no_trace' }>): NoAnswer {
  switch (miss.kind) {
    case 'index_lag':
      return { cause: 'search_lag', retryable: true, details: { miss: miss.kind, attempt_age_ms: miss.attemptAgeMs, lag_ms: miss.lagMs } };
    case 'psp_has_request':
      return { cause: 'search_lag', retryable: true, details: { miss: miss.kind } };
    case 'beyond_horizon':
      return { cause: 'beyond_horizon', retryable: false, details: { miss: miss.kind, attempt_age_ms: miss.attemptAgeMs, horizon_ms: miss.horizonMs } };
  }
}

const inquiryFailures = counter(
  'pb_action_expiry_inquiry_failures_total',
  'Customer actions past their expiry the PSP gave no answer about, so not failed (the customer may have completed), by gateway, what followed (retried: left ACTION_REQUIRED, asked again | unresolved: UNRESOLVED, no void) and why (inquiry_error | route_refused | context_unresolved | search_lag | beyond_horizon | not_askable | replay_withheld)',
  ['gateway', 'result', 'cause'],
);

const expiredActions = counter(
  'pb_customer_actions_expired_total',
  'Operations whose customer action (3-D Secure, a redirect, a voucher) expired, by gateway and whether a void was sent (voided: yes | nothing_held)',
  ['gateway', 'voided'],
);

/**
 * The end of a customer action nobody completed. An operation in ACTION_REQUIRED past its deadline (its
 * index score: the PSP's own deadline plus `authentication.action_deadline_grace_ms` when the PSP named one,
 * else `authentication.action_timeout_ms`; `delivery/action-deadline.ts`) is, in the poller role:
 * 1. asked about once more where the PSP can be asked: the customer may have finished while the webhook
 *    was lost; a PSP answer other than "still waiting" is applied as any inquiry's; "still waiting" with a
 *    deadline of the PSP's the record lacks, still ahead, is applied too (the operation waits for it);
 *    Anything but the PSP's answer is no answer: the customer may have completed (a sale captured), so the
 *    operation is not failed on our clock alone (`NoAnswerCause`). What may pass (an inquiry error that is
 *    retryable, a route refused: a gateway missing from this process's configuration, a context not resolved)
 *    leaves it ACTION_REQUIRED, asked again along `poller.schedule_ms`; once that has lasted
 *    `poller.action_expiry_inquiry_max_ms`, or at once on what will not pass (an error that is no answer about
 *    the operation, `inquiryErrorIsAnswer`; a webhook-only command; an inquiry withheld past the idempotency
 *    key's validity or `delivery.max_age_ms`), it is UNRESOLVED (alerted, the poller asks on), with no void: a
 *    void is only for what the PSP told us was not completed (a captured sale's is refused);
 * 2. otherwise FAILED with reason `ACTION_EXPIRED` (the OMS gets the FAIL event), and
 * 3. what the PSP holds is voided: a cancel `_<id>.void` of the PSP object (`payment.orphan_reversal:
 *    action_expired`), delivered and reported like any cancel, so an authentication completed after the
 *    expiry cannot leave money held for an order the OMS gave up on. Without a PSP reference (an Adyen
 *    redirect answers none before the shopper returns) nothing is held: the PSP's own session expires.
 * A success that arrives after the expiry is the contradiction path's (an adjustment, and an orphan void).
 *
 * The void is a write after the failure: its intent (operation id → PSP reference) goes to
 * `<prefix>{actions}:void-intents` before the failure and leaves it once the void is queued, so a crash in
 * between leaves an intent the next pass carries out (`pb_customer_action_voids_resumed_total`).
 */
export class ActionExpiry {
  private readonly items: PeriodicItems;

  constructor(
    private readonly deps: {
      config: Config;
      /** Where the void intents live (`<prefix>{actions}:void-intents`). */
      redis: RedisClient;
      ledger: Ledger;
      router: GatewayRouter;
      recorder: OutcomeRecorder;
      deliveryQueue: Queue<DeliveryJobData>;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.items = new PeriodicItems('action_expiry', 'operation_id', deps.logger, () => this.now());
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** Hash: operation id → the PSP reference its void is to cancel, from before the failure until the void is queued. */
  get voidIntentsKey(): string {
    return `${this.deps.config.redis.keyPrefix}{actions}:void-intents`;
  }

  /**
   * One pass over the operations whose customer action is past its deadline (at most `limit`, oldest
   * first). One that faults is put back after a backoff (`PeriodicItems`); a dependency outage ends the pass (thrown).
   */
  async runOnce(limit = 500): Promise<ActionExpiryReport> {
    const { ledger } = this.deps;
    const report: ActionExpiryReport = { due: 0, settled: 0, extended: 0, expired: 0, voided: 0, deferred: 0, unresolved: 0, errors: 0 };
    report.voided += await this.resumeVoids();
    const ids = await ledger.idsInState('ACTION_REQUIRED', this.now(), limit);
    report.due = ids.length;
    const expire = async (id: string): Promise<void> => {
      const result = await this.check(id);
      if (result === 'settled') report.settled += 1;
      if (result === 'extended') report.extended += 1;
      if (result === 'expired' || result === 'voided') report.expired += 1;
      if (result === 'voided') report.voided += 1;
      if (result === 'deferred') report.deferred += 1;
      if (result === 'unresolved') report.unresolved += 1;
    };
    report.errors = await this.items.each(
      ids,
      (id) => id,
      expire,
      (id, at) => ledger.rescoreInState('ACTION_REQUIRED', [id], at),
    );
    return report;
  }

  private async check(id: string): Promise<'settled' | 'extended' | 'expired' | 'voided' | 'deferred' | 'unresolved' | 'skipped'> {
    const { ledger, router, recorder, logger } = this.deps;
    const op = await ledger.get(id);
    if (!op) {
      await ledger.dropFromStateIndex('ACTION_REQUIRED', id);
      this.items.dropped(id, 'ops:state:ACTION_REQUIRED');
      return 'skipped';
    }
    if (op.state !== 'ACTION_REQUIRED') return 'skipped';
    const route = router.route(op);
    let reference = op.gatewayReference;
    /** What the PSP said that lets the expiry fail it: still waiting (or a decline to a replay), or no trace of it. */
    let pspAnswer: 'still_waiting' | 'no_trace' = 'still_waiting';
    // Where the PSP is not asked it has not said the customer did not complete: never FAILED on our clock alone.
    if ('refused' in route) {
      // A gateway missing from this process's configuration (`UNKNOWN_GATEWAY`) may come back with it: asked again.
      return this.noAnswer(op, { cause: 'route_refused', retryable: true, details: { refused: route.refused } }, gatewayOf(op));
    }
    const gateway = route.gateway.name;
    // A command the PSP settles only by webhook (`inquiry`: webhook-only) can never be asked, and an inquiry
    // withheld (a replay past the key's validity or delivery.max_age_ms) never will be again: an operator decides
    // (UNRESOLVED, the alert).
    if (inquirySupport(route.transformer, op.command) !== 'supported') {
      return this.noAnswer(op, { cause: 'not_askable', retryable: false, details: {} }, gateway);
    }
    const withheld = this.replayWithheld(op, route);
    if (withheld !== null) {
      const details = { withheld, created_at: new Date(op.createdAt).toISOString(), received_at: new Date(op.receivedAt).toISOString() };
      return this.noAnswer(op, { cause: 'replay_withheld', retryable: false, details }, gateway);
    }
    const resolved = await resolveOperationContext(op, ledger);
    if (!('context' in resolved)) {
      // Why, as the poller's `poll_skipped` says it: an authorization undecided (`wait`) or refused (`fail`).
      const reason = 'wait' in resolved ? resolved.wait : resolved.fail;
      return this.noAnswer(op, { cause: 'context_unresolved', retryable: true, details: { reason } }, gateway);
    }
    try {
      const { outcome, elapsedMs } = await inquireStatus(route, resolved.context, logger);
      if (outcome === null) {
        // "No trace" is the PSP's word that nothing happened only where its inquiry is authoritative: a search
        // younger than its lag (Stripe's, up to an hour behind), one the PSP said holds the request, or one
        // that cannot reach the attempt proves nothing, as delivery reads a miss (`readInquiryMiss`).
        const miss = await this.readMiss(op, route);
        if (miss.kind !== 'no_trace') return this.noAnswer(op, missNoAnswer(miss), gateway);
        pspAnswer = 'no_trace';
      }
      if (outcome && outcome.status !== 'ACTION_REQUIRED') {
        await recorder.apply(op, outcome, 'poller', { elapsed_ms: elapsedMs, cause: 'action_timeout' });
        return 'settled';
      }
      // The PSP gives the customer longer than the fixed timeout this operation got (it entered before the
      // PSP's deadline was read, or by a notice that named none), or its action's wait does (it entered
      // before the waits by kind: a bank transfer given the 3-D Secure minutes): cancelling now would void a
      // payment the customer may still make. The recorder takes either as a repeated notice's.
      const longer = outcome && op.actionExpiresAt === undefined ? this.longerWait(op, outcome) : undefined;
      if (outcome && longer) {
        const after = await recorder.apply(op, outcome, 'poller', { elapsed_ms: elapsedMs, cause: longer });
        if (after.state === 'ACTION_REQUIRED' && (after.nextCheckAt ?? 0) > this.now()) return 'extended';
      }
      reference = outcome?.gatewayReference ?? reference;
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      await ledger.appendInteraction(op.id, {
        event: 'poll_error',
        kind: err.kind,
        http_status: err.details.httpStatus,
        gateway_code: err.details.gatewayCode,
      });
      // Only a decline answered to a replaying inquiry is the PSP's word on the operation (not completed): it
      // expires as before. Any other error is no answer: the customer may have completed, so never FAILED.
      if (err.retryable || !inquiryErrorIsAnswer(route.transformer, err)) {
        const error = { kind: err.kind, http_status: err.details.httpStatus, gateway_code: err.details.gatewayCode };
        return this.noAnswer(op, { cause: 'inquiry_error', retryable: err.retryable, details: error }, gateway);
      }
    }
    const waited = this.now() - op.updatedAt;
    // The void's intent first: a crash after the failure (which takes the operation off the index this pass
    // reads) would otherwise leave what the PSP holds unvoided, with nothing to come back to it.
    if (reference) await this.deps.redis.hset(this.voidIntentsKey, op.id, reference);
    // Only from the state read: a PSP fact that moved it meanwhile (the inquiry may take the gateway's timeout; a
    // webhook saying the customer finished, PENDING) stands, never told FAIL nor voided.
    const after = await recorder.fail(op, ACTION_EXPIRED, 'poller', { details: { waited_ms: waited }, onlyFrom: op.state });
    if (after.state !== 'FAILED' || after.reason !== ACTION_EXPIRED) {
      if (reference) await this.deps.redis.hdel(this.voidIntentsKey, op.id);
      logger.info('customer action expiry not recorded: the operation moved meanwhile; it stands as that left it, nothing voided', {
        operation_id: op.id,
        read_state: op.state,
        state: after.state,
      });
      return 'skipped';
    }
    const voided = reference ? await this.queueVoid(op, reference) : false;
    if (reference) await this.deps.redis.hdel(this.voidIntentsKey, op.id);
    expiredActions.inc({ gateway: op.payment.gateway, voided: voided ? 'yes' : 'nothing_held' });
    logger.warn('customer action expired: operation failed and what the PSP holds voided', {
      operation_id: op.id,
      order_id: op.payment.order_id,
      gateway: op.payment.gateway,
      command: op.command,
      action_kind: op.action?.kind,
      waited_ms: waited,
      psp_action_expires_at: op.actionExpiresAt !== undefined ? new Date(op.actionExpiresAt).toISOString() : undefined,
      void_operation_id: voided ? voidOperationId(op.id) : undefined,
      psp_answer: pspAnswer,
    });
    return voided ? 'voided' : 'expired';
  }

  /**
   * `op`'s expiry got no answer from the PSP about it (`why`): left ACTION_REQUIRED and asked again after the
   * next step of `poller.schedule_ms` (counted by the answers missed in a row, the last step repeated, never past
   * the bound) while `why` may pass and the first miss was less than `poller.action_expiry_inquiry_max_ms` ago;
   * otherwise UNRESOLVED, with no void. Either move applies only at the state and attempt count read.
   */
  private async noAnswer(op: OperationRecord, why: NoAnswer, gateway: string): Promise<'deferred' | 'unresolved' | 'skipped'> {
    const { config, ledger, recorder, logger } = this.deps;
    const now = this.now();
    const run = await this.erringSince(op);
    const since = run?.since ?? now;
    const failures = (run?.failures ?? 0) + 1;
    const maxMs = config.poller.actionExpiryInquiryMaxMs;
    const { cause, details } = why;
    const log = { operation_id: op.id, gateway, action_kind: op.action?.kind, cause, ...details, failures, erring_ms: now - since };
    if (why.retryable && now - since < maxMs) {
      const schedule = config.poller.scheduleMs;
      const nextCheckAt = Math.min(now + schedule[Math.min(failures - 1, schedule.length - 1)], since + maxMs);
      const moved = await ledger.transition(
        op.id,
        'ACTION_REQUIRED',
        // An ISO time, not epoch ms: the history's card-number scan would mask one epoch-ms number in ten.
        {
          event: DEFERRED,
          cause,
          ...details,
          failures,
          failing_since: new Date(since).toISOString(),
          next_check_at: new Date(nextCheckAt).toISOString(),
        },
        { nextCheckAt, onlyFrom: op.state, onlyAttempts: op.attempts },
        now,
      );
      if (!moved.applied) return this.movedMeanwhile(op, moved.from);
      inquiryFailures.inc({ gateway, result: 'retried', cause });
      logger.warn('customer action expiry deferred: the PSP could not be asked whether the customer completed it; not failed, asked again', {
        ...log,
        next_check_at: new Date(nextCheckAt).toISOString(),
      });
      return 'deferred';
    }
    const after = await recorder.unresolve(
      op,
      UNRESOLVED_CAUSES[cause](why),
      'poller',
      // `cause` is the move's own (the text above); why, by its label, is `no_answer`.
      { no_answer: cause, ...details, failures, erring_ms: now - since },
      undefined,
      { onlyFrom: op.state },
    );
    if (after.state !== 'UNRESOLVED') return this.movedMeanwhile(op, after.state);
    inquiryFailures.inc({ gateway, result: 'unresolved', cause });
    logger.warn('customer action expiry given up as UNRESOLVED: the PSP could not be asked whether the customer completed it; not failed, nothing voided', log);
    return 'unresolved';
  }

  /** An expiry's move that did not apply: the operation left the state or attempt count read; it stands as that left it. */
  private movedMeanwhile(op: OperationRecord, state: string | null): 'skipped' {
    this.deps.logger.info('customer action expiry not recorded: the operation moved meanwhile; it stands as that left it, nothing voided', {
      operation_id: op.id,
      read_state: op.state,
      state: state ?? 'missing',
    });
    return 'skipped';
  }

  /**
   * When the expiry's inquiry errors in a row began, and how many: from the last deferral in `op`'s history, unless
   * the operation left ACTION_REQUIRED since (a move to another state), the PSP answered the poller's inquiry since
   * (an outcome of source `poller`, such as a later deadline taken), or its next check is no longer the one that
   * deferral set (a notice named a later deadline): each starts a new run. Anything else in between (an inquiry
   * error, a repeated ACTION_REQUIRED notice by webhook keeping the deadline) keeps the run, so notices that keep
   * coming cannot hold the operation deferred past `poller.action_expiry_inquiry_max_ms`.
   */
  private async erringSince(op: OperationRecord): Promise<{ since: number; failures: number } | undefined> {
    const history = await this.deps.ledger.interactions(op.id);
    for (let i = history.length - 1; i >= 0; i -= 1) {
      const entry = history[i];
      if (entry.event !== DEFERRED) {
        if (entry.to !== undefined && entry.to !== 'ACTION_REQUIRED') return undefined;
        if (entry.event === 'outcome' && entry.source === 'poller') return undefined;
        continue;
      }
      if (typeof entry.next_check_at === 'string' && Date.parse(entry.next_check_at) !== op.nextCheckAt) return undefined;
      const since = typeof entry.failing_since === 'string' ? Date.parse(entry.failing_since) : NaN;
      const failures = Number(entry.failures);
      return Number.isFinite(since) && Number.isFinite(failures) ? { since, failures } : undefined;
    }
    return undefined;
  }

  /**
   * Why `op`, still waiting at its deadline, waits longer: the PSP's deadline is one the bridge takes
   * (`actionDeadline`) at this pass's time (`action_deadline_from_psp`), or its action's fixed wait counted
   * from the operation's creation ends after this pass (`action_wait_by_kind`); `undefined` when neither.
   */
  private longerWait(op: OperationRecord, outcome: GatewayOutcome): 'action_deadline_from_psp' | 'action_wait_by_kind' | undefined {
    const auth = this.deps.config.authentication;
    const now = this.now();
    if (actionDeadline(outcome.actionExpiresAt, op, now, auth).pspExpiresAt !== undefined) return 'action_deadline_from_psp';
    if (waitFromCreation(op, auth, outcome.action ?? op.action).at > now) return 'action_wait_by_kind';
    return undefined;
  }

  /** What the PSP's "no trace" of `op` proves now (`readInquiryMiss`, as delivery reads it): counted in `pb_inquiry_misses_total`. */
  private async readMiss(op: OperationRecord, route: GatewayRoute): Promise<InquiryMiss> {
    const miss = readInquiryMiss(await this.deps.ledger.interactions(op.id), inquiryMissRules(route.transformer, op.command), this.now());
    inquiryMisses().inc({ gateway: route.gateway.name, meaning: miss.kind });
    return miss;
  }

  /**
   * Why the inquiry about `op` is withheld (`replayWithheldReason`: a replay past the key's validity or past
   * `delivery.max_age_ms`), counted in `pb_replay_inquiries_withheld_total{by="action_expiry",reason}`; null when it
   * is asked. An operation waiting for its customer's action has Adyen's answer (the action), so its replay would
   * read that answer back; past `delivery.max_age_ms` it is withheld all the same, as every replay is: one rule, no
   * send after the bridge gave up. Withheld, the expiry has no answer to come: UNRESOLVED, never FAILED nor voided.
   */
  private replayWithheld(op: OperationRecord, route: GatewayRoute): ReplayWithheldReason | null {
    const reason = replayWithheldReason(route.transformer, op, this.now(), this.deps.config.delivery.maxAgeMs);
    if (reason !== null) replayInquiriesWithheld().inc({ gateway: route.gateway.name, by: 'action_expiry', reason });
    return reason;
  }

  /**
   * Carries out the void intents a pass left (it stopped between failing an operation and queueing its void):
   * an operation FAILED as expired gets its void; one still waiting for its action is left to the expiry
   * (the intent stays); any other (settled by the PSP meanwhile, gone) needs none. Returns the voids queued.
   */
  private async resumeVoids(): Promise<number> {
    const { redis, ledger, logger } = this.deps;
    const intents = await redis.hgetall(this.voidIntentsKey);
    let queued = 0;
    for (const [id, reference] of Object.entries(intents)) {
      const op = await ledger.get(id);
      if (op?.state === 'ACTION_REQUIRED') continue;
      if (op?.state === 'FAILED' && op.reason === ACTION_EXPIRED) {
        await this.queueVoid(op, reference);
        queued += 1;
        resumedVoids.inc();
        logger.warn('customer action expired earlier without its void queued (the pass stopped in between): void queued now', {
          operation_id: id,
          void_operation_id: (await existingVoid(ledger, id))?.id ?? voidOperationId(id),
        });
      }
      await redis.hdel(this.voidIntentsKey, id);
    }
    return queued;
  }

  /** The cancel of the PSP object the expired operation left (idempotent: one void id per operation). */
  private async queueVoid(op: OperationRecord, reference: string): Promise<boolean> {
    const { ledger, deliveryQueue } = this.deps;
    // One made before the void's naming changed is the one to queue again: never two voids of one PSP object.
    const voidId = (await existingVoid(ledger, op.id))?.id ?? voidOperationId(op.id);
    const now = this.now();
    await ledger.create(voidId, voidCommand(op, 'action_expired', reference, now), now);
    await deliveryQueue.add('deliver', { operationId: voidId }, { jobId: bullJobId(voidId) });
    return true;
  }
}

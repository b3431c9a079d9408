import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { ensureDelivery, requeueDelivery } from '../delivery/requeue-delivery';
import { noteOperationRevival } from '../delivery/revived-jobs';
import { GatewayRoute } from '../gateways/gateway-route';
import { GatewayRouter } from '../routing/gateway-router';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { ContextRefusal, resolveOperationContext } from '../delivery/operation-context';
import { voidsOwnTransactionAt } from '../gateways/gateway-registry';
import { inquireStatus } from '../delivery/status-inquiry';
import { ReplayWithheldReason, replayInquiriesWithheld, replayWithheldReason } from '../delivery/resend-window';
import { alertAwaitingWebhook, unresolvedGauge } from '../delivery/unresolved-operations';
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { GatewayError } from '../errors/gateway-error';
import { inquirySupport } from '../gateways/gateway-adapter';
import { Ledger, OperationRecord, TransitionResult } from '../ledger/ledger';
import { OperationState, POLLED_STATES } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { refusalAfterUnnamedAttempts, reportRefusalAfterUnnamedAttempts } from '../delivery/sent-before-authorization';
import { counter } from '../metrics/metrics-registry';

/** Polls that left an operation's schedule alone: another poller, its delivery job or a PSP fact moved it meanwhile. */
const pollsSuperseded = counter(
  'pb_poll_superseded_total',
  "Polls that left an operation's schedule as it was: another poller took the step after the ids were listed, or the delivery job sent it again (or moved it to send again) or a PSP fact moved it during the inquiry.",
);
/**
 * Polls that threw a fault of the bridge. The same operation meets the same fault at each poll, so it is not
 * asked again at once: it moves along its schedule as a poll that found nothing does.
 */
const pollFaults = counter(
  'pb_poll_faults_total',
  'Polls that threw a fault of the bridge (neither a gateway answer nor a dependency outage), by what was done: rescheduled (one step along its poll schedule), unresolved (the schedule ran out: UNRESOLVED, cause poll_fault), postponed (its record could not be read or moved: asked again after poller.unresolved_interval_ms)',
  ['outcome'],
);

/** Cause of an operation made UNRESOLVED because its polls kept faulting (its history, its alert). */
export const POLL_FAULT = 'poll_fault';

/** What one poll run did. */
export interface PollReport {
  due: number;
  resolved: number;
  stillOpen: number;
  /** Operations given up on in this run: now UNRESOLVED (not failed). */
  unresolved: number;
  /**
   * Polls that could not be done: a dependency outage (left due), or an operation that could not be read or
   * moved (postponed). A poll fault that moved the operation along its schedule counts as what it led to.
   */
  errors: number;
}

/**
 * `pollStep` of a webhook-only operation whose `payment_awaiting_webhook` alert was raised: it is never
 * raised twice for one operation.
 */
export const WEBHOOK_WAIT_ALERTED = -1;

/**
 * Asks the gateway about PENDING, UNKNOWN and UNRESOLVED operations whose next check is due.
 *
 * - PENDING / UNKNOWN follow the schedule (`poller.schedule_ms`, default 1m 5m 30m 2h 1d = the wait before
 *   each successive check). After the last one the operation is not failed: the PSP may still have moved
 *   the money. It becomes UNRESOLVED (see `OutcomeRecorder.unresolve`): the OMS is told so, operators are
 *   alerted (`alert: payment_unresolved`).
 * - UNRESOLVED operations are asked again every `poller.unresolved_interval_ms` (default 1 h), for as long
 *   as they stay so; a webhook or reconciliation may settle them meanwhile.
 * - Operations whose command the gateway cannot be asked about (`inquiry(command) === 'webhook-only'`,
 *   e.g. Adyen captures) are never asked nor given up on while PENDING: they wait for their webhook or
 *   for reconciliation, and past `poller.webhook_wait_alert_ms` raise one `payment_awaiting_webhook` alert.
 *
 * Outcomes go through the OutcomeRecorder, so they only move forward and the OMS gets its event. An
 * UNKNOWN the PSP has no trace of is resent by its delivery job, with the same idempotency key: the poller
 * makes sure that job runs now (`requeueDelivery`: a delayed one is promoted, a lost or finished one is
 * queued again under the same job id), and that every UNKNOWN it checks still has a live job (a job can be
 * lost: a handler whose BullMQ lock lapsed keeps running while the job runs again elsewhere and completes,
 * then moves the operation back to UNKNOWN with nobody left to retry it).
 */
export class Poller {
  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      router: GatewayRouter;
      recorder: OutcomeRecorder;
      logger: Logger;
      now?: () => number;
      /** Inquiries in flight at once. Default 20. */
      parallelism?: number;
      /** The `gateway-delivery` queue, to make sure UNKNOWN operations keep a live delivery job. Without it, none is checked. */
      deliveryQueue?: Queue<DeliveryJobData>;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  async runOnce(limit = 5000): Promise<PollReport> {
    const now = this.now();
    const queue: { id: string; state: OperationState }[] = [];
    for (const state of ['PENDING', 'UNKNOWN', 'UNRESOLVED'] as const) {
      for (const id of await this.deps.ledger.idsInState(state, now, limit)) queue.push({ id, state });
    }
    const report: PollReport = { due: queue.length, resolved: 0, stillOpen: 0, unresolved: 0, errors: 0 };
    const workers = Array.from({ length: Math.min(this.deps.parallelism ?? 20, queue.length) }, async () => {
      for (let due = queue.shift(); due !== undefined; due = queue.shift()) {
        try {
          const result = await this.check(due.id);
          report[result] += 1;
        } catch (err) {
          report.errors += 1;
          if (isDependencyOutage(err)) {
            // Left due: asked again at the next pass, for as long as the outage lasts.
            this.deps.logger.warn('poll of an operation failed', { operation_id: due.id, error_class: errorClassOf(err), error: (err as Error).message });
          } else {
            await this.postpone(due.id, due.state, err);
          }
        }
      }
    });
    await Promise.all(workers);
    unresolvedGauge.set(await this.deps.ledger.countInState('UNRESOLVED'));
    return report;
  }

  /**
   * Polls operation `id`. A fault of the bridge met while polling it (not a gateway answer, not an outage)
   * moves the operation along its schedule (see `afterFault`).
   * Throws a dependency outage, or a fault met before the record could be read.
   */
  private async check(id: string): Promise<'resolved' | 'stillOpen' | 'unresolved'> {
    const op = await this.deps.ledger.get(id);
    if (!op || !POLLED_STATES.has(op.state)) return 'resolved';
    // Every worker runs a poller: another one (or the delivery job) may have taken this step since the ids
    // were listed. Advancing again from the fresh record would spend one step of the schedule per poller.
    if (op.nextCheckAt !== undefined && op.nextCheckAt > this.now()) {
      pollsSuperseded.inc();
      return 'stillOpen';
    }
    try {
      return await this.poll(op);
    } catch (err) {
      if (isDependencyOutage(err)) throw err;
      return this.afterFault(op, err);
    }
  }

  private async poll(op: OperationRecord): Promise<'resolved' | 'stillOpen' | 'unresolved'> {
    const { ledger, router, recorder, logger } = this.deps;
    const route = router.route(op);
    // No route: nothing to ask; the schedule runs out and the operation becomes UNRESOLVED, alerting operators.
    if (!('refused' in route)) {
      if (inquirySupport(route.transformer, op.command) === 'webhook-only') return this.withoutInquiry(op, route);
      const withheld = replayWithheldReason(route.transformer, op, this.now(), this.deps.config.delivery.maxAgeMs);
      if (withheld) return this.replayWithheld(op, route, withheld);
      // The same context delivery sent with: a capture naming our authorization asks about the PSP's object.
      // A cancel naming our capture or refund its gateway voids by its own id asks about that void.
      const resolved = await resolveOperationContext(op, ledger, {
        voidsOwnTransaction: voidsOwnTransactionAt(route.gateway),
      });
      let noTrace = false;
      if ('context' in resolved) {
        try {
          const { outcome, elapsedMs } = await inquireStatus(route, resolved.context, logger);
          noTrace = outcome === null;
          if (outcome && outcome.status !== 'PENDING') {
            const after = await recorder.apply(op, outcome, 'poller', { elapsed_ms: elapsedMs });
            if (after.state === 'SUCCEEDED' || after.state === 'FAILED') return 'resolved';
          }
          // An UNRESOLVED operation cannot be sent again: a PSP with no trace of it is noted, and asked again.
          if (!outcome && op.state === 'UNRESOLVED') await ledger.appendInteraction(op.id, { event: 'poll', found: false, elapsed_ms: elapsedMs });
        } catch (err) {
          if (!(err instanceof GatewayError)) throw err;
          await ledger.appendInteraction(op.id, {
            event: 'poll_error',
            kind: err.kind,
            http_status: err.details.httpStatus,
            gateway_code: err.details.gatewayCode,
          });
        }
      } else if ('fail' in resolved && (await refusalAfterUnnamedAttempts(op, resolved, ledger))) {
        if (await this.failedAfterUnnamedAttempts(op, route, resolved)) return 'resolved';
      } else {
        // A sent operation whose authorization is undecided or failed is a contradiction, not an answer:
        // never fail a money movement on it; note it and ask again at the next step.
        const reason = 'wait' in resolved ? resolved.wait : resolved.fail;
        logger.warn('poll cannot name the PSP object of this operation yet', { operation_id: op.id, reason });
        await ledger.appendInteraction(op.id, { event: 'poll_skipped', reason });
      }
      if (op.state === 'UNKNOWN') {
        await this.keepDelivering(op, noTrace);
        if (await this.sentAgainMeanwhile(op)) return 'stillOpen';
      }
    }
    return this.advance(op);
  }

  /**
   * Whether the operation was sent again since the poller read it (its attempt count moved): the inquiry
   * can take up to the gateway's timeout, while the delivery job asks too, resends, and puts its own poll
   * schedule on the record. Advancing from the record read before would undo that schedule, or give up
   * (UNRESOLVED, never sent again) on an attempt just made. One read, on the UNKNOWN path only.
   */
  private async sentAgainMeanwhile(op: OperationRecord): Promise<boolean> {
    const now = await this.deps.ledger.get(op.id);
    if (!now || now.attempts === op.attempts) return false;
    this.deps.logger.info('poll: the operation was sent again meanwhile; its delivery keeps its schedule', {
      operation_id: op.id,
      attempts_read: op.attempts,
      attempts_now: now.attempts,
      state: now.state,
    });
    pollsSuperseded.inc();
    return true;
  }

  /**
   * An operation the gateway cannot be asked about. PENDING: the PSP has it and settles it by webhook (or
   * in its reports): never given up on; one alert once it has waited `poller.webhook_wait_alert_ms`. A webhook
   * outcome parked under its reference before its answer was recorded is released at each check (`releaseParked`).
   * UNKNOWN: its delivery job resends it with the same idempotency key (see DeliveryService); the
   * schedule still runs, so one that never reaches the PSP ends UNRESOLVED.
   */
  private async withoutInquiry(op: OperationRecord, route: GatewayRoute): Promise<'resolved' | 'stillOpen' | 'unresolved'> {
    const { ledger, config, logger } = this.deps;
    // Never asked about, so only here can an UNRESOLVED one whose attempts named nothing at the PSP be told its refusal.
    if (op.state === 'UNRESOLVED' && op.attempts > 0) {
      const resolved = await resolveOperationContext(op, ledger, { voidsOwnTransaction: voidsOwnTransactionAt(route.gateway) });
      if ('fail' in resolved && (await refusalAfterUnnamedAttempts(op, resolved, ledger)) && (await this.failedAfterUnnamedAttempts(op, route, resolved)))
        return 'resolved';
    }
    if (op.state !== 'PENDING') {
      await ledger.appendInteraction(op.id, { event: 'poll_skipped', reason: `no status inquiry for ${op.command} on ${route.gateway.type}` });
      if (op.state === 'UNKNOWN') await this.keepDelivering(op, false);
      return this.advance(op);
    }
    // Its webhook may have come before its answer indexed its reference (a crash between that answer's move and
    // its release of what was parked): released now, it settles the operation through the outcome queue.
    await this.deps.recorder.releaseParked(op, 'poller');
    const now = this.now();
    const alertAt = op.createdAt + config.poller.webhookWaitAlertMs;
    // Only at the state and attempt count read: a webhook meanwhile (ACTION_REQUIRED, UNKNOWN) must not be put back to PENDING.
    const asRead = { onlyFrom: op.state, onlyAttempts: op.attempts };
    let moved: TransitionResult;
    if (op.pollStep === WEBHOOK_WAIT_ALERTED) {
      moved = await ledger.transition(op.id, 'PENDING', { event: 'awaiting_webhook' }, { nextCheckAt: now + config.poller.unresolvedIntervalMs, ...asRead });
    } else if (now < alertAt) {
      moved = await ledger.transition(op.id, 'PENDING', { event: 'awaiting_webhook', alert_at: alertAt }, { nextCheckAt: alertAt, ...asRead });
    } else {
      moved = await ledger.transition(
        op.id,
        'PENDING',
        { event: 'awaiting_webhook_alert', age_ms: now - op.createdAt },
        { nextCheckAt: now + config.poller.unresolvedIntervalMs, pollStep: WEBHOOK_WAIT_ALERTED, ...asRead },
      );
      if (moved.applied) alertAwaitingWebhook(logger, op, now - op.createdAt);
    }
    if (!moved.applied) this.movedMeanwhile(op, moved.from);
    return 'stillOpen';
  }

  /**
   * Fails `op` with `refused` (`refusalAfterUnnamedAttempts` holds): its attempts named its authorization by our id
   * before it was on record, and that authorization failed: nothing they sent named anything at the PSP, so the refusal
   * is told (a release before this one withheld it). Only from the state read; true once FAILED, counted and logged.
   */
  private async failedAfterUnnamedAttempts(op: OperationRecord, route: GatewayRoute, refused: ContextRefusal): Promise<boolean> {
    const failed = await this.deps.recorder.fail(op, refused.fail, 'bridge', { details: refused.detail, onlyFrom: op.state });
    if (failed.state !== 'FAILED') return false;
    reportRefusalAfterUnnamedAttempts(this.deps.logger, op, route.gateway.name, refused.fail, 'poller');
    return true;
  }

  /**
   * An operation whose inquiry would replay its request (`replayWithheldReason`): never asked. Past its idempotency
   * key's validity the replay could be performed twice; past `delivery.max_age_ms` (the bridge gave up sending it,
   * the OMS was told UNRESOLVED) it would perform, now, a request that never landed. UNKNOWN: its delivery job makes
   * it UNRESOLVED without asking. PENDING / UNRESOLVED: noted, and the schedule goes on; the PSP's webhook or
   * reconciliation settles it.
   */
  private async replayWithheld(op: OperationRecord, route: GatewayRoute, why: ReplayWithheldReason): Promise<'stillOpen' | 'unresolved'> {
    const { ledger, logger } = this.deps;
    replayInquiriesWithheld().inc({ gateway: route.gateway.name, by: 'poller', reason: why });
    const reason =
      why === 'max_age'
        ? 'inquiry would replay the request past delivery.max_age_ms (a request that never landed would be performed now)'
        : "inquiry would replay the request past its idempotency key's validity";
    await ledger.appendInteraction(op.id, { event: 'poll_skipped', reason });
    logger.info(
      'poll: status inquiry withheld; its webhook or reconciliation settles the operation where the gateway has them, else an operator (docs/RUNBOOK.md)',
      {
        operation_id: op.id,
        gateway: route.gateway.name,
        state: op.state,
        age_ms: this.now() - (why === 'max_age' ? op.receivedAt : op.createdAt),
        withheld: why,
        reason,
      },
    );
    if (op.state === 'UNKNOWN') await this.keepDelivering(op, true);
    return this.advance(op);
  }

  /**
   * An UNKNOWN operation is settled or resent by its delivery job: makes sure that job is live (counted and
   * logged when it had to be queued again). `now`: the PSP has no trace of it, so the resend should not wait
   * for the job's backoff.
   */
  private async keepDelivering(op: OperationRecord, now: boolean): Promise<void> {
    const queue = this.deps.deliveryQueue;
    if (!queue) return;
    const result = now ? await requeueDelivery(queue, op.id) : await ensureDelivery(queue, op.id);
    noteOperationRevival(this.deps.logger, op.id, 'UNKNOWN', result, 'poller');
  }

  /**
   * A poll that threw a fault of the bridge (a TypeError parsing the answer, a Redis error reply): the same
   * fault meets the next poll at once, so the operation takes the step a poll that found nothing takes, and
   * the schedule bounds the faults as it bounds the unanswered polls (one each step; no count of its own to
   * keep). Once it runs out, UNRESOLVED with cause `poll_fault`: never failed, the PSP may have it.
   */
  private async afterFault(op: OperationRecord, err: unknown): Promise<'stillOpen' | 'unresolved'> {
    const fault = { error_class: errorClassOf(err), error: err instanceof Error ? err.message : String(err) };
    // The delivery job sent it again meanwhile, with its own schedule: that schedule stands.
    if (op.state === 'UNKNOWN' && (await this.sentAgainMeanwhile(op))) return 'stillOpen';
    const result = await this.advance(op, fault.error_class);
    const after = result === 'unresolved' ? 'unresolved' : 'rescheduled';
    pollFaults.inc({ outcome: after });
    const log = { operation_id: op.id, command: op.command, state: op.state, ...fault };
    if (after === 'unresolved') {
      this.deps.logger.error('poll fault: the poll schedule ran out while polls kept faulting; the operation is left UNRESOLVED (cause poll_fault)', log);
    } else {
      this.deps.logger.error('poll fault (not a gateway answer, not an outage): the operation moves to its next check', log);
    }
    return result;
  }

  /**
   * A due operation that could not be polled nor moved along its schedule (its record does not decode, a
   * write refused): its index entry moves on by `poller.unresolved_interval_ms`, so it is not read again at
   * every pass. It alerts each time until it is repaired.
   */
  private async postpone(id: string, state: OperationState, err: unknown): Promise<void> {
    const { config, ledger, logger } = this.deps;
    const log = { operation_id: id, state, error_class: errorClassOf(err), error: err instanceof Error ? err.message : String(err) };
    try {
      await ledger.rescoreInState(state, [id], this.now() + config.poller.unresolvedIntervalMs);
    } catch (rescoreErr) {
      logger.warn('poll of an operation failed, and it could not be postponed', { ...log, rescore_error_class: errorClassOf(rescoreErr) });
      return;
    }
    pollFaults.inc({ outcome: 'postponed' });
    logger.error('poll fault: the operation could not be polled nor moved along its schedule; asked again after poller.unresolved_interval_ms', log);
  }

  /**
   * Moves the operation to its next check; past the last step of the schedule, to UNRESOLVED.
   * @param faultClass the error class of the fault this poll met, if it met one (its history and cause say so).
   */
  private async advance(op: OperationRecord, faultClass?: string): Promise<'stillOpen' | 'unresolved'> {
    const { config, ledger, recorder } = this.deps;
    const fault = faultClass === undefined ? {} : { error_class: faultClass };
    const event = faultClass === undefined ? 'poll' : POLL_FAULT;
    // Every move here is from the state and attempt count read before the inquiry, which may have taken the gateway's
    // timeout: an operation moved meanwhile (its delivery job found no trace and is sending it again: SENT; a webhook)
    // is left to whoever moved it. Moved from SENT, it would be back to UNKNOWN with nobody sending it, or UNRESOLVED,
    // never sent again, though the PSP never had it. Sent again and back to UNKNOWN (same state, one more attempt, its
    // own schedule from step 0), a step from the old record would spend the resend's schedule on the old attempt's.
    const onlyFrom = op.state;
    const onlyAttempts = op.attempts;
    if (op.state === 'UNRESOLVED') {
      const moved = await ledger.transition(
        op.id,
        'UNRESOLVED',
        { event, ...fault },
        { nextCheckAt: this.now() + config.poller.unresolvedIntervalMs, onlyFrom, onlyAttempts },
      );
      if (!moved.applied) this.movedMeanwhile(op, moved.from);
      return 'stillOpen';
    }
    const schedule = config.poller.scheduleMs;
    const step = (op.pollStep ?? 0) + 1;
    if (step >= schedule.length) {
      const after = await recorder.unresolve(
        op,
        faultClass === undefined ? 'poll schedule ran out' : POLL_FAULT,
        'poller',
        { poll_steps: step, ...fault },
        undefined,
        {
          onlyFrom,
        },
      );
      if (after.state === 'UNRESOLVED') return 'unresolved';
      this.movedMeanwhile(op, after.state);
      return 'stillOpen';
    }
    const moved = await ledger.transition(
      op.id,
      op.state,
      { event, step, ...fault },
      { nextCheckAt: this.now() + schedule[step], pollStep: step, onlyFrom, onlyAttempts },
    );
    if (!moved.applied) this.movedMeanwhile(op, moved.from);
    return 'stillOpen';
  }

  /**
   * A poll whose step did not apply: the operation left the state or the attempt count the poll read (the same state:
   * sent again meanwhile), counted with the superseded polls and logged.
   */
  private movedMeanwhile(op: OperationRecord, now: OperationState | null): void {
    pollsSuperseded.inc();
    this.deps.logger.info('poll: the operation moved on during the poll; its schedule is left to whoever moved it', {
      operation_id: op.id,
      state_read: op.state,
      attempts_read: op.attempts,
      state: now ?? 'missing',
    });
  }
}

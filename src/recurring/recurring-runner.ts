import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { PaymentEvent, eventAnchor, failDecline } from '../events/payment-event';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { PeriodicItems } from '../periodic/periodic-items';
import { bullJobId } from '../queueing/job-id';
import { isSoftDecline } from './dunning';
import { Schedule, cycleCommand, cycleDueAt, cycleDueNow, cycleOperationId, earlierCycleOperationId, isCycleOf } from './recurring-schedule';
import { RecurringStore } from './recurring-store';
import { cycleNetworkId, noteCycleNetworkId } from './first-payment-network-id';
import { withoutMethodToken } from '../contracts/payment-method';
import { recurringCyclesSkippedEvent } from './recurring-skip-notice';

/** The reason of the final failure event of a cycle whose retries ran out. */
export const RETRIES_EXHAUSTED = 'RECURRING_RETRIES_EXHAUSTED';

/** What one pass of the schedule runner did. */
export interface RecurringReport {
  due: number;
  started: number;
  succeeded: number;
  retried: number;
  failed: number;
  waiting: number;
  /** Steps dropped because the schedule was cancelled (no longer active) after the pass read it: nothing written. */
  stopped: number;
  /** Steps dropped because another runner stepped the schedule after this pass read it: nothing written. */
  superseded: number;
  /** Schedules whose whole term had passed at a start (the last cycle's period over): completed, nothing charged. */
  lapsed: number;
  /**
   * Skip notices (`recurring_cycles_skipped`) a crash or an outage left unrecorded after their skip, recorded by this
   * pass (a skip's notice recorded by the pass that made it is counted with the `started` or `lapsed` step).
   */
  noticesCaughtUp: number;
  /** Ended schedules deleted past `recurring.ended_retention_days`. */
  expired: number;
  errors: number;
}

type StepOutcome = 'started' | 'succeeded' | 'retried' | 'failed' | 'waiting' | 'stopped' | 'superseded' | 'lapsed';

const cycles = counter(
  'pb_recurring_cycles_total',
  'Recurring billing: charges started, cycles succeeded, retries scheduled after a soft decline, cycles failed for good, steps dropped as their schedule was cancelled meanwhile (stopped) or stepped by another runner meanwhile (superseded), schedules whose whole term had passed at a start, completed without a charge (lapsed)',
  ['gateway', 'outcome'],
);

const expiredSchedules = counter(
  'pb_recurring_schedules_expired_total',
  'Recurring billing: ended schedules (cancelled, completed, failed) deleted past recurring.ended_retention_days, with their order index entries',
);

const skippedCycles = counter(
  'pb_recurring_cycles_skipped_total',
  'Recurring billing: cycles missed (due before the cycle due at a start: a start_at in the past, a runner down) and skipped, never charged',
  ['gateway'],
);

const skipNotices = counter(
  'pb_recurring_skip_notices_total',
  'Recurring billing: skips the OMS was told of (recurring_cycles_skipped, one event per skip), by step: recorded by the pass that made the skip (skip), or by a later pass that found it unrecorded after a crash or an outage (catch_up)',
  ['gateway', 'step'],
);

/** How long a charge in flight waits before the runner looks at it again, ms (the ledger settles it meanwhile). */
const CHECK_AGAIN_MS = 30_000;

/**
 * The schedule runner (poller role): one pass over the active schedules whose next look is due.
 *
 * - A cycle due to start (a first attempt) is the latest cycle already due: the cycles missed before it (a
 *   `start_at` in the past, a runner down) are skipped, never charged, recorded on the schedule
 *   (`skippedCycles`, `lastSkip`), counted (`pb_recurring_cycles_skipped_total`) and logged (warn), so a pass
 *   charges a schedule at most once. A schedule whose whole term has passed (its last cycle's period, up to when a
 *   cycle after it would be due, is over) is charged nothing: completed with every cycle left skipped (`lapsed`).
 *   The OMS is told of each skip (`service_bus.method.recurring_cycles_skipped`, `recurring-skip-notice.ts`): the skip
 *   is written with its notice pending, the notice recorded in the outbox after, then marked sent. A crash or an
 *   outage between leaves it pending: the next pass on the schedule records it before anything else (a lapsed or
 *   cancelled schedule stays due for it). The outbox and the schedules live in different Redis Cluster slots, so the
 *   two cannot be one script; the event id (`<schedule>.skipped.<first>-<last>`) makes a second recording a no-op.
 *   Its operation (`<schedule>.c<n>`, retries `<schedule>.c<n>.r<k>`) is written to
 *   the ledger, idempotently by that id, and handed to delivery (jobId = operation id) as any command,
 *   with the merchant-initiated flags (`payment.recurring`, see docs/PAYMENT-METHODS.md) and the first payment's
 *   network transaction id (the schedule's, else the one recorded for its order's first payment:
 *   `first-payment-network-id.ts`). Whatever happens
 *   between these steps, a rerun finds the same operation: a cycle is charged at most once per attempt.
 *   Its own events (`…sold`/`…authorized`, SUCCESS or FAIL) reach the OMS as any operation's.
 * - A charge in flight is looked at again: SUCCEEDED moves the schedule to the next cycle (or completes
 *   it after `max_cycles`); FAILED with a soft decline (`dunning.ts`) schedules the next retry after
 *   `recurring.retry_schedule_ms[k]`; a hard decline, or a soft one after the last retry, fails the
 *   schedule and sends the final failure event (`service_bus.method.recurring_failed`); anything still
 *   open is looked at again later.
 * - Ended schedules (cancelled, completed, failed with the final event recorded) are deleted
 *   `recurring.ended_retention_days` after they ended, with their order index entries; active ones never.
 * - Every write of the runner goes through `RecurringStore.updateActive`: a schedule cancelled after the pass
 *   read it stays cancelled (the step is dropped, `stopped`), one another runner stepped meanwhile keeps that
 *   runner's step (`superseded`), and a cycle's charge is claimed (phase `charging`) before its operation is
 *   written, so no charge starts after a cancel that was answered, nor beside another runner's claim.
 */
export class RecurringRunner {
  private readonly items: PeriodicItems;

  constructor(
    private readonly deps: {
      config: Config;
      store: RecurringStore;
      ledger: Ledger;
      recorder: OutcomeRecorder;
      deliveryQueue: Queue<DeliveryJobData>;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.items = new PeriodicItems('recurring', 'schedule_id', deps.logger, () => this.now());
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /**
   * One pass over the due schedules (`recurring.run_limit`, oldest first). A schedule whose step faults is
   * put back after a backoff (`PeriodicItems`); a due entry whose schedule is gone or no longer active is
   * taken off the due index. A dependency outage ends the pass (thrown).
   */
  async runOnce(): Promise<RecurringReport> {
    const { store, config } = this.deps;
    const ids = await store.dueIds(this.now(), config.recurring.runLimit);
    const report: RecurringReport = {
      due: ids.length,
      started: 0,
      succeeded: 0,
      retried: 0,
      failed: 0,
      waiting: 0,
      stopped: 0,
      superseded: 0,
      lapsed: 0,
      noticesCaughtUp: 0,
      expired: 0,
      errors: 0,
    };
    report.errors = await this.items.each(
      ids,
      (id) => id,
      async (id) => {
        let schedule = await store.get(id);
        // A skip whose notice an earlier pass wrote but did not record (a crash, an outage): recorded before any step.
        if (schedule?.lastSkip?.notice === 'pending') {
          await this.noticeSkip(schedule, 'catch_up');
          report.noticesCaughtUp += 1;
          if (schedule.state === 'completed' || schedule.state === 'cancelled') {
            // Kept due only for its notice (a lapse, a cancel meanwhile): nothing else to do for it.
            await store.dropDue(id, this.now());
            return;
          }
          schedule = await store.get(id);
        }
        // A cycle failed for good whose final failure event a crash or an outage left unrecorded (see `declined`).
        const failedCycle = schedule?.state === 'failed' ? await this.failedCycle(schedule) : null;
        if (schedule && failedCycle) {
          report[await this.failedForGood(schedule, failedCycle)] += 1;
          return;
        }
        if (!schedule || schedule.state !== 'active') {
          // Saving a schedule that is not active takes it off the index: this entry was left behind, and would stay due for ever.
          await store.dropDue(id, this.now());
          this.items.dropped(id, 'recurring due', schedule ? `schedule_${schedule.state}` : 'record_gone');
          return;
        }
        // Another pass may have moved it on since the due list was read (a cycle paid: the next one is not due yet).
        if (schedule.nextAt > this.now()) return;
        report[await this.step(schedule)] += 1;
      },
      (id, at) => store.postpone(id, at),
    );
    report.expired = await this.expireEnded();
    return report;
  }

  /**
   * Retention: the schedules that ended more than `recurring.ended_retention_days` ago are deleted (at most
   * `recurring.run_limit` a pass), with their entries in the list of schedules and in their order's index. First a
   * page of the walk that indexes the schedules an earlier release ended (`RecurringStore.indexEndedPage`).
   */
  private async expireEnded(): Promise<number> {
    const { store, config, logger } = this.deps;
    const walk = await store.indexEndedPage(this.now());
    if (walk.indexed > 0 || walk.gone > 0) {
      logger.info('recurring schedules ended by an earlier release put in the ended index (retention from now)', { ...walk });
    }
    const cutoff = this.now() - config.recurring.endedRetentionDays * 86_400_000;
    const expired = await store.expireEnded(cutoff, config.recurring.runLimit, this.now());
    if (expired > 0) {
      expiredSchedules.inc(expired);
      logger.info('recurring schedules ended past their retention deleted', {
        expired,
        ended_before: new Date(cutoff).toISOString(),
        retention_days: config.recurring.endedRetentionDays,
      });
    }
    return expired;
  }

  private async step(schedule: Schedule): Promise<StepOutcome> {
    if (schedule.phase === 'due') return this.start(schedule);
    const found = schedule.operation ? await this.deps.ledger.get(schedule.operation) : null;
    // Under a name a channel could also send (cycles named before `cycleOperationId`'s `_`), another command's.
    const op = found && isCycleOf(found, schedule.definition.id) ? found : null;
    // The operation was never written (a crash before it), or is not this cycle's: start the attempt, under its own id.
    if (!op) return this.start(schedule);
    switch (op.state) {
      case 'SUCCEEDED':
        return this.succeeded(schedule);
      case 'FAILED':
        return this.declined(schedule, op);
      case 'RECEIVED':
      case 'SENT':
      case 'PENDING':
      case 'ACTION_REQUIRED':
      case 'UNKNOWN':
      case 'UNRESOLVED':
        return (await this.write(schedule, { ...schedule, nextAt: this.now() + CHECK_AGAIN_MS }, 'check_again')) ?? 'waiting';
      default: {
        const never: never = op.state;
        throw new Error(`unmapped state ${String(never)}`);
      }
    }
  }

  /**
   * The operation id of the schedule's current attempt: `cycleOperationId`, or the earlier name when the bridge
   * already made that attempt under it (a crash before the schedule was saved, then an upgrade): never a
   * second charge for one attempt.
   */
  private async attemptId(schedule: Schedule): Promise<string> {
    const d = schedule.definition;
    const earlier = await this.deps.ledger.get(earlierCycleOperationId(d.id, schedule.cycle, schedule.attempt));
    return earlier && isCycleOf(earlier, d.id) ? earlier.id : cycleOperationId(d.id, schedule.cycle, schedule.attempt);
  }

  /**
   * Writes `next` unless the schedule stopped being active since `schedule` was read (a cancel), or another runner
   * stepped it since (its cycle, attempt, phase or operation changed): then nothing is written, the step is dropped
   * with a log line and `pb_recurring_cycles_total{outcome="stopped"|"superseded"}`, and that outcome is returned;
   * undefined when written.
   */
  private async write(schedule: Schedule, next: Schedule, step: string, stayDue = false): Promise<'stopped' | 'superseded' | undefined> {
    const result = await this.deps.store.updateFrom(schedule, next, stayDue, this.now());
    if (result === 'written') return undefined;
    const d = schedule.definition;
    const outcome = result === 'moved' ? 'superseded' : 'stopped';
    cycles.inc({ gateway: d.gateway, outcome });
    this.deps.logger.info(
      result === 'moved'
        ? 'recurring schedule stepped by another runner meanwhile; step dropped'
        : 'recurring schedule no longer active (cancelled meanwhile); step dropped',
      {
        schedule_id: d.id,
        cycle: schedule.cycle,
        attempt: schedule.attempt,
        step,
        operation_id: schedule.operation,
      },
    );
    return outcome;
  }

  private async start(read: Schedule): Promise<'started' | 'stopped' | 'superseded' | 'lapsed'> {
    const { ledger, deliveryQueue, logger } = this.deps;
    const now = this.now();
    const d = read.definition;
    // A first attempt charges the cycle due now; the cycles missed before it are skipped, never charged back to back.
    // A retry (attempt > 0) is dunning's, at the time dunning chose: its cycle is not missed. A claim standing without
    // its operation (phase `charging`: a runner crashed or stalled after it) is restarted as claimed: the runner that
    // claimed it may still write that operation, so skipping it for a later cycle could charge both.
    const due = read.attempt === 0 && read.phase === 'due' ? cycleDueNow(d, read.cycle, now) : read.cycle;
    // The last cycle due, its service period over too: the schedule's whole term has passed, nothing is charged for it.
    if (read.attempt === 0 && read.phase === 'due' && due === d.max_cycles && cycleDueAt(d, due + 1) <= now) return this.lapsed(read, due, now);
    const skipped = due - read.cycle;
    const schedule: Schedule =
      skipped > 0
        ? {
            ...read,
            cycle: due,
            skippedCycles: (read.skippedCycles ?? 0) + skipped,
            lastSkip: { from: read.cycle, through: due - 1, at: now, notice: 'pending' },
          }
        : read;
    const id = await this.attemptId(schedule);
    // The charge is claimed before its operation exists: a cancel after this finds it out (and it settles), a
    // cancel before it stops it here. A crash after the claim finds the operation missing and starts it again; one
    // after the write, before the job, leaves it RECEIVED, which the recovery sweep queues (as an acked command's).
    // The claim is written only over the copy read: another runner that claimed meanwhile (whatever its clock made
    // of the cycle due) keeps its claim, and this one charges nothing.
    const dropped = await this.write(read, { ...schedule, phase: 'charging', operation: id, nextAt: now + CHECK_AGAIN_MS }, 'start');
    if (dropped) return dropped;
    if (skipped > 0) {
      this.logSkipped('recurring cycles missed; skipped, not charged (only the cycle due now is)', d, read.cycle, due - 1, { cycle: due });
      // Before the charge: the OMS hears of the cycles skipped, then of the one charged, in its order's sequence.
      await this.noticeSkip(schedule, 'skip');
    }
    // The first payment's network transaction id: the schedule's, else the one its earlier charge carried (this cycle's
    // first attempt, else the last cycle charged before this start: the one before those skipped), else the one
    // recorded for its order's first payment.
    const [cycle, attempt] = schedule.attempt > 0 ? [schedule.cycle, 0] : [read.cycle - 1, 0];
    const earlier = cycle >= 1 ? [cycleOperationId(d.id, cycle, attempt), earlierCycleOperationId(d.id, cycle, attempt)] : [];
    const networkId = await cycleNetworkId(d, ledger, earlier);
    const { created } = await ledger.create(id, cycleCommand(d, schedule.cycle, schedule.attempt, now, networkId.id), now);
    await deliveryQueue.add('deliver', { operationId: id }, { jobId: bullJobId(id) });
    if (created) {
      cycles.inc({ gateway: d.gateway, outcome: 'started' });
      noteCycleNetworkId(d.gateway, networkId.source);
      // Where the id came from, never the id (a Visa one may read as a card number).
      logger.info('recurring cycle charge started', {
        schedule_id: d.id,
        cycle: schedule.cycle,
        attempt: schedule.attempt,
        operation_id: id,
        gateway: d.gateway,
        network_transaction_id_from: networkId.source,
      });
    }
    return 'started';
  }

  /**
   * A schedule whose whole term has passed at a start (cycles `read.cycle` to `last`, its `max_cycles`, all due, the
   * last one's period over): completed over the copy read, every cycle left skipped, recorded, counted and logged; no charge.
   * It stays due until its notice is recorded (then leaves the due index): a crash in between leaves it to the next pass.
   */
  private async lapsed(read: Schedule, last: number, now: number): Promise<'lapsed' | 'stopped' | 'superseded'> {
    const d = read.definition;
    const next: Schedule = {
      ...read,
      state: 'completed',
      cycle: last,
      nextAt: now,
      lastReason: undefined,
      skippedCycles: (read.skippedCycles ?? 0) + last - read.cycle + 1,
      lastSkip: { from: read.cycle, through: last, at: now, notice: 'pending' },
    };
    const dropped = await this.write(read, next, 'lapse', true);
    if (dropped) return dropped;
    cycles.inc({ gateway: d.gateway, outcome: 'lapsed' });
    this.logSkipped('recurring schedule term passed; its cycles skipped, not charged; completed', d, read.cycle, last, { completed: true });
    await this.noticeSkip(next, 'skip');
    await this.deps.store.dropDue(d.id, this.now());
    return 'lapsed';
  }

  /**
   * Records the notice of `schedule`'s last skip in the outbox (`recurring_cycles_skipped`; idempotent by its event id)
   * and marks it sent on the schedule; counted and logged. `step`: `skip` (the pass that made it), `catch_up` (a later
   * pass found it pending).
   */
  private async noticeSkip(schedule: Schedule, step: 'skip' | 'catch_up'): Promise<void> {
    const { config, recorder, store, logger } = this.deps;
    const d = schedule.definition;
    const skip = schedule.lastSkip;
    if (!skip) return;
    const event = recurringCyclesSkippedEvent(schedule, config);
    if (!event) {
      // An erased definition no longer says whose payment it was: marked, never due for ever for a notice it cannot build.
      await store.markSkipNoticed(d.id, skip.from, skip.through);
      logger.warn('recurring skipped cycles: no notice sent, the schedule definition was erased', {
        schedule_id: d.id,
        from_cycle: skip.from,
        through_cycle: skip.through,
      });
      return;
    }
    await recorder.emit(event);
    await store.markSkipNoticed(d.id, skip.from, skip.through);
    skipNotices.inc({ gateway: d.gateway, step });
    const fields = { schedule_id: d.id, event_id: event.eventId, from_cycle: skip.from, through_cycle: skip.through, gateway: d.gateway, step };
    if (step === 'skip') logger.info('recurring skipped cycles: the OMS is told (recurring_cycles_skipped)', fields);
    else logger.warn('recurring skipped cycles: notice an earlier pass left unrecorded (a crash or an outage) recorded now', fields);
  }

  /** Counts and logs (warn) cycles `from` to `through` of `d`, skipped: never charged. */
  private logSkipped(message: string, d: Schedule['definition'], from: number, through: number, extra: Record<string, unknown>): void {
    skippedCycles.inc({ gateway: d.gateway }, through - from + 1);
    this.deps.logger.warn(message, {
      schedule_id: d.id,
      skipped: through - from + 1,
      from_cycle: from,
      through_cycle: through,
      from_due_at: new Date(cycleDueAt(d, from)).toISOString(),
      through_due_at: new Date(cycleDueAt(d, through)).toISOString(),
      ...extra,
      gateway: d.gateway,
    });
  }

  private async succeeded(schedule: Schedule): Promise<'succeeded' | 'stopped' | 'superseded'> {
    const d = schedule.definition;
    const next = schedule.cycle + 1;
    const done = d.max_cycles !== undefined && next > d.max_cycles;
    const dropped = await this.write(
      schedule,
      {
        ...schedule,
        state: done ? 'completed' : 'active',
        cycle: done ? schedule.cycle : next,
        attempt: 0,
        phase: 'due',
        nextAt: done ? this.now() : Math.max(cycleDueAt(d, next), this.now()),
        lastReason: undefined,
      },
      'paid',
    );
    if (dropped) return dropped;
    cycles.inc({ gateway: d.gateway, outcome: 'succeeded' });
    this.deps.logger.info('recurring cycle paid', {
      schedule_id: d.id,
      cycle: schedule.cycle,
      attempts: schedule.attempt + 1,
      operation_id: schedule.operation,
      completed: done,
    });
    return 'succeeded';
  }

  private async declined(schedule: Schedule, op: OperationRecord): Promise<'retried' | 'failed' | 'stopped' | 'superseded'> {
    const { config, logger } = this.deps;
    const d = schedule.definition;
    const decline = failDecline(op, config);
    const retries = config.recurring.retryScheduleMs;
    if (isSoftDecline(decline.category) && schedule.attempt < retries.length) {
      const wait = retries[schedule.attempt];
      const next: Schedule = {
        ...schedule,
        attempt: schedule.attempt + 1,
        phase: 'due',
        nextAt: this.now() + wait,
        lastReason: op.reason ?? decline.gateway_code,
      };
      const dropped = await this.write(schedule, next, 'retry');
      if (dropped) return dropped;
      cycles.inc({ gateway: d.gateway, outcome: 'retry_scheduled' });
      logger.warn('recurring charge softly declined; retry scheduled', {
        schedule_id: d.id,
        cycle: schedule.cycle,
        attempt: schedule.attempt,
        operation_id: op.id,
        category: decline.category,
        retry_in_ms: wait,
      });
      return 'retried';
    }
    // The schedule is failed first, only while it is still active, and stays due until its final failure event is
    // recorded: a cancel before this stands and the OMS, told cancelled, is never told the schedule failed; a cancel
    // after it finds the schedule failed (cancelled: false), as the event says. A crash or an outage before the event
    // is recorded leaves it due: the next pass records it (`failedForGood`; its id is the cycle's, recorded once).
    const failed: Schedule = { ...schedule, state: 'failed', lastReason: op.reason ?? decline.gateway_code };
    const dropped = await this.write(schedule, failed, 'fail', true);
    if (dropped) return dropped;
    return this.failedForGood(failed, op);
  }

  /** The failed operation a failed schedule's cycle ended with, if the ledger still holds it. */
  private async failedCycle(schedule: Schedule): Promise<OperationRecord | null> {
    const found = schedule.operation ? await this.deps.ledger.get(schedule.operation) : null;
    return found && isCycleOf(found, schedule.definition.id) && found.state === 'FAILED' ? found : null;
  }

  /**
   * A schedule failed by `declined`, still in the due index: its final failure event recorded (the cycle's id: once,
   * whatever reruns), then the schedule leaves the due index.
   */
  private async failedForGood(schedule: Schedule, op: OperationRecord): Promise<'failed'> {
    const { config, recorder, store, logger } = this.deps;
    const d = schedule.definition;
    const decline = failDecline(op, config);
    await recorder.emit(recurringFailedEvent(schedule, op, config, isSoftDecline(decline.category) ? RETRIES_EXHAUSTED : (op.reason ?? decline.gateway_code)));
    await store.dropDue(d.id, this.now());
    cycles.inc({ gateway: d.gateway, outcome: 'failed' });
    logger.warn('recurring cycle failed for good; the OMS is told (recurring_failed)', {
      schedule_id: d.id,
      cycle: schedule.cycle,
      attempts: schedule.attempt + 1,
      operation_id: op.id,
      category: decline.category,
    });
    return 'failed';
  }
}

/**
 * The final failure of a cycle (`service_bus.method.recurring_failed`): the schedule, the cycle, how many
 * attempts were made, and the last attempt's payment with its decline. Event id `<schedule>.c<n>.failed`:
 * once per cycle, whatever reruns.
 */
export function recurringFailedEvent(schedule: Schedule, last: OperationRecord, config: Config, reason: string): PaymentEvent {
  const d = schedule.definition;
  // Named as before the cycles' `_`: a failure event already recorded is found again, never sent twice.
  const eventId = `${earlierCycleOperationId(d.id, schedule.cycle, 0)}.failed`;
  return {
    eventId,
    ...eventAnchor(last.payment),
    method: config.serviceBus.methods.notifications.recurring_failed,
    params: {
      schedule: {
        id: d.id,
        cycle: schedule.cycle,
        attempts: schedule.attempt + 1,
        model: d.model ?? 'subscription',
        state: 'failed',
      },
      payment: {
        ...withoutMethodToken(last.payment),
        operation_reference: last.id,
        status: 'FAIL',
        reason,
        last_reason: last.reason ?? null,
        decline: failDecline(last, config),
        gateway_command: last.command,
        gateway_response: { status: last.gatewayStatus ?? null, reference: last.gatewayReference ?? null },
        event_id: eventId,
      },
    },
  };
}

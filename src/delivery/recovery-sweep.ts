import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { EventStore } from '../events/event-store';
import { OmsEventJobData } from '../events/oms-events-queue';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { DeliveryJobData } from './delivery-queue';
import { ensureJob } from '../queueing/ensure-job';
import { bullJobId } from '../queueing/job-id';
import { ensureDelivery } from './requeue-delivery';
import { noteEventRevival, noteOperationRevival } from './revived-jobs';

/** What one sweep queued. */
export interface SweepReport {
  operations: number;
  events: number;
  /** Operations decided but whose event was never recorded (a crash in between), now recorded. */
  settled: number;
}

/** Margin added to the longest call timeout before an untouched operation or event counts as orphaned, ms. */
const STALE_MARGIN_MS = 5000;

/**
 * How long an operation may sit in RECEIVED/SENT (or an event unsent) before the sweep takes it over, ms:
 * longer than any call the fast path can legitimately be waiting on (the slowest gateway's `timeout_ms`,
 * the bus `service_bus.timeout_ms`), plus a margin, so a live worker's work is not taken from it.
 */
export function staleAfterMs(config: Config): number {
  const gatewayTimeouts = Object.values(config.gateways).map((g) => g.timeoutMs);
  return Math.max(config.serviceBus.timeoutMs, ...gatewayTimeouts) + STALE_MARGIN_MS;
}

/**
 * The safety net under the fast path. The consumer acks a command once its operation is in the
 * ledger, whose RECEIVED/SENT index is durable; events enter the outbox's unsent index when recorded. If
 * the process that took them dies before finishing, this sweep finds them (untouched for `staleMs`) and
 * queues them on `gateway-delivery` / `oms-events` (jobId = their id, so a job already queued is not
 * duplicated; a finished job that holds the id, e.g. one completed by a second handler while the first,
 * whose lock lapsed, still moved the operation, is replaced: `ensureJob`). Each one queued is counted
 * (`pb_operations_revived_total`, `pb_events_revived_total`) and logged: its job was lost. It then moves their index score to now, so the next passes leave them to the queue for
 * another `staleMs` instead of re-adding them every time.
 */
export async function sweepOnce(
  deps: {
    ledger: Ledger;
    events: EventStore;
    deliveryQueue: Queue<DeliveryJobData>;
    eventsQueue: Queue<OmsEventJobData>;
    /** Records and queues the event of an operation's current state (OutcomeRecorder.settle). */
    settle?: (id: string) => Promise<unknown>;
    /** Where the warn line of each revived job goes. */
    logger?: Logger;
  },
  staleMs: number,
  now = Date.now(),
  /** Most ids taken per state per pass. */
  limit = 1000,
): Promise<SweepReport> {
  const { ledger, events, deliveryQueue, eventsQueue } = deps;
  const cutoff = now - staleMs;
  const report: SweepReport = { operations: 0, events: 0, settled: 0 };
  for (const state of ['RECEIVED', 'SENT'] as const) {
    const ids = await ledger.idsInState(state, cutoff, limit);
    if (ids.length === 0) continue;
    await Promise.all(ids.map(async (id) => noteOperationRevival(deps.logger, id, state, await ensureDelivery(deliveryQueue, id), 'sweep')));
    await ledger.rescoreInState(state, ids, now);
    report.operations += ids.length;
  }
  if (deps.settle) {
    // Decided in the ledger, event never recorded: the worker died (or Redis dropped) in between.
    for (const id of await ledger.settlingBefore(cutoff, limit)) {
      await deps.settle(id);
      report.settled += 1;
    }
  }
  const eventIds = await events.unsentBefore(cutoff, limit);
  if (eventIds.length > 0) {
    await Promise.all(eventIds.map(async (id) => noteEventRevival(deps.logger, id, await ensureJob(eventsQueue, 'notify', { eventId: id }, bullJobId(id)))));
    await events.rescoreUnsent(eventIds, now);
    report.events = eventIds.length;
  }
  return report;
}

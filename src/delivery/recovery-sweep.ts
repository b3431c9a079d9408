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
import { LeaseHolder } from '../leases/lease-holder';

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
    /**
     * With it, each pass also looks at events unsent for `minAgeMs` but not yet stale (up to
     * DEAD_HOLDER_LIMIT of them) and queues those whose send lease names a dead holder (a killed worker
     * that was sending them): the job takes the lease over (`EventStore.claim`) within a second or two of
     * the kill instead of `staleMs`. `minAgeMs`: the holder heartbeat's TTL (no holder can be found dead
     * sooner).
     */
    deadHolders?: { holder: LeaseHolder; minAgeMs: number };
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
  if (deps.deadHolders) report.events += await reviveEventsOfDeadHolders(deps, deps.deadHolders, cutoff, now);
  return report;
}

/** Most young unsent events one pass checks for a dead lease holder (a GET each; a bus outage leaves many unsent). */
const DEAD_HOLDER_LIMIT = 100;

/**
 * Events unsent for at least `minAgeMs`, not yet stale, whose send lease names a holder that is dead: each
 * gets its send job back (its own may be gone with the process that sent it inline). Events whose lease is
 * free or held by a live holder are left alone (the live holder, or the queue's backoff, has them).
 */
async function reviveEventsOfDeadHolders(
  deps: Parameters<typeof sweepOnce>[0],
  { holder, minAgeMs }: { holder: LeaseHolder; minAgeMs: number },
  cutoff: number,
  now: number,
): Promise<number> {
  const ids = await deps.events.unsentBetween(cutoff, now - minAgeMs, DEAD_HOLDER_LIMIT);
  if (ids.length === 0) return 0;
  const alive = new Map<string, Promise<boolean>>();
  const deadHolder = async (id: string): Promise<boolean> => {
    const h = await deps.events.leaseHolderOf(id);
    if (h === null) return false;
    let live = alive.get(h);
    if (!live) alive.set(h, (live = holder.isAlive(h)));
    return !(await live);
  };
  const revived = await Promise.all(
    ids.map(async (id) => {
      if (!(await deadHolder(id))) return 0;
      const result = await ensureJob(deps.eventsQueue, 'notify', { eventId: id }, bullJobId(id));
      noteEventRevival(deps.logger, id, result);
      return result.action === 'revived' ? 1 : 0;
    }),
  );
  return revived.reduce<number>((a, b) => a + b, 0);
}

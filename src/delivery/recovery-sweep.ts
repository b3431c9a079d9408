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
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { counter } from '../metrics/metrics-registry';

const sweepFaults = counter(
  'pb_recovery_sweep_faults_total',
  'Items the recovery sweep could not take over because of a fault of the item itself (not a dependency outage), by stage (settle, revive_operation, revive_event) and what was done: dropped (its record is gone) or postponed (tried again after the stale time)',
  ['stage', 'outcome'],
);

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
 *
 * An operation or event whose job the sweep cannot queue again because of a fault of that job's own key (a
 * Redis error reply: a key of another type) is counted and logged on its own and rescored with the others,
 * so it is tried again after the stale time; a job record that does not decode is replaced (`ensureJob`).
 *
 * A settling mark whose settle throws a fault of the operation itself is set aside on its own (an error line,
 * `pb_recovery_sweep_faults_total{stage="settle"}`), never holding up the marks and events behind it. A
 * dependency outage while settling ends that stage; the event stages still run, then the pass throws it.
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
    await reviveEach(deps.logger, 'revive_operation', ids, async (id) =>
      noteOperationRevival(deps.logger, id, state, await ensureDelivery(deliveryQueue, id), 'sweep'),
    );
    await ledger.rescoreInState(state, ids, now);
    report.operations += ids.length;
  }
  // An outage met while settling ends that stage; the event stages below still run, then the pass fails with it.
  let settleOutage: { err: unknown } | null = null;
  if (deps.settle) {
    try {
      report.settled = await settleStaleMarks(deps, deps.settle, cutoff, now, limit);
    } catch (err) {
      settleOutage = { err };
    }
  }
  const eventIds = await events.unsentBefore(cutoff, limit);
  if (eventIds.length > 0) {
    await reviveEach(deps.logger, 'revive_event', eventIds, async (id) =>
      noteEventRevival(deps.logger, id, await ensureJob(eventsQueue, 'notify', { eventId: id }, bullJobId(id))),
    );
    await events.rescoreUnsent(eventIds, now);
    report.events = eventIds.length;
  }
  if (deps.deadHolders) report.events += await reviveEventsOfDeadHolders(deps, deps.deadHolders, cutoff, now);
  if (settleOutage) throw settleOutage.err;
  return report;
}

/**
 * Queues each of `ids` again with `revive`, each on its own: one that throws a fault of its own (not a
 * dependency outage) is counted (`pb_recovery_sweep_faults_total{stage, outcome="postponed"}`) and logged,
 * and never fails the others. Throws the first dependency outage, once every id has been tried.
 */
async function reviveEach(
  logger: Logger | undefined,
  stage: 'revive_operation' | 'revive_event',
  ids: string[],
  revive: (id: string) => Promise<void>,
): Promise<void> {
  const results = await Promise.allSettled(ids.map(revive));
  let outage: { err: unknown } | null = null;
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') return;
    if (isDependencyOutage(result.reason)) {
      outage ??= { err: result.reason };
      return;
    }
    sweepFaults.inc({ stage, outcome: 'postponed' });
    const what = stage === 'revive_operation' ? { operation_id: ids[i] } : { event_id: ids[i] };
    logger?.error("recovery sweep could not queue its job again (a fault of the job's key, not an outage); tried again after the stale time", {
      ...what,
      error_class: errorClassOf(result.reason),
      error: result.reason instanceof Error ? result.reason.message : String(result.reason),
    });
  });
  if (outage) throw (outage as { err: unknown }).err;
}

/**
 * Settles the operations decided in the ledger whose event was never recorded (the worker died, or Redis
 * dropped, in between), oldest mark first; how many it settled. One that faults is set aside on its own
 * (see {@link setSettlingAside}) so that it never holds up the marks behind it. Throws a dependency outage.
 */
async function settleStaleMarks(
  deps: Parameters<typeof sweepOnce>[0],
  settle: (id: string) => Promise<unknown>,
  cutoff: number,
  now: number,
  limit: number,
): Promise<number> {
  let settled = 0;
  for (const id of await deps.ledger.settlingBefore(cutoff, limit)) {
    try {
      await settle(id);
      settled += 1;
    } catch (err) {
      if (isDependencyOutage(err)) throw err;
      await setSettlingAside(deps, id, err, now);
    }
  }
  return settled;
}

/**
 * A settling mark whose settle threw a fault of the operation itself (not an outage). Its record is gone:
 * there is nothing left to settle, so the mark is dropped. Otherwise (a record that does not decode, a Redis
 * error reply): the mark is moved to `now`, so it is tried again after the stale time, behind the others,
 * and alerts each time until the record is repaired.
 */
async function setSettlingAside(deps: Parameters<typeof sweepOnce>[0], id: string, err: unknown, now: number): Promise<void> {
  const { ledger, logger } = deps;
  const log = { operation_id: id, error_class: errorClassOf(err), error: err instanceof Error ? err.message : String(err) };
  if (await recordIsGone(ledger, id)) {
    await ledger.markSettled(id);
    sweepFaults.inc({ stage: 'settle', outcome: 'dropped' });
    logger?.error('recovery sweep: an operation marked as settling has no record; its settling mark is dropped', log);
    return;
  }
  await ledger.rescoreSettling(id, now);
  sweepFaults.inc({ stage: 'settle', outcome: 'postponed' });
  logger?.error('recovery sweep could not settle an operation (a fault of its record, not an outage); tried again after the stale time', log);
}

/** Whether `id` has no record at all (a record that does not decode is there: it can be repaired). */
async function recordIsGone(ledger: Ledger, id: string): Promise<boolean> {
  try {
    return (await ledger.get(id)) === null;
  } catch (err) {
    if (isDependencyOutage(err)) throw err;
    return false;
  }
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
  let revived = 0;
  await reviveEach(deps.logger, 'revive_event', ids, async (id) => {
    if (!(await deadHolder(id))) return;
    const result = await ensureJob(deps.eventsQueue, 'notify', { eventId: id }, bullJobId(id));
    noteEventRevival(deps.logger, id, result);
    if (result.action === 'revived') revived += 1;
  });
  return revived;
}

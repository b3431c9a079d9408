import { resolve, join } from 'node:path';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { Payment } from '../contracts/payment-command';
import { ExpiryCompanions, Ledger } from '../ledger/ledger';
import { EventStore } from '../events/event-store';
import { Logger } from '../logging/logger';
import { gatewayOf, parseRoutingRecord } from '../ledger/routing-record';
import { counter, gauge } from '../metrics/metrics-registry';
import { PeriodicItems } from '../periodic/periodic-items';
import { checkedSnapshot } from './export';
import { LineTokenIndex, issuedTokensOfLines, lineTokenIndex, withIssuedTokenVouchers } from './issued-token-fields';
import { writeSnapshotFile } from './export-file';
import { OperationKeys, operationKeysOf } from './key-families';
import { OperationSnapshot, readSnapshots } from './operation-snapshot';
import { dropSplitTenderIfUnused, markSplitTenderRetiring, retiringSplitsKey } from './split-tender-records';

/** What one retention pass did. */
export interface RetentionReport {
  /** Terminal operations past the cutoff looked at. */
  examined: number;
  archived: number;
  expired: number;
  /** Why the others were kept (see `EXPIRE_SCRIPT`), by reason. */
  kept: Record<string, number>;
  /** Split tender records deleted with the last of their steps (absent: none). */
  splitTendersExpired?: number;
  /** Operations whose expiry threw a fault of their own, left for a later pass (absent: none). */
  faulted?: number;
  /**
   * Idempotency-conflict events delivered before the cutoff deleted on their own (their operation went without them:
   * recorded after the pass that expired it read its events; absent: none).
   */
  conflictEventsExpired?: number;
  /**
   * Outbox events of no operation (a recurring schedule's notices, a split tender's and a split refund's events:
   * src/events/operationless-events.ts) delivered or set aside before the cutoff, deleted (absent: none).
   */
  operationlessEventsExpired?: number;
  /** The archive file written this pass (none when nothing was due). */
  archiveFile?: string;
  /** Set when the pass did not run: `disabled`, `no_archive_dir`. */
  skipped?: string;
}

const DAY_MS = 86_400_000;
const expiredTotal = counter('pb_retention_expired_total', 'Terminal operations expired from Redis by the retention sweep (archived first)');
const archivedTotal = counter('pb_retention_archived_total', 'Operations written to a retention archive file before expiry');
const splitTendersExpiredTotal = counter(
  'pb_retention_split_tenders_expired_total',
  'Split tender records deleted by the retention sweep with the last of their steps (archived with them first)',
);
const operationlessExpiredTotal = counter(
  'pb_retention_operationless_events_expired_total',
  'Outbox events that belong to no operation (recurring notices, split tender and split refund events) deleted by the retention sweep retention.expire_after_days after they were delivered or set aside, by kind',
  ['kind'],
);
const keptTotal = counter('pb_retention_kept_total', 'Operations past the retention cutoff kept in Redis, by reason', ['reason']);
const lastRun = gauge('pb_retention_last_run_timestamp_seconds', 'When the retention sweep last completed a pass (unix seconds)');

/**
 * Why a snapshot is not worth archiving now (its expiry would be refused), judged from what the snapshot
 * holds; the ledger's expiry script decides again, atomically, with everything (dependents' states included).
 */
function keptBySnapshot(snap: OperationSnapshot, cutoff: number): string | null {
  const { record, indexes } = snap;
  if (record.state !== 'SUCCEEDED' && record.state !== 'FAILED') return 'live';
  if (Number(record.updated_at ?? 0) > cutoff) return 'recent';
  if (indexes.auths_open !== undefined) return 'open_authorization';
  if (indexes.settling !== undefined) return 'settling';
  if (indexes.retention_hold !== undefined) return 'held';
  // A PSP re-capture still waiting for the failure it follows: what the PSP did is not settled yet.
  if (indexes.recaptures_held !== undefined) return 'recapture_awaiting_failure';
  if (snap.events.some((e) => e.unsent !== undefined)) return 'unsent_event';
  // Set aside (the bus refused it), neither resent nor dismissed: the OMS has not heard it, an operator decides.
  if (snap.events.some((e) => e.hash.rejected_at !== undefined && e.hash.dismissed_at === undefined)) return 'set_aside_event';
  if (snap.adjustments.some((a) => Number(a.score) > cutoff)) return 'recent_adjustment';
  // A step of a split tender still open (a refund in progress): the split's sweep reads its steps.
  if (snap.split_tender && Object.keys(snap.split_tender.open).length > 0) return 'open_split_tender';
  return null;
}

/** The order id of a snapshot's payment (undefined: none, or unreadable). */
function orderOf(snap: OperationSnapshot): string | undefined {
  try {
    return (JSON.parse(snap.record.payment) as Payment).order_id;
  } catch {
    return undefined;
  }
}

/**
 * The gateway a snapshot's operation was sent to (routed, else its command's; '' when unreadable): the
 * one whose reconciliation covers it.
 */
function gatewayOfSnapshot(snap: OperationSnapshot): string {
  try {
    const payment = JSON.parse(snap.record.payment) as Payment;
    const routing = snap.record.routing === undefined ? undefined : parseRoutingRecord(JSON.parse(snap.record.routing));
    return gatewayOf({ payment, routing });
  } catch {
    return '';
  }
}

/** The keys an expiring operation takes with it. */
function companions(snap: OperationSnapshot, keys: OperationKeys): ExpiryCompanions {
  return {
    events: snap.events.map((e) => ({ k: keys.event(e.id), id: e.id })),
    adjustments: snap.adjustments.map((a) => ({ k: keys.adjustment(a.id), id: a.id })),
    refs: snap.references.map((r) => keys.reference(r.key)),
    payment: snap.payment ? [keys.paymentSequence(snap.payment.key), keys.paymentSent(snap.payment.key)] : [],
  };
}

/**
 * Retention, in the poller role (docs/DATA.md, "Retention"): terminal operations last updated more than
 * `retention.expire_after_days` ago are written to an archive file (an ndjson export under
 * `retention.archive_dir/<YYYY-MM-DD>/`, fsynced and renamed before anything is deleted), then expired by the
 * ledger (`Ledger.expireTerminal`), which checks again, in the same atomic step as the deletion, that
 * nothing of the operation is live. At most `retention.batch` operations per pass; the indexes are read by
 * score (the terminal state's index holds the time it became terminal), never scanned.
 */
export class RetentionSweep {
  /** Operations whose expiry faulted: skipped as candidates until their backoff ends (their index is the ledger's, by age). */
  private readonly items: PeriodicItems;
  /** The issued-token index, so an archived charge keeps its card-like stored token (as the consumer accepted it). */
  private readonly index: LineTokenIndex | undefined;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.items = new PeriodicItems('retention', 'operation_id', deps.logger, () => (deps.now ? deps.now() : Date.now()));
    this.index = lineTokenIndex(deps.redis, deps.config.redis.keyPrefix, { secrets: deps.config.serviceBus, gateways: deps.config.gateways });
  }

  async runOnce(): Promise<RetentionReport> {
    const { config, redis, logger } = this.deps;
    const report: RetentionReport = { examined: 0, archived: 0, expired: 0, kept: {} };
    if (!config.retention.enabled) return { ...report, skipped: 'disabled' };
    if (config.retention.archiveDir === '') return { ...report, skipped: 'no_archive_dir' };
    const now = this.deps.now ? this.deps.now() : Date.now();
    const cutoff = now - config.retention.expireAfterDays * DAY_MS;
    const prefix = config.redis.keyPrefix;
    const ledger = new Ledger(redis, prefix);
    const keep = (reason: string) => {
      report.kept[reason] = (report.kept[reason] ?? 0) + 1;
      keptTotal.inc({ reason });
    };
    const reconciled = new Map<string, number>();
    const reconciledThrough = async (snap: OperationSnapshot): Promise<number> => {
      const gateway = gatewayOfSnapshot(snap);
      let through = reconciled.get(gateway);
      if (through === undefined) {
        through = Number((await redis.get(ledger.reconciledThroughKey(gateway))) ?? -1);
        reconciled.set(gateway, through);
      }
      return through;
    };
    const batch = config.retention.batch;
    // Candidates, shard by shard (src/redis/key-layout.ts): the oldest terminal operations past the cutoff.
    const due: { snap: OperationSnapshot; keys: OperationKeys }[] = [];
    for (const keys of operationKeysOf(prefix)) {
      if (due.length >= batch || report.examined >= 4 * batch) break;
      const found = await this.candidates(keys, cutoff, batch - due.length, 4 * batch - report.examined, reconciledThrough, keep);
      report.examined += found.examined;
      due.push(...found.due.map((snap) => ({ snap, keys })));
    }
    // Idempotency-conflict events of the candidates, in any shard (the refused command's): one unsent or set aside keeps
    // its operation as its own events do; the others go with it.
    const events = new EventStore(redis, prefix);
    const conflicts = await events.conflictEventsOf(due.map((d) => d.snap.id));
    for (let i = due.length - 1; i >= 0; i -= 1) {
      const pending = conflicts.get(due[i].snap.id)?.find((e) => e.index === 'unsent' || e.index === 'rejected');
      if (!pending) continue;
      keep(pending.index === 'unsent' ? 'unsent_event' : 'set_aside_event');
      due.splice(i, 1);
    }
    if (due.length > 0) {
      const day = new Date(now).toISOString().slice(0, 10);
      const file = resolve(join(config.retention.archiveDir, day, `retention-${new Date(now).toISOString().replace(/[:.]/g, '-')}-${due.length}.ndjson`));
      await writeSnapshotFile(
        file,
        due.map((d) => d.snap),
      );
      report.archived = due.length;
      report.archiveFile = file;
      archivedTotal.inc(due.length);
      const expire = async ({ snap, keys }: (typeof due)[number]): Promise<void> => {
        // Before the step goes: whatever stops this pass after it, the next one still finds its split's record.
        if (snap.split_tender) await markSplitTenderRetiring(redis, prefix, snap.split_tender.id, now);
        const own = companions(snap, keys);
        // Its conflict events (dismissed or delivered: final), each in a script of its shard first, which keeps it (and so
        // the operation) if it was set aside meanwhile, and deletes the refused payment's counters when nothing else uses
        // them (another order's, in this shard or another, the expiry script would not). One gone before an expiry the
        // script then refuses (a dependent moved) is one the OMS never hears or already has.
        for (const e of conflicts.get(snap.id) ?? []) {
          const dropped = await events.dropConflictEvent(e);
          if (dropped !== 'expired') {
            keep(dropped);
            return;
          }
        }
        const result = await ledger.expireTerminal(snap.id, cutoff, own, {
          orderKey: keys.orderOf(orderOf(snap)),
          requireReconciled: config.retention.requireReconciliation,
        });
        if (result.expired) {
          report.expired += 1;
          expiredTotal.inc();
          // The split's record (archived with this step) goes with the last of its steps.
          if (snap.split_tender && (await dropSplitTenderIfUnused(redis, prefix, snap.split_tender.id, [keys])) === 'deleted') {
            report.splitTendersExpired = (report.splitTendersExpired ?? 0) + 1;
            splitTendersExpiredTotal.inc();
          }
        } else keep(result.kept);
      };
      const faulted = await this.items.each(due, (d) => d.snap.id, expire);
      if (faulted > 0) report.faulted = faulted;
    }
    // Delivered conflict events past the cutoff, whatever became of their operation: one recorded after the pass that
    // expired its operation read that operation's events is found by nothing else.
    for (const e of await events.deliveredConflictEventsBefore(cutoff, batch)) {
      if ((await events.dropConflictEvent(e)) === 'expired') report.conflictEventsExpired = (report.conflictEventsExpired ?? 0) + 1;
    }
    // Events of no operation (a schedule's notices, a split's events): no operation's expiry takes them, so the same
    // period runs from when they were delivered or set aside.
    for (const e of await events.operationlessEventsBefore(cutoff, batch)) {
      if ((await events.dropOperationlessEvent(e)) !== 'expired') continue;
      report.operationlessEventsExpired = (report.operationlessEventsExpired ?? 0) + 1;
      operationlessExpiredTotal.inc({ kind: e.kind });
    }
    const retired = await this.retireLeftSplits(prefix, now, batch);
    if (retired > 0) report.splitTendersExpired = (report.splitTendersExpired ?? 0) + retired;
    lastRun.set(Math.floor(now / 1000));
    if (report.examined > 0 || report.conflictEventsExpired !== undefined || report.operationlessEventsExpired !== undefined) {
      logger.info('retention sweep', { cutoff: new Date(cutoff).toISOString(), ...report });
    }
    return report;
  }

  /**
   * The splits being retired (see `retiringSplitsKey`), at most `batch`, those due first: a record an earlier
   * pass left after a crash or a fault that followed the expiry of its last step is deleted now; one whose
   * steps are still there (this pass's too) is looked at again a day later (the expiry of its last step
   * deletes it before that). Returns how many records it deleted.
   */
  private async retireLeftSplits(prefix: string, now: number, batch: number): Promise<number> {
    const { redis, logger } = this.deps;
    const key = retiringSplitsKey(prefix);
    const ids = await redis.zrangebyscore(key, '-inf', now, 'LIMIT', 0, batch);
    let deleted = 0;
    for (const id of ids) {
      let result: Awaited<ReturnType<typeof dropSplitTenderIfUnused>>;
      try {
        result = await dropSplitTenderIfUnused(redis, prefix, id);
      } catch (err) {
        // Left in the set for the next pass; the others still get theirs.
        logger.warn('retention: a split tender record could not be deleted; the next pass tries again', { split_tender_id: id, error: (err as Error).message });
        continue;
      }
      if (result === 'used') await redis.zadd(key, 'XX', now + DAY_MS, id);
      if (result !== 'deleted') continue;
      deleted += 1;
      splitTendersExpiredTotal.inc();
      logger.warn('retention: split tender record deleted by a later pass (the pass that expired its last step stopped before)', { split_tender_id: id });
    }
    return deleted;
  }

  /**
   * One shard's candidates: pages of its oldest terminal operations past the cutoff (kept ones stay at the
   * head of their index, so each page starts after those already read), at most `room` due and `reads`
   * read; those whose dependents or order still move are not archived at every pass while they wait (the
   * ledger's expiry would keep them anyway).
   */
  private async candidates(
    keys: OperationKeys,
    cutoff: number,
    room: number,
    reads: number,
    reconciledThrough: (snap: OperationSnapshot) => Promise<number>,
    keep: (reason: string) => void,
  ): Promise<{ due: OperationSnapshot[]; examined: number }> {
    const { config, redis, logger } = this.deps;
    const due: OperationSnapshot[] = [];
    let examined = 0;
    // The unsent index is read only when there are candidates (it grows while the OMS is unreachable).
    let unsent: Map<string, string> | null = null;
    const unsentEvents = async (): Promise<Map<string, string>> => {
      if (unsent) return unsent;
      unsent = new Map<string, string>();
      const flat = await redis.zrange(keys.unsentEvents, 0, -1, 'WITHSCORES');
      for (let i = 0; i + 1 < flat.length; i += 2) unsent.set(flat[i], flat[i + 1]);
      return unsent;
    };
    const batch = config.retention.batch;
    for (const state of ['SUCCEEDED', 'FAILED'] as const) {
      for (let offset = 0; due.length < room && examined < reads;) {
        const ids = await redis.zrangebyscore(keys.state(state), '-inf', String(cutoff), 'LIMIT', offset, batch);
        if (ids.length === 0) break;
        offset += ids.length;
        examined += ids.length;
        // One whose expiry faulted lately waits out its backoff, leaving its room to the next ones.
        const fresh = ids.filter((id) => !this.items.waiting(id));
        for (let k = fresh.length; k < ids.length; k += 1) keep('fault_backoff');
        const page = await readSnapshots(redis, keys, fresh, await unsentEvents());
        const issued = await issuedTokensOfLines(this.index, page);
        for (const [n, raw] of page.entries()) {
          let reason = keptBySnapshot(raw, cutoff);
          if (!reason && config.retention.requireReconciliation && Number(raw.record.updated_at ?? 0) > (await reconciledThrough(raw))) {
            reason = 'awaiting_reconciliation';
          }
          if (reason) keep(reason);
          else if (due.length < room)
            due.push(withIssuedTokenVouchers(checkedSnapshot(raw, logger, issued[n].kept, 'archive', issued[n].networkIds).snap, this.index, issued[n]));
        }
        if (ids.length < batch) break;
      }
    }
    if (due.length === 0) return { due, examined };
    // Dependents and the order's other operations: their states, read together (they may be in other shards).
    const orders = await Promise.all(due.map((snap) => (keys.orderOf(orderOf(snap)) === '' ? [] : redis.zrange(keys.orderOf(orderOf(snap)), 0, 999))));
    const ledger = new Ledger(redis, keys.prefix);
    const stillDue: OperationSnapshot[] = [];
    for (const [i, snap] of due.entries()) {
      const asked = [...snap.dependents, ...orders[i].filter((id) => id !== snap.id)];
      const states = await ledger.fieldsOf(asked, ['state']);
      let reason: string | null = null;
      asked.forEach((_id, k) => {
        const state = states[k][0];
        if (!reason && state && state !== 'SUCCEEDED' && state !== 'FAILED') reason = k < snap.dependents.length ? 'live_dependent' : 'live_in_order';
      });
      if (reason) keep(reason);
      else stillDue.push(snap);
    }
    return { due: stillDue, examined };
  }
}

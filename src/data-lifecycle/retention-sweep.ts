import { resolve, join } from 'node:path';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { Payment } from '../contracts/payment-command';
import { ExpiryCompanions, Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter, gauge } from '../metrics/metrics-registry';
import { checkedSnapshot } from './export';
import { writeSnapshotFile } from './export-file';
import { OperationKeys } from './key-families';
import { OperationSnapshot, readSnapshots } from './operation-snapshot';

/** What one retention pass did. */
export interface RetentionReport {
  /** Terminal operations past the cutoff looked at. */
  examined: number;
  archived: number;
  expired: number;
  /** Why the others were kept (see `EXPIRE_SCRIPT`), by reason. */
  kept: Record<string, number>;
  /** The archive file written this pass (none when nothing was due). */
  archiveFile?: string;
  /** Set when the pass did not run: `disabled`, `no_archive_dir`. */
  skipped?: string;
}

const DAY_MS = 86_400_000;
const expiredTotal = counter('pb_retention_expired_total', 'Terminal operations expired from Redis by the retention sweep (archived first)');
const archivedTotal = counter('pb_retention_archived_total', 'Operations written to a retention archive file before expiry');
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
  if (snap.events.some((e) => e.unsent !== undefined)) return 'unsent_event';
  if (snap.adjustments.some((a) => Number(a.score) > cutoff)) return 'recent_adjustment';
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
  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  async runOnce(): Promise<RetentionReport> {
    const { config, redis, logger } = this.deps;
    const report: RetentionReport = { examined: 0, archived: 0, expired: 0, kept: {} };
    if (!config.retention.enabled) return { ...report, skipped: 'disabled' };
    if (config.retention.archiveDir === '') return { ...report, skipped: 'no_archive_dir' };
    const now = this.deps.now ? this.deps.now() : Date.now();
    const cutoff = now - config.retention.expireAfterDays * DAY_MS;
    const prefix = config.redis.keyPrefix;
    const keys = new OperationKeys(prefix);
    const ledger = new Ledger(redis, prefix);
    const keep = (reason: string) => {
      report.kept[reason] = (report.kept[reason] ?? 0) + 1;
      keptTotal.inc({ reason });
    };

    // Candidates: the oldest terminal operations past the cutoff. Kept ones stay at the head of their index,
    // so the page starts after those this pass already kept.
    const due: OperationSnapshot[] = [];
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
    const reconciled = new Map<string, number>();
    const reconciledThrough = async (snap: OperationSnapshot): Promise<number> => {
      let gateway: string;
      try {
        gateway = (JSON.parse(snap.record.payment) as Payment).gateway;
      } catch {
        gateway = '';
      }
      let through = reconciled.get(gateway);
      if (through === undefined) {
        through = Number((await redis.get(keys.reconciledThrough(gateway))) ?? -1);
        reconciled.set(gateway, through);
      }
      return through;
    };
    // Pages of the oldest terminal operations past the cutoff. Kept ones stay at the head of their index, so
    // each page starts after those already read this pass; at most 4 × batch are read, batch archived.
    for (const state of ['SUCCEEDED', 'FAILED'] as const) {
      for (let offset = 0; due.length < batch && report.examined < 4 * batch;) {
        const ids = await redis.zrangebyscore(keys.state(state), '-inf', String(cutoff), 'LIMIT', offset, batch);
        if (ids.length === 0) break;
        offset += ids.length;
        report.examined += ids.length;
        for (const raw of await readSnapshots(redis, keys, ids, await unsentEvents())) {
          let reason = keptBySnapshot(raw, cutoff);
          if (!reason && config.retention.requireReconciliation && Number(raw.record.updated_at ?? 0) > (await reconciledThrough(raw))) {
            reason = 'awaiting_reconciliation';
          }
          if (reason) keep(reason);
          else if (due.length < batch) due.push(checkedSnapshot(raw, logger).snap);
        }
        if (ids.length < batch) break;
      }
    }
    // Operations whose dependents or order still move are not archived at every pass while they wait (the
    // ledger's expiry would keep them anyway): two pipelined reads for the whole batch.
    if (due.length > 0) {
      const orders = redis.pipeline();
      const withOrder = due.map((snap) => keys.order(orderOf(snap)));
      for (const key of withOrder) if (key !== '') orders.zrange(key, 0, 999);
      const orderReplies = (await orders.exec()) ?? [];
      let o = 0;
      const members = withOrder.map((key) => (key === '' ? [] : ((orderReplies[o++]?.[1] as string[] | undefined) ?? [])));
      const states = redis.pipeline();
      const asked: string[][] = due.map((snap, i) => [...snap.dependents, ...members[i].filter((id) => id !== snap.id)]);
      for (const ids of asked) for (const id of ids) states.hget(keys.op(id), 'state');
      const replies = (await states.exec()) ?? [];
      let r = 0;
      const stillDue: OperationSnapshot[] = [];
      due.forEach((snap, i) => {
        let reason: string | null = null;
        asked[i].forEach((_id, k) => {
          const state = replies[r++]?.[1] as string | null | undefined;
          if (!reason && state && state !== 'SUCCEEDED' && state !== 'FAILED') reason = k < snap.dependents.length ? 'live_dependent' : 'live_in_order';
        });
        if (reason) keep(reason);
        else stillDue.push(snap);
      });
      due.splice(0, due.length, ...stillDue);
    }
    if (due.length > 0) {
      const day = new Date(now).toISOString().slice(0, 10);
      const file = resolve(join(config.retention.archiveDir, day, `retention-${new Date(now).toISOString().replace(/[:.]/g, '-')}-${due.length}.ndjson`));
      await writeSnapshotFile(file, due);
      report.archived = due.length;
      report.archiveFile = file;
      archivedTotal.inc(due.length);
      for (const snap of due) {
        let orderId: string | undefined;
        try {
          orderId = (JSON.parse(snap.record.payment) as Payment).order_id;
        } catch {
          orderId = undefined;
        }
        const result = await ledger.expireTerminal(snap.id, cutoff, companions(snap, keys), {
          orderKey: keys.order(orderId),
          requireReconciled: config.retention.requireReconciliation,
        });
        if (result.expired) {
          report.expired += 1;
          expiredTotal.inc();
        } else keep(result.kept);
      }
    }
    lastRun.set(Math.floor(now / 1000));
    if (report.examined > 0) {
      logger.info('retention sweep', { cutoff: new Date(cutoff).toISOString(), ...report });
    }
    return report;
  }
}

import { Counter } from 'prom-client';
import type { Payment } from '../contracts/payment-command';
import { counter } from '../metrics/metrics-registry';
import { ALL_SHARDS, shardKeysOf, shardOfPayment } from '../redis/key-layout';
import type { RedisClient } from '../redis/redis-connection';
import { HistoryEntryRead, unprovenUnderCurrentKey } from './attempt-ends';

/**
 * How long after an authorize's own SUCCESS its extra hold check runs ({@link ExtraHoldChecks}): 30 minutes, ms. Long
 * enough for Cybersource's transaction search to list an earlier attempt that landed (it shows a transaction within
 * minutes), and past its 15-minute duplicate check.
 */
export const EXTRA_HOLD_CHECK_DELAY_MS = 30 * 60_000;

/** The index of an authorize's extra hold checks in shard `shard`: `<prefix>{s:<n>}:extra-hold-checks`, a sorted set of operation ids by when due (epoch ms). */
export function extraHoldChecksKey(prefix: string, shard: number): string {
  return shardKeysOf(prefix)[shard].extraHoldChecks;
}

/**
 * Whether the SUCCESS an authorize's latest attempt answered itself leaves an earlier attempt that may hold funds
 * nobody will look for: at a gateway that takes a resend as a new request (`resendIsNewRequest`: Cybersource), an
 * attempt under the current key before the latest (`history` up to its `attempt` entry) not proven absent
 * (`unprovenUnderCurrentKey`: a 5xx, a timeout, one with no recorded end) may be a second authorization, and a
 * SUCCEEDED operation is never asked about again. `history`: the operation's, oldest first. Pure.
 */
export function needsExtraHoldCheck(history: readonly HistoryEntryRead[], command: string, resendIsNewRequest: boolean): boolean {
  if (command !== 'authorize' || !resendIsNewRequest) return false;
  for (let i = history.length - 1; i >= 0; i--) {
    if (history[i].event === 'attempt') return unprovenUnderCurrentKey(history.slice(0, i)).length > 0;
  }
  return false;
}

/** One due extra hold check: the authorize's operation id and the shard its entry is in. */
export interface DueExtraHoldCheck {
  operationId: string;
  shard: number;
}

/**
 * The durable index of extra hold checks: one per authorize whose own SUCCESS came after an unproven attempt
 * ({@link needsExtraHoldCheck}), written before that success is recorded (a crash between leaves an entry whose
 * operation is still open: its check is put off until it is SUCCEEDED, then runs, or FAILED or gone, then ends), in the
 * operation's shard (hash-tagged, src/redis/key-layout.ts), due {@link EXTRA_HOLD_CHECK_DELAY_MS} later. The poll pass
 * runs the due ones (src/poller/extra-hold-check-sweep.ts) and takes each out once done.
 */
export class ExtraHoldChecks {
  constructor(
    private readonly redis: RedisClient,
    /** Key prefix, e.g. `pb:`. */
    private readonly prefix: string,
  ) {}

  /** Schedules the check of `op` at `at` (epoch ms); one already scheduled keeps its time (ZADD NX). */
  async schedule(op: { id: string; payment: Payment }, at: number): Promise<void> {
    await this.redis.zadd(extraHoldChecksKey(this.prefix, shardOfPayment(op.payment)), 'NX', at, op.id);
  }

  /**
   * The checks due at `now` (epoch ms), at most `limit` in all: the oldest due of every shard (each shard's key read on
   * its own, so every shard is scanned under Redis Cluster), merged, oldest first. A backlog in one shard never makes
   * a pass longer than `limit` checks (each a PSP search); what is left stays due for the next pass.
   */
  async due(now: number, limit: number): Promise<DueExtraHoldCheck[]> {
    const due: (DueExtraHoldCheck & { at: number })[] = [];
    for (const shard of ALL_SHARDS) {
      const scored = await this.redis.zrangebyscore(extraHoldChecksKey(this.prefix, shard), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit);
      for (let i = 0; i + 1 < scored.length; i += 2) due.push({ operationId: scored[i], shard, at: Number(scored[i + 1]) });
    }
    return due
      .sort((a, b) => a.at - b.at)
      .slice(0, limit)
      .map(({ operationId, shard }) => ({ operationId, shard }));
  }

  /** Puts a check off to `at` (epoch ms): one whose search failed. Only while it is still in the index (ZADD XX). */
  async postpone(check: DueExtraHoldCheck, at: number): Promise<void> {
    await this.redis.zadd(extraHoldChecksKey(this.prefix, check.shard), 'XX', at, check.operationId);
  }

  /** Takes a check out of the index once done. */
  async done(check: DueExtraHoldCheck): Promise<void> {
    await this.redis.zrem(extraHoldChecksKey(this.prefix, check.shard), check.operationId);
  }

  /** The checks scheduled, due or not (for tests and the console). */
  async count(): Promise<number> {
    let n = 0;
    for (const shard of ALL_SHARDS) n += await this.redis.zcard(extraHoldChecksKey(this.prefix, shard));
    return n;
  }
}

/**
 * The `result` of {@link extraHoldChecks}: `scheduled` (delivery wrote one, `DeliveryService`, before the success it follows),
 * `found` (the search listed holds besides the recorded one: each handed to orphan reversal, src/poller/extra-hold-check-sweep.ts), `none` (nothing more),
 * `skipped` (the operation is not a SUCCEEDED authorize, gone, or cannot be asked about), `postponed` (the authorize
 * is still open: asked again later, no PSP call), `error` (the search failed: asked again later).
 */
export type ExtraHoldCheckResult = 'scheduled' | 'found' | 'none' | 'skipped' | 'postponed' | 'error';

/** `pb_extra_hold_checks_total{gateway,result}`: see {@link ExtraHoldCheckResult}. */
export function extraHoldChecks(): Counter<'gateway' | 'result'> {
  return counter(
    'pb_extra_hold_checks_total',
    'Follow-up searches of an authorize whose own SUCCESS came after an earlier attempt that may have landed, at a gateway that takes a resend as a new request (Cybersource), by result: scheduled, found (other authorizations holding funds, each voided by orphan reversal as extra_authorization), none, skipped (not a SUCCEEDED authorize), postponed (the authorize still open: asked again later), error (asked again later)',
    ['gateway', 'result'],
  );
}

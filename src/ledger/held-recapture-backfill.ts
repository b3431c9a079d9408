import { RECAPTURE_FIELD } from '../adjustments/adjustment-store';
import { ALL_SHARDS, shardKeysOf } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-connection';
import { walkCreatedSince } from './id-claim-backfill';

/** What one backfill did. */
export interface HeldRecaptureBackfill {
  /** True when an earlier run had finished it (nothing was looked at). */
  alreadyDone: boolean;
  /** Captures found holding a re-capture and put in the index now (their wait counted from now). */
  indexed: number;
}

/** The key marking the backfill done (a string: when it finished, epoch ms). */
export function heldRecaptureBackfillMarker(prefix: string): string {
  return `${prefix}migrations:held-recaptures`;
}

/** Operations read per round trip. */
const DEFAULT_BATCH = 500;

/**
 * Puts in their shard's index of held re-captures (`ShardKeys.heldRecaptures`) the captures that held one before
 * the index existed (`AdjustmentStore.holdRecapture` of an earlier release), once, so the wait for the failure they
 * follow (`delivery.recapture_failure_wait_ms`, counted from now for them) surfaces them too. One reported since is
 * taken out by the wait's sweep. Idempotent (an entry already there keeps its time); the marker
 * ({@link heldRecaptureBackfillMarker}) is written last, so a run cut short runs again whole at the next start.
 */
export async function backfillHeldRecaptureIndex(redis: RedisClient, prefix: string, now = Date.now(), batch = DEFAULT_BATCH): Promise<HeldRecaptureBackfill> {
  const marker = heldRecaptureBackfillMarker(prefix);
  if ((await redis.exists(marker)) === 1) return { alreadyDone: true, indexed: 0 };
  const report: HeldRecaptureBackfill = { alreadyDone: false, indexed: 0 };
  const shards = shardKeysOf(prefix);
  for (const shard of ALL_SHARDS) {
    const keys = shards[shard];
    await walkCreatedSince(redis, keys, 0, batch, async (page) => {
      // One pipeline per page: every key of it is in this shard's slot.
      const read = redis.pipeline();
      for (const { id } of page) {
        read.hexists(keys.op(id), RECAPTURE_FIELD);
        read.zscore(keys.surfacedRecaptures, id);
      }
      const replies = ((await read.exec()) ?? []).map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      // One surfaced since (a run cut short, then a pass of the wait) is in the index of surfaced ones already.
      const holding = page.flatMap(({ id }, i) => (replies[2 * i] === 1 && replies[2 * i + 1] === null ? [id] : []));
      if (holding.length === 0) return;
      const added = await redis.zadd(keys.heldRecaptures, 'NX', ...holding.flatMap((id) => [now, id]));
      report.indexed += Number(added);
    });
  }
  await redis.set(marker, String(now));
  return report;
}

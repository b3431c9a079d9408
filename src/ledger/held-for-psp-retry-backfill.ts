import { SUCCEEDED_AFTER_FAILURE_FIELD } from '../adjustments/adjustment';
import { counter } from '../metrics/metrics-registry';
import { ALL_SHARDS, shardKeysOf } from '../redis/key-layout';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { RedisClient } from '../redis/redis-connection';
import { walkCreatedSince } from './id-claim-backfill';
import { HELD_FOR_PSP_RETRY_FIELD } from './record-fields';

const backfilled = counter(
  'pb_held_for_psp_retry_backfilled_total',
  "Captures and refunds held for their PSP's own retry from before the index of held ones that the one-off backfill put in it (at the poller's first start): listed, counted and alerted on since",
);

/** What one backfill did. */
export interface HeldForPspRetryBackfill {
  /** True when an earlier run had finished it (nothing was looked at). */
  alreadyDone: boolean;
  /** Captures and refunds found held and not indexed, put in the index now. */
  indexed: number;
}

/** The key marking the backfill done (a string: when it finished, epoch ms). */
export function heldForPspRetryBackfillMarker(prefix: string): string {
  return `${prefix}migrations:held-for-psp-retry`;
}

/** Operations read per round trip. */
const DEFAULT_BATCH = 500;

/**
 * Indexes the page's operations held for their PSP's retry (FAILED with the held field, not done by the PSP since),
 * each scored by its record's last update (else its creation time), unless indexed already (`ZADD NX`: it keeps its
 * time). Read and written in one script, so an Adyen re-capture or an operator's release that took one out of the index
 * is never undone by a stale read. Extra keys: each operation's record; rest arguments: its creation time and id, in
 * the same order.
 */
const INDEX_STILL_HELD = new LuaScript(
  luaInputs(['index'], ['held_field', 'late_field']),
  `
local added = 0
local n = #KEYS - 1
for i = 1, n do
  local f = redis.call('HMGET', XK(i), 'state', A.held_field, A.late_field, 'updated_at')
  if f[1] == 'FAILED' and f[2] and f[2] ~= '' and not f[3] then
    local at = tonumber(f[4])
    local score = (at and at > 0) and f[4] or ARGV[A_REST + 2 * (i - 1)]
    added = added + redis.call('ZADD', K.index, 'NX', score, ARGV[A_REST + 2 * (i - 1) + 1])
  end
end
return added
`,
  true,
);

/**
 * Puts in their shard's index of those held for their PSP's own retry (`ShardKeys.heldForPspRetry`) the captures and
 * refunds held before the index existed (FAILED with `held_for_psp_retry`, not done by the PSP since: as a restore
 * reads one), once, so `ops held-retries list`, the `pb_held_for_psp_retry_*` gauges and their alert see them too.
 * Each is scored by its record's last update (the failure that held it), as a restore of an export from before the
 * index scores it. Walks every shard's created index a page of `batch` at a time, each page read and indexed by one
 * script: a re-capture or a release meanwhile is not undone. Idempotent: an entry already there keeps its time (`ZADD NX`); the marker ({@link heldForPspRetryBackfillMarker}) is
 * written last, so a run cut short runs again whole at the next start. Counted in `pb_held_for_psp_retry_backfilled_total`.
 */
export async function backfillHeldForPspRetryIndex(
  redis: RedisClient,
  prefix: string,
  now = Date.now(),
  batch = DEFAULT_BATCH,
): Promise<HeldForPspRetryBackfill> {
  const marker = heldForPspRetryBackfillMarker(prefix);
  if ((await redis.exists(marker)) === 1) return { alreadyDone: true, indexed: 0 };
  const report: HeldForPspRetryBackfill = { alreadyDone: false, indexed: 0 };
  const shards = shardKeysOf(prefix);
  for (const shard of ALL_SHARDS) {
    const keys = shards[shard];
    await walkCreatedSince(redis, keys, 0, batch, async (page) => {
      // One script per page: every key of it is in this shard's slot.
      const added = Number(
        await INDEX_STILL_HELD.run(
          redis,
          { keys: { index: keys.heldForPspRetry }, args: { held_field: HELD_FOR_PSP_RETRY_FIELD, late_field: SUCCEEDED_AFTER_FAILURE_FIELD } },
          page.flatMap(({ id, createdAt }) => [createdAt, id]),
          page.map(({ id }) => keys.op(id)),
        ),
      );
      report.indexed += added;
      backfilled.inc(added);
    });
  }
  await redis.set(marker, String(now));
  return report;
}

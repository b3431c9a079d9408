import { counter } from '../metrics/metrics-registry';
import { CLAIM_KEY_SCRIPT } from '../redis/key-claim';
import { ALL_SHARDS, ShardKeys, shardKeysOf, shardOfAnchor } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-connection';
import { entriesAfter } from '../redis/sorted-set-cursor';
import { ID_CLAIM_TTL_S } from './ledger';

const backfilled = counter(
  'pb_id_claims_backfilled_total',
  'Operations whose id claim the one-off backfill looked at (every one a claim made at its creation would still cover), by outcome: claimed (it had none), present (it had its own), conflicting (another shard claims the id: one reference under two payments from before claims existed)',
  ['outcome'],
);

/** What one backfill did. */
export interface IdClaimBackfill {
  /** True when an earlier run had finished it (nothing was looked at). */
  alreadyDone: boolean;
  claimed: number;
  present: number;
  /** Ids another shard claims: `shard` holds the operation looked at, `holder` the claim. First 20 only. */
  conflicting: Array<{ id: string; shard: number; holder: string }>;
  conflictingCount: number;
}

/** The key marking the backfill done (a string: when it finished, epoch ms). */
export function idClaimBackfillMarker(prefix: string): string {
  return `${prefix}migrations:id-claims`;
}

/** Operations claimed per round of parallel calls (each claim is its own single-key script: claims live in every slot). */
const DEFAULT_BATCH = 500;

/**
 * Gives the operations created before ids were claimed (`ShardKeys.idClaim`, `Ledger.create`) their claim,
 * once: each operation of the last {@link ID_CLAIM_TTL_S} seconds in a shard's created index is claimed for
 * its shard, expiring when a claim made at its creation would. Without it, a second payment under the
 * reference of such an operation (another order, so another shard) would be created beside it instead of
 * being refused as an idempotency conflict, for as long as the claim lives.
 *
 * An id another shard already claims (one reference under two payments, from before claims) is left as it is,
 * counted and returned. Idempotent (a claim is only set where there is none); the marker
 * ({@link idClaimBackfillMarker}) is written last, so a run cut short runs again whole at the next start.
 */
export async function backfillIdClaims(redis: RedisClient, prefix: string, now = Date.now(), batch = DEFAULT_BATCH): Promise<IdClaimBackfill> {
  const marker = idClaimBackfillMarker(prefix);
  const report: IdClaimBackfill = { alreadyDone: false, claimed: 0, present: 0, conflicting: [], conflictingCount: 0 };
  if ((await redis.exists(marker)) === 1) return { ...report, alreadyDone: true };
  const shards = shardKeysOf(prefix);
  const since = now - ID_CLAIM_TTL_S * 1000;
  for (const shard of ALL_SHARDS) {
    await walkCreatedSince(redis, shards[shard], since, batch, async (page) => {
      const claims = page.map(async ({ id, createdAt }) => {
        // The claim expires when one set at the creation would have (at least a second from now).
        const ttl = Math.max(1, Math.ceil((createdAt - since) / 1000));
        const claim = shards[shardOfAnchor(id)].idClaim(id);
        const holder = (await CLAIM_KEY_SCRIPT.run(redis, { keys: { claim }, args: { holder: shard, ttl_s: ttl } })) as string;
        if (holder === '') {
          report.claimed += 1;
          backfilled.inc({ outcome: 'claimed' });
        } else if (holder === String(shard)) {
          report.present += 1;
          backfilled.inc({ outcome: 'present' });
        } else {
          report.conflictingCount += 1;
          if (report.conflicting.length < 20) report.conflicting.push({ id, shard, holder });
          backfilled.inc({ outcome: 'conflicting' });
        }
      });
      await Promise.all(claims);
    });
  }
  await redis.set(marker, String(now));
  return report;
}

/**
 * Calls `visit` with each page (at most `batch` ids, in creation order) of the operations in `keys`' shard
 * created at or after `since` (epoch ms), with their creation times: what the one-off backfills of claims walk.
 */
export async function walkCreatedSince(
  redis: RedisClient,
  keys: ShardKeys,
  since: number,
  batch: number,
  visit: (page: Array<{ id: string; createdAt: number }>) => Promise<void>,
): Promise<void> {
  // A cursor on the last entry read (its creation time, then its id), not an offset: retention deleting entries
  // before it meanwhile (older ones, or one of its own time already read) would shift offsets past entries
  // not yet read.
  let after = { score: since, id: '' };
  for (;;) {
    const entries = await entriesAfter(redis, keys.created, after, batch);
    if (entries.length === 0) break;
    await visit(entries.map((e) => ({ id: e.id, createdAt: e.score })));
    if (entries.length < batch) break;
    after = entries[entries.length - 1];
  }
}

import { RedisClient, isCluster } from './redis-connection';

/**
 * Probes of one key in every ledger shard, for an id whose shard this process does not know (a command of
 * another worker's payment, a PSP reference a capture names, a new id checked for an idempotency conflict).
 * On a Redis Cluster the shards' keys hash to different slots, so each is asked on its own (sent together,
 * one round trip). On a single Redis one command answers for all of them: a capture used to cost 32 such
 * commands (16 EXISTS at the intake, 16 at the worker) and 16 GETs, each paying the client's per-command cost.
 */

/**
 * The index in `keys` of the first key that exists, or -1 when none does. On a single Redis one multi-key
 * EXISTS answers "none" (the usual reply: an id not yet written, a key that is no operation id); only when
 * some key exists are they asked one by one to learn which.
 */
export async function firstExisting(redis: RedisClient, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return -1;
  if (!isCluster(redis) && (await redis.exists(...keys)) === 0) return -1;
  const found = await Promise.all(keys.map((key) => redis.exists(key)));
  return found.indexOf(1);
}

/** Every key's string value (null where there is none): one MGET on a single Redis, one GET each on a cluster. */
export async function getEach(redis: RedisClient, keys: readonly string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  if (isCluster(redis)) return Promise.all(keys.map((key) => redis.get(key)));
  return redis.mget(...keys);
}

/** How many members of each key (KEYS) score between ARGV[1] and ARGV[2] (ZCOUNT bounds), in key order. */
const COUNT_EACH = `local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('ZCOUNT', KEYS[i], ARGV[1], ARGV[2])
end
return out`;

/**
 * `ZRANGEBYSCORE key min max WITHSCORES LIMIT 0 limit` of every key, the flat member/score replies in key
 * order. The workers' sweeps read the same index in all 16 shards several times a second, idle or not, and
 * mostly find nothing: on a single Redis one script counts every shard's due members (16 ZCOUNTs, O(log n)
 * each) and only the shards that hold some are read, one command each. Reading them all inside the script
 * instead would block the server for the whole reply (6-8 ms for 16 pages of 1 000) just when a backlog
 * needs it most. On a cluster every shard is read, one command each (each is its own slot).
 */
export async function rangeEachByScore(redis: RedisClient, keys: readonly string[], min: string, max: string, limit: number): Promise<string[][]> {
  if (keys.length === 0) return [];
  const range = (key: string) => redis.zrangebyscore(key, min, max, 'WITHSCORES', 'LIMIT', 0, limit);
  if (isCluster(redis)) return Promise.all(keys.map(range));
  const counts = (await redis.eval(COUNT_EACH, keys.length, ...keys, min, max)) as number[];
  return Promise.all(keys.map((key, i) => (counts[i] > 0 ? range(key) : [])));
}

/** A member read from one of several sorted sets: its score, and the index of its set in the keys read. */
export interface ScoredMember {
  member: string;
  score: number;
  keyIndex: number;
}

/**
 * The members scored within `min`..`max` over all `keys` (one index per shard), at most `limit` read from each
 * ({@link rangeEachByScore}), merged lowest scores first; the caller cuts the merge to its own limit (after whatever
 * it drops). One round trip when nothing is due, two on a single Redis when something is.
 */
export async function scoredAcrossKeys(redis: RedisClient, keys: readonly string[], min: string, max: string, limit: number): Promise<ScoredMember[]> {
  const pages = await rangeEachByScore(redis, keys, min, max, limit);
  const all: ScoredMember[] = [];
  let nonEmpty = 0;
  pages.forEach((flat, keyIndex) => {
    if (flat.length > 0) nonEmpty += 1;
    for (let i = 0; i + 1 < flat.length; i += 2) all.push({ member: flat[i], score: Number(flat[i + 1]), keyIndex });
  });
  // One page is already in score order.
  if (nonEmpty > 1) all.sort((a, b) => a.score - b.score);
  return all;
}

/**
 * The `limit` lowest-scored members scored within `min`..`max` over all `keys` (one index per shard), lowest
 * scores first, read with {@link scoredAcrossKeys}; `seen(member, keyIndex)` is told of every member read, so
 * a caller can remember which shard holds it.
 */
export async function lowestAcrossKeys(
  redis: RedisClient,
  keys: readonly string[],
  min: string,
  max: string,
  limit: number,
  seen: (member: string, keyIndex: number) => void,
): Promise<string[]> {
  const all = await scoredAcrossKeys(redis, keys, min, max, limit);
  for (const e of all) seen(e.member, e.keyIndex);
  return all.slice(0, limit).map((e) => e.member);
}

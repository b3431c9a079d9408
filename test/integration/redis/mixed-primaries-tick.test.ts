import { Cluster } from 'ioredis';
import { TokenBuckets } from '../../../src/admission/token-buckets';
import { coalesceCommandWrites } from '../../../src/redis/command-write-coalescing';
import { keysMatching, unlinkMatching, whenReady } from '../../../src/redis/key-scan';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { slotOf } from '../../support/single-slot';
import { onRedisCluster, testConfig } from '../../support/test-config';

// Runs on the local Redis Cluster only: `PB_REDIS_CLUSTER=1 npx jest test/integration/redis`.
const onCluster = onRedisCluster() ? describe : describe.skip;

/** The primary (host:port) serving `key`'s slot, from the client's own slot map. */
function nodeOf(redis: Cluster, key: string): string {
  return redis.slots[slotOf(key)][0];
}

onCluster('one tick of commands for every primary on the worker connection of the ledger, outbox and rate limits (Redis Cluster)', () => {
  const config = testConfig();
  const prefix = config.redis.keyPrefix;
  let redis: Cluster;

  beforeAll(async () => {
    redis = createRedis(config.redis, 'commands') as Cluster;
    coalesceCommandWrites(redis);
    await whenReady(redis as RedisClient);
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${prefix}*`);
    await redis.quit();
  });

  it('a token-bucket take sent in the same tick as commands for keys on other primaries does not fail them (nor itself)', async () => {
    const limit = { perS: 1000, burst: 1000 };
    // Bucket keys on every primary, and plain keys on every primary: whatever the first argument of the
    // take looked like to the client, some pair mixes two primaries in one tick.
    const buckets = Array.from({ length: 12 }, (_, i) => `${prefix}{rl:${i}}:bucket`);
    const plain = Array.from({ length: 12 }, (_, i) => `${prefix}{plain:${i}}:value`);
    expect(new Set(buckets.map((k) => nodeOf(redis, k))).size).toBe(3);
    expect(new Set(plain.map((k) => nodeOf(redis, k))).size).toBe(3);
    const tokens = new TokenBuckets(redis);
    const results = await Promise.allSettled([...buckets.map((key) => tokens.take([{ key, limit }])), ...plain.map((key) => redis.set(key, 'v'))]);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    expect(failed).toEqual([]);
    expect((await keysMatching(redis, `${prefix}{rl:*`)).length).toBe(12);
  });
});

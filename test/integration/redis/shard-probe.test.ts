import { monitorCommands } from '../../support/redis-monitor';
import { Config } from '../../../src/config/config';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { RedisClient, createRedis, isCluster } from '../../../src/redis/redis-connection';
import { firstExisting, getEach, lowestAcrossKeys, rangeEachByScore } from '../../../src/redis/shard-probe';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { testConfig } from '../../support/test-config';

/**
 * The probes that look for an id in every ledger shard: the same answers on a single Redis and on a Redis
 * Cluster (where the suite's cluster pass runs them), and on a single Redis one command instead of one per
 * shard (a capture used to send 32 EXISTS and 16 GETs to find its authorization and check its own id).
 */
let config: Config;
let redis: RedisClient;
let keys: string[];

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  keys = shardKeysOf(config.redis.keyPrefix).map((shard) => shard.reference('simulator:probe'));
});

afterAll(async () => {
  await purgeNamespace(config).catch(() => undefined);
  redis.disconnect();
});

afterEach(async () => {
  await Promise.all(keys.map((k) => redis.del(k)));
});

test('firstExisting gives -1 when no shard holds the key, and the first shard that does otherwise', async () => {
  expect(await firstExisting(redis, keys)).toBe(-1);
  await redis.set(keys[11], 'op-b');
  expect(await firstExisting(redis, keys)).toBe(11);
  await redis.set(keys[3], 'op-a');
  expect(await firstExisting(redis, keys)).toBe(3);
  expect(await firstExisting(redis, [])).toBe(-1);
});

test('getEach reads every shard in order, null where the key is missing', async () => {
  await redis.set(keys[0], 'op-0');
  await redis.set(keys[15], 'op-15');
  const values = await getEach(redis, keys);
  expect(values).toHaveLength(16);
  expect(values[0]).toBe('op-0');
  expect(values[15]).toBe('op-15');
  expect(values.slice(1, 15).every((v) => v === null)).toBe(true);
  expect(await getEach(redis, [])).toEqual([]);
});

test('on a single Redis, a miss costs one EXISTS and a read of all shards one MGET', async () => {
  if (isCluster(redis)) return; // each shard is its own slot there: one command per shard, by design
  const seen: string[] = [];
  const monitor = await monitorCommands(redis, (args) => {
    if (args.slice(1).some((a) => keys.includes(a))) seen.push(String(args[0]).toLowerCase());
  });
  try {
    expect(await firstExisting(redis, keys)).toBe(-1);
    await getEach(redis, keys);
    await monitor.settle();
  } finally {
    monitor.stop();
  }
  expect(seen).toEqual(['exists', 'mget']);
});

describe('rangeEachByScore', () => {
  let indexes: string[];
  beforeAll(() => {
    indexes = shardKeysOf(config.redis.keyPrefix).map((shard) => shard.unsentEvents);
  });
  afterEach(async () => {
    await Promise.all(indexes.map((k) => redis.del(k)));
  });

  test('answers as one ZRANGEBYSCORE … WITHSCORES LIMIT per key would, in key order, the limit applying to each key', async () => {
    await redis.zadd(indexes[2], 10, 'e-a', 20, 'e-b', 30, 'e-c');
    await redis.zadd(indexes[9], 15, 'e-d', 40, 'e-e');
    const pages = await rangeEachByScore(redis, indexes, '-inf', '30', 2);
    const oneByOne = await Promise.all(indexes.map((k) => redis.zrangebyscore(k, '-inf', '30', 'WITHSCORES', 'LIMIT', 0, 2)));
    expect(pages).toEqual(oneByOne);
    expect(pages[2]).toEqual(['e-a', '10', 'e-b', '20']);
    expect(pages[9]).toEqual(['e-d', '15']);
    expect(pages.filter((p) => p.length === 0)).toHaveLength(14);
    // An exclusive lower bound, as the recovery sweep's look at younger events passes it.
    expect((await rangeEachByScore(redis, indexes, '(10', '+inf', 10))[2]).toEqual(['e-b', '20', 'e-c', '30']);
    expect(await rangeEachByScore(redis, [], '-inf', '+inf', 10)).toEqual([]);
  });

  test('lowestAcrossKeys keeps the lowest scores over all shards, in score order, and reports each member read with its shard', async () => {
    await redis.zadd(indexes[1], 30, 'e-late', 5, 'e-first');
    await redis.zadd(indexes[7], 10, 'e-mid');
    await redis.zadd(indexes[15], 20, 'e-third');
    const seen: [string, number][] = [];
    const ids = await lowestAcrossKeys(redis, indexes, '-inf', '+inf', 3, (member, shard) => seen.push([member, shard]));
    expect(ids).toEqual(['e-first', 'e-mid', 'e-third']);
    expect(seen.sort()).toEqual([
      ['e-first', 1],
      ['e-late', 1],
      ['e-mid', 7],
      ['e-third', 15],
    ]);
    expect(await lowestAcrossKeys(redis, indexes, '(30', '+inf', 3, () => undefined)).toEqual([]);
  });

  test('on a single Redis, one script counts every shard and only the shards with due members are read', async () => {
    if (isCluster(redis)) return; // each shard is its own slot there: one command per shard, by design
    const seen: string[] = [];
    const monitor = await monitorCommands(redis, (args, source) => {
      if (args.slice(1).some((a) => indexes.includes(a))) seen.push(`${source === 'lua' ? 'lua ' : ''}${String(args[0]).toLowerCase()}`);
    });
    const settle = monitor.settle;
    try {
      await rangeEachByScore(redis, indexes, '-inf', '+inf', 1000);
      await settle();
      expect(seen).toEqual(['eval', ...Array(16).fill('lua zcount')]);
      seen.splice(0);
      await redis.zadd(indexes[4], 1, 'e-x');
      await redis.zadd(indexes[12], 2, 'e-y');
      await settle();
      seen.splice(0);
      const pages = await rangeEachByScore(redis, indexes, '-inf', '+inf', 1000);
      await settle();
      expect(seen.filter((c) => !c.startsWith('lua '))).toEqual(['eval', 'zrangebyscore', 'zrangebyscore']);
      expect([pages[4], pages[12]]).toEqual([
        ['e-x', '1'],
        ['e-y', '2'],
      ]);
    } finally {
      monitor.stop();
    }
  });
});

import { Redis } from 'ioredis';
import { Config } from '../../../src/config/config';
import { coalesceCommandWrites } from '../../../src/redis/command-write-coalescing';
import { whenReady } from '../../../src/redis/key-scan';
import { RedisClient, createRedis, primaries } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { onRedisCluster, testConfig } from '../../support/test-config';

/**
 * The worker's ledger connection: the commands of one tick leave each server connection in one socket write,
 * on a single Redis and (the suite's cluster pass) on every primary of a Redis Cluster.
 */
let config: Config;
const opened: RedisClient[] = [];

beforeAll(() => {
  config = testConfig();
});

afterAll(async () => {
  await purgeNamespace(config).catch(() => undefined);
  for (const redis of opened) redis.disconnect();
});

async function connection(coalesce: boolean): Promise<RedisClient> {
  const redis = createRedis(config.redis, 'commands');
  opened.push(redis);
  if (coalesce) coalesceCommandWrites(redis);
  await whenReady(redis);
  // A cluster client opens its primaries' connections as it learns the slot map; one round trip to each.
  await Promise.all(primaries(redis).map((node) => node.ping()));
  return redis;
}

/** Socket writes (`_write` for one chunk, `_writev` for several) each connection of `redis` makes while `run` runs. */
async function socketWrites<T>(redis: RedisClient, run: () => Promise<T>): Promise<{ result: T; writes: number[] }> {
  const nodes: Redis[] = primaries(redis);
  const counts = nodes.map(() => 0);
  const restore = nodes.map((node, i) => {
    const socket = node.stream as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const [write, writev] = [socket._write, socket._writev];
    socket._write = (...a) => (counts[i]++, write.apply(socket, a));
    socket._writev = (...a) => (counts[i]++, writev.apply(socket, a));
    return () => Object.assign(socket, { _write: write, _writev: writev });
  });
  try {
    return { result: await run(), writes: counts };
  } finally {
    for (const r of restore) r();
  }
}

/** 30 SETs then 30 GETs of keys spread over every primary, all sent in one tick. */
function oneTick(redis: RedisClient, tag: string): Promise<unknown[]> {
  const keys = Array.from({ length: 30 }, (_, i) => `${config.redis.keyPrefix}{wc${tag}${i}}:k`);
  return Promise.all([...keys.map((k, i) => redis.set(k, `v${i}`)), ...keys.map((k) => redis.get(k))]);
}

test('the commands of one tick leave each connection in one socket write, each answered in order', async () => {
  const redis = await connection(true);
  const { result, writes } = await socketWrites(redis, () => oneTick(redis, 'a'));
  expect(result).toEqual([...Array.from({ length: 30 }, () => 'OK'), ...Array.from({ length: 30 }, (_, i) => `v${i}`)]);
  // Each connection that carried commands wrote them once (its replies came back on the same socket).
  for (const n of writes) expect(n).toBeLessThanOrEqual(1);
  expect(writes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
});

test('without it, the same tick takes a socket write per command (what the coalescing saves)', async () => {
  const redis = await connection(false);
  const { writes } = await socketWrites(redis, () => oneTick(redis, 'b'));
  expect(writes.reduce((a, b) => a + b, 0)).toBeGreaterThan(primaries(redis).length);
});

test('commands sent before the connection is ready wait in the offline queue and are answered once it is', async () => {
  const redis = createRedis(config.redis, 'commands');
  opened.push(redis);
  coalesceCommandWrites(redis);
  const key = `${config.redis.keyPrefix}{wc-early}:k`;
  expect(await Promise.all([redis.set(key, 'early'), redis.get(key)])).toEqual(['OK', 'early']);
});

// A single server's connection reconnects itself; a cluster client opens new node connections instead, which
// the first test covers (a cluster's nodes are all opened after `coalesceCommandWrites`, through `+node`).
const singleRedis = onRedisCluster() ? test.skip : test;

singleRedis('after a reconnect the new socket is coalesced too', async () => {
  const redis = await connection(true);
  for (const node of primaries(redis)) {
    const reconnected = new Promise((resolve) => node.once('ready', resolve));
    node.disconnect(true);
    await reconnected;
  }
  const { result, writes } = await socketWrites(redis, () => oneTick(redis, 'c'));
  expect(result).toHaveLength(60);
  for (const n of writes) expect(n).toBeLessThanOrEqual(1);
});

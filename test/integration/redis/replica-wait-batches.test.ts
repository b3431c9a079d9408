import { GATEWAY_OUTCOMES_QUEUE, createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { bullReplicaProbeKey } from '../../../src/queueing/bull-prefix';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { Redis } from 'ioredis';
import { RedisClient, createRedis, isCluster } from '../../../src/redis/redis-connection';
import { REPLICA_PROBE_TTL_MS, replicaAcknowledgedKeys, replicaWaitsOf } from '../../../src/redis/replica-wait';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { hashSlot } from '../../support/hash-slot';
import { monitorCommands } from '../../support/redis-monitor';
import { onRedisCluster, testConfig } from '../../support/test-config';

/**
 * The confirmation connection's batches (src/redis/replica-wait.ts): checks that come while a `WAIT` of their
 * slot is out share the next one (a `WAIT` counts every write its connection sent before it, and the one probe
 * is written after all of theirs), each keeping its own answer; the connection closes with the main one.
 */
jest.setTimeout(30_000);

const config = testConfig();
const prefix = config.redis.keyPrefix;
const shard = shardKeysOf(prefix)[7];
const probe = { key: shard.replicaProbe, ttlMs: REPLICA_PROBE_TTL_MS };
/** The replicas the test Redis has: one per primary on the local cluster, none on a single Redis. */
const AVAILABLE = onRedisCluster() ? 1 : 0;

let redis: RedisClient;

beforeAll(() => {
  redis = createRedis(config.redis, 'commands');
});

afterAll(async () => {
  await purgeNamespace(config).catch(() => undefined);
  redis.disconnect();
});

/** The connection to watch with MONITOR: the single Redis, or the primary serving `key` on the cluster. */
function nodeServing(key: string): Redis {
  if (!isCluster(redis)) return redis;
  const [primary] = redis.slots[hashSlot(key)];
  const node = redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === primary);
  if (!node) throw new Error(`no primary known for ${key}`);
  return node;
}

it('checks queued behind a WAIT on their node share the next one, whatever their slots: three checks, two WAITs, each with its own presence', async () => {
  await redis.ping(); // the slot map known
  const node = nodeServing(probe.key);
  // Another shard on the same node (any on a single Redis): its keys go in the same batch as shard 7's.
  const other = shardKeysOf(prefix).find((keys, i) => i !== 7 && nodeServing(keys.replicaProbe) === node);
  if (!other) throw new Error('no second shard on the node of shard 7');
  const [a, b, c] = [shard.op('replica-batch-a'), other.op('replica-batch-b'), other.op('replica-batch-c')];
  await redis.set(a, '1', 'EX', 60);
  await redis.set(c, '1', 'EX', 60);
  const probes = new Set([probe.key, other.replicaProbe]);
  const sources = new Set<string>();
  const waits: string[] = [];
  const monitor = await monitorCommands(node, (args, source) => {
    if (args[0]?.toUpperCase() === 'SET' && probes.has(args[1])) sources.add(source);
    if (args[0]?.toUpperCase() === 'WAIT') waits.push(source);
  });
  try {
    // More replicas than the test Redis has: each WAIT lasts its 200 ms.
    const checks = [
      { key: a, probe },
      { key: b, probe: { ...probe, key: other.replicaProbe } },
      { key: c, probe: { ...probe, key: other.replicaProbe } },
    ];
    const results = await Promise.all(checks.map((check) => replicaAcknowledgedKeys(redis, [check.key], AVAILABLE + 1, 200, check.probe)));
    expect(results).toEqual([
      { present: true, acks: AVAILABLE },
      { present: false, acks: AVAILABLE },
      { present: true, acks: AVAILABLE },
    ]);
    await monitor.settle();
  } finally {
    monitor.stop();
  }
  // The first went alone; b and c came while its WAIT was out and went together, on the one confirmation connection.
  expect(sources.size).toBe(1);
  expect(waits.filter((source) => sources.has(source))).toHaveLength(2);
});

it("a webhook's probe is in its queue's slot, so its WAIT goes to the node of the jobs it confirms", () => {
  const queue = createGatewayOutcomesQueue(redis, prefix);
  try {
    const probeKey = bullReplicaProbeKey(prefix, GATEWAY_OUTCOMES_QUEUE);
    expect(hashSlot(probeKey)).toBe(hashSlot(queue.toKey('simulator:evt-1')));
    // Outside BullMQ's own keys, which all carry the queue's name after the prefix.
    expect(probeKey.startsWith(`${queue.toKey('')}`)).toBe(false);
  } finally {
    void queue.close();
  }
});

it('the confirmation connection closes with the main one: a check after that fails at once', async () => {
  const main = createRedis(config.redis, 'commands');
  const key = shard.op('replica-batch-close');
  expect(await replicaAcknowledgedKeys(main, [key], 0, 100, probe)).toEqual({ present: false, acks: 0 });
  const ended = new Promise((resolve) => main.once('end', resolve));
  main.disconnect();
  await ended;
  await expect(replicaWaitsOf(main).acknowledged([key], 0, 100, probe)).rejects.toThrow('replica confirmations closed');
});

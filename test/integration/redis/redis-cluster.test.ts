import { Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import { checkRedis } from '../../../src/doctor/infrastructure-checks';
import { createDeliveryQueue, DELIVERY_QUEUE } from '../../../src/delivery/delivery-queue';
import { bullPrefix } from '../../../src/queueing/bull-prefix';
import { keysMatching, unlinkMatching, whenReady } from '../../../src/redis/key-scan';
import { createRedis, isCluster, primaries, RedisClient } from '../../../src/redis/redis-connection';
import { onRedisCluster, testConfig } from '../../support/test-config';

// Runs on the local Redis Cluster only: `PB_REDIS_CLUSTER=1 npx jest test/integration/redis` (the jest
// global setup starts it: scripts/services.sh start-redis-cluster).
const onCluster = onRedisCluster() ? describe : describe.skip;

onCluster('the bridge on a Redis Cluster', () => {
  const config = testConfig();
  const prefix = config.redis.keyPrefix;
  let redis: RedisClient;

  beforeAll(async () => {
    redis = createRedis(config.redis, 'commands');
    await whenReady(redis);
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${prefix}*`);
    await redis.quit();
  });

  it('createRedis connects an ioredis Cluster that reaches the three primaries', async () => {
    expect(isCluster(redis)).toBe(true);
    expect(redis).toBeInstanceOf(Cluster);
    expect(primaries(redis)).toHaveLength(3);
  });

  it('finds and unlinks keys spread over every primary (SCAN on each, one UNLINK per slot)', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `${prefix}spread:${i}`);
    for (const k of keys) await redis.set(k, '1');
    // Keys of 60 different slots land on all three primaries.
    const perNode = await Promise.all(primaries(redis).map(async (node) => (await node.dbsize()) > 0));
    expect(perNode).toEqual([true, true, true]);
    expect((await keysMatching(redis, `${prefix}spread:*`)).sort()).toEqual([...keys].sort());
    expect(await unlinkMatching(redis, `${prefix}spread:*`)).toBe(60);
    expect(await keysMatching(redis, `${prefix}spread:*`)).toEqual([]);
  });

  it('runs a BullMQ job through the hash-tagged delivery queue (all its keys in one slot)', async () => {
    const queue = createDeliveryQueue(redis, prefix);
    const blocking = createRedis(config.redis, 'blocking');
    let received: (id: string) => void = () => undefined;
    const done = new Promise<string>((resolve) => (received = resolve));
    const worker = new Worker<{ operationId: string }>(
      DELIVERY_QUEUE,
      async (job) => {
        received(job.data.operationId);
        return 'ok';
      },
      { connection: blocking, prefix: bullPrefix(prefix, DELIVERY_QUEUE) },
    );
    try {
      await queue.add('deliver', { operationId: 'op-cluster-1' }, { jobId: 'op-cluster-1' });
      expect(await done).toBe('op-cluster-1');
    } finally {
      await worker.close();
      await queue.close();
      await blocking.quit();
    }
  });
  it('the doctor reports cluster_state:ok, and persistence and eviction on each primary', async () => {
    const results = await checkRedis(config, 5000);
    const cluster = results.find((r) => r.check === 'cluster');
    expect(cluster).toMatchObject({ status: 'OK' });
    expect(cluster?.detail).toMatch(/cluster_state:ok, 16384 of 16384 slots ok, 3 primaries, 3 replicas/);
    expect(results.filter((r) => r.check === 'persistence' && r.status === 'OK')).toHaveLength(3);
    expect(results.filter((r) => r.check === 'eviction')).toHaveLength(3);
  });

  it('the doctor fails a cluster no seed node answers, naming redis.cluster.nodes', async () => {
    const unreachable = testConfig({ 'redis.cluster.nodes': ['127.0.0.1:1'] });
    const [connect] = await checkRedis(unreachable, 2000);
    expect(connect).toMatchObject({ check: 'connect', status: 'FAIL' });
    expect(connect.fix).toMatch(/redis\.cluster\.nodes/);
  });
});

import { benchRedisChoice, benchRedisParameters } from '../../../harness/bench/bench-redis';
import { ProcessCost } from '../../../harness/bench/process-cost';
import { processesCpuMicros } from '../../../harness/bench/process-cpu';
import { localRedisClusterParameters, localRedisParameters } from '../../../harness/twins/local-stack/local-redis';

const GONE = 2 ** 22 + 12345;

describe('the bench on the single Redis or the local Redis Cluster', () => {
  it('runs on the single Redis by default, and on the cluster with redis.replica_acks when asked', () => {
    expect(benchRedisChoice({}, ['psp'])).toEqual({ kind: 'single' });
    expect(benchRedisChoice({ PB_BENCH_REDIS: 'single' }, ['raw', 'saturation'])).toEqual({ kind: 'single' });
    expect(benchRedisChoice({ PB_BENCH_REDIS: 'cluster' }, ['psp'])).toEqual({ kind: 'cluster', replicaAcks: 0 });
    expect(benchRedisChoice({ PB_BENCH_REDIS: 'cluster', PB_BENCH_REPLICA_ACKS: '1' }, ['raw', 'psp', 'scaling'])).toEqual({ kind: 'cluster', replicaAcks: 1 });
  });

  it('refuses replica acks on the single Redis, a bad count, an unknown Redis, PB_REDIS_CLUSTER alone, and phases that read the single Redis', () => {
    expect(() => benchRedisChoice({ PB_BENCH_REPLICA_ACKS: '1' }, ['psp'])).toThrow(/PB_BENCH_REPLICA_ACKS needs PB_BENCH_REDIS=cluster/);
    expect(() => benchRedisChoice({ PB_BENCH_REDIS: 'single', PB_BENCH_REPLICA_ACKS: '0' }, ['psp'])).toThrow(/needs PB_BENCH_REDIS=cluster/);
    for (const bad of ['-1', '1.5', 'one'])
      expect(() => benchRedisChoice({ PB_BENCH_REDIS: 'cluster', PB_BENCH_REPLICA_ACKS: bad }, ['psp'])).toThrow(/not a whole number/);
    expect(() => benchRedisChoice({ PB_BENCH_REDIS: 'sentinel' }, ['psp'])).toThrow(/neither single nor cluster/);
    expect(() => benchRedisChoice({ PB_REDIS_CLUSTER: '1' }, ['psp'])).toThrow(/PB_BENCH_REDIS=cluster/);
    expect(() => benchRedisChoice({ PB_BENCH_REDIS: 'cluster' }, ['psp', 'saturation', 'redis'])).toThrow(/saturation, redis read the single Redis/);
  });

  it("puts the stack on the local cluster's nodes with the drills' helper, replica acks only when given", () => {
    const env = { PB_REDIS_CLUSTER_NODES: '127.0.0.1:7001,127.0.0.1:7002' };
    const nodes = { 'redis.url': 'redis://127.0.0.1:7001', 'redis.cluster.nodes': ['127.0.0.1:7001', '127.0.0.1:7002'] };
    expect(localRedisClusterParameters({}, env)).toEqual(nodes);
    expect(localRedisClusterParameters({ replicaAcks: 1 }, env)).toEqual({ ...nodes, 'redis.replica_acks': 1 });
    expect(localRedisParameters('redis://127.0.0.1:6379', { ...env, PB_REDIS_CLUSTER: '1' })).toEqual(nodes);
    expect(localRedisParameters('redis://127.0.0.1:6379', env)).toEqual({ 'redis.url': 'redis://127.0.0.1:6379' });
    expect(benchRedisParameters({ kind: 'single' })).toEqual({});
    expect(benchRedisParameters({ kind: 'cluster', replicaAcks: 0 })).toMatchObject({ 'redis.replica_acks': 0 });
  });

  it("sums every Redis process's CPU (a cluster's nodes), and reports none when one is gone or none is known", async () => {
    const one = processesCpuMicros([process.pid]);
    expect(one).not.toBeNull();
    expect(processesCpuMicros([process.pid, process.pid]) ?? 0).toBeGreaterThanOrEqual(2 * (one ?? 0));
    expect(processesCpuMicros([process.pid, GONE])).toBeNull();
    expect(processesCpuMicros([])).toBeNull();

    const window = async (redis: number[]) => {
      const cost = new ProcessCost(
        () => [],
        () => [],
        { rabbitmq: null, redis },
        () => [],
      );
      await cost.begin();
      // 60 ms of this process's CPU (not of wall time: a loaded machine gives less), several /proc ticks of 10 ms.
      const cpu = () => ((u) => u.user + u.system)(process.cpuUsage());
      const from = cpu();
      while (cpu() - from < 60_000) Math.sqrt(Math.random());
      return (await cost.end(1)).redisCpuMicrosPerCommand;
    };
    const single = await window([process.pid]);
    const twice = await window([process.pid, process.pid]);
    expect(single).toBeGreaterThan(0);
    // The same process counted twice: about twice its CPU (at least 2 × 50 ms against at most ~80 ms).
    expect(twice).toBeGreaterThan(single ?? 0);
    expect(await window([process.pid, GONE])).toBeNull();
    expect(await window([])).toBeNull();
  });
});

import { randomBytes } from 'node:crypto';
import { ensureLocalRedisCluster } from '../../harness/twins/local-stack/local-redis';
import { noDigitRuns } from './no-digit-runs';

/**
 * Jest globalSetup: names this test run, so every namespace `testConfig()` and `testNamespace()` hand out
 * starts with `t<run>` and the global teardown can remove exactly this run's Redis keys (a parallel run
 * in another checkout on the same Redis keeps its own). With `PB_REDIS_CLUSTER=1` it also starts the local
 * Redis Cluster (a no-op when it runs already; scripts/services.sh start-redis-cluster).
 */
export default function globalSetup(): void {
  process.env.PB_TEST_RUN ??= noDigitRuns(randomBytes(3));
  ensureLocalRedisCluster();
}

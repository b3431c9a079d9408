import { createRedis } from '../../src/redis/redis-connection';
import { unlinkMatching } from '../../src/redis/key-scan';
import { stopSharedPrisms } from './prism';
import { testConfig } from './test-config';

/**
 * Jest globalTeardown: unlinks every Redis key of this run's namespaces (`t<run>*`, see global-setup.ts),
 * on every primary when the run used the local Redis Cluster. Suites that stop their own stacks purge as
 * they go; this catches the rest (ledgers, BullMQ queues and outboxes of integration tests), which
 * otherwise piled up by the thousand on a developer's Redis. It also stops the Prism mocks the run's test
 * files shared (test/support/prism.ts).
 */
export default async function globalTeardown(): Promise<void> {
  const run = process.env.PB_TEST_RUN;
  if (!run) return;
  stopSharedPrisms(run);
  const redis = createRedis(testConfig().redis, 'commands');
  redis.on('error', () => undefined);
  try {
    await unlinkMatching(redis, `t${run}*`);
  } catch {
    // Leftover keys are untidy, not wrong: never fail a green run over them.
  } finally {
    redis.disconnect();
  }
}

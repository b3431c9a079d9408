import { Queue } from 'bullmq';
import { Config } from '../../src/config/config';
import { OmsEventJobData, createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { RedisClient, createRedis } from '../../src/redis/redis-connection';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { PspSimulator, PspSimulatorOptions, startPspSimulator } from '../../harness/twins/psp-simulator/psp-simulator';
import { testConfig } from './test-config';

/** What a poller test file works on: a simulator, its namespace's configuration, Redis, the events queue. */
export interface PollerStack {
  sim: PspSimulator;
  config: Config;
  redis: RedisClient;
  eventsQueue: Queue<OmsEventJobData>;
}

/**
 * Registers the file's `beforeAll`/`afterAll`: a simulator (`simulator`), a configuration of its own namespace
 * built from the simulator's URL (`overrides`), a Redis connection and the events queue; all stopped, closed
 * and purged after the file. The object is filled in before the file's tests run.
 */
export function usePollerStack(simulator: PspSimulatorOptions, overrides: (simUrl: string) => Record<string, unknown>): PollerStack {
  const stack = {} as PollerStack;
  beforeAll(async () => {
    stack.sim = await startPspSimulator(simulator);
    stack.config = testConfig(overrides(stack.sim.url));
    stack.redis = createRedis(stack.config.redis, 'commands');
    stack.eventsQueue = createOmsEventsQueue(stack.redis, stack.config.redis.keyPrefix);
  });
  afterAll(async () => {
    await stack.eventsQueue.close();
    stack.redis.disconnect();
    await stack.sim.stop();
    await purgeNamespace(stack.config).catch(() => undefined);
  });
  return stack;
}

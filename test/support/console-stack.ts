import { Config } from '../../src/config/config';
import { silentLogger } from '../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../src/processes/web-process';
import { RedisClient } from '../../src/redis/redis-connection';
import { amqpClient } from './amqp-helpers';
import { testConfig } from './test-config';
import { testRedis } from './test-redis';

/** The console password of {@link startConsoleStack} unless the overrides give another. */
export const CONSOLE_PASSWORD = 'console-test-password-0123';

/** A web process with its console on a port of its own, in a namespace of its own. */
export interface ConsoleStack {
  config: Config;
  web: WebProcess;
  /** The console's URL (`console.path` on its listener). */
  base: string;
  redis: RedisClient;
  /** Stops the web process, closes Redis and deletes the namespace's queues. */
  stop(): Promise<void>;
}

/** Starts a web process with the console enabled (`console.password` {@link CONSOLE_PASSWORD}), with `overrides` on top. */
export async function startConsoleStack(overrides: Record<string, unknown> = {}): Promise<ConsoleStack> {
  const config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': CONSOLE_PASSWORD, ...overrides });
  const web = await startWebProcess(config, silentLogger());
  const redis = testRedis(config);
  return {
    config,
    web,
    base: web.consoleUrl as string,
    redis,
    stop: async () => {
      await web.stop();
      redis.disconnect();
      const client = await amqpClient(config);
      await client.deleteNamespace();
      await client.close();
    },
  };
}

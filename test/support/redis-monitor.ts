import { Redis } from 'ioredis';
import { RedisClient } from '../../src/redis/redis-connection';

/** A MONITOR connection watching what the server runs, for tests that count the commands a read costs. */
export interface CommandMonitor {
  /** Waits until the server has shown every command sent before it (a PING's reply, then 50 ms). */
  settle(): Promise<void>;
  /** Closes the monitor connection. */
  stop(): void;
}

/**
 * Opens a MONITOR connection beside `redis` (single Redis only) and calls `onCommand` with each command the
 * server runs, from any client: filter on keys of your own. Lines still arriving once `stop` closed it are
 * reported by ioredis as a "command queue state error" on the monitor connection; on a Redis busy with other
 * test files there can be many, and they say nothing about the test, so they are ignored.
 */
export async function monitorCommands(redis: RedisClient, onCommand: (args: string[], source: string) => void): Promise<CommandMonitor> {
  const monitor = await (redis as Redis).monitor();
  monitor.on('error', () => undefined);
  monitor.on('monitor', (_time: string, args: string[], source: string) => onCommand(args, source));
  return {
    settle: async () => {
      await redis.ping();
      await new Promise((r) => setTimeout(r, 50));
    },
    stop: () => monitor.disconnect(),
  };
}

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
 * server runs, from any client: filter on keys of your own.
 *
 * Not `redis.monitor()`: ioredis marks the connection as monitoring one promise turn after MONITOR's OK, so
 * on a Redis busy with other test files the lines that arrive with the OK (and those still arriving once
 * `stop` closed it) are each a "command queue state error" on the connection, the first one rejecting
 * `monitor()` and the next ones thrown for want of a listener. They are other clients' commands from before
 * the watch began or after it ended: ignored here, with the listener on before the connection opens.
 */
export async function monitorCommands(redis: RedisClient, onCommand: (args: string[], source: string) => void): Promise<CommandMonitor> {
  const monitor = (redis as Redis).duplicate({ monitor: true, lazyConnect: true });
  monitor.on('error', () => undefined);
  const ready = new Promise<void>((resolve) => monitor.once('monitoring', () => resolve()));
  await monitor.connect();
  await ready;
  monitor.on('monitor', (_time: string, args: string[], source: string) => onCommand(args, source));
  return {
    settle: async () => {
      await redis.ping();
      await new Promise((r) => setTimeout(r, 50));
    },
    stop: () => monitor.disconnect(),
  };
}

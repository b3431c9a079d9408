import Redis from 'ioredis';
import { RedisClient } from '../../src/redis/redis-connection';

/** Commands per name, from `INFO commandstats` (`cmdstat_<name>:calls=N,…`). */
export async function commandStats(redis: RedisClient): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1], Number(match[2]));
  return calls;
}

/** Total of `after − before` over every command name. */
export function commandStatsDelta(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [name, n] of after) total += n - (before.get(name) ?? 0);
  return total;
}

/** A running `MONITOR` that counts the commands touching one key prefix, by command name. */
export interface PrefixMonitor {
  /** Commands executed so far whose arguments mention the prefix, including those a Lua script ran. */
  readonly total: () => number;
  readonly byCommand: () => Map<string, number>;
  /** Of those, the ones a client sent: round trips (an EVALSHA is one, whatever its script runs). */
  readonly roundTrips: () => number;
  /** Why the MONITOR connection failed (the counts are then incomplete), else undefined. */
  readonly lost: () => string | undefined;
  stop(): Promise<void>;
}

/**
 * Counts, with Redis `MONITOR`, the commands whose arguments mention `prefix` (our namespace's key
 * prefix): unlike `INFO commandstats` this ignores other clients of a shared Redis. Commands without a
 * key (PING, CLIENT SETNAME, INFO) are not counted. MONITOR slows Redis down, so run it only over a short,
 * paced sample, never over a throughput measurement. MONITOR also shows the calls a Lua script makes
 * (source `lua`): they count as executed commands, not as round trips.
 */
export async function monitorPrefix(url: string, prefix: string): Promise<PrefixMonitor> {
  const client = new Redis(url, { lazyConnect: true });
  await client.connect();
  const monitor = await client.monitor();
  const counts = new Map<string, number>();
  let total = 0;
  let roundTrips = 0;
  let lost: string | undefined;
  // ioredis can lose track of a MONITOR stream on a busy shared Redis ("Command queue state error"); without a
  // listener that error would end the whole bench, so it only marks this sample as incomplete.
  const fail = (err: Error) => {
    lost ??= err.message.slice(0, 80);
  };
  monitor.on('error', fail);
  client.on('error', fail);
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!args.some((a) => typeof a === 'string' && a.includes(prefix))) return;
    const name = String(args[0]).toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    total += 1;
    if (source !== 'lua') roundTrips += 1;
  });
  return {
    total: () => total,
    byCommand: () => new Map(counts),
    roundTrips: () => roundTrips,
    lost: () => lost,
    stop: async () => {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

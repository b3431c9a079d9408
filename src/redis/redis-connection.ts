import Redis from 'ioredis';
import { Logger } from '../logging/logger';

/**
 * Redis connections, by use:
 * - `commands`: ledger and queue producers. A command fails fast (one retry) when Redis is down, so the
 *   caller decides (hold the message and retry, answer 503…) instead of piling up in memory.
 * - `blocking`: BullMQ workers, which need `maxRetriesPerRequest: null` for their blocking reads.
 */
export function createRedis(url: string, use: 'commands' | 'blocking', logger?: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: use === 'blocking' ? null : 1,
    enableReadyCheck: true,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    // A server that accepts connections and drops them (a proxy or load balancer in front of a dead
    // Redis) resets ioredis' retry count on every connect, so a queued command would wait forever.
    ...(use === 'commands' ? { commandTimeout: 5000 } : {}),
    lazyConnect: false,
  });
  let lastLog = 0;
  redis.on('error', (err: Error) => {
    // A down Redis emits an error per reconnect attempt; one line per 10 s is enough for an operator.
    const now = Date.now();
    if (now - lastLog > 10000) {
      lastLog = now;
      logger?.warn('redis connection error', { error: err.message, use });
    }
  });
  return redis;
}

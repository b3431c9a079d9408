import { shardKeysOf } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { configProblems } from '../health/config-problems';
import { ReadinessCheck } from '../health/health-route';
import { startMonitoringServer } from '../health/monitoring-server';
import { edgeAccessFor } from '../web/edge-access';
import { WebServer } from '../web/web-server';
import { LogThrottle } from '../logging/log-throttle';
import { Logger } from '../logging/logger';

/** `redis`: the server answers PING. */
export function redisCheck(redis: RedisClient): ReadinessCheck {
  return async () => {
    await redis.ping();
  };
}

/** `started`: the role finished starting (Redis answered, consumers attached). */
export function startedCheck(isStarted: () => boolean): ReadinessCheck {
  return async () => {
    if (!isStarted()) throw new Error('still starting (waiting for Redis or RabbitMQ)');
  };
}

/** `event_lag`: the oldest event not yet accepted by the bus is younger than `monitoring.ready_max_event_lag_ms`. */
export function eventLagCheck(config: Config, redis: RedisClient): ReadinessCheck {
  return async () => {
    // The oldest of each shard's unsent index (src/redis/key-layout.ts), read together.
    const heads = await Promise.all(shardKeysOf(config.redis.keyPrefix).map((keys) => redis.zrange(keys.unsentEvents, 0, 0, 'WITHSCORES')));
    const scores = heads.filter((h) => h.length >= 2).map((h) => Number(h[1]));
    if (scores.length === 0) return;
    const lagMs = Date.now() - Math.min(...scores);
    if (lagMs > config.monitoring.readyMaxEventLagMs)
      throw new Error(`oldest unsent event is ${lagMs} ms old (monitoring.ready_max_event_lag_ms ${config.monitoring.readyMaxEventLagMs})`);
  };
}

/** `gateways`: no gateway breaker of this process is open or half-open. */
export function breakersCheck(states: () => ReadonlyMap<string, string>): ReadinessCheck {
  return async () => {
    const open = [...states()].filter(([, s]) => s !== 'closed').map(([g, s]) => `${g} ${s}`);
    if (open.length > 0) throw new Error(`breaker not closed: ${open.join(', ')}`);
  };
}

/** `configuration`: no permanent misconfiguration found while working (see `ConfigProblems`). */
export function configurationCheck(): ReadinessCheck {
  return async () => {
    const open = configProblems.list();
    if (open.length > 0) throw new Error(open.map((p) => `${p.kind.replace(/_/g, ' ')} (${p.gateway}): fix ${p.key}`).join('; '));
  };
}

/**
 * Waits until Redis answers PING, trying every `everyMs`; a role is not started (no "started" line, not
 * ready) before that. One warning per minute while it waits. Rejects when `signal` aborts (SIGTERM while
 * waiting), so a worker with an unreachable Redis still stops at once.
 */
export async function waitForRedis(redis: RedisClient, logger: Logger, signal?: AbortSignal, everyMs = 1000): Promise<void> {
  const throttle = new LogThrottle(logger);
  const started = Date.now();
  for (;;) {
    if (signal?.aborted) throw new Error('stopped while waiting for Redis');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${everyMs} ms`)), everyMs);
        }),
      ]);
      return;
    } catch (err) {
      throttle.warn('redis', 'waiting for Redis before starting (rate-limited: one line per minute)', {
        error: (err as Error).message,
        waited_ms: Date.now() - started,
      });
    } finally {
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, everyMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/**
 * How a role without a web server of its own comes up: its monitoring port first (when `port` > 0; while
 * Redis is away it answers `/healthz` and a not-ready `/readyz`), logged as `<role> monitoring port
 * listening`, then {@link waitForRedis}. Told to stop while waiting, it closes the port and the Redis
 * connection before rethrowing, so nothing stays open.
 * @returns the monitoring server, or null when the port is off (0).
 */
export async function startMonitoringAndWaitForRedis(options: {
  role: 'worker' | 'poller';
  config: Config;
  logger: Logger;
  redis: RedisClient;
  port: number;
  checks: Record<string, ReadinessCheck>;
  signal?: AbortSignal;
}): Promise<WebServer | null> {
  const { config, logger, redis } = options;
  const monitoring =
    options.port > 0
      ? await startMonitoringServer({
          host: config.monitoring.host,
          access: edgeAccessFor(config, logger),
          limits: config.edge,
          port: options.port,
          logger,
          checks: options.checks,
        })
      : null;
  if (monitoring) logger.info(`${options.role} monitoring port listening`, { url: monitoring.url, paths: ['/metrics', '/healthz', '/readyz'] });
  try {
    await waitForRedis(redis, logger, options.signal);
  } catch (err) {
    await monitoring?.close();
    redis.disconnect();
    throw err;
  }
  return monitoring;
}

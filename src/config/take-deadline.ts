import type { Config } from './config';
import { REDIS_COMMAND_TIMEOUT_MS } from '../redis/redis-config';

/**
 * The take deadline for a configuration: `rate_limits.take_deadline_ms` (500 by default), plus on a Redis
 * Cluster its client's retry delay (`redis.cluster.retry_delay_ms`, 400 by default): one retry after a failover
 * or CLUSTERDOWN is a slow answer, not an outage, and the limit should still apply to it. Past it a take counts
 * as Redis not answering: its commands go on unlimited (`pb_rate_limit_unavailable_total`, the `rate limit not
 * checked` warn line), so a Redis that accepts and never answers (a Cluster client queueing commands while every
 * node is down, a hung server) never holds a pair's commands for the client's command timeout. Its answer, if it
 * comes later, is dropped: the tokens it took are lost to the bucket (fewer commands go through, never more).
 * A take's retries after error replies fit within it too (see `RateLimiter`). At most
 * {@link REDIS_COMMAND_TIMEOUT_MS}: {@link takeDeadlineProblems} refuses a configuration past it.
 */
export function takeDeadlineMs(config: Pick<Config, 'redis' | 'rateLimits'>): number {
  return config.rateLimits.takeDeadlineMs + (config.redis.cluster?.retryDelayMs ?? 0);
}

/** The schema's least `rate_limits.take_deadline_ms`. */
const MIN_TAKE_DEADLINE_MS = 50;

/**
 * A take deadline past the Redis client's command timeout is never reached: the take fails first as "Command
 * timed out" (counted as an outage, not as the deadline), and the Cluster's retry delay it was to allow for is
 * not waited out. The schema bounds `rate_limits.take_deadline_ms` by the timeout; on a Cluster the retry delay
 * comes on top, which only a rule over both keys can check.
 */
export function takeDeadlineProblems(config: Pick<Config, 'redis' | 'rateLimits'>): Array<[key: string, problem: string]> {
  const cluster = config.redis.cluster;
  if (cluster === undefined || takeDeadlineMs(config) <= REDIS_COMMAND_TIMEOUT_MS) return [];
  const room = REDIS_COMMAND_TIMEOUT_MS - cluster.retryDelayMs;
  const fix =
    room >= MIN_TAKE_DEADLINE_MS
      ? `set rate_limits.take_deadline_ms at most ${room}, or lower redis.cluster.retry_delay_ms`
      : 'lower redis.cluster.retry_delay_ms';
  return [
    [
      'rate_limits.take_deadline_ms',
      `(${config.rateLimits.takeDeadlineMs}) plus redis.cluster.retry_delay_ms (${cluster.retryDelayMs}) is the take deadline on a Redis Cluster (${takeDeadlineMs(config)} ms), which must not exceed the Redis client's ${REDIS_COMMAND_TIMEOUT_MS} ms command timeout (a take would time out before it): ${fix}`,
    ],
  ];
}

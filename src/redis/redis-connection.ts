import { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { Logger } from '../logging/logger';
import { RedisConfig, REDIS_COMMAND_TIMEOUT_MS } from './redis-config';

/**
 * A connection to the bridge's Redis: one server (`Redis`) or a Redis Cluster (`Cluster`), whichever the
 * configuration names. Both carry the same command API (commands, `pipeline`, `multi`, `defineCommand`,
 * `quit`); code that must know (scanning every primary, `CLUSTER INFO`) tells them apart with
 * {@link isCluster}.
 */
export type RedisClient = Redis | Cluster;

/** What {@link createRedis} connects to: the `redis` section of the configuration, or a single server's URL. */
export type RedisTarget = RedisConfig | string;

/** True when the client talks to a Redis Cluster. */
export function isCluster(redis: RedisClient): redis is Cluster {
  return (redis as Cluster).isCluster === true;
}

/**
 * The servers holding keys: a single Redis itself, every primary of a cluster (a SCAN or a KEYS must ask each,
 * since each holds only its own slots' keys).
 */
export function primaries(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}

/** What a connection is for; see {@link createRedis}. */
export type RedisUse = 'commands' | 'blocking' | 'probe';

/**
 * Redis connections, by use:
 * - `commands`: ledger and queue producers. A command fails fast (one retry) when Redis is down, so the
 *   caller decides (hold the message and retry, answer 503…) instead of piling up in memory.
 * - `blocking`: BullMQ workers, which need `maxRetriesPerRequest: null` for their blocking reads.
 * - `probe`: one look (the doctor): not connected until `connect()`, no reconnection, no retry, no offline
 *   queue, no ready check (so a cluster whose state is not ok can still be asked why), `timeoutMs` (default
 *   5000) for the connect and each command.
 *
 * With `redis.cluster.nodes` set, the connection is an ioredis `Cluster` seeded with those nodes: reads and
 * writes go to the primaries only (`scaleReads: master`: a replica may lag, and the ledger reads its own
 * writes), a command that meets a closed connection or `CLUSTERDOWN` (a primary failing over) is retried
 * every `redis.cluster.retry_delay_ms` up to `redis.cluster.max_redirections` times, so it rides out a
 * failover instead of failing, and the slot map is refreshed every `redis.cluster.slots_refresh_interval_ms`
 * as well as on every MOVED. `ready` waits for CLUSTER INFO to say `cluster_state:ok`.
 */
export function createRedis(target: RedisTarget, use: RedisUse, logger?: Logger, options: { timeoutMs?: number } = {}): RedisClient {
  const config: RedisConfig = typeof target === 'string' ? { url: target, keyPrefix: '', cluster: undefined } : target;
  const timeoutMs = options.timeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
  const nodeOptions: RedisOptions = {
    maxRetriesPerRequest: use === 'blocking' ? null : use === 'probe' ? 0 : 1,
    enableReadyCheck: use !== 'probe',
    connectTimeout: timeoutMs,
    // A server that accepts connections and drops them (a proxy or load balancer in front of a dead
    // Redis) resets ioredis' retry count on every connect, so a queued command would wait forever.
    ...(use !== 'blocking' ? { commandTimeout: timeoutMs } : {}),
  };
  const probe = use === 'probe';
  const redis: RedisClient = config.cluster
    ? new Cluster([...config.cluster.nodes], {
        ...clusterOptions(config, nodeOptions),
        ...(probe ? { lazyConnect: true, enableReadyCheck: false, enableOfflineQueue: false, clusterRetryStrategy: () => null } : {}),
      })
    : new Redis(config.url, {
        ...nodeOptions,
        ...(probe
          ? { lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false }
          : { lazyConnect: false, retryStrategy: (times: number) => Math.min(times * 100, 2000) }),
      });
  logErrors(redis, use, logger);
  loggers.set(redis, logger);
  if (config.cluster) {
    redis.on('+node', (node: Redis) => logger?.info('redis cluster node added', { node: nodeName(node) }));
    redis.on('-node', (node: Redis) => logger?.warn('redis cluster node removed', { node: nodeName(node) }));
  }
  return redis;
}

/** The logger each connection {@link createRedis} made logs to, for the connections {@link duplicateRedis} makes of it. */
const loggers = new WeakMap<RedisClient, Logger | undefined>();

function logErrors(redis: RedisClient, use: string, logger?: Logger): void {
  let lastLog = 0;
  redis.on('error', (err: Error) => {
    // A down Redis emits an error per reconnect attempt; one line per 10 s is enough for an operator.
    const now = Date.now();
    if (now - lastLog > 10000) {
      lastLog = now;
      logger?.warn('redis connection error', { error: err.message, use, cluster: isCluster(redis) });
    }
  });
}

/**
 * Another connection like `redis` (ioredis `duplicate()`): the same server, or the same cluster with its own
 * slot map, so it reconnects and follows failovers as `redis` does; its errors logged as `redis`'s are (to the
 * logger {@link createRedis} was given), under `use`. `extraCommandTimeoutMs` (default 0) lengthens `redis`'s
 * command timeout, for commands that may block on the server (a `WAIT`) that long.
 */
export function duplicateRedis(redis: RedisClient, use: string, extraCommandTimeoutMs = 0): RedisClient {
  const longer = (timeout: number | undefined) => (timeout === undefined ? {} : { commandTimeout: timeout + extraCommandTimeoutMs });
  const copy: RedisClient = isCluster(redis)
    ? redis.duplicate([], { redisOptions: { ...redis.options.redisOptions, ...longer(redis.options.redisOptions?.commandTimeout) } })
    : redis.duplicate(longer(redis.options.commandTimeout));
  logErrors(copy, use, loggers.get(redis));
  return copy;
}

function clusterOptions(config: RedisConfig, nodeOptions: RedisOptions): ClusterOptions {
  const cluster = config.cluster;
  if (!cluster) throw new Error('clusterOptions without redis.cluster');
  // The user, password and TLS (rediss://) of redis.url apply to every node; its host and port do not.
  const url = new URL(config.url);
  const credentials: RedisOptions = {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return {
    enableReadyCheck: true,
    scaleReads: 'master',
    retryDelayOnFailover: cluster.retryDelayMs,
    retryDelayOnClusterDown: cluster.retryDelayMs,
    retryDelayOnMoved: cluster.retryDelayOnMovedMs,
    maxRedirections: cluster.maxRedirections,
    slotsRefreshInterval: cluster.slotsRefreshIntervalMs,
    slotsRefreshTimeout: 2000,
    // When no node answers at all, the same backoff as a single Redis reconnecting.
    clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
    redisOptions: { ...nodeOptions, ...credentials },
  };
}

/** `host:port` of a node, for logs and the doctor. */
export function nodeName(node: Redis): string {
  return `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
}

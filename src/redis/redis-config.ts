/**
 * The command timeout of the `commands` and `probe` connections (`createRedis`'s default `timeoutMs`), ms:
 * a command unanswered this long fails with "Command timed out". Waits of our own on such a command (the
 * rate-limit take deadline, see `rate_limits.take_deadline_ms`) must end within it to ever be reached.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5000;

/**
 * Where the ledger and the queues live: one Redis (`url`), or a Redis Cluster (`cluster`, seeded with its
 * nodes) when `redis.cluster.nodes` is set.
 */
export interface RedisConfig {
  /**
   * A single Redis, `redis://[user:password@]host:port[/db]` (`rediss://` for TLS). With a cluster, only its
   * user, password and scheme are used (for every node).
   */
  readonly url: string;
  /** Prefix of every key the bridge writes. Default `pb:`. */
  readonly keyPrefix: string;
  /** Redis Cluster; undefined (the default: `redis.cluster.nodes` empty) for a single Redis at `url`. */
  readonly cluster: RedisClusterConfig | undefined;
  /**
   * `redis.replica_acks` (replicas) and `redis.replica_ack_timeout_ms` (timeoutMs, default 1000): a new
   * operation's record, and an outcome's move and event, must be acknowledged by that many replicas (`WAIT`)
   * before they are acted on (the PSP call, the queue, the ack; the OMS told); otherwise the write is made again
   * (the message held, the job retried). See src/ledger/replica-acks.ts. The `WAIT`s run on a connection of
   * their own (src/redis/replica-wait.ts): one a lagging replica holds up delays only the writes waiting for it.
   * Redis replicates asynchronously: a primary that was frozen or cut off while its replica was promoted serves
   * what its clients sent meanwhile, acknowledges it and then drops it when it rejoins as a replica, so a command
   * acked on such a record was lost and a payment sent on it never reported. Undefined (the default,
   * `redis.replica_acks: 0`): no wait, for a Redis without replicas. Set 1 on a Redis Cluster or a primary with
   * replicas.
   */
  readonly replicaAcks?: { readonly replicas: number; readonly timeoutMs: number };
}

/** A Redis Cluster connection (ioredis `Cluster`, reads and writes on the primaries). */
export interface RedisClusterConfig {
  /** Seed nodes, `host:port`; the client discovers the rest (CLUSTER SLOTS). At least one. */
  readonly nodes: readonly string[];
  /**
   * Delay before a command that met a closed connection or CLUSTERDOWN (a primary failing over) is retried,
   * milliseconds. Default 400: with `maxRedirections` 16, a command waits out about 6.4 s, longer than a
   * failover at a cluster-node-timeout of 2-3 s.
   */
  readonly retryDelayMs: number;
  /**
   * Delay before a command answered MOVED is sent to the node named, milliseconds. Default 100 (ioredis: 0). During
   * a failover the nodes disagree for a few seconds on who serves a slot; without a delay a command bouncing
   * between them spends its `maxRedirections` in milliseconds ("Too many Cluster redirections").
   */
  readonly retryDelayOnMovedMs: number;
  /** Retries (MOVED, ASK, closed connection, CLUSTERDOWN) of one command before it fails. Default 16. */
  readonly maxRedirections: number;
  /** How often the slot map is read again, besides on every MOVED, milliseconds. Default 5000. */
  readonly slotsRefreshIntervalMs: number;
}

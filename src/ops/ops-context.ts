import { Writable } from 'node:stream';
import { RedisClient } from '../redis/redis-connection';
import { AmqpConnection, nodeOf } from '../amqp/amqp-connection';
import { connectionDropped } from '../amqp/broker-deadline';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { declareTopology } from '../amqp/topology';
import { AuditLog } from '../audit/audit-log';
import { Config } from '../config/config';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { createRedis } from '../redis/redis-connection';
import { DeadLetterReplay } from './dead-letter-replay';
import { moveDeadLetters } from './dead-letter-archiver';
import { ARCHIVE_BATCH, DeadLetterStore, ParkedDeadLetter } from './dead-letter-store';
import { OperationsView } from './operations-view';
import { UnparkResult, unparkDeadLetters } from './dead-letter-unpark';

/** Everything the operator's tools (the `ops` CLI, the console) read and act through. */
export interface OpsContext {
  config: Config;
  redis: RedisClient;
  ledger: Ledger;
  operations: OperationsView;
  deadLetters: DeadLetterStore;
  replay: DeadLetterReplay;
  audit: AuditLog;
  /** The tool's logger (the CLI's writes warnings and above to stderr): where an operator's action that changes money is logged. */
  logger: Logger;
  /**
   * Moves new dead letters from the queue into the archive (at most `limit`, default 1000), on a connection to the
   * broker of its own (dropped if the broker stops answering, closed after). The workers do this every `amqp.dead_letter_archive_interval_ms`; this is the
   * operator's "now" (`ops dead-letters`, the console's archive button).
   * `parked`: those that could not be archived as they are, kept whole in the parking queue (see
   * `DeadLetterStore.importFromQueue`); `replaced`: their stand-ins removed, as the dead letters they stood for
   * were archived as they are; `duplicates`: second dead letters of a message already archived, kept as its one record.
   * @throws when the broker cannot be reached within `amqp.publish_timeout_ms`.
   */
  importDeadLetters(
    limit?: number,
  ): Promise<{ moved: number; created: number; dropped: number; parked: ParkedDeadLetter[]; replaced: number; duplicates: number }>;
  /**
   * Moves parked dead letters back to the dead-letter queue (`unparkDeadLetters`: at most `limit`, confirmed there
   * before each leaves the parking queue), or with `execute` false only reads what it would move; on a connection
   * to the broker of its own (dropped if the broker stops answering, closed after). The next archiving pass takes what it moved.
   * @throws when the broker cannot be reached within `amqp.publish_timeout_ms`.
   */
  unparkDeadLetters(options: { limit: number; execute: boolean }): Promise<UnparkResult>;
  /**
   * Closes the broker connections (the replay's, and those of the archive-nows and unparks under way, which then
   * fail: each close bounded by `amqp.publish_timeout_ms`) and Redis when it is the context's own. No action opens
   * a connection after it.
   */
  close(): Promise<void>;
}

/**
 * Opens the operator's context on the configured Redis and (lazily, only for dead-letter imports and
 * executed replays) RabbitMQ. `audit.service` names the tool on its audit lines (`ops`, `web`).
 * An existing Redis connection (the web process') can be passed and is then not closed here.
 */
export function openOps(
  config: Config,
  logger: Logger,
  options: { service: string; redis?: RedisClient; auditStream?: Writable } = { service: 'ops' },
): OpsContext {
  const ownRedis = options.redis === undefined;
  const redis = options.redis ?? createRedis(config.redis, 'commands', logger);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const audit = new AuditLog({
    redis,
    prefix: config.redis.keyPrefix,
    maxLen: config.audit.streamMaxLen,
    service: options.service,
    stream: options.auditStream,
  });
  const deadLetters = DeadLetterStore.forConfig(redis, config);
  let connection: AmqpConnection | null = null;
  let publisher: ConfirmPublisher | null = null;
  /**
   * Index in `amqp.urls` of the node a connection of its own tries first: where the last one worked. Each is new, so
   * without it every action would start at the first node, one gone silent included (a connect to it waits past the
   * bound): on a cluster the shared connection goes on with the next node; this does the same across actions.
   */
  let firstNode = 0;
  /** The connections of the actions under way: `close()` closes them too (a stop does not wait for a long archive-now). */
  const owned = new Set<AmqpConnection>();
  let closed = false;
  const nodeNotAnswered = (node: number, what: 'connect' | 'call'): void => {
    const nodes = config.amqp.urls.length;
    if (nodes < 2) return;
    firstNode = (node + 1) % nodes;
    logger.warn('rabbitmq node did not answer a dead-letter action: the next one connects to the next node first', {
      node: nodeOf(config.amqp.urls[node]),
      next_node: nodeOf(config.amqp.urls[firstNode]),
      what,
    });
  };
  /**
   * Runs `work` on a connection of its own, opened within `amqp.publish_timeout_ms` and closed after (bounded the
   * same way). The archive-now and the unpark drop their connection when the broker does not answer one of their
   * calls (a silent node: the drop moves to the next one, and the broker requeues what the call got): on the
   * context's connection that would end a replay's publish under way on it too (the console serves several
   * operators at once), so they never use it.
   */
  const onOwnConnection = async <T>(work: (own: AmqpConnection) => Promise<T>): Promise<T> => {
    if (closed) throw new DependencyUnavailableError('rabbitmq', 'connection closed');
    const own = new AmqpConnection({
      urls: config.amqp.urls,
      reconnectMs: config.amqp.reconnectMs,
      name: `payment-bridge:${options.service}:dead-letters`,
      logger,
      closeTimeoutMs: config.amqp.publishTimeoutMs,
      firstNode,
    });
    owned.add(own);
    try {
      try {
        await within(own.connect(), config.amqp.publishTimeoutMs);
      } catch (err) {
        // Its connect, which would have gone on to the next node, goes with it: the next action starts there.
        nodeNotAnswered(firstNode, 'connect');
        throw err;
      }
      const model = own.current();
      try {
        return await work(own);
      } finally {
        // Dropped (a call not answered) or lost: the node went silent, as a shared connection would, the next action
        // goes on with the next node; otherwise it starts where this one worked.
        if (connectionDropped(model) || !own.connected) nodeNotAnswered(own.nodeIndex, 'call');
        else firstNode = own.nodeIndex;
      }
    } finally {
      owned.delete(own);
      await own.close();
    }
  };
  const connected = async (): Promise<{ connection: AmqpConnection; publisher: ConfirmPublisher }> => {
    if (!connection || !publisher) {
      connection = new AmqpConnection({
        urls: config.amqp.urls,
        reconnectMs: config.amqp.reconnectMs,
        name: `payment-bridge:${options.service}`,
        logger,
        // A broker gone silent must not hold the command's exit.
        closeTimeoutMs: config.amqp.publishTimeoutMs,
      });
      publisher = new ConfirmPublisher(connection, config.amqp.publishTimeoutMs, (ch) => declareTopology(ch, config.amqp));
    }
    const c = connection;
    await within(c.connect(), config.amqp.publishTimeoutMs);
    return { connection: c, publisher };
  };
  // The replay publishes through a publisher that connects on first use.
  const lazyPublisher = {
    publish: async (...args: Parameters<ConfirmPublisher['publish']>) => (await connected()).publisher.publish(...args),
  } as unknown as ConfirmPublisher;
  const replay = new DeadLetterReplay({ config, store: deadLetters, ledger, audit, publisher: lazyPublisher });
  return {
    config,
    redis,
    ledger,
    operations: new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)),
    deadLetters,
    replay,
    audit,
    logger,
    importDeadLetters: async (limit = ARCHIVE_BATCH) => {
      const { moved, created, dropped, parked, replaced, duplicates } = await onOwnConnection((own) =>
        // A connection of its own (no consumer on it, nothing else under way on it): one the broker stopped answering is dropped.
        moveDeadLetters(
          { store: deadLetters, connection: own, amqp: config.amqp, logger, onTimeout: 'drop' },
          options.service === 'ops' ? 'ops' : 'console',
          limit,
        ),
      );
      return { moved, created, dropped, parked, replaced, duplicates };
    },
    unparkDeadLetters: async ({ limit, execute }) => {
      const result = await onOwnConnection((own) => unparkDeadLetters(own, config.amqp, { limit, execute }));
      if (execute && (result.messages.length > 0 || result.failure))
        logger.info('parked dead letters moved back to the dead-letter queue', {
          moved: result.messages.length,
          parked: result.parked,
          queue: result.queue,
          ...(result.failure ? { failure: result.failure } : {}),
        });
      return result;
    },
    close: async () => {
      closed = true;
      const p = publisher as ConfirmPublisher | null;
      const c = connection as AmqpConnection | null;
      // Side by side, each bounded by amqp.publish_timeout_ms: an action under way then fails on its closed connection.
      await Promise.all([...owned].map((own) => own.close()));
      if (p) await p.close();
      if (c) await c.close();
      if (ownRedis) redis.disconnect();
    },
  };
}

/** Resolves when `connecting` does, or rejects once `ms` passed: a broker that does not answer must not hold an operator's action. */
async function within(connecting: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      connecting,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`RabbitMQ did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

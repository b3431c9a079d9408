import { Queue } from 'bullmq';
import { deadLetterStampKey } from '../../src/amqp/dead-letter-stamp';
import { RedisClient } from '../../src/redis/redis-connection';
import { AmqpConnection } from '../../src/amqp/amqp-connection';
import { BrokerDeadLetterRedactor } from '../../src/amqp/broker-dead-letter-redactor';
import { ConfirmPublisher } from '../../src/amqp/confirm-publisher';
import { DeadLetterWriter } from '../../src/amqp/dead-letter-writer';
import { DeadLetterOnce, deadLetterClaimMs } from '../../src/amqp/dead-letter-once';
import { DeadLetterTriage } from '../../src/amqp/dead-letter-triage';
import { declareTopology } from '../../src/amqp/topology';
import { Config } from '../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../src/delivery/delivery-queue';
import { EventStore } from '../../src/events/event-store';
import { createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { CommandConsumer } from '../../src/intake/command-consumer';
import { Ledger } from '../../src/ledger/ledger';
import { Logger } from '../../src/logging/logger';
import { buildOrchestrationPipeline } from '../../src/orchestration/orchestration-stages';
import { buildOutcomeRecorder } from '../../src/poller/outcome-recorder-wiring';
import { createRedis } from '../../src/redis/redis-connection';
import { RateLimiter } from '../../src/admission/rate-limiter';
import type { ActionCompletion } from '../../src/delivery/action-completion';

/** The command consumer alone, as the intake tests need it. */
export interface IntakeProcess {
  consumer: CommandConsumer;
  ledger: Ledger;
  deliveryQueue: Queue<DeliveryJobData>;
  events: EventStore;
  redis: RedisClient;
  /** The redaction of what the broker dead-letters by itself, started with the consumer. */
  brokerDeadLetters: BrokerDeadLetterRedactor;
  /** The AMQP connection the consumer and the redactor share (its `lost` and `ready` events). */
  connection: AmqpConnection;
  stop(): Promise<void>;
}

/**
 * Intake alone, composed from the product's pieces: the command consumer on the real RabbitMQ and Redis,
 * plus the redaction of what the broker dead-letters by itself, without inline delivery (every accepted command becomes a `gateway-delivery` job nobody works on, so a
 * test sees exactly what intake wrote) and without the delivery, event and outcome workers. Idempotency
 * conflicts still record their FAIL event in the outbox (queued, never sent), through the worker's outcome
 * recorder (`buildOutcomeRecorder`).
 */
export async function startIntakeProcess(
  config: Config,
  logger: Logger,
  options: {
    rateLimits?: boolean;
    /** The rate limiter's own Redis (a test cuts it alone); default the process's. Left open on stop. */
    rateLimiterRedis?: RedisClient;
    actionCompletion?: Pick<ActionCompletion, 'complete'>;
  } = {},
): Promise<IntakeProcess> {
  const redis = createRedis(config.redis, 'commands', logger);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  for (const q of [deliveryQueue, eventsQueue]) q.on('error', () => undefined);
  // The worker's wiring: a FAILED recorded here (an idempotency conflict) releases what orchestration reserved.
  const pipeline = buildOrchestrationPipeline({ config, logger, redis });
  const { recorder } = buildOutcomeRecorder({ config, redis, ledger, events, eventsQueue, deliveryQueue, logger, pipeline });
  const connection = new AmqpConnection({ urls: config.amqp.urls, reconnectMs: config.amqp.reconnectMs, name: 'payment-bridge:intake-test', logger });
  const publisher = new ConfirmPublisher(connection, config.amqp.publishTimeoutMs, (ch) =>
    declareTopology(ch, config.amqp, { priorityLane: config.backpressure.priorityLane }),
  );
  const deadLetters = new DeadLetterWriter(
    publisher,
    config.amqp,
    new DeadLetterTriage({ redis, keyPrefix: config.redis.keyPrefix, triage: config.channels.triage, logger }),
    deadLetterStampKey(config.serviceBus.secret),
    new DeadLetterOnce(redis, config.redis.keyPrefix, { claimMs: deadLetterClaimMs(config.amqp.publishTimeoutMs) }),
  );
  // With `rateLimits`, the worker's rate limiter (rate_limits.*, leased tokens) holds messages over a limit.
  const rateLimiter = options.rateLimits
    ? new RateLimiter({ config, redis: options.rateLimiterRedis ?? redis, logger, where: 'consumer', lease: config.rateLimits.leaseTokens })
    : undefined;
  const consumer = new CommandConsumer({
    config,
    connection,
    ledger,
    deliveryQueue,
    deadLetters,
    logger,
    recorder,
    rateLimiter,
    actionCompletion: options.actionCompletion,
  });
  const brokerDeadLetters = new BrokerDeadLetterRedactor({ config, connection, deadLetters, logger });
  await consumer.start();
  await brokerDeadLetters.start();
  return {
    consumer,
    ledger,
    deliveryQueue,
    events,
    redis,
    brokerDeadLetters,
    connection,
    stop: async () => {
      await consumer.stop();
      await brokerDeadLetters.stop();
      await publisher.close();
      await connection.close();
      await deliveryQueue.close();
      await eventsQueue.close();
      redis.disconnect();
    },
  };
}

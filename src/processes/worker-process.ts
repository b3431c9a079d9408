import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { AmqpConnection } from '../amqp/amqp-connection';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { DeadLetterWriter } from '../amqp/dead-letter-writer';
import { declareTopology } from '../amqp/topology';
import { Config } from '../config/config';
import { DeliveryJobData, createDeliveryQueue } from '../delivery/delivery-queue';
import { CommandConsumer, ConsumeDecision } from '../intake/command-consumer';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { createRedis } from '../redis/redis-connection';

export interface WorkerProcess {
  consumer: CommandConsumer;
  ledger: Ledger;
  deliveryQueue: Queue<DeliveryJobData>;
  redis: Redis;
  stop(): Promise<void>;
}

/** The `worker` process: the command consumer (and, with the delivery layer, gateway delivery and events). */
export async function startWorkerProcess(
  config: Config,
  logger: Logger,
  hooks: { onDecision?: (d: ConsumeDecision, operationId: string | null) => void } = {},
): Promise<WorkerProcess> {
  const redis = createRedis(config.redis.url, 'commands', logger);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  // Redis errors already reach the log through the connection; without a listener BullMQ prints them raw.
  deliveryQueue.on('error', () => undefined);
  const connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: config.amqp.reconnectMs, name: 'payment-bridge:worker', logger });
  const publisher = new ConfirmPublisher(connection, config.amqp.publishTimeoutMs, (ch) => declareTopology(ch, config.amqp));
  const deadLetters = new DeadLetterWriter(publisher, config.amqp);
  const consumer = new CommandConsumer({ config, connection, ledger, deliveryQueue, deadLetters, logger, onDecision: hooks.onDecision });
  await consumer.start();
  logger.info('worker consuming', { queue: config.amqp.commandsQueue, prefetch: config.amqp.prefetch });
  return {
    consumer,
    ledger,
    deliveryQueue,
    redis,
    stop: async () => {
      await consumer.stop();
      await publisher.close();
      await connection.close();
      await deliveryQueue.close();
      redis.disconnect();
    },
  };
}

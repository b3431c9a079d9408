import { Channel } from 'amqplib';
import { Config } from '../config/config';

/**
 * Declares the durable topology from configuration (idempotent):
 *   commands exchange (topic) ─#─▶ commands queue (quorum or classic; rejects dead-letter to the DLX)
 *   dead-letter exchange (topic) ─#─▶ dead-letter queue
 * Routing keys read `producer.entity.event`, e.g. `bus.payment.capture`, `pos.payment.sale`.
 */
export async function declareTopology(channel: Channel, amqp: Config['amqp']): Promise<void> {
  await channel.assertExchange(amqp.deadLetterExchange, 'topic', { durable: true });
  await channel.assertQueue(amqp.deadLetterQueue, {
    durable: true,
    arguments: { 'x-queue-type': amqp.queueType },
  });
  await channel.bindQueue(amqp.deadLetterQueue, amqp.deadLetterExchange, '#');
  await channel.assertExchange(amqp.commandsExchange, 'topic', { durable: true });
  await channel.assertQueue(amqp.commandsQueue, {
    durable: true,
    arguments: { 'x-queue-type': amqp.queueType, 'x-dead-letter-exchange': amqp.deadLetterExchange },
  });
  await channel.bindQueue(amqp.commandsQueue, amqp.commandsExchange, '#');
}

/** Routing key of a command on the commands exchange. */
export function commandRoutingKey(channel: string, command: string): string {
  return `${channel}.payment.${command}`;
}

import { Channel } from 'amqplib';
import { Config } from '../config/config';

/**
 * Declares the durable topology from configuration (idempotent):
 *   commands exchange (topic) ─#─▶ commands queue (quorum or classic; rejects dead-letter to the DLX)
 *   dead-letter exchange (topic) ─#─▶ dead-letter queue
 * The commands queue keeps its `x-dead-letter-exchange` argument (a declared queue's arguments cannot change
 * without PRECONDITION_FAILED), but nothing we run lets the broker dead-letter a message: the consumer never
 * rejects or nacks without requeue; every bad or poison message goes through `DeadLetterWriter`, which
 * redacts it (card numbers in keys and values, sensitive fields) before publishing. A record in the
 * dead-letter queue without `x-pb-*` headers (with `x-death`) was dead-lettered by the broker itself
 * (a quorum queue's delivery limit, a policy's TTL or length limit) and is unredacted: treat it as such.
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

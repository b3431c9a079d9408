import { Channel } from 'amqplib';
import type { Config } from '../config/config';
import { priorityExchangeOf, priorityQueueOf } from './priority-lane';
import { queueArguments } from './queue-arguments';
import { brokerText, isPreconditionFailed, queueMismatch } from './queue-mismatch';
import { QueueMismatchError } from '../errors/queue-mismatch-error';

/**
 * Declares the durable topology from configuration (idempotent):
 *   commands exchange (topic) ─#─▶ commands queue (quorum or classic; x-dead-letter-exchange = the DLX)
 * Every queue is durable, of type `amqp.queue.type`, with the arguments of `queueArguments` (per type). A
 * queue that exists with other arguments (another type) rejects with {@link QueueMismatchError}, which
 * `queueMismatch` keeps for readiness until a later declaration passes.
 *   dead-letter exchange (topic) ─#─▶ broker-rejected queue (`<dead-letter queue>:broker-rejected`)
 *   default exchange ─▶ dead-letter queue (only `DeadLetterWriter` writes there, redacted)
 * The commands queue keeps its `x-dead-letter-exchange` argument (a declared queue's arguments cannot change
 * without PRECONDITION_FAILED). The consumer never rejects or nacks without requeue, but the broker can still
 * dead-letter a message on its own (a quorum queue's delivery limit, a policy's TTL or length limit, another
 * client's reject): such a message is unredacted, so it lands in the broker-rejected queue, never in the
 * dead-letter queue, and `BrokerDeadLetterRedactor` moves it to the dead-letter queue through
 * `DeadLetterWriter` (redacted, reason in `x-pb-*` headers) before acking it. Every record in the
 * dead-letter queue has therefore passed our redaction. An older deployment's `#` binding of the
 * dead-letter queue to the DLX is removed here.
 * Routing keys read `producer.entity.event`, e.g. `bus.payment.capture`, `pos.payment.sale`.
 *
 * With `priorityLane` (`backpressure.priority_lane`): a second exchange and queue, `<commands exchange>.priority`
 * ─#─▶ `<commands queue>.priority` (new names, so no declared queue's arguments change and nothing needs
 * migrating). The intake publishes captures, cancels and refunds there; workers consume that queue on a
 * channel of its own (own prefetch), so a capture never waits behind a backlog of authorizations, on quorum
 * queues too (RabbitMQ 3.x quorum queues have no message priorities). Each message is in one queue only.
 */
export async function declareTopology(channel: Channel, amqp: Config['amqp'], options: { priorityLane?: boolean } = {}): Promise<void> {
  const plain = queueArguments(amqp, { deadLetters: false });
  const consumed = queueArguments(amqp, { deadLetters: true });
  try {
    await channel.assertExchange(amqp.deadLetterExchange, 'topic', { durable: true });
    await assertQueue(channel, amqp, amqp.deadLetterQueue, plain);
    await channel.unbindQueue(amqp.deadLetterQueue, amqp.deadLetterExchange, '#');
    await assertQueue(channel, amqp, triageQueueOf(amqp), plain);
    await assertQueue(channel, amqp, parkedQueueOf(amqp), plain);
    const brokerRejected = brokerRejectedQueueOf(amqp);
    await assertQueue(channel, amqp, brokerRejected, plain);
    await channel.bindQueue(brokerRejected, amqp.deadLetterExchange, '#');
    await channel.assertExchange(amqp.commandsExchange, 'topic', { durable: true });
    await assertQueue(channel, amqp, amqp.commandsQueue, consumed);
    await channel.bindQueue(amqp.commandsQueue, amqp.commandsExchange, '#');
    if (options.priorityLane) {
      const priority = priorityQueueOf(amqp);
      await channel.assertExchange(priorityExchangeOf(amqp), 'topic', { durable: true });
      await assertQueue(channel, amqp, priority, consumed);
      await channel.bindQueue(priority, priorityExchangeOf(amqp), '#');
    }
  } catch (err) {
    if (err instanceof QueueMismatchError) queueMismatch.report(err);
    throw err;
  }
  queueMismatch.clear();
}

/** Declares one durable queue; the broker's PRECONDITION_FAILED becomes a {@link QueueMismatchError} naming it. */
async function assertQueue(channel: Channel, amqp: Config['amqp'], queue: string, args: Record<string, string>): Promise<void> {
  try {
    await channel.assertQueue(queue, { durable: true, arguments: args });
  } catch (err) {
    if (isPreconditionFailed(err)) throw new QueueMismatchError(queue, amqp.queueType, brokerText(err), { cause: err });
    throw err;
  }
}

/** Routing key of a command on the commands exchange. */
export function commandRoutingKey(channel: string, command: string): string {
  return `${channel}.payment.${command}`;
}

/**
 * The queue that receives what the broker dead-letters by itself (through the commands queue's
 * `x-dead-letter-exchange`), unredacted, until `BrokerDeadLetterRedactor` moves it to the dead-letter queue.
 */
export function brokerRejectedQueueOf(amqp: Pick<Config['amqp'], 'deadLetterQueue'>): string {
  return `${amqp.deadLetterQueue}:broker-rejected`;
}

/**
 * The parking queue: dead letters the archive could not take as they are (unreadable, or refused by Redis),
 * kept whole with `x-pb-parked-reason`, so they no longer hold the dead-letter queue behind them.
 */
export function parkedQueueOf(amqp: Pick<Config['amqp'], 'deadLetterQueue'>): string {
  return `${amqp.deadLetterQueue}:parked`;
}

/** The priority triage queue: a copy of every high-impact dead letter (see `DeadLetterTriage`). */
export function triageQueueOf(amqp: Pick<Config['amqp'], 'deadLetterQueue'>): string {
  return `${amqp.deadLetterQueue}:triage`;
}

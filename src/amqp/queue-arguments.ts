import type { Config } from '../config/config';

/**
 * The `x-` arguments of a durable queue the bridge declares, by `amqp.queue.type`. They must stay exactly what
 * earlier versions declared for the same configuration: the broker refuses (PRECONDITION_FAILED) a declaration
 * whose arguments differ from the existing queue's.
 *  - classic and quorum: `x-queue-type`, and on queues consumers take commands from, `x-dead-letter-exchange`.
 *  - quorum with `amqp.queue.dead_letter_strategy: at-least-once`: `x-dead-letter-strategy: at-least-once`
 *    and `x-overflow: reject-publish` (RabbitMQ 3.10+ falls back to at-most-once without the latter).
 * Nothing the other type lacks: no `x-max-priority` (quorum queues have no priorities in 3.x; the priority lane
 * is a queue of its own), no per-queue TTL (commands never expire).
 */
export function queueArguments(
  amqp: Pick<Config['amqp'], 'queueType' | 'deadLetterStrategy' | 'deadLetterExchange'>,
  options: { deadLetters: boolean },
): Record<string, string> {
  const args: Record<string, string> = { 'x-queue-type': amqp.queueType };
  if (!options.deadLetters) return args;
  args['x-dead-letter-exchange'] = amqp.deadLetterExchange;
  if (amqp.queueType === 'quorum' && amqp.deadLetterStrategy === 'at-least-once') {
    args['x-dead-letter-strategy'] = 'at-least-once';
    args['x-overflow'] = 'reject-publish';
  }
  return args;
}

import type { Config } from '../config/config';

/**
 * The priority lane's exchange: `<amqp.exchange.commands>.priority` (topic, every key bound to the priority
 * queue). The intake publishes captures, cancels and refunds there; a channel that wants its own to overtake
 * a backlog of authorizations publishes them there too (same routing keys, same message).
 */
export function priorityExchangeOf(amqp: Config['amqp']): string {
  return `${amqp.commandsExchange}.priority`;
}

/** The priority lane's queue: `<amqp.queue.commands>.priority`. */
export function priorityQueueOf(amqp: Config['amqp']): string {
  return `${amqp.commandsQueue}.priority`;
}

import { Config } from '../config/config';
import { CommandType } from '../contracts/payment-command';

/**
 * Commands that settle money already authorised: they must keep flowing during a spike, ahead of new
 * authorizations (a backlog of authorizations never delays a capture, a void or a refund).
 */
export const PRIORITY_COMMANDS: readonly CommandType[] = ['capture', 'cancel', 'refund'];

/** Whether a command rides the priority lane and is exempt from backlog refusals. */
export function isPriorityCommand(command: CommandType): boolean {
  return PRIORITY_COMMANDS.includes(command);
}

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

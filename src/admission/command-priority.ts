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

// The lane's exchange and queue names are part of the AMQP topology (amqp/ declares them); re-exported here,
// where the lane's policy lives, for the intake and the consumer.
export { priorityExchangeOf, priorityQueueOf } from '../amqp/priority-lane';

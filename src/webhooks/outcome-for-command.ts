import { CommandType } from '../contracts/payment-command';
import { GatewayOutcome } from '../gateways/gateway-adapter';

/**
 * The webhook outcome as the operation of `command` reads it. A SUCCESS the PSP reports for some commands
 * only (`succeedsOnly`) is PENDING for any other: the fact is true, but it is not that operation's success.
 * A Cybersource review accepted confirms the authorization; a sale held for the review was authorized and
 * not captured, so it waits for the capture (its `payments.captures.accept`) or, failing that, the poller.
 */
export function outcomeForCommand(outcome: GatewayOutcome, command: CommandType): GatewayOutcome {
  if (outcome.status !== 'SUCCESS' || outcome.succeedsOnly === undefined || outcome.succeedsOnly.includes(command)) return outcome;
  return { ...outcome, status: 'PENDING' };
}

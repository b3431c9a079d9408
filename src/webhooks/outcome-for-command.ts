import { CommandType } from '../contracts/payment-command';
import { GatewayOutcome } from '../gateways/gateway-adapter';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { GatewayType, gatewayStatusLabel } from '../gateways/gateway-registry';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

/**
 * Whether a webhook outcome can settle an operation of `command` (its `settles`; default: any). A PSP may
 * name an operation by its payment's reference while reporting another operation's fact: an Adyen
 * CANCELLATION made in the Customer Area names the authorization; a Cybersource review accepted is not a
 * sale's success (authorized, never captured).
 */
export function settlesCommand(outcome: GatewayOutcome, command: CommandType): boolean {
  return outcome.settles === undefined || outcome.settles.includes(command);
}

const notForCommand = counter(
  'pb_webhook_outcomes_not_for_command_total',
  'Webhook outcomes recorded in the history of the operation they name without settling it (the outcome of another command), by gateway, PSP status and command',
  ['gateway', 'gateway_status', 'command'],
);

/**
 * A webhook outcome that is not the outcome of `op`'s command: recorded in its history
 * (`outcome_not_for_command`), counted and logged; the operation does not move and no reference is indexed
 * to it. A late fact it carries is handled by the caller (an adjustment, never a failure of `op`).
 * @param gatewayType the type of the job's gateway: its declared statuses bound the metric's `gateway_status`.
 * @returns the operation's state (unchanged).
 */
export async function recordOutcomeNotForCommand(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Ledger; logger: Logger },
  gatewayType: GatewayType | undefined,
): Promise<string> {
  const { outcome, gateway, eventId } = job;
  const reference = outcome.gatewayReference ?? job.gatewayReference;
  await deps.ledger.appendInteraction(op.id, {
    event: 'outcome_not_for_command',
    source: 'webhook',
    gateway,
    status: outcome.status,
    gateway_status: outcome.gatewayStatus,
    provider_event_id: eventId,
    ...(reference !== undefined ? { gateway_reference: reference } : {}),
  });
  notForCommand.inc({ gateway, gateway_status: gatewayStatusLabel(gatewayType, outcome.gatewayStatus), command: op.command });
  deps.logger.warn("webhook outcome is not this operation's command's outcome: recorded in its history, not applied", {
    operation_id: op.id,
    command: op.command,
    state: op.state,
    gateway,
    gateway_status: outcome.gatewayStatus,
    webhook_status: outcome.status,
    settles: outcome.settles,
    event_id: eventId,
    ...(reference !== undefined ? { gateway_reference: reference } : {}),
  });
  return op.state;
}

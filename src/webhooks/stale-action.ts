import { Ledger, OperationRecord } from '../ledger/ledger';
import { GatewayType, gatewayStatusLabel } from '../gateways/gateway-registry';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const staleActions = counter(
  'pb_webhook_stale_actions_total',
  'Webhooks reporting that the PSP waits for the customer about an operation already PENDING (the PSP processes it: the wait is over), recorded in its history and not applied, by gateway and PSP status',
  ['gateway', 'gateway_status'],
);

/**
 * Whether a webhook's ACTION_REQUIRED is older than the operation's PENDING. A PSP asks for the customer
 * before it processes the payment (Stripe: "After required actions are handled, the PaymentIntent moves to
 * processing"), and delivers its events in no guaranteed order: a `payment_intent.requires_action` that
 * arrives after `payment_intent.processing` is the earlier fact, and applying it would take the payment
 * back to waiting for a customer who already acted (and have the poller void it at the action's expiry).
 * Only webhooks: a status inquiry reads the PSP's state as it is now.
 */
export function isStaleActionNotice(op: OperationRecord, job: GatewayOutcomeJobData): boolean {
  return job.outcome.status === 'ACTION_REQUIRED' && op.state === 'PENDING';
}

/**
 * Records a stale ACTION_REQUIRED webhook in the operation's history (`webhook_action_stale`), counts and
 * logs it; the operation does not move and the OMS hears nothing new.
 * @param gatewayType the type of the job's gateway: its declared statuses bound the metric's `gateway_status`.
 * @returns the operation's state (unchanged).
 */
export async function recordStaleAction(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Ledger; logger: Logger },
  gatewayType: GatewayType | undefined,
): Promise<string> {
  const { outcome, gateway, eventId } = job;
  await deps.ledger.appendInteraction(op.id, {
    event: 'webhook_action_stale',
    source: 'webhook',
    gateway,
    gateway_status: outcome.gatewayStatus,
    provider_event_id: eventId,
  });
  staleActions.inc({ gateway, gateway_status: gatewayStatusLabel(gatewayType, outcome.gatewayStatus) });
  deps.logger.info('webhook reports a customer action for an operation the PSP already processes (an out-of-order event): recorded, not applied', {
    operation_id: op.id,
    state: op.state,
    gateway,
    gateway_status: outcome.gatewayStatus,
    event_id: eventId,
  });
  return op.state;
}

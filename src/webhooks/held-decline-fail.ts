import { failHeldBack } from '../delivery/held-failover';
import { transformerFor } from '../gateways/gateway-registry';
import { Config } from '../config/config';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const heldDeclineFails = counter(
  'pb_webhook_held_decline_fails_total',
  'Webhook failures of an operation whose decline of a resend was held UNRESOLVED (a gateway that takes no idempotency key, after an earlier attempt that may have landed), or whose resend is unanswered after such an attempt: recorded in its history, not applied, the operation left open; by gateway',
  ['gateway'],
);

/**
 * Holds back a webhook's FAIL of an open operation at a gateway that takes a resend as a new request, after an earlier
 * attempt that may have landed (`failHeldBack`, src/delivery/held-failover.ts): its latest attempt's decline was held
 * UNRESOLVED, or that attempt's own answer is not recorded yet. The FAIL speaks for one of its transactions at the PSP,
 * likely the resend's, while the earlier attempt may hold the money. Recorded in the history (`webhook_fail_held`, the
 * transaction it names as `gateway_reference`, and `funds_held` when the FAIL says the PSP still holds funds for it:
 * the poller's inquiry hands such a hold to orphan reversal, not this), counted and logged (warn); the operation stays
 * as it is and the OMS hears nothing new. The gateway is the operation's, as delivery routes it.
 * @returns whether it was held (the caller applies nothing); false: apply it as ever.
 */
export async function holdFailOfHeldDecline(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { config: Config; ledger: Ledger; logger: Logger },
): Promise<boolean> {
  const { outcome, gateway, eventId } = job;
  const type = deps.config.gateways[gatewayOf(op)]?.type;
  if (!(await failHeldBack(op, outcome.status, type === undefined ? undefined : transformerFor(type), (id) => deps.ledger.interactions(id)))) return false;
  // Not an attempt's end (attempt-ends.ts): appended as any note is.
  await deps.ledger.appendInteraction(op.id, {
    event: 'webhook_fail_held',
    source: 'webhook',
    gateway,
    gateway_status: outcome.gatewayStatus,
    ...(outcome.gatewayReference !== undefined ? { gateway_reference: outcome.gatewayReference } : {}),
    ...(outcome.fundsHeld !== undefined ? { funds_held: outcome.fundsHeld } : {}),
    provider_event_id: eventId,
  });
  heldDeclineFails.inc({ gateway });
  deps.logger.warn(
    'webhook failure held back: a resend of the operation was a new request (no idempotency key) after an earlier attempt that may have reached the PSP (its decline held, or its answer not recorded yet); the failure speaks for one transaction only: recorded, not applied',
    {
      operation_id: op.id,
      state: op.state,
      gateway,
      webhook_status: outcome.gatewayStatus,
      gateway_reference: outcome.gatewayReference,
      funds_held: outcome.fundsHeld,
      event_id: eventId,
    },
  );
  return true;
}

import { failMaySettle } from '../delivery/held-failover';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const heldDeclineFails = counter(
  'pb_webhook_held_decline_fails_total',
  'Webhook failures of an operation whose decline of a resend was held UNRESOLVED (a gateway that takes no idempotency key, after an earlier attempt that may have landed): recorded in its history, not applied, the operation left UNRESOLVED; by gateway',
  ['gateway'],
);

/**
 * Holds back a webhook's FAIL of an open operation whose latest attempt's decline was held (`failMaySettle`,
 * src/delivery/held-failover.ts): the FAIL speaks for one of its transactions at the PSP, likely the declined resend,
 * while the earlier attempt may hold the money. Recorded in the history (`webhook_fail_held`, the transaction it names
 * as `gateway_reference`), counted and logged (warn); the operation stays UNRESOLVED and the OMS hears nothing new.
 * Reads the history only for a FAIL of an open operation sent more than once.
 * @returns whether it was held (the caller applies nothing); false: apply it as ever.
 */
export async function holdFailOfHeldDecline(op: OperationRecord, job: GatewayOutcomeJobData, deps: { ledger: Ledger; logger: Logger }): Promise<boolean> {
  const { outcome, gateway, eventId } = job;
  if (outcome.status !== 'FAIL' || isTerminal(op.state) || op.attempts < 2) return false;
  if (failMaySettle(await deps.ledger.interactions(op.id))) return false;
  // Not an attempt's end (attempt-ends.ts): appended as any note is.
  await deps.ledger.appendInteraction(op.id, {
    event: 'webhook_fail_held',
    source: 'webhook',
    gateway,
    gateway_status: outcome.gatewayStatus,
    ...(outcome.gatewayReference !== undefined ? { gateway_reference: outcome.gatewayReference } : {}),
    provider_event_id: eventId,
  });
  heldDeclineFails.inc({ gateway });
  deps.logger.warn(
    'webhook failure held back: the decline of a resend was held (no idempotency key, an earlier attempt may have reached the PSP); the failure speaks for one transaction only: recorded, not applied, UNRESOLVED',
    {
      operation_id: op.id,
      state: op.state,
      gateway,
      webhook_status: outcome.gatewayStatus,
      gateway_reference: outcome.gatewayReference,
      event_id: eventId,
    },
  );
  return true;
}

import { ADYEN_EVENT_CODES, ADYEN_MODIFICATION_STATUSES, ADYEN_RESULT_CODES } from './adyen/adyen-status-map';
import { ADYEN_SV_RESULT_CODES } from './adyen-stored-value/adyen-stored-value-status-map';
import { CYBERSOURCE_STATUSES, CYBERSOURCE_TOKEN_STATES } from './cybersource/cybersource-status-map';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES } from './cybersource/cybersource-webhook';
import { SIMULATOR_LATE_EVENT_TYPES } from './simulator/simulator-adjustments';
import { SIMULATOR_STATUSES } from './simulator/simulator-status-map';
import { STRIPE_DISPUTE_STATUSES } from './stripe/stripe-adjustments';
import { PAYMENT_INTENT_STATUSES, REFUND_STATUSES, SETUP_INTENT_STATUSES } from './stripe/stripe-status-map';

/** The label a PSP status outside every adapter's declared status set is counted under. */
export const OTHER_GATEWAY_STATUS = 'other';

// The union of the status sets the adapters declare (their exhaustive status maps): bounded, so a metric labelled by
// it is too, whatever a PSP, or whoever can sign a webhook, sends.
const DECLARED: ReadonlySet<string> = new Set<string>([
  ...ADYEN_RESULT_CODES,
  ...ADYEN_MODIFICATION_STATUSES,
  ...ADYEN_EVENT_CODES,
  ...ADYEN_SV_RESULT_CODES,
  ...CYBERSOURCE_STATUSES,
  ...CYBERSOURCE_TOKEN_STATES,
  ...CYBERSOURCE_WEBHOOK_EVENT_TYPES,
  ...SIMULATOR_STATUSES,
  ...SIMULATOR_LATE_EVENT_TYPES,
  ...PAYMENT_INTENT_STATUSES,
  ...SETUP_INTENT_STATUSES,
  ...REFUND_STATUSES,
  ...STRIPE_DISPUTE_STATUSES.map((s) => `dispute.${s}`),
]);

/**
 * The `gateway_status` label value of a PSP status (`GatewayOutcome.gatewayStatus`): the status itself when an
 * adapter declares it, else `other`. A metric label never takes the PSP's value verbatim; log it in full beside
 * the count.
 */
export function gatewayStatusLabel(gatewayStatus: string): string {
  return DECLARED.has(gatewayStatus) ? gatewayStatus : OTHER_GATEWAY_STATUS;
}

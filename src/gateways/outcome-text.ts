import { AdjustmentFact } from '../adjustments/adjustment';
import { boundedSafeText } from '../errors/psp-text';
import { GatewayOutcome } from './gateway-adapter';

/** Longest `reason` an outcome or a late fact keeps of the PSP's text (a code, or its label). */
export const MAX_OUTCOME_REASON_CHARS = 256;
/** Longest `gatewayStatus` an outcome keeps of the PSP's status string (a status, an event code, a refusal code). */
export const MAX_OUTCOME_STATUS_CHARS = 128;

/**
 * An outcome whose text from the PSP (`reason`: Adyen's refusalReason, a Stripe failure reason, a webhook's
 * reason; an outcome's `gatewayStatus`: a refusal code, a reply flag, a status the PSP chose) has card numbers,
 * bearer credentials and registered secrets masked, and is cut ({@link MAX_OUTCOME_REASON_CHARS},
 * {@link MAX_OUTCOME_STATUS_CHARS}). A PSP may echo what it was sent ("invalid card 4111 …") or send megabytes:
 * that text is queued, stored in the ledger and sent to the OMS, so it is made safe before any of them. The same
 * object when there is nothing to change.
 */
export function withSafeReason<T extends GatewayOutcome | AdjustmentFact>(outcome: T): T {
  const reason = outcome.reason === undefined ? undefined : boundedSafeText(outcome.reason, MAX_OUTCOME_REASON_CHARS, false);
  const status = 'gatewayStatus' in outcome ? outcome.gatewayStatus : undefined;
  const safeStatus = status === undefined ? undefined : boundedSafeText(status, MAX_OUTCOME_STATUS_CHARS, false);
  if (reason === outcome.reason && safeStatus === status) return outcome;
  return { ...outcome, ...(reason !== undefined ? { reason } : {}), ...(safeStatus !== undefined ? { gatewayStatus: safeStatus } : {}) };
}

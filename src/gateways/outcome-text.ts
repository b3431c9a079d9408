import { AdjustmentFact } from '../adjustments/adjustment';
import { redactText } from '../logging/redact';
import { GatewayOutcome } from './gateway-adapter';

/**
 * An outcome whose free text from the PSP (`reason`: Adyen's refusalReason, a Stripe failure reason, a
 * webhook's reason) has card numbers, bearer credentials and registered secrets masked. A PSP may echo
 * what it was sent ("invalid card 4111 …"): that text is queued, stored in the ledger and sent to the OMS,
 * so it is masked before any of them. The same object when there is nothing to mask.
 */
export function withSafeReason<T extends GatewayOutcome | AdjustmentFact>(outcome: T): T {
  const reason = outcome.reason;
  if (reason === undefined) return outcome;
  const safe = redactText(reason);
  return safe === reason ? outcome : { ...outcome, reason: safe };
}

import { DeclineCategory } from '../errors/decline';

/**
 * Dunning: which declines of a recurring charge are worth another try later (soft) and which end the
 * cycle at once (hard). A soft decline is about the moment (funds, limits, an issuer or PSP that was
 * unavailable, a generic do-not-honor that issuers often lift); a hard one will not change by waiting
 * (the card is expired, invalid, unsupported or suspected of fraud; the request or our configuration is
 * wrong). `authentication_required` is hard for a merchant-initiated charge: the customer must come back
 * and authenticate, which the OMS asks for when it gets the final failure.
 */
export function isSoftDecline(category: DeclineCategory): boolean {
  switch (category) {
    case 'insufficient_funds':
    case 'limit_exceeded':
    case 'try_again_later':
    case 'processing_error':
    case 'do_not_honor':
      return true;
    case 'expired_card':
    case 'suspected_fraud':
    case 'authentication_required':
    case 'invalid_card_data':
    case 'card_not_supported':
    case 'cancelled':
    case 'operation_not_permitted':
    case 'invalid_request':
    case 'bridge_refused':
    case 'unknown':
      return false;
    default: {
      const never: never = category;
      throw new Error(`unmapped decline category ${String(never)}`);
    }
  }
}

import { DeclineTable, describeDecline } from '../../errors/decline';
import { GatewayOutcome } from '../gateway-adapter';
import { ADYEN_REFUSAL_REASONS } from '../adyen/adyen-declines';

/**
 * Stored Value declines: the failing `resultCode`s of the Stored Value API v46 (`NotEnoughBalance`,
 * `Refused`, `Error`) and Adyen's refusal reason texts, which `refusalReason` carries when it is one of
 * them (e.g. `Not enough balance`, `Invalid Pin`, `Pin tries exceeded`, `Blocked Card`, `Expired Card`).
 */
export const ADYEN_SV_DECLINES: DeclineTable = {
  gateway: 'adyen-stored-value',
  sources: [
    'Adyen Stored Value API v46: StoredValue*Response.resultCode (test/fixtures/specs/adyen-storedvalue-v46.json)',
    'Adyen refusal reasons: https://docs.adyen.com/development-resources/refusal-reasons',
    'Adyen Stored Value API: https://docs.adyen.com/payment-methods/gift-cards/stored-value-api',
  ],
  fallback: 'unknown',
  rules: {
    ...Object.fromEntries(ADYEN_REFUSAL_REASONS.map(([, text, rule]) => [text, rule])),
    // resultCode, when refusalReason is absent or not one of Adyen's listed texts.
    NotEnoughBalance: 'insufficient_funds',
    Refused: 'do_not_honor',
    Error: 'processing_error',
  },
};

/** Whether `text` is a refusal reason the table knows (only those become the reason: free text never does). */
export function isKnownRefusalText(text: string): boolean {
  return ADYEN_REFUSAL_REASONS.some(([, known]) => known === text);
}

/** Adds the normalized decline to a FAIL outcome. */
export function adyenSvDecline(outcome: GatewayOutcome): GatewayOutcome {
  if (outcome.status !== 'FAIL' || outcome.decline) return outcome;
  return { ...outcome, decline: describeDecline(ADYEN_SV_DECLINES, outcome.reason ?? outcome.gatewayStatus) };
}

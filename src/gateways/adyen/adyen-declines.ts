import { Decline, DeclineRule, DeclineTable, declineOfRow, describeDecline, isKnownCode, safeGatewayCode } from '../../errors/decline';
import { GatewayOutcome } from '../gateway-adapter';

/**
 * Adyen's refusal reasons: every documented `refusalReasonCode` with its `refusalReason` text (both are
 * keys: the `/payments` answer carries the code, the webhook's `reason` the text).
 * Source: https://docs.adyen.com/development-resources/refusal-reasons (the complete list, 2 to 46).
 */
export const ADYEN_REFUSAL_REASONS: readonly (readonly [code: string, refusalReason: string, rule: DeclineRule])[] = [
  ['2', 'Refused', 'do_not_honor'],
  ['3', 'Referral', 'do_not_honor'],
  ['4', 'Acquirer Error', 'processing_error'],
  ['5', 'Blocked Card', 'suspected_fraud'],
  ['6', 'Expired Card', 'expired_card'],
  ['7', 'Invalid Amount', 'invalid_request'],
  ['8', 'Invalid Card Number', 'invalid_card_data'],
  ['9', 'Issuer Unavailable', 'try_again_later'],
  ['10', 'Not supported', 'card_not_supported'],
  ['11', '3D Not Authenticated', 'authentication_required'],
  ['12', 'Not enough balance', 'insufficient_funds'],
  ['14', 'Acquirer Fraud', 'suspected_fraud'],
  ['15', 'Cancelled', 'cancelled'],
  ['16', 'Shopper Cancelled', 'cancelled'],
  ['17', 'Invalid Pin', 'invalid_card_data'],
  ['18', 'Pin tries exceeded', { category: 'invalid_card_data', action: 'use_another_method' }],
  ['19', 'Pin validation not possible', 'processing_error'],
  ['20', 'FRAUD', 'suspected_fraud'],
  ['21', 'Not Submitted', 'processing_error'],
  ['22', 'FRAUD-CANCELLED', 'suspected_fraud'],
  ['23', 'Transaction Not Permitted', 'card_not_supported'],
  ['24', 'CVC Declined', 'invalid_card_data'],
  ['25', 'Restricted Card', 'card_not_supported'],
  ['26', 'Revocation Of Auth', 'do_not_honor'],
  ['27', 'Declined Non Generic', 'do_not_honor'],
  ['28', 'Withdrawal amount exceeded', 'limit_exceeded'],
  ['29', 'Withdrawal count exceeded', 'limit_exceeded'],
  ['31', 'Issuer Suspected Fraud', 'suspected_fraud'],
  ['32', 'AVS Declined', 'invalid_card_data'],
  ['33', 'Card requires online pin', 'authentication_required'],
  ['34', 'No checking account available on Card', 'card_not_supported'],
  ['35', 'No savings account available on Card', 'card_not_supported'],
  ['36', 'Mobile pin required', 'authentication_required'],
  ['37', 'Contactless fallback', 'authentication_required'],
  ['38', 'Authentication required', 'authentication_required'],
  ['39', 'RReq not received from DS', 'authentication_required'],
  ['40', 'Current AID is in Penalty Box', 'card_not_supported'],
  ['41', 'CVM Required Restart Payment', 'authentication_required'],
  ['42', '3DS Authentication Error', 'authentication_required'],
  ['43', 'Online PIN required', 'authentication_required'],
  ['44', 'Try another interface', 'card_not_supported'],
  ['45', 'Chip downgrade mode', 'card_not_supported'],
  ['46', 'Transaction blocked by Adyen to prevent excessive retry fees', { category: 'limit_exceeded', action: 'use_another_method' }],
];

/**
 * How Adyen's CAPTURE_FAILED and REFUND_FAILED reasons page writes a rejection for an account configuration error:
 * "Capture rejected by card scheme: raw error message from the scheme (account configuration error)". The same
 * failures apply to refunds ("Captures and refunds are treated the same by card schemes").
 */
const ACCOUNT_CONFIGURATION_REJECTION = 'Capture rejected by card scheme: raw error message from the scheme (account configuration error)';

/**
 * The same page's template for a capture or refund the card scheme rejected as an incorrect request, the scheme's raw
 * message in the middle: "Capture rejected by card scheme: raw error message from the scheme (incorrect request)".
 */
const INCORRECT_REQUEST_REJECTION = 'Capture rejected by card scheme: raw error message from the scheme (incorrect request)';

/** The endings of the scheme rejections whose middle is the scheme's own message, each with its template's row. */
const SCHEME_REJECTION_ENDINGS: readonly (readonly [ending: RegExp, row: string])[] = [
  [/\(account configuration error\)\s*\.?\s*$/i, ACCOUNT_CONFIGURATION_REJECTION],
  [/\(incorrect request\)\s*\.?\s*$/i, INCORRECT_REQUEST_REJECTION],
];

/**
 * Adyen's reason for a capture or refund the card scheme rejected because of a technical issue, whose documented
 * follow-up is Adyen's own: "You do not need to take any action. Adyen will try to fix the issue and re-capture the
 * transaction" (CAPTURE_FAILED and REFUND_FAILED reasons page, which applies to refunds equally: "Captures and refunds
 * are treated the same by card schemes"; the re-capture comes as a CAPTURE with success true, reason "Transaction
 * Recaptured" or "Transaction Auto-recaptured", a refund done after all as its REFUND with success true).
 */
export const TECHNICAL_ISSUE_REJECTION = 'Capture rejected by card scheme because of a technical issue.';

/**
 * Whether a `CAPTURE_FAILED`'s or `REFUND_FAILED`'s `reason` is one Adyen retries itself (the technical issue, {@link
 * TECHNICAL_ISSUE_REJECTION}; compared without regard to case, spacing or the final full stop): the capture or refund
 * may still be done, so its amount stays held. Every other reason (the shopper cancelled, an incorrect request, an
 * account configuration error, the capture expired or cannot be re-captured, or none) is not retried by Adyen on its own.
 */
export function adyenRetriesItself(reason: string | undefined): boolean {
  if (reason === undefined) return false;
  const norm = (s: string): string => s.trim().replace(/\s+/g, ' ').replace(/\.$/, '').toLowerCase();
  return norm(reason) === norm(TECHNICAL_ISSUE_REJECTION);
}

/**
 * The decline of a failure Adyen retries itself ({@link adyenRetriesItself}): the technical issue's row, whatever the
 * case, spacing or final full stop of the reason (the table matches only case-insensitively), so a failure held for
 * Adyen's retry never tells the OMS to act (`suggested_action: none`); the reason itself as the code. Undefined for
 * any other reason.
 */
export function adyenTechnicalIssue(reason: string | undefined): Decline | undefined {
  if (reason === undefined || !adyenRetriesItself(reason)) return undefined;
  return declineOfRow(ADYEN_DECLINES, TECHNICAL_ISSUE_REJECTION, reason);
}

/**
 * Adyen's codes → decline categories: the refusal reasons above, the failing `resultCode`s (the reason
 * when Adyen gives no refusal reason; the shopper-flow codes fail a server-to-server command, see
 * adyen-status-map.ts), and the webhook `eventCode`s whose item is a failure without a `reason`.
 * Sources: refusal reasons (above); `PaymentResponse.resultCode` in the Checkout API v71 spec; standard
 * webhook event codes: https://docs.adyen.com/development-resources/webhooks/webhook-types
 */
export const ADYEN_DECLINES: DeclineTable = {
  gateway: 'adyen',
  sources: [
    'Adyen refusal reasons: https://docs.adyen.com/development-resources/refusal-reasons',
    'Adyen Checkout API v71: PaymentResponse.resultCode',
    'Adyen standard webhook event codes: https://docs.adyen.com/development-resources/webhooks/webhook-types',
    'Adyen expired captures: https://help.adyen.com/knowledge/payments/captures/what-is-my-capture-expired',
    'Adyen CAPTURE_FAILED and REFUND_FAILED reasons: https://docs.adyen.com/online-payments/capture/failure-reasons',
  ],
  fallback: 'unknown',
  rules: {
    ...Object.fromEntries(
      ADYEN_REFUSAL_REASONS.flatMap(([code, text, rule]) => [
        [code, rule],
        [text, rule],
      ]),
    ),
    // resultCode (Refused and Cancelled are refusal reason texts too, with the same category).
    Error: 'processing_error',
    AuthenticationFinished: 'authentication_required',
    AuthenticationNotRequired: 'authentication_required',
    ChallengeShopper: 'authentication_required',
    IdentifyShopper: 'authentication_required',
    RedirectShopper: 'authentication_required',
    PresentToShopper: 'card_not_supported',
    // eventCode of a failed item without a reason.
    AUTHORISATION: 'do_not_honor',
    AUTHORISATION_ADJUSTMENT: 'operation_not_permitted',
    CAPTURE: 'processing_error',
    CANCELLATION: 'operation_not_permitted',
    CANCEL_OR_REFUND: 'operation_not_permitted',
    REFUND: 'processing_error',
    REFUND_WITH_DATA: 'processing_error',
    CAPTURE_FAILED: 'processing_error',
    REFUND_FAILED: 'processing_error',
    // A CAPTURE_FAILED's reason ("CAPTURE_FAILED and REFUND_FAILED reasons"). A technical issue is Adyen's to fix: it
    // re-captures the payment itself ("Transaction Recaptured"), so the OMS has nothing to do, and a capture sent again
    // would take the money twice. A recurring payment the shopper cancelled at their bank cannot be captured by anyone.
    [TECHNICAL_ISSUE_REJECTION]: { category: 'processing_error', action: 'none' },
    'Capture rejected by card scheme because the shopper cancelled the recurring payment through their bank.': 'cancelled',
    // Adyen's template for a rejection caused by the merchant account's set-up at Adyen, the scheme's raw message in the
    // middle (matched by its ending: `adyenSchemeRejection`): contact Adyen Support; once it confirms the fix, the
    // failed captures can be re-captured. Not a request to fix, nor one Adyen re-captures itself.
    [ACCOUNT_CONFIGURATION_REJECTION]: { category: 'invalid_request', action: 'contact_support' },
    // The scheme refused the request as Adyen formed it from ours (the scheme's raw message in the middle, matched by its
    // ending): nothing the OMS can change in its command fixes it and Adyen does not retry it, so support reads the
    // scheme's message with Adyen. Not held: Adyen retries only the technical issue.
    [INCORRECT_REQUEST_REJECTION]: { category: 'invalid_request', action: 'contact_support' },
    // Ours, from adyen-webhook.ts: a capture the card scheme rejected as expired ("Capture rejected by card scheme: …
    // (capture expired)": final, it cannot be re-captured), or one sent after the authorization's EXPIRE: nothing is
    // left to capture, obtain a new authorization.
    authorization_expired: { category: 'cancelled', action: 'reauthorize' },
    REFUNDED_REVERSED: 'processing_error',
    VOID_PENDING_REFUND: 'cancelled',
    TECHNICAL_CANCEL: 'cancelled',
    OFFER_CLOSED: 'cancelled',
  },
};

/**
 * Raw acquirer responses (`additionalData.refusalReasonRaw`, e.g. `"51 : Insufficient funds"`), when the
 * merchant account has "Raw acquirer result" on: the most common Visa and Mastercard codes as Adyen lists
 * them (https://docs.adyen.com/development-resources/raw-acquirer-responses; "with or without a leading
 * zero"). Used only to refine a generic refusal (`Refused`, `Declined Non Generic`: category
 * do_not_honor) into a finer category; Adyen's own refusal reason stays the reason.
 */
export const ADYEN_RAW_RESPONSES: DeclineTable = {
  gateway: 'adyen raw acquirer responses',
  sources: ['Adyen raw acquirer responses (Visa and Mastercard): https://docs.adyen.com/development-resources/raw-acquirer-responses'],
  fallback: 'do_not_honor',
  rules: {
    '01': 'do_not_honor',
    '03': 'invalid_request',
    '04': 'suspected_fraud',
    '05': 'do_not_honor',
    '07': 'suspected_fraud',
    '12': 'card_not_supported',
    '13': 'invalid_request',
    '14': 'invalid_card_data',
    '15': 'invalid_card_data',
    '41': 'suspected_fraud',
    '43': 'suspected_fraud',
    '46': 'expired_card',
    '51': 'insufficient_funds',
    '54': 'expired_card',
    '55': 'invalid_card_data',
    '57': 'card_not_supported',
    '58': 'card_not_supported',
    '59': 'suspected_fraud',
    '61': 'limit_exceeded',
    '62': 'card_not_supported',
    '63': 'suspected_fraud',
    '65': 'authentication_required',
    '1A': 'authentication_required',
    '70': 'authentication_required',
    '75': { category: 'invalid_card_data', action: 'use_another_method' },
    '78': 'suspected_fraud',
    '79': 'do_not_honor',
    '82': 'do_not_honor',
    '83': 'suspected_fraud',
    '91': 'try_again_later',
    '93': 'card_not_supported',
    '96': 'processing_error',
    N7: 'invalid_card_data',
    R0: 'do_not_honor',
    R1: 'do_not_honor',
  },
};

/** The leading response code of a `refusalReasonRaw` (`"51 : Insufficient funds"` → `51`, `"5"` → `05`). */
export function rawResponseCode(raw: string): string | undefined {
  const m = /^\s*([0-9A-Za-z]{1,2})\b/.exec(raw);
  if (!m) return undefined;
  const code = m[1].toUpperCase();
  return /^\d$/.test(code) ? `0${code}` : code;
}

/** `additionalData.refusalReasonRaw` of an Adyen answer body, when there. */
function refusalReasonRaw(body: string): string | undefined {
  try {
    const json: unknown = JSON.parse(body);
    const additional = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).additionalData : undefined;
    const raw = typeof additional === 'object' && additional !== null ? (additional as Record<string, unknown>).refusalReasonRaw : undefined;
    return typeof raw === 'string' && raw.length > 0 ? raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The decline of an Adyen FAIL answer: its refusal reason (ADYEN_DECLINES); a generic one (do_not_honor)
 * is refined by the raw acquirer response when Adyen sends it and the code is listed. The code is then
 * `<refusalReasonCode>:<raw code>` (e.g. `2:51`), so both stay visible. Reads the body only on a FAIL.
 */
export function adyenDecline(outcome: GatewayOutcome, responseBody: string): GatewayOutcome {
  if (outcome.status !== 'FAIL') return outcome;
  const decline = outcome.decline ?? describeDecline(ADYEN_DECLINES, outcome.reason ?? outcome.gatewayStatus);
  const raw = decline.category === 'do_not_honor' ? refusalReasonRaw(responseBody) : undefined;
  const rawCode = raw === undefined ? undefined : rawResponseCode(raw);
  if (rawCode === undefined || !isKnownCode(ADYEN_RAW_RESPONSES, rawCode)) return { ...outcome, decline };
  const refined = describeDecline(ADYEN_RAW_RESPONSES, rawCode);
  return { ...outcome, decline: { ...refined, gateway_code: safeGatewayCode(`${decline.gateway_code}:${rawCode}`) } };
}

/**
 * The decline of a capture or refund the card scheme rejected with its own raw message in Adyen's template: a `reason`
 * ending "(account configuration error)" (the merchant account's configuration at Adyen) or "(incorrect request)",
 * after the scheme's message, which differs per payment, so no exact row can match it. The row of Adyen's template
 * (`ACCOUNT_CONFIGURATION_REJECTION`, `INCORRECT_REQUEST_REJECTION`), the reason itself as the code; undefined for any
 * other reason (the table reads it as usual).
 */
export function adyenSchemeRejection(reason: string | undefined): Decline | undefined {
  if (reason === undefined) return undefined;
  const row = SCHEME_REJECTION_ENDINGS.find(([ending]) => ending.test(reason))?.[1];
  return row === undefined ? undefined : declineOfRow(ADYEN_DECLINES, row, reason);
}

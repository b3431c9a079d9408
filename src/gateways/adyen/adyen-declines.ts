import { DeclineRule, DeclineTable } from '../../errors/decline';

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
  ],
  fallback: 'unknown',
  rules: {
    ...Object.fromEntries(ADYEN_REFUSAL_REASONS.flatMap(([code, text, rule]) => [[code, rule], [text, rule]])),
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
    REFUNDED_REVERSED: 'processing_error',
    VOID_PENDING_REFUND: 'cancelled',
    TECHNICAL_CANCEL: 'cancelled',
    OFFER_CLOSED: 'cancelled',
  },
};

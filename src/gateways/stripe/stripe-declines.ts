import { DeclineTable } from '../../errors/decline';

/**
 * Stripe's codes → decline categories. Sources:
 * - Decline codes (`decline_code`, closed list, with Stripe's "next steps"): https://docs.stripe.com/declines/codes
 * - Error codes (`error.code`, `last_payment_error.code`), the payment-related ones: https://docs.stripe.com/error-codes
 * - `PaymentIntent.cancellation_reason` and `Refund.failure_reason` enums, and the PaymentIntent / Refund
 *   statuses used as the reason when Stripe gives no code: the API reference (2023-08-16, `test/fixtures/specs/`).
 * The action differs from the category's default where Stripe's next step says so.
 */
export const STRIPE_DECLINES: DeclineTable = {
  gateway: 'stripe',
  sources: [
    'Stripe decline codes: https://docs.stripe.com/declines/codes',
    'Stripe error codes: https://docs.stripe.com/error-codes',
    'Stripe API reference 2023-08-16: PaymentIntent.cancellation_reason, Refund.failure_reason, PaymentIntent and Refund statuses',
  ],
  fallback: 'unknown',
  rules: {
    // Decline codes (the complete documented list).
    authentication_required: 'authentication_required',
    approve_with_id: { category: 'do_not_honor', action: 'retry_later' },
    call_issuer: 'do_not_honor',
    card_not_supported: 'card_not_supported',
    card_velocity_exceeded: 'limit_exceeded',
    currency_not_supported: 'card_not_supported',
    do_not_honor: 'do_not_honor',
    do_not_try_again: 'do_not_honor',
    duplicate_transaction: 'operation_not_permitted',
    expired_card: 'expired_card',
    fraudulent: 'suspected_fraud',
    generic_decline: 'do_not_honor',
    incorrect_number: 'invalid_card_data',
    incorrect_cvc: 'invalid_card_data',
    incorrect_pin: 'invalid_card_data',
    incorrect_zip: 'invalid_card_data',
    insufficient_funds: 'insufficient_funds',
    invalid_account: 'do_not_honor',
    invalid_amount: 'limit_exceeded',
    invalid_cvc: 'invalid_card_data',
    invalid_expiry_month: 'invalid_card_data',
    invalid_expiry_year: 'invalid_card_data',
    invalid_number: 'invalid_card_data',
    invalid_pin: 'invalid_card_data',
    issuer_not_available: 'try_again_later',
    lost_card: 'suspected_fraud',
    merchant_blacklist: 'suspected_fraud',
    new_account_information_available: { category: 'invalid_card_data', action: 'use_another_method' },
    no_action_taken: 'do_not_honor',
    not_permitted: 'card_not_supported',
    offline_pin_required: 'authentication_required',
    online_or_offline_pin_required: 'authentication_required',
    pickup_card: 'suspected_fraud',
    pin_try_exceeded: { category: 'invalid_card_data', action: 'use_another_method' },
    processing_error: 'processing_error',
    reenter_transaction: 'processing_error',
    restricted_card: 'suspected_fraud',
    revocation_of_all_authorizations: 'do_not_honor',
    revocation_of_authorization: 'do_not_honor',
    security_violation: 'suspected_fraud',
    service_not_allowed: 'card_not_supported',
    stolen_card: 'suspected_fraud',
    stop_payment_order: 'do_not_honor',
    testmode_decline: 'card_not_supported',
    transaction_not_allowed: 'card_not_supported',
    try_again_later: 'try_again_later',
    withdrawal_count_limit_exceeded: 'limit_exceeded',
    // Error codes of payments and refunds (the list is open: unknown ones fall back and are logged).
    card_declined: 'do_not_honor',
    card_decline_rate_limit_exceeded: { category: 'limit_exceeded', action: 'retry_later' },
    payment_intent_authentication_failure: 'authentication_required',
    payment_intent_payment_attempt_failed: 'do_not_honor',
    payment_method_provider_decline: 'do_not_honor',
    payment_method_unactivated: 'card_not_supported',
    payment_method_unexpected_state: 'invalid_request',
    payment_intent_unexpected_state: 'operation_not_permitted',
    charge_already_captured: 'operation_not_permitted',
    charge_already_refunded: 'operation_not_permitted',
    charge_expired_for_capture: 'operation_not_permitted',
    charge_disputed: 'operation_not_permitted',
    refund_disputed_payment: 'operation_not_permitted',
    amount_too_large: 'invalid_request',
    amount_too_small: 'invalid_request',
    balance_insufficient: 'processing_error',
    parameter_invalid_integer: 'invalid_request',
    parameter_missing: 'invalid_request',
    resource_missing: 'invalid_request',
    idempotency_key_in_use: 'try_again_later',
    // PaymentIntent.cancellation_reason (closed enum; `fraudulent` is above).
    abandoned: 'cancelled',
    automatic: 'cancelled',
    duplicate: 'cancelled',
    failed_invoice: 'cancelled',
    requested_by_customer: 'cancelled',
    void_invoice: 'cancelled',
    // Refund.failure_reason (closed list; `insufficient_funds` is above).
    lost_or_stolen_card: 'suspected_fraud',
    expired_or_canceled_card: 'expired_card',
    charge_for_pending_refund_disputed: 'operation_not_permitted',
    declined: 'do_not_honor',
    merchant_request: 'cancelled',
    unknown: 'processing_error',
    // Statuses that are the reason when Stripe names no code (see stripe-responses.ts).
    requires_payment_method: 'do_not_honor',
    requires_confirmation: 'invalid_request',
    requires_action: 'authentication_required',
    requires_capture: 'operation_not_permitted',
    succeeded: 'operation_not_permitted',
    canceled: 'cancelled',
    failed: 'processing_error',
    // Ours, from stripe-responses.ts: the PaymentMethod belongs to another Customer.
    attached_to_another_customer: 'invalid_request',
    // Ours, from stripe-responses.ts: a capture (or cancel) of an authorization Stripe cancelled itself (`automatic`):
    // it lapsed, the hold is released, nothing is left to capture: obtain a new authorization. A cancel's FAIL for it
    // says `none` instead (the hold it asked to release is released).
    authorization_expired: { category: 'cancelled', action: 'reauthorize' },
  },
};

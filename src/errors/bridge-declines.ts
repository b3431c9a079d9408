import { DeclineTable } from './decline';

/**
 * payment-bridge's own failure reasons (an operation failed before or without the PSP saying no) →
 * decline categories. A reason not listed here is `bridge_refused` (contact_support): our refusals are
 * never silent, and a new one only needs a row to get a finer category.
 */
export const BRIDGE_DECLINES: DeclineTable = {
  gateway: 'bridge',
  sources: ['payment-bridge: delivery, routing and intake refusals (src/delivery/, src/routing/)'],
  fallback: 'bridge_refused',
  rules: {
    UNKNOWN_GATEWAY: { category: 'bridge_refused', action: 'contact_support' },
    UNSUPPORTED_COMMAND: { category: 'bridge_refused', action: 'fix_request' },
    AUTHORIZATION_REFERENCE_MISSING: { category: 'bridge_refused', action: 'fix_request' },
    AUTHORIZATION_FAILED: 'operation_not_permitted',
    // A void of a stored value transaction past its PSP's void window (Adyen: 24 hours): it stands, a new transaction undoes it.
    VOID_WINDOW_PASSED: { category: 'operation_not_permitted', action: 'reverse_with_new_transaction' },
    // A cancel naming one of our captures or refunds that was voided (or undone by the PSP) already: nothing left to void.
    ALREADY_UNDONE: { category: 'operation_not_permitted', action: 'none' },
    // A cancel naming one of our captures while refunds of the payment give back more than the other captures leave:
    // voided, the shopper would be paid back twice; a refund of the rest returns the money.
    CAPTURE_REFUNDED: { category: 'operation_not_permitted', action: 'fix_request' },
    // A cancel naming one of our captures or refunds whose authorization cannot be read: its void's guards cannot run,
    // so whether it may be voided is for a person to check with the PSP.
    VOID_UNCHECKABLE: { category: 'bridge_refused', action: 'contact_support' },
    // A cancel voiding one of our captures whose wait for another void or refunds in flight ran out (src/delivery/dependent-wait.ts
    // VOID_WAIT_MAX_MS): nothing sent; what the payment owes is for a person to settle with the PSP.
    VOID_WAIT_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    // A cancel or refund whose wait on another guard between voids and refunds ran out (the same bound, BOUNDED_WAITS):
    // the code names what it waited for (refunds in flight, a void of what it refunds, another void of the same
    // transaction, captures in flight or not yet delivered, the capture or refund a void names); nothing sent, a person
    // settles that with the PSP first.
    WAIT_FOR_REFUNDS_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    WAIT_FOR_VOID_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    WAIT_FOR_OTHER_VOID_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    WAIT_FOR_CAPTURES_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    WAIT_FOR_TRANSACTION_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    // Any dependent whose wait for its authorization to be decided, or for others of the same command ahead of it, ran
    // out (the same bound): nothing sent; a person settles what it waited for with the PSP, then sends what is owed.
    WAIT_FOR_AUTH_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    WAIT_FOR_SIBLINGS_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    // A capture, cancel or refund of a split tender's step whose wait for the split to settle ran out (the same bound).
    WAIT_FOR_SPLIT_TENDER_EXPIRED: { category: 'bridge_refused', action: 'contact_support' },
    // A capture, cancel or refund of a split tender's step after its split rolled back: the OMS was told the order failed
    // and the split reverses the step itself; nothing to capture, cancel or refund.
    SPLIT_TENDER_ROLLED_BACK: { category: 'operation_not_permitted', action: 'none' },
    // A gift card refund naming the card by its number where a payment's reference goes (src/delivery/operation-context.ts).
    CARD_DATA_REJECTED: { category: 'bridge_refused', action: 'fix_request' },
    // Orphan reversal's void of an extra authorization whose hold another move recorded as the operation's own since it
    // was requested (a webhook of that hold won the race): the OMS's authorization, never voided; the other hold is for a person.
    EXTRA_AUTHORIZATION_RECORDED: { category: 'bridge_refused', action: 'contact_support' },
    // Orphan reversal's void of an extra authorization whose authorize ended FAILED (or is gone) before it went: which
    // hold the OMS has cannot be told, so nothing is voided on a guess (src/delivery/extra-authorization-void.ts).
    EXTRA_AUTHORIZATION_NOT_SUCCEEDED: { category: 'bridge_refused', action: 'contact_support' },
    // A cancel of a FAILED authorization the PSP released after its late success: nothing held to void.
    AUTHORIZATION_RELEASED: 'operation_not_permitted',
    // A capture failing after the PSP voided its authorization the OMS was told succeeded (src/delivery/authorization-lapse.ts).
    authorization_cancelled: 'operation_not_permitted',
    UNRESPONSIVE: 'processing_error',
    idempotency_conflict: { category: 'bridge_refused', action: 'fix_request' },
    currency_mismatch: { category: 'bridge_refused', action: 'fix_request' },
    // Refused against our authorization before any gateway call (src/delivery/operation-context.ts).
    authorization_scope_mismatch: { category: 'bridge_refused', action: 'fix_request' },
    amount_exceeds_authorized: { category: 'bridge_refused', action: 'fix_request' },
    // The amount is held by a capture the PSP said failed after accepting it, which it may capture again itself (Adyen
    // re-captures after CAPTURE_FAILED): capturing it again is for a person to settle with the PSP, not a request to fix.
    amount_held_by_failed_capture: { category: 'operation_not_permitted', action: 'contact_support' },
    amount_exceeds_captured: { category: 'bridge_refused', action: 'fix_request' },
    // The amount is held by a refund the PSP failed for a reason it retries itself (Adyen's technical issue): it may still
    // give that amount back, so refunding it again is for a person to settle with the PSP, not a request to fix.
    amount_held_by_failed_refund: { category: 'operation_not_permitted', action: 'contact_support' },
    // A cancel of an authorization whose capture the PSP failed but retries itself (Adyen's technical issue): the PSP may
    // still capture it, so nothing was released; settling the order is for a person with the PSP.
    capture_held_for_psp_retry: { category: 'operation_not_permitted', action: 'contact_support' },
    // A cancel of an authorization whose held capture the PSP's retry did after all (Adyen's "Transaction Recaptured"):
    // captured at the PSP, which cancels no captured payment; the money goes back with a refund (the refusal's action is
    // `none` instead when refunds done, or still in flight, give it all back: src/delivery/operation-context.ts).
    captured_by_psp_retry: { category: 'operation_not_permitted', action: 'refund_instead' },
    capture_already_made: { category: 'operation_not_permitted', action: 'fix_request' },
    amount_too_small_to_convert: { category: 'bridge_refused', action: 'fix_request' },
    // The customer never completed the PSP's action (3-D Secure, a redirect) in time (src/poller/action-expiry.ts).
    ACTION_EXPIRED: { category: 'authentication_required', action: 'authenticate' },
    // A recurring cycle that failed after its last retry (src/recurring/): the last decline's category travels on its own event.
    RECURRING_RETRIES_EXHAUSTED: { category: 'do_not_honor', action: 'use_another_method' },
    // A terminal GatewayError without a PSP code: its kind (`GatewayError.code`).
    GATEWAY_DECLINED: 'do_not_honor',
    GATEWAY_INVALID_REQUEST: 'invalid_request',
    GATEWAY_IDEMPOTENCY_CONFLICT: { category: 'invalid_request', action: 'contact_support' },
    GATEWAY_NOT_FOUND: 'invalid_request',
    // Orchestration limits (src/orchestration/: caps, risk, FX stages), refused before any gateway call.
    CAP_EXCEEDED: { category: 'limit_exceeded', action: 'use_another_method' },
    RISK_DECLINED: { category: 'suspected_fraud', action: 'use_another_method' },
    RISK_REVIEW_EXPIRED: { category: 'cancelled', action: 'none' },
    FX_RATE_STALE: { category: 'try_again_later', action: 'retry_later' },
    FX_RATE_UNAVAILABLE: { category: 'bridge_refused', action: 'contact_support' },
  },
};

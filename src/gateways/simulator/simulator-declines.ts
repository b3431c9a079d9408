import { DeclineTable } from '../../errors/decline';

/**
 * The PSP simulator's codes → decline categories: every `decline_code` and 422 refusal code it documents
 * (`harness/twins/psp-simulator/psp-simulator.ts`), the `declined` status used when no code is given, and its
 * 400/404 codes. The list is closed.
 */
export const SIMULATOR_DECLINES: DeclineTable = {
  gateway: 'simulator',
  sources: ['PSP simulator API: harness/twins/psp-simulator/psp-simulator.ts (decline_code, 422 refusal codes, 400/404 codes)'],
  fallback: 'unknown',
  rules: {
    card_declined: 'do_not_honor',
    insufficient_funds: 'insufficient_funds',
    expired_card: 'expired_card',
    fraudulent: 'suspected_fraud',
    authentication_failed: { category: 'authentication_required', action: 'use_another_method' },
    declined: 'do_not_honor',
    amount_exceeds_authorized: 'operation_not_permitted',
    amount_exceeds_captured: 'operation_not_permitted',
    authorization_captured: 'operation_not_permitted',
    authorization_cancelled: 'operation_not_permitted',
    authorization_declined: 'operation_not_permitted',
    authorization_pending: { category: 'operation_not_permitted', action: 'retry_later' },
    authorization_requires_action: { category: 'operation_not_permitted', action: 'retry_later' },
    invalid_payment_method: { category: 'invalid_card_data', action: 'use_another_method' },
    invalid_request: 'invalid_request',
    invalid_json: 'invalid_request',
    idempotency_key_required: 'invalid_request',
    idempotency_conflict: 'invalid_request',
    not_found: 'invalid_request',
  },
};

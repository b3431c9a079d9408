import { GatewayError } from '../../errors/gateway-error';
import { pspValueText } from '../../errors/psp-text';
import { CommandType } from '../../contracts/payment-command';
import { assertNever } from '../assert-never';
import { OutcomeStatus } from '../gateway-adapter';

/** Every PaymentIntent status Stripe documents (API 2023-08-16). */
export const PAYMENT_INTENT_STATUSES = [
  'requires_payment_method',
  'requires_confirmation',
  'requires_action',
  'processing',
  'requires_capture',
  'canceled',
  'succeeded',
] as const;
export type PaymentIntentStatus = (typeof PAYMENT_INTENT_STATUSES)[number];

/** Every SetupIntent status Stripe documents (API 2023-08-16). */
export const SETUP_INTENT_STATUSES = ['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'canceled', 'succeeded'] as const;
export type SetupIntentStatus = (typeof SETUP_INTENT_STATUSES)[number];

/** Every Refund status Stripe documents. */
export const REFUND_STATUSES = ['pending', 'requires_action', 'succeeded', 'failed', 'canceled'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/** The commands whose answer is a PaymentIntent, grouped by what they expect of it. */
export type PaymentIntentCommand = Extract<CommandType, 'authorize' | 'revalidate' | 'validate' | 'sale' | 'capture' | 'cancel'>;

/**
 * Whether Stripe itself cancelled this manual-capture PaymentIntent (`cancellation_reason: automatic`: an
 * uncaptured authorization is cancelled once its capture window closes): the authorization lapsed. The one
 * reading of it, for the webhook and for reconciliation.
 */
export function isStripeLapse(pi: Readonly<Record<string, unknown>>): boolean {
  return pi.status === 'canceled' && pi.capture_method === 'manual' && pi.cancellation_reason === 'automatic';
}

/**
 * The cancellation reasons a cancel asked of Stripe leaves on a PaymentIntent: none (the bridge's cancel sends none)
 * or one the canceller gave, which the API reference calls user-provided (`abandoned`, `duplicate`, `fraudulent`,
 * `requested_by_customer`). Not Stripe's own (`automatic`: the authorization's capture window closed, it lapsed;
 * `failed_invoice`, `void_invoice`): no cancel asked for those.
 */
export const ASKED_CANCELLATION_REASONS: ReadonlySet<string> = new Set(['abandoned', 'duplicate', 'fraudulent', 'requested_by_customer']);

/** Whether a `canceled` PaymentIntent was cancelled by a cancel request (`ASKED_CANCELLATION_REASONS`), not by Stripe itself. */
export function isCancelledOnRequest(pi: Readonly<Record<string, unknown>>): boolean {
  const reason = pi.cancellation_reason;
  return pi.status === 'canceled' && (reason === undefined || reason === null || (typeof reason === 'string' && ASKED_CANCELLATION_REASONS.has(reason)));
}

/** Narrows a status string; an unknown one is `outcome_unknown`, never a quiet PENDING. */
export function parsePaymentIntentStatus(value: unknown, gateway: string): PaymentIntentStatus {
  const found = PAYMENT_INTENT_STATUSES.find((s) => s === value);
  if (found === undefined) throw new GatewayError('outcome_unknown', gateway, `unknown PaymentIntent status ${pspValueText(value)}`);
  return found;
}

export function parseSetupIntentStatus(value: unknown, gateway: string): SetupIntentStatus {
  const found = SETUP_INTENT_STATUSES.find((s) => s === value);
  if (found === undefined) throw new GatewayError('outcome_unknown', gateway, `unknown SetupIntent status ${pspValueText(value)}`);
  return found;
}

/**
 * What a SetupIntent status means for the tokenize that confirmed it: `succeeded` leaves the PaymentMethod
 * set up for off-session use and attached to the Customer; `requires_action` waits for the customer
 * (3-D Secure, a mandate); `processing` resolves later; the rest will not progress without a new request.
 */
export function setupIntentOutcome(status: SetupIntentStatus): OutcomeStatus {
  switch (status) {
    case 'succeeded':
      return 'SUCCESS';
    case 'requires_action':
      return 'ACTION_REQUIRED';
    case 'processing':
      return 'PENDING';
    case 'requires_payment_method':
    case 'requires_confirmation':
    case 'canceled':
      return 'FAIL';
    default:
      return assertNever(status, 'SetupIntent status');
  }
}

export function parseRefundStatus(value: unknown, gateway: string): RefundStatus {
  const found = REFUND_STATUSES.find((s) => s === value);
  if (found === undefined) throw new GatewayError('outcome_unknown', gateway, `unknown Refund status ${pspValueText(value)}`);
  return found;
}

type ByCommand = Readonly<Record<PaymentIntentCommand, OutcomeStatus>>;

/**
 * What a PaymentIntent status means for the command that produced or inquired it.
 *
 * authorize / revalidate are sent with `confirm=true, capture_method=manual`, so `requires_capture` is a
 * held authorization; `requires_confirmation` after a confirm (or `requires_payment_method`, a decline)
 * will not progress without a new request, hence FAIL. `requires_action` (3-D Secure, a redirect to
 * Klarna or a wallet) waits for the customer: ACTION_REQUIRED, its `next_action` handed to the storefront;
 * `processing` resolves later by webhook or status inquiry: PENDING. validate asks whether the authorization still
 * stands. A sale in `requires_capture` is held but not yet captured: PENDING until it moves.
 */
export function paymentIntentOutcome(status: PaymentIntentStatus, command: PaymentIntentCommand): OutcomeStatus {
  const table = ((): ByCommand => {
    switch (status) {
      case 'requires_payment_method':
        return { authorize: 'FAIL', revalidate: 'FAIL', validate: 'FAIL', sale: 'FAIL', capture: 'FAIL', cancel: 'FAIL' };
      case 'requires_confirmation':
        return { authorize: 'FAIL', revalidate: 'FAIL', validate: 'FAIL', sale: 'FAIL', capture: 'FAIL', cancel: 'FAIL' };
      case 'requires_action':
        return { authorize: 'ACTION_REQUIRED', revalidate: 'ACTION_REQUIRED', validate: 'PENDING', sale: 'ACTION_REQUIRED', capture: 'FAIL', cancel: 'FAIL' };
      case 'processing':
        return { authorize: 'PENDING', revalidate: 'PENDING', validate: 'PENDING', sale: 'PENDING', capture: 'PENDING', cancel: 'PENDING' };
      case 'requires_capture':
        return { authorize: 'SUCCESS', revalidate: 'SUCCESS', validate: 'SUCCESS', sale: 'PENDING', capture: 'PENDING', cancel: 'FAIL' };
      case 'canceled':
        return { authorize: 'FAIL', revalidate: 'FAIL', validate: 'FAIL', sale: 'FAIL', capture: 'FAIL', cancel: 'SUCCESS' };
      case 'succeeded':
        return { authorize: 'SUCCESS', revalidate: 'SUCCESS', validate: 'SUCCESS', sale: 'SUCCESS', capture: 'SUCCESS', cancel: 'FAIL' };
      default:
        return assertNever(status, 'PaymentIntent status');
    }
  })();
  return table[command];
}

/** What a Refund status means: `pending` and `requires_action` settle later; `failed`/`canceled` refuse. */
export function refundOutcome(status: RefundStatus): OutcomeStatus {
  switch (status) {
    case 'pending':
    case 'requires_action':
      return 'PENDING';
    case 'succeeded':
      return 'SUCCESS';
    case 'failed':
    case 'canceled':
      return 'FAIL';
    default:
      return assertNever(status, 'Refund status');
  }
}

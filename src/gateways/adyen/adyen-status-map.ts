import { GatewayError } from '../../errors/gateway-error';
import { pspValueText } from '../../errors/psp-text';
import { assertNever } from '../assert-never';
import { CommandType } from '../../contracts/payment-command';
import { OutcomeStatus } from '../gateway-adapter';

/**
 * Adyen's statuses, mapped exhaustively (Checkout API v71 and Webhooks v1, `test/fixtures/specs/`). Every
 * documented value has its own arm; a value Adyen adds later is a `GatewayError('outcome_unknown')`, never
 * a quiet PENDING.
 */

/** `PaymentResponse.resultCode` of `POST /payments`, exactly the spec's enum. */
export const ADYEN_RESULT_CODES = [
  'AuthenticationFinished',
  'AuthenticationNotRequired',
  'Authorised',
  'Cancelled',
  'ChallengeShopper',
  'Error',
  'IdentifyShopper',
  'PartiallyAuthorised',
  'Pending',
  'PresentToShopper',
  'Received',
  'RedirectShopper',
  'Refused',
  'Success',
] as const;
export type AdyenResultCode = (typeof ADYEN_RESULT_CODES)[number];

/** `status` of the modification answers (captures, cancels, refunds, reversals, amountUpdates). */
export const ADYEN_MODIFICATION_STATUSES = ['received'] as const;
export type AdyenModificationStatus = (typeof ADYEN_MODIFICATION_STATUSES)[number];

/**
 * `eventCode` of standard notifications: the `NotificationRequestItem.eventCode` enum plus every webhook
 * the Webhooks v1 spec lists as a path (ACH_NOTIFICATION_OF_CHANGE, SCHEME_ARBITRATION…).
 */
export const ADYEN_EVENT_CODES = [
  'ACH_NOTIFICATION_OF_CHANGE',
  'AUTHENTICATION',
  'AUTHORISATION',
  'AUTHORISATION_ADJUSTMENT',
  'AUTORESCUE',
  'CANCELLATION',
  'CANCEL_AUTORESCUE',
  'CANCEL_OR_REFUND',
  'CAPTURE',
  'CAPTURE_FAILED',
  'CHARGEBACK',
  'CHARGEBACK_REVERSED',
  'DIRECT_DEBIT_NOTICE_OF_CHANGE_NOTIFICATION',
  'DISPUTE_DEFENSE_PERIOD_ENDED',
  'DONATION',
  'EXPIRE',
  'HANDLED_EXTERNALLY',
  'INFORMATION_SUPPLIED',
  'ISSUER_COMMENTS',
  'ISSUER_RESPONSE_TIMEFRAME_EXPIRED',
  'MANUAL_REVIEW_ACCEPT',
  'MANUAL_REVIEW_REJECT',
  'NOTIFICATION_OF_CHARGEBACK',
  'NOTIFICATION_OF_FRAUD',
  'OFFER_CLOSED',
  'ORDER_CLOSED',
  'ORDER_OPENED',
  'PAIDOUT_REVERSED',
  'PAYOUT_DECLINE',
  'PAYOUT_EXPIRE',
  'PAYOUT_THIRDPARTY',
  'PENDING',
  'POSTPONED_REFUND',
  'PREARBITRATION_ACCEPTED',
  'PREARBITRATION_DECLINED',
  'PREARBITRATION_ISSUER_WITHDRAWN',
  'PREARBITRATION_LOST',
  'PREARBITRATION_OPEN',
  'PREARBITRATION_WON',
  'PROCESS_RETRY',
  'RECURRING_CONTRACT',
  'REFUND',
  'REFUNDED_REVERSED',
  'REFUND_FAILED',
  'REFUND_WITH_DATA',
  'REPORT_AVAILABLE',
  'REQUEST_FOR_INFORMATION',
  'SCHEME_ARBITRATION',
  'SCHEME_ARBITRATION_LOST',
  'SCHEME_ARBITRATION_WON',
  'SECOND_CHARGEBACK',
  'TECHNICAL_CANCEL',
  'VOID_PENDING_REFUND',
] as const;
export type AdyenEventCode = (typeof ADYEN_EVENT_CODES)[number];

function unknown(what: string, value: string, gateway: string): GatewayError {
  return new GatewayError('outcome_unknown', gateway, `unmapped Adyen ${what} ${pspValueText(value)}`, { gatewayCode: value });
}

function isOneOf<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}

/**
 * Outcome of a `/payments` resultCode.
 *
 * With a shopper there (a one-time method, or a stored card charged on-session: `shopperPresent`), the
 * codes that ask for the shopper (3-D Secure identify/challenge, a redirect, present-to-shopper) are
 * ACTION_REQUIRED: the storefront gets Adyen's `action` and the AUTHORISATION webhook completes it. A
 * merchant-initiated charge on a stored card has no shopper session: those codes are failures of the
 * operation there, not a wait nobody can end. Codes that only report an authentication (we never ask
 * for authentication only) fail either way.
 */
export function resultCodeStatus(resultCode: AdyenResultCode, shopperPresent = false): OutcomeStatus {
  switch (resultCode) {
    case 'Authorised':
    case 'Success':
      return 'SUCCESS';
    // Only with allowPartialAuth, which we never send; if it happens the money is held: report it with its amount.
    case 'PartiallyAuthorised':
      return 'SUCCESS';
    case 'Received':
    case 'Pending':
      return 'PENDING';
    case 'Refused':
    case 'Error':
    case 'Cancelled':
      return 'FAIL';
    case 'ChallengeShopper':
    case 'IdentifyShopper':
    case 'PresentToShopper':
    case 'RedirectShopper':
      return shopperPresent ? 'ACTION_REQUIRED' : 'FAIL';
    case 'AuthenticationFinished':
    case 'AuthenticationNotRequired':
      return 'FAIL';
    default:
      return assertNever(resultCode, 'Adyen resultCode');
  }
}

/** `resultCodeStatus` for a string from the wire: an undocumented code throws `outcome_unknown`. */
export function mapResultCode(value: string, gateway: string, shopperPresent = false): OutcomeStatus {
  if (!isOneOf(ADYEN_RESULT_CODES, value)) throw unknown('resultCode', value, gateway);
  return resultCodeStatus(value, shopperPresent);
}

/** Modifications are asynchronous: `received` means Adyen has it; the webhook brings the outcome. */
export function modificationStatus(status: AdyenModificationStatus): OutcomeStatus {
  switch (status) {
    case 'received':
      return 'PENDING';
    default:
      return assertNever(status, 'Adyen modification status');
  }
}

/** `modificationStatus` for a string from the wire: anything but `received` throws `outcome_unknown`. */
export function mapModificationStatus(value: string, gateway: string): OutcomeStatus {
  if (!isOneOf(ADYEN_MODIFICATION_STATUSES, value)) throw unknown('modification status', value, gateway);
  return modificationStatus(value);
}

/** The commands the bridge sends to Adyen as a payment (`POST /payments`, adyen-requests.ts). */
const PAYMENT_COMMANDS: readonly CommandType[] = ['authorize', 'sale', 'revalidate'];

/**
 * The commands the bridge sends to Adyen as a modification of a payment (`POST /payments/{pspReference}/…`),
 * each answered `received` with the modification's own pspReference, which the ledger indexes to its operation.
 */
const MODIFICATION_COMMANDS: ReadonlySet<CommandType> = new Set(['capture', 'cancel', 'refund', 'validate']);

/**
 * What a notification says about the operation named by its `merchantReference`: its outcome when the item's
 * `success` flag is `"true"` and when it is `"false"` (`ignore`: not the outcome of a command we send), and
 * the commands whose operation that outcome settles. Webhooks v1 describes `merchantReference` as the
 * payment's reference; Adyen sends a modification's own `reference` when one was given, else the payment's.
 * So a modification made outside the bridge (a cancel in the Customer Area) names the authorization and is not
 * its outcome, and one the bridge sent may name its own operation (the `reference` it sent, our operation id)
 * or the authorization: then its operation is the one holding the item's `pspReference`
 * (`isModificationEvent`, `webhooks/outcome-by-reference.ts`).
 */
interface EventReading {
  onSuccess: OutcomeStatus | 'ignore';
  onFailure: OutcomeStatus | 'ignore';
  settles: readonly CommandType[];
  /** What a success of a notification that is no outcome still tells about the payment it names (`eventNotice`). */
  notice?: AdyenNotice;
}

/**
 * What a notification that is neither an outcome nor a late fact about money tells about the payment it names:
 * - `review_accepted` / `review_rejected`: a reviewer decided the payment's manual review (case management). The
 *   decision alone moves no money: Adyen's case management settings say what follows (for a rejection, a cancel, or
 *   a refund of a payment captured already, each reported in a CANCEL_OR_REFUND or CANCELLATION notification of its
 *   own; or nothing), so it is recorded, never reported as the payment released;
 * - `stored_token`: RECURRING_CONTRACT, a token on first use created ("A recurring contract has been created"), its
 *   `pspReference` the token ("This is the same as the recurringDetailReference").
 */
export type AdyenNotice = 'review_accepted' | 'review_rejected' | 'stored_token';

const decides = (settles: readonly CommandType[]): EventReading => ({ onSuccess: 'SUCCESS', onFailure: 'FAIL', settles });
const failsOnSuccess = (settles: readonly CommandType[]): EventReading => ({ onSuccess: 'FAIL', onFailure: 'ignore', settles });
const waitsOnSuccess = (settles: readonly CommandType[]): EventReading => ({ onSuccess: 'PENDING', onFailure: 'ignore', settles });
const OTHER_FLOW: EventReading = { onSuccess: 'ignore', onFailure: 'ignore', settles: [] };
const notes = (notice: AdyenNotice): EventReading => ({ ...OTHER_FLOW, notice });

/** Every event code of the spec, read once (a `Record`: the compiler wants each code). */
const EVENT_READINGS: Readonly<Record<AdyenEventCode, EventReading>> = {
  // The outcome of the request we sent: success decides.
  AUTHORISATION: decides(PAYMENT_COMMANDS),
  AUTHORISATION_ADJUSTMENT: decides(['validate']),
  CAPTURE: decides(['capture']),
  CANCELLATION: decides(['cancel']),
  CANCEL_OR_REFUND: decides(['cancel', 'refund']),
  REFUND: decides(['refund']),
  REFUND_WITH_DATA: decides(['refund']),
  // Later failures of an accepted capture or refund, and Adyen closing a payment on its own.
  CAPTURE_FAILED: failsOnSuccess(['capture']),
  REFUND_FAILED: failsOnSuccess(['refund']),
  REFUNDED_REVERSED: failsOnSuccess(['refund']),
  VOID_PENDING_REFUND: failsOnSuccess(['refund']),
  TECHNICAL_CANCEL: failsOnSuccess(PAYMENT_COMMANDS),
  OFFER_CLOSED: failsOnSuccess(PAYMENT_COMMANDS),
  // The refund is accepted but waits for funds; a payment waits for the shopper or the method.
  POSTPONED_REFUND: waitsOnSuccess(['refund']),
  PENDING: waitsOnSuccess(PAYMENT_COMMANDS),
  // A token on first use Adyen reports apart from the AUTHORISATION (whose additionalData carries it only when the
  // merchant turned that on), and a manual review's decision: notices about the payment, never its outcome.
  RECURRING_CONTRACT: notes('stored_token'),
  MANUAL_REVIEW_ACCEPT: notes('review_accepted'),
  MANUAL_REVIEW_REJECT: notes('review_rejected'),
  // Other flows: disputes, payouts, reports are late facts (adyen-adjustments.ts) or none of ours.
  AUTHENTICATION: OTHER_FLOW,
  ACH_NOTIFICATION_OF_CHANGE: OTHER_FLOW,
  DIRECT_DEBIT_NOTICE_OF_CHANGE_NOTIFICATION: OTHER_FLOW,
  PREARBITRATION_ACCEPTED: OTHER_FLOW,
  PREARBITRATION_DECLINED: OTHER_FLOW,
  PREARBITRATION_ISSUER_WITHDRAWN: OTHER_FLOW,
  SCHEME_ARBITRATION: OTHER_FLOW,
  SCHEME_ARBITRATION_LOST: OTHER_FLOW,
  SCHEME_ARBITRATION_WON: OTHER_FLOW,
  AUTORESCUE: OTHER_FLOW,
  CANCEL_AUTORESCUE: OTHER_FLOW,
  PROCESS_RETRY: OTHER_FLOW,
  DONATION: OTHER_FLOW,
  CHARGEBACK: OTHER_FLOW,
  CHARGEBACK_REVERSED: OTHER_FLOW,
  DISPUTE_DEFENSE_PERIOD_ENDED: OTHER_FLOW,
  EXPIRE: OTHER_FLOW,
  HANDLED_EXTERNALLY: OTHER_FLOW,
  INFORMATION_SUPPLIED: OTHER_FLOW,
  ISSUER_COMMENTS: OTHER_FLOW,
  ISSUER_RESPONSE_TIMEFRAME_EXPIRED: OTHER_FLOW,
  NOTIFICATION_OF_CHARGEBACK: OTHER_FLOW,
  NOTIFICATION_OF_FRAUD: OTHER_FLOW,
  ORDER_CLOSED: OTHER_FLOW,
  ORDER_OPENED: OTHER_FLOW,
  PAIDOUT_REVERSED: OTHER_FLOW,
  PAYOUT_DECLINE: OTHER_FLOW,
  PAYOUT_EXPIRE: OTHER_FLOW,
  PAYOUT_THIRDPARTY: OTHER_FLOW,
  PREARBITRATION_LOST: OTHER_FLOW,
  PREARBITRATION_OPEN: OTHER_FLOW,
  PREARBITRATION_WON: OTHER_FLOW,
  REPORT_AVAILABLE: OTHER_FLOW,
  REQUEST_FOR_INFORMATION: OTHER_FLOW,
  SECOND_CHARGEBACK: OTHER_FLOW,
};

/** What an event says about the operation its `merchantReference` names (see `EVENT_READINGS`). */
export function eventOutcome(eventCode: AdyenEventCode, success: boolean): OutcomeStatus | 'ignore' {
  const reading = EVENT_READINGS[eventCode];
  return success ? reading.onSuccess : reading.onFailure;
}

/** What a success of an event that is no outcome tells about the payment it names (see `AdyenNotice`); null: nothing. */
export function eventNotice(eventCode: AdyenEventCode, success: boolean): AdyenNotice | null {
  return success ? (EVENT_READINGS[eventCode].notice ?? null) : null;
}

/** The commands whose operation an event's outcome (success or failure) settles (see `EVENT_READINGS`). */
export function eventSettles(eventCode: AdyenEventCode): readonly CommandType[] {
  return EVENT_READINGS[eventCode].settles;
}

/**
 * Whether an event is the outcome of a modification (its `settles` are modification commands only), so that its
 * `pspReference` is the modification's own: what its operation is found by when `merchantReference` names the
 * payment.
 */
export function isModificationEvent(eventCode: AdyenEventCode): boolean {
  const settles = EVENT_READINGS[eventCode].settles;
  return settles.length > 0 && settles.every((command) => MODIFICATION_COMMANDS.has(command));
}

/** Whether `value` is an event code of the Webhooks v1 spec (the ones `eventOutcome` maps). */
export function isAdyenEventCode(value: string): value is AdyenEventCode {
  return isOneOf(ADYEN_EVENT_CODES, value);
}

/** `eventOutcome` for strings from the wire: an unknown event code or success flag throws `outcome_unknown`. */
export function mapEvent(eventCode: string, success: string, gateway: string): OutcomeStatus | 'ignore' {
  if (!isOneOf(ADYEN_EVENT_CODES, eventCode)) throw unknown('eventCode', eventCode, gateway);
  if (success !== 'true' && success !== 'false') throw unknown('success flag', success, gateway);
  return eventOutcome(eventCode, success === 'true');
}

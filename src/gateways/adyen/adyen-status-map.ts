import { GatewayError } from '../../errors/gateway-error';
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
  return new GatewayError('outcome_unknown', gateway, `unmapped Adyen ${what} ${JSON.stringify(value.slice(0, 64))}`, { gatewayCode: value.slice(0, 64) });
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

/**
 * What a notification says about the operation named by its `merchantReference`: an outcome, or `ignore`
 * when the event is not the outcome of a command we send (disputes, payouts, reports, reviews…).
 * `success` is the item's own flag (`"true"`/`"false"`).
 */
export function eventOutcome(eventCode: AdyenEventCode, success: boolean): OutcomeStatus | 'ignore' {
  switch (eventCode) {
    // The outcome of the request we sent: success decides.
    case 'AUTHORISATION':
    case 'AUTHORISATION_ADJUSTMENT':
    case 'CAPTURE':
    case 'CANCELLATION':
    case 'CANCEL_OR_REFUND':
    case 'REFUND':
    case 'REFUND_WITH_DATA':
      return success ? 'SUCCESS' : 'FAIL';
    // Later failures of an accepted capture or refund, and Adyen cancelling a payment on its own.
    case 'CAPTURE_FAILED':
    case 'REFUND_FAILED':
    case 'REFUNDED_REVERSED':
    case 'VOID_PENDING_REFUND':
    case 'TECHNICAL_CANCEL':
    case 'OFFER_CLOSED':
      return success ? 'FAIL' : 'ignore';
    // The refund is accepted but waits for funds; a payment waits for the shopper or the method (PENDING).
    case 'POSTPONED_REFUND':
    case 'PENDING':
      return success ? 'PENDING' : 'ignore';
    // Our tokenization is synchronous (POST /storedPaymentMethods); these report on other flows.
    case 'RECURRING_CONTRACT':
    case 'AUTHENTICATION':
    case 'ACH_NOTIFICATION_OF_CHANGE':
    case 'DIRECT_DEBIT_NOTICE_OF_CHANGE_NOTIFICATION':
    case 'PREARBITRATION_ACCEPTED':
    case 'PREARBITRATION_DECLINED':
    case 'PREARBITRATION_ISSUER_WITHDRAWN':
    case 'SCHEME_ARBITRATION':
    case 'SCHEME_ARBITRATION_LOST':
    case 'SCHEME_ARBITRATION_WON':
    case 'AUTORESCUE':
    case 'CANCEL_AUTORESCUE':
    case 'PROCESS_RETRY':
    case 'DONATION':
    case 'CHARGEBACK':
    case 'CHARGEBACK_REVERSED':
    case 'DISPUTE_DEFENSE_PERIOD_ENDED':
    case 'EXPIRE':
    case 'HANDLED_EXTERNALLY':
    case 'INFORMATION_SUPPLIED':
    case 'ISSUER_COMMENTS':
    case 'ISSUER_RESPONSE_TIMEFRAME_EXPIRED':
    case 'MANUAL_REVIEW_ACCEPT':
    case 'MANUAL_REVIEW_REJECT':
    case 'NOTIFICATION_OF_CHARGEBACK':
    case 'NOTIFICATION_OF_FRAUD':
    case 'ORDER_CLOSED':
    case 'ORDER_OPENED':
    case 'PAIDOUT_REVERSED':
    case 'PAYOUT_DECLINE':
    case 'PAYOUT_EXPIRE':
    case 'PAYOUT_THIRDPARTY':
    case 'PREARBITRATION_LOST':
    case 'PREARBITRATION_OPEN':
    case 'PREARBITRATION_WON':
    case 'REPORT_AVAILABLE':
    case 'REQUEST_FOR_INFORMATION':
    case 'SECOND_CHARGEBACK':
      return 'ignore';
    default:
      return assertNever(eventCode, 'Adyen eventCode');
  }
}

/** The commands the bridge sends to Adyen as a payment (`POST /payments`, adyen-requests.ts). */
const PAYMENT_COMMANDS: readonly CommandType[] = ['authorize', 'sale', 'revalidate'];

/**
 * The commands whose operation an event's outcome (success or failure) settles. `merchantReference` is the
 * reference of the payment (Webhooks v1), so a modification made outside the bridge (a cancel in the
 * Customer Area, a capture that fails) names the authorization: it is not that authorization's outcome.
 * A modification the bridge sent names its own operation (its `reference`), whose command is listed here.
 * Only the codes `eventOutcome` reads as an outcome; the others settle nothing.
 */
export function eventSettles(eventCode: AdyenEventCode): readonly CommandType[] {
  switch (eventCode) {
    // The payment itself: authorised, refused, pending, or closed by Adyen (a technical cancel, an offer expired).
    case 'AUTHORISATION':
    case 'PENDING':
    case 'TECHNICAL_CANCEL':
    case 'OFFER_CLOSED':
      return PAYMENT_COMMANDS;
    // A sale is captured in its own /payments call (captureDelayHours 0): only a capture command is a capture.
    case 'CAPTURE':
    case 'CAPTURE_FAILED':
      return ['capture'];
    case 'CANCELLATION':
      return ['cancel'];
    case 'CANCEL_OR_REFUND':
      return ['cancel', 'refund'];
    case 'REFUND':
    case 'REFUND_WITH_DATA':
    case 'REFUND_FAILED':
    case 'REFUNDED_REVERSED':
    case 'VOID_PENDING_REFUND':
    case 'POSTPONED_REFUND':
      return ['refund'];
    // Sent only by validate (`/amountUpdates` with the amount already held).
    case 'AUTHORISATION_ADJUSTMENT':
      return ['validate'];
    case 'RECURRING_CONTRACT':
    case 'AUTHENTICATION':
    case 'ACH_NOTIFICATION_OF_CHANGE':
    case 'DIRECT_DEBIT_NOTICE_OF_CHANGE_NOTIFICATION':
    case 'PREARBITRATION_ACCEPTED':
    case 'PREARBITRATION_DECLINED':
    case 'PREARBITRATION_ISSUER_WITHDRAWN':
    case 'SCHEME_ARBITRATION':
    case 'SCHEME_ARBITRATION_LOST':
    case 'SCHEME_ARBITRATION_WON':
    case 'AUTORESCUE':
    case 'CANCEL_AUTORESCUE':
    case 'PROCESS_RETRY':
    case 'DONATION':
    case 'CHARGEBACK':
    case 'CHARGEBACK_REVERSED':
    case 'DISPUTE_DEFENSE_PERIOD_ENDED':
    case 'EXPIRE':
    case 'HANDLED_EXTERNALLY':
    case 'INFORMATION_SUPPLIED':
    case 'ISSUER_COMMENTS':
    case 'ISSUER_RESPONSE_TIMEFRAME_EXPIRED':
    case 'MANUAL_REVIEW_ACCEPT':
    case 'MANUAL_REVIEW_REJECT':
    case 'NOTIFICATION_OF_CHARGEBACK':
    case 'NOTIFICATION_OF_FRAUD':
    case 'ORDER_CLOSED':
    case 'ORDER_OPENED':
    case 'PAIDOUT_REVERSED':
    case 'PAYOUT_DECLINE':
    case 'PAYOUT_EXPIRE':
    case 'PAYOUT_THIRDPARTY':
    case 'PREARBITRATION_LOST':
    case 'PREARBITRATION_OPEN':
    case 'PREARBITRATION_WON':
    case 'REPORT_AVAILABLE':
    case 'REQUEST_FOR_INFORMATION':
    case 'SECOND_CHARGEBACK':
      return [];
    default:
      return assertNever(eventCode, 'Adyen eventCode');
  }
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

import { AdjustmentKind, MoneyDirection } from '../../adjustments/adjustment';
import { assertNever } from '../assert-never';
import { AdyenEventCode } from './adyen-status-map';

/** The adjustment a notification is, before its amounts and references are read. */
export interface AdyenLateFact {
  kind: AdjustmentKind;
  direction: MoneyDirection;
  /** A failure of the modification it names (see `AdjustmentFact.failsOpenOperation`). */
  failsOpenOperation: boolean;
  /** The notification's amount is the one originally authorised (see `AdjustmentFact.amountIncludesCaptured`). */
  amountIncludesCaptured?: true;
}

const fact = (kind: AdjustmentKind, direction: MoneyDirection, failsOpenOperation = false): AdyenLateFact => ({ kind, direction, failsOpenOperation });

/**
 * Which notifications are late facts about money, and which adjustment each one is (Webhooks v1 and
 * Adyen's dispute webhooks page, docs.adyen.com/risk-management/disputes-api/dispute-notifications; the
 * table is in docs/EVENTS.md). Exhaustive: every event code has its arm; `null` for the outcomes of
 * requests we send (read by `eventOutcome`) and for events about other flows. Only a `success: "true"`
 * notification reports that the fact happened.
 *
 * Disputes name the disputed payment: `merchantReference` is the payment's, `originalReference` its
 * pspReference, `pspReference` the dispute's (the same for every step of one dispute).
 */
export function adyenLateFact(eventCode: AdyenEventCode, success: boolean): AdyenLateFact | null {
  if (!success) return null;
  switch (eventCode) {
    // The scheme rejected a capture or refund Adyen had accepted; or the refunded money came back.
    case 'CAPTURE_FAILED':
      return fact('capture_failed', 'debit', true);
    case 'REFUND_FAILED':
      return fact('refund_failed', 'credit', true);
    case 'REFUNDED_REVERSED':
      return fact('refund_reversed', 'credit', true);
    // Disputes: the notices first (no money moves), then the steps that move money.
    case 'NOTIFICATION_OF_FRAUD':
      return fact('fraud_alert', 'none');
    case 'REQUEST_FOR_INFORMATION':
    case 'NOTIFICATION_OF_CHARGEBACK':
      return fact('dispute_opened', 'none');
    case 'INFORMATION_SUPPLIED':
    case 'ISSUER_COMMENTS':
    case 'ISSUER_RESPONSE_TIMEFRAME_EXPIRED':
    case 'DISPUTE_DEFENSE_PERIOD_ENDED':
    case 'PREARBITRATION_OPEN':
    case 'PREARBITRATION_DECLINED':
    case 'SCHEME_ARBITRATION':
      return fact('dispute_updated', 'none');
    case 'CHARGEBACK':
      return fact('chargeback', 'debit');
    case 'CHARGEBACK_REVERSED':
      return fact('chargeback_reversed', 'credit');
    case 'SECOND_CHARGEBACK':
      return fact('second_chargeback', 'debit');
    // Merchant-filed pre-arbitration (after a second chargeback): won gives the money back; lost leaves it taken.
    case 'PREARBITRATION_WON':
      return fact('dispute_won', 'credit');
    case 'PREARBITRATION_LOST':
      return fact('dispute_lost', 'none');
    // Issuer-filed pre-arbitration (after a reversed chargeback): accepting it or losing the arbitration
    // takes the money again; a withdrawal or a won arbitration leaves it with the merchant.
    case 'PREARBITRATION_ACCEPTED':
    case 'SCHEME_ARBITRATION_LOST':
      return fact('dispute_lost', 'debit');
    case 'PREARBITRATION_ISSUER_WITHDRAWN':
    case 'SCHEME_ARBITRATION_WON':
      return fact('dispute_won', 'none');
    // The authorization's uncaptured remainder lapsed: nothing more can be captured from it.
    case 'EXPIRE':
      // Its amount is "the amount that was originally authorised"; what expired is "the remaining uncaptured amount".
      return { ...fact('authorization_expired', 'none'), amountIncludesCaptured: true };
    // Outcomes of our own requests (eventOutcome reads them) and events of other flows.
    case 'AUTHORISATION':
    case 'AUTHORISATION_ADJUSTMENT':
    case 'CAPTURE':
    case 'CANCELLATION':
    case 'CANCEL_OR_REFUND':
    case 'REFUND':
    case 'REFUND_WITH_DATA':
    case 'VOID_PENDING_REFUND':
    case 'TECHNICAL_CANCEL':
    case 'OFFER_CLOSED':
    case 'POSTPONED_REFUND':
    case 'PENDING':
    case 'PROCESS_RETRY':
    case 'DONATION':
    case 'RECURRING_CONTRACT':
    case 'AUTHENTICATION':
    case 'ACH_NOTIFICATION_OF_CHANGE':
    case 'DIRECT_DEBIT_NOTICE_OF_CHANGE_NOTIFICATION':
    case 'AUTORESCUE':
    case 'CANCEL_AUTORESCUE':
    case 'HANDLED_EXTERNALLY':
    case 'MANUAL_REVIEW_ACCEPT':
    case 'MANUAL_REVIEW_REJECT':
    case 'ORDER_CLOSED':
    case 'ORDER_OPENED':
    case 'PAIDOUT_REVERSED':
    case 'PAYOUT_DECLINE':
    case 'PAYOUT_EXPIRE':
    case 'PAYOUT_THIRDPARTY':
    case 'REPORT_AVAILABLE':
      return null;
    default:
      return assertNever(eventCode, 'Adyen eventCode');
  }
}

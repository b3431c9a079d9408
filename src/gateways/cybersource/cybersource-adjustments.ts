import { AdjustmentKind, MoneyDirection } from '../../adjustments/adjustment';
import { assertNever } from '../assert-never';
import { CybersourceWebhookEventType } from './cybersource-webhook';

/**
 * Which Cybersource webhook events are late facts about money (table in docs/EVENTS.md). Cybersource's
 * Webhooks guide ("Supported Products and Event Types") documents no chargeback or dispute event:
 * disputes reach merchants through Cybersource's reporting (the chargeback and retrieval reports), which
 * reconciliation reads. What webhooks do report are failures of captures, refunds and credits (eCheck
 * included), which can arrive after the operation succeeded: those are failures of the operation while it
 * is open, adjustments after. Exhaustive; `null` for every other event type.
 */
export function cybersourceLateFact(type: CybersourceWebhookEventType): { kind: AdjustmentKind; direction: MoneyDirection; failsOpenOperation: true } | null {
  switch (type) {
    case 'payments.captures.reject':
    // eCheck: a debit returned by the bank after it was accepted.
    case 'payments.payments.failed':
      return { kind: 'capture_failed', direction: 'debit', failsOpenOperation: true };
    case 'payments.refunds.reject':
    case 'payments.credits.reject':
    case 'payments.credits.failed':
      return { kind: 'refund_failed', direction: 'credit', failsOpenOperation: true };
    case 'payments.payments.accept':
    case 'payments.payments.review':
    case 'payments.payments.reject':
    case 'payments.payments.partial.approval':
    case 'payments.reversals.accept':
    case 'payments.reversals.reject':
    case 'payments.captures.accept':
    case 'payments.captures.review':
    case 'payments.refunds.accept':
    case 'payments.refunds.partial.approval':
    case 'payments.credits.accept':
    case 'payments.credits.review':
    case 'payments.credits.partial.approval':
    case 'payments.voids.accept':
    case 'payments.voids.reject':
    case 'payments.payments.accepted':
    case 'payments.credits.accepted':
    case 'payments.voids.accepted':
    case 'payments.voids.failed':
    case 'risk.casemanagement.decision.accept':
    case 'risk.casemanagement.decision.reject':
    case 'risk.profile.decision.reject':
      return null;
    default:
      return assertNever(type, 'cybersource webhook event type');
  }
}

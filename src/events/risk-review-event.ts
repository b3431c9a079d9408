import { Config } from '../config/config';
import { OperationRecord } from '../ledger/ledger';
import { PaymentEvent, notificationFor, eventAnchor } from './payment-event';
import { withoutMethodToken } from '../contracts/payment-method';

/** The reason on the event of an authorization held for review by the risk rules. */
export const RISK_REVIEW = 'RISK_REVIEW';

/** What the OMS is told about a review hold (no card data: the rule, signal names, the deadline). */
export interface ReviewNotice {
  /** Epoch ms when the hold is voided unless an operator releases it. */
  deadline: number;
  rule: string;
  /** Signal names, space-separated. */
  signals: string;
}

/**
 * The event of an authorization (or sale) held for review before it was sent: the command's notification
 * with status PENDING, reason RISK_REVIEW and `review {status: held, reason, rule, signals, deadline}`.
 * Nothing was asked of the PSP yet. Its final outcome follows as usual once an operator releases it
 * (`payment-bridge ops risk-release`), or a FAIL `RISK_REVIEW_EXPIRED` when the deadline passes first.
 * One per operation (event id `<operation>.risk-review`).
 */
export function riskReviewEvent(op: OperationRecord, config: Config, notice: ReviewNotice): PaymentEvent {
  const eventId = `${op.id}.risk-review`;
  return {
    eventId,
    ...eventAnchor(op.payment),
    method: config.serviceBus.methods.notifications[notificationFor(op.command)],
    params: {
      payment: {
        ...withoutMethodToken(op.payment),
        operation_reference: op.id,
        status: 'PENDING',
        reason: RISK_REVIEW,
        review: {
          status: 'held',
          reason: 'risk_rules',
          rule: notice.rule,
          signals: notice.signals.split(' ').filter((s) => s.length > 0),
          deadline: new Date(notice.deadline).toISOString(),
        },
        // Nothing was asked of the PSP yet: no answer, and the money as the command asked it.
        requested_amount: op.payment.amount,
        requested_currency: op.payment.currency,
        gateway_command: op.command,
        gateway_response: { status: null, reference: null },
        gateway_response_time: 0,
        new_gateway_key: null,
        event_id: eventId,
      },
    },
  };
}

/**
 * The deadline (epoch ms) a review notice on record told the OMS (`riskReviewEvent`'s `review.deadline`), or undefined
 * for an event that carries none.
 */
export function toldReviewDeadline(event: Pick<PaymentEvent, 'params'>): number | undefined {
  const payment = (event.params as { payment?: { review?: { deadline?: unknown } } }).payment;
  const deadline = typeof payment?.review?.deadline === 'string' ? Date.parse(payment.review.deadline) : NaN;
  return Number.isFinite(deadline) ? deadline : undefined;
}

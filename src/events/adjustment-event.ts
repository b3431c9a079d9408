import { Config } from '../config/config';
import { AdjustmentRecord } from '../adjustments/adjustment';
import { OperationRecord } from '../ledger/ledger';
import { PaymentEvent, eventAnchor, refundedBeyondCapturedBlock, withCancelEffect } from './payment-event';
import { withoutMethodToken } from '../contracts/payment-method';
import { reportedMoney } from './psp-discrepancy';

/** Event id of an adjustment's notification: `<operation id>.adj.<adjustment id>`, stable across repeats and crashes. */
export function adjustmentEventId(operationId: string, adjustmentId: string): string {
  return `${operationId}.adj.${adjustmentId}`;
}

/**
 * The OMS notification of an adjustment (method `service_bus.method.adjusted`), in the payment's sequence.
 * `payment` echoes the operation's payment (its amount is the operation's, not the adjustment's) with
 * `operation_reference`, the operation's own `operation_state` (unchanged by the adjustment) and `event_id`;
 * `adjustment` carries what the PSP reported: kind, money direction, amount (integer minor units) and
 * currency, its reason code, its references and when it happened, for a success the PSP failed again after
 * (`failed_again_by`) the failure that stands, and for a failure the PSP's later success overrides (`superseded_by`)
 * that success, for a late refund fact (or a `capture_failed`, or a late cancel's void, that lowered what stands
 * captured after the refunds were counted) that left the payment refunded beyond what stands captured
 * (`refunded_beyond_captured`) the figures and `suggested_action: contact_support`; for a cancel recorded FAILED that the PSP did after all, `gateway_response` says what it did
 * (`voided` or `released`, as the cancel's success event would: `cancelEffect`). See docs/EVENTS.md.
 */
export function adjustmentEvent(op: OperationRecord, adjustment: AdjustmentRecord, config: Config): PaymentEvent {
  const eventId = adjustmentEventId(op.id, adjustment.id);
  const money = reportedMoney(op);
  const late = adjustment.kind === 'succeeded_after_failure' && op.state === 'FAILED' && op.command === 'cancel';
  return {
    eventId,
    ...eventAnchor(op.payment),
    method: config.serviceBus.methods.notifications.adjusted,
    params: {
      payment: {
        ...withoutMethodToken(op.payment),
        // The operation's money as the PSP confirmed it, beside what the command asked (as outcome events).
        amount: money.reported.amount,
        currency: money.reported.currency,
        requested_amount: money.requested.amount,
        requested_currency: money.requested.currency,
        ...(money.discrepancy !== null ? { discrepancy: money.discrepancy } : {}),
        operation_reference: op.id,
        operation_state: op.state,
        gateway_command: op.command,
        // A cancel the PSP did after all (recorded FAILED, `succeeded_after_failure`): what it did, as its success's event would.
        gateway_response: withCancelEffect(
          { status: op.gatewayStatus ?? null, reference: op.gatewayReference ?? null },
          late ? op.cancelEffect : undefined,
          // What it released: the PSP's figure (the adjustment's), else what it was asked.
          adjustment.amount !== undefined && adjustment.currency !== undefined ? { amount: adjustment.amount, currency: adjustment.currency } : money.reported,
        ),
        event_id: eventId,
      },
      adjustment: {
        id: adjustment.id,
        kind: adjustment.kind,
        direction: adjustment.direction,
        amount: adjustment.amount ?? null,
        currency: adjustment.currency ?? null,
        reason: adjustment.reason ?? null,
        gateway: adjustment.gateway,
        psp_reference: adjustment.pspReference ?? null,
        psp_event_id: adjustment.pspEventId,
        occurred_at: adjustment.occurredAt === undefined ? null : new Date(adjustment.occurredAt).toISOString(),
        source: adjustment.source,
        // A success older than a failure already reported: what the PSP did then, not where the operation stands.
        ...(adjustment.failedAgainBy !== undefined ? { failed_again_by: adjustment.failedAgainBy } : {}),
        // A failure the PSP's later success (reported already, or right after this) overrides: it undid nothing.
        ...(adjustment.supersededBy !== undefined ? { superseded_by: adjustment.supersededBy } : {}),
        // A fact that left the payment with more refunded than stands captured: money given back twice.
        ...(adjustment.refundedBeyondCaptured !== undefined
          ? { refunded_beyond_captured: refundedBeyondCapturedBlock(adjustment.refundedBeyondCaptured) }
          : {}),
      },
    },
  };
}

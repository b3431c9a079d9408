import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { AdjustmentInput } from '../adjustments/adjustment-store';
import { directionOfSuccess } from '../adjustments/adjustment';
import { OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { OrphanReversal, reverseSuccessAfterFailure } from '../poller/orphan-reversal';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

/**
 * Whether a webhook's outcome contradicts a failure the bridge holds: the PSP says it succeeded, and the
 * operation FAILED, or SUCCEEDED but the PSP later undid it (`undoneBy`: a capture failed, a refund failed or
 * reversed) — Adyen re-captures after `CAPTURE_FAILED` ("Transaction Recaptured", a `CAPTURE` with success true).
 */
export function isSuccessAfterFailure(op: OperationRecord, job: GatewayOutcomeJobData): boolean {
  if (job.outcome.status !== 'SUCCESS') return false;
  return op.state === 'FAILED' || (op.state === 'SUCCEEDED' && op.undoneBy !== undefined);
}

/**
 * Reports a PSP fact that contradicts a terminal state the OMS was told (`isSuccessAfterFailure`): the
 * operation FAILED, or was undone after it succeeded, and the PSP says it succeeded. The state never moves back,
 * but the fact is never dropped either: it becomes a `succeeded_after_failure` adjustment (its own OMS event,
 * idempotent by the PSP's event id; on an operation marked undone it clears the mark in the same step, so the
 * amount counts as captured, or refunded, again), and an authorization the OMS believes failed is handed to orphan reversal (`oms_told_failed`), which
 * voids it or reports what it would void, as `authorizations.orphan_reversal` says; so is a split tender's failed
 * part, a sale too, which is refunded (`reverseSuccessAfterFailure`). `confirmedBy` says what
 * the report stands on: the PSP's status inquiry, or its signed webhook alone (a PSP that cannot be asked).
 * A FAILED capture or cancel closes the authorization it acted on in that step, as its success would have (out of the
 * expiry and orphan indexes: no `authorization_expiring` notice, no orphan void), and a FAILED capture, sale or refund
 * counts as captured, or refunded, at what the PSP confirmed (`AdjustmentRecorder.recordAdjustment`), whichever way
 * the fact came (a Stripe PaymentIntent captured or cancelled, see `openModificationOf`; an Adyen notification).
 * @returns whether the adjustment was new (false: a repeat of the same event).
 */
export async function reportContradiction(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  confirmedBy: 'status_inquiry' | 'signed_webhook',
  deps: { adjustments: AdjustmentRecorder; orphans?: OrphanReversal; logger: Logger },
): Promise<boolean> {
  const { outcome } = job;
  deps.logger.warn('PSP reports success for an operation the OMS was told failed', {
    operation_id: op.id,
    gateway: job.gateway,
    command: op.command,
    failed_reason: op.reason ?? null,
    psp_status: outcome.gatewayStatus,
    confirmed_by: confirmedBy,
    event_id: job.eventId,
  });
  const { created, duplicateOf } = await deps.adjustments.recordAdjustment(op, successAfterFailureInput(op, job));
  // Another entry of the PSP account recorded this transaction's success first (a failover's late success, voided
  // there): that reading stands, so nothing is reversed twice.
  if (duplicateOf !== undefined) return false;
  if (deps.orphans) {
    // The reversal is for what the PSP confirmed with this success, not what the operation asked.
    const confirmed = { amount: outcome.amount, currency: outcome.currency };
    await reverseSuccessAfterFailure(deps.orphans, deps.logger, op, outcome.gatewayReference, 'webhook', confirmed, { repeat: !created });
  }
  return created;
}

/**
 * The `succeeded_after_failure` adjustment a webhook's success of `op` is recorded as: the PSP's confirmed money,
 * status, reference and time (`Recapture.occurredAt`, else `GatewayOutcome.occurredAt`), idempotent by its event id.
 * The same whether it is reported at once or, a re-capture that arrived before the failure it follows, once that
 * failure comes (`AdjustmentRecorder`).
 */
export function successAfterFailureInput(op: OperationRecord, job: GatewayOutcomeJobData): Omit<AdjustmentInput, 'operationId'> {
  const { outcome } = job;
  const occurredAt = job.recapture?.occurredAt ?? outcome.occurredAt;
  return {
    kind: 'succeeded_after_failure',
    direction: directionOfSuccess(op.command),
    ...(outcome.amount !== undefined ? { amount: outcome.amount } : {}),
    ...(outcome.currency !== undefined ? { currency: outcome.currency } : {}),
    reason: outcome.gatewayStatus,
    ...(outcome.gatewayReference !== undefined ? { pspReference: outcome.gatewayReference } : {}),
    // When the PSP did it (a re-capture's time, a plain success's): what orders it against a dated failure of the
    // operation, whichever arrived first; a failure older than it, arriving after, then undoes nothing.
    ...(occurredAt !== undefined ? { occurredAt } : {}),
    gateway: job.gateway,
    pspEventId: job.eventId,
    source: 'webhook',
  };
}

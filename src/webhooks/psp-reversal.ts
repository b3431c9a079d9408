import { OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

/**
 * A PSP's cancel or refund of the payment `op` that no operation of ours claims (`outcome.pspReversal`, after the
 * outcome worker found no operation holding its reference): the PSP did it itself (Adyen's case management cancels a
 * payment its review rejected, or refunds it when captured; a cancel in its Customer Area). The payment the OMS was
 * told SUCCEEDED no longer stands, so it is read as that payment's failure and takes the failure-after-success way
 * (`handleFailureAfterSuccess`): a cancel of the bridge's own or of the OMS standing on it is that cancel seen from the
 * PSP (not reported; waited for while in flight), otherwise an adjustment and its `adjusted` event, once
 * (idempotent by the notification's id):
 * - an authorization (or revalidation) cancelled: `failed_after_success`, direction `none`, the hold released;
 * - a sale cancelled or refunded: `capture_failed`, direction `debit` (the money went back to the shopper), the sale
 *   marked undone so no refund of it is sent again;
 * - a capture of ours cancelled (voided: a Cybersource Business Center void names the capture it voids by the capture's
 *   merchant reference): `capture_failed`, direction `debit` (nothing was collected), the capture marked undone;
 * - a refund of ours cancelled (voided the same way, by the refund's merchant reference): `refund_failed`, direction
 *   `credit` (nothing went back to the shopper), the refund marked undone.
 * An authorization refunded (or cancelled-or-refunded without saying which, once captured) is no release: it is a
 * refund outside the bridge, read by `webhooks/outside-refund.ts` (`refund_outside_bridge`). Only of the gateway the operation is routed to: one it
 * failed over from cancelled its own attempt's payment, not the one the OMS was told SUCCEEDED (history only). `null`
 * when the outcome is none of these.
 */
export function reversalAsFailure(op: OperationRecord, job: GatewayOutcomeJobData): GatewayOutcomeJobData | null {
  const reversal = job.outcome.pspReversal;
  if (reversal === undefined || job.outcome.status !== 'SUCCESS' || op.state !== 'SUCCEEDED') return null;
  // An earlier attempt's PSP (a failover) undid that attempt's payment: the SUCCEEDED one stands at the current gateway.
  if (gatewayOf(op) !== job.gateway) return null;
  const authorization = op.command === 'authorize' || op.command === 'revalidate';
  // A capture or refund of ours voided (a Cybersource Business Center void carries its merchant reference): no money moved.
  const cancelled = authorization || op.command === 'capture' || op.command === 'refund';
  if (op.command !== 'sale' && !(cancelled && reversal === 'cancel')) return null;
  // The reason is the PSP's event (`CANCEL_OR_REFUND`: a refund of a captured sale, read so by the refunded-beyond alarm).
  return { ...job, outcome: { ...job.outcome, status: 'FAIL', reason: job.outcome.gatewayStatus, settles: [op.command] } };
}

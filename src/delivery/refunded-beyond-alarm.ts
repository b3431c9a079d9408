import { AUTHORIZING } from '../ledger/authorization-by-reference';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { REFUNDS_REREAD_FIELD, REFUNDS_UNDECIDED_REFS_FIELD } from '../ledger/refunds-undecided-mark';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { refundedBeyondCapturedReadingOf } from './operation-context';

/**
 * Payments left with more refunded, as the PSP confirmed, than stands captured: money given back twice (a capture
 * voided, then a refund recorded FAILED that the PSP did after all). `cause`: the late refund fact's kind, or
 * `capture_failed_after_undecided` (a capture an undecided reading counted in flight then failed for good).
 */
export const refundedBeyondCapturedTotal = counter(
  'pb_refunded_beyond_captured_total',
  "Payments found with their confirmed refunds above what stands captured (a capture voided or undone): money given back twice, by gateway and cause: a late refund fact recorded while it left them so (a refund recorded FAILED that the PSP did after all: succeeded_after_failure; a refund it made outside the bridge: refund_outside_bridge; said on the adjustment event, refunded_beyond_captured, contact_support), or capture_failed_after_undecided (such a fact's reading was undecided, a capture in flight could cover it, and that capture then failed for good: said by the error line, not on the capture's event)",
  ['gateway', 'cause'],
);

/**
 * Capture `capture`, just found FAILED for good (not held for its PSP's retry), was counted in flight by the undecided
 * reading of late refund fact `undecidedBy` (an adjustment id: `REFUNDS_UNDECIDED_FIELD`): its payment is read again
 * (`refundedBeyondCapturedReadingOf`, the same sums). What it finds is kept on the capture once
 * (`REFUNDS_REREAD_FIELD`: `fit`, `undecided` when another capture is still in flight, which carries the mark too, or the
 * figures): only the call that kept it says it, so a repeat of the outcome (a resent webhook, a job retried after a
 * crash past the move) raises no second alarm, and one that crashed before keeping it reads again. Refunds beyond:
 * an error line (`alert: refunded_beyond_captured`) and `pb_refunded_beyond_captured_total{cause="capture_failed_after_undecided"}`;
 * else an info line. The adjustment's own first reading stays `undecided` (what was known then). The capture's FAILED
 * event is recorded with its move, before this read, and carries no figures.
 */
export async function rereadAfterCaptureFailed(
  capture: OperationRecord,
  undecidedBy: string,
  deps: { ledger: Pick<Ledger, 'get' | 'authorizationByReference' | 'dependentsOf' | 'adjustmentsOfEach' | 'setFieldOnceAndGet' | 'fieldsOf'>; logger: Logger },
): Promise<void> {
  const { ledger, logger } = deps;
  const auth = await authorizationOf(capture, ledger);
  if (auth === null) return;
  // The PSP refunds the marking facts of refunds of ours named: each counted once, as their own readings did.
  const [[refs]] = await ledger.fieldsOf([capture.id], [REFUNDS_UNDECIDED_REFS_FIELD]);
  const reading = await refundedBeyondCapturedReadingOf(auth, ledger, referencesOf(refs));
  const value = reading.beyond !== null ? JSON.stringify(reading.beyond) : reading.undecided !== undefined ? 'undecided' : 'fit';
  const { set } = await ledger.setFieldOnceAndGet(capture.id, REFUNDS_REREAD_FIELD, value);
  // Kept by an earlier call, which said it.
  if (!set) return;
  const gateway = gatewayOf(capture);
  const fields = { operation_id: capture.id, command: capture.command, gateway, authorization_id: auth.id, undecided_adjustment_id: undecidedBy };
  if (reading.beyond === null) {
    logger.info(
      reading.undecided !== undefined
        ? 'capture in flight failed after an undecided refund reading: still undecided, another capture in flight could cover the refunds'
        : 'capture in flight failed after an undecided refund reading: the refunds fit what stands captured; no alarm',
      fields,
    );
    return;
  }
  refundedBeyondCapturedTotal.inc({ gateway, cause: 'capture_failed_after_undecided' });
  // Ids and amounts only: money given back twice is for a person to settle with the PSP.
  logger.error(
    'refunded beyond captured: a capture in flight that could have covered a late refund fact failed; the payment has more refunded at the PSP than stands captured; money given back twice, settle it with the PSP',
    {
      ...fields,
      alert: 'refunded_beyond_captured',
      operation_state: capture.state,
      captured_amount: reading.beyond.capturedAmount,
      refunded_amount: reading.beyond.refundedAmount,
      excess_amount: reading.beyond.excessAmount,
      order_currency: reading.beyond.currency,
    },
  );
}

/** The authorization capture `capture` acted on: the one its attempt resolved, else the one its `gateway_key` names (our id or the PSP's reference). */
async function authorizationOf(capture: OperationRecord, ledger: Pick<Ledger, 'get' | 'authorizationByReference'>): Promise<OperationRecord | null> {
  const key = capture.authorizationId ?? capture.payment.gateway_key;
  const named = await ledger.get(key);
  if (named) return AUTHORIZING.has(named.command) ? named : null;
  const found = await ledger.authorizationByReference(gatewayOf(capture), key);
  return found?.authorization ? found.record : null;
}

/** The stored {@link REFUNDS_UNDECIDED_REFS_FIELD}: its strings; none when absent or unreadable (never throws). */
function referencesOf(stored: string | null | undefined): string[] {
  if (!stored) return [];
  try {
    const parsed = JSON.parse(stored) as unknown;
    return Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

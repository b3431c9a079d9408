import { Ledger, OperationRecord } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { existingVoid } from '../poller/orphan-reversal';

/**
 * The cancel or revalidation that closed `op` (its `closed_by`), the bridge's own void of it, or a cancel of
 * it among its order's operations (the OMS's, any channel's), when that one has not failed (or was recorded FAILED
 * and the PSP did it after all: its `succeededAfterFailure` mark): a cancellation the PSP reports is then the one
 * asked for. `inFlight`: a cancel of the order with no final outcome yet (should it fail, the cancellation is news
 * after all).
 * `null` when there is none; a cancel naming no order is found only once it closed the authorization.
 */
export async function ownClosing(
  op: OperationRecord,
  ledger: Pick<Ledger, 'get' | 'operationsOfOrder'>,
): Promise<{ id: string; state: OperationState; inFlight: boolean } | null> {
  if (op.closedBy) {
    const closing = await ledger.get(op.closedBy);
    // A capture closes it too, but a captured authorization never reads as cancelled: that is news.
    if (closing && closing.command !== 'capture') return { id: closing.id, state: closing.state, inFlight: false };
  }
  const voided = await existingVoid(ledger, op.id);
  if (voided && standing(voided)) return { id: voided.id, state: voided.state, inFlight: false };
  const orderId = op.payment.order_id;
  if (orderId === undefined) return null;
  const names = new Set([op.id, op.gatewayReference, op.newGatewayKey].filter((n): n is string => n !== undefined));
  const cancels = (await ledger.operationsOfOrder(orderId)).filter(
    (o) => o.command === 'cancel' && standing(o) && (o.authorizationId === op.id || names.has(o.payment.gateway_key)),
  );
  const closer = cancels.find(done) ?? cancels[0];
  return closer ? { id: closer.id, state: closer.state, inFlight: !done(closer) } : null;
}

/** A cancel that did what it asked at the PSP: SUCCEEDED, or recorded FAILED and done by the PSP after all. */
function done(o: OperationRecord): boolean {
  return o.state === 'SUCCEEDED' || (o.state === 'FAILED' && o.succeededAfterFailure !== undefined);
}

/** A cancel that may have cancelled, or may still cancel, at the PSP: not FAILED, unless the PSP did it after all. */
function standing(o: OperationRecord): boolean {
  return o.state !== 'FAILED' || o.succeededAfterFailure !== undefined;
}

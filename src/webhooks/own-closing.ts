import { Ledger, OperationRecord } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { existingVoid } from '../poller/orphan-reversal';

/**
 * The cancel or revalidation that closed `op` (its `closed_by`), the bridge's own void of it, or a cancel of
 * it among its order's operations (the OMS's, any channel's), when that one has not failed: a cancellation
 * the PSP reports is then the one asked for. `inFlight`: a cancel of the order with no final outcome yet
 * (should it fail, the cancellation is news after all).
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
  if (voided && voided.state !== 'FAILED') return { id: voided.id, state: voided.state, inFlight: false };
  const orderId = op.payment.order_id;
  if (orderId === undefined) return null;
  const names = new Set([op.id, op.gatewayReference, op.newGatewayKey].filter((n): n is string => n !== undefined));
  const cancels = (await ledger.operationsOfOrder(orderId)).filter(
    (o) => o.command === 'cancel' && o.state !== 'FAILED' && (o.authorizationId === op.id || names.has(o.payment.gateway_key)),
  );
  const closer = cancels.find((c) => c.state === 'SUCCEEDED') ?? cancels[0];
  return closer ? { id: closer.id, state: closer.state, inFlight: closer.state !== 'SUCCEEDED' } : null;
}

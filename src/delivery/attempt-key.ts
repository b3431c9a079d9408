import type { OperationRecord } from '../ledger/record-fields';

/**
 * The `Idempotency-Key` of an operation's current gateway attempt.
 *
 * A PSP keeps idempotency keys per account, not per gateway entry of ours (Stripe: per account; Adyen:
 * per company account, so across its merchant accounts), stores the first answer given under a key and,
 * for as long as the key lives, replays that answer to the same request and refuses any other parameters
 * under it (Stripe 400 `idempotency_error`, Adyen 422). Two gateway entries may point at one account, so:
 * - every retry of one attempt (a timeout, a 5xx, an UNKNOWN resent after its status inquiry found
 *   nothing) carries the same key: the PSP acts at most once;
 * - an attempt on the next candidate after a failover is a new request (other entry, maybe another body:
 *   a converted amount, other method options) and carries a key of its own, `<operation id>.failover<n>`
 *   (n = failovers so far), so it is decided afresh instead of replaying or refusing the first answer.
 *
 * The key is derived from the record (its failovers are stored with the attempt that follows them), so it
 * is the same through crashes and redeliveries, and a status inquiry that resends the request (Adyen)
 * sends it under the same key as the attempt it asks about. The first attempt's key stays the operation
 * id. At most 128 + 18 characters (Stripe and the simulator take 255; Adyen's 64 are enforced by digest).
 */
export function attemptIdempotencyKey(op: Pick<OperationRecord, 'id' | 'routing'>): string {
  const failovers = op.routing?.failovers?.length ?? 0;
  return failovers === 0 ? op.id : `${op.id}.failover${failovers}`;
}

/**
 * When the operation's current gateway attempt began: the moment of the failover that made it (epoch ms), undefined
 * for the first attempt (`OperationContext.attemptSince`).
 */
export function attemptSince(op: Pick<OperationRecord, 'routing'>): number | undefined {
  const failovers = op.routing?.failovers ?? [];
  return failovers.length === 0 ? undefined : failovers[failovers.length - 1]?.at;
}

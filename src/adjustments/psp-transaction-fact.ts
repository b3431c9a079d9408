import type { AdjustmentKind } from './adjustment';

/**
 * One PSP transaction's late success, two readings of it. Two gateway entries of one PSP account (the same provider
 * and account: two routing candidates with the same credentials) both hear the account's facts: after a failover from
 * one to the other, the success of one transaction reaches the entry failed over from (a `duplicate_after_failover`,
 * voided there) and the entry the operation ended at (a `succeeded_after_failure`, reported as a success after all).
 * They contradict each other, so an operation keeps one: the first recorded; the other is a duplicate (history only).
 * The rule (`AdjustmentStore.recordAdjustment`, in its record script): both kinds here, the two different, through
 * entries of one account (`sameAccountGateways`), about one transaction: the same PSP reference where both name one,
 * else the same PSP event id (one notification delivered to both endpoints).
 */

/** The adjustment kinds that read a PSP transaction's success; one transaction is one of them, never two. */
export const TRANSACTION_SUCCESS_KINDS: readonly AdjustmentKind[] = ['duplicate_after_failover', 'succeeded_after_failure'];

/** Whether `kind` reads a PSP transaction's success ({@link TRANSACTION_SUCCESS_KINDS}). Pure. */
export function readsTransactionSuccess(kind: AdjustmentKind): boolean {
  return TRANSACTION_SUCCESS_KINDS.includes(kind);
}

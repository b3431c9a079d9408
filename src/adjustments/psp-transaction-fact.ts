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

/**
 * The adjustment kinds whose PSP reference names the very transaction the fact is about, and of which one transaction
 * gives one fact: a second reading of it under the SAME kind from the other source (a webhook after the report line
 * reconciliation recorded it from, or the other way round; their ids differ, `reconciliation:<line>` and the PSP
 * event id) is a duplicate, by the same rule and history entry as a reading under the other success kind. The same
 * transaction: either reference of the line (a Cybersource line's reconciliationId and its transaction id, which the
 * webhook names: `AdjustmentInput.lineReference`). A success after failure or a failure after success: the
 * transaction's own reference (an authorization's, a capture's, a refund's). A failure or success of the operation's
 * command recorded between the two keeps them apart (failed, re-captured, failed again); two readings from one source
 * are never matched here (two webhooks of one reference may be such a cycle arriving out of order). Left out, a
 * reference that may name more than one fact: a dispute's (a chargeback, its reversal, a second chargeback and the
 * dispute steps share it), a fraud alert's and a lapse's (the payment's), a mismatch's (the payment's; reconciliation
 * records them only), a refund's reversal and an outside refund (the same-fact search, `same-fact.ts`, covers them).
 */
export const ONE_READING_KINDS: readonly AdjustmentKind[] = [...TRANSACTION_SUCCESS_KINDS, 'capture_failed', 'refund_failed', 'failed_after_success'];

/** Whether a second reading of one transaction under `kind` is a duplicate ({@link ONE_READING_KINDS}). Pure. */
export function oneReadingPerTransaction(kind: AdjustmentKind): boolean {
  return ONE_READING_KINDS.includes(kind);
}

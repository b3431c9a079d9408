import type { AdjustmentKind, MoneyDirection } from './adjustment';

/**
 * One late fact about money, two ways to hear of it: a PSP webhook and a line of the PSP's records that
 * reconciliation reads. Whichever comes first is recorded (an adjustment and its OMS event); the other must find
 * it and record nothing. This table says which adjustments may stand for the same fact, for both directions of
 * the search (reconciliation: `recordingAdjustment` in the classifier; a webhook: `AdjustmentStore`).
 */

/** The prefix of a reconciliation adjustment's PSP event id before its line id. */
export const LINE_EVENT_PREFIX = 'reconciliation:';

/**
 * The PSP event id of an adjustment recorded from PSP line `lineId` (by reconciliation, or from an answer that shows
 * the fact that line lists: a Stripe capture meeting its authorization's lapse): what makes it idempotent, in a
 * namespace of its own (a webhook's event id of the same gateway can never collide with a line id).
 */
export function lineEventId(lineId: string): string {
  return `${LINE_EVENT_PREFIX}${lineId}`;
}

/** The kinds reconciliation records from a late-fact line (each line kind gives the adjustment of its own name). */
export const RECONCILED_LATE_FACT_KINDS = ['chargeback', 'second_chargeback', 'chargeback_reversed', 'refund_reversed', 'authorization_expired'] as const;
export type ReconciledLateFactKind = (typeof RECONCILED_LATE_FACT_KINDS)[number];

/**
 * The kinds reconciliation records from a line of an operation's own kind that contradicts the ledger, which a
 * webhook also reports: the PSP did after all what the ledger holds failed or undone (an Adyen re-capture after
 * `CAPTURE_FAILED`; the classifier's side of the search is its `reported` check and the undone mark it reads), or a
 * FAILED operation's earlier attempt at the entry of its PSP account it failed over from succeeded after all
 * (`duplicate_after_failover`, `earlierSameAccountAttempt`; the runner's side is the adjustments it read).
 */
export const RECONCILED_CONTRADICTION_KINDS = ['succeeded_after_failure', 'duplicate_after_failover'] as const;

/**
 * The kinds reconciliation records from a line of another kind than the operation it names, which a webhook also
 * reports: a refund of one of our payments that no refund of ours accounts for (`refund_outside_bridge`: the
 * classifier's `classifyRefundOfPayment`; a webhook's `webhooks/outside-refund.ts`).
 */
export const RECONCILED_PAYMENT_FACT_KINDS = ['refund_outside_bridge'] as const;

/** Every kind a reconciliation adjustment a webhook's fact may turn out to be is of. */
export type ReconciledFactKind = ReconciledLateFactKind | (typeof RECONCILED_CONTRADICTION_KINDS)[number] | (typeof RECONCILED_PAYMENT_FACT_KINDS)[number];

const RECONCILED_FACT_KINDS: readonly ReconciledFactKind[] = [
  ...RECONCILED_LATE_FACT_KINDS,
  ...RECONCILED_CONTRADICTION_KINDS,
  ...RECONCILED_PAYMENT_FACT_KINDS,
];

/**
 * The adjustment kinds a webhook may have recorded the fact of a reconciliation line of `kind` as, the line's own
 * kind first. A first and a second chargeback are apart: one never stands for the other.
 */
const RECORDED_AS: Readonly<Record<ReconciledFactKind, readonly AdjustmentKind[]>> = {
  chargeback: ['chargeback', 'dispute_lost'],
  second_chargeback: ['second_chargeback', 'dispute_lost'],
  chargeback_reversed: ['chargeback_reversed', 'dispute_won'],
  // A refund's money back with the merchant, of a refund of ours or of one the PSP made outside the bridge (the payment's
  // adjustment then, its reference the refund's): the webhook says failed or reversed, the line says reversed.
  refund_reversed: ['refund_reversed', 'refund_failed'],
  // A lapse the webhook brought; before it was read as one, the same cancellation came as a failure after success.
  authorization_expired: ['authorization_expired', 'failed_after_success'],
  succeeded_after_failure: ['succeeded_after_failure'],
  duplicate_after_failover: ['duplicate_after_failover'],
  // One refund per PSP reference: two refunds of one payment, however alike, are apart by their references. A sale the
  // PSP cancelled-or-refunded itself: the webhook reads it as the sale's failure (`webhooks/psp-reversal.ts`).
  refund_outside_bridge: ['refund_outside_bridge', 'capture_failed'],
};

/** See {@link RECORDED_AS}. */
export function recordedAs(kind: ReconciledFactKind): readonly AdjustmentKind[] {
  return RECORDED_AS[kind];
}

/** The reconciliation kinds whose line's fact an adjustment of `kind` (a webhook's) may be, its own kind first. */
export function reconciledKindsOf(kind: AdjustmentKind): ReconciledFactKind[] {
  return RECONCILED_FACT_KINDS.filter((k) => RECORDED_AS[k].includes(kind)).sort((a, b) => RECORDED_AS[a].indexOf(kind) - RECORDED_AS[b].indexOf(kind));
}

/** What two recordings of a fact are compared on. */
export interface FactShape {
  kind: AdjustmentKind;
  direction: MoneyDirection;
  amount?: number;
  currency?: string;
  /** The PSP's id of the dispute or modification. */
  pspReference?: string;
  /** When the PSP says it happened, epoch ms. */
  occurredAt?: number;
}

/**
 * Whether `recorded` (an adjustment reconciliation recorded from a PSP line) may be the fact a webhook reports as
 * `arrived`: a kind that records it, money moving the same way (a notice that moved nothing never stands for
 * money taken), the same amount and currency where both state one (a `refund_outside_bridge` of the same refund
 * reference: any amount), and the same dispute or modification reference where both name one.
 */
export function mayBeSameFact(arrived: FactShape, recorded: FactShape): boolean {
  if (!(reconciledKindsOf(arrived.kind) as readonly AdjustmentKind[]).includes(recorded.kind)) return false;
  if (arrived.direction !== recorded.direction) return false;
  // A refund's reference names one refund: the webhook may state another amount for it (an Adyen cancel-or-refund,
  // the payment's amount capped at what the ledger leaves to refund), which must not make it a second refund.
  const sameRefund = recorded.kind === 'refund_outside_bridge' && arrived.pspReference !== undefined && arrived.pspReference === recorded.pspReference;
  if (!sameRefund && arrived.amount !== undefined && recorded.amount !== undefined && arrived.amount !== recorded.amount) return false;
  if (arrived.currency !== undefined && recorded.currency !== undefined && arrived.currency.toUpperCase() !== recorded.currency.toUpperCase()) return false;
  return !(arrived.pspReference !== undefined && recorded.pspReference !== undefined && arrived.pspReference !== recorded.pspReference);
}

/**
 * Whether a failure of the operation (`failures`: the times of its adjustments that undo it, `commandsUndoneBy`) lies
 * between two dated successes after failure, `arrived` and `recorded`: then they are two re-captures (failed,
 * re-captured, failed again, re-captured again), never one, however alike their money and reference. Undated, they
 * cannot be told apart so: false.
 */
export function apartByFailure(arrived: FactShape, recorded: FactShape, failures: readonly number[]): boolean {
  if (arrived.occurredAt === undefined || recorded.occurredAt === undefined) return false;
  const from = Math.min(arrived.occurredAt, recorded.occurredAt);
  const to = Math.max(arrived.occurredAt, recorded.occurredAt);
  return failures.some((at) => at > from && at < to);
}

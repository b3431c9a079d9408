import type { OperationRecord } from '../ledger/ledger';
import { BRIDGE_ID_PREFIX } from '../ledger/operation-id';

/**
 * A capture, cancel or refund the OMS sends for a split tender's step (its redemption `_<id>.gc` or card part
 * `_<id>.card`, the references the step's own `authorized` event reports) before the split settled: the split may
 * still roll back, and its rollback voids that step. Captured first, the void fails (`REVERSAL_FAILED`) and the
 * customer pays for an order that has no payment; so such a command waits for the split (`awaiting: 'split_tender'`,
 * bounded by `delivery.void_wait_max_ms` as the other guards between voids and captures), goes on once the split is
 * DONE, and is refused {@link SPLIT_TENDER_ROLLED_BACK} once the split ended otherwise having reversed that step (its void or
 * refund SUCCEEDED); a step the split did not reverse (a card part that failed, approved by the PSP later) is left to the
 * other checks, as before. docs/payment-methods/stored-value.md.
 */

/** `fail` of a capture, cancel or refund of a split tender's step that its split, rolled back, reversed (voided or refunded). */
export const SPLIT_TENDER_ROLLED_BACK = 'SPLIT_TENDER_ROLLED_BACK';

/** `fail` of a capture, cancel or refund of a split tender's step whose wait for its split to settle ran out. */
export const WAIT_FOR_SPLIT_TENDER_EXPIRED = 'WAIT_FOR_SPLIT_TENDER_EXPIRED';

/** The split tender an operation is a step of, as the split's own record says. */
export interface SplitOfStep {
  /** The split's id (its operation reference). */
  splitId: string;
  /** Its state: REDEEMING, CHARGING_CARD, ROLLING_BACK, DONE, ROLLED_BACK, FAILED or REVERSAL_FAILED. */
  state: string;
  /** `open`: not settled yet; `done`: DONE (both tenders paid); `undone`: settled otherwise (rolled back, failed). */
  standing: 'open' | 'done' | 'undone';
  /** The operation ids of the split's steps (redemption, card part, their reversals): what a dependent waits on. */
  steps: readonly string[];
  /** The ids under which the split reverses this step (its void, its refund): one SUCCEEDED says the split undid it. */
  reversals: readonly string[];
}

/** Where delivery asks which split tender an authorization is a step of (`split-tender/split-step-lookup.ts`). */
export interface SplitTenderSteps {
  /** The split `auth` is the redemption or card part of, or null when it is none (or the split's record is gone). */
  splitOf(auth: OperationRecord): Promise<SplitOfStep | null>;
  /**
   * Whether operation `opId` is the split's own reversal (void or refund) of its step `stepId` (`_<id>.card-void` of
   * `_<id>.card`…; bridge ids only). Pure: no read.
   */
  reversesStep(opId: string, stepId: string): boolean;
}

/** The commands of the OMS that wait for a step's split: what would take or release the step's money. */
const GUARDED: ReadonlySet<string> = new Set(['capture', 'cancel', 'refund']);

/**
 * Whether dependent `op` of `auth` must be checked against `auth`'s split: a capture, cancel or refund that is not
 * the bridge's own (a split's reversals and refund parts, orphan reversals: ids starting with `_`, which no channel's
 * reference may). Pure.
 */
export function guardedBySplit(op: Pick<OperationRecord, 'id' | 'command'>): boolean {
  return GUARDED.has(op.command) && !op.id.startsWith(BRIDGE_ID_PREFIX);
}

/**
 * Whether `o`, a command of a split's step, is held by its split until the split settles ({@link guardedBySplit}, never
 * sent yet: RECEIVED): a split's own reversal of that step leaves it out of what it waits for and sums (captures in flight
 * before a void, refunds ahead of a refund), since it cannot go before the split, which waits for that reversal. Pure.
 */
export function heldBySplit(o: Pick<OperationRecord, 'id' | 'command' | 'state'>): boolean {
  return guardedBySplit(o) && o.state === 'RECEIVED';
}

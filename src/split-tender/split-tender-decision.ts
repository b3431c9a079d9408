import { assertNever } from '../gateways/assert-never';

/**
 * The split tender's decisions, pure: given where a split stands and what the ledger says of the step that
 * state waits for, what happens next. The coordinator does the I/O (docs/payment-methods/stored-value.md).
 */

/**
 * Where a split stands. REDEEMING → CHARGING_CARD → DONE; CHARGING_CARD → ROLLING_BACK → ROLLED_BACK
 * (or REVERSAL_FAILED when the PSP refuses the reversal: the operator must act); REDEEMING → FAILED.
 * DONE, ROLLED_BACK, FAILED and REVERSAL_FAILED are final.
 */
export type SplitTenderState = 'REDEEMING' | 'CHARGING_CARD' | 'DONE' | 'ROLLING_BACK' | 'ROLLED_BACK' | 'FAILED' | 'REVERSAL_FAILED';

export const FINAL_SPLIT_STATES: ReadonlySet<SplitTenderState> = new Set(['DONE', 'ROLLED_BACK', 'FAILED', 'REVERSAL_FAILED']);

/** What a step's operation became, as the ledger says (SUCCEEDED or FAILED are final; anything else: not yet). */
export type StepOutcome = { state: 'SUCCEEDED'; gatewayReference?: string } | { state: 'FAILED'; reason?: string } | { state: 'OPEN' };

/** The step a non-final state waits for. */
export type SplitStep = 'redeem' | 'charge_card' | 'reverse';

/** What the coordinator does next. */
export type SplitAction =
  /** Submit the step's command (a repeat under the same reference is harmless), then look again. */
  | { kind: 'submit'; step: SplitStep }
  /** The step was submitted and is not decided yet: come back later. */
  | { kind: 'wait'; step: SplitStep }
  /** The step is decided: move to `to`. */
  | { kind: 'move'; to: SplitTenderState }
  /** Nothing left to do. */
  | { kind: 'final' };

/** The step a state waits for, or null for a final state. */
export function stepOf(state: SplitTenderState): SplitStep | null {
  switch (state) {
    case 'REDEEMING':
      return 'redeem';
    case 'CHARGING_CARD':
      return 'charge_card';
    case 'ROLLING_BACK':
      return 'reverse';
    case 'DONE':
    case 'ROLLED_BACK':
    case 'FAILED':
    case 'REVERSAL_FAILED':
      return null;
    default:
      return assertNever(state, 'split tender state');
  }
}

/**
 * The next action of a split in `state`, given its step's outcome, whether the step was already submitted
 * in this pass, and the card part (0: the gift card pays it all, no card is charged).
 */
export function nextSplitAction(state: SplitTenderState, outcome: StepOutcome, submitted: boolean, cardPart: number): SplitAction {
  const step = stepOf(state);
  if (step === null) return { kind: 'final' };
  if (outcome.state === 'OPEN') return submitted ? { kind: 'wait', step } : { kind: 'submit', step };
  const ok = outcome.state === 'SUCCEEDED';
  switch (step) {
    case 'redeem':
      // The card is only charged once the gift card part is held: never a card charge without the redemption.
      return { kind: 'move', to: ok ? (cardPart > 0 ? 'CHARGING_CARD' : 'DONE') : 'FAILED' };
    case 'charge_card':
      return { kind: 'move', to: ok ? 'DONE' : 'ROLLING_BACK' };
    case 'reverse':
      return { kind: 'move', to: ok ? 'ROLLED_BACK' : 'REVERSAL_FAILED' };
    default:
      return assertNever(step, 'split tender step');
  }
}

/** The order in which a split tender order's refunds go back to its tenders. */
export type RefundOrder = 'card_first' | 'gift_card_first';

/**
 * How a refund of `amount` spreads over the tenders: the first tender in `order` takes as much as it has
 * left to refund, the other the rest. Null when `amount` exceeds what is left on both.
 * @param left what each tender has left to refund (its part less what earlier refunds took), minor units.
 */
export function refundParts(amount: number, left: { card: number; gift_card: number }, order: RefundOrder): { card: number; gift_card: number } | null {
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > left.card + left.gift_card) return null;
  if (order === 'card_first') {
    const card = Math.min(amount, left.card);
    return { card, gift_card: amount - card };
  }
  const gift = Math.min(amount, left.gift_card);
  return { card: amount - gift, gift_card: gift };
}

/** Where a split refund stands: REFUNDING until every part succeeded (REFUNDED) or one failed (REFUND_FAILED). */
export type SplitRefundState = 'REFUNDING' | 'REFUNDED' | 'REFUND_FAILED';

/**
 * The next action of a split refund: its parts go back one after the other, in order; a part is only sent
 * once the one before it succeeded, and a failed part stops the refund (the parts after it are not sent).
 * @param parts the parts in refund order (zero parts are skipped), each with its outcome and whether it was submitted in this pass.
 */
export function nextRefundAction(
  parts: ReadonlyArray<{ part: 'card' | 'gift_card'; amount: number; outcome: StepOutcome; submitted: boolean }>,
): { kind: 'submit' | 'wait'; part: 'card' | 'gift_card' } | { kind: 'finish'; to: Exclude<SplitRefundState, 'REFUNDING'> } {
  for (const p of parts) {
    if (p.amount <= 0) continue;
    if (p.outcome.state === 'FAILED') return { kind: 'finish', to: 'REFUND_FAILED' };
    if (p.outcome.state === 'OPEN') return { kind: p.submitted ? 'wait' : 'submit', part: p.part };
  }
  return { kind: 'finish', to: 'REFUNDED' };
}

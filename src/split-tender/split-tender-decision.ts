import { assertNever } from '../gateways/assert-never';

/**
 * The split tender's decisions, pure: given where a split stands and what the ledger says of the step that
 * state waits for, what happens next. The coordinator does the I/O (docs/payment-methods/stored-value.md).
 */

/**
 * Where a split stands. REDEEMING → CHARGING_CARD → DONE; CHARGING_CARD → ROLLING_BACK → ROLLED_BACK (or
 * REVERSAL_FAILED when the PSP refuses a reversal: the operator must act); REDEEMING → FAILED; REDEEMING →
 * ROLLING_BACK (the redemption approved for less than its part). DONE, ROLLED_BACK, FAILED and
 * REVERSAL_FAILED are final.
 */
export type SplitTenderState = 'REDEEMING' | 'CHARGING_CARD' | 'DONE' | 'ROLLING_BACK' | 'ROLLED_BACK' | 'FAILED' | 'REVERSAL_FAILED';

export const FINAL_SPLIT_STATES: ReadonlySet<SplitTenderState> = new Set(['DONE', 'ROLLED_BACK', 'FAILED', 'REVERSAL_FAILED']);

/**
 * What a step's operation became, as the ledger says (SUCCEEDED or FAILED are final; anything else: not yet).
 * `confirmedAmount`: what the PSP confirmed of a SUCCEEDED step, minor units of the order's currency (absent
 * when it named no amount, or one that cannot be compared with the order's). `capturedAtPsp`: a void (cancel) that
 * FAILED because its PSP said the payment is captured already (the gateway's rule, `voidRefusedAsCaptured`), with what
 * the PSP stated captured, minor units of the order's currency (`amount` absent: it stated none, or in another currency).
 */
export type StepOutcome =
  | { state: 'SUCCEEDED'; gatewayReference?: string; confirmedAmount?: number }
  | { state: 'FAILED'; reason?: string; capturedAtPsp?: { amount?: number } }
  | { state: 'OPEN' };

/**
 * A split's steps: `redeem` (the gift card part), `charge_card` (the card part), and the rollback's
 * reversals: `reverse` (the redemption's void or refund) and `release_card` (the void or refund of a card
 * part the PSP approved for less than asked).
 */
export type SplitStep = 'redeem' | 'charge_card' | 'reverse' | 'release_card';

/** Why a split is rolled back: its card part failed, or a part was approved for less than asked. */
export type RollbackCause = 'card_part_failed' | 'card_part_short' | 'gift_card_part_short';

/** What the coordinator does next. */
export type SplitAction =
  /** Submit the step's command (a repeat under the same reference is harmless), then look again. */
  | { kind: 'submit'; step: SplitStep }
  /** The step was submitted and is not decided yet: come back later. */
  | { kind: 'wait'; step: SplitStep }
  /** The steps are decided: move to `to` (`cause`: why a move to ROLLING_BACK rolls back). */
  | { kind: 'move'; to: SplitTenderState; cause?: RollbackCause }
  /** Nothing left to do. */
  | { kind: 'final' };

/** What the coordinator knows of a split in one pass: its steps' outcomes, what it submitted, its planned parts. */
export interface SplitView {
  /** Each step's outcome as the ledger says; a step missing here is OPEN (not decided, or never sent). */
  outcomes: Partial<Record<SplitStep, StepOutcome>>;
  /** The steps submitted in this pass. */
  submitted: ReadonlySet<SplitStep>;
  /** The planned parts, minor units: the gift card's, and the card's (0: the gift card pays it all). */
  parts: { gift_card: number; card: number };
  /**
   * Reversals not to send yet: their amount waits for a fact outside the split (an OMS refund of the tender held for
   * its PSP's own retry: `SplitTenderCoordinator.reversalOf`). The split waits for them; the other reversal still goes.
   */
  waiting?: ReadonlySet<SplitStep>;
}

const OPEN: StepOutcome = { state: 'OPEN' };

/** The step a state waits for first, or null for a final state (ROLLING_BACK may wait for `release_card` too). */
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
 * Whether a SUCCEEDED step's PSP confirmed less than its `planned` part: a partial approval, which must not
 * pass for the whole part. A step whose PSP named no comparable amount is taken at its word (not short).
 */
export function isShort(outcome: StepOutcome, planned: number): boolean {
  return outcome.state === 'SUCCEEDED' && outcome.confirmedAmount !== undefined && outcome.confirmedAmount < planned;
}

/**
 * What a step holds, minor units of the order's currency: what its PSP confirmed when it SUCCEEDED and named a
 * comparable amount, else the `planned` part. What a rollback reverses, and what a refund may give back.
 */
export function confirmedOrPlanned(outcome: StepOutcome | undefined, planned: number): number {
  return outcome?.state === 'SUCCEEDED' && outcome.confirmedAmount !== undefined ? outcome.confirmedAmount : planned;
}

/**
 * The reversals a rollback needs: the redemption's (`reverse`) always, and the card part's (`release_card`)
 * when its PSP approved it (for less than asked: an approved full card part completes the split).
 */
export function rollbackSteps(outcomes: SplitView['outcomes']): SplitStep[] {
  return (outcomes.charge_card ?? OPEN).state === 'SUCCEEDED' ? ['release_card', 'reverse'] : ['reverse'];
}

/**
 * Why a split in (or past) ROLLING_BACK is rolled back, from its steps: the card part failed, the card part
 * was approved for less (it is released too), or the redemption was approved for less (no card was charged).
 */
export function rollbackCause(outcomes: SplitView['outcomes']): RollbackCause {
  const card = (outcomes.charge_card ?? OPEN).state;
  if (card === 'SUCCEEDED') return 'card_part_short';
  if (card === 'FAILED') return 'card_part_failed';
  return 'gift_card_part_short';
}

/**
 * The next action of a split in `state`. A part the PSP approved for less than planned (a partial approval)
 * counts as failed: the split is rolled back, every reversal at what its PSP confirmed, and never DONE for a
 * total the PSPs did not confirm.
 */
export function nextSplitAction(state: SplitTenderState, view: SplitView): SplitAction {
  const { outcomes, submitted, parts } = view;
  const pending = (step: SplitStep): SplitAction => (submitted.has(step) ? { kind: 'wait', step } : { kind: 'submit', step });
  switch (state) {
    case 'REDEEMING': {
      const redeemed = outcomes.redeem ?? OPEN;
      if (redeemed.state === 'OPEN') return pending('redeem');
      if (redeemed.state === 'FAILED') return { kind: 'move', to: 'FAILED' };
      if (isShort(redeemed, parts.gift_card)) return { kind: 'move', to: 'ROLLING_BACK', cause: 'gift_card_part_short' };
      // The card is only charged once the gift card part is held: never a card charge without the redemption.
      return { kind: 'move', to: parts.card > 0 ? 'CHARGING_CARD' : 'DONE' };
    }
    case 'CHARGING_CARD': {
      const charged = outcomes.charge_card ?? OPEN;
      if (charged.state === 'OPEN') return pending('charge_card');
      if (charged.state === 'FAILED') return { kind: 'move', to: 'ROLLING_BACK', cause: 'card_part_failed' };
      if (isShort(charged, parts.card)) return { kind: 'move', to: 'ROLLING_BACK', cause: 'card_part_short' };
      return { kind: 'move', to: 'DONE' };
    }
    case 'ROLLING_BACK': {
      // The reversals are independent (each undoes its own tender): all are sent, then the split settles.
      const steps = rollbackSteps(outcomes);
      const open = steps.filter((step) => (outcomes[step] ?? OPEN).state === 'OPEN');
      const unsent = open.find((step) => !submitted.has(step) && view.waiting?.has(step) !== true);
      if (unsent) return { kind: 'submit', step: unsent };
      if (open.length > 0) return { kind: 'wait', step: open[0] };
      const reversed = steps.every((step) => outcomes[step]?.state === 'SUCCEEDED');
      return { kind: 'move', to: reversed ? 'ROLLED_BACK' : 'REVERSAL_FAILED', cause: rollbackCause(outcomes) };
    }
    case 'DONE':
    case 'ROLLED_BACK':
    case 'FAILED':
    case 'REVERSAL_FAILED':
      return { kind: 'final' };
    default:
      return assertNever(state, 'split tender state');
  }
}

const ROLLED_BACK_REASONS: Record<RollbackCause, string> = {
  card_part_failed: 'card_part_failed_gift_card_reversed',
  card_part_short: 'card_part_short_rolled_back',
  gift_card_part_short: 'gift_card_part_short_reversed',
};

/**
 * The reason a final split state reports (absent on DONE), from its steps' outcomes: also the `reason` label
 * of `pb_split_tenders_total`.
 */
export function splitReason(state: SplitTenderState, outcomes: SplitView['outcomes']): string | undefined {
  switch (state) {
    case 'ROLLED_BACK':
      return ROLLED_BACK_REASONS[rollbackCause(outcomes)];
    case 'FAILED':
      return 'gift_card_redemption_failed';
    case 'REVERSAL_FAILED':
      // The gift card first: its hold is the one every rollback has.
      return outcomes.reverse?.state === 'FAILED' || outcomes.release_card?.state !== 'FAILED' ? 'gift_card_reversal_failed' : 'card_release_failed';
    default:
      return undefined;
  }
}

/**
 * How a rolling back `authorize` split reverses a tender (`SplitTenderCoordinator.reversalOf`): a void, a refund of what
 * was captured, or nothing (`none`: captured, and the OMS's own refunds gave back all of it, `refunded`).
 */
export type Reversal = { by: 'void' } | { by: 'refund'; amount: number } | { by: 'none'; refunded: number };

/**
 * A tender's reversal not decided yet (never stored): the tender was captured and refunds of the OMS not confirmed hold
 * some of it, so what is left to give back is not known until their outcome arrives: `held`, those recorded FAILED that
 * the PSP retries itself (`held_for_psp_retry`: the PSP's retry done, or an operator's release of the hold);
 * `inFlight`, those with no final outcome yet (sent, `PENDING`, `UNKNOWN`…: the PSP's answer). Both 0: the refunds
 * moved while they were read (`unsettledRefunds`), read again at the next pass.
 */
export interface PendingReversal {
  by: 'pending';
  held: number;
  inFlight: number;
}

/** What the refunds of the OMS of a split's step stand at, minor units of the order's currency (`SplitTenderPorts.refundsOf`). */
export interface StepRefunds {
  /** Given back, as the PSP confirmed it (`refundsGivenBack`). */
  givenBack: number;
  /** Recorded FAILED, held for the PSP's own retry (`refundsHeldForRetry`): not confirmed given back, nor kept. */
  held: number;
  /** No final outcome yet (`refundsNotFinal`): not confirmed given back, nor kept. */
  inFlight: number;
}

/**
 * What keeps a captured tender's reversal undecided, from the step's refunds read before and after what was collected
 * of it: any refund held for its PSP's retry or in flight in either reading (one released, done, sent or created between
 * two reads of the ledger would otherwise be counted as given back, or not, on a figure the PSP never confirmed); or,
 * none being, refunds given back that differ between the two (one sent and confirmed between the reads: what was
 * collected may have read it in flight). Null: the reading stands, the reversal is decided on it. Pure.
 */
export function unsettledRefunds(before: StepRefunds, after: StepRefunds): PendingReversal | null {
  const held = Math.max(before.held, after.held);
  const inFlight = Math.max(before.inFlight, after.inFlight);
  if (held > 0 || inFlight > 0 || before.givenBack !== after.givenBack) return { by: 'pending', held, inFlight };
  return null;
}

/**
 * What a tender's void that FAILED leads to: its PSP refused it because the payment is captured already (an operator's
 * capture at the PSP, an account capturing automatically) and stated what was captured: a `refund` of that amount, under
 * the tender's own refund id (`SplitTenderCoordinator` re-decides the reversal); stated no amount: `unstated`, the split
 * ends REVERSAL_FAILED as for any failed void (no refund is sized on a guess); null for a void that failed otherwise, or
 * any other outcome. Pure.
 */
export function afterRefusedVoid(outcome: StepOutcome | undefined): { by: 'refund'; amount: number } | { by: 'unstated' } | null {
  if (outcome?.state !== 'FAILED' || outcome.capturedAtPsp === undefined) return null;
  const amount = outcome.capturedAtPsp.amount;
  return amount !== undefined && Number.isSafeInteger(amount) && amount > 0 ? { by: 'refund', amount } : { by: 'unstated' };
}

/** A stored reversal decision (`SplitTenderStore.reversal`): `void`, `refund:<amount>`, `none:<refunded>`. */
export function parseReversal(stored: string): Reversal {
  const [by, figure] = stored.split(':');
  const amount = Number(figure);
  if (by === 'refund' && Number.isSafeInteger(amount) && amount > 0) return { by: 'refund', amount };
  if (by === 'none' && Number.isSafeInteger(amount) && amount >= 0) return { by: 'none', refunded: amount };
  return { by: 'void' };
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

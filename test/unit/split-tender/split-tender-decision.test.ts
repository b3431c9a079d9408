import {
  SplitStep,
  afterRefusedVoid,
  SplitView,
  confirmedOrPlanned,
  isShort,
  nextRefundAction,
  nextSplitAction,
  refundParts,
  rollbackSteps,
  splitReason,
  unsettledRefunds,
} from '../../../src/split-tender/split-tender-decision';

describe('split tender decisions', () => {
  const ok = { state: 'SUCCEEDED' } as const;
  const failed = { state: 'FAILED', reason: 'card_declined' } as const;
  const open = { state: 'OPEN' } as const;
  const parts = { gift_card: 3000, card: 7000 };
  type Outcomes = SplitView['outcomes'];
  const view = (outcomes: Outcomes, submitted: SplitStep[] = [], p = parts): SplitView => ({ outcomes, submitted: new Set(submitted), parts: p });

  it('submits the step a state waits for once, then waits for its outcome', () => {
    expect(nextSplitAction('REDEEMING', view({ redeem: open }))).toEqual({ kind: 'submit', step: 'redeem' });
    expect(nextSplitAction('REDEEMING', view({ redeem: open }, ['redeem']))).toEqual({ kind: 'wait', step: 'redeem' });
    expect(nextSplitAction('CHARGING_CARD', view({}))).toEqual({ kind: 'submit', step: 'charge_card' });
    expect(nextSplitAction('ROLLING_BACK', view({ redeem: ok, charge_card: failed }))).toEqual({ kind: 'submit', step: 'reverse' });
  });

  it('charges the card only after the redemption succeeded, and not at all when the gift card pays everything', () => {
    expect(nextSplitAction('REDEEMING', view({ redeem: ok }, ['redeem']))).toEqual({ kind: 'move', to: 'CHARGING_CARD' });
    expect(nextSplitAction('REDEEMING', view({ redeem: ok }, ['redeem'], { gift_card: 10000, card: 0 }))).toEqual({ kind: 'move', to: 'DONE' });
    expect(nextSplitAction('REDEEMING', view({ redeem: failed }, ['redeem']))).toEqual({ kind: 'move', to: 'FAILED' });
  });

  it('reverses the redemption when the card part fails, and says so when the reversal fails', () => {
    expect(nextSplitAction('CHARGING_CARD', view({ charge_card: failed }))).toEqual({ kind: 'move', to: 'ROLLING_BACK', cause: 'card_part_failed' });
    expect(nextSplitAction('CHARGING_CARD', view({ charge_card: ok }))).toEqual({ kind: 'move', to: 'DONE' });
    expect(nextSplitAction('ROLLING_BACK', view({ redeem: ok, charge_card: failed, reverse: ok }))).toEqual({
      kind: 'move',
      to: 'ROLLED_BACK',
      cause: 'card_part_failed',
    });
    expect(nextSplitAction('ROLLING_BACK', view({ redeem: ok, charge_card: failed, reverse: failed }))).toEqual({
      kind: 'move',
      to: 'REVERSAL_FAILED',
      cause: 'card_part_failed',
    });
  });

  it('a card part approved for less than planned is never DONE: it rolls back, releasing the card part and reversing the redemption', () => {
    const short = { state: 'SUCCEEDED', confirmedAmount: 4000 } as const;
    expect(nextSplitAction('CHARGING_CARD', view({ charge_card: short }))).toEqual({ kind: 'move', to: 'ROLLING_BACK', cause: 'card_part_short' });
    // Confirmed in full (or more), or the PSP named no comparable amount: the part is paid.
    expect(nextSplitAction('CHARGING_CARD', view({ charge_card: { state: 'SUCCEEDED', confirmedAmount: 7000 } }))).toEqual({ kind: 'move', to: 'DONE' });
    // Both reversals are sent, then the split settles on both.
    const rolling = { redeem: { state: 'SUCCEEDED', confirmedAmount: 3000 }, charge_card: short } as const;
    expect(rollbackSteps(rolling)).toEqual(['release_card', 'reverse']);
    expect(nextSplitAction('ROLLING_BACK', view(rolling))).toEqual({ kind: 'submit', step: 'release_card' });
    expect(nextSplitAction('ROLLING_BACK', view(rolling, ['release_card']))).toEqual({ kind: 'submit', step: 'reverse' });
    expect(nextSplitAction('ROLLING_BACK', view(rolling, ['release_card', 'reverse']))).toEqual({ kind: 'wait', step: 'release_card' });
    expect(nextSplitAction('ROLLING_BACK', view({ ...rolling, release_card: ok }, ['reverse']))).toEqual({ kind: 'wait', step: 'reverse' });
    expect(nextSplitAction('ROLLING_BACK', view({ ...rolling, release_card: ok, reverse: ok }))).toEqual({
      kind: 'move',
      to: 'ROLLED_BACK',
      cause: 'card_part_short',
    });
    // A reversal waiting for a fact outside the split (an OMS refund held for its PSP's retry) is not sent; the other
    // is, and the split waits for both.
    const waiting = (outcomes: Outcomes, submitted: SplitStep[], w: SplitStep[]): SplitView => ({ ...view(outcomes, submitted), waiting: new Set(w) });
    expect(nextSplitAction('ROLLING_BACK', waiting(rolling, [], ['reverse']))).toEqual({ kind: 'submit', step: 'release_card' });
    expect(nextSplitAction('ROLLING_BACK', waiting(rolling, ['release_card'], ['reverse']))).toEqual({ kind: 'wait', step: 'release_card' });
    expect(nextSplitAction('ROLLING_BACK', waiting({ ...rolling, release_card: ok }, [], ['reverse']))).toEqual({ kind: 'wait', step: 'reverse' });
    // One reversal refused: the other is still sent and settled, then the operator is told.
    expect(nextSplitAction('ROLLING_BACK', view({ ...rolling, release_card: failed }))).toEqual({ kind: 'submit', step: 'reverse' });
    expect(nextSplitAction('ROLLING_BACK', view({ ...rolling, release_card: failed, reverse: ok }))).toEqual({
      kind: 'move',
      to: 'REVERSAL_FAILED',
      cause: 'card_part_short',
    });
  });

  it('a redemption approved for less than planned charges no card: it is reversed and the split rolled back', () => {
    const short = { state: 'SUCCEEDED', confirmedAmount: 1000 } as const;
    expect(nextSplitAction('REDEEMING', view({ redeem: short }, ['redeem']))).toEqual({ kind: 'move', to: 'ROLLING_BACK', cause: 'gift_card_part_short' });
    expect(rollbackSteps({ redeem: short })).toEqual(['reverse']);
    expect(nextSplitAction('ROLLING_BACK', view({ redeem: short }))).toEqual({ kind: 'submit', step: 'reverse' });
    expect(nextSplitAction('ROLLING_BACK', view({ redeem: short, reverse: ok }))).toEqual({ kind: 'move', to: 'ROLLED_BACK', cause: 'gift_card_part_short' });
  });

  it('tells a short part from a paid one, and takes a part at what its PSP confirmed', () => {
    expect(isShort({ state: 'SUCCEEDED', confirmedAmount: 6999 }, 7000)).toBe(true);
    expect(isShort({ state: 'SUCCEEDED', confirmedAmount: 7000 }, 7000)).toBe(false);
    expect(isShort(ok, 7000)).toBe(false);
    expect(isShort(failed, 7000)).toBe(false);
    expect(confirmedOrPlanned({ state: 'SUCCEEDED', confirmedAmount: 4000 }, 7000)).toBe(4000);
    expect(confirmedOrPlanned(ok, 7000)).toBe(7000);
    expect(confirmedOrPlanned(undefined, 7000)).toBe(7000);
  });

  it('reports why a split ended as it did', () => {
    const short = { state: 'SUCCEEDED', confirmedAmount: 4000 } as const;
    expect(splitReason('DONE', { redeem: ok, charge_card: ok })).toBeUndefined();
    expect(splitReason('FAILED', { redeem: failed })).toBe('gift_card_redemption_failed');
    expect(splitReason('ROLLED_BACK', { redeem: ok, charge_card: failed, reverse: ok })).toBe('card_part_failed_gift_card_reversed');
    expect(splitReason('ROLLED_BACK', { redeem: ok, charge_card: short, release_card: ok, reverse: ok })).toBe('card_part_short_rolled_back');
    expect(splitReason('ROLLED_BACK', { redeem: short, reverse: ok })).toBe('gift_card_part_short_reversed');
    expect(splitReason('REVERSAL_FAILED', { redeem: ok, charge_card: failed, reverse: failed })).toBe('gift_card_reversal_failed');
    expect(splitReason('REVERSAL_FAILED', { redeem: ok, charge_card: short, release_card: failed, reverse: ok })).toBe('card_release_failed');
  });

  it('does nothing more in a final state', () => {
    for (const state of ['DONE', 'ROLLED_BACK', 'FAILED', 'REVERSAL_FAILED'] as const) expect(nextSplitAction(state, view({}))).toEqual({ kind: 'final' });
  });

  it('spreads a refund over the tenders in the configured order, within what each has left', () => {
    expect(refundParts(8000, { card: 7000, gift_card: 3000 }, 'card_first')).toEqual({ card: 7000, gift_card: 1000 });
    expect(refundParts(2000, { card: 7000, gift_card: 3000 }, 'card_first')).toEqual({ card: 2000, gift_card: 0 });
    expect(refundParts(4000, { card: 7000, gift_card: 3000 }, 'gift_card_first')).toEqual({ card: 1000, gift_card: 3000 });
    expect(refundParts(10001, { card: 7000, gift_card: 3000 }, 'card_first')).toBeNull();
    expect(refundParts(0, { card: 7000, gift_card: 3000 }, 'card_first')).toBeNull();
  });

  it('sends refund parts one after the other and stops at a failed one', () => {
    const parts = (card: typeof ok | typeof open | typeof failed, gift: typeof ok | typeof open | typeof failed, submitted = false) => [
      { part: 'card' as const, amount: 7000, outcome: card, submitted },
      { part: 'gift_card' as const, amount: 1000, outcome: gift, submitted },
    ];
    expect(nextRefundAction(parts(open, open))).toEqual({ kind: 'submit', part: 'card' });
    expect(nextRefundAction(parts(open, open, true))).toEqual({ kind: 'wait', part: 'card' });
    expect(nextRefundAction(parts(ok, open))).toEqual({ kind: 'submit', part: 'gift_card' });
    expect(nextRefundAction(parts(failed, open))).toEqual({ kind: 'finish', to: 'REFUND_FAILED' });
    expect(nextRefundAction(parts(ok, ok))).toEqual({ kind: 'finish', to: 'REFUNDED' });
    expect(
      nextRefundAction([
        { part: 'card', amount: 0, outcome: open, submitted: false },
        { part: 'gift_card', amount: 500, outcome: ok, submitted: false },
      ]),
    ).toEqual({
      kind: 'finish',
      to: 'REFUNDED',
    });
  });

  describe("a captured tender's refunds read before and after what was collected of it (unsettledRefunds)", () => {
    const none = { givenBack: 0, held: 0, inFlight: 0 };
    it('a refund in flight or held in either reading keeps the reversal pending, by what each holds', () => {
      expect(unsettledRefunds({ ...none, inFlight: 3000 }, none)).toEqual({ by: 'pending', held: 0, inFlight: 3000 });
      expect(unsettledRefunds(none, { ...none, inFlight: 3000 })).toEqual({ by: 'pending', held: 0, inFlight: 3000 });
      expect(unsettledRefunds({ ...none, held: 2000 }, { ...none, held: 2000, inFlight: 1000 })).toEqual({ by: 'pending', held: 2000, inFlight: 1000 });
    });
    it('refunds given back that differ between the readings (one sent and confirmed between them) keep it pending, waiting for nothing', () => {
      expect(unsettledRefunds(none, { ...none, givenBack: 3000 })).toEqual({ by: 'pending', held: 0, inFlight: 0 });
    });
    it('two readings alike with nothing unconfirmed: decided on them', () => {
      expect(unsettledRefunds(none, none)).toBeNull();
      expect(unsettledRefunds({ ...none, givenBack: 2000 }, { ...none, givenBack: 2000 })).toBeNull();
    });
  });

  describe('a void that FAILED because its PSP said the payment is captured (afterRefusedVoid)', () => {
    it('is refunded for what the PSP stated captured', () => {
      expect(afterRefusedVoid({ state: 'FAILED', reason: 'authorization_captured', capturedAtPsp: { amount: 1200 } })).toEqual({ by: 'refund', amount: 1200 });
    });

    it('stated no amount (or none above 0): unstated, never a refund sized on a guess', () => {
      expect(afterRefusedVoid({ state: 'FAILED', capturedAtPsp: {} })).toEqual({ by: 'unstated' });
      expect(afterRefusedVoid({ state: 'FAILED', capturedAtPsp: { amount: 0 } })).toEqual({ by: 'unstated' });
    });

    it('a void that failed otherwise, succeeded or is open leads to nothing', () => {
      expect(afterRefusedVoid({ state: 'FAILED', reason: 'authorization_cancelled' })).toBeNull();
      expect(afterRefusedVoid({ state: 'SUCCEEDED' })).toBeNull();
      expect(afterRefusedVoid({ state: 'OPEN' })).toBeNull();
      expect(afterRefusedVoid(undefined)).toBeNull();
    });
  });
});

import { nextRefundAction, nextSplitAction, refundParts } from '../../../src/split-tender/split-tender-decision';

describe('split tender decisions', () => {
  const ok = { state: 'SUCCEEDED' } as const;
  const failed = { state: 'FAILED', reason: 'card_declined' } as const;
  const open = { state: 'OPEN' } as const;

  it('submits the step a state waits for once, then waits for its outcome', () => {
    expect(nextSplitAction('REDEEMING', open, false, 7000)).toEqual({ kind: 'submit', step: 'redeem' });
    expect(nextSplitAction('REDEEMING', open, true, 7000)).toEqual({ kind: 'wait', step: 'redeem' });
    expect(nextSplitAction('CHARGING_CARD', open, false, 7000)).toEqual({ kind: 'submit', step: 'charge_card' });
    expect(nextSplitAction('ROLLING_BACK', open, false, 7000)).toEqual({ kind: 'submit', step: 'reverse' });
  });

  it('charges the card only after the redemption succeeded, and not at all when the gift card pays everything', () => {
    expect(nextSplitAction('REDEEMING', ok, true, 7000)).toEqual({ kind: 'move', to: 'CHARGING_CARD' });
    expect(nextSplitAction('REDEEMING', ok, true, 0)).toEqual({ kind: 'move', to: 'DONE' });
    expect(nextSplitAction('REDEEMING', failed, true, 7000)).toEqual({ kind: 'move', to: 'FAILED' });
  });

  it('reverses the redemption when the card part fails, and says so when the reversal fails', () => {
    expect(nextSplitAction('CHARGING_CARD', failed, true, 7000)).toEqual({ kind: 'move', to: 'ROLLING_BACK' });
    expect(nextSplitAction('CHARGING_CARD', ok, true, 7000)).toEqual({ kind: 'move', to: 'DONE' });
    expect(nextSplitAction('ROLLING_BACK', ok, true, 7000)).toEqual({ kind: 'move', to: 'ROLLED_BACK' });
    expect(nextSplitAction('ROLLING_BACK', failed, true, 7000)).toEqual({ kind: 'move', to: 'REVERSAL_FAILED' });
  });

  it('does nothing more in a final state', () => {
    for (const state of ['DONE', 'ROLLED_BACK', 'FAILED', 'REVERSAL_FAILED'] as const)
      expect(nextSplitAction(state, open, false, 1)).toEqual({ kind: 'final' });
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
});

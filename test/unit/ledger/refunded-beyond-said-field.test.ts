import { REFUNDED_BEYOND_SAID_PREFIX, claimSaidOffEventField, figuresOfSaidField, refundedBeyondSaidField } from '../../../src/ledger/refunds-undecided-mark';

describe('a refunded-beyond claim field read back (figuresOfSaidField)', () => {
  it('gives back the figures the claim names, the excess computed', () => {
    const figures = { currency: 'USD', capturedAmount: 0, refundedAmount: 2000, excessAmount: 2000 };
    expect(figuresOfSaidField(refundedBeyondSaidField(figures))).toEqual(figures);
    expect(figuresOfSaidField(refundedBeyondSaidField({ currency: 'JPY', capturedAmount: 300, refundedAmount: 1000, excessAmount: 700 }))).toEqual({
      currency: 'JPY',
      capturedAmount: 300,
      refundedAmount: 1000,
      excessAmount: 700,
    });
  });

  it('reads nothing from another field or a garbled one', () => {
    for (const field of [
      'refunds_reread',
      `${REFUNDED_BEYOND_SAID_PREFIX}USD:0`,
      `${REFUNDED_BEYOND_SAID_PREFIX}USD:0:20.5`,
      `${REFUNDED_BEYOND_SAID_PREFIX}:0:1`,
      `${REFUNDED_BEYOND_SAID_PREFIX}USD:0:1:2`,
    ]) {
      expect(figuresOfSaidField(field)).toBeUndefined();
    }
  });

  it("the off-event mark's field names the same figures and is no claim field", () => {
    const field = refundedBeyondSaidField({ currency: 'USD', capturedAmount: 0, refundedAmount: 2000, excessAmount: 2000 });
    expect(claimSaidOffEventField(field)).toBe('refunds_claim_said_off_event:USD:0:2000');
    expect(claimSaidOffEventField(field).startsWith(REFUNDED_BEYOND_SAID_PREFIX)).toBe(false);
  });
});

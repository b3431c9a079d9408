import { apartByFailure, mayBeSameFact, reconciledKindsOf, recordedAs } from '../../../src/adjustments/same-fact';

describe('same-fact: which reconciliation adjustment a webhook fact may be', () => {
  it('a succeeded_after_failure webhook may be the one reconciliation recorded from a line, and only that kind', () => {
    expect(reconciledKindsOf('succeeded_after_failure')).toEqual(['succeeded_after_failure']);
    expect(recordedAs('succeeded_after_failure')).toEqual(['succeeded_after_failure']);
    const success = { kind: 'succeeded_after_failure' as const, direction: 'credit' as const, amount: 5000, currency: 'EUR', pspReference: 'CAP1' };
    expect(mayBeSameFact(success, success)).toBe(true);
    expect(mayBeSameFact(success, { ...success, currency: 'eur' })).toBe(true);
    expect(mayBeSameFact(success, { ...success, amount: 4999 })).toBe(false);
    expect(mayBeSameFact(success, { ...success, pspReference: 'CAP2' })).toBe(false);
    expect(mayBeSameFact(success, { ...success, direction: 'debit' })).toBe(false);
    expect(mayBeSameFact(success, { ...success, kind: 'capture_failed' })).toBe(false);
  });

  it("a refund_outside_bridge webhook may be the one reconciliation recorded from the refund's line, and only of the same refund", () => {
    expect(reconciledKindsOf('refund_outside_bridge')).toEqual(['refund_outside_bridge']);
    expect(recordedAs('refund_outside_bridge')).toEqual(['refund_outside_bridge', 'capture_failed']);
    // A sale's cancel-or-refund by the PSP, which the webhook reads as the sale's capture_failed: the same refund.
    expect(reconciledKindsOf('capture_failed')).toEqual(['refund_outside_bridge']);
    const refund = { kind: 'refund_outside_bridge' as const, direction: 'debit' as const, amount: 300, currency: 'EUR', pspReference: 're_1' };
    expect(mayBeSameFact(refund, refund)).toBe(true);
    expect(mayBeSameFact(refund, { ...refund, pspReference: 're_2' })).toBe(false);
    expect(mayBeSameFact(refund, { ...refund, kind: 'capture_failed' })).toBe(false);
    // One refund per reference, whatever amount each side read: a webhook's cancel-or-refund capped at what the ledger left.
    expect(mayBeSameFact({ ...refund, amount: 200 }, refund)).toBe(true);
    expect(mayBeSameFact({ ...refund, amount: 200, pspReference: 're_2' }, refund)).toBe(false);
    expect(mayBeSameFact({ kind: refund.kind, direction: refund.direction, amount: 200, currency: 'EUR' }, refund)).toBe(false);
  });

  it('two dated successes after failure with a failure of the operation between them are apart; undated ones cannot be told apart so', () => {
    const at = (occurredAt?: number) => ({
      kind: 'succeeded_after_failure' as const,
      direction: 'credit' as const,
      ...(occurredAt !== undefined ? { occurredAt } : {}),
    });
    expect(apartByFailure(at(4000), at(2000), [1000, 3000])).toBe(true);
    expect(apartByFailure(at(2000), at(4000), [3000])).toBe(true);
    expect(apartByFailure(at(2000), at(2500), [1000, 3000])).toBe(false);
    expect(apartByFailure(at(2000), at(2000), [2000])).toBe(false);
    expect(apartByFailure(at(), at(4000), [3000])).toBe(false);
  });
});

import { cancelBasisOf, parseCancelBasis } from '../../../src/ledger/cancel-basis';
import { decodeRecord, draftRecord, encodeRecord, encodeTransitionFields, hashFromPairs } from '../../../src/ledger/record-fields';
import { channelCommand } from '../../support/fixtures';

describe('a cancel basis: what a Cybersource cancel was built on at its first attempt', () => {
  const captures = {
    by: 'capture' as const,
    captures: [{ id: 'cap-1', reference: '6381278241084565908267', amount: 3000 }, { id: 'cap-2' }],
    authorized: { amount: 5000, currency: 'USD' },
  };

  it('keeps nothing captured, a sale, or the captures and the hold, and leaves the refunds out (read for the first attempt only)', () => {
    expect(cancelBasisOf(undefined)).toEqual({ captured: null });
    expect(cancelBasisOf({ by: 'sale', refunded: { refunds: [{ id: 'r', amount: 1, inFlight: true }], currency: 'USD', left: 4999 } })).toEqual({
      captured: { by: 'sale' },
    });
    const refunded = { refunds: [{ id: 'r', amount: 1, inFlight: false }], currency: 'USD', left: 2999 };
    expect(cancelBasisOf({ ...captures, refunded })).toEqual({ captured: captures });
  });

  it('is written with a transition and read back from the record as it was', () => {
    const c = channelCommand('cancel', {}, { amount: 5000 });
    for (const basis of [{ captured: null }, { captured: { by: 'sale' as const } }, { captured: captures }]) {
      const pairs = encodeTransitionFields({ cancelBasis: basis });
      expect(pairs[0]).toBe('cancel_basis');
      const hash = { ...hashFromPairs(encodeRecord(draftRecord('can-1', c, 0))), ...hashFromPairs(pairs) };
      expect(decodeRecord(hash).cancelBasis).toEqual(basis);
    }
  });

  it('refuses what is not one (the cancel is then read from the ledger, as before bases were kept)', () => {
    for (const bad of [null, [], {}, { captured: 'sale' }, { captured: { by: 'capture', captures: [], authorized: { amount: 1.5, currency: 'USD' } } }]) {
      expect(parseCancelBasis(bad)).toBeUndefined();
    }
    expect(parseCancelBasis({ captured: { by: 'capture', captures: [{ amount: 1 }], authorized: { amount: 1, currency: 'USD' } } })).toBeUndefined();
  });
});

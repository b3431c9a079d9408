import { heldAtPsp } from '../../../src/delivery/operation-context';
import { OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { channelCommand } from '../../support/fixtures';

function auth(amount: number, extra: Partial<OperationRecord> = {}): OperationRecord {
  const c = channelCommand('authorize', {}, { amount, currency: 'EUR' });
  return { ...draftRecord(c.payment.operation_reference!, c, 0), state: 'SUCCEEDED', ...extra };
}

describe('heldAtPsp: what an authorization holds at its PSP (what a validate restates)', () => {
  it('is the amount the PSP confirmed (a partial approval holds less than was asked)', () => {
    expect(heldAtPsp(auth(5000, { confirmedAmount: 2500, confirmedCurrency: 'eur' }))).toEqual({ amount: 2500, currency: 'EUR' });
  });

  it('is what the gateway was asked when the PSP confirmed no amount, a converted amount in its currency', () => {
    expect(heldAtPsp(auth(5000))).toEqual({ amount: 5000, currency: 'EUR' });
    const routing: OperationRecord['routing'] = {
      gateway: 'adyen',
      requested: 'adyen',
      candidates: ['adyen'],
      index: 0,
      decisions: [],
      amount: 5430,
      currency: 'USD',
    };
    expect(heldAtPsp(auth(5000, { routing }))).toEqual({ amount: 5430, currency: 'USD' });
    // Confirmed without a currency: in the currency the gateway was asked in.
    expect(heldAtPsp(auth(5000, { routing, confirmedAmount: 5400 }))).toEqual({ amount: 5400, currency: 'USD' });
  });
});

import { pspDiscrepancy } from '../../../src/events/psp-discrepancy';

describe('pspDiscrepancy: what the PSP confirmed against what was asked', () => {
  const asked = { amount: 2000, currency: 'EUR' };
  it.each([
    ['the same amount and currency', { amount: 2000, currency: 'EUR' }, null],
    ['the same, currency in lower case', { amount: 2000, currency: 'eur' }, null],
    ['nothing', {}, null],
    ['another amount', { amount: 1999, currency: 'EUR' }, 'amount_mismatch'],
    ['another amount, no currency', { amount: 1 }, 'amount_mismatch'],
    ['another currency, same number', { amount: 2000, currency: 'USD' }, 'currency_mismatch'],
    ['another currency and amount (currency first: amounts in two currencies do not compare)', { amount: 5, currency: 'JPY' }, 'currency_mismatch'],
  ])('%s → %s', (_label, confirmed, expected) => {
    expect(pspDiscrepancy(asked, confirmed)).toBe(expected);
  });
});

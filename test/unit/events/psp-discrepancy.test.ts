import { pspDiscrepancy, reportedMoney } from '../../../src/events/psp-discrepancy';
import { OperationRecord } from '../../../src/ledger/ledger';

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

describe('reportedMoney of a converted payment (FX)', () => {
  const op = {
    id: 'op-fx-1',
    command: 'authorize',
    channel: 'web',
    state: 'SUCCEEDED',
    payment: { gateway: 'simulator', gateway_account: 'acme', gateway_key: 'pm_1', amount: 1000, currency: 'EUR' },
    routing: { gateway: 'simulator', requested: 'simulator', candidates: ['simulator'], index: 0, decisions: [], amount: 1100, currency: 'USD' },
    receivedAt: 1,
    createdAt: 1,
    updatedAt: 2,
    attempts: 1,
  } as unknown as OperationRecord;

  it('requests what the command asked, reports what the PSP confirmed, and compares the PSP with what it was asked', () => {
    expect(reportedMoney({ ...op, confirmedAmount: 1100, confirmedCurrency: 'usd' })).toEqual({
      reported: { amount: 1100, currency: 'USD' },
      requested: { amount: 1000, currency: 'EUR' },
      discrepancy: null,
    });
    expect(reportedMoney({ ...op, confirmedAmount: 1050, confirmedCurrency: 'USD' }).discrepancy).toBe('amount_mismatch');
    // The PSP said nothing: what the gateway was asked.
    expect(reportedMoney(op).reported).toEqual({ amount: 1100, currency: 'USD' });
  });

  it('a PSP currency without a readable amount does not relabel the asked amount: the asked money is reported, the discrepancy flagged', () => {
    // USD 11.00 was asked; the PSP named CNH with an amount we could not read (CNH is in no table of ours).
    expect(reportedMoney({ ...op, confirmedCurrency: 'CNH' })).toEqual({
      reported: { amount: 1100, currency: 'USD' },
      requested: { amount: 1000, currency: 'EUR' },
      discrepancy: 'currency_mismatch',
    });
  });
});

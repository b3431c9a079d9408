import { OperationRecord } from '../../../src/ledger/ledger';
import { RoutingRecord } from '../../../src/ledger/routing-record';
import { refundCommand, reversalAmount, voidCommand } from '../../../src/poller/orphan-reversal';

function record(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'auth-1',
    command: 'authorize',
    channel: 'web',
    state: 'SUCCEEDED',
    payment: { gateway: 'sim', gateway_account: 'acct', gateway_key: 'pm', amount: 7000, currency: 'EUR', order_id: 'ORD-1' },
    receivedAt: 0,
    createdAt: 0,
    updatedAt: 0,
    attempts: 1,
    gatewayReference: 'auth_1',
    ...overrides,
  };
}

const converted: RoutingRecord = { gateway: 'sim', requested: 'sim', candidates: ['sim'], index: 0, decisions: [], amount: 7700, currency: 'USD' };

describe('what an orphan reversal is for (reversalAmount)', () => {
  it('a late success: what the PSP confirmed with it, not what was asked', () => {
    const failed = record({ state: 'FAILED' });
    expect(reversalAmount(failed, 'oms_told_failed', { amount: 2500, currency: 'eur' })).toEqual({ amount: 2500, basis: 'confirmed' });
    // A figure without its currency is in the currency the gateway was asked in.
    expect(reversalAmount(failed, 'oms_told_failed', { amount: 2500 })).toEqual({ amount: 2500, basis: 'confirmed' });
  });

  it("a FAILED sale marked done after all: the mark's amount when the caller has none", () => {
    const sale = record({ command: 'sale', state: 'FAILED', succeededAfterFailure: { by: 'adj_1', amount: 3000, currency: 'EUR' } });
    expect(reversalAmount(sale, 'oms_told_failed')).toEqual({ amount: 3000, basis: 'confirmed' });
    // The success's own figure comes first.
    expect(reversalAmount(sale, 'oms_told_failed', { amount: 2900, currency: 'EUR' })).toEqual({ amount: 2900, basis: 'confirmed' });
  });

  it("a FAILED operation's own figure is its refusal's: a late success confirming no amount reverses what was asked", () => {
    const failed = record({ state: 'FAILED', confirmedAmount: 9999, confirmedCurrency: 'EUR' });
    expect(reversalAmount(failed, 'oms_told_failed', {})).toEqual({ amount: 7000, basis: 'requested' });
    expect(reversalAmount(record({ command: 'sale', state: 'FAILED', succeededAfterFailure: { by: 'adj_1' } }), 'oms_told_failed')).toEqual({
      amount: 7000,
      basis: 'requested',
    });
  });

  it('a held failure (risk declined) and a succeeded authorization: what the record says the PSP holds', () => {
    expect(reversalAmount(record({ state: 'FAILED', confirmedAmount: 5000, confirmedCurrency: 'EUR' }), 'risk_declined')).toEqual({
      amount: 5000,
      basis: 'confirmed',
    });
    expect(reversalAmount(record({ confirmedAmount: 3500, confirmedCurrency: 'EUR' }), 'uncaptured_past_age')).toEqual({ amount: 3500, basis: 'confirmed' });
    expect(reversalAmount(record(), 'uncaptured_past_age')).toEqual({ amount: 7000, basis: 'requested' });
  });

  it("a figure in another currency (a converted operation's, in the gateway's) leaves what was asked in the command's", () => {
    expect(reversalAmount(record({ state: 'FAILED', routing: converted }), 'oms_told_failed', { amount: 4000 })).toEqual({ amount: 7000, basis: 'requested' });
    expect(reversalAmount(record({ routing: converted, confirmedAmount: 4000, confirmedCurrency: 'USD' }), 'uncaptured_past_age')).toEqual({
      amount: 7000,
      basis: 'requested',
    });
  });

  it('the void and the refund carry the amount they are given', () => {
    expect(voidCommand(record(), 'oms_told_failed', 'auth_1', 0, 4000).payment.amount).toBe(4000);
    expect(refundCommand(record({ command: 'sale' }), 'oms_told_failed', 'auth_1', 0, 2500).payment).toMatchObject({
      amount: 2500,
      operation_reference: '_auth-1.refund',
    });
  });
});

import { OperationRecord } from '../../../src/ledger/ledger';
import { RoutingRecord, routedPayment } from '../../../src/ledger/routing-record';
import { lockDetails, FxLock } from '../../../src/fx/fx-lock';
import { fxLockOf } from '../../../src/fx/locked-rate';
import { atEarlierGateway, lessRefunded, refundCommand, reversalAmount, reversalRouting, voidCommand } from '../../../src/poller/orphan-reversal';

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

/** EUR 70.00 sent as USD 77.00, at a locked rate of 1.1. */
const lock: FxLock = {
  rate: '1.1',
  source: 'test',
  at: '2026-01-01T00:00:00.000Z',
  from: { amount: 7000, currency: 'EUR' },
  to: { amount: 7700, currency: 'USD' },
};
const converted: RoutingRecord = {
  gateway: 'sim',
  requested: 'sim',
  candidates: ['sim'],
  index: 0,
  decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['settlement_currency'], details: lockDetails(lock) }],
  amount: 7700,
  currency: 'USD',
};

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

  it("a converted operation is reversed in the PSP's currency, for the PSP's figure; the command carries what that covers of the order's", () => {
    // A late success confirming USD 40.00 of the USD 77.00 asked: EUR 36.36 is the most whose conversion it covers.
    expect(reversalAmount(record({ state: 'FAILED', routing: converted }), 'oms_told_failed', { amount: 4000 })).toEqual({
      amount: 3636,
      basis: 'confirmed',
      atPsp: { amount: 4000, currency: 'USD' },
    });
    expect(reversalAmount(record({ routing: converted, confirmedAmount: 4000, confirmedCurrency: 'usd' }), 'uncaptured_past_age')).toEqual({
      amount: 3636,
      basis: 'confirmed',
      atPsp: { amount: 4000, currency: 'USD' },
    });
    // All of it confirmed: all of the order's amount.
    expect(reversalAmount(record({ routing: converted, confirmedAmount: 7700, confirmedCurrency: 'USD' }), 'uncaptured_past_age')).toEqual({
      amount: 7000,
      basis: 'confirmed',
      atPsp: { amount: 7700, currency: 'USD' },
    });
  });

  it('a converted operation the PSP confirmed nothing of (or a figure in a third currency): what its gateway was asked, in its currency', () => {
    expect(reversalAmount(record({ routing: converted }), 'uncaptured_past_age')).toEqual({
      amount: 7000,
      basis: 'requested',
      atPsp: { amount: 7700, currency: 'USD' },
    });
    expect(reversalAmount(record({ state: 'FAILED', routing: converted }), 'oms_told_failed', { amount: 5000, currency: 'GBP' })).toEqual({
      amount: 7000,
      basis: 'requested',
      atPsp: { amount: 7700, currency: 'USD' },
    });
    // A figure in the command's own currency is that currency's, as for any operation.
    expect(reversalAmount(record({ state: 'FAILED', routing: converted }), 'oms_told_failed', { amount: 6000, currency: 'EUR' })).toEqual({
      amount: 6000,
      basis: 'confirmed',
    });
  });

  it("the reversal of a converted operation is routed to its gateway for the PSP's figure, which delivery sends as it is", () => {
    const auth = record({ routing: converted, confirmedAmount: 4000, confirmedCurrency: 'USD' });
    const reversal = reversalAmount(auth, 'uncaptured_past_age');
    const routing = reversalRouting(auth, reversal.amount, reversal.atPsp!);
    expect(routing).toMatchObject({ gateway: 'sim', amount: 4000, currency: 'USD', decisions: [{ stage: 'fx', reasons: ['psp_amount_of_orphan'] }] });
    const command = voidCommand(auth, 'uncaptured_past_age', 'auth-1', 0, reversal.amount);
    expect(command.payment).toMatchObject({ amount: 3636, currency: 'EUR' });
    expect(routedPayment({ payment: command.payment, routing })).toMatchObject({ amount: 4000, currency: 'USD', gateway: 'sim' });
    // The orphan's locked rate goes with it, for a person reading the decision.
    expect(fxLockOf({ routing })?.rate).toBe('1.1');
  });

  describe('a late success at a gateway the operation failed over from (failover_duplicate: atEarlierGateway)', () => {
    /** Failed over from `simb` to `sim`, where it SUCCEEDED for EUR 70.00 (not converted there). */
    const movedOn = (fx?: Record<string, string | number>): OperationRecord =>
      record({
        confirmedAmount: 7000,
        confirmedCurrency: 'EUR',
        routing: {
          gateway: 'sim',
          requested: 'simb',
          candidates: ['simb', 'sim'],
          index: 1,
          decisions: [],
          failovers: [{ from: 'simb', to: 'sim', trigger: 'declined:issuer_unavailable', at: 1, ...(fx ? { fx } : {}) }],
        },
      });

    it("what the earlier gateway confirmed, not the order's amount nor what the gateway it moved to confirmed", () => {
      const there = atEarlierGateway(movedOn(), 'simb', { amount: 4500, currency: 'EUR' });
      expect(there.routing).toMatchObject({ gateway: 'simb', candidates: ['simb'] });
      expect(reversalAmount(there, 'failover_duplicate', { amount: 4500, currency: 'EUR' })).toEqual({ amount: 4500, basis: 'confirmed' });
      // Nothing confirmed there: what was asked, never the figure the other gateway confirmed.
      const asked = atEarlierGateway(movedOn({}), 'simb');
      expect(reversalAmount(asked, 'failover_duplicate', {})).toEqual({ amount: 7000, basis: 'requested' });
    });

    it("the earlier attempt converted (its rate kept with the failover step): reversed in that gateway's currency, the command carrying what it covers", () => {
      const op = movedOn(lockDetails(lock));
      const there = atEarlierGateway(op, 'simb', { amount: 4000, currency: 'USD' });
      const reversal = reversalAmount(there, 'failover_duplicate', { amount: 4000, currency: 'USD' });
      expect(reversal).toEqual({ amount: 3636, basis: 'confirmed', atPsp: { amount: 4000, currency: 'USD' } });
      const routing = reversalRouting(there, reversal.amount, reversal.atPsp!);
      expect(routing).toMatchObject({ gateway: 'simb', candidates: ['simb'], amount: 4000, currency: 'USD' });
      expect(fxLockOf({ routing })?.rate).toBe('1.1');
      // Nothing confirmed: what that attempt was asked, in its currency.
      expect(reversalAmount(atEarlierGateway(op, 'simb'), 'failover_duplicate')).toEqual({
        amount: 7000,
        basis: 'requested',
        atPsp: { amount: 7700, currency: 'USD' },
      });
    });

    it("a step recorded without its conversion whose gateway confirmed another currency: that gateway's figure, in its currency", () => {
      const there = atEarlierGateway(movedOn(), 'simb', { amount: 4000, currency: 'usd' });
      expect(reversalAmount(there, 'failover_duplicate', { amount: 4000, currency: 'usd' })).toEqual({
        amount: 7000,
        basis: 'confirmed',
        atPsp: { amount: 4000, currency: 'USD' },
      });
    });
  });

  it('a charge partly refunded already: only what is left; refunded in full (or more): nothing', () => {
    expect(lessRefunded({ amount: 7000, basis: 'confirmed' }, { amount: 2000 })).toEqual({ amount: 5000, basis: 'confirmed' });
    expect(lessRefunded({ amount: 7000, basis: 'requested' }, { amount: 0 })).toEqual({ amount: 7000, basis: 'requested' });
    expect(lessRefunded({ amount: 7000, basis: 'confirmed' }, { amount: 7000 })).toBeNull();
    expect(lessRefunded({ amount: 7000, basis: 'confirmed' }, { amount: 7100 })).toBeNull();
    // Converted: both figures, each less what the refunds gave back in it.
    const converted = { amount: 7000, basis: 'confirmed' as const, atPsp: { amount: 7700, currency: 'USD' } };
    expect(lessRefunded(converted, { amount: 2000, atPsp: 2200 })).toEqual({ amount: 5000, basis: 'confirmed', atPsp: { amount: 5500, currency: 'USD' } });
    expect(lessRefunded(converted, { amount: 6999, atPsp: 7700 })).toBeNull();
  });

  it('the void and the refund carry the amount they are given', () => {
    expect(voidCommand(record(), 'oms_told_failed', 'auth_1', 0, 4000).payment.amount).toBe(4000);
    expect(refundCommand(record({ command: 'sale' }), 'oms_told_failed', 'auth_1', 0, 2500).payment).toMatchObject({
      amount: 2500,
      operation_reference: '_auth-1.refund',
    });
  });
});

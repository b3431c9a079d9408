import { inBusUnits } from '../../../src/events/bus-units';
import { PaymentEvent } from '../../../src/events/payment-event';
import { validateCommand } from '../../../src/contracts/command-validator';
import { OperationRecord } from '../../../src/ledger/ledger';
import { splitRefundEvent, splitSettledEvent } from '../../../src/split-tender/split-tender-event';
import { planOf, refundReferences, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { testConfig } from '../../support/test-config';

function event(payment: Record<string, unknown>, adjustment?: Record<string, unknown>): PaymentEvent {
  return { eventId: 'op-1.SUCCEEDED', paymentKey: 'k', method: 'm', params: { payment, ...(adjustment ? { adjustment } : {}) } };
}

describe('events in the bus amount units', () => {
  const payment = {
    amount: 1000,
    currency: 'USD',
    requested_amount: 1000,
    requested_currency: 'USD',
    lines: [{ line_number: 1, unit_price_gross: 500, refund_amount: 1000, tax_amount: 100, quantity: 2 }],
  };

  it('leaves a minor-unit bus event as it was built', () => {
    const built = event(payment);
    expect(inBusUnits(built, 'minor')).toBe(built);
  });

  it('converts every money field back to whole major units for a major-unit bus, quantities untouched, and says so', () => {
    const out = inBusUnits(event(payment, { amount: 500, currency: 'USD', kind: 'chargeback' }), 'major');
    expect(out.params.payment).toMatchObject({
      amount: 10,
      requested_amount: 10,
      amount_units: 'major',
      lines: [{ unit_price_gross: 5, refund_amount: 10, tax_amount: 1, quantity: 2 }],
    });
    expect(out.params.adjustment).toMatchObject({ amount: 5 });
  });

  it('converts what a cancel released (gateway_response.released) with the rest', () => {
    const cancelled = event({
      amount: 4000,
      currency: 'USD',
      gateway_response: { status: 'REVERSED', released: { amount: 4000, currency: 'USD', of: 'uncaptured_remainder' } },
    });
    expect(inBusUnits(cancelled, 'major').params.payment).toMatchObject({ amount: 40, amount_units: 'major', gateway_response: { released: { amount: 40 } } });
    const odd = event({ amount: 4000, currency: 'USD', gateway_response: { status: 'REVERSED', released: { amount: 3999, currency: 'USD' } } });
    expect(inBusUnits(odd, 'major').params.payment).toMatchObject({ amount: 40, amount_units: 'major', gateway_response: { released: { amount: 39.99 } } });
  });

  it('uses each currency exponent (JPY 0, KWD 3)', () => {
    expect(inBusUnits(event({ amount: 1500, currency: 'JPY' }), 'major').params.payment).toMatchObject({ amount: 1500, amount_units: 'major' });
    expect(inBusUnits(event({ amount: 7000, currency: 'KWD' }), 'major').params.payment).toMatchObject({ amount: 7, amount_units: 'major' });
  });

  // The MIB payment specification types amounts as floats: a figure of cents is said in decimal major units, exactly.
  it('says a figure that is not a whole major unit in decimal major units, exactly (1999 USD is 19.99 in the JSON text)', () => {
    const out = inBusUnits(event({ ...payment, amount: 1999, lines: [{ line_number: 1, unit_price_gross: 1, tax_amount: 33 }] }), 'major');
    expect(out.params.payment).toMatchObject({
      amount: 19.99,
      requested_amount: 10,
      amount_units: 'major',
      lines: [{ unit_price_gross: 0.01, tax_amount: 0.33 }],
    });
    expect(JSON.stringify(out.params.payment)).toContain('"amount":19.99,');
    expect(inBusUnits(event({ amount: 1234, currency: 'KWD' }), 'major').params.payment).toMatchObject({ amount: 1.234, amount_units: 'major' });
    expect(inBusUnits(event({ amount: 123_456_789_012_34, currency: 'EUR' }), 'major').params.payment).toMatchObject({ amount: 123_456_789_012.34 });
  });

  it('keeps the event in minor units, and says so, when a figure is in a currency it does not know', () => {
    const out = inBusUnits(event({ amount: 1000, currency: 'USD', balance: { amount: 55, currency: 'XYZ' } }), 'major');
    expect(out.params.payment).toMatchObject({ amount: 1000, amount_units: 'minor', balance: { amount: 55 } });
  });

  it('does not change the event it was given', () => {
    const built = event(payment);
    inBusUnits(built, 'major');
    expect(built.params.payment).toEqual(payment);
  });

  it('converts what an expiry warning says is capturable, and the splits and tenders a payment echoes', () => {
    const out = inBusUnits(
      event({
        amount: 10000,
        amount_capturable: 10000,
        currency: 'EUR',
        splits: [
          { type: 'seller', amount: 9000 },
          { type: 'marketplace_fee', amount: 1000 },
        ],
        tenders: [{ type: 'gift_card', amount: 3000 }, { type: 'card' }],
      }),
      'major',
    );
    expect(out.params.payment).toMatchObject({
      amount: 100,
      amount_capturable: 100,
      amount_units: 'major',
      splits: [{ amount: 90 }, { amount: 10 }],
      tenders: [{ amount: 30 }, { type: 'card' }],
    });
  });

  it('converts the refund pre-notice, whose money is at the top of its params, and says so there', () => {
    const notice: PaymentEvent = {
      eventId: 'op-1.refund-pending',
      paymentKey: 'k',
      method: 'm',
      params: { code: 'PENDINGRELEASE', reason_code: 'REQUESTED', amount: 2500, currency: 'USD', event_id: 'op-1.refund-pending' },
    };
    expect(inBusUnits(notice, 'major').params).toMatchObject({ amount: 25, currency: 'USD', amount_units: 'major' });
    expect(inBusUnits({ ...notice, params: { ...notice.params, amount: 2550 } }, 'major').params).toMatchObject({ amount: 25.5, amount_units: 'major' });
  });

  it("converts the orchestration's money in payment.routing: an FX lock's amounts and step, each in its currency, and an amount cap's bound and figure", () => {
    const routed = event({
      amount: 11280,
      currency: 'EUR',
      requested_amount: 12345,
      requested_currency: 'USD',
      routing: {
        gateway: 'adyen',
        decisions: [
          { stage: 'route', outcome: 'allowed', reasons: ['rule:eu'] },
          {
            stage: 'fx',
            outcome: 'changed',
            reasons: ['converted'],
            details: { fx_rate: '0.9137', from_amount: 12345, from_currency: 'USD', to_amount: 1128, to_currency: 'KWD', to_step: 10 },
          },
          {
            stage: 'caps',
            outcome: 'fallback',
            reasons: ['cap_exceeded:daily_volume'],
            details: { cap: 'gateway:stripe:JPY:daily_volume', cap_limit: 'daily_volume', cap_max: 500000, cap_current: 499999, fallback: 'adyen' },
          },
          {
            stage: 'caps',
            outcome: 'fallback',
            reasons: ['cap_exceeded:daily_count'],
            details: { cap: 'account:acme:a:EUR:daily_count', cap_limit: 'daily_count', cap_max: 100, cap_current: 100 },
          },
          {
            stage: 'caps',
            outcome: 'fallback',
            reasons: ['cap_exceeded:max_amount'],
            details: { cap: 'account:acme:a:EUR:max_amount', cap_limit: 'max_amount', cap_max: 5000, cap_current: 5001 },
          },
        ],
      },
    });
    const out = inBusUnits(routed, 'major').params.payment as { routing: { decisions: Array<{ details?: Record<string, unknown> }> } };
    expect(out).toMatchObject({ amount: 112.8, requested_amount: 123.45, amount_units: 'major' });
    expect(out.routing.decisions.map((d) => d.details)).toEqual([
      undefined,
      { fx_rate: '0.9137', from_amount: 123.45, from_currency: 'USD', to_amount: 1.128, to_currency: 'KWD', to_step: 0.01 },
      { cap: 'gateway:stripe:JPY:daily_volume', cap_limit: 'daily_volume', cap_max: 500000, cap_current: 499999, fallback: 'adyen' },
      // A count is no money.
      { cap: 'account:acme:a:EUR:daily_count', cap_limit: 'daily_count', cap_max: 100, cap_current: 100 },
      { cap: 'account:acme:a:EUR:max_amount', cap_limit: 'max_amount', cap_max: 50, cap_current: 50.01 },
    ]);
    // The ledger's routing record (the event's source) is left in minor units.
    expect((routed.params.payment as { routing: { decisions: Array<{ details?: Record<string, unknown> }> } }).routing.decisions[1].details).toMatchObject({
      from_amount: 12345,
    });
  });

  it('leaves an event with no money as it was built', () => {
    const built: PaymentEvent = { eventId: 'e', paymentKey: 'k', method: 'm', params: { code: 'X' } };
    expect(inBusUnits(built, 'major')).toBe(built);
  });

  describe('split tender events', () => {
    const command = validateCommand({
      version: 1,
      command: 'sale',
      channel: 'web',
      received_at: '2026-11-29T19:00:00Z',
      payment: {
        gateway: 'sim',
        gateway_account: 'acme',
        gateway_key: 'pm_card_visa',
        amount: 10000,
        currency: 'EUR',
        order_id: 'ORD-1',
        operation_reference: 'split-1',
        tenders: [
          { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_demo_5000', amount: 3000 },
          { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
        ],
      },
    });
    const plan = planOf('split-1', command);
    const done = (id: string, confirmedAmount: number): OperationRecord =>
      ({
        id,
        state: 'SUCCEEDED',
        payment: { ...command.payment, amount: confirmedAmount },
        confirmedAmount,
        confirmedCurrency: 'EUR',
        gatewayReference: `psp-${id}`,
      }) as OperationRecord;

    it('converts the totals and every tender of split_tender_settled', () => {
      const refs = stepReferences(plan);
      const ops = new Map([
        [refs.giftCard, done(refs.giftCard, 3000)],
        [refs.card, done(refs.card, 7000)],
      ]);
      const out = inBusUnits(splitSettledEvent(plan, 'DONE', ops, testConfig()), 'major').params.payment as Record<string, unknown>;
      expect(out).toMatchObject({
        amount: 100,
        amount_units: 'major',
        split_tender: { gift_card_amount: 30, card_amount: 70, tenders: [{ amount: 30 }, { amount: 70 }] },
      });
    });

    it('converts what the OMS refunded of a tender before an authorize split rolled back (refunded_before_rollback)', () => {
      const authorized = planOf('split-2', { ...command, command: 'authorize', payment: { ...command.payment, operation_reference: 'split-2' } });
      const refs = stepReferences(authorized);
      const ops = new Map([
        [refs.giftCard, done(refs.giftCard, 3000)],
        [refs.card, done(refs.card, 7000)],
      ]);
      const built = splitSettledEvent(authorized, 'ROLLED_BACK', ops, testConfig(), { gift_card: 'none:3000', card: 'none:2550' });
      const out = inBusUnits(built, 'major').params.payment as Record<string, unknown>;
      expect(out).toMatchObject({ amount_units: 'major', split_tender: { gift_card_amount: 30, refunded_before_rollback: { gift_card: 30, card: 25.5 } } });
    });

    it('converts the totals and every part of a split refund', () => {
      const refs = refundReferences({ refundId: 'refund-1' });
      const refundCommand = JSON.stringify({ ...command, command: 'refund', payment: { ...command.payment, amount: 5000, operation_reference: 'refund-1' } });
      const refund = {
        refundId: 'refund-1',
        card: 2000,
        gift_card: 3000,
        order: 'gift_card_first' as const,
        state: 'REFUNDED' as const,
        command: refundCommand,
      };
      const ops = new Map([
        [refs.card, done(refs.card, 2000)],
        [refs.gift_card, done(refs.gift_card, 3000)],
      ]);
      const out = inBusUnits(splitRefundEvent(plan, refund, ops, testConfig()), 'major').params.payment as Record<string, unknown>;
      expect(out).toMatchObject({
        amount: 50,
        amount_units: 'major',
        split_tender_refund: { card_amount: 20, gift_card_amount: 30, parts: [{ amount: 30 }, { amount: 20 }] },
      });
    });
  });

  it('converts the figures of a payment refunded beyond captured with the adjustment', () => {
    const beyond = { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD', suggested_action: 'contact_support' };
    const out = inBusUnits(event(payment, { amount: 2000, currency: 'USD', kind: 'succeeded_after_failure', refunded_beyond_captured: beyond }), 'major');
    expect(out.params.adjustment).toMatchObject({
      amount: 20,
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 20, excess_amount: 20, currency: 'USD', suggested_action: 'contact_support' },
    });
  });

  it("converts the figures of a payment refunded beyond captured on a cancel's success event", () => {
    const beyond = { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD', suggested_action: 'contact_support' };
    const out = inBusUnits(event({ ...payment, refunded_beyond_captured: beyond }), 'major');
    expect(out.params.payment).toMatchObject({
      amount_units: 'major',
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 20, excess_amount: 20, currency: 'USD', suggested_action: 'contact_support' },
    });
  });
});

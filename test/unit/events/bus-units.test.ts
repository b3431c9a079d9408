import { inBusUnits } from '../../../src/events/bus-units';
import { PaymentEvent } from '../../../src/events/payment-event';

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

  it('uses each currency exponent (JPY 0, KWD 3)', () => {
    expect(inBusUnits(event({ amount: 1500, currency: 'JPY' }), 'major').params.payment).toMatchObject({ amount: 1500, amount_units: 'major' });
    expect(inBusUnits(event({ amount: 7000, currency: 'KWD' }), 'major').params.payment).toMatchObject({ amount: 7, amount_units: 'major' });
  });

  it('never rounds: a figure that is not a whole major unit keeps the whole event in minor units, and says so', () => {
    const out = inBusUnits(event({ ...payment, amount: 1999 }), 'major');
    expect(out.params.payment).toMatchObject({ amount: 1999, requested_amount: 1000, amount_units: 'minor' });
  });

  it('does not change the event it was given', () => {
    const built = event(payment);
    inBusUnits(built, 'major');
    expect(built.params.payment).toEqual(payment);
  });
});

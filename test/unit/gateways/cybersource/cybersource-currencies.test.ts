import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { CYBERSOURCE_CURRENCIES, fromCybersourceAmount, toCybersourceAmount } from '../../../../src/gateways/cybersource/cybersource-currencies';
import { CURRENCY_CODES, currencyExponent } from '../../../../src/money/currencies';
import { PAYMENT_ID, bodyOf, ctx, gateway, response } from './cybersource-test-fixtures';

/**
 * Rows of Cybersource's "ISO Standard Currency Codes" page (code → Decimal Places), as printed there, for the
 * currencies both it and ISO 4217 list as active; the rest of the page follows ISO 4217 the same way.
 */
const PAGE_ROWS: Readonly<Record<string, number>> = {
  AED: 2,
  AFN: 2,
  ALL: 2,
  AMD: 2,
  ANG: 2,
  AOA: 2,
  ARS: 2,
  AUD: 2,
  AWG: 2,
  AZN: 2,
  BAM: 2,
  BBD: 2,
  BDT: 2,
  BGN: 2,
  BHD: 3,
  BIF: 0,
  BMD: 2,
  BND: 2,
  BOB: 2,
  BRL: 2,
  BSD: 2,
  BTN: 2,
  BWP: 2,
  BYN: 2,
  BZD: 2,
  CAD: 2,
  CDF: 2,
  CHF: 2,
  CLF: 4,
  CLP: 0,
  CNY: 2,
  COP: 2,
  CRC: 2,
  CUC: 2,
  CUP: 2,
  CVE: 2,
  CZK: 2,
  DJF: 0,
  DKK: 2,
};

/** `minor` ISO minor units as the decimal string a person would write, computed without the code under test. */
function decimal(minor: number, exp: number): string {
  if (exp === 0) return String(minor);
  const s = String(minor).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

describe('Cybersource currency table', () => {
  it('lists every active ISO 4217 currency with its ISO decimals, as the page does', () => {
    // The page predates the Caribbean guilder (XCG, 2025): Cybersource is not told a currency it does not list.
    expect(Object.keys(CYBERSOURCE_CURRENCIES.currencies).sort()).toEqual(CURRENCY_CODES.filter((c) => c !== 'XCG'));
    for (const [code, decimals] of Object.entries(PAGE_ROWS)) expect(CYBERSOURCE_CURRENCIES.currencies[code].exponent).toBe(decimals);
  });

  it.each(Object.keys(CYBERSOURCE_CURRENCIES.currencies))('%s: sends totalAmount with exactly its decimals, reads it back, round trip exact', (code) => {
    const exp = currencyExponent(code);
    const minor = 123456 * 10 ** Math.max(0, 2 - exp) + 7; // a last digit that matters in every exponent
    const text = decimal(minor, exp);
    expect(toCybersourceAmount(minor, code)).toBe(text);
    expect(fromCybersourceAmount(text, code, 'totalAmount')).toBe(minor);
    // Trailing zeros Cybersource may add are not precision: "1500.00" JPY is 1500.
    expect(fromCybersourceAmount(`${text}${exp === 0 ? '.' : ''}00`, code, 'totalAmount')).toBe(minor);
    // One significant digit more than the currency has is not representable.
    expect(() => fromCybersourceAmount(`${text}${exp === 0 ? '.' : ''}1`, code, 'totalAmount')).toThrow(
      expect.objectContaining({ refusal: 'amount_not_representable', field: 'totalAmount' }),
    );
  });

  it('refuses an amount that is not an integer of minor units and a currency it does not list, naming the field', () => {
    expect(() => toCybersourceAmount(10.5, 'USD')).toThrow(expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount' }));
    expect(() => toCybersourceAmount(100, 'XXX')).toThrow(expect.objectContaining({ refusal: 'currency_not_supported', field: 'payment.currency' }));
    expect(() => fromCybersourceAmount('1,00', 'USD', 'authorizedAmount')).toThrow(
      expect.objectContaining({ refusal: 'amount_not_representable', field: 'authorizedAmount' }),
    );
  });

  it('refuses an amount read back in a currency it does not list, naming the currency beside the amount', () => {
    expect(() => fromCybersourceAmount('1.00', 'XXX', 'orderInformation.amountDetails.totalAmount')).toThrow(
      expect.objectContaining({ refusal: 'currency_not_supported', field: 'orderInformation.amountDetails.currency' }),
    );
  });
});

describe('Cybersource adapter amounts', () => {
  it('sends KWD with three decimals and reads a captured amount back in ISO minor units with its currency', () => {
    const c = ctx('capture', { amount: 1234, currency: 'KWD' });
    const amountDetails = (bodyOf(t.buildRequest(c, gateway).body).orderInformation as { amountDetails: unknown }).amountDetails;
    expect(amountDetails).toEqual({ totalAmount: '1.234', currency: 'KWD' });
    const res = response(201, { id: PAYMENT_ID, status: 'PENDING', orderInformation: { amountDetails: { totalAmount: '1.234', currency: 'KWD' } } });
    expect(t.parseResponse(c, res, gateway)).toMatchObject({ status: 'SUCCESS', amount: 1234, currency: 'KWD' });
  });

  it('names the refund lines as the field at fault when a refund by lines is not representable', () => {
    const c = ctx('refund', {
      currency: 'USD',
      lines: [{ line_number: 1, item_name: 'x', item_sku: 'x', item_type: 'physical', quantity: 1, unit_price_gross: 100, refund_amount: 10.5 }],
    });
    expect(() => t.buildRequest(c, gateway)).toThrow(expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.lines[].refund_amount' }));
  });

  it("reports the currency Cybersource confirmed, even when it is not the command's", () => {
    const res = response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '1500', currency: 'JPY' } } });
    expect(t.parseResponse(ctx('authorize', { amount: 1500, currency: 'USD' }), res, gateway)).toMatchObject({ amount: 1500, currency: 'JPY' });
  });
});

import { MoneyRefusalError } from '../../../../src/errors/money-refusal-error';
import { stripeTransformer as t } from '../../../../src/gateways/stripe';
import { fromStripeAmount, toStripeAmount } from '../../../../src/gateways/stripe/stripe-amount';
import { STRIPE_CURRENCIES } from '../../../../src/gateways/stripe/stripe-currencies';
import { currencyExponent, isKnownCurrency } from '../../../../src/money/currencies';
import { jsonResponse, paymentIntent, refund, stripeContext, stripeGateway } from './stripe-fixtures';

/**
 * Written from https://docs.stripe.com/currencies, independently of the table: the presentment list, the
 * zero-decimal list, the three-decimal list and the special cases (ISK, UGX: two decimals, divisible by 100).
 */
const PRESENTMENT =
  'USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BIF BMD BND BOB BRL BSD BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JPY KES KGS KHR KMF KRW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW'.split(
    ' ',
  );
const ZERO_DECIMAL = 'BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF'.split(' ');
const THREE_DECIMAL = 'BHD JOD KWD OMR TND'.split(' ');
/** Special cases: "effectively zero-decimal", passed with two decimals, evenly divisible by 100. */
const WHOLE_IN_HUNDREDTHS = ['ISK', 'UGX'];

/** Decimals of Stripe's API amount, per the page. */
function stripeDecimals(code: string): number {
  if (WHOLE_IN_HUNDREDTHS.includes(code)) return 2;
  if (ZERO_DECIMAL.includes(code)) return 0;
  if (THREE_DECIMAL.includes(code)) return 3;
  return 2;
}

const DOCUMENTED = [...new Set([...PRESENTMENT, ...THREE_DECIMAL])].filter(isKnownCurrency).sort();
/** 37 whole units of the currency: representable everywhere (a three-decimal amount ending in 0). */
const MAJOR = 37;

describe('Stripe currency table', () => {
  it('lists exactly the documented currencies we know the ISO 4217 exponent of (STD, replaced by STN, is not one)', () => {
    expect(Object.keys(STRIPE_CURRENCIES.currencies).sort()).toEqual(DOCUMENTED);
    expect(isKnownCurrency('STD')).toBe(false);
    expect(STRIPE_CURRENCIES.source).toBe('https://docs.stripe.com/currencies');
  });

  it.each(DOCUMENTED)('%s: sends 37 units as Stripe documents it, reads it back, round trip exact', (code) => {
    const iso = MAJOR * 10 ** currencyExponent(code);
    const api = MAJOR * 10 ** stripeDecimals(code);
    expect(toStripeAmount(iso, code)).toBe(api);
    expect(fromStripeAmount(api, code)).toBe(iso);
    expect(fromStripeAmount(api, code.toLowerCase())).toBe(iso);
    expect(fromStripeAmount(toStripeAmount(iso, code), code)).toBe(iso);
  });

  it.each(DOCUMENTED)('%s: refuses what Stripe cannot take exactly and reads back only whole ISO minor units', (code) => {
    const iso = currencyExponent(code);
    const api = stripeDecimals(code);
    const step = WHOLE_IN_HUNDREDTHS.includes(code) ? 100 : THREE_DECIMAL.includes(code) ? 10 : 1;
    // One ISO minor unit: representable only when Stripe's unit is as fine and the required multiple is no coarser.
    if (api < iso || step > 10 ** (api - iso)) {
      expect(() => toStripeAmount(1, code)).toThrow(expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount' }));
    } else {
      expect(toStripeAmount(1, code)).toBe(10 ** (api - iso));
    }
    // One Stripe unit: a fraction of an ISO minor unit when Stripe's unit is finer.
    if (api > iso) {
      expect(() => fromStripeAmount(1, code)).toThrow(expect.objectContaining({ refusal: 'amount_not_representable' }));
    } else {
      expect(fromStripeAmount(1, code)).toBe(10 ** (iso - api));
    }
  });

  it('sends ISK and UGX as two-decimal amounts (5 ISK is 500) and refuses a fraction read back', () => {
    expect(toStripeAmount(5, 'ISK')).toBe(500);
    expect(toStripeAmount(5, 'UGX')).toBe(500);
    expect(() => fromStripeAmount(550, 'isk')).toThrow(MoneyRefusalError);
  });

  it('sends MGA as zero-decimal: 123.00 MGA is 123; 123.45 MGA is not representable', () => {
    expect(toStripeAmount(12300, 'MGA')).toBe(123);
    expect(fromStripeAmount(123, 'mga')).toBe(12300);
    expect(() => toStripeAmount(12345, 'MGA')).toThrow(expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount' }));
  });

  it('charges HUF and TWD with two decimals (zero-decimal only for payouts)', () => {
    expect(toStripeAmount(1045, 'HUF')).toBe(1045);
    expect(toStripeAmount(80045, 'TWD')).toBe(80045);
  });

  it('refuses a three-decimal amount that does not end in 0 (5.124 KWD), never rounding it', () => {
    expect(toStripeAmount(5120, 'KWD')).toBe(5120);
    expect(() => toStripeAmount(5124, 'KWD')).toThrow(expect.objectContaining({ refusal: 'amount_not_representable' }));
  });

  /** "The amount value supports up to": 12 digits for IDR, 9 for INR, 8 for all other currencies; on cards LBP 11, COP, HUF and JPY 10. */
  it.each([
    ['USD', 8],
    ['EUR', 8],
    ['KWD', 8],
    ['IDR', 12],
    ['INR', 9],
    ['LBP', 11],
    ['COP', 10],
    ['HUF', 10],
    ['JPY', 10],
  ])('%s: takes an amount value of %i digits and refuses one digit more', (code, digits) => {
    const largest = 10 ** digits - (THREE_DECIMAL.includes(code) ? 10 : 1);
    const iso = largest * 10 ** (currencyExponent(code) - stripeDecimals(code));
    expect(toStripeAmount(iso, code)).toBe(largest);
    expect(() => toStripeAmount(iso + 10 ** currencyExponent(code), code)).toThrow(
      expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount' }),
    );
  });

  it.each(['CLF', 'UYW', 'ZWG', 'XXX', 'STD'])('refuses %s, which Stripe does not list, naming payment.currency', (code) => {
    expect(() => toStripeAmount(100, code)).toThrow(
      expect.objectContaining({ refusal: 'currency_not_supported', field: 'payment.currency', retryable: false }),
    );
  });
});

describe('Stripe adapter amounts in the PSP unit', () => {
  it('sends 5 ISK as amount 500 on the wire', () => {
    const req = t.buildRequest(stripeContext('authorize', { amount: 5, currency: 'ISK' }), stripeGateway);
    expect(new URLSearchParams(req.body).get('amount')).toBe('500');
    expect(new URLSearchParams(req.body).get('currency')).toBe('isk');
  });

  it('sends a capture of 123.00 MGA as amount_to_capture 123', () => {
    const req = t.buildRequest(stripeContext('capture', { amount: 12300, currency: 'MGA' }), stripeGateway);
    expect(new URLSearchParams(req.body).get('amount_to_capture')).toBe('123');
  });

  it('reads the confirmed amount back into ISO minor units with the currency Stripe names', () => {
    const ctx = stripeContext('capture', { amount: 5, currency: 'ISK' });
    const body = paymentIntent(ctx, { status: 'succeeded', amount: 500, amount_received: 500, currency: 'isk' });
    expect(t.parseResponse(ctx, jsonResponse(200, body), stripeGateway)).toMatchObject({ status: 'SUCCESS', amount: 5, currency: 'ISK' });
  });

  it("reports the currency Stripe confirmed even when it is not the command's", () => {
    const ctx = stripeContext('refund', { amount: 500, currency: 'EUR' });
    expect(t.parseResponse(ctx, jsonResponse(200, refund(ctx, { currency: 'usd' })), stripeGateway)).toMatchObject({ amount: 500, currency: 'USD' });
  });

  it('leaves the amount out (never a float) when Stripe names an amount that is not whole ISO minor units', () => {
    const ctx = stripeContext('capture', { amount: 5, currency: 'ISK' });
    const body = paymentIntent(ctx, { status: 'succeeded', amount: 550, amount_received: 550, currency: 'isk' });
    const outcome = t.parseResponse(ctx, jsonResponse(200, body), stripeGateway);
    expect(outcome.status).toBe('SUCCESS');
    expect(outcome.amount).toBeUndefined();
    expect(outcome.currency).toBe('ISK');
  });

  it('reads amount_received for a succeeded capture and amount_capturable for an authorization held', () => {
    const cap = stripeContext('capture', { amount: 1000 });
    expect(
      t.parseResponse(cap, jsonResponse(200, paymentIntent(cap, { status: 'succeeded', amount: 2599, amount_received: 1000 })), stripeGateway).amount,
    ).toBe(1000);
    const auth = stripeContext('authorize', { amount: 2599 });
    expect(t.parseResponse(auth, jsonResponse(200, paymentIntent(auth, { status: 'requires_capture', amount_capturable: 2599 })), stripeGateway).amount).toBe(
      2599,
    );
  });
});

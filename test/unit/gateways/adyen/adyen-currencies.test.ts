import { adyenTransformer as t } from '../../../../src/gateways/adyen';
import { adyenExponent, fromAdyenAmount, toAdyenAmount } from '../../../../src/gateways/adyen/adyen-amount';
import { ADYEN_CURRENCIES } from '../../../../src/gateways/adyen/adyen-currencies';
import { currencyExponent, isKnownCurrency } from '../../../../src/money/currencies';
import { ctxFor, gateway, response } from './adyen-test-support';

/**
 * Adyen's "Currency codes and minor units" table (https://docs.adyen.com/development-resources/currency-codes/),
 * code and decimals as Adyen lists them, written here independently of the adapter's table.
 */
const ADYEN_DOC: Readonly<Record<string, number>> = {
  AED: 2,
  ALL: 2,
  AMD: 2,
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
  BMD: 2,
  BND: 2,
  BOB: 2,
  BRL: 2,
  BSD: 2,
  BWP: 2,
  BYN: 2,
  BZD: 2,
  CAD: 2,
  CHF: 2,
  CLP: 2,
  CNH: 2,
  CNY: 2,
  COP: 2,
  CRC: 2,
  CUP: 2,
  CVE: 0,
  CZK: 2,
  DJF: 0,
  DKK: 2,
  DOP: 2,
  DZD: 2,
  EGP: 2,
  ETB: 2,
  EUR: 2,
  FJD: 2,
  FKP: 2,
  GBP: 2,
  GEL: 2,
  GHS: 2,
  GIP: 2,
  GMD: 2,
  GNF: 0,
  GTQ: 2,
  GYD: 2,
  HKD: 2,
  HNL: 2,
  HTG: 2,
  HUF: 2,
  IDR: 0,
  ILS: 2,
  INR: 2,
  IQD: 3,
  ISK: 2,
  JMD: 2,
  JOD: 3,
  JPY: 0,
  KES: 2,
  KGS: 2,
  KHR: 2,
  KMF: 0,
  KRW: 0,
  KWD: 3,
  KYD: 2,
  KZT: 2,
  LAK: 2,
  LBP: 2,
  LKR: 2,
  LYD: 3,
  MAD: 2,
  MDL: 2,
  MKD: 2,
  MMK: 2,
  MNT: 2,
  MOP: 2,
  MRU: 2,
  MUR: 2,
  MVR: 2,
  MWK: 2,
  MXN: 2,
  MYR: 2,
  MZN: 2,
  NAD: 2,
  NGN: 2,
  NIO: 2,
  NOK: 2,
  NPR: 2,
  NZD: 2,
  OMR: 3,
  PAB: 2,
  PEN: 2,
  PGK: 2,
  PHP: 2,
  PKR: 2,
  PLN: 2,
  PYG: 0,
  QAR: 2,
  RON: 2,
  RSD: 2,
  RUB: 2,
  RWF: 0,
  SAR: 2,
  SBD: 2,
  SCR: 2,
  SEK: 2,
  SGD: 2,
  SHP: 2,
  SLE: 2,
  SOS: 2,
  SRD: 2,
  STN: 2,
  SVC: 2,
  SZL: 2,
  THB: 2,
  TND: 3,
  TOP: 2,
  TRY: 2,
  TTD: 2,
  TWD: 2,
  TZS: 2,
  UAH: 2,
  UGX: 0,
  USD: 2,
  UYU: 2,
  UZS: 2,
  VEF: 2,
  VND: 0,
  VUV: 0,
  WST: 2,
  XAF: 0,
  XCD: 2,
  XOF: 0,
  XPF: 0,
  YER: 2,
  ZAR: 2,
  ZMW: 2,
};
const DOCUMENTED = Object.keys(ADYEN_DOC).filter(isKnownCurrency).sort();
const MAJOR = 37;

describe('Adyen currency table', () => {
  it("lists exactly the documented currencies that are active ISO 4217 codes (not CNH, VEF), with Adyen's decimals", () => {
    expect(Object.keys(ADYEN_CURRENCIES.currencies).sort()).toEqual(DOCUMENTED);
    expect(DOCUMENTED).not.toContain('CNH');
    expect(DOCUMENTED).not.toContain('VEF');
  });

  it('differs from ISO 4217 exactly where Adyen says so: CLP, ISK (2), CVE, IDR (0)', () => {
    const differing = DOCUMENTED.filter((c) => adyenExponent(c) !== currencyExponent(c));
    expect(differing).toEqual(['CLP', 'CVE', 'IDR', 'ISK']);
  });

  it.each(DOCUMENTED)("%s: sends 37 units with Adyen's decimals, reads them back, round trip exact", (code) => {
    expect(adyenExponent(code)).toBe(ADYEN_DOC[code]);
    const iso = MAJOR * 10 ** currencyExponent(code);
    const value = MAJOR * 10 ** ADYEN_DOC[code];
    expect(toAdyenAmount(iso, code)).toEqual({ value, currency: code });
    expect(fromAdyenAmount({ value, currency: code })).toBe(iso);
    expect(fromAdyenAmount(toAdyenAmount(iso, code))).toBe(iso);
  });

  it.each(DOCUMENTED)("%s: refuses one ISO minor unit when Adyen's unit is coarser, and one Adyen unit when it is finer", (code) => {
    const iso = currencyExponent(code);
    const adyen = ADYEN_DOC[code];
    if (adyen < iso)
      expect(() => toAdyenAmount(1, code)).toThrow(expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount', retryable: false }));
    else expect(toAdyenAmount(1, code).value).toBe(10 ** (adyen - iso));
    if (adyen > iso) expect(() => fromAdyenAmount({ value: 1, currency: code })).toThrow(expect.objectContaining({ refusal: 'amount_not_representable' }));
    else expect(fromAdyenAmount({ value: 1, currency: code })).toBe(10 ** (iso - adyen));
  });

  it.each(['AFN', 'MGA', 'CLF', 'XXX'])('refuses %s, which Adyen does not list, naming payment.currency', (code) => {
    expect(() => toAdyenAmount(100, code)).toThrow(expect.objectContaining({ refusal: 'currency_not_supported', field: 'payment.currency' }));
  });
});

describe('Adyen adapter amounts in the PSP unit', () => {
  it('sends 1,000 CLP as value 100000 and reads the confirmed amount back as 1000 CLP', () => {
    const ctx = ctxFor('capture', { amount: 1000, currency: 'CLP' });
    expect(JSON.parse(t.buildRequest(ctx, gateway).body ?? '{}')).toMatchObject({ amount: { value: 100000, currency: 'CLP' } });
    const outcome = t.parseResponse(ctx, response(201, { pspReference: 'P2', status: 'received', amount: { value: 100000, currency: 'CLP' } }), gateway);
    expect(outcome).toMatchObject({ amount: 1000, currency: 'CLP' });
  });

  it('refuses an IDR amount with sen before sending (Adyen takes whole rupiah)', () => {
    expect(() => t.buildRequest(ctxFor('authorize', { amount: 150050, currency: 'IDR' }), gateway)).toThrow(
      expect.objectContaining({ refusal: 'amount_not_representable' }),
    );
  });

  it("reports the currency Adyen confirmed, even when it is not the command's", () => {
    const ctx = ctxFor('refund', { amount: 2000, currency: 'EUR' });
    const outcome = t.parseResponse(ctx, response(201, { pspReference: 'P3', status: 'received', amount: { value: 2000, currency: 'USD' } }), gateway);
    expect(outcome).toMatchObject({ amount: 2000, currency: 'USD' });
  });
});

/**
 * ISO 4217 minor-unit exponents (number of decimal places of the minor unit), for the active codes.
 * Money in payment-bridge is always an integer count of minor units; this table is how we convert to a
 * gateway's form or from a bus that sends major units. Source: ISO 4217 list one (SIX) as published on
 * 2024-06-25 (test/fixtures/iso4217/list-one.xml; a unit test holds the table to it), and the Caribbean
 * guilder XCG (2 decimals) that a 2025 amendment added to replace ANG in Curaçao and Sint Maarten.
 */
const EXPONENTS: Readonly<Record<string, 0 | 2 | 3 | 4>> = Object.freeze({
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
  DOP: 2,
  DZD: 2,
  EGP: 2,
  ERN: 2,
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
  IDR: 2,
  ILS: 2,
  INR: 2,
  IQD: 3,
  IRR: 2,
  ISK: 0,
  JMD: 2,
  JOD: 3,
  JPY: 0,
  KES: 2,
  KGS: 2,
  KHR: 2,
  KMF: 0,
  KPW: 2,
  KRW: 0,
  KWD: 3,
  KYD: 2,
  KZT: 2,
  LAK: 2,
  LBP: 2,
  LKR: 2,
  LRD: 2,
  LSL: 2,
  LYD: 3,
  MAD: 2,
  MDL: 2,
  MGA: 2,
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
  SDG: 2,
  SEK: 2,
  SGD: 2,
  SHP: 2,
  SLE: 2,
  SOS: 2,
  SRD: 2,
  SSP: 2,
  STN: 2,
  SVC: 2,
  SYP: 2,
  SZL: 2,
  THB: 2,
  TJS: 2,
  TMT: 2,
  TND: 3,
  TOP: 2,
  TRY: 2,
  TTD: 2,
  TWD: 2,
  TZS: 2,
  UAH: 2,
  UGX: 0,
  USD: 2,
  UYI: 0,
  UYU: 2,
  UYW: 4,
  UZS: 2,
  VED: 2,
  VES: 2,
  VND: 0,
  VUV: 0,
  WST: 2,
  XAF: 0,
  XCD: 2,
  XCG: 2,
  XOF: 0,
  XPF: 0,
  YER: 2,
  ZAR: 2,
  ZMW: 2,
  ZWG: 2,
});

/**
 * The active ISO 4217 codes (list one) our money table leaves out: funds codes (BOV, CHE, CHW, COU, MXV, USN)
 * and the units without a minor unit ("N.A.": metals, bond-market units, XDR, XSU, XUA), whose amounts no
 * integer of minor units can state. No command is taken
 * in them and no PSP table lists them, but a PSP naming one names a real currency: its fact is read with
 * the currency and without an amount, never refused as no currency at all. XTS (testing) and XXX (no
 * currency) are not here: neither names money.
 */
const ISO_WITHOUT_EXPONENT: ReadonlySet<string> = new Set([
  'BOV',
  'CHE',
  'CHW',
  'COU',
  'MXV',
  'USN',
  'XAG',
  'XAU',
  'XBA',
  'XBB',
  'XBC',
  'XBD',
  'XDR',
  'XPD',
  'XPT',
  'XSU',
  'XUA',
]);

/** All currency codes we accept, sorted. */
export const CURRENCY_CODES: readonly string[] = Object.freeze(Object.keys(EXPONENTS).sort());

/** Whether `code` is an active ISO 4217 currency we know the exponent of. */
export function isKnownCurrency(code: string): boolean {
  return Object.prototype.hasOwnProperty.call(EXPONENTS, code);
}

/** Minor-unit exponent of `code` (JPY 0, USD 2, KWD 3). Throws on an unknown code. */
export function currencyExponent(code: string): number {
  if (!isKnownCurrency(code)) throw new RangeError(`unknown currency ${JSON.stringify(code)}`);
  return EXPONENTS[code];
}

/** Whether `code` (upper case) is an active ISO 4217 currency: one of our table, or one it leaves out (`ISO_WITHOUT_EXPONENT`). */
export function isIsoCurrencyCode(code: string): boolean {
  return isKnownCurrency(code) || ISO_WITHOUT_EXPONENT.has(code);
}

/** A currency a PSP named, read: its upper-case ISO 4217 code, or why it names none (never quoting the value). */
export type PspCurrencyReading = { code: string } | { problem: string };

/**
 * Reads the currency a PSP names in a webhook or a report. PSPs spell the same codes in their own case (Stripe
 * lower, Adyen and Cybersource upper): the case is not held against it, and the code comes out upper case.
 * Anything else is refused with why: not a string, or a string that is no active ISO 4217 code ("EURO", "eu",
 * "", "XXX", an offshore "CNH"). The problem says what kind of value it was, not the value, which may be
 * anything a sender put there.
 */
export function readPspCurrency(value: unknown): PspCurrencyReading {
  if (typeof value !== 'string') {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
    return { problem: `is not an ISO 4217 currency code (${what})` };
  }
  // ASCII letters before upper-casing: "uſd" upper-cases to "USD".
  const code = /^[A-Za-z]{3}$/.test(value) ? value.toUpperCase() : '';
  if (isIsoCurrencyCode(code)) return { code };
  return { problem: `is not an ISO 4217 currency code (a string of ${value.length} characters)` };
}

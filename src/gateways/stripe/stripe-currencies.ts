import { PspCurrencyRule, PspCurrencyTable } from '../../money/psp-currency-table';

/**
 * Stripe's currencies and how its API amounts express them, from Stripe's own "Supported currencies" page:
 * https://docs.stripe.com/currencies (presentment list, #zero-decimal, #three-decimal, #special-cases,
 * "Minimum and maximum charge amounts").
 *
 * - Two-decimal unless listed otherwise: the API amount is in hundredths (HUF and TWD included: Stripe
 *   charges them with two decimals and treats them as zero-decimal only for payouts, which we do not make).
 * - Zero-decimal (BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF): the amount is whole units.
 *   MGA differs from ISO 4217 (2 decimals): an ISO-minor MGA amount must be a whole ariary.
 * - ISK and UGX (special cases): "effectively zero-decimal", but for backwards compatibility the amount is
 *   passed with two decimals and must be evenly divisible by 100 (5 ISK = 500). ISO gives both 0 decimals.
 * - Three-decimal (BHD JOD KWD OMR TND): amounts in thousandths whose last digit must be 0 ("round to the
 *   nearest ten"); we refuse instead of rounding money away.
 * - Maximum: the amount value has at most eight digits, twelve for IDR.
 * - Listed by Stripe but not an active ISO 4217 code we know (refused as unsupported): STD (replaced by STN).
 */
const MAX_DIGITS_8 = 99_999_999;
const TWO: PspCurrencyRule = { exponent: 2, maxValue: MAX_DIGITS_8 };
const ZERO: PspCurrencyRule = { exponent: 0, maxValue: MAX_DIGITS_8 };
const THREE: PspCurrencyRule = { exponent: 3, multipleOf: 10, maxValue: MAX_DIGITS_8 };
const WHOLE_IN_HUNDREDTHS: PspCurrencyRule = { exponent: 2, multipleOf: 100, maxValue: MAX_DIGITS_8 };

export const STRIPE_CURRENCIES: PspCurrencyTable = Object.freeze({
  psp: 'stripe',
  source: 'https://docs.stripe.com/currencies',
  currencies: Object.freeze({
    AED: TWO, AFN: TWO, ALL: TWO, AMD: TWO, ANG: TWO, AOA: TWO, ARS: TWO, AUD: TWO, AWG: TWO, AZN: TWO, BAM: TWO,
    BBD: TWO, BDT: TWO, BGN: TWO, BHD: THREE, BIF: ZERO, BMD: TWO, BND: TWO, BOB: TWO, BRL: TWO, BSD: TWO, BWP: TWO,
    BYN: TWO, BZD: TWO, CAD: TWO, CDF: TWO, CHF: TWO, CLP: ZERO, CNY: TWO, COP: TWO, CRC: TWO, CVE: TWO, CZK: TWO,
    DJF: ZERO, DKK: TWO, DOP: TWO, DZD: TWO, EGP: TWO, ETB: TWO, EUR: TWO, FJD: TWO, FKP: TWO, GBP: TWO, GEL: TWO,
    GIP: TWO, GMD: TWO, GNF: ZERO, GTQ: TWO, GYD: TWO, HKD: TWO, HNL: TWO, HTG: TWO, HUF: TWO,
    IDR: { exponent: 2, maxValue: 999_999_999_999 }, ILS: TWO, INR: TWO, ISK: WHOLE_IN_HUNDREDTHS, JMD: TWO,
    JOD: THREE, JPY: ZERO, KES: TWO, KGS: TWO, KHR: TWO, KMF: ZERO, KRW: ZERO, KWD: THREE, KYD: TWO, KZT: TWO,
    LAK: TWO, LBP: TWO, LKR: TWO, LRD: TWO, LSL: TWO, MAD: TWO, MDL: TWO, MGA: ZERO, MKD: TWO, MMK: TWO, MNT: TWO,
    MOP: TWO, MUR: TWO, MVR: TWO, MWK: TWO, MXN: TWO, MYR: TWO, MZN: TWO, NAD: TWO, NGN: TWO, NIO: TWO, NOK: TWO,
    NPR: TWO, NZD: TWO, OMR: THREE, PAB: TWO, PEN: TWO, PGK: TWO, PHP: TWO, PKR: TWO, PLN: TWO, PYG: ZERO, QAR: TWO,
    RON: TWO, RSD: TWO, RUB: TWO, RWF: ZERO, SAR: TWO, SBD: TWO, SCR: TWO, SEK: TWO, SGD: TWO, SHP: TWO, SLE: TWO,
    SOS: TWO, SRD: TWO, SZL: TWO, THB: TWO, TJS: TWO, TND: THREE, TOP: TWO, TRY: TWO, TTD: TWO, TWD: TWO, TZS: TWO,
    UAH: TWO, UGX: WHOLE_IN_HUNDREDTHS, USD: TWO, UYU: TWO, UZS: TWO, VND: ZERO, VUV: ZERO, WST: TWO, XAF: ZERO,
    XCD: TWO, XOF: ZERO, XPF: ZERO, YER: TWO, ZAR: TWO, ZMW: TWO,
  }),
});

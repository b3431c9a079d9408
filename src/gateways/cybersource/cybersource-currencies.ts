import { MoneyRefusalError } from '../../errors/money-refusal-error';
import { withoutTrailingZeros } from '../../money/minor-units';
import { readPspCurrency } from '../../money/currencies';
import {
  ConfirmedMoney,
  confirmedAmount,
  countUnreadable,
  currencyFieldBeside,
  isoToPspAmount,
  pspCurrencyRule,
  pspToIsoAmount,
  PspCurrencyTable,
} from '../../money/psp-currency-table';

/**
 * Cybersource's currencies, from its "ISO Standard Currency Codes" reference:
 * https://developer.cybersource.com/docs/cybs/en-us/currency-codes/reference/all/na/currency-codes/currency-codes.html
 * ("Not all currencies are supported for all processors"), whose "Decimal Places" column is ISO 4217's
 * (BHD 3, BIF 0, CLF 4, CLP 0, CVE 2, ...). The REST API takes amounts as decimal strings in major units
 * (`orderInformation.amountDetails.totalAmount`: "CyberSource truncates the amount to the correct number
 * of decimal places"), so we send exactly the currency's decimals, never a digit Cybersource would cut.
 * Codes on that page that are no longer active ISO 4217 codes (BYR, CSK, ...) are not in this table, nor is an
 * active code the page does not list yet (XCG, the Caribbean guilder of 2025).
 */
export const CYBERSOURCE_CURRENCIES: PspCurrencyTable = Object.freeze({
  psp: 'cybersource',
  source: 'https://developer.cybersource.com/docs/cybs/en-us/currency-codes/reference/all/na/currency-codes/currency-codes.html',
  currencies: Object.freeze({
    AED: { exponent: 2 },
    AFN: { exponent: 2 },
    ALL: { exponent: 2 },
    AMD: { exponent: 2 },
    ANG: { exponent: 2 },
    AOA: { exponent: 2 },
    ARS: { exponent: 2 },
    AUD: { exponent: 2 },
    AWG: { exponent: 2 },
    AZN: { exponent: 2 },
    BAM: { exponent: 2 },
    BBD: { exponent: 2 },
    BDT: { exponent: 2 },
    BGN: { exponent: 2 },
    BHD: { exponent: 3 },
    BIF: { exponent: 0 },
    BMD: { exponent: 2 },
    BND: { exponent: 2 },
    BOB: { exponent: 2 },
    BRL: { exponent: 2 },
    BSD: { exponent: 2 },
    BTN: { exponent: 2 },
    BWP: { exponent: 2 },
    BYN: { exponent: 2 },
    BZD: { exponent: 2 },
    CAD: { exponent: 2 },
    CDF: { exponent: 2 },
    CHF: { exponent: 2 },
    CLF: { exponent: 4 },
    CLP: { exponent: 0 },
    CNY: { exponent: 2 },
    COP: { exponent: 2 },
    CRC: { exponent: 2 },
    CUC: { exponent: 2 },
    CUP: { exponent: 2 },
    CVE: { exponent: 2 },
    CZK: { exponent: 2 },
    DJF: { exponent: 0 },
    DKK: { exponent: 2 },
    DOP: { exponent: 2 },
    DZD: { exponent: 2 },
    EGP: { exponent: 2 },
    ERN: { exponent: 2 },
    ETB: { exponent: 2 },
    EUR: { exponent: 2 },
    FJD: { exponent: 2 },
    FKP: { exponent: 2 },
    GBP: { exponent: 2 },
    GEL: { exponent: 2 },
    GHS: { exponent: 2 },
    GIP: { exponent: 2 },
    GMD: { exponent: 2 },
    GNF: { exponent: 0 },
    GTQ: { exponent: 2 },
    GYD: { exponent: 2 },
    HKD: { exponent: 2 },
    HNL: { exponent: 2 },
    HTG: { exponent: 2 },
    HUF: { exponent: 2 },
    IDR: { exponent: 2 },
    ILS: { exponent: 2 },
    INR: { exponent: 2 },
    IQD: { exponent: 3 },
    IRR: { exponent: 2 },
    ISK: { exponent: 0 },
    JMD: { exponent: 2 },
    JOD: { exponent: 3 },
    JPY: { exponent: 0 },
    KES: { exponent: 2 },
    KGS: { exponent: 2 },
    KHR: { exponent: 2 },
    KMF: { exponent: 0 },
    KPW: { exponent: 2 },
    KRW: { exponent: 0 },
    KWD: { exponent: 3 },
    KYD: { exponent: 2 },
    KZT: { exponent: 2 },
    LAK: { exponent: 2 },
    LBP: { exponent: 2 },
    LKR: { exponent: 2 },
    LRD: { exponent: 2 },
    LSL: { exponent: 2 },
    LYD: { exponent: 3 },
    MAD: { exponent: 2 },
    MDL: { exponent: 2 },
    MGA: { exponent: 2 },
    MKD: { exponent: 2 },
    MMK: { exponent: 2 },
    MNT: { exponent: 2 },
    MOP: { exponent: 2 },
    MRU: { exponent: 2 },
    MUR: { exponent: 2 },
    MVR: { exponent: 2 },
    MWK: { exponent: 2 },
    MXN: { exponent: 2 },
    MYR: { exponent: 2 },
    MZN: { exponent: 2 },
    NAD: { exponent: 2 },
    NGN: { exponent: 2 },
    NIO: { exponent: 2 },
    NOK: { exponent: 2 },
    NPR: { exponent: 2 },
    NZD: { exponent: 2 },
    OMR: { exponent: 3 },
    PAB: { exponent: 2 },
    PEN: { exponent: 2 },
    PGK: { exponent: 2 },
    PHP: { exponent: 2 },
    PKR: { exponent: 2 },
    PLN: { exponent: 2 },
    PYG: { exponent: 0 },
    QAR: { exponent: 2 },
    RON: { exponent: 2 },
    RSD: { exponent: 2 },
    RUB: { exponent: 2 },
    RWF: { exponent: 0 },
    SAR: { exponent: 2 },
    SBD: { exponent: 2 },
    SCR: { exponent: 2 },
    SDG: { exponent: 2 },
    SEK: { exponent: 2 },
    SGD: { exponent: 2 },
    SHP: { exponent: 2 },
    SLE: { exponent: 2 },
    SOS: { exponent: 2 },
    SRD: { exponent: 2 },
    SSP: { exponent: 2 },
    STN: { exponent: 2 },
    SVC: { exponent: 2 },
    SYP: { exponent: 2 },
    SZL: { exponent: 2 },
    THB: { exponent: 2 },
    TJS: { exponent: 2 },
    TMT: { exponent: 2 },
    TND: { exponent: 3 },
    TOP: { exponent: 2 },
    TRY: { exponent: 2 },
    TTD: { exponent: 2 },
    TWD: { exponent: 2 },
    TZS: { exponent: 2 },
    UAH: { exponent: 2 },
    UGX: { exponent: 0 },
    USD: { exponent: 2 },
    UYI: { exponent: 0 },
    UYU: { exponent: 2 },
    UYW: { exponent: 4 },
    UZS: { exponent: 2 },
    VED: { exponent: 2 },
    VES: { exponent: 2 },
    VND: { exponent: 0 },
    VUV: { exponent: 0 },
    WST: { exponent: 2 },
    XAF: { exponent: 0 },
    XCD: { exponent: 2 },
    XOF: { exponent: 0 },
    XPF: { exponent: 0 },
    YER: { exponent: 2 },
    ZAR: { exponent: 2 },
    ZMW: { exponent: 2 },
    ZWG: { exponent: 2 },
  }),
});

/** Integer `units` with `exponent` decimals as a decimal string ("10.00", "1000", "1.500"), exactly. */
function formatUnits(units: number, exponent: number): string {
  const sign = units < 0 ? '-' : '';
  const digits = String(Math.abs(units)).padStart(exponent + 1, '0');
  return exponent === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/**
 * Our ISO minor units → Cybersource's `totalAmount`: a decimal string in major units with exactly the
 * currency's decimals ("10.00", "1000", "1.500"). Refuses an unsupported currency or an amount that is
 * not representable (`MoneyRefusalError`).
 */
export function toCybersourceAmount(minor: number, currency: string, field = 'payment.amount'): string {
  const { exponent } = pspCurrencyRule(CYBERSOURCE_CURRENCIES, currency);
  return formatUnits(isoToPspAmount(CYBERSOURCE_CURRENCIES, minor, currency, field), exponent);
}

/**
 * A Cybersource decimal amount ("10.00", "10.5", "1000", "100.00" for JPY) → ISO minor units, exactly.
 * Trailing zeros are ignored; a significant digit beyond the currency's decimals or a text that is not a
 * decimal is refused (`MoneyRefusalError` naming `field`), an unsupported currency too (naming the
 * `currency` beside it).
 */
export function fromCybersourceAmount(text: string, currency: string, field: string): number {
  const { exponent } = pspCurrencyRule(CYBERSOURCE_CURRENCIES, currency, currencyFieldBeside(field));
  const m = /^(-?)(\d{1,20})(?:\.(\d{1,20}))?$/.exec(text.trim());
  if (!m) throw new MoneyRefusalError('amount_not_representable', CYBERSOURCE_CURRENCIES.psp, field, 'not a decimal amount');
  const fraction = withoutTrailingZeros(m[3] ?? '');
  if (fraction.length > exponent) {
    throw new MoneyRefusalError('amount_not_representable', CYBERSOURCE_CURRENCIES.psp, field, `${currency} has ${exponent} decimals at Cybersource`);
  }
  const units = Number(m[2] + fraction.padEnd(exponent, '0'));
  if (!Number.isSafeInteger(units)) throw new MoneyRefusalError('amount_not_representable', CYBERSOURCE_CURRENCIES.psp, field, 'out of range');
  return pspToIsoAmount(CYBERSOURCE_CURRENCIES, m[1] === '-' && units !== 0 ? -units : units, currency, field);
}

/**
 * What a Cybersource amount-details object confirms: the first of `fields` present, in ISO minor units of
 * the object's `currency` (or of `requestCurrency` when the answer names none: Cybersource requires a
 * follow-on to use the authorization's currency and echoes it only sometimes). Never throws: an amount
 * that cannot be read exactly is left out and counted in `pb_psp_amount_unreadable_total`.
 */
export function cybersourceConfirmedMoney(details: Record<string, unknown> | undefined, fields: readonly string[], requestCurrency: string): ConfirmedMoney {
  if (!details) return {};
  let named: string | undefined;
  if (typeof details.currency === 'string' && details.currency.length > 0) {
    // A currency that is no ISO 4217 code confirms nothing (as `readConfirmedMoney`): reported as it came, it
    // would read as the PSP's confirmed currency, and an amount read in the request's currency instead would be a guess.
    const read = readPspCurrency(details.currency);
    if ('problem' in read) {
      countUnreadable(CYBERSOURCE_CURRENCIES.psp, 'currency_not_iso');
      return {};
    }
    named = read.code;
  }
  const currency = named ?? requestCurrency;
  for (const field of fields) {
    const text = details[field];
    if (typeof text !== 'string' || text.length === 0) continue;
    try {
      return confirmedAmount(CYBERSOURCE_CURRENCIES.psp, fromCybersourceAmount(text, currency, field), currency);
    } catch (err) {
      if (!(err instanceof MoneyRefusalError)) throw err;
      countUnreadable(CYBERSOURCE_CURRENCIES.psp, err.refusal);
      return { currency };
    }
  }
  return named !== undefined ? { currency: named } : {};
}

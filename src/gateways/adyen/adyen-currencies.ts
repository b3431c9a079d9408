import { PspCurrencyTable } from '../../money/psp-currency-table';

/**
 * Adyen's currencies and the decimals of its `Amount.value` (minor units "as Adyen uses them"), from
 * Adyen's "Currency codes and minor units" page: https://docs.adyen.com/development-resources/currency-codes/
 *
 * Four rows differ from ISO 4217, and Adyen's decimals are the ones its API takes: CLP 2 (ISO 0), ISK 2
 * (ISO 0), CVE 0 (ISO 2), IDR 0 (ISO 2). Listed by Adyen but not active ISO 4217 codes we know (refused as
 * unsupported): CNH (offshore yuan), VEF (replaced by VES).
 */
export const ADYEN_CURRENCIES: PspCurrencyTable = Object.freeze({
  psp: 'adyen',
  source: 'https://docs.adyen.com/development-resources/currency-codes/',
  currencies: Object.freeze({
    AED: { exponent: 2 }, ALL: { exponent: 2 }, AMD: { exponent: 2 }, AOA: { exponent: 2 }, ARS: { exponent: 2 },
    AUD: { exponent: 2 }, AWG: { exponent: 2 }, AZN: { exponent: 2 }, BAM: { exponent: 2 }, BBD: { exponent: 2 },
    BDT: { exponent: 2 }, BGN: { exponent: 2 }, BHD: { exponent: 3 }, BMD: { exponent: 2 }, BND: { exponent: 2 },
    BOB: { exponent: 2 }, BRL: { exponent: 2 }, BSD: { exponent: 2 }, BWP: { exponent: 2 }, BYN: { exponent: 2 },
    BZD: { exponent: 2 }, CAD: { exponent: 2 }, CHF: { exponent: 2 }, CLP: { exponent: 2 }, CNY: { exponent: 2 },
    COP: { exponent: 2 }, CRC: { exponent: 2 }, CUP: { exponent: 2 }, CVE: { exponent: 0 }, CZK: { exponent: 2 },
    DJF: { exponent: 0 }, DKK: { exponent: 2 }, DOP: { exponent: 2 }, DZD: { exponent: 2 }, EGP: { exponent: 2 },
    ETB: { exponent: 2 }, EUR: { exponent: 2 }, FJD: { exponent: 2 }, FKP: { exponent: 2 }, GBP: { exponent: 2 },
    GEL: { exponent: 2 }, GHS: { exponent: 2 }, GIP: { exponent: 2 }, GMD: { exponent: 2 }, GNF: { exponent: 0 },
    GTQ: { exponent: 2 }, GYD: { exponent: 2 }, HKD: { exponent: 2 }, HNL: { exponent: 2 }, HTG: { exponent: 2 },
    HUF: { exponent: 2 }, IDR: { exponent: 0 }, ILS: { exponent: 2 }, INR: { exponent: 2 }, IQD: { exponent: 3 },
    ISK: { exponent: 2 }, JMD: { exponent: 2 }, JOD: { exponent: 3 }, JPY: { exponent: 0 }, KES: { exponent: 2 },
    KGS: { exponent: 2 }, KHR: { exponent: 2 }, KMF: { exponent: 0 }, KRW: { exponent: 0 }, KWD: { exponent: 3 },
    KYD: { exponent: 2 }, KZT: { exponent: 2 }, LAK: { exponent: 2 }, LBP: { exponent: 2 }, LKR: { exponent: 2 },
    LYD: { exponent: 3 }, MAD: { exponent: 2 }, MDL: { exponent: 2 }, MKD: { exponent: 2 }, MMK: { exponent: 2 },
    MNT: { exponent: 2 }, MOP: { exponent: 2 }, MRU: { exponent: 2 }, MUR: { exponent: 2 }, MVR: { exponent: 2 },
    MWK: { exponent: 2 }, MXN: { exponent: 2 }, MYR: { exponent: 2 }, MZN: { exponent: 2 }, NAD: { exponent: 2 },
    NGN: { exponent: 2 }, NIO: { exponent: 2 }, NOK: { exponent: 2 }, NPR: { exponent: 2 }, NZD: { exponent: 2 },
    OMR: { exponent: 3 }, PAB: { exponent: 2 }, PEN: { exponent: 2 }, PGK: { exponent: 2 }, PHP: { exponent: 2 },
    PKR: { exponent: 2 }, PLN: { exponent: 2 }, PYG: { exponent: 0 }, QAR: { exponent: 2 }, RON: { exponent: 2 },
    RSD: { exponent: 2 }, RUB: { exponent: 2 }, RWF: { exponent: 0 }, SAR: { exponent: 2 }, SBD: { exponent: 2 },
    SCR: { exponent: 2 }, SEK: { exponent: 2 }, SGD: { exponent: 2 }, SHP: { exponent: 2 }, SLE: { exponent: 2 },
    SOS: { exponent: 2 }, SRD: { exponent: 2 }, STN: { exponent: 2 }, SVC: { exponent: 2 }, SZL: { exponent: 2 },
    THB: { exponent: 2 }, TND: { exponent: 3 }, TOP: { exponent: 2 }, TRY: { exponent: 2 }, TTD: { exponent: 2 },
    TWD: { exponent: 2 }, TZS: { exponent: 2 }, UAH: { exponent: 2 }, UGX: { exponent: 0 }, USD: { exponent: 2 },
    UYU: { exponent: 2 }, UZS: { exponent: 2 }, VND: { exponent: 0 }, VUV: { exponent: 0 }, WST: { exponent: 2 },
    XAF: { exponent: 0 }, XCD: { exponent: 2 }, XOF: { exponent: 0 }, XPF: { exponent: 0 }, YER: { exponent: 2 },
    ZAR: { exponent: 2 }, ZMW: { exponent: 2 },
  }),
});

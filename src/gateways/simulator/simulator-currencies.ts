import { CURRENCY_CODES, currencyExponent } from '../../money/currencies';
import { PspCurrencyRule, PspCurrencyTable } from '../../money/psp-currency-table';

/** Our simulator takes every ISO 4217 currency we know, in ISO minor units (harness/twins/). */
export const SIMULATOR_CURRENCIES: PspCurrencyTable = Object.freeze({
  psp: 'simulator',
  source: 'ISO 4217 (src/money/currencies.ts): the simulator speaks ISO minor units',
  currencies: Object.freeze(Object.fromEntries(CURRENCY_CODES.map((code): [string, PspCurrencyRule] => [code, { exponent: currencyExponent(code) }]))),
});

import { PspCurrencyTable } from '../../money/psp-currency-table';
import { ADYEN_CURRENCIES } from '../adyen/adyen-currencies';

/**
 * The Stored Value API's `Amount` is Adyen's (`value` in Adyen's minor units of `currency`, the same
 * `Amount` schema as Checkout's), so its currency table is Adyen's, with the same source:
 * https://docs.adyen.com/development-resources/currency-codes/ (four rows differ from ISO 4217: CLP, ISK,
 * CVE, IDR). The card provider decides which of them a given card holds.
 */
export const ADYEN_SV_CURRENCIES: PspCurrencyTable = Object.freeze({ ...ADYEN_CURRENCIES, psp: 'adyen-stored-value' });

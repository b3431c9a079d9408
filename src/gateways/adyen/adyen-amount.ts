import { ConfirmedMoney, isoToPspAmount, pspCurrencyRule, pspToIsoAmount, readConfirmedMoney } from '../../money/psp-currency-table';
import { ADYEN_CURRENCIES } from './adyen-currencies';

/**
 * Adyen's `Amount` is an integer of Adyen's minor units, which for four currencies are not ISO 4217's
 * (CLP and ISK: 2 decimals, CVE and IDR: 0; see `adyen-currencies.ts`). Our money is always ISO minor
 * units, so this file is the one place that converts, exactly, both ways.
 */

/** Adyen's `{ value, currency }`; `value` in Adyen's minor units of `currency`. */
export interface AdyenAmount {
  value: number;
  currency: string;
}

/** Number of decimals Adyen uses for `currency`. Throws `MoneyRefusalError(currency_not_supported)`. */
export function adyenExponent(currency: string): number {
  return pspCurrencyRule(ADYEN_CURRENCIES, currency).exponent;
}

/**
 * ISO minor units (our money) → Adyen's `Amount`. Exact, integers only; throws `MoneyRefusalError`
 * (`amount_not_representable` when, say, an IDR amount has sen, or `currency_not_supported`).
 */
export function toAdyenAmount(minor: number, currency: string, field = 'payment.amount'): AdyenAmount {
  return { value: isoToPspAmount(ADYEN_CURRENCIES, minor, currency, field), currency };
}

/** Adyen's `Amount` → ISO minor units (our money). Exact, integers only; throws `MoneyRefusalError`. */
export function fromAdyenAmount(amount: AdyenAmount, field = 'amount.value'): number {
  return pspToIsoAmount(ADYEN_CURRENCIES, amount.value, amount.currency, field);
}

/** What an Adyen `amount` object confirms, in ISO minor units; never throws (unreadable: left out, counted). */
export function adyenConfirmedMoney(amount: unknown, field = 'amount'): ConfirmedMoney {
  if (typeof amount !== 'object' || amount === null) return {};
  const { value, currency } = amount as Record<string, unknown>;
  return readConfirmedMoney(ADYEN_CURRENCIES, value, currency, `${field}.value`);
}

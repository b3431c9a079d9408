import { MoneyRefusalError } from '../../errors/money-refusal-error';
import { ConfirmedMoney, isoToPspAmount, pspCurrencyRule, pspToIsoAmount, readConfirmedMoney } from '../../money/psp-currency-table';
import { STRIPE_CURRENCIES } from './stripe-currencies';

/**
 * Stripe amounts are integers in Stripe's unit of the currency, which is not always the ISO 4217 minor
 * unit (ISK and UGX in hundredths, MGA whole, three-decimal currencies in tens of thousandths; see
 * `stripe-currencies.ts`). Our money is always ISO minor units: this file is the one place that converts,
 * both ways, exactly. Stripe spells currencies in lower case.
 */

/** Stripe's lower-case currency code; refuses a currency Stripe does not list (`currency_not_supported`). */
export function stripeCurrency(currency: string, field = 'payment.currency'): string {
  pspCurrencyRule(STRIPE_CURRENCIES, currency, field);
  return currency.toLowerCase();
}

/**
 * Our integer ISO minor units as Stripe's `amount` (positive). Refused with `MoneyRefusalError`
 * (`amount_not_representable` / `currency_not_supported`, naming `field`) when Stripe cannot take it
 * exactly: a fraction of a whole MGA, ISK or UGX, a three-decimal amount not ending in 0, more digits
 * than Stripe accepts.
 */
export function toStripeAmount(minor: number, currency: string, field = 'payment.amount'): number {
  pspCurrencyRule(STRIPE_CURRENCIES, currency);
  if (!Number.isSafeInteger(minor) || minor <= 0) {
    throw new MoneyRefusalError('amount_not_representable', STRIPE_CURRENCIES.psp, field, 'must be a positive integer of minor units');
  }
  return isoToPspAmount(STRIPE_CURRENCIES, minor, currency, field);
}

/** A Stripe integer amount of `currency` (either case) back to ISO minor units; throws `MoneyRefusalError`. */
export function fromStripeAmount(value: number, currency: string, field = 'amount'): number {
  return pspToIsoAmount(STRIPE_CURRENCIES, value, currency.toUpperCase(), field);
}

/**
 * What a Stripe object confirms: its `field` amount converted to ISO minor units and its `currency`
 * upper-cased; never throws (an amount that cannot be read exactly is left out and counted).
 */
export function stripeConfirmedMoney(object: Record<string, unknown>, field: string): ConfirmedMoney {
  return readConfirmedMoney(STRIPE_CURRENCIES, object[field], object.currency, field);
}

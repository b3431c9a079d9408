import { CommandValidationError } from '../../errors/command-validation-error';
import { currencyExponent, isKnownCurrency } from '../../money/currencies';
import { MAX_MINOR_AMOUNT } from '../../money/minor-units';

/**
 * Stripe amounts are integers in the currency's smallest unit, which for the currencies we accept is the
 * ISO 4217 minor unit (JPY 0 decimals, EUR 2, KWD 3), so our integer passes through unchanged. Stripe
 * spells currencies in lower case.
 */

/** Stripe's lower-case currency code; refuses a code we do not know the exponent of. */
export function stripeCurrency(currency: string): string {
  if (!isKnownCurrency(currency)) throw new CommandValidationError('payment.currency', 'unknown currency');
  return currency.toLowerCase();
}

/**
 * Our integer minor units as Stripe's `amount`. Three-decimal currencies (KWD, BHD, JOD, OMR, TND) must
 * end in 0 at Stripe (it charges to 2 decimals), so a non-zero last digit is refused here rather than by
 * Stripe after a round trip.
 */
export function toStripeAmount(minor: number, currency: string): number {
  stripeCurrency(currency);
  if (!Number.isSafeInteger(minor) || minor <= 0 || minor > MAX_MINOR_AMOUNT) {
    throw new CommandValidationError('payment.amount', 'must be a positive integer of minor units within range');
  }
  if (currencyExponent(currency) === 3 && minor % 10 !== 0) {
    throw new CommandValidationError('payment.amount', 'Stripe charges three-decimal currencies in multiples of 10 minor units');
  }
  return minor;
}

/** A Stripe integer amount back to our minor units; undefined when the field is absent or not an integer. */
export function fromStripeAmount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

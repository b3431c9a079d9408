import { CommandValidationError } from '../../errors/command-validation-error';
import { Payment } from '../../contracts/payment-command';

/**
 * Where the Stripe ids a command needs come from. The OMS keeps one key per payment (`gateway_key`):
 * a PaymentIntent id (`pi_…`) once authorized, a PaymentMethod id (`pm_…`) before. Ids that Stripe
 * documents no other place for are read from `custom_attributes`:
 *
 * - `stripe_customer` (`cus_…`): the Customer a tokenized PaymentMethod is attached to, and the Customer
 *   of a PaymentIntent paying with a stored method.
 * - `stripe_payment_method` (`pm_…`): the method a revalidate re-authorizes. Fallbacks, in order:
 *   `payment.new_gateway_key`, then `gateway_key` when it is itself a `pm_…`.
 */

/** Ids go into URL paths: only Stripe's id alphabet passes, so a bad key cannot rewrite the path. */
const STRIPE_ID = /^[A-Za-z0-9_]{3,255}$/;

export function stripeId(value: string | undefined, field: string): string {
  if (value === undefined || !STRIPE_ID.test(value)) throw new CommandValidationError(field, 'is not a Stripe id');
  return value;
}

/** A string custom attribute, from the map form or the `[{name, value}]` / `[{key: value}]` list forms. */
export function customAttribute(payment: Payment, name: string): string | undefined {
  const attrs = payment.custom_attributes;
  if (attrs === undefined) return undefined;
  const entries = Array.isArray(attrs) ? attrs : [attrs];
  for (const entry of entries) {
    const direct = entry[name];
    if (typeof direct === 'string' && direct.length > 0) return direct;
    const value = entry.value;
    if ((entry.name === name || entry.key === name) && typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

export function stripeCustomer(payment: Payment): string | undefined {
  const customer = customAttribute(payment, 'stripe_customer');
  return customer === undefined ? undefined : stripeId(customer, 'payment.custom_attributes.stripe_customer');
}

/** The PaymentMethod a revalidate re-authorizes (see the module comment for the order). */
export function revalidatePaymentMethod(payment: Payment): string {
  const attr = customAttribute(payment, 'stripe_payment_method');
  if (attr !== undefined) return stripeId(attr, 'payment.custom_attributes.stripe_payment_method');
  if (payment.new_gateway_key !== undefined && payment.new_gateway_key.length > 0) return stripeId(payment.new_gateway_key, 'payment.new_gateway_key');
  if (payment.gateway_key.startsWith('pm_')) return stripeId(payment.gateway_key, 'payment.gateway_key');
  throw new CommandValidationError('payment.custom_attributes.stripe_payment_method', 'revalidate needs the PaymentMethod id to re-authorize');
}

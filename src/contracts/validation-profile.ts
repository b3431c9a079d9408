import { BusAmountUnits, amountWithUnitForBus } from '../money/bus-amount-text';
import type { ChannelsConfig, ValidationProfile } from '../config/channels-config';
import { DEFAULT_FREE_TEXT_FIELDS } from './free-text-fields';
import { CommandValidationError } from '../errors/command-validation-error';
import { amountBoundMiss } from '../money/amount-bounds';
import { CardDataPolicy } from './card-data-policy';
import { PaymentCommand } from './payment-command';

/**
 * Validation profiles: per channel and account, rules added on top of the base contract (required fields,
 * amount limits, currency set, command types, the card-data policy for free text). A profile never removes
 * a base rule (the schema, card data in structured fields, the reference alphabet, integer minor units
 * all still apply); what it can loosen is only where card data in free text is masked rather than refused,
 * which is what cuts false rejects. The most specific profile applies: channel and account, then channel
 * and `*`; none = the base contract and the default card-data policy.
 */

/**
 * Commands that move money: the ones `max_amount` (and the currency of per-currency limits) applies to. A
 * revalidate is a new authorization at `payment.amount`; a stored value `reload` or `issue` puts `amount` on a
 * gift card.
 */
const MONEY_COMMANDS = new Set(['authorize', 'sale', 'revalidate', 'capture', 'refund', 'reload', 'issue']);

/**
 * Commands that open a payment: the ones `min_amount` applies to. A floor is the smallest order a channel
 * may open; a partial capture or refund of a few cents of a larger payment is ordinary, so it is not held
 * to it (the ceiling still bounds those), nor is a gift card's reload or issue (a credit, not an order).
 */
const OPENING_COMMANDS = new Set(['authorize', 'sale', 'revalidate']);

/** The profile for a channel and account, or null. */
export function profileFor(channels: ChannelsConfig | undefined, channel: unknown, account: unknown): ValidationProfile | null {
  if (!channels || typeof channel !== 'string') return null;
  let wildcard: ValidationProfile | null = null;
  for (const p of channels.profiles) {
    if (p.channel !== channel) continue;
    if (typeof account === 'string' && p.account === account) return p;
    if (p.account === '*') wildcard = p;
  }
  return wildcard;
}

/** The card-data policy of a profile (or the default one). */
export function cardDataPolicyOf(channels: ChannelsConfig | undefined, profile: ValidationProfile | null): CardDataPolicy {
  const fields = channels?.freeTextFields ?? DEFAULT_FREE_TEXT_FIELDS;
  return {
    freeText: profile?.freeTextCardData ?? 'mask',
    freeTextFields: profile && profile.freeTextFields.length > 0 ? [...fields, ...profile.freeTextFields] : fields,
  };
}

function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Checks a schema-valid command against its profile's rules. Amount limits: `max_amount` bounds every
 * money-moving command (authorize, sale, capture, refund), `min_amount` only those that open a payment
 * (authorize, sale); a money-moving command in a currency per-currency limits do not name is refused.
 * @param units the unit the sender reads amounts in (`service_bus.amount_units` for the bus, else `minor`): a
 *   limit the reason quotes is told in it.
 * @throws CommandValidationError `PROFILE_REJECTED` naming the field and the rule (never the value, except
 *   the limits the configuration sets).
 */
export function checkProfile(command: PaymentCommand, profile: ValidationProfile | null, units: BusAmountUnits = 'minor'): void {
  if (!profile) return;
  const where = `(profile ${profile.channel}/${profile.account})`;
  if (profile.commands.length > 0 && !profile.commands.includes(command.command)) {
    throw new CommandValidationError('command', `is not accepted from this channel and account ${where}`, 'PROFILE_REJECTED');
  }
  for (const field of profile.requiredFields) {
    const v = valueAt(command, field);
    if (v === undefined || v === null || v === '') throw new CommandValidationError(field, `is required ${where}`, 'PROFILE_REJECTED');
  }
  const { amount, currency } = command.payment;
  if (profile.currencies.length > 0 && !profile.currencies.includes(currency)) {
    throw new CommandValidationError('payment.currency', `is not accepted from this channel and account ${where}`, 'PROFILE_REJECTED');
  }
  if (MONEY_COMMANDS.has(command.command)) {
    const miss = amountBoundMiss(profile, amount, currency);
    // A bound given per currency that names none for this one: refused, as a currency outside `currencies` is.
    if (miss?.bound === 'no_bound') {
      throw new CommandValidationError('payment.currency', `is not one the amount bounds of this channel and account name ${where}`, 'PROFILE_REJECTED');
    }
    // A floor bounds opening a payment, not a partial capture or refund of one. Under the floor is under the
    // ceiling too (the configuration refuses a floor above its ceiling), so nothing else is missed here.
    if (miss !== null && (miss.bound === 'max_amount' || OPENING_COMMANDS.has(command.command))) {
      // In the sender's unit: a major-unit bus that sent 6000.00 EUR reads "at most 5000.00 EUR", not 500000.
      const least = miss.bound === 'min_amount' ? 'at least' : 'at most';
      const reason = (u: BusAmountUnits): string => `must be ${least} ${amountWithUnitForBus(miss.limit ?? 0, currency, u, miss.key.includes('.'))} ${where}`;
      throw new CommandValidationError('payment.amount', reason(units), 'PROFILE_REJECTED', units === 'major' ? reason('minor') : undefined);
    }
  }
}

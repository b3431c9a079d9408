import { isKnownCurrency } from './currencies';
import { formatMinor } from './minor-units';

/** The unit a service bus sends and reads amounts in (`service_bus.amount_units`). */
export type BusAmountUnits = 'minor' | 'major';

/**
 * An amount of integer minor units as a refusal's text tells it to the bus: on a `minor` bus the integer as it
 * is ("1999"); on a `major` bus decimal major units formatted exactly from the integer with the currency's
 * exponent ("19.99" EUR, "1.234" KWD, "1500" JPY), by string arithmetic, never through a float. A bigint is
 * taken too (a sum of parts may pass the safe range). A currency we do not know, or a number that is no integer,
 * is told as it is: there is no exponent to place the point with.
 */
export function amountForBus(minor: number | bigint, currency: string, units: BusAmountUnits): string {
  if (units === 'minor' || !isKnownCurrency(currency) || (typeof minor === 'number' && !Number.isSafeInteger(minor))) return String(minor);
  return formatMinor(minor, currency);
}

/**
 * An amount with its unit, as a refusal's text tells it to the bus: "1999 minor units of EUR" on a `minor` bus
 * (`ofCurrency` false: "1999 minor units"), "19.99 EUR" on a `major` bus (whose amounts carry no unit of their own,
 * so the currency names it). A currency we do not know stays in minor units on either bus.
 */
export function amountWithUnitForBus(minor: number | bigint, currency: string, units: BusAmountUnits, ofCurrency = true): string {
  if (units === 'major' && isKnownCurrency(currency)) return `${amountForBus(minor, currency, units)} ${currency}`;
  return ofCurrency ? `${String(minor)} minor units of ${currency}` : `${String(minor)} minor units`;
}

/** A routing rule's amount bound the payment broke, as {@link amountBoundWhy} words it (in minor units). */
const AMOUNT_BOUND_WHY = /^amount (-?\d+) ([<>]) ((?:min|max)_amount(?:\.([A-Z]{3}))?) (-?\d+)$/;

/**
 * Why a routing rule's amount bound did not hold, in minor units, as the routing record keeps it and operators read
 * it against the configuration: "amount 1999 > max_amount.EUR 1500" (`key` is the bound's configuration key).
 */
export function amountBoundWhy(amount: number, side: '<' | '>', key: string, limit: number): string {
  return `amount ${amount} ${side} ${key} ${limit}`;
}

/**
 * A routing rule's `why` ({@link amountBoundWhy}) as a bus reads it: on a `major` bus both figures in decimal major
 * units with their currency ("amount 19.99 EUR > max_amount.EUR 15.00 EUR"; the bound's own currency when its key
 * names one, else `currency`, the payment's, which the rule compared it in). Any other `why`, and every `why` to a
 * `minor` bus, as it is.
 */
export function amountBoundWhyForBus(why: string, currency: string, units: BusAmountUnits): string {
  const m = units === 'major' ? AMOUNT_BOUND_WHY.exec(why) : null;
  if (m === null) return why;
  const [, amount, side, key, keyCurrency, limit] = m;
  const cur = keyCurrency ?? currency;
  if (!isKnownCurrency(cur)) return why;
  return `amount ${amountWithUnitForBus(BigInt(amount), cur, units)} ${side} ${key} ${amountWithUnitForBus(BigInt(limit), cur, units)}`;
}

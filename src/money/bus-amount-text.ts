import { currencyExponent, isKnownCurrency } from './currencies';

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
  const exp = currencyExponent(currency);
  const n = BigInt(minor);
  const sign = n < 0n ? '-' : '';
  const digits = (n < 0n ? -n : n).toString().padStart(exp + 1, '0');
  return exp === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -exp)}.${digits.slice(-exp)}`;
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

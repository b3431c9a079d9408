import { currencyExponent, isKnownCurrency } from '../money/currencies';
import { AmountBounds, AmountsByCurrency, CurrencyAmountBounds, boundOf, boundsPerCurrency } from '../money/amount-bounds';
import { MAX_MINOR_AMOUNT } from '../money/minor-units';

/**
 * The problem with the bounds of one rule or profile whose keys start at `prefix` (e.g.
 * `routing.rules[2].when`), as `[key, problem]`; null when no one-number bound is set or the currencies give
 * it one meaning. A bound of 0 means the same in every currency, so it may span currencies of different
 * exponents (it still needs them named: with none, a 0 floor would let every currency past a ceiling given
 * per currency). `currenciesKey` is the key the operator fills in. The problem suggests the per-currency form.
 */
export function amountBoundProblem(b: AmountBounds, prefix: string, currenciesKey: string): [string, string] | null {
  for (const [bound, value] of [
    ['min_amount', b.minAmount],
    ['max_amount', b.maxAmount],
  ] as const) {
    if (value === null) continue;
    const problem = oneNumberBoundProblem(b.currencies, bound, value, currenciesKey);
    if (problem !== null) return [`${prefix}.${bound}`, problem];
  }
  return null;
}

function oneNumberBoundProblem(currencies: readonly string[], bound: string, value: number, currenciesKey: string): string | null {
  if (currencies.length === 0)
    return `(${value}) is in minor units, which are worth a different amount in each currency (500 is 5.00 EUR, 500 JPY, 0.500 KWD), and ${currenciesKey} names none: name the currencies the bound is meant for in ${currenciesKey}, or give it per currency in each one's minor units (${bound}: { EUR: 500000, JPY: 500000 })`;
  if (value === 0) return null;
  const byExponent = new Map<number, string[]>();
  for (const code of currencies) {
    const e = currencyExponent(code);
    byExponent.set(e, [...(byExponent.get(e) ?? []), code]);
  }
  if (byExponent.size === 1) return null;
  const mix = [...byExponent.entries()]
    .sort(([a], [z]) => a - z)
    .map(([e, codes]) => `${codes.join(',')}: ${e} decimals`)
    .join('; ');
  return `(${value}) is in minor units, and ${currenciesKey} mixes currencies whose minor units differ (${mix}), so the bound means a different amount in each: name only currencies with the same number of decimals (one rule per group), or give the bound per currency in each one's minor units (${bound}: { EUR: 500000, JPY: 500000, KWD: 150000 })`;
}

/**
 * Schema of a bound key that takes either form: one number of minor units (currencies of one exponent), or
 * one per ISO 4217 code, each in its own minor units. `minimum` and `maximum` apply to the number,
 * `additionalProperties` to the map (codes are checked with the cross-field rules, `perCurrencyBoundProblems`,
 * which say which is wrong in fewer words than the 180-code enum would).
 */
export const minorOrPerCurrencySchema = {
  type: ['integer', 'object'],
  minimum: 0,
  maximum: MAX_MINOR_AMOUNT,
  additionalProperties: { type: 'integer', minimum: 0, maximum: MAX_MINOR_AMOUNT },
} as const;

/** A bound key's per-currency form as read from validated parameters; null for the one-number form or none. */
export function perCurrencyBound(v: unknown): AmountsByCurrency | null {
  return typeof v === 'object' && v !== null ? (v as Record<string, number>) : null;
}

/** The currencies a bound names: every listed currency for the one-number form, the keys of a map. */
function boundedCurrencies(b: CurrencyAmountBounds): Set<string> {
  const out = new Set<string>();
  if (b.minAmount !== null || b.maxAmount !== null) for (const c of b.currencies) out.add(c);
  for (const m of [b.minAmountByCurrency, b.maxAmountByCurrency]) if (m) for (const c of Object.keys(m)) out.add(c);
  return out;
}

/**
 * The problems of per-currency bounds whose keys start at `prefix` (`routing.rules[2].when`), as
 * `[key, problem]`: a map naming no currency, a code that is not ISO 4217, a currency outside
 * `currenciesKey` when that lists any, a listed currency no bound names (it could never match), a floor above
 * the ceiling of the same currency. Empty when no side is per currency (see `amountBoundProblem`). Values
 * (integers, 0 or more) are the schema's.
 */
export function perCurrencyBoundProblems(b: CurrencyAmountBounds, prefix: string, currenciesKey: string): Array<[string, string]> {
  if (!boundsPerCurrency(b)) return [];
  const out: Array<[string, string]> = [];
  const listed = new Set(b.currencies);
  for (const [side, map] of [
    ['min_amount', b.minAmountByCurrency],
    ['max_amount', b.maxAmountByCurrency],
  ] as const) {
    if (map === null) continue;
    const codes = Object.keys(map);
    if (codes.length === 0)
      out.push([`${prefix}.${side}`, 'names no currency: give each currency its bound in its own minor units ({ EUR: 500000, JPY: 500000 }), or remove it']);
    for (const code of codes) {
      const key = `${prefix}.${side}.${code}`;
      if (!isKnownCurrency(code)) out.push([key, `"${code}" is not an ISO 4217 currency code (three capital letters, e.g. EUR)`]);
      else if (listed.size > 0 && !listed.has(code))
        out.push([key, `${code} is not in ${currenciesKey} [${b.currencies.join(',')}], so this bound never applies: add ${code} there or remove the bound`]);
    }
  }
  if (listed.size > 0) {
    const bounded = boundedCurrencies(b);
    const unbounded = b.currencies.filter((c) => !bounded.has(c));
    if (unbounded.length > 0)
      out.push([
        currenciesKey,
        `names ${unbounded.join(',')}, which no min_amount / max_amount bound names: a bound given per currency leaves out the currencies it does not name, so this could never match them; give each its bound (min_amount 0: no floor) or remove it`,
      ]);
  }
  for (const code of boundedCurrencies(b)) {
    const lo = b.minAmount ?? boundOf(b.minAmountByCurrency, code);
    const hi = b.maxAmount ?? boundOf(b.maxAmountByCurrency, code);
    if (lo === null || hi === null || lo <= hi) continue;
    const minKey = b.minAmount !== null ? `${prefix}.min_amount` : `${prefix}.min_amount.${code}`;
    const maxName = b.maxAmount !== null ? 'max_amount' : `max_amount.${code}`;
    out.push([minKey, `(${lo}) must not exceed ${maxName} (${hi}) for ${code}`]);
  }
  return out;
}

/**
 * For limits that must hold for every currency they let through (validation profiles), the problems of a
 * per-currency side that leaves out a currency the other side bounds, as `[key, problem]` naming the missing
 * key: `min_amount: { EUR: 100 }, max_amount: { EUR: 10000, JPY: 50000 }` gives JPY a ceiling and no floor,
 * which reads as an oversight rather than a choice (0 says "no floor"). A one-number side bounds every
 * listed currency. Routing rules do not use this: there, a floor and a ceiling naming different currencies
 * is a documented way to match.
 */
export function unpairedBoundProblems(b: CurrencyAmountBounds, prefix: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const sides = [
    { side: 'min_amount', one: b.minAmount, map: b.minAmountByCurrency, fill: '0: no floor' },
    { side: 'max_amount', one: b.maxAmount, map: b.maxAmountByCurrency, fill: `up to ${MAX_MINOR_AMOUNT}: the largest amount accepted` },
  ] as const;
  for (const [mine, other] of [
    [sides[0], sides[1]],
    [sides[1], sides[0]],
  ] as const) {
    if (mine.map === null) continue;
    const otherCodes = other.map !== null ? Object.keys(other.map) : other.one !== null ? b.currencies : [];
    for (const code of otherCodes) {
      if (!isKnownCurrency(code) || boundOf(mine.map, code) !== null) continue;
      const given = other.map !== null ? `${other.side}.${code} is given` : `${other.side} (${other.one}) applies to ${code}`;
      out.push([
        `${prefix}.${mine.side}.${code}`,
        `is missing while ${given}: ${code} would be bounded on one side only; give ${mine.side}.${code} (${mine.fill}) or drop ${code} from ${other.side}`,
      ]);
    }
  }
  return out;
}

export type { AmountBounds, AmountsByCurrency, CurrencyAmountBounds };

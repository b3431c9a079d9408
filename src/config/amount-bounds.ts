import { currencyExponent } from '../money/currencies';

/**
 * An amount bound (`min_amount` / `max_amount`) is a count of minor units, and a minor unit is worth a
 * different amount in each currency: `500` is 5.00 EUR, 500 JPY and 0.500 KWD. A bound therefore only
 * means one thing when the currencies it applies to are named and share one minor-unit exponent; caps say
 * so by taking exactly one `currency` per rule. Currencies with the same exponent (EUR, USD, GBP) share a
 * scale, so one bound over them is the operator's explicit choice.
 */
export interface AmountBounds {
  /** Smallest amount, minor units; null: no floor. */
  readonly minAmount: number | null;
  /** Largest amount, minor units; null: no ceiling. */
  readonly maxAmount: number | null;
  /** ISO 4217 codes the bound applies to; empty: every currency. */
  readonly currencies: readonly string[];
}

/**
 * The problem with the bounds of one rule or profile whose keys start at `prefix` (e.g.
 * `routing.rules[2].when`), as `[key, problem]`; null when no bound is set or the currencies give it one
 * meaning. `currenciesKey` is the key the operator fills in.
 */
export function amountBoundProblem(b: AmountBounds, prefix: string, currenciesKey: string): [string, string] | null {
  const bound = b.minAmount !== null ? 'min_amount' : b.maxAmount !== null ? 'max_amount' : null;
  if (bound === null) return null;
  const value = bound === 'min_amount' ? b.minAmount : b.maxAmount;
  const key = `${prefix}.${bound}`;
  if (b.currencies.length === 0)
    return [
      key,
      `(${value}) is in minor units, which are worth a different amount in each currency (500 is 5.00 EUR, 500 JPY, 0.500 KWD), and ${currenciesKey} names none: name the currencies the bound is meant for in ${currenciesKey}`,
    ];
  const byExponent = new Map<number, string[]>();
  for (const code of b.currencies) {
    const e = currencyExponent(code);
    byExponent.set(e, [...(byExponent.get(e) ?? []), code]);
  }
  if (byExponent.size === 1) return null;
  const mix = [...byExponent.entries()]
    .sort(([a], [z]) => a - z)
    .map(([e, codes]) => `${codes.join(',')}: ${e} decimals`)
    .join('; ');
  return [
    key,
    `(${value}) is in minor units, and ${currenciesKey} mixes currencies whose minor units differ (${mix}), so the bound means a different amount in each: name only currencies with the same number of decimals (one rule per group)`,
  ];
}

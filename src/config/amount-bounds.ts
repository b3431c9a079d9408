import { currencyExponent, isKnownCurrency } from '../money/currencies';

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
 * meaning. `currenciesKey` is the key the operator fills in; `perCurrency`: the key also takes the
 * per-currency form, which the problem then suggests.
 */
export function amountBoundProblem(b: AmountBounds, prefix: string, currenciesKey: string, perCurrency = false): [string, string] | null {
  const bound = b.minAmount !== null ? 'min_amount' : b.maxAmount !== null ? 'max_amount' : null;
  if (bound === null) return null;
  const value = bound === 'min_amount' ? b.minAmount : b.maxAmount;
  const key = `${prefix}.${bound}`;
  if (b.currencies.length === 0)
    return [
      key,
      `(${value}) is in minor units, which are worth a different amount in each currency (500 is 5.00 EUR, 500 JPY, 0.500 KWD), and ${currenciesKey} names none: name the currencies the bound is meant for in ${currenciesKey}${perCurrency ? `, or give it per currency in each one's minor units (${bound}: { EUR: 500000, JPY: 500000 })` : ''}`,
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
    `(${value}) is in minor units, and ${currenciesKey} mixes currencies whose minor units differ (${mix}), so the bound means a different amount in each: name only currencies with the same number of decimals (one rule per group)${perCurrency ? `, or give the bound per currency in each one's minor units (${bound}: { EUR: 500000, JPY: 500000, KWD: 150000 })` : ''}`,
  ];
}

/** Amounts per ISO 4217 code, each an integer count of that currency's minor units. */
export type AmountsByCurrency = Readonly<Record<string, number>>;

/**
 * Bounds that may be given per currency: `min_amount: { EUR: 500000, JPY: 500000, KWD: 150000 }`, each in
 * its own currency's minor units, so one rule can bound currencies of different exponents. A side is either
 * one number (`minAmount`, for `currencies` of one exponent) or a map (`minAmountByCurrency`), never both.
 */
export interface CurrencyAmountBounds extends AmountBounds {
  /** Smallest amount per currency, minor units of each; null: not the per-currency form. */
  readonly minAmountByCurrency: AmountsByCurrency | null;
  /** Largest amount per currency, minor units of each; null: not the per-currency form. */
  readonly maxAmountByCurrency: AmountsByCurrency | null;
}

/** The bound of `code` in `m`; null when `m` names none (own keys only: a code is never `constructor`). */
const at = (m: AmountsByCurrency | null, code: string): number | null => (m !== null && Object.prototype.hasOwnProperty.call(m, code) ? m[code] : null);

/** Whether any side of `b` is given per currency. */
export function boundsPerCurrency(b: CurrencyAmountBounds): boolean {
  return b.minAmountByCurrency !== null || b.maxAmountByCurrency !== null;
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
    const lo = b.minAmount ?? at(b.minAmountByCurrency, code);
    const hi = b.maxAmount ?? at(b.maxAmountByCurrency, code);
    if (lo === null || hi === null || lo <= hi) continue;
    const minKey = b.minAmount !== null ? `${prefix}.min_amount` : `${prefix}.min_amount.${code}`;
    const maxName = b.maxAmount !== null ? 'max_amount' : `max_amount.${code}`;
    out.push([minKey, `(${lo}) must not exceed ${maxName} (${hi}) for ${code}`]);
  }
  return out;
}

/** Which bound an amount broke: its side, the currency of the bound, and the bound (minor units; null for `no_bound`). */
export interface AmountBoundMiss {
  /** `no_bound`: the bounds are given per currency and name none for this one. */
  readonly bound: 'min_amount' | 'max_amount' | 'no_bound';
  readonly currency: string;
  readonly limit: number | null;
  /** The bound's key: `max_amount.EUR`, `max_amount` for the one-number form, `no_bound.JPY`. */
  readonly key: string;
}

/**
 * Whether `amount` (minor units of `currency`) is within `b`: null when it is, else the bound it broke. A
 * currency that per-currency bounds do not name is outside them (`no_bound`): a bound written in EUR cents
 * says nothing about a JPY amount, so the rule does not apply to it (the command goes on to the next rule).
 * The currency itself is checked by the caller (`currencies`).
 */
export function amountBoundMiss(b: CurrencyAmountBounds, amount: number, currency: string): AmountBoundMiss | null {
  const lo = b.minAmount ?? at(b.minAmountByCurrency, currency);
  const hi = b.maxAmount ?? at(b.maxAmountByCurrency, currency);
  // Neither a one-number side nor a map naming this currency: per-currency bounds that leave it out.
  if (lo === null && hi === null && boundsPerCurrency(b)) return { bound: 'no_bound', currency, limit: null, key: `no_bound.${currency}` };
  if (lo !== null && amount < lo) return { bound: 'min_amount', currency, limit: lo, key: b.minAmount !== null ? 'min_amount' : `min_amount.${currency}` };
  if (hi !== null && amount > hi) return { bound: 'max_amount', currency, limit: hi, key: b.maxAmount !== null ? 'max_amount' : `max_amount.${currency}` };
  return null;
}

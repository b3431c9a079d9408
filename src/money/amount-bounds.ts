/*
 * Amount bounds (`min_amount` / `max_amount` of routing rules and validation profiles) as the decisions read
 * them: one number of minor units, or one per currency. Their configuration checks are in
 * src/config/amount-bounds.ts.
 */

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
export function boundOf(m: AmountsByCurrency | null, code: string): number | null {
  return m !== null && Object.prototype.hasOwnProperty.call(m, code) ? m[code] : null;
}

/** Whether any side of `b` is given per currency. */
export function boundsPerCurrency(b: CurrencyAmountBounds): boolean {
  return b.minAmountByCurrency !== null || b.maxAmountByCurrency !== null;
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
  const lo = b.minAmount ?? boundOf(b.minAmountByCurrency, currency);
  const hi = b.maxAmount ?? boundOf(b.maxAmountByCurrency, currency);
  // Neither a one-number side nor a map naming this currency: per-currency bounds that leave it out.
  if (lo === null && hi === null && boundsPerCurrency(b)) return { bound: 'no_bound', currency, limit: null, key: `no_bound.${currency}` };
  if (lo !== null && amount < lo) return { bound: 'min_amount', currency, limit: lo, key: b.minAmount !== null ? 'min_amount' : `min_amount.${currency}` };
  if (hi !== null && amount > hi) return { bound: 'max_amount', currency, limit: hi, key: b.maxAmount !== null ? 'max_amount' : `max_amount.${currency}` };
  return null;
}

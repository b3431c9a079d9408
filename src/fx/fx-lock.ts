import type { FxConfig } from '../config/limits-config';
import { convertMinor, convertMinorDown, formatRate, invertRate, parseRate } from './exact-rate';
import { RateQuote } from './rate-book';

/**
 * A conversion locked with an operation: the rate (exact text: a decimal or `num/den`), its source, when it
 * was quoted, and both amounts. Captures and refunds of the operation convert at this same rate.
 */
export interface FxLock {
  /** Units of `to.currency` per unit of `from.currency`, exact. */
  rate: string;
  source: string;
  /** When the rate was quoted, ISO 8601. */
  at: string;
  from: { amount: number; currency: string };
  to: { amount: number; currency: string };
  /**
   * The gateway's step of `to.currency` in ISO minor units (`isoAmountStep`): the converted amounts are
   * rounded to multiples of it, so the gateway takes them. Absent: 1 (the ISO minor unit).
   */
  step?: number;
}

/** The currency a gateway (and account) settles in for an order currency: null when no conversion is needed. */
export function settlementCurrency(config: FxConfig, gateway: string, account: string, currency: string): string | null {
  const list = config.settlementCurrencies[`${gateway}:${account}`] ?? config.settlementCurrencies[gateway];
  if (!list || list.length === 0 || list.includes(currency)) return null;
  return list[0];
}

/**
 * The lock of converting `amount` of `from` into `to` at `quote`. Exact, half-even to a multiple of `step`
 * minor units of `to` (the gateway's step, `isoAmountStep`; 1: at `to`'s ISO exponent).
 */
export function lockAt(quote: RateQuote, amount: number, from: string, to: string, step = 1): FxLock {
  return {
    rate: formatRate(quote.rate),
    source: quote.source,
    at: new Date(quote.at).toISOString(),
    from: { amount, currency: from },
    to: { amount: convertMinor(amount, from, to, quote.rate, step), currency: to },
    ...(step > 1 ? { step } : {}),
  };
}

/** `amount` of the lock's order currency at the locked rate and step (a capture or refund of a converted payment). */
export function atLockedRate(lock: FxLock, amount: number): number {
  return convertMinor(amount, lock.from.currency, lock.to.currency, parseRate(lock.rate), lock.step ?? 1);
}

/**
 * What the earlier parts of a converted payment took (captures of one authorization, or refunds of one
 * payment, not failed): the running total in the order's currency, and what they were sent for.
 */
export interface PartsBefore {
  /** Minor units of the lock's order currency (`from.currency`). */
  amount: number;
  /**
   * What the PSP was asked for them, minor units of the lock's converted currency (`to.currency`); absent when
   * not on record for every one of them: then taken to be the conversion of `amount`.
   */
  converted?: number;
  /**
   * What the parts may give back at most, in the converted currency, with the order-currency total it stands for
   * (refunds: what the captures, or the sale, took of the shopper in the PSP's currency, and their amount in the
   * order's). A part is sent for no more than is left of `most` after what the parts before it were sent for, and
   * a part that brings the running total to `of` for exactly that rest: captures sent after one that failed may
   * have taken a step more or less than the conversion of their total. Absent: no bound (captures, or not known).
   */
  ceiling?: { most: number; of: number };
}

/**
 * What `amount` of the order's currency adds, at the locked rate and step, to `before` already taken by
 * earlier operations of its kind (captures of one authorization, or refunds of one payment): the conversion
 * of the running total less what the earlier parts were sent for, `f(before + amount) − converted`, so the
 * parts sent always add up to the conversion of their order-currency total. Rounding each part on its own
 * drifts: USD 0.33 + 0.33 + 0.34 at 150.3 JPY/USD would be ¥50 + ¥50 + ¥51 = ¥151 of an authorization of
 * ¥150 (its last capture refused), and USD 50.00 + 73.45 at 0.9137 gave EUR 45.68 + 67.11, a cent short of the
 * EUR 112.80 sold. Subtracting `f(before)` instead of what was sent drifts once an earlier part fails: its
 * successors were converted on a running total that counted it (USD 0.06, then 0.06 sent as EUR 0.06 with
 * the first counted, which then failed; the rest, USD 123.39, as f(123.45) − f(0.06) = EUR 112.75: EUR 112.81
 * of the EUR 112.80 held). With what was sent, a failed part's share goes to the next one, and since every
 * part is positive, the parts still standing never add up to more than the conversion of the last running
 * total, however the earlier ones end. Without failures, `converted` is `f(before)` (differences of one
 * rounding telescope) and each part stays within one step of its own exact conversion; after one, a part
 * also takes up the failed part's rounding. The result may be 0 or less for a small amount after drift:
 * the caller refuses it, never sends it.
 */
export function atLockedRateAfter(lock: FxLock, amount: number, before: number | PartsBefore): number {
  const { amount: taken, converted, ceiling } = typeof before === 'number' ? { amount: before, converted: undefined, ceiling: undefined } : before;
  const first = taken <= 0 && (converted ?? 0) === 0;
  const sentBefore = first ? 0 : (converted ?? atLockedRate(lock, taken));
  const part = first ? atLockedRate(lock, amount) : atLockedRate(lock, taken + amount) - sentBefore;
  if (ceiling === undefined) return part;
  // A refund gives back what was taken in the PSP's currency: never more, and all of it when the whole is refunded.
  const left = ceiling.most - sentBefore;
  return taken + amount >= ceiling.of ? left : Math.min(part, left);
}

/**
 * The most of the lock's order currency (`from.currency`, minor units) that the PSP's `held` amount of the
 * converted currency (`to.currency`, minor units; a partial approval's confirmed amount) covers: the largest
 * `a` whose conversion at the locked rate and step, `atLockedRate(lock, a)`, is at most `held`. Parts
 * converted one after the other with `atLockedRateAfter` telescope to `atLockedRate` of their sum, so
 * captures adding up to at most `a` are sent for at most `held` in all, and a capture of `a + 1` would be sent
 * for more than the PSP holds. Exact: `held` converted back and rounded down (`a × rate ≤ held`, rounded down
 * to the step) is a lower bound; half-even rounding may carry a few more units to no more than `held` (USD
 * 61.73 at 0.9137 is EUR 56.40: the PSP's EUR 56.40 covers it), found by a search over that short range
 * (`atLockedRate` never decreases).
 */
export function orderAmountWithin(lock: FxLock, held: number): number {
  const step = lock.step ?? 1;
  const back = invertRate(parseRate(lock.rate));
  const heldSteps = held - (held % step);
  let low = convertMinorDown(heldSteps, lock.to.currency, lock.from.currency, back);
  // What one step (and the part of `held` below it) is worth in the order's currency, plus two: rounding to
  // the nearest step moves a conversion by at most half a step, so no covered amount lies beyond.
  let high = low + convertMinorDown(step + (held - heldSteps), lock.to.currency, lock.from.currency, back) + 2;
  while (low < high) {
    const mid = low + Math.ceil((high - low) / 2);
    if (atLockedRate(lock, mid) <= held) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** The decision details (flat, JSON-safe) that carry a lock, and back. */
export function lockDetails(lock: FxLock): Record<string, string | number> {
  return {
    fx_rate: lock.rate,
    fx_source: lock.source,
    fx_rate_at: lock.at,
    from_amount: lock.from.amount,
    from_currency: lock.from.currency,
    to_amount: lock.to.amount,
    to_currency: lock.to.currency,
    ...(lock.step !== undefined ? { to_step: lock.step } : {}),
  };
}

export function lockFromDetails(d: Record<string, unknown> | undefined): FxLock | null {
  if (!d || typeof d.fx_rate !== 'string') return null;
  const { fx_rate, fx_source, fx_rate_at, from_amount, from_currency, to_amount, to_currency, to_step } = d;
  if (typeof from_amount !== 'number' || typeof to_amount !== 'number' || typeof from_currency !== 'string' || typeof to_currency !== 'string') return null;
  return {
    rate: fx_rate,
    source: String(fx_source),
    at: String(fx_rate_at),
    from: { amount: from_amount, currency: from_currency },
    to: { amount: to_amount, currency: to_currency },
    ...(typeof to_step === 'number' && Number.isSafeInteger(to_step) && to_step > 1 ? { step: to_step } : {}),
  };
}

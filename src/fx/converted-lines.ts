import type { PaymentLine } from '../contracts/payment-command';
import { currencyExponent } from '../money/currencies';
import { ExactRate, roundHalfEven } from './exact-rate';

/** One side of a conversion: an amount in minor units of a currency. */
export interface Money {
  amount: number;
  currency: string;
}

/**
 * The lines of a converted payment, in the currency the payment was converted into, or null when they
 * cannot be converted so that they still add up as they did (the caller then sends no lines: lines in the
 * order's currency beside a converted amount would tell the PSP another sum).
 *
 * - `refund_amount`: the refund lines add up to the payment's amount (the validator insists), so their
 *   exact conversions are rounded by largest remainder to add up to exactly `to.amount`.
 * - `unit_price_gross`: when the lines' totals (price × quantity) add up to the amount, the totals are
 *   shared out the same way and each divided by its quantity again (null if that leaves a fraction of the
 *   step); otherwise there is no sum to keep and each unit price is converted on its own.
 * - `tax_amount`: converted on its own (it is part of the gross, not of the sum).
 *
 * Every figure is a multiple of `step` (the gateway's smallest amount, as the payment's own conversion).
 * Exact: BigInt, half-even for the ones converted on their own.
 */
export function convertLines(lines: readonly PaymentLine[], from: Money, to: Money, rate: ExactRate, step = 1): PaymentLine[] | null {
  const exact = exactShare(from.currency, to.currency, rate, step);
  const out = lines.map((line) => ({ ...line }));

  const refunds = lines.flatMap((l, i) => (l.refund_amount !== undefined ? [i] : []));
  if (refunds.length > 0) {
    const shared = shareOut(
      refunds.map((i) => lines[i].refund_amount ?? 0),
      from.amount,
      to.amount,
      exact,
      step,
    );
    if (!shared) return null;
    refunds.forEach((i, k) => (out[i].refund_amount = shared[k]));
  }

  const priced = lines.flatMap((l, i) => (l.unit_price_gross !== undefined ? [i] : []));
  if (priced.length > 0) {
    const quantity = (i: number) => lines[i].quantity ?? 1;
    if (!priced.every((i) => Number.isSafeInteger(quantity(i)) && quantity(i) > 0)) return null;
    const totals = priced.map((i) => (lines[i].unit_price_gross ?? 0) * quantity(i));
    if (totals.reduce((a, b) => a + b, 0) === from.amount) {
      const shared = shareOut(totals, from.amount, to.amount, exact, step);
      if (!shared) return null;
      for (const [k, i] of priced.entries()) {
        if (shared[k] % (quantity(i) * step) !== 0) return null;
        out[i].unit_price_gross = shared[k] / quantity(i);
      }
    } else {
      for (const i of priced) out[i].unit_price_gross = rounded(lines[i].unit_price_gross ?? 0, exact, step);
    }
  }

  for (const [i, line] of lines.entries()) if (line.tax_amount !== undefined) out[i].tax_amount = rounded(line.tax_amount, exact, step);
  return out;
}

/** `value` (minor units of the source) in steps of the target, as the exact fraction `num / den`. */
type Share = (value: number) => { num: bigint; den: bigint };

function exactShare(from: string, to: string, rate: ExactRate, step: number): Share {
  const shift = currencyExponent(to) - currencyExponent(from);
  const scale = shift > 0 ? 10n ** BigInt(shift) : 1n;
  const den = rate.den * (shift < 0 ? 10n ** BigInt(-shift) : 1n) * BigInt(step);
  return (value) => ({ num: BigInt(value) * rate.num * scale, den });
}

function rounded(value: number, exact: Share, step: number): number {
  const { num, den } = exact(value);
  return Number(roundHalfEven(num, den)) * step;
}

/**
 * `values` (adding up to `fromTotal`) converted so they add up to exactly `toTotal`: each one's exact share
 * rounded down to a step, then the steps left over go one each to the largest remainders (the earlier line
 * on a tie). Null when the values do not add up, or `toTotal` is not a whole number of steps or not the
 * rounding of their exact sum (then no sharing out keeps every line within a step of its share).
 */
function shareOut(values: readonly number[], fromTotal: number, toTotal: number, exact: Share, step: number): number[] | null {
  if (values.some((v) => !Number.isSafeInteger(v) || v < 0)) return null;
  if (values.reduce((a, b) => a + b, 0) !== fromTotal || toTotal % step !== 0) return null;
  const shares = values.map((v) => exact(v));
  const floors = shares.map((s) => s.num / s.den);
  let left = BigInt(toTotal / step) - floors.reduce((a, b) => a + b, 0n);
  if (left < 0n || left > BigInt(values.length)) return null;
  // Every share has the same denominator, so remainders compare as they are.
  const order = shares.map((s, i) => ({ i, rem: s.num % s.den })).sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem < b.rem ? 1 : -1));
  for (const { i } of order) {
    if (left === 0n) break;
    floors[i] += 1n;
    left -= 1n;
  }
  return floors.map((f) => Number(f) * step);
}

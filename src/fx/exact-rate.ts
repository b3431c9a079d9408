import { currencyExponent } from '../money/currencies';
import { MAX_MINOR_AMOUNT, withoutTrailingZeros } from '../money/minor-units';

/**
 * An exchange rate as an exact fraction: units of the target currency per one unit of the source currency
 * (major units, as PSPs and rate feeds quote them). Never a float: a rate such as 0.1 has no exact binary
 * form, and money converted with one would drift by a unit now and then.
 */
export interface ExactRate {
  /** Numerator, > 0. */
  readonly num: bigint;
  /** Denominator, > 0. */
  readonly den: bigint;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;
const FRACTION = /^(\d+)\/(\d+)$/;

/**
 * Reads a rate written as a plain decimal (`"0.912"`, `"1"`, `"151.2345"`) or a fraction (`"1000/1093"`),
 * exactly. Refuses zero, negatives, exponents and anything else (a rate is never guessed).
 */
export function parseRate(text: string): ExactRate {
  const t = text.trim();
  const d = DECIMAL.exec(t);
  if (d) {
    const fraction = d[2] ?? '';
    const rate = reduce(BigInt(d[1] + fraction), 10n ** BigInt(fraction.length));
    if (rate.num === 0n) throw new RangeError(`exchange rate must be positive: ${JSON.stringify(text)}`);
    return rate;
  }
  const f = FRACTION.exec(t);
  if (f) {
    const num = BigInt(f[1]);
    const den = BigInt(f[2]);
    if (num === 0n || den === 0n) throw new RangeError(`exchange rate must be positive: ${JSON.stringify(text)}`);
    return reduce(num, den);
  }
  throw new RangeError(`not an exact exchange rate (decimal or fraction): ${JSON.stringify(text)}`);
}

/**
 * The rate as text that `parseRate` reads back to the same value: a plain decimal when the denominator is a
 * product of 2s and 5s (every decimal quote), else `num/den` (an inverted rate such as 1/0.912).
 */
export function formatRate(rate: ExactRate): string {
  const { num, den } = reduce(rate.num, rate.den);
  let twos = 0n;
  let fives = 0n;
  let rest = den;
  while (rest % 2n === 0n) {
    rest /= 2n;
    twos++;
  }
  while (rest % 5n === 0n) {
    rest /= 5n;
    fives++;
  }
  if (rest !== 1n) return `${num}/${den}`;
  const places = twos > fives ? twos : fives;
  const scaled = (num * 10n ** places) / den; // exact: den divides 10^places
  if (places === 0n) return String(scaled);
  const digits = String(scaled).padStart(Number(places) + 1, '0');
  const whole = digits.slice(0, digits.length - Number(places));
  const frac = withoutTrailingZeros(digits.slice(digits.length - Number(places)));
  return frac ? `${whole}.${frac}` : whole;
}

/** The rate the other way round (target → source), exactly. */
export function invertRate(rate: ExactRate): ExactRate {
  return reduce(rate.den, rate.num);
}

/**
 * `num / den` rounded to the nearest integer, ties to the even neighbour (banker's rounding: over many
 * conversions the ties cancel out instead of all going one way). Exact, any sign; `den` must not be 0.
 */
export function roundHalfEven(num: bigint, den: bigint): bigint {
  if (den === 0n) throw new RangeError('division by zero');
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const negative = num < 0n;
  const n = negative ? -num : num;
  let q = n / den;
  const twiceR = (n % den) * 2n;
  if (twiceR > den || (twiceR === den && q % 2n === 1n)) q += 1n;
  return negative ? -q : q;
}

/**
 * Converts an integer amount of `from` minor units into `to` minor units at `rate` (units of `to` per unit
 * of `from`), rounded half-even to a multiple of `step` minor units of `to`: 1 rounds at the target's ISO
 * 4217 exponent (JPY 0, EUR 2, KWD 3); a gateway's coarser step (whole IDR at Adyen, KWD in tens of fils
 * at Stripe) rounds to what that gateway takes, so the converted amount is never refused as unrepresentable.
 * Exact BigInt arithmetic: `amount × rate × 10^(exp(to) − exp(from))`, one rounding at the end.
 * Throws on a non-integer amount or step, or a result outside the safe range of minor amounts.
 */
export function convertMinor(amount: number, from: string, to: string, rate: ExactRate, step = 1): number {
  if (!Number.isSafeInteger(amount)) throw new RangeError('amount must be an integer of minor units');
  if (!Number.isSafeInteger(step) || step < 1) throw new RangeError('step must be a positive integer of minor units');
  const shift = currencyExponent(to) - currencyExponent(from);
  const num = BigInt(amount) * rate.num * (shift > 0 ? 10n ** BigInt(shift) : 1n);
  const den = rate.den * (shift < 0 ? 10n ** BigInt(-shift) : 1n);
  const out = roundHalfEven(num, den * BigInt(step)) * BigInt(step);
  if (out > BigInt(MAX_MINOR_AMOUNT) || out < -BigInt(MAX_MINOR_AMOUNT)) throw new RangeError('converted amount out of range');
  return Number(out);
}

/**
 * Converts an integer amount of `from` minor units into `to` minor units at `rate`, rounded toward zero to a
 * multiple of `step` minor units of `to`: the largest such amount whose exact value is no more than
 * `amount × rate` (for a positive amount). Used where the result must never exceed what the other side
 * holds (what is left of a partially approved converted authorization, in the order's currency), which a
 * half-even rounding up by half a unit would. Same exact BigInt arithmetic as `convertMinor`.
 * Throws on a non-integer amount or step, or a result outside the safe range of minor amounts.
 */
export function convertMinorDown(amount: number, from: string, to: string, rate: ExactRate, step = 1): number {
  if (!Number.isSafeInteger(amount)) throw new RangeError('amount must be an integer of minor units');
  if (!Number.isSafeInteger(step) || step < 1) throw new RangeError('step must be a positive integer of minor units');
  const shift = currencyExponent(to) - currencyExponent(from);
  const num = BigInt(amount) * rate.num * (shift > 0 ? 10n ** BigInt(shift) : 1n);
  const den = rate.den * (shift < 0 ? 10n ** BigInt(-shift) : 1n);
  // BigInt division truncates toward zero.
  const out = (num / (den * BigInt(step))) * BigInt(step);
  if (out > BigInt(MAX_MINOR_AMOUNT) || out < -BigInt(MAX_MINOR_AMOUNT)) throw new RangeError('converted amount out of range');
  return Number(out);
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

function reduce(num: bigint, den: bigint): ExactRate {
  const g = gcd(num, den);
  return g === 0n || g === 1n ? { num, den } : { num: num / g, den: den / g };
}

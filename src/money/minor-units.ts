import { currencyExponent } from './currencies';

/** Largest amount we accept, in minor units: below 2^53 so no integer arithmetic ever loses a unit. */
export const MAX_MINOR_AMOUNT = 999_999_999_999_99;

/**
 * Converts an integer amount in major units (a bus configured with `amount_units: major`) to minor units.
 * Integer arithmetic only; throws if the result leaves the safe range.
 */
export function majorToMinor(major: number, currency: string): number {
  if (!Number.isSafeInteger(major)) throw new RangeError('amount must be an integer');
  const minor = major * 10 ** currencyExponent(currency);
  if (!Number.isSafeInteger(minor) || Math.abs(minor) > MAX_MINOR_AMOUNT) throw new RangeError('amount out of range');
  return minor;
}

/**
 * A decimal amount in major units, as the MIB payment specification types its amounts (a JSON number such as
 * `12.99`), in integer minor units, exactly: read from the number's shortest decimal form (`String(12.99)` is
 * "12.99"), never multiplied as a float (12.99 × 100 is 1298.9999…). Throws a RangeError when the number has
 * more decimals than the currency (nothing is rounded) or leaves the safe range.
 */
export function decimalMajorToMinor(major: number, currency: string): number {
  if (!Number.isFinite(major)) throw new RangeError('amount must be a finite number');
  if (Number.isSafeInteger(major)) return majorToMinor(major, currency);
  // A number past 1e21, or below 1e-6, prints with an exponent: too large, or more decimals than any currency has.
  const text = String(major);
  if (/e/i.test(text)) throw new RangeError(Math.abs(major) >= 1 ? 'amount out of range' : `${currency} has ${currencyExponent(currency)} decimals`);
  const minor = parseMajor(text, currency);
  if (Math.abs(minor) > MAX_MINOR_AMOUNT) throw new RangeError('amount out of range');
  return minor;
}

/** "2 decimals", "1 decimal", "no decimals": what a currency's exponent allows, for a refusal's reason. */
export function currencyDecimalsText(currency: string): string {
  const exp = currencyExponent(currency);
  return exp === 0 ? 'no decimals' : `${exp} decimal${exp === 1 ? '' : 's'}`;
}

/**
 * Integer minor units as a decimal number of major units (1999 USD → 19.99, 1500 JPY → 1500, 1234 KWD → 1.234),
 * for a bus that reads amounts as the MIB payment specification types them (floats). Exact: the number is read
 * from the exact decimal text, so it serialises to JSON as that text ("19.99").
 */
export function minorToDecimalMajor(minor: number, currency: string): number {
  return Number(formatMinor(minor, currency));
}

/**
 * Formats integer minor units as a decimal string in major units ("10.00", "1000", "1.500"), exactly, by
 * string arithmetic: Cybersource and humans want this form, and a float would lose cents. A bigint is taken too
 * (a sum of parts may pass the safe range).
 */
export function formatMinor(minor: number | bigint, currency: string): string {
  if (typeof minor === 'number' && !Number.isSafeInteger(minor)) throw new RangeError('amount must be an integer of minor units');
  const exp = currencyExponent(currency);
  const sign = minor < 0 ? '-' : '';
  const digits = (minor < 0 ? -minor : minor).toString().padStart(exp + 1, '0');
  return exp === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -exp)}.${digits.slice(-exp)}`;
}

/**
 * `digits` without its trailing zeros, by an index walk: `/0+$/` retries from every zero of a long run and
 * takes time quadratic in it (a PSP's fraction of 50 000 zeros and a 1 took seconds).
 */
export function withoutTrailingZeros(digits: string): string {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 0x30) end -= 1;
  return end === digits.length ? digits : digits.slice(0, end);
}

/**
 * Parses a decimal major-unit string ("10.00", "10.5", "1000") into integer minor units, exactly. Rejects
 * more decimals than the currency has (a sub-minor amount cannot be charged).
 */
export function parseMajor(text: string, currency: string): number {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new RangeError(`not a decimal amount: ${JSON.stringify(text)}`);
  const exp = currencyExponent(currency);
  const fraction = withoutTrailingZeros(m[3] ?? '');
  if (fraction.length > exp) throw new RangeError(`${currency} has ${exp} decimals; got ${text}`);
  const minor = Number(m[2] + fraction.padEnd(exp, '0'));
  if (!Number.isSafeInteger(minor)) throw new RangeError('amount out of range');
  return m[1] === '-' && minor !== 0 ? -minor : minor; // "-0.00" is 0, not -0
}

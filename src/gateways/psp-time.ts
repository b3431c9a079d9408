/**
 * A PSP's times read as epoch milliseconds, only from 1970 to the end of year 9999: a time past that (a PSP
 * number of any size, read as seconds and multiplied) is no time. Past 8.64e15 ms every place a time is written
 * (`new Date(ms).toISOString()`: an event's `expires_at`, an adjustment's `occurred_at`, a reconciliation
 * report's row) throws on it, each time it is tried again; past year 9999 it is written `+010000-…`, which no
 * OMS reads as a date; and a 16-digit number of milliseconds may be a card number's digits.
 */

/** The latest time read from a PSP: 9999-12-31T23:59:59.999Z, the last a four-digit year writes. */
export const LATEST_PSP_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** `ms` when it is a whole number of epoch milliseconds from 1970 to the end of year 9999; else undefined. */
export function pspEpochMs(ms: unknown): number | undefined {
  return typeof ms === 'number' && Number.isSafeInteger(ms) && ms > 0 && ms <= LATEST_PSP_TIME_MS ? ms : undefined;
}

/** Unix seconds (a whole number after 1970) as epoch ms, to the end of year 9999; else undefined. */
export function pspEpochSecondsMs(seconds: unknown): number | undefined {
  return typeof seconds === 'number' && Number.isSafeInteger(seconds) ? pspEpochMs(seconds * 1000) : undefined;
}

/**
 * Whether PSP time `a` is later than PSP time `b` (both epoch ms), the one rule ordering two of a PSP's events by its
 * own times. Strictly later: the PSPs date their events in whole seconds (a Stripe event's `created`, an Adyen or
 * Cybersource `eventDate`), so two events in the same second cannot be told apart, and neither is later. False when
 * either time is missing: no order. The adjustment store's record script (Lua) orders a failure and a recorded
 * success by the same rule.
 */
export function laterInPspTime(a: number | undefined, b: number | undefined): boolean {
  return a !== undefined && b !== undefined && a > b;
}

/**
 * `YYYY-MM-DDThh:mm:ss` (or the compact `YYYY-MM-DDThhmmss`), optionally with a fraction of a second, then the zone:
 * `Z`, `±hh:mm` or `±hhmm`.
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(:?)(\d{2})\5(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):?(\d{2}))$/i;

/**
 * A PSP's ISO 8601 time with its zone as epoch ms, to the end of year 9999; else undefined. The one reading of every
 * PSP time written as text: Cybersource's `submitTimeUtc` ("Format: YYYY-MM-DDThh:mm:ssZ"; some of its answers write
 * `YYYY-MM-DDThhmmssZ`) and webhook `eventDate`, Adyen's `eventDate` ("yyyy-MM-DDThh:mm:ssTZD", e.g.
 * `2021-07-17T13:42:40+01:00`). Strict: a time without its zone (which `Date.parse` would read in the server's
 * zone), a date or an offset that is not in the calendar (`2024-02-30`, which `Date.UTC` would roll into March;
 * `+24:00`) or any other text is no time, never a guess.
 */
export function pspIsoTimeMs(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = ISO_TIME.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[6], m[7]].map(Number);
  const ms = Number((m[8] ?? '0').padEnd(3, '0').slice(0, 3));
  const [offsetHours, offsetMinutes] = m[9] === undefined ? [Number(m[11]), Number(m[12])] : [0, 0];
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const at = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
  // Date.UTC rolls an impossible field over (month 13, day 31 of April, 24:00): read back, it is another time.
  if (at.getUTCFullYear() !== year || at.getUTCMonth() !== month - 1 || at.getUTCDate() !== day) return undefined;
  if (at.getUTCHours() !== hour || at.getUTCMinutes() !== minute || at.getUTCSeconds() !== second) return undefined;
  // Before 1970 is no PSP time (pspEpochMs), whatever the offset would make of it.
  if (year < 1970) return undefined;
  const sign = m[10] === '-' ? -1 : 1;
  return pspEpochMs(at.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
}

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

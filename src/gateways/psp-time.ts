/**
 * A PSP's times read as epoch milliseconds, only when a JavaScript Date can hold them: a time past that (a PSP
 * number of any size, read as seconds and multiplied) is no time, since every place a time is written
 * (`new Date(ms).toISOString()`: an event's `expires_at`, an adjustment's `occurred_at`, a reconciliation report's
 * row) would throw on it, each time it is tried again.
 */

/** The latest time a JavaScript Date can hold (epoch ms, ECMA-262 "Time Values and Time Range"). */
export const LATEST_DATE_MS = 8.64e15;

/** `ms` when it is a whole number of epoch milliseconds after 1970 that a Date can hold; else undefined. */
export function pspEpochMs(ms: unknown): number | undefined {
  return typeof ms === 'number' && Number.isSafeInteger(ms) && ms > 0 && ms <= LATEST_DATE_MS ? ms : undefined;
}

/** Unix seconds (a whole number after 1970) as epoch ms, when a Date can hold them; else undefined. */
export function pspEpochSecondsMs(seconds: unknown): number | undefined {
  return typeof seconds === 'number' && Number.isSafeInteger(seconds) ? pspEpochMs(seconds * 1000) : undefined;
}

/** The most rows one `--limit` of an `ops` listing may ask for (each row is read from Redis while the command waits). */
export const MAX_LIMIT = 1000;

/**
 * The `--limit <n>` of an `ops` listing: a whole number from 1 to {@link MAX_LIMIT}. Refused, never repaired:
 * `0` or a negative number would reach Redis as a range end of -1 or less, which reads a whole set (the
 * dead-letter archive holds 50 000), and a word would reach it as `NaN`.
 * @throws Error naming `--limit` and what it takes.
 */
export function parseLimit(text: string): number {
  const limit = /^\d{1,7}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new Error(`--limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

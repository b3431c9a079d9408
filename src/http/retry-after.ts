/**
 * The one `Retry-After` parser (RFC 9110 §10.2.3): `Retry-After = HTTP-date / delay-seconds`.
 *
 * - delay-seconds: one or more digits, a number of seconds.
 * - HTTP-date (RFC 9110 §5.6.7): the preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and, as a
 *   recipient must, the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
 *   (`Sun Nov  6 08:49:37 1994`) forms, all in GMT. A date is measured against the response's own `Date`
 *   header when it has a valid one (the server's clock: no skew between its clock and ours), else against
 *   `now`; a date in the past means "now" (0).
 *
 * Anything else (empty, negative, fractional, a malformed date) is ignored: `undefined`, never a guess.
 * @param headers response headers, any case.
 * @param now our clock, epoch ms, used only when the response has no valid `Date`. Default `Date.now()`.
 * @returns the delay in milliseconds, or `undefined` when the header is absent or invalid.
 */
export function retryAfterMs(headers: Readonly<Record<string, string | undefined>>, now: number = Date.now()): number | undefined {
  const value = header(headers, 'retry-after');
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = parseHttpDate(value);
  if (at === undefined) return undefined;
  const date = header(headers, 'date');
  const reference = (date === undefined ? undefined : parseHttpDate(date)) ?? now;
  return Math.max(0, at - reference);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = `(${MONTHS.join('|')})`;
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7) as epoch ms, or `undefined` when it is none of the three forms or not a real
 * date (31 Feb, 25:00). `now` places an RFC 850 two-digit year: a year more than 50 years ahead of `now` is
 * read as the most recent past year with those two digits, as the RFC requires.
 */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = RFC850_DATE.exec(value);
  if (m) {
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2], Number(m[1]), m[4], m[5], m[6]);
  }
  m = ASCTIME_DATE.exec(value);
  if (m) return utc(Number(m[6]), m[1], Number(m[2].trim()), m[3], m[4], m[5]);
  return undefined;
}

function utc(year: number, month: string, day: number, hh: string, mm: string, ss: string): number | undefined {
  const [h, min, s] = [Number(hh), Number(mm), Number(ss)];
  // 60 is a leap second, which RFC 9110 allows: it counts as the first second of the next minute.
  if (h > 23 || min > 59 || s > 60) return undefined;
  const midnight = Date.UTC(year, MONTHS.indexOf(month), day);
  // Date.UTC rolls 31 Feb over into March: such a date is not a real one.
  if (new Date(midnight).getUTCDate() !== day) return undefined;
  return midnight + ((h * 60 + min) * 60 + s) * 1000;
}

function header(headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value?.trim() || undefined;
  return undefined;
}

import { parseHttpDate, retryAfterMs } from '../../../src/http/retry-after';

const NOW = Date.UTC(2026, 10, 22, 10, 0, 0); // Sun, 22 Nov 2026 10:00:00 GMT

describe('retryAfterMs (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds as seconds, whatever the header name case', () => {
    expect(retryAfterMs({ 'retry-after': '3' }, NOW)).toBe(3000);
    expect(retryAfterMs({ 'Retry-After': '0' }, NOW)).toBe(0);
    expect(retryAfterMs({ 'RETRY-AFTER': ' 120 ' }, NOW)).toBe(120_000);
  });

  it('reads an IMF-fixdate against the response Date header (the server clock), not ours', () => {
    const headers = { date: 'Sun, 22 Nov 2026 09:00:00 GMT', 'retry-after': 'Sun, 22 Nov 2026 09:00:05 GMT' };
    expect(retryAfterMs(headers, NOW)).toBe(5000);
  });

  it('reads an HTTP-date against our clock when the response has no valid Date', () => {
    expect(retryAfterMs({ 'retry-after': 'Sun, 22 Nov 2026 10:00:30 GMT' }, NOW)).toBe(30_000);
    expect(retryAfterMs({ date: 'yesterday', 'retry-after': 'Sun, 22 Nov 2026 10:00:30 GMT' }, NOW)).toBe(30_000);
  });

  it('accepts the obsolete RFC 850 and asctime forms, as a recipient must', () => {
    expect(retryAfterMs({ 'retry-after': 'Sunday, 22-Nov-26 10:01:00 GMT' }, NOW)).toBe(60_000);
    expect(retryAfterMs({ 'retry-after': 'Sun Nov 22 10:02:00 2026' }, NOW)).toBe(120_000);
    expect(retryAfterMs({ 'retry-after': 'Mon Nov  2 10:00:00 2026' }, Date.UTC(2026, 10, 2, 9, 59, 0))).toBe(60_000);
  });

  it('treats a date in the past as no wait at all', () => {
    expect(retryAfterMs({ 'retry-after': 'Sun, 22 Nov 2026 09:59:00 GMT' }, NOW)).toBe(0);
  });

  it.each([
    [''],
    ['-1'],
    ['1.5'],
    ['soon'],
    ['2026-11-22T10:00:05Z'],
    ['Sun, 22 Nov 2026 10:00:05 UTC'],
    ['Sun, 31 Feb 2026 10:00:05 GMT'],
    ['Sun, 22 Nov 2026 25:00:05 GMT'],
  ])('ignores %p (not delay-seconds, not an HTTP-date)', (value) => {
    expect(retryAfterMs({ 'retry-after': value }, NOW)).toBeUndefined();
  });

  it('is undefined without the header', () => {
    expect(retryAfterMs({}, NOW)).toBeUndefined();
  });
});

describe('parseHttpDate', () => {
  it('reads the three forms of the same instant alike', () => {
    const at = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(at);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(2026, 0, 1))).toBe(at);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(at);
  });

  it('reads an RFC 850 two-digit year more than 50 years ahead as the past year with those digits', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(new Date(parseHttpDate('Monday, 01-Jan-76 00:00:00 GMT', now)!).getUTCFullYear()).toBe(2076);
    expect(new Date(parseHttpDate('Friday, 01-Jan-77 00:00:00 GMT', now)!).getUTCFullYear()).toBe(1977);
  });
});

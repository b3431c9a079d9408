import { createSeededRandom as prng } from '../../../harness/twins/psp-simulator/seeded-random';
import { PAN_MASK, containsCardNumber, maskCardNumbers } from '../../../src/logging/redact';

/*
 * The digit-run scan against a plain reference: strings, arrays and a naive Luhn check, no scratch reused, on
 * random ASCII text (long digit runs, many runs, runs of many groups, separators, card numbers). The scan keeps
 * its digits and group starts in typed arrays reused from run to run and grown on demand: whatever their size,
 * it must mask exactly what the reference masks, and never let a card number through.
 */

const MIN_PAN = 12;
const MAX_PAN = 19;
const MAX_SEPARATORS = 6;
const MAX_SPAN_DIGITS = 64;

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isSeparator = (c: string): boolean => ' -./_'.includes(c) || (c.charCodeAt(0) >= 0x09 && c.charCodeAt(0) <= 0x0d);

function luhn(digits: readonly number[]): boolean {
  let sum = 0;
  for (let i = digits.length - 1, k = 0; i >= 0; i -= 1, k += 1) {
    const v = k % 2 === 1 ? digits[i] * 2 : digits[i];
    sum += v > 9 ? v - 9 : v;
  }
  return sum % 10 === 0;
}

interface Run {
  digits: number[];
  groups: number[];
  start: number;
  end: number;
}

/** Digit runs as the redactor documents them: digits with at most MAX_SEPARATORS separators between two of them. */
function runsOf(text: string): Run[] {
  const runs: Run[] = [];
  let run: Run | null = null;
  let separators = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (isDigit(c)) {
      if (run === null) run = { digits: [], groups: [0], start: i, end: i };
      else if (separators > 0) run.groups.push(run.digits.length);
      run.digits.push(Number(c));
      run.end = i + 1;
      separators = 0;
    } else if (run !== null) {
      if (separators < MAX_SEPARATORS && isSeparator(c)) separators += 1;
      else {
        runs.push(run);
        run = null;
        separators = 0;
      }
    }
  }
  if (run !== null) runs.push(run);
  return runs.filter((r) => r.digits.length >= MIN_PAN);
}

function referenceHolds(run: Run, strict: boolean): boolean {
  const d = run.digits;
  const m = d.length;
  const firstSignificant = (from: number): number => {
    let s = from;
    while (s < m && d[s] === 0) s += 1;
    return s;
  };
  const test = (a: number, b: number): boolean => {
    const s = firstSignificant(a);
    const len = b - s;
    if (len < MIN_PAN || len > MAX_PAN) return false;
    if (len === 13 && (d[s] === 1 || d[s] === 2)) return false;
    if (strict && !(d[s] >= 2 && d[s] <= 6)) return false;
    return luhn(d.slice(s, b));
  };
  if (test(0, m)) return true;
  if (!strict && m - firstSignificant(0) > MAX_PAN) {
    for (let a = 0; a + MIN_PAN <= m; a += 1) {
      for (let len = MIN_PAN; len <= MAX_PAN && a + len <= m; len += 1) if (luhn(d.slice(a, a + len))) return true;
    }
    return false;
  }
  for (let i = 0; i < run.groups.length; i += 1) {
    const a = run.groups[i];
    for (let j = i; j < run.groups.length; j += 1) {
      const b = j + 1 < run.groups.length ? run.groups[j + 1] : m;
      if (b - a > MAX_SPAN_DIGITS) break;
      const s = firstSignificant(a);
      if (s < b && b - s > MAX_PAN) break;
      if (b - a < m && test(a, b)) return true;
    }
  }
  return false;
}

/** The run is the ASCII digits of a whole word of hex characters, with a letter, of a digest's length (strict mode lets it be). */
function inHexDigest(text: string, run: Run): boolean {
  if (run.groups.length > 1 || run.end - run.start !== run.digits.length) return false;
  const word = /[0-9A-Za-z]*$/.exec(text.slice(0, run.start))![0] + text.slice(run.start, run.end) + /^[0-9A-Za-z]*/.exec(text.slice(run.end))![0];
  return /^[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*$/.test(word) && [32, 40, 56, 64, 96, 128].includes(word.length);
}

function referenceFinds(text: string, run: Run, strict: boolean): boolean {
  return referenceHolds(run, strict) && !(strict && inHexDigest(text, run));
}

function referenceMask(text: string, strict: boolean): string {
  let out = '';
  let from = 0;
  for (const run of runsOf(text)) {
    if (!referenceFinds(text, run, strict)) continue;
    out += text.slice(from, run.start) + PAN_MASK;
    from = run.end;
  }
  return out + text.slice(from);
}

/** A Luhn-valid number of `length` digits starting with `first`. */
function cardNumber(random: () => number, first: number, length: number): string {
  const digits = [first];
  while (digits.length < length - 1) digits.push(Math.floor(random() * 10));
  for (let check = 0; check < 10; check += 1) if (luhn([...digits, check])) return [...digits, check].join('');
  throw new Error('unreachable');
}

const SEPARATORS = [' ', '-', '.', '/', '_', '\t', '\n', '  ', ' - '];
const OTHERS = ['a', 'x', ':', ',', '=', '"', '{', 'Z'];
/** Written either side of a card number: not a hex letter, so no card number is part of a digest-shaped word. */
const PAN_NEIGHBOURS = OTHERS.filter((c) => !/[a-fA-F]/.test(c));
const HEX = '0123456789abcdef';

function randomText(random: () => number, pans: string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const parts: string[] = [];
  const pieces = 1 + Math.floor(random() * 40);
  for (let p = 0; p < pieces; p += 1) {
    const r = random();
    if (r < 0.25) {
      // A card number of 13 to 19 digits, issuable, not of an epoch time's shape, maybe grouped.
      const pan = cardNumber(random, 3 + Math.floor(random() * 4), 13 + Math.floor(random() * 7));
      const grouped = random() < 0.5 ? pan : pan.replace(/(\d{4})(?=\d)/g, `$1${pick(SEPARATORS)}`);
      pans.push(grouped);
      parts.push(pick(PAN_NEIGHBOURS), grouped, pick(PAN_NEIGHBOURS));
    } else if (r < 0.3) {
      // A hex digest (its digits form runs strict mode lets be), or a hex word of another length (which it does not).
      const n = random() < 0.7 ? pick([32, 40, 64]) : 20 + Math.floor(random() * 60);
      let s = '';
      for (let i = 0; i < n; i += 1) s += random() < 0.85 ? String(Math.floor(random() * 10)) : HEX[Math.floor(random() * 16)];
      parts.push(pick(OTHERS), s, pick(OTHERS));
    } else if (r < 0.35) {
      // A long digit run: past the scan's first 64 digits, up to thousands.
      const n = 20 + Math.floor(random() * (random() < 0.2 ? 5000 : 300));
      let s = '';
      for (let i = 0; i < n; i += 1) s += String(Math.floor(random() * 10));
      parts.push(s);
    } else if (r < 0.45) {
      // A run of many short groups: past the scan's first 16 group starts.
      const n = 10 + Math.floor(random() * 200);
      const groups: string[] = [];
      for (let i = 0; i < n; i += 1) groups.push(String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 4)))));
      parts.push(groups.join(pick(SEPARATORS)));
    } else if (r < 0.7) {
      let s = '';
      for (let i = Math.floor(random() * 16); i > 0; i -= 1) s += String(Math.floor(random() * 10));
      parts.push(s);
    } else if (r < 0.85) parts.push(pick(SEPARATORS));
    else parts.push(pick(OTHERS).repeat(1 + Math.floor(random() * 3)));
  }
  return parts.join('');
}

describe('card number masking against a plain reference (random text, long runs, many runs and groups)', () => {
  it('masks exactly what the reference masks, loose and strict, and finds what it finds', () => {
    for (let seed = 1; seed <= 400; seed += 1) {
      const random = prng(seed);
      const text = randomText(random, []);
      for (const strict of [false, true]) {
        const expected = referenceMask(text, strict);
        if (maskCardNumbers(text, strict) !== expected)
          throw new Error(`seed ${seed}, strict ${strict}: differs from the reference on ${JSON.stringify(text.slice(0, 300))}`);
      }
      const found = runsOf(text).some((run) => referenceFinds(text, run, true));
      if (containsCardNumber(text) !== found) throw new Error(`seed ${seed}: containsCardNumber is ${!found} on ${JSON.stringify(text.slice(0, 300))}`);
    }
  });

  it('never lets a card number through, loose or strict, whatever ran before it in the process (long runs grew the scratch)', () => {
    for (let seed = 1000; seed < 1400; seed += 1) {
      const pans: string[] = [];
      const text = randomText(prng(seed), pans);
      for (const strict of [false, true]) {
        const masked = maskCardNumbers(text, strict);
        // Each was written between two characters that are neither digits, separators nor hex letters: a run of
        // its own, never part of a digest-shaped word.
        for (const pan of pans) if (masked.includes(pan)) throw new Error(`seed ${seed}, strict ${strict}: ${pan} left unmasked`);
        expect(containsCardNumber(masked)).toBe(false);
      }
    }
  });

  it('masks a card number after a run of thousands of digits and a run of hundreds of groups in the same string', () => {
    const long = '7'.repeat(5000);
    const groups = Array.from({ length: 300 }, (_, i) => String(i % 10)).join(' ');
    const text = `a${long}b${groups}c 4111 1111 1111 1111 d`;
    for (const strict of [false, true]) {
      expect(maskCardNumbers(text, strict)).toBe(referenceMask(text, strict));
      expect(maskCardNumbers(text, strict)).toContain(`c ${PAN_MASK} d`);
    }
  });
});

/**
 * Redaction of card data and secrets: the one place that decides what may never leave the process.
 * Used by the logger (every line), the dead-letter writer and the ledger, so a card number sent in any
 * field cannot come out anywhere.
 */

import { HashDigest } from './hash-digest';
import { JsonMemberPath, TextSpan, jsonMemberSpans, textOutside } from './json-member-spans';
import { PspNetworkTransactionId } from './network-transaction-id-field';

/** Replacement for a card number found in free text. */
export const PAN_MASK = '[PAN REDACTED]';
/** Replacement for the value of a sensitive field. */
export const SECRET_MASK = '[REDACTED]';

/**
 * Field names whose values are secrets or card security data, whatever they hold: ours (configured secrets are
 * also scrubbed by value), and other services' credentials under their usual names (API, auth, bearer and session
 * tokens, secret and signing keys, Authorize.Net's transaction key (`x_tran_key` in its older API) and signature
 * key), which no value registration knows. A prefix is separated by `_`, `-` or a camelCase hump
 * (`merchant_secret_key`, `merchantSecretKey`: `isSensitiveKey`).
 */
const SENSITIVE_KEY =
  /^(?:.*[_-])?(?:cvv2?|cvc2?|cvn|cid|security[_-]?code|card[_-]?number|cardnumber|pan|password|passwd|passphrase|secret|client[_-]?secret|shared[_-]?secret|shared[_-]?secret[_-]?key|webhook[_-]?secret|report[_-]?password|api[_-]?key|apikey|api[_-]?secret|api[_-]?token|secret[_-]?key|signing[_-]?(?:key|secret)|signature[_-]?key|transaction[_-]?key|tran[_-]?key|authorization|proxy-authorization|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|bearer[_-]?token|session[_-]?token|private[_-]?key|webhook[_-]?private[_-]?key|hmac[_-]?key|cookie|set-cookie|encrypted[_-]?card[_-]?number|encrypted[_-]?security[_-]?code|pin|pin[_-]?number|gift[_-]?card[_-]?(?:number|no|pin)|giftcard(?:number|pin))(?:[_-]?(?:previous|prev|old))?$/i;

/**
 * Names of card security codes and card numbers, compared with the key in lower case and without
 * separators (`card_cvv`, `cardCvv`, `card-cvv` → `cardcvv`): CVV, CVC, CV2, CCV, CSC, CVN, CVD, CID (only with a
 * `card`, `cc` or `credit_card` prefix, as Magento's `cc_cid`: a bare `cid` is usually a customer id), "security code", "verification value/code/number"
 * (a bare `verification_value` is Shopify's name for the CVV; a bare "verification code" is usually a one-time
 * code, not card data), Authorize.Net's `cardCode` and Cybersource's `cvNumber` (both the CVV), each with a
 * `card`, `cc` or `credit_card` prefix as well, card number (also `cc_number`, `credit_card_number`, `card_pan`),
 * PAN. `cvv_result` and the like (the PSP's check result, not the code) do not match.
 * Stored value (gift) cards: their PIN is their security code (`pin`, `card_pin`, `gift_card_pin`, `gc_pin`,
 * `stored_value_pin`, `voucher_pin`; not a bare `pincode`, an Indian postal code), and so is a security code,
 * CVV or CVC named after the gift card (`gift_card_security_code`, `giftCardSecurityCode`, `gc_cvv`); their
 * number is a card number (`gift_card_number`, `gc_no`, `gift_card_pan`…). A balance merge names a second card:
 * `source_card_number`, `source_pin`, `sourceSecurityCode` count too. `encrypted_security_code` (a value only the
 * PSP can read, which a one-time gift card payment carries) is not card data here.
 */
const CARD_FIELD = new RegExp(
  '^(?:' +
    [
      // CVV, CVC… bare, of a card, or of a stored value card
      '(?:card|cc|creditcard|payment|pm|giftcard|gc|svc|storedvalue|storedvaluecard|source|sourcecard)?(?:cvv2?|cvc2?|cv2|ccv|csc|cvn|cvd)(?:code|number|value)?',
      '(?:card|cc|creditcard)?cvnumber',
      // Magento's `cc_cid` (its card payment form's CVV); a bare `cid` is usually a customer id
      '(?:card|cc|creditcard)cid',
      'cardcode',
      '(?:card|giftcard|gc|svc|storedvalue|storedvaluecard|source|sourcecard)?securitycode',
      'card(?:verification(?:value|code|number))',
      'verificationvalue',
      'cardnumber',
      '(?:creditcard|cc)(?:number|num|no)',
      'cardpan',
      'pan',
      'primaryaccountnumber',
      // PINs: bare, or of a card, stored value card, voucher or merge source (never a bare `pincode`)
      '(?:giftcard|card|gc|svc|storedvalue|storedvaluecard|voucher|source|sourcecard)?pin(?:number)?',
      '(?:giftcard|card|gc|svc|storedvalue|storedvaluecard|voucher|source|sourcecard)pincode',
      // numbers of a stored value card or of a merge's source card
      '(?:giftcard|gc|svc|storedvalue|storedvaluecard|sourcecard)(?:number|no|num|pan)',
    ].join('|') +
    ')$',
);

/**
 * The key in lower case without separators; '' when that is longer than any card field's name. Bounded after
 * the separators are dropped: `cvv` padded with spaces (a fixed-width column's name) is still `cvv`.
 */
function normalizedKey(key: string): string {
  const name = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return name.length > 64 ? '' : name;
}

/** Whether a field name holds a card number or security code by its name (refused whatever it holds). */
export function isCardFieldName(key: string): boolean {
  return CARD_FIELD.test(normalizedKey(key));
}

const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
/** Whether text may hold a credential for {@link BEARER} (a module constant: a literal in the function is a new RegExp per call). */
const BEARER_HINT = /bearer|basic/i;

/** Luhn check over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Whether `length` digits starting with `first` (a digit's value) are an epoch-millisecond time of 2001-09-09 to
 * 2286: 13 digits starting with 1 or 2. The bridge writes such times everywhere (record times, history, index
 * scores, key expiries, log fields), and one in ten passes the Luhn check. No card has that shape: 13-digit cards
 * are Visa's (4); the 2-series (Mastercard 2221–2720, Mir 2200–2204) is 16 to 19 digits, and MII 1 (UATP) 15.
 */
function epochMsShape(first: number, length: number): boolean {
  return length === 13 && (first === 1 || first === 2);
}

/**
 * Whether `first` (a digit's value) is a card-issuing major industry identifier: 2 to 6 (Mastercard 2-series,
 * Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay).
 */
function issuableStart(first: number): boolean {
  return first >= 2 && first <= 6;
}

/**
 * Whether a 12–19 digit string is plausibly a payment card number: Luhn-valid, starting with a card-issuing digit
 * (`issuableStart`) and not of an epoch-millisecond time's shape (`epochMsShape`: from 2033-05-18 every one starts
 * with a 2). Used to *refuse* input, where a bare Luhn check would refuse one numeric order id in ten; the logger
 * redacts on Luhn alone (over-redacting a log costs nothing).
 */
export function isLikelyCardNumber(digits: string): boolean {
  const first = digits.charCodeAt(0) - 48;
  return digits.length >= 12 && digits.length <= 19 && issuableStart(first) && !epochMsShape(first, digits.length) && luhnValid(digits);
}

const MIN_PAN = 12;
const MAX_PAN = 19;
/** Separator characters allowed between two digits of one number ("4111 - 1111", a few spaces): at most this many. */
const MAX_SEPARATORS = 6;
/** A span of whole digit groups longer than this (leading zeros included) is not tried as a card number. */
const MAX_SPAN_DIGITS = 64;

/** Code points below this take the fast paths; the Basic Multilingual Plane above it is read from tables. */
const TABLE_FROM = 0x80;

/**
 * Decimal digit values of one plane of Unicode (-1: not a digit): every character of category Nd
 * (Arabic-Indic, Devanagari, Bengali, Thai, full-width… in the Basic Multilingual Plane; Osmanya, Brahmi,
 * the mathematical digits… in plane 1, where every other Nd digit is) counts, as a card number typed in any
 * script is still one. Nd digits come in runs of ten, zero first.
 */
function buildDigitValues(plane: number): Int8Array {
  const table = new Int8Array(0x10000).fill(-1);
  const nd = /\p{Nd}/u;
  const base = plane * 0x10000;
  let runStart = -1;
  for (let c = 0; c < 0x10000; c += 1) {
    if (plane === 0 && c >= 0xd800 && c <= 0xdfff) {
      runStart = -1;
      continue;
    }
    if (nd.test(String.fromCodePoint(base + c))) {
      if (runStart < 0) runStart = c;
      table[c] = (c - runStart) % 10;
    } else runStart = -1;
  }
  return table;
}
/** Built on the first character above ASCII (~10 ms): most processes and texts never need it. */
let digitValues: Int8Array | undefined;
/** Plane 1's, built on the first character there. */
let plane1DigitValues: Int8Array | undefined;

/** Value of a decimal digit (a code point) as people type card numbers, in any script; -1 for anything else. */
function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c < TABLE_FROM) return -1;
  if (c <= 0xffff) return (digitValues ??= buildDigitValues(0))[c];
  return c <= 0x1ffff ? (plane1DigitValues ??= buildDigitValues(1))[c - 0x10000] : -1;
}

/**
 * The code point at `i` of `text`: a surrogate pair read as one character (the caller steps over both units
 * when it is above 0xFFFF), a lone surrogate as itself.
 */
function codePointAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff ? (text.codePointAt(i) as number) : c;
}

/**
 * Characters written between digit groups: space, tab and every other white space, line breaks, dash, dot,
 * slash, underscore, and above ASCII every space separator, dash punctuation and format character of
 * Unicode (no-break, en, em, thin and ideographic spaces, zero-width characters, soft hyphen, every dash),
 * the minus sign, one-dot leaders, hyphen bullets and full-width forms.
 */
function buildSeparators(): Uint8Array {
  const table = new Uint8Array(0x10000);
  const unicode = /[\p{Zs}\p{Zl}\p{Zp}\p{Pd}\p{Cf}\s]/u;
  for (let c = TABLE_FROM; c < 0x10000; c += 1) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    if (unicode.test(String.fromCharCode(c))) table[c] = 1;
  }
  for (const c of [0x85, 0x2212, 0x2024, 0x2043, 0xff0e, 0xff0f, 0xff3f, 0xfe63]) table[c] = 1;
  return table;
}
/** Built on first use, as `digitValues`. */
let separators: Uint8Array | undefined;

/** ASCII characters written between digit groups: white space (tab to carriage return), space, `-`, `.`, `/`, `_`. */
export function isAsciiSeparator(c: number): boolean {
  return c === 0x20 || c === 0x2d || c === 0x2e || c === 0x2f || c === 0x5f || (c >= 0x09 && c <= 0x0d);
}

/** Separators above the Basic Multilingual Plane: invisible tag characters (U+E0020…) and other format characters. */
const ASTRAL_SEPARATOR = /^[\p{Zs}\p{Pd}\p{Cf}]$/u;

function isSeparator(c: number): boolean {
  if (c < TABLE_FROM) return isAsciiSeparator(c);
  // Rare enough to test one by one.
  if (c > 0xffff) return ASTRAL_SEPARATOR.test(String.fromCodePoint(c));
  return (separators ??= buildSeparators())[c] === 1;
}

/**
 * One run of digits (separators between them dropped), split in the groups the separators made.
 * Decides in time linear in the run whether it holds a card number, with Luhn prefix sums: each span's
 * check is O(1).
 */
/** Scratch prefix-sum arrays of `DigitRun.holdsCardNumber` (synchronous, never re-entered), grown on demand. */
const scratch = { evenDoubled: new Int32Array(64), oddDoubled: new Int32Array(64), nextSignificant: new Int32Array(64) };

function prefixScratch(length: number): typeof scratch {
  if (scratch.evenDoubled.length < length) {
    const size = Math.max(length, scratch.evenDoubled.length * 2);
    scratch.evenDoubled = new Int32Array(size);
    scratch.oddDoubled = new Int32Array(size);
    scratch.nextSignificant = new Int32Array(size);
  }
  return scratch;
}

/**
 * Whether digits [a, b) pass the Luhn check, from the scratch's prefix sums (`DigitRun.holdsCardNumber` wrote them):
 * the rightmost (b - 1) is not doubled, so the doubled ones have the other parity.
 */
function luhnSpan(a: number, b: number): boolean {
  const { evenDoubled, oddDoubled } = scratch;
  return ((b - 1) % 2 === 0 ? oddDoubled[b] - oddDoubled[a] : evenDoubled[b] - evenDoubled[a]) % 10 === 0;
}

/**
 * Whether digits [a, b) of `d`, leading zeros aside, are a card number's: 12–19 of them, not of an epoch-millisecond
 * time's shape, Luhn-valid and, `strict`, of an issuable start (`DigitRun.holdsCardNumber`).
 */
function spanIsCardNumber(d: Int8Array, a: number, b: number, strict: boolean): boolean {
  const s = scratch.nextSignificant[a];
  const len = b - s;
  if (len < MIN_PAN || len > MAX_PAN || epochMsShape(d[s], len)) return false;
  if (strict && !issuableStart(d[s])) return false;
  return luhnSpan(s, b);
}

/**
 * Digit values and group starts in typed arrays with counts, reused from run to run: emptying a JS array
 * (`length = 0`) drops its backing store, so every digit run of every string redacted grew two arrays anew (a
 * UUID has several): ~2.6 KB and ~2 µs a UUID, most of the redaction of a log line or a history entry.
 */
class DigitRun {
  /** Digit values; the first `length` hold the run. */
  digits = new Int8Array(64);
  length = 0;
  /** Index (into `digits`) where each group starts; the first `groupCount` hold the run's groups. */
  groups = new Int32Array(16);
  groupCount = 0;
  start = -1;
  end = -1;

  reset(): void {
    this.length = 0;
    this.groupCount = 0;
    this.start = -1;
    this.end = -1;
  }

  pushDigit(value: number): void {
    if (this.length === this.digits.length) {
      const grown = new Int8Array(this.digits.length * 2);
      grown.set(this.digits);
      this.digits = grown;
    }
    this.digits[this.length++] = value;
  }

  /** A group starts at the next digit. */
  startGroup(): void {
    if (this.groupCount === this.groups.length) {
      const grown = new Int32Array(this.groups.length * 2);
      grown.set(this.groups);
      this.groups = grown;
    }
    this.groups[this.groupCount++] = this.length;
  }

  /**
   * @param strict refusing input: the number must also be of a shape a scheme issues (`issuableStart`, after
   *   leading zeros), and an unbroken run of more than 19 significant digits (a 22-digit Cybersource id) is not a
   *   card number. Otherwise (redacting): Luhn alone, and every 12–19 digit window of a longer run counts.
   *   Either way a whole number of an epoch-millisecond time's shape (`epochMsShape`) is not a card number.
   */
  holdsCardNumber(strict: boolean): boolean {
    const d = this.digits;
    const m = this.length;
    if (m < MIN_PAN) return false;
    // Luhn prefix sums: `evenDoubled[i]` sums d[0..i) doubling even indices, `oddDoubled` odd ones.
    // nextSignificant[i]: first index ≥ i holding a non-zero digit (m if none). Indexes 0..m are all written
    // below; the arrays are the module's scratch, reused (every timestamp of a command has 17 digits).
    const { evenDoubled, oddDoubled, nextSignificant } = prefixScratch(m + 1);
    evenDoubled[0] = 0;
    oddDoubled[0] = 0;
    nextSignificant[m] = m;
    for (let i = 0; i < m; i += 1) {
      const v = d[i];
      const dbl = v * 2 > 9 ? v * 2 - 9 : v * 2;
      evenDoubled[i + 1] = evenDoubled[i] + (i % 2 === 0 ? dbl : v);
      oddDoubled[i + 1] = oddDoubled[i] + (i % 2 === 0 ? v : dbl);
    }
    for (let i = m - 1; i >= 0; i -= 1) nextSignificant[i] = d[i] !== 0 ? i : nextSignificant[i + 1];
    // Module functions over the scratch arrays, not closures made per call (a string scanned allocated two).
    if (spanIsCardNumber(d, 0, m, strict)) return true;
    if (!strict && m - nextSignificant[0] > MAX_PAN) {
      // A card number glued to other digits: every 12–19 digit window.
      for (let a = 0; a + MIN_PAN <= m; a += 1) {
        for (let len = MIN_PAN; len <= MAX_PAN && a + len <= m; len += 1) if (luhnSpan(a, a + len)) return true;
      }
      return false;
    }
    // A card number written next to another number ("4111 1111 1111 1111 12"): every span of whole groups.
    const groups = this.groups;
    const groupCount = this.groupCount;
    for (let i = 0; i < groupCount; i += 1) {
      const a = groups[i];
      for (let j = i; j < groupCount; j += 1) {
        const b = j + 1 < groupCount ? groups[j + 1] : m;
        if (b - a > MAX_SPAN_DIGITS) break;
        const s = nextSignificant[a];
        if (s < b && b - s > MAX_PAN) break;
        if (b - a < m && spanIsCardNumber(d, a, b, strict)) return true;
      }
    }
    return false;
  }
}

const sharedRun = new DigitRun();

/** Lengths of a hexadecimal digest: MD5 and our command digest 32, SHA-1 40, SHA-224 56, SHA-256 64, SHA-384 96, SHA-512 128. */
const HEX_DIGEST_LENGTHS = new Set([32, 40, 56, 64, 96, 128]);
const HEX_DIGEST_MAX = 128;

function isHexLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function isHexChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || isHexLetter(c);
}

/** ASCII letters and digits: what a word of an identifier is made of. */
function isAsciiAlphanumeric(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * Whether an unbroken run of ASCII digits, `text[start, end)`, is part of a hexadecimal digest: a whole word
 * (no ASCII letter or digit either side) of [0-9A-Fa-f] holding a letter, of a digest's length
 * ({@link HEX_DIGEST_LENGTHS}). A random 32-character digest has a 12-plus digit run that passes the strict check
 * about once in 640 (SHA-256 hex about once in 290): refusing a command whose idempotency key is a hash, or
 * masking a stored digest, for that is wrong. A card number is not written inside a digest; the logs still mask
 * it (loose mode: over-masking a log costs nothing). Reads at most {@link HEX_DIGEST_MAX} characters either side,
 * so a text of many runs stays linear.
 */
function insideHexDigest(text: string, start: number, end: number): boolean {
  let letters = 0;
  let from = start;
  while (from > 0 && start - from <= HEX_DIGEST_MAX && isHexChar(text.charCodeAt(from - 1))) {
    from -= 1;
    if (isHexLetter(text.charCodeAt(from))) letters += 1;
  }
  let to = end;
  while (to < text.length && to - end <= HEX_DIGEST_MAX && isHexChar(text.charCodeAt(to))) {
    if (isHexLetter(text.charCodeAt(to))) letters += 1;
    to += 1;
  }
  if (letters === 0 || !HEX_DIGEST_LENGTHS.has(to - from)) return false;
  return !(from > 0 && isAsciiAlphanumeric(text.charCodeAt(from - 1))) && !(to < text.length && isAsciiAlphanumeric(text.charCodeAt(to)));
}

/** Hex characters of an adjustment id after its `adj_` (src/adjustments/adjustment-store.ts). */
const ADJUSTMENT_ID_HEX = 24;

/**
 * Whether an unbroken run of ASCII digits, `text[start, end)`, is part of an adjustment's id: a whole word `adj_` and
 * {@link ADJUSTMENT_ID_HEX} lower-case hex characters (no ASCII letter or digit either side). About one id in six
 * hundred holds a Luhn-valid run (`adjustmentIdFor` hashes the PSP's event id): an id of ours, not a card number.
 * Masked, an export would lose it (the import restores the adjustment under the mask, and a resend of its fact is
 * recorded twice), and a log line or `ops show` would name no adjustment an operator can look up. Ids are left as
 * they are rather than re-derived: a fact resent across a rolling upgrade would then be recorded under both ids.
 */
function insideAdjustmentId(text: string, start: number, end: number): boolean {
  let from = start;
  while (from > 0 && start - from <= ADJUSTMENT_ID_HEX && isLowerHexChar(text.charCodeAt(from - 1))) from -= 1;
  let to = end;
  while (to < text.length && to - end <= ADJUSTMENT_ID_HEX && isLowerHexChar(text.charCodeAt(to))) to += 1;
  if (to - from !== ADJUSTMENT_ID_HEX || from < 4 || text.slice(from - 4, from) !== 'adj_') return false;
  return !(from > 4 && isAsciiAlphanumeric(text.charCodeAt(from - 5))) && !(to < text.length && isAsciiAlphanumeric(text.charCodeAt(to)));
}

/** 0-9 or a-f. */
function isLowerHexChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/**
 * Whether a run holds a card number: an ASCII digit run inside an adjustment's id (`insideAdjustmentId`) does not, and
 * in strict mode neither does one inside a hex digest (`insideHexDigest`).
 */
function runHoldsCardNumber(text: string, run: DigitRun, strict: boolean): boolean {
  if (!run.holdsCardNumber(strict)) return false;
  if (run.groupCount !== 1 || run.end - run.start !== run.length) return true;
  if (insideAdjustmentId(text, run.start, run.end)) return false;
  return !(strict && insideHexDigest(text, run.start, run.end));
}

/**
 * The next run of 12 or more digits of `text` at or after `from`, written into `run`: digits of any script listed in
 * `digitValue`, up to {@link MAX_SEPARATORS} separator characters between two digits. Walking every run this way is
 * linear in the text's length.
 * @returns where the walk goes on (after the character that ended the run), or -1 when no such run is left. A loop,
 *   not a visitor callback: a closure a string scanned, and those of its caller, were most of what a scan allocated.
 */
function nextDigitRun(text: string, from: number, run: DigitRun): number {
  run.reset();
  let separators = 0;
  for (let i = from; i < text.length; i += 1) {
    const at = i;
    const c = codePointAt(text, i);
    if (c > 0xffff) i += 1;
    const v = digitValue(c);
    if (v >= 0) {
      if (run.length === 0) {
        run.start = at;
        run.startGroup();
      } else if (separators > 0) run.startGroup();
      run.pushDigit(v);
      run.end = i + 1;
      separators = 0;
    } else if (run.length > 0) {
      if (separators < MAX_SEPARATORS && isSeparator(c)) separators += 1;
      else if (run.length >= MIN_PAN) return i + 1;
      else {
        run.reset();
        separators = 0;
      }
    }
  }
  return run.length >= MIN_PAN ? text.length : -1;
}

/**
 * Whether `text` has at least as many digits (of any script `digitValue` reads) as the shortest card number:
 * one pass, no allocation. Most strings a history entry or log line holds have fewer, and the digit-run walk
 * (which allocates) is then skipped: it could find nothing in them.
 */
function hasPanDigits(text: string): boolean {
  if (text.length < MIN_PAN) return false;
  let digits = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = codePointAt(text, i);
    if (c > 0xffff) i += 1;
    if (digitValue(c) >= 0 && ++digits >= MIN_PAN) return true;
  }
  return false;
}

/**
 * Whether free text holds something that is plausibly a card number (see {@link isLikelyCardNumber}), in
 * any of the forms people write one: grouped by spaces, dashes, dots, slashes, tabs or no-break spaces,
 * in full-width digits, with leading zeros, next to other numbers. Linear in the text's length. Digits inside a
 * hexadecimal digest (a whole word of hex characters of a digest's length) are part of it, not a card number.
 */
export function containsCardNumber(text: string): boolean {
  if (!hasPanDigits(text)) return false;
  // One run object for the process: the walk is synchronous and never starts another walk.
  const run = sharedRun;
  for (let at = nextDigitRun(text, 0, run); at >= 0; at = nextDigitRun(text, at, run)) {
    if (runHoldsCardNumber(text, run, true)) return true;
  }
  return false;
}

/**
 * `text` with every digit run that holds a Luhn-valid 12–19 digit number replaced by {@link PAN_MASK}.
 * @param strict mask only what {@link containsCardNumber} would refuse (masking free text that is then
 *   stored and forwarded); default false: Luhn alone (redacting logs, where over-masking costs nothing).
 */
export function maskCardNumbers(text: string, strict = false): string {
  if (!hasPanDigits(text)) return text;
  let out = '';
  let from = 0;
  const run = sharedRun;
  for (let at = nextDigitRun(text, 0, run); at >= 0; at = nextDigitRun(text, at, run)) {
    if (runHoldsCardNumber(text, run, strict)) {
      out += text.slice(from, run.start) + PAN_MASK;
      from = run.end;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Shortest registered secret that is scrubbed, characters: shorter ones would mask common words. */
export const MIN_SCRUBBED_SECRET_LENGTH = 4;
/** How many short-lived tokens (OAuth access tokens) stay registered: the newest ones, the oldest drop out. */
export const RECENT_TOKEN_CAPACITY = 16;

/** Configured secrets: a set bounded by the configuration, kept for the life of the process. */
const secrets = new Set<string>();
/** Short-lived tokens, oldest first (a Set keeps insertion order), at most {@link RECENT_TOKEN_CAPACITY}. */
const recentTokens = new Set<string>();
/**
 * Every registered value, longest first (rebuilt after a registration): a short secret inside a longer one
 * must not be masked first, which would leave the rest of the longer one in the text.
 */
let ordered: string[] | undefined;
/** Length of the shortest registered value (rebuilt with `ordered`): shorter text cannot hold one. */
let shortest = Infinity;

/**
 * Registers a configured secret value (bus secret, client secret, API keys, webhook secrets) so that it is
 * scrubbed wherever it appears in text. Values shorter than {@link MIN_SCRUBBED_SECRET_LENGTH} (4)
 * characters are ignored: scrubbing them would mask ordinary words and numbers (the config refuses weak
 * webhook and bus secrets long before that). For tokens that are replaced over time use
 * {@link registerRecentToken}, which stays bounded.
 */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SCRUBBED_SECRET_LENGTH && !secrets.has(value)) {
    secrets.add(value);
    ordered = undefined;
  }
}

/**
 * Registers a short-lived token (an OAuth access token) for scrubbing. Only the
 * {@link RECENT_TOKEN_CAPACITY} (16) most recent stay registered, so a process that refreshes its token
 * forever does not grow the set (or the cost of every log line) forever. One token is in use at a time
 * (the cached one); the older ones were replaced and are kept only for lines still being written.
 */
export function registerRecentToken(value: string | undefined): void {
  if (!value || value.length < MIN_SCRUBBED_SECRET_LENGTH) return;
  recentTokens.delete(value);
  recentTokens.add(value);
  while (recentTokens.size > RECENT_TOKEN_CAPACITY) recentTokens.delete(recentTokens.values().next().value as string);
  ordered = undefined;
}

/** How many values are registered for scrubbing (configured secrets + recent tokens); for tests and metrics. */
export function registeredSecretCount(): number {
  return secrets.size + recentTokens.size;
}

function scrubSecrets(text: string): string {
  if (ordered === undefined) {
    ordered = [...secrets, ...recentTokens].sort((a, b) => b.length - a.length);
    shortest = ordered.length > 0 ? ordered[ordered.length - 1].length : Infinity;
  }
  // Most values of a history entry or a log line (states, event names, gateway names) are shorter than any secret.
  if (text.length < shortest) return text;
  let out = text;
  for (const s of ordered) if (out.includes(s)) out = out.split(s).join(SECRET_MASK);
  return out;
}

/** Redacts card numbers, bearer credentials and registered secrets from free text. */
export function redactText(text: string): string {
  let out = text;
  out = maskCardNumbers(out);
  if (BEARER_HINT.test(out)) out = out.replace(BEARER, (_m, scheme: string) => `${scheme} ${SECRET_MASK}`);
  return scrubSecrets(out);
}

/** A lower-case letter or digit followed by an upper-case one: where a camelCase name starts a word. */
const CAMEL_HUMP = /[a-z0-9][A-Z]/;
const CAMEL_HUMPS = /([a-z0-9])([A-Z])/g;

/** Whether a field name marks a secret or card security value. */
export function isSensitiveKey(key: string): boolean {
  let known = sensitiveKeys.get(key);
  if (known === undefined) {
    // A camelCase prefix as a snake_case one (Nuvei's `merchantSecretKey`, Cybersource's `facilitatorAccessToken`).
    known = SENSITIVE_KEY.test(key) || (CAMEL_HUMP.test(key) && SENSITIVE_KEY.test(key.replace(CAMEL_HUMPS, '$1_$2'))) || isCardFieldName(key);
    // Bounded: keys are mostly the same few dozen field names; a flood of odd ones only empties it.
    if (sensitiveKeys.size >= SENSITIVE_KEY_MEMO) sensitiveKeys.clear();
    sensitiveKeys.set(key, known);
  }
  return known;
}

/** `isSensitiveKey`'s answers by key: every history entry and log line asks about the same field names. */
const sensitiveKeys = new Map<string, boolean>();
const SENSITIVE_KEY_MEMO = 4096;

/** A JSON member `"key": value` in text, for bodies too deep or too broken to parse (keys up to 128 chars). */
const JSON_MEMBER = /"((?:[^"\\]|\\.){1,128})"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*)/g;

/** A bare integer of 16 digits or more after `:`, `[` or `,` in JSON text, as `redact` would have been handed it parsed. */
const LONG_JSON_INTEGER = /([[:,]\s*)(-?\d{16,})(?=\s*(?:[,\]}]|$))/g;

/** Whether an integer's digits (a sign and leading zeros allowed) are beyond 2^53 - 1. */
function beyondSafeInteger(digits: string): boolean {
  const significant = digits.replace(/^-?0*/, '');
  return significant.length > 16 || (significant.length === 16 && significant > String(Number.MAX_SAFE_INTEGER));
}

/**
 * {@link redactText} for JSON text that is not parsed (too deep, or not JSON at all): card numbers anywhere
 * (keys included) and the values of sensitive members (`"cvv": "123"`) are masked, and a bare integer beyond 2^53
 * is masked whole, as `redact` masks one parsed: a card number glued to a few more digits (`4111…1111 333`, or
 * after a leading zero, which is what makes the body no JSON) is no Luhn-valid number as a whole, and a run of 19
 * digits or fewer is not searched for one inside it. Linear in the text.
 */
export function redactJsonText(text: string): string {
  const masked = text
    .replace(JSON_MEMBER, (member: string, key: string, colon: string, value: string) =>
      isSensitiveKey(key) && value !== '""' && value !== 'null' ? `"${key}"${colon}"${SECRET_MASK}"` : member,
    )
    .replace(LONG_JSON_INTEGER, (whole: string, before: string, digits: string) => (beyondSafeInteger(digits) ? `${before}"${PAN_MASK}"` : whole));
  return redactText(masked);
}

/**
 * Deep copy of `value` with sensitive fields masked and card numbers removed from every string (and from
 * numbers long enough to be one; an integer beyond 2^53, rounded when parsed, is masked whole). Cycles are cut;
 * Buffers become a length note.
 */
export function redact<T>(value: T): T {
  return redactValue(value, undefined) as T;
}

/**
 * @param seen the objects visited so far (a second visit is `[Circular]`); made at the first object that holds
 *   another, holding it (a flat object, as a log line's fields or a history entry mostly are, needs none).
 */
function redactValue(value: unknown, seen: WeakSet<object> | undefined): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    // An integer of at most 11 digits (attempt counts, HTTP statuses, amounts) cannot be a card number: not
    // turned into a string to find out.
    if (typeof value === 'number' && Number.isInteger(value) && value < 1e11 && value > -1e11) return value;
    // An integer beyond 2^53 was rounded when parsed: a card number of 17 to 19 digits keeps its first 16
    // digits and fails the scan below; nothing of it is exact, so none of it is kept.
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) return PAN_MASK;
    const s = String(value);
    if (s.length >= 12 && redactText(s) !== s) return PAN_MASK;
    // A BigInt as its decimal text: what is redacted is written as JSON, which has no BigInt (JSON.stringify throws).
    return typeof value === 'bigint' ? s : value;
  }
  if (value === null || typeof value !== 'object') return value;
  // Made by hashing only, never from text: nothing of anyone's input in it (see HashDigest).
  if (value instanceof HashDigest) return value;
  // A card scheme's transaction id a PSP's answer named, in the bridge's own history entry: no card number, though a
  // Visa one (15 digits) may pass the Luhn check. A plain string under the same name (a channel's) is scanned as ever.
  if (value instanceof PspNetworkTransactionId) return scrubSecrets(value.id) === value.id ? value : SECRET_MASK;
  // Only a nested object can repeat one: the set of those visited is made when the first one is met (`visitedWith`).
  if (seen !== undefined) {
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
  }
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
  if (Array.isArray(value)) return redactArray(value, seen);
  if (value instanceof Error) {
    return { name: value.name, message: redactText(value.message), stack: value.stack ? redactText(value.stack) : undefined };
  }
  const out: Record<string, unknown> = {};
  const object = value as Record<string, unknown>;
  // The next free `#n` of each masked key: thousands of card numbers used as keys stay linear.
  let nextSuffix: Map<string, number> | undefined;
  // `for…in` with `Object.hasOwn`, not Object.keys (an array of the keys a call) nor Object.entries (a pair a member):
  // the same keys in the same order, through the object's enum cache.
  for (const k in object) {
    if (!Object.hasOwn(object, k)) continue;
    const v = object[k];
    // Keys are data too: a card number used as a key is masked like one in a value (kept distinct).
    let key = redactKey(k);
    if (key !== k && Object.hasOwn(out, key)) {
      const masked = key;
      nextSuffix ??= new Map();
      let n = nextSuffix.get(masked) ?? 2;
      while (Object.hasOwn(out, `${masked}#${n}`)) n += 1;
      key = `${masked}#${n}`;
      nextSuffix.set(masked, n + 1);
    }
    if (isSensitiveKey(k) && v !== null && v !== undefined && v !== '') out[key] = SECRET_MASK;
    else {
      const member = paymentMethodWithoutNumber(k, v);
      // A digest or a PSP's network id (kept as they are above) holds no member: no set needed for it.
      if (member !== null && typeof member === 'object' && !(member instanceof HashDigest) && !(member instanceof PspNetworkTransactionId)) {
        seen ??= visitedWith(object);
      }
      out[key] = redactValue(member, seen);
    }
  }
  return out;
}

/**
 * `array`'s elements redacted. A function of its own: a closure over `seen` inside `redactValue` would make every call
 * of it, a string's or a number's too, allocate a context for `seen`.
 */
function redactArray(array: unknown[], seen: WeakSet<object> | undefined): unknown[] {
  return array.map((v) => redactValue(v, v !== null && typeof v === 'object' ? (seen ??= visitedWith(array)) : seen));
}

/** The visited set of a redaction, made when its first nested object is met: the object holding it, visited already. */
function visitedWith(parent: object): WeakSet<object> {
  const seen = new WeakSet<object>();
  seen.add(parent);
  return seen;
}

/** A key with any card number in it masked, as a value would be (a key too short to hold one is as it is). */
export function redactKey(key: string): string {
  return key.length >= MIN_PAN ? redactText(key) : key;
}

/**
 * A PSP's `paymentMethod` object (Adyen Stored Value `/issue` answers the new gift card's `number` in it), or
 * `sourcePaymentMethod` (Adyen's `/mergeBalance` names the source gift card there): its `number` is a card
 * number even when it fails the Luhn check, as many gift card numbers do.
 */
function paymentMethodWithoutNumber(key: string, value: unknown): unknown {
  // `paymentMethod`, `payment_method`, `payment-method`: 13 or 14 characters; with `source`, 19 to 21 (the length
  // spares the regex on every key).
  const n = key.length;
  if (
    (n !== 13 && n !== 14 && (n < 19 || n > 21)) ||
    !/^(?:source[_-]?)?payment[_-]?method$/i.test(key) ||
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value)
  )
    return value;
  const pm = value as Record<string, unknown>;
  return pm.number === undefined || pm.number === null || pm.number === '' ? value : { ...pm, number: SECRET_MASK };
}

/** A character a path `findCardData` builds gives a meaning to: a key holding one spells another field's path. */
const PATH_SYNTAX = /[.[\]]/;

/** Whether `text` holds a card number outside `spans` (each part read on its own: a span ends a digit run). */
function holdsCardNumberOutside(text: string, spans: readonly TextSpan[]): boolean {
  return textOutside(text, spans).some((part) => part.length >= 12 && containsCardNumber(part));
}

/**
 * Paths of every field that holds a card number (in any field, at any depth) or a card security code.
 * Intake and the consumer reject such commands: a PAN must never reach a queue, Redis or a log.
 * @param kept string fields, by the path this names them with, whose JSON text holds values the caller vouches for at
 *   these members (`[]`: the whole string): those values are left alone, the rest of the text is scanned as ever
 *   (`jsonMemberSpans`: a text its re-serialization would change is scanned whole). The data lifecycle's, for the
 *   network transaction ids the bridge wrote; none elsewhere.
 */
export function findCardData(value: unknown, path = '', kept?: ReadonlyMap<string, readonly JsonMemberPath[]>): string[] {
  const hits: string[] = [];
  // `exact`: `p` names `v` alone (no key on the way holds "." or "[": `{"a.b":…}` and `{"a":{"b":…}}` are both `a.b`), the
  // only paths `kept` is asked about. Always false without `kept` (intake: nothing more is read).
  const walk = (v: unknown, p: string, exact: boolean): void => {
    if (typeof v === 'string' || typeof v === 'number') {
      const s = String(v);
      if (s.length < 12) return;
      const members = kept === undefined || !exact || typeof v !== 'string' ? undefined : kept.get(p);
      if (members === undefined ? containsCardNumber(s) : holdsCardNumberOutside(s, jsonMemberSpans(s, members))) hits.push(p || '(root)');
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${p}[${i}]`, exact));
      return;
    }
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      // A card number used as a key is card data too; the reported path must not quote it.
      const keyHasPan = k.length >= 12 && containsCardNumber(k);
      const name = keyHasPan ? PAN_MASK : k;
      const child = p ? `${p}.${name}` : name;
      if (keyHasPan) {
        hits.push(child);
        continue;
      }
      if (isCardFieldName(k) && item !== null && item !== undefined && item !== '') {
        hits.push(child);
        continue;
      }
      walk(item, child, exact && !PATH_SYNTAX.test(k));
    }
  };
  walk(value, path, kept !== undefined);
  return hits;
}

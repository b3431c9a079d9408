/**
 * Redaction of card data and secrets: the one place that decides what may never leave the process.
 * Used by the logger (every line), the dead-letter writer and the ledger, so a card number sent in any
 * field cannot come out anywhere.
 */

/** Replacement for a card number found in free text. */
export const PAN_MASK = '[PAN REDACTED]';
/** Replacement for the value of a sensitive field. */
export const SECRET_MASK = '[REDACTED]';

// Digit runs of 12 to 19 digits, optionally grouped by single spaces or dashes ("4111 1111-1111 1111").
const DIGIT_RUN = /(?<![\d])\d(?:[ -]?\d){11,}(?![\d])/g;

/** Field names whose values are secrets or card security data, whatever they hold. */
const SENSITIVE_KEY =
  /^(?:.*[_-])?(?:cvv2?|cvc2?|cvn|cid|security[_-]?code|card[_-]?number|cardnumber|pan|password|passwd|secret|client[_-]?secret|shared[_-]?secret|webhook[_-]?secret|api[_-]?key|apikey|authorization|proxy-authorization|access[_-]?token|refresh[_-]?token|id[_-]?token|private[_-]?key|hmac[_-]?key|cookie|set-cookie|encrypted[_-]?card[_-]?number|encrypted[_-]?security[_-]?code)(?:[_-]?(?:previous|prev|old))?$/i;

const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;

/** Luhn check over a string of digits. */
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
 * Whether a 12–19 digit string is plausibly a payment card number: Luhn-valid and starting with a
 * card-issuing major industry identifier (2 to 6: Mastercard 2-series, Amex/Diners/JCB, Visa,
 * Mastercard/Maestro, Discover/UnionPay). Used to *refuse* input, where a bare Luhn check would refuse one
 * numeric order id in ten; the logger redacts on Luhn alone (over-redacting a log costs nothing).
 */
export function isLikelyCardNumber(digits: string): boolean {
  return digits.length >= 12 && digits.length <= 19 && digits[0] >= '2' && digits[0] <= '6' && luhnValid(digits);
}

/**
 * Whether a digit run holds a card number. `slide` also checks every 12–19 digit window of a longer
 * unbroken run (a card number glued to other digits): right for redacting, where over-masking costs
 * nothing, wrong for refusing input, where a 22-digit PSP id (Cybersource) would be refused 99 % of the time.
 */
function hasPan(run: string, test: (digits: string) => boolean, slide: boolean): boolean {
  const digits = run.replace(/[ -]/g, '');
  if (digits.length >= 12 && digits.length <= 19 && test(digits)) return true;
  if (digits.length > 19 && slide) {
    for (let len = 12; len <= 19; len += 1) {
      for (let i = 0; i + len <= digits.length; i += 1) {
        if (test(digits.slice(i, i + len))) return true;
      }
    }
    return false;
  }
  // A card number written next to another number ("4111111111111111 12", "qty 3 5555…") joins one run
  // that fails as a whole: try every span of whole groups too.
  const groups = run.split(/[ -]/);
  for (let i = 0; i < groups.length; i += 1) {
    let joined = '';
    for (let j = i; j < groups.length; j += 1) {
      joined += groups[j];
      if (joined.length >= 12 && joined.length <= 19 && joined.length < digits.length && test(joined)) return true;
    }
  }
  return false;
}

function isPanRun(run: string): boolean {
  return hasPan(run, luhnValid, true);
}

/** Whether free text holds something that is plausibly a card number (see {@link isLikelyCardNumber}). */
export function containsCardNumber(text: string): boolean {
  if (!/\d{4}/.test(text)) return false;
  for (const m of text.matchAll(DIGIT_RUN)) if (hasPan(m[0], isLikelyCardNumber, false)) return true;
  return false;
}

const secrets = new Set<string>();

/**
 * Registers a configured secret value (bus secret, client secret, API keys, access tokens) so that it is
 * scrubbed wherever it appears in text. Values shorter than 8 characters are ignored (too many false hits).
 */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) secrets.add(value);
}

/** Redacts card numbers, bearer credentials and registered secrets from free text. */
export function redactText(text: string): string {
  let out = text;
  if (/\d{4}/.test(out)) out = out.replace(DIGIT_RUN, (run) => (isPanRun(run) ? PAN_MASK : run));
  if (/bearer|basic/i.test(out)) out = out.replace(BEARER, (_m, scheme: string) => `${scheme} ${SECRET_MASK}`);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(SECRET_MASK);
  return out;
}

/** Whether a field name marks a secret or card security value. */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

/**
 * Deep copy of `value` with sensitive fields masked and card numbers removed from every string (and from
 * numbers long enough to be one). Cycles are cut; Buffers become a length note.
 */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakSet()) as T;
}

function redactValue(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const s = String(value);
    return s.length >= 12 && redactText(s) !== s ? PAN_MASK : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, seen));
  if (value instanceof Error) {
    return { name: value.name, message: redactText(value.message), stack: value.stack ? redactText(value.stack) : undefined };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSensitiveKey(k) && v !== null && v !== undefined && v !== '' ? SECRET_MASK : redactValue(v, seen);
  }
  return out;
}

/**
 * Paths of every field that holds a card number (in any field, at any depth) or a card security code.
 * Intake and the consumer reject such commands: a PAN must never reach a queue, Redis or a log.
 */
export function findCardData(value: unknown, path = ''): string[] {
  const hits: string[] = [];
  const walk = (v: unknown, p: string): void => {
    if (typeof v === 'string' || typeof v === 'number') {
      const s = String(v);
      if (s.length >= 12 && containsCardNumber(s)) hits.push(p || '(root)');
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${p}[${i}]`));
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
      if (/^(?:cvv2?|cvc2?|cvn|security[_-]?code|card[_-]?number|cardnumber|pan)$/i.test(k) && item !== null && item !== '') {
        hits.push(child);
        continue;
      }
      walk(item, child);
    }
  };
  walk(value, path);
  return hits;
}

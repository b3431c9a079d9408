import { redactKey } from '../logging/redact';

/*
 * `JSON.parse` keeps the last of two members with one name: `{"amount":1999,…,"amount":5}` is 5, while
 * whatever read the text before (a signature check, a proxy, a log) may have seen 1999. RFC 8259 §4: names
 * within an object SHOULD be unique, and parsers differ on which one wins. Commands with a repeated name
 * are refused, found in one pass over the text, on every command's path. The same pass finds what else
 * `JSON.parse` hides: a number whose fraction it rounds away into an integer (`1999.9999999999999999` is
 * 2000), which an integer field such as an amount would take as sent (`jsonTextProblem`).
 *
 * Allocation-light: the names of the objects open on the way down are kept as spans of the text (start,
 * end, hash) in scratch arrays reused by every call (the scan is synchronous); a name is compared with its
 * object's earlier names by hash, then character by character. Only a name with escapes is decoded (its
 * `\u0061` is `a`), and only an object of more than {@link SMALL_OBJECT} members gets a set of its names,
 * so a hostile object of 100 000 members stays linear.
 */

/** Members an object may have before its names go into a set rather than a list compared one by one. */
const SMALL_OBJECT = 32;
/** Longest path segment an error names: a path is a header and a log field, a name may be a megabyte. */
const MAX_SEGMENT = 64;

const ARRAY = -1;
const DOCUMENT = -2;

let keyStart = new Int32Array(256);
let keyEnd = new Int32Array(256);
let keyHash = new Int32Array(256);
/** 1 when the name has escapes (compared decoded). */
let keyEscaped = new Uint8Array(256);

function growKeys(): void {
  const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
    const b = make(a.length * 2);
    b.set(a);
    return b;
  };
  keyStart = grow(keyStart, (n) => new Int32Array(n));
  keyEnd = grow(keyEnd, (n) => new Int32Array(n));
  keyHash = grow(keyHash, (n) => new Int32Array(n));
  keyEscaped = grow(keyEscaped, (n) => new Uint8Array(n));
}

/** Per open container: its first key slot (an object), {@link ARRAY}, or {@link DOCUMENT} (frame 0). */
const frameBase: number[] = [];
/** Per open container: the slot of the parent's member it is the value of (-1 at the root or in an array). */
const frameParentKey: number[] = [];
/** Per open array: the index of the element being read. */
const frameIndex: number[] = [];
/** Per open object past {@link SMALL_OBJECT} members: its decoded names. */
const frameNames: (Set<string> | null)[] = [];

/** The decoded name in slot `k`. */
function nameAt(text: string, k: number): string {
  const raw = text.slice(keyStart[k], keyEnd[k]);
  return keyEscaped[k] === 1 ? (JSON.parse(`"${raw}"`) as string) : raw;
}

function sameName(text: string, a: number, b: number): boolean {
  if (keyHash[a] !== keyHash[b]) return false;
  if (keyEscaped[a] === 1 || keyEscaped[b] === 1) return nameAt(text, a) === nameAt(text, b);
  const length = keyEnd[a] - keyStart[a];
  if (length !== keyEnd[b] - keyStart[b]) return false;
  for (let i = 0; i < length; i += 1) if (text.charCodeAt(keyStart[a] + i) !== text.charCodeAt(keyStart[b] + i)) return false;
  return true;
}

/** Hash of a decoded name (for a name with escapes: decoded first, so `"a"` and `"\u0061"` hash alike). */
function hashOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i += 1) h = (Math.imul(h, 31) + name.charCodeAt(i)) | 0;
  return h;
}

/** A path segment that never quotes a card number, bounded in length. */
function segment(name: string): string {
  const safe = redactKey(name);
  return safe.length > MAX_SEGMENT ? `${safe.slice(0, MAX_SEGMENT)}…` : safe;
}

/** The path of the container open at `depth` (`params.payment`, `payment.lines[1]`; empty for the document). */
function containerPath(text: string, depth: number): string {
  let path = '';
  for (let d = 1; d <= depth; d += 1) {
    // Each container below the root is the value of its parent's member, or an element of its parent array.
    const parentKey = frameParentKey[d];
    if (parentKey >= 0) path = path ? `${path}.${segment(nameAt(text, parentKey))}` : segment(nameAt(text, parentKey));
    else if (frameBase[d - 1] === ARRAY) path = `${path}[${frameIndex[d - 1]}]`;
  }
  return path;
}

/** The path of the member in slot `k`, open at `depth` (`params.payment.amount`, `payment.lines[1].sku`). */
function pathOf(text: string, depth: number, k: number): string {
  const path = containerPath(text, depth);
  const last = segment(nameAt(text, k));
  return path ? `${path}.${last}` : last;
}

/** The path of the value being read at `depth`: a member's, an array element's, or `(root)`. */
function valuePath(text: string, depth: number, keys: number): string {
  const base = frameBase[depth];
  if (base >= 0) return pathOf(text, depth, keys - 1);
  if (base === ARRAY) return `${containerPath(text, depth)}[${frameIndex[depth]}]`;
  return '(root)';
}

/** Whether `c` may continue a JSON number token (digits, sign, point, exponent). */
function inNumber(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

/**
 * Whether a JSON number token with a fraction or an exponent is parsed into an integer that it is not:
 * `1999.0000000000001` and `1999.99999999999999999` become the doubles 1999 and 2000, `1e-400` becomes 0, so
 * an integer field (money) would take them as sent. The token's exact decimal value is integral when every
 * digit after its decimal point, the exponent applied, is 0 (`1.5e1`, `19990e-1`, `1.0` are integers).
 */
function roundsToInteger(token: string): boolean {
  if (!Number.isInteger(Number(token))) return false;
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (!m) return false;
  const digits = m[1] + (m[2] ?? '');
  // Digits before the decimal point once the exponent is applied (a huge exponent is a huge number: fine).
  const point = m[1].length + Number(m[3] ?? '0');
  for (let i = Math.max(0, point); i < digits.length; i += 1) if (digits.charCodeAt(i) !== 0x30) return true;
  return false;
}

/** What {@link jsonTextProblem} finds: the path, and whether a member name repeats or a number was rounded. */
export interface JsonTextProblem {
  path: string;
  problem: 'repeated_member' | 'rounded_number';
}

/**
 * The path of the first member whose name repeats an earlier one in the same object, or null. `text` must
 * be valid JSON (call it after `JSON.parse` accepted the text). One pass, linear in the text.
 */
export function repeatedMemberPath(text: string): string | null {
  return scan(text, false)?.path ?? null;
}

/**
 * The first of what `JSON.parse` hides in valid JSON text, in the order of the text: a member name repeated in
 * its object (the last one wins), or a number whose fraction parsing rounds away into an integer (see
 * `roundsToInteger`); null when there is neither. One pass, linear in the text; `text` must be valid JSON.
 */
export function jsonTextProblem(text: string): JsonTextProblem | null {
  return scan(text, true);
}

function scan(text: string, numbers: boolean): JsonTextProblem | null {
  // Depth of the open containers; frame 0 is the document itself (never an object with keys).
  let depth = 0;
  frameBase[0] = DOCUMENT;
  frameParentKey[0] = -1;
  frameNames[0] = null;
  let keys = 0;
  let expectName = false;
  const length = text.length;
  for (let i = 0; i < length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      if (!expectName) {
        // A value: jump to its closing quote (one not escaped by an odd run of backslashes).
        let close = text.indexOf('"', i + 1);
        for (;;) {
          let slashes = 0;
          while (text.charCodeAt(close - 1 - slashes) === 0x5c) slashes += 1;
          if (slashes % 2 === 0) break;
          close = text.indexOf('"', close + 1);
        }
        i = close;
        continue;
      }
      expectName = false;
      const start = i + 1;
      let h = 0;
      let escaped = 0;
      let j = start;
      for (; ; j += 1) {
        const d = text.charCodeAt(j);
        if (d === 0x22) break;
        if (d === 0x5c) {
          escaped = 1;
          j += 1;
        } else h = (Math.imul(h, 31) + d) | 0;
      }
      i = j;
      if (keys === keyStart.length) growKeys();
      keyStart[keys] = start;
      keyEnd[keys] = j;
      keyEscaped[keys] = escaped;
      keyHash[keys] = escaped === 1 ? hashOf(nameAt(text, keys)) : h;
      const base = frameBase[depth];
      let names = frameNames[depth];
      if (names === null && keys - base >= SMALL_OBJECT) {
        names = new Set();
        for (let k = base; k < keys; k += 1) names.add(nameAt(text, k));
        frameNames[depth] = names;
      }
      if (names !== null) {
        const name = nameAt(text, keys);
        if (names.has(name)) return { path: pathOf(text, depth, keys), problem: 'repeated_member' };
        names.add(name);
      } else {
        for (let k = base; k < keys; k += 1) if (sameName(text, k, keys)) return { path: pathOf(text, depth, keys), problem: 'repeated_member' };
      }
      keys += 1;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parentKey = frameBase[depth] >= 0 ? keys - 1 : -1;
      depth += 1;
      frameParentKey[depth] = parentKey;
      frameNames[depth] = null;
      if (c === 0x7b) {
        frameBase[depth] = keys;
        expectName = true;
      } else {
        frameBase[depth] = ARRAY;
        frameIndex[depth] = 0;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (frameBase[depth] >= 0) keys = frameBase[depth];
      frameNames[depth] = null;
      depth -= 1;
      // An empty object expected a name that never came.
      expectName = false;
    } else if (c === 0x2c /* , */) {
      if (frameBase[depth] >= 0) expectName = true;
      else if (frameBase[depth] === ARRAY) frameIndex[depth] += 1;
    } else if (numbers && (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39))) {
      // A number (outside strings, only numbers hold digits): read as a whole, checked only with a fraction or exponent.
      let end = i + 1;
      let decimal = false;
      for (; end < length; end += 1) {
        const d = text.charCodeAt(end);
        if (!inNumber(d)) break;
        if (d === 0x2e || d === 0x65 || d === 0x45) decimal = true;
      }
      if (decimal && roundsToInteger(text.slice(i, end))) return { path: valuePath(text, depth, keys), problem: 'rounded_number' };
      i = end - 1;
    }
  }
  return null;
}

import { redactKey } from '../logging/redact';

/*
 * `JSON.parse` keeps the last of two members with one name: `{"amount":1999,…,"amount":5}` is 5, while
 * whatever read the text before (a signature check, a proxy, a log) may have seen 1999. RFC 8259 §4: names
 * within an object SHOULD be unique, and parsers differ on which one wins. Commands with a repeated name
 * are refused, found in one pass over the text, on every command's path.
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

/** The path of the member in slot `k`, open at `depth` (`params.payment.amount`, `payment.lines[1].sku`). */
function pathOf(text: string, depth: number, k: number): string {
  let path = '';
  for (let d = 1; d <= depth; d += 1) {
    // Each container below the root is the value of its parent's member, or an element of its parent array.
    const parentKey = frameParentKey[d];
    if (parentKey >= 0) path = path ? `${path}.${segment(nameAt(text, parentKey))}` : segment(nameAt(text, parentKey));
    else if (frameBase[d - 1] === ARRAY) path = `${path}[${frameIndex[d - 1]}]`;
  }
  const last = segment(nameAt(text, k));
  return path ? `${path}.${last}` : last;
}

/**
 * The path of the first member whose name repeats an earlier one in the same object, or null. `text` must
 * be valid JSON (call it after `JSON.parse` accepted the text). One pass, linear in the text.
 */
export function repeatedMemberPath(text: string): string | null {
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
        if (names.has(name)) return pathOf(text, depth, keys);
        names.add(name);
      } else {
        for (let k = base; k < keys; k += 1) if (sameName(text, k, keys)) return pathOf(text, depth, keys);
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
    }
  }
  return null;
}

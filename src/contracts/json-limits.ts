import { TextDecoder } from 'node:util';
import { CommandValidationError } from '../errors/command-validation-error';
import { jsonTextProblem } from './repeated-members';

/**
 * Deepest nesting of objects and arrays a command may have. The deepest legitimate path of a canonical
 * command is about 6 levels (`params.payment.method_details.card.…`, `custom_attributes[].{…}`); 32 leaves
 * room for what a bus adds, and stays far below what recursive code (the validator, the card-data scan,
 * redaction) can walk without exhausting the stack.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Most bytes of one queued command message the consumer parses (1 MiB). The intake bounds HTTP bodies by
 * `http.body_limit_bytes`; channels that publish to the broker directly are bounded here.
 */
export const MAX_COMMAND_MESSAGE_BYTES = 1024 * 1024;

/**
 * One strict UTF-8 decoder for every command: `fatal`, so a malformed byte sequence throws instead of
 * becoming U+FFFD; `ignoreBOM`, so a byte order mark stays in the text and `JSON.parse` refuses it, as
 * before. Made once: decoding is on every command's path.
 */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text of a command's bytes. JSON exchanged between systems is UTF-8 (RFC 8259 §8.1); bytes that are
 * not are refused, never replaced: replaced by U+FFFD, `ORD-\xff` and `ORD-\xfe` would be one order id.
 * @throws CommandValidationError `(root)` "is not valid UTF-8" (`PARSE_ERROR`).
 */
export function decodeJsonText(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new CommandValidationError('(root)', 'is not valid UTF-8', 'PARSE_ERROR');
  }
}

/**
 * Nesting depth of JSON text, measured in one linear pass without recursion and without parsing: brackets
 * inside strings (escapes included) do not count. Stops counting as soon as `limit` is exceeded, so a
 * hostile body costs at most one pass. Malformed text gets a depth too; `JSON.parse` refuses it later.
 * @returns the deepest nesting seen, or `limit + 1` as soon as it exceeds `limit`.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i += 1;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth += 1;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth -= 1;
  }
  return max;
}

/**
 * Whether `text` holds at most `limit` opening brackets (`{` or `[`, in strings too): its nesting cannot
 * then exceed `limit`. Native searches, so a command of a few objects skips {@link jsonDepth}'s pass.
 */
function fewOpenings(text: string, limit: number): boolean {
  let count = 0;
  for (const bracket of ['{', '[']) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1)) {
      count += 1;
      if (count > limit) return false;
    }
  }
  return true;
}

/**
 * Parses a command's JSON text after checking its size and nesting, before anything recursive touches it,
 * and refuses an object that repeats a member name (`JSON.parse` would keep the last one silently) and a
 * number whose fraction parsing would round away into an integer (`1999.0000000000001` would read as 1999).
 * @throws CommandValidationError `(root)` naming the limit (`INVALID_REQUEST`), `PARSE_ERROR`, or the path
 *   of a repeated member or a rounded number (`payment.amount`, `INVALID_REQUEST`).
 */
export function parseBoundedJson(text: string, limits: { maxBytes?: number; maxDepth?: number } = {}): unknown {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH;
  if (limits.maxBytes !== undefined) {
    // Characters ≤ bytes: only count the bytes when the text could be over.
    const bytes = text.length > limits.maxBytes / 3 ? Buffer.byteLength(text, 'utf8') : text.length;
    if (bytes > limits.maxBytes) throw new CommandValidationError('(root)', `is larger than ${limits.maxBytes} bytes`, 'INVALID_REQUEST');
  }
  if (!fewOpenings(text, maxDepth) && jsonDepth(text, maxDepth) > maxDepth) {
    throw new CommandValidationError('(root)', `nests objects or arrays deeper than ${maxDepth} levels`, 'INVALID_REQUEST');
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new CommandValidationError('(root)', 'is not valid JSON', 'PARSE_ERROR');
  }
  const hidden = jsonTextProblem(text);
  if (hidden?.problem === 'repeated_member') {
    throw new CommandValidationError(hidden.path, 'repeats a member name of its object: each name must appear once (RFC 8259 §4)', 'INVALID_REQUEST');
  }
  if (hidden?.problem === 'rounded_number') {
    // Never rounded into a whole amount: 1999.99999999999999999 would be charged as 2000 minor units.
    throw new CommandValidationError(
      hidden.path,
      'is a number with a fraction that JSON parsing rounds to an integer, so it is not carried exactly: money is an integer of minor units',
      'INVALID_REQUEST',
    );
  }
  return value;
}

/**
 * Whether an already decoded value nests deeper than `limit`, so a value built in code gets the same bound
 * as parsed text. Recursive but stack-safe: it never goes deeper than `limit + 1` calls (a cyclic value
 * counts as too deep), and it allocates nothing on the way (one key list per object).
 */
export function exceedsDepth(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  return deeperThan(value, 0, limit);
}

/** Whether `v`, found at nesting `depth`, is an object or array whose nesting exceeds `limit`. */
function deeperThan(v: unknown, depth: number, limit: number): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (depth + 1 > limit) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i += 1) if (deeperThan(v[i], depth + 1, limit)) return true;
    return false;
  }
  const record = v as Record<string, unknown>;
  // `for…in` with `Object.hasOwn`: the same keys as `Object.keys`, in the same order, without an array of them a call.
  for (const key in record) if (Object.hasOwn(record, key) && deeperThan(record[key], depth + 1, limit)) return true;
  return false;
}

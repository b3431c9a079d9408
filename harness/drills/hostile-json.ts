import { PAN_STYLES, TEST_PANS, formatPan } from './test-card-numbers';

/**
 * Seeded hostile variants of a valid JSON document, as a PSP (or anything pretending to be one) could send
 * them: one value changed at a random place (a wrong type, a huge or odd string, a card number as a value or
 * a name, a number JSON does not carry exactly, nesting thousands deep, an array of a hundred thousand items,
 * `__proto__` members, a repeated member) or the whole body broken (not JSON, truncated, not UTF-8, a bare
 * scalar, an HTML error page, a body near the size the HTTP client reads). The same seed gives the same cases.
 *
 * Every case is bounded by construction: no body above {@link MAX_HOSTILE_BODY_BYTES}, so whatever reads
 * one does a bounded amount of work.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/** The largest body a case holds: the HTTP client reads at most 8 MiB of an answer; 2 MiB keeps a run fast. */
export const MAX_HOSTILE_BODY_BYTES = 2 * 1024 * 1024;

/** One hostile variant of a document. */
export interface HostileCase {
  /** The mutation, for the summary. */
  kind: string;
  /** Where it was made (`data.0.currency`); '' for the whole body. */
  path: string;
  body: Buffer;
}

/** Numbers as JSON text that no reader should take as an amount or a time: out of range, inexact, negative zero. */
const ODD_NUMBERS = ['1e400', '-1e400', '9007199254740993', '-9007199254740993', '-0', '1e-400', '1e308', '123456789012345678901234567890', '0.1', '-1', '2.5'];
/** Strings people and systems send by mistake, escaped as JSON text (lone surrogates cannot be built otherwise). */
const ODD_TEXT = ['"a\\ud800b"', '"\\udfff"', '"\\u0000"', '"\\u202e\\u200b"', '"\\ufeff"', '"😀👍🏽"', '"%s%n"', '"${jndi:x}"', '"<script>"', '"\\\\\\""'];
/** Bodies that are no document at all. */
const NOT_DOCUMENTS = [
  '',
  ' ',
  'null',
  'true',
  '0',
  '-1',
  '"x"',
  '[]',
  '{}',
  '{"a":',
  '[{',
  '<html><body><h1>502 Bad Gateway</h1></body></html>',
  '<?xml version="1.0"?><error/>',
  'a=b&c=d',
  'Internal Server Error',
  'NaN',
  '{"a":1}{"b":2}',
];
/**
 * Makes hostile variants of documents; `random` is a seeded source in [0, 1).
 */
export class HostileJson {
  constructor(readonly random: () => number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  /** A test card number in one of its written forms, sometimes inside text. */
  pan(): string {
    const pan = formatPan(this.pick(TEST_PANS), this.pick(PAN_STYLES));
    return this.pick([pan, pan, `card ${pan} declined`, `${pan}:EUR`, `ref-${pan}`]);
  }

  /**
   * One hostile variant of `seed`: most often one value changed at a random place (under `under` when given:
   * a path prefix such as `['data']`), else the whole body broken.
   */
  variant(seed: Json, under: readonly string[] = []): HostileCase {
    return this.random() < 0.85 ? this.mutate(seed, under) : this.broken(seed);
  }

  /** One value of a copy of `seed` changed at a random place under `under`. */
  mutate(seed: Json, under: readonly string[] = []): HostileCase {
    const doc = JSON.parse(JSON.stringify(seed)) as Json;
    const places = paths(doc).filter((p) => p.length > under.length && under.every((k, i) => p[i] === k));
    if (places.length === 0) return this.broken(seed);
    const path = this.pick(places);
    const holder = holderOf(doc, path);
    const key = path[path.length - 1];
    const name = path.join('.');
    const current = (holder as Obj)[key];
    const set = (value: Json): void => {
      (holder as Obj)[key] = value;
    };
    /** The document with the value at `path` replaced by raw JSON text. */
    const raw = (text: string): Buffer => {
      set(MARKER);
      return Buffer.from(JSON.stringify(doc).replace(`"${MARKER}"`, () => text));
    };
    const kinds: Array<[string, () => Buffer]> = [
      ['wrong type', () => (set(this.pick<Json>([42, -1, 0, true, false, null, [], {}, 1.5, '7', '', 'null', [current ?? null]])), this.text(doc))],
      ['missing', () => (Array.isArray(holder) ? holder.splice(Number(key), 1) : delete (holder as Obj)[key], this.text(doc))],
      ['huge string', () => (set(this.pick(['x', '9', ' ', 'é', '\u0000']).repeat(this.pick([300, 10_000, 200_000, 1_000_000]))), this.text(doc))],
      ['card number', () => (set(this.pan()), this.text(doc))],
      ['card number as a name', () => (set({ [this.pan()]: current ?? 'x' }), this.text(doc))],
      ['card number as a number', () => raw(this.pick(TEST_PANS))],
      ['number JSON does not carry', () => raw(this.pick(ODD_NUMBERS))],
      ['odd text', () => raw(this.pick(ODD_TEXT))],
      ['nested thousands deep', () => raw(nest(this.pick([64, 1000, 10_000, 100_000, 400_000]), this.random() < 0.5))],
      ['wide array', () => raw(`[${Array.from({ length: this.pick([1000, 100_000]) }, () => this.pick(['1', '"a"', '{}', 'null'])).join(',')}]`)],
      ['prototype members', () => raw('{"__proto__":{"status":"succeeded","id":"x"},"constructor":{"prototype":{"x":1}},"toString":1}')],
      ['array for a value', () => (set([current ?? null]), this.text(doc))],
    ];
    // A member repeated (the last one would win in a lenient reader): only an object has members.
    if (!Array.isArray(holder))
      kinds.push(['repeated member', () => raw(`${JSON.stringify(current ?? null)},"${escapeKey(key)}":${JSON.stringify(current ?? null)}`)]);
    const [kind, make] = this.pick(kinds);
    const body = make();
    // Cut at the bound, the document is no longer one: a broken body, not a value at `path`.
    if (body.length > MAX_HOSTILE_BODY_BYTES) return { kind: `${kind}, cut at the size limit`, path: '', body: capped(body) };
    return { kind, path: name, body };
  }

  /** The whole body broken: not a document, truncated, not UTF-8, garbage, nested at the root, padded to the size limit. */
  broken(seed: Json): HostileCase {
    const text = JSON.stringify(seed);
    const kinds: Array<[string, () => Buffer]> = [
      ['not a document', () => Buffer.from(this.pick(NOT_DOCUMENTS))],
      ['truncated', () => Buffer.from(text.slice(0, this.int(0, Math.max(0, text.length - 1))))],
      ['byte order mark', () => Buffer.from(`\ufeff${text}`)],
      ['not UTF-8', () => withBadByte(text, this.int(0, text.length), this.pick([0xff, 0xfe, 0xc0, 0x80, 0xed]))],
      ['garbage bytes', () => Buffer.from(Array.from({ length: this.int(1, 4096) }, () => this.int(0, 255)))],
      ['root nested deep', () => Buffer.from(nest(this.pick([10_000, 200_000, 900_000]), this.random() < 0.5))],
      ['a JSON string holding a card number', () => Buffer.from(JSON.stringify(this.pan()))],
      ['card number after the document', () => Buffer.from(`${text}\n${this.pan()}`)],
      ['padded to the size limit', () => Buffer.from(`${' '.repeat(MAX_HOSTILE_BODY_BYTES - text.length - 1)}${text}`)],
    ];
    const [kind, make] = this.pick(kinds);
    return { kind, path: '', body: capped(make()) };
  }

  private text(doc: Json): Buffer {
    return Buffer.from(JSON.stringify(doc));
  }
}

const MARKER = '@@hostile-value@@';

/** Every path to a value of `doc` (keys; array indexes as strings), breadth first; the root excluded. */
export function paths(doc: Json): string[][] {
  const out: string[][] = [];
  const queue: Array<[Json, string[]]> = [[doc, []]];
  while (queue.length > 0) {
    const [value, at] = queue.shift() as [Json, string[]];
    if (value === null || typeof value !== 'object') continue;
    const keys = Array.isArray(value) ? value.map((_v, i) => String(i)) : Object.keys(value);
    for (const k of keys) {
      const p = [...at, k];
      out.push(p);
      queue.push([(value as Obj)[k], p]);
    }
  }
  return out;
}

function holderOf(doc: Json, path: readonly string[]): Json {
  let v: Json = doc;
  for (const k of path.slice(0, -1)) v = (v as Obj)[k];
  return v;
}

function escapeKey(key: string): string {
  return JSON.stringify(key).slice(1, -1);
}

/** `levels` of arrays (or objects) around one number, as text. */
export function nest(levels: number, arrays: boolean): string {
  return arrays ? `${'['.repeat(levels)}1${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

function withBadByte(text: string, at: number, byte: number): Buffer {
  return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([byte]), Buffer.from(text.slice(at))]);
}

/** No case above the bound: a longer body is cut (a truncated document is one more hostile shape). */
function capped(body: Buffer): Buffer {
  return body.length <= MAX_HOSTILE_BODY_BYTES ? body : body.subarray(0, MAX_HOSTILE_BODY_BYTES);
}

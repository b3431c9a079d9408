/**
 * Where members of a JSON text are, so the card-number scan can leave a value its caller vouches for alone (a network
 * transaction id the bridge wrote, in a record's JSON field) and read the rest of the text as it always does.
 */

/** The keys from a JSON text's root object down to one of its members; `[]`: the whole text. */
export type JsonMemberPath = readonly string[];

/** A span of a text, `[start, end)` in UTF-16 code units. */
export type TextSpan = readonly [number, number];

function samePath(a: readonly string[], b: JsonMemberPath): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

/**
 * Adds to `spans` where each string value at one of `members` is in the text `JSON.stringify(value)` writes (its
 * characters between the quotes), walking it as `JSON.stringify` writes it (object keys in their own order, no
 * spaces). Returns the length of that text.
 */
function walk(value: unknown, at: string[] | undefined, members: readonly JsonMemberPath[], offset: number, spans: TextSpan[]): number {
  if (value === null || typeof value !== 'object') {
    const written = JSON.stringify(value);
    if (typeof value === 'string' && at !== undefined && members.some((m) => samePath(at, m))) spans.push([offset + 1, offset + written.length - 1]);
    return written.length;
  }
  let n = 1;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (i > 0) n += 1;
      // Members are named by keys only: nothing inside an array is one.
      n += walk(item, undefined, members, offset + n, spans);
    });
    return n + 1;
  }
  Object.keys(value).forEach((key, i) => {
    n += (i > 0 ? 1 : 0) + JSON.stringify(key).length + 1;
    const next = at === undefined ? undefined : [...at, key];
    // Followed only down the members' own keys.
    const leads = next !== undefined && members.some((m) => m.length >= next.length && next.every((k, j) => k === m[j]));
    n += walk((value as Record<string, unknown>)[key], leads ? next : undefined, members, offset + n, spans);
  });
  return n + 1;
}

/**
 * The spans of `text` holding the string values at `members` (`[]`: the whole text), in order; none when `text` is no
 * JSON object written as `JSON.stringify` writes it (its re-serialization would differ: a number past 2^53 losing
 * digits, an edited file's spacing), nor for a member that is absent or no string: such a text is scanned whole, as
 * stored.
 */
export function jsonMemberSpans(text: string, members: readonly JsonMemberPath[]): TextSpan[] {
  if (members.some((m) => m.length === 0)) return [[0, text.length]];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || JSON.stringify(parsed) !== text) return [];
  const spans: TextSpan[] = [];
  walk(parsed, [], members, 0, spans);
  return spans.sort((a, b) => a[0] - b[0]);
}

/** The parts of `text` outside `spans` (in order, not overlapping): one more than there are spans. */
export function textOutside(text: string, spans: readonly TextSpan[]): string[] {
  const parts: string[] = [];
  let from = 0;
  for (const [start, end] of spans) {
    parts.push(text.slice(from, start));
    from = end;
  }
  parts.push(text.slice(from));
  return parts;
}

/** `text` with each part outside `spans` (`textOutside`) replaced by `change(part)`, the spans as they are. */
export function changedOutside(text: string, spans: readonly TextSpan[], change: (part: string) => string): string {
  if (spans.length === 0) return change(text);
  const parts = textOutside(text, spans).map(change);
  return parts.reduce((out, part, i) => (i === 0 ? part : out + text.slice(spans[i - 1][0], spans[i - 1][1]) + part), '');
}

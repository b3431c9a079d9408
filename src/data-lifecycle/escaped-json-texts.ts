/**
 * An import line's record, history and event fields are JSON texts of their own, which the ledger parses when it
 * reads them. In such a text a forged file can write any character as a `\u00XX` escape: a card number's digits so
 * written hold no digit run for the card-number scan, and come back as the number once the text is parsed. The
 * bridge's own texts are `JSON.stringify`'s, which escapes only control characters and lone surrogates that way, so
 * printing a text again from what it parses to changes nothing the bridge wrote and turns every forged escape into
 * the character it stands for, where the scan sees it.
 */

/** `value` with every JSON text in it (at any depth, texts inside texts too) printed again from what it parses to. */
export function unescapedJsonTexts<T>(value: T): T {
  return unescaped(value) as T;
}

function unescaped(value: unknown): unknown {
  if (typeof value === 'string') return unescapedText(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(unescaped);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = unescaped(v);
  return out;
}

/** A text with a `\u` escape that parses as a JSON object or array, printed again; any other string as it is. */
function unescapedText(text: string): string {
  if (!text.includes('\\u')) return text;
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: nothing parses it later either, the escape stays text.
    return text;
  }
  return JSON.stringify(unescaped(parsed));
}

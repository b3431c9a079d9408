/**
 * Field paths a refusal names are built from the names a message itself uses (`payment.<any key>`,
 * `custom_attributes.<any key>`), so a publisher chooses their length: a 150,000-character member name
 * would become a dead letter's `x-pb-field` header, larger than an AMQP frame (the broker closes the
 * channel, and the dead letter is retried for ever), and a log line of the same size. A path is kept
 * readable and bounded instead: each name longer than {@link MAX_FIELD_NAME_CHARS} keeps its start and says
 * how long it was, and the whole path is cut at {@link MAX_FIELD_PATH_CHARS}.
 */

/** Longest name of one path segment kept whole. */
export const MAX_FIELD_NAME_CHARS = 64;
/** Longest field path a refusal carries. */
export const MAX_FIELD_PATH_CHARS = 256;
/** Characters kept of a name that is too long. */
const KEPT_NAME_CHARS = 32;

/**
 * `payment.kkkk…` (a 150,000-character name) → `payment.kkkk…(150000 characters)`; paths within the bounds
 * are returned as they are (the common case costs one length check).
 */
export function boundedFieldPath(path: string): string {
  if (path.length <= MAX_FIELD_NAME_CHARS) return path;
  const segments = path.split('.').map((name) => (name.length > MAX_FIELD_NAME_CHARS ? `${keptStart(name)}…(${name.length} characters)` : name));
  const bounded = segments.join('.');
  return bounded.length <= MAX_FIELD_PATH_CHARS ? bounded : `${keptStart(bounded, MAX_FIELD_PATH_CHARS - 1)}…`;
}

/** The first `chars` UTF-16 units of `text`, never ending in half a surrogate pair. */
function keptStart(text: string, chars = KEPT_NAME_CHARS): string {
  const last = text.charCodeAt(chars - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? chars - 1 : chars);
}

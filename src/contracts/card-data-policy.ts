import { CommandValidationError } from '../errors/command-validation-error';
import { PAN_MASK, containsCardNumber, isAsciiSeparator, isCardFieldName, maskCardNumbers } from '../logging/redact';

/**
 * Card data by field. A card number or security code in a structured field (`gateway_key`,
 * `method_details`, `order_id`, anything the contract gives a meaning) is refused: the command is wrong and
 * must not move. In a free-text field (a gift note, a `custom_attributes` value, a line's item name) it is
 * masked and the command carries on, so a note with a long number never blocks a payment; the masked text
 * is what is stored, forwarded and echoed. Refused everywhere, free text included: a card number used as a
 * key, and a field named like a card number or security code (`cvv`, `card_number`, …) holding a value.
 * Linear in the size of the message (the card scan is).
 */
export interface CardDataPolicy {
  /** `mask` (default) or `refuse` card numbers found in free-text fields. */
  readonly freeText: 'mask' | 'refuse';
  /** Free-text field paths: dotted, `[]` for any array index (`payment.lines[].item_name`); a path covers everything under it. */
  readonly freeTextFields: readonly string[];
}

/**
 * The structured fields the contract names as a value the bridge handed the OMS (the only ones a card-like value may
 * pass in, when the bridge issued it: {@link IssuedTokenValues}): a stored-payment token, and the first payment's
 * network transaction id its SUCCESS event reported (`payment.network_transaction_id`, docs/EVENTS.md). Not free
 * text, no other field.
 */
export const ISSUED_TOKEN_FIELDS: readonly string[] = ['payment.gateway_key', 'payment.recurring.network_transaction_id'];

/** The token field of a recurring schedule's definition (`schedule.gateway_key`: its cycles' `payment.gateway_key`). */
export const SCHEDULE_TOKEN_FIELDS: readonly string[] = ['gateway_key'];

/**
 * Values of {@link ISSUED_TOKEN_FIELDS} that read as a card number but are stored tokens the bridge issued (its
 * issued-token index said so: `ledger/issued-tokens.ts`): the policy lets exactly these through in exactly those
 * fields. Empty (the default): every card-like value is refused, as before the index.
 */
export type IssuedTokenValues = ReadonlySet<string>;

/**
 * The value of the token field of `message` (`payment.gateway_key`) when it reads as a card number, else undefined:
 * the one value whose issuance the caller asks the index about before the policy runs. Cheap for every other
 * command (two property reads and the quick digit count), so the ordinary command asks Redis nothing.
 */
export function cardLikeTokenOf(message: unknown): string | undefined {
  if (message === null || typeof message !== 'object') return undefined;
  const payment = (message as Record<string, unknown>).payment;
  if (payment === null || typeof payment !== 'object') return undefined;
  const key = (payment as Record<string, unknown>).gateway_key;
  return typeof key === 'string' && holdsCardNumber(key) ? key : undefined;
}

/**
 * The value of `message`'s `payment.recurring.network_transaction_id` when it reads as a card number (a Visa id of 15
 * digits may), else undefined: the index is asked whether the bridge reported it. As cheap as {@link cardLikeTokenOf}.
 */
export function cardLikeNetworkIdOf(message: unknown): string | undefined {
  if (message === null || typeof message !== 'object') return undefined;
  const payment = (message as Record<string, unknown>).payment;
  if (payment === null || typeof payment !== 'object') return undefined;
  const recurring = (payment as Record<string, unknown>).recurring;
  if (recurring === null || typeof recurring !== 'object') return undefined;
  const id = (recurring as Record<string, unknown>).network_transaction_id;
  return typeof id === 'string' && holdsCardNumber(id) ? id : undefined;
}

/** What the policy did: the value to carry on with (a masked copy, or the input itself) and the masked paths. */
export interface CardDataPolicyResult {
  value: unknown;
  /** Paths of the free-text fields whose card numbers were masked (never quoting a value). */
  masked: string[];
  /** Paths of the token fields holding a card-like token the bridge issued, let through whole (never quoting a value). */
  issued: string[];
}

/** `payment.lines[3].item_name` → `payment.lines[].item_name`. */
function pattern(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}

function isFreeText(path: string, fields: readonly string[]): boolean {
  const p = pattern(path);
  return fields.some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`));
}

/**
 * The path of a field from its trail (keys and array indexes from the root): `payment.lines[3].item_name`.
 * Built only when a field is refused or masked: walking a valid command builds no path string.
 */
function pathOf(trail: readonly (string | number)[]): string {
  let path = '';
  for (const part of trail) path = typeof part === 'number' ? `${path}[${part}]` : path ? `${path}.${part}` : part;
  return path;
}

/** Fewest digit characters a text needs to hold a card number (the shortest card number's length). */
const MIN_CARD_DIGITS = 12;

/**
 * A quick over-estimate of the card scan: whether `text` has a run of at least 12 characters that may be
 * digits (ASCII digits, and any non-ASCII character: the scan also reads Arabic-Indic, Devanagari and
 * full-width digits), with nothing but separators (ASCII ones, and any non-ASCII character) between them.
 * False means no card number can be in it, so most values (ids, dates, tokens) skip the full scan.
 */
function mayHoldCardNumber(text: string): boolean {
  if (text.length < MIN_CARD_DIGITS) return false;
  let digits = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if ((c >= 0x30 && c <= 0x39) || c >= 0x80) {
      digits += 1;
      if (digits >= MIN_CARD_DIGITS) return true;
    } else if (!isAsciiSeparator(c)) digits = 0;
  }
  return false;
}

/** {@link containsCardNumber}, after the quick check. */
export function holdsCardNumber(text: string): boolean {
  return mayHoldCardNumber(text) && containsCardNumber(text);
}

/** Field names already classified (a command uses a few dozen); bounded, so hostile keys only miss it. */
const cardFieldNames = new Map<string, boolean>();
const CARD_FIELD_NAME_CACHE = 4096;

function isCardField(key: string): boolean {
  let known = cardFieldNames.get(key);
  if (known === undefined) {
    known = isCardFieldName(key);
    if (cardFieldNames.size < CARD_FIELD_NAME_CACHE) cardFieldNames.set(key, known);
  }
  return known;
}

/**
 * Whether a parsed number is the number that was sent. JSON numbers are parsed into doubles, exact only up
 * to 2^53 (RFC 8259 §6): an integer beyond that was rounded (`4000123456789012343` becomes
 * `4000123456789012500`, keeping 16 of a card's digits out of sight of the card scan), and `1e400` is
 * Infinity. A safe integer (every card number of 12 to 16 digits is one) and a fraction are as sent.
 */
function isExact(v: number): boolean {
  return Number.isFinite(v) && (Number.isSafeInteger(v) || !Number.isInteger(v));
}

/** The largest magnitude an integer of at most 19 digits rounds to: up to it, the number sent may have been a card number. */
const MAX_CARD_LENGTH_INTEGER = 1e19;

/**
 * Refuses a number that was not carried exactly, naming the field, never quoting the value. One long
 * enough to have been a card number (19 digits at most) is refused as card data, so its dead letter is
 * handled as one; a longer one, or Infinity, as an invalid request.
 */
function refuseInexact(path: string, v: number): never {
  const field = path || '(root)';
  if (Number.isFinite(v) && Math.abs(v) <= MAX_CARD_LENGTH_INTEGER) {
    throw new CommandValidationError(
      field,
      'is an integer beyond 2^53, which JSON does not carry exactly, and long enough to be a card number: send a gateway token, and a long identifier as a string',
      'CARD_DATA_REJECTED',
    );
  }
  throw new CommandValidationError(
    field,
    'is a number beyond 2^53 or not finite, which JSON does not carry exactly (a long identifier goes as a string)',
    'INVALID_REQUEST',
  );
}

/**
 * Applies the card-data policy to a decoded message.
 * @throws CommandValidationError `CARD_DATA_REJECTED` naming the first field that holds card data where it
 *   may not (never quoting the value), or a number that was not carried exactly (see {@link isExact}):
 *   `CARD_DATA_REJECTED` when it may have been a card number, else `INVALID_REQUEST`.
 * @param issued card-like values of {@link ISSUED_TOKEN_FIELDS} the bridge issued: kept whole there (not masked: the
 *   PSP needs the token as it is); the same value in any other field is refused or masked as ever.
 * @param tokenFields the token fields of `message` (default {@link ISSUED_TOKEN_FIELDS}; a recurring schedule's is its
 *   own `gateway_key`, {@link SCHEDULE_TOKEN_FIELDS}).
 */
export function applyCardDataPolicy(
  message: unknown,
  policy: CardDataPolicy,
  issued?: IssuedTokenValues,
  tokenFields: readonly string[] = ISSUED_TOKEN_FIELDS,
): CardDataPolicyResult {
  const masked: string[] = [];
  const kept: string[] = [];
  // Keys and indexes from the root to the value being walked (a card-number key is kept as PAN_MASK).
  const trail: (string | number)[] = [];
  const refuse = (path: string): never => {
    throw new CommandValidationError(path || '(root)', 'holds card data; send a gateway token, never a card number or CVV', 'CARD_DATA_REJECTED');
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'number' && !isExact(v)) refuseInexact(pathOf(trail), v);
    if (typeof v === 'string' || typeof v === 'number') {
      const s = typeof v === 'string' ? v : String(v);
      if (!holdsCardNumber(s)) return v;
      const path = pathOf(trail);
      if (typeof v === 'string' && issued !== undefined && issued.has(v) && tokenFields.includes(path)) {
        kept.push(path);
        return v;
      }
      if (policy.freeText === 'refuse' || !isFreeText(path, policy.freeTextFields)) return refuse(path);
      masked.push(path);
      return typeof v === 'string' ? maskCardNumbers(v, true) : PAN_MASK;
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) {
      let copy: unknown[] | null = null;
      for (let i = 0; i < v.length; i += 1) {
        trail.push(i);
        const out = walk(v[i]);
        trail.pop();
        if (out !== v[i]) (copy ??= v.slice())[i] = out;
      }
      return copy ?? v;
    }
    const record = v as Record<string, unknown>;
    let copy: Record<string, unknown> | null = null;
    // `for…in` with `Object.hasOwn`: the same keys as `Object.keys`, in the same order, without an array of them a call.
    for (const k in record) {
      if (!Object.hasOwn(record, k)) continue;
      const item = record[k];
      const keyHasPan = holdsCardNumber(k);
      trail.push(keyHasPan ? PAN_MASK : k);
      if (keyHasPan) refuse(pathOf(trail));
      if (isCardField(k) && item !== null && item !== undefined && item !== '') refuse(pathOf(trail));
      const out = walk(item);
      trail.pop();
      if (out !== item) (copy ??= { ...record })[k] = out;
    }
    return copy ?? v;
  };
  const value = walk(message);
  return { value, masked, issued: kept };
}

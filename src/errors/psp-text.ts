import { redactText } from '../logging/redact';
import { MAX_GATEWAY_CODE_LENGTH } from './decline';

/**
 * What an error may say of what a PSP sent: a PSP's answer is free to hold anything (a card number it echoes,
 * megabytes of text, values nested thousands deep), and an error's text is logged and, as a gateway code,
 * recorded on the operation and sent to the OMS as its reason.
 */

/** Longest part of a PSP's string an error message quotes (`pspValueText`). */
export const MAX_QUOTED_PSP_CHARS = 64;
/** Longest message a `GatewayError` carries after its gateway's name; the rest is cut, said with its length. */
export const MAX_ERROR_MESSAGE_CHARS = 512;
/** Longest gateway code a `GatewayError` carries: as long as a decline's `gateway_code` (`safeGatewayCode`). */
export const MAX_ERROR_GATEWAY_CODE_CHARS = MAX_GATEWAY_CODE_LENGTH;

/**
 * Characters read beyond a bound before it is cut: a card number written across the cut (up to 64 digits with a
 * few separators between each two, `maskCardNumbers`) is masked whole before it is cut, never left half.
 */
const MASK_WINDOW = 512;

/**
 * `text` with card numbers, bearer credentials and registered secrets masked (`redactText`), cut at `max`
 * characters; with `sayCut` the cut is said with the full length (a message), else the text just ends there
 * (a code). Reads at most `max` + `window` characters of it (default 512: a card number across the cut), so a
 * text of megabytes costs no more than a short one; a longer secret (an access token) wants a longer window.
 */
export function boundedSafeText(text: string, max: number, sayCut = true, window = MASK_WINDOW): string {
  if (text.length <= max) return redactText(text);
  const cut = redactText(text.slice(0, max + window)).slice(0, max);
  return sayCut ? `${cut}… (${text.length} characters)` : cut;
}

/**
 * A value from a PSP's answer as an error message names it: a string JSON-quoted and cut at
 * {@link MAX_QUOTED_PSP_CHARS} characters, a number or a boolean as written, anything else by its JSON type
 * alone (never walked or serialized: an array nested thousands deep costs nothing). Card numbers in a string
 * are masked before it is quoted: quoting escapes a tab between two digit groups (`\t`), which would hide the
 * number from the masking of the message it goes in (`GatewayError`).
 */
export function pspValueText(value: unknown): string {
  if (typeof value === 'string') {
    const cut = boundedSafeText(value, MAX_QUOTED_PSP_CHARS, false);
    return value.length <= MAX_QUOTED_PSP_CHARS ? JSON.stringify(cut) : `${JSON.stringify(cut)}…`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  return Array.isArray(value) ? 'an array' : `a value of type ${typeof value}`;
}

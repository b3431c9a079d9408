/**
 * A PSP request or response body for a debug line: what `redact` masks (card data, secrets), and beyond it
 * the customer's data and one-time payment tokens, which a body carries in fields of its own (Stripe's
 * `payment_method_data[card][token]`, `billing_details[email]`; Adyen's `shopperEmail`), and 3-D Secure authentication
 * values (`isAuthenticationValueField`), whatever its encoding.
 */

import { isPersonalField } from './personal-fields';
import { SECRET_MASK, isSensitiveKey, redact, redactKey, redactText } from './redact';

/** Whether a field name ends in the word "token" (`token`, `card_token`, `networkToken`): a payment token. */
function isTokenField(key: string): boolean {
  return /(?:^|[^a-z])token$/i.test(key) || /[a-z0-9]Token$/.test(key);
}

/**
 * Whether a field holds a 3-D Secure or network token authentication value: the issuer's proof that the
 * cardholder was authenticated (Cybersource's `consumerAuthenticationInformation.cavv`, `ucafAuthenticationData`,
 * `xid`, `signedPares`; `authenticationValue`, `threeDSAuthenticationValue`), a token's `cryptogram` (Adyen's
 * `tokenAuthenticationVerificationValue`), and the 3-D Secure 1 messages
 * (`pareq` carries the card number, compressed where the card number scrub cannot see it; `pares` the CAVV). Kept
 * only as long as the authorization needs them (EMV 3-D Secure), never on a log line. Their neighbours (`eciRaw`,
 * `cavvAlgorithm`, `paresStatus`, the transaction ids) say what happened and stay readable.
 */
export function isAuthenticationValueField(key: string): boolean {
  const word = key.toLowerCase().replace(/[_-]/g, '');
  // Cybersource's validation request sends the PARes as `signedPares`.
  if (word === 'xid' || word === 'pareq' || word === 'pares' || word === 'signedpares') return true;
  // `mpiXid`, `threeDSXid`, `three_ds_xid`, `MPI_XID`, never `taxId`.
  if (/[_-]xid$/i.test(key) || /[A-Za-z0-9]Xid$/.test(key)) return true;
  // Adyen's `mpiData.tokenAuthenticationVerificationValue` is a network token's cryptogram.
  return /(?:cavv|ucafauthenticationdata|authenticationvalue|tokenauthenticationverificationvalue|cryptogram)$/.test(word);
}

/** Whether a body field's value is kept off a debug line whatever it holds. */
export function isPrivateBodyField(key: string): boolean {
  return isSensitiveKey(key) || isTokenField(key) || isPersonalField(key) || isAuthenticationValueField(key);
}

function masked(value: unknown): unknown {
  return value === null || value === undefined || value === '' ? value : SECRET_MASK;
}

/** `value` with every private field masked at any depth (the rest is left to `redact`). */
function maskPrivate(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskPrivate);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = isPrivateBodyField(k) ? masked(v) : maskPrivate(v);
  return out;
}

/**
 * A form-encoded body (`a=1&b[c]=2`) as its fields: a key naming a private field at any level of its bracket
 * path (`payment_method_data[billing_details][address][line1]`) has its value masked, the other values are
 * redacted as free text. A key sent twice keeps its values in order.
 */
function redactForm(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const segments = key.split(/[[\]]+/).filter(Boolean);
    const shown = segments.some(isPrivateBodyField) && value !== '' ? SECRET_MASK : redactText(value);
    const name = redactKey(key);
    const before = out[name];
    out[name] = before === undefined ? shown : Array.isArray(before) ? [...before, shown] : [before, shown];
  }
  return out;
}

/** A whole text of `key=value` pairs joined by `&`, keys without spaces: a form body whatever its label says. */
const FORM_SHAPE = /^[^\s=&]+=[^&]*(?:&[^\s=&]+=[^&]*)*$/;

/**
 * `body` for a debug line: JSON and form-encoded (`application/x-www-form-urlencoded`, as `contentType`
 * says, or of a form's shape) field by field, anything else as redacted text.
 */
export function redactBody(body: string | undefined, contentType?: string): unknown {
  if (body === undefined || body === '') return undefined;
  if (contentType !== undefined && contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) return redactForm(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body) as unknown;
  } catch {
    return FORM_SHAPE.test(body) ? redactForm(body) : redactText(body);
  }
  return redact(maskPrivate(parsed));
}

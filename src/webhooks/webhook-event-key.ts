import { createHash, createHmac } from 'node:crypto';
import { purposeKey } from '../config/purpose-key';
import { holdsCardNumber } from '../contracts/card-data-policy';
import { hasLoneSurrogate } from '../contracts/command-validator';
import { HashDigest } from '../logging/hash-digest';

/** Longest PSP event id kept as it is in keys and job ids (Stripe's are about 30 characters, Adyen's 60). */
export const MAX_PLAIN_EVENT_ID = 256;

/**
 * What starts an event key that is the plain SHA-256 of the PSP's event id (see {@link webhookEventKey}): only for
 * an id that holds no card number (a lone surrogate, or too long), whose digest nobody can test card numbers against.
 */
export const EVENT_ID_DIGEST_PREFIX = 'sha256:';

/**
 * What starts an event key that is the keyed digest of the PSP's event id (see {@link webhookEventKey}): an id that
 * holds a card number. Releases before this one wrote `sha256:` for those too.
 */
export const EVENT_ID_HMAC_PREFIX = 'hmac:';

/**
 * The keys of the webhook digests, derived from `service_bus.secret` (the web role, which takes webhooks, has it;
 * so do the operators' tools) for one purpose each, never the secret itself:
 * `HMAC-SHA-256(secret, "payment-bridge webhook value digest v1")` for what a skip line logs,
 * `HMAC-SHA-256(secret, "payment-bridge webhook event key v1")` for an event id holding a card number, and
 * `HMAC-SHA-256(secret, "payment-bridge webhook event id secret v1")` for a token an event id tells apart. An unkeyed
 * SHA-256 of a 16-digit card number whose BIN is known is found by trying the rest offline in minutes (PCI DSS
 * 3.5.1 asks for a keyed hash). They stay in the process: never logged, stored or sent. Rotating the secret changes
 * them all (see docs/RUNBOOK.md).
 */
export interface WebhookDigestKeys {
  /** Of the values a skip line logs (`value_hmac`, `key_id_hmac`). */
  readonly value: Buffer;
  /** Of an event id holding a card number (`hmac:<hex>`). */
  readonly eventId: Buffer;
  /** Of a value that tells a notification apart but may be written nowhere (`WebhookEvent.eventIdSecret`). */
  readonly idSecret: Buffer;
}

/** {@link WebhookDigestKeys} of `service_bus.secret`. */
export function webhookDigestKeys(busSecret: string): WebhookDigestKeys {
  return {
    value: purposeKey(busSecret, 'webhook value digest v1'),
    eventId: purposeKey(busSecret, 'webhook event key v1'),
    idSecret: purposeKey(busSecret, 'webhook event id secret v1'),
  };
}

/** A text's UTF-16 code units (little-endian): lossless for a lone surrogate, which UTF-8 cannot carry. */
const codeUnits = (value: string): Buffer => Buffer.from(value, 'utf16le');

/** Hex digits of the keyed digest {@link webhookEventIdOf} appends: 64 bits tell apart the few values one id may carry. */
const ID_SECRET_DIGEST_HEX = 16;

/**
 * The PSP's event id of a notification as the route queues it: `eventId`, and when the gateway names a value that
 * tells the notification apart but may be written nowhere (`WebhookEvent.eventIdSecret`: an Adyen RECURRING_CONTRACT's
 * token), `:<the first 16 hex digits of the HMAC-SHA-256 under keys.idSecret of its UTF-16 code units>` (two values
 * differing in a lone surrogate would otherwise share one id: the second dropped as a repeat). Keyed: an unkeyed
 * digest of a token made of digits is found by trying them, as a card number's is.
 */
export function webhookEventIdOf(keys: WebhookDigestKeys, event: { readonly eventId: string; readonly eventIdSecret?: string }): string {
  if (event.eventIdSecret === undefined) return event.eventId;
  return `${event.eventId}:${webhookIdSecretDigest(keys, event.eventIdSecret)}`;
}

/**
 * What {@link webhookEventIdOf} appends for `value` (`WebhookEvent.eventIdSecret`: an Adyen RECURRING_CONTRACT's token):
 * the first 16 hex digits of its HMAC-SHA-256 under `keys.idSecret`, over its UTF-16 code units.
 * `payment-bridge ops webhooks digest --token` gives the same for a token an operator has in hand.
 */
export function webhookIdSecretDigest(keys: WebhookDigestKeys, value: string): string {
  return createHmac('sha256', keys.idSecret).update(codeUnits(value)).digest('hex').slice(0, ID_SECRET_DIGEST_HEX);
}

/**
 * The HMAC-SHA-256 under `keys.value` of a text from a notification, over its UTF-16 code units (two ids differing
 * in a lone surrogate would otherwise share one digest). What the skip lines log (`value_hmac`) instead of a value
 * that may not be written; `payment-bridge ops webhooks digest` gives the same for a value an operator has in hand.
 */
export function webhookValueDigest(keys: WebhookDigestKeys, value: string): HashDigest {
  return HashDigest.of(createHmac('sha256', keys.value).update(codeUnits(value)));
}

/** `hmac:<hex>`: the event key of an id holding a card number (HMAC-SHA-256 under `keys.eventId` of its UTF-16 code units). */
export function webhookEventIdHmac(keys: WebhookDigestKeys, eventId: string): string {
  return `${EVENT_ID_HMAC_PREFIX}${createHmac('sha256', keys.eventId).update(codeUnits(eventId)).digest('hex')}`;
}

/**
 * Whether `text` holds a card number (`holdsCardNumber`) once every occurrence of the `known` values (PSP
 * references the ledger holds, our own ids) is cut out; each cut leaves a break, so it never joins digits.
 */
export function holdsCardNumberBeyond(text: string, known: readonly string[]): boolean {
  if (!holdsCardNumber(text)) return false;
  let rest = text;
  for (const value of known) if (value !== '') rest = rest.split(value).join('\u0000');
  return rest === text || holdsCardNumber(rest);
}

/**
 * The event id a webhook's outcome is queued, deduplicated and recorded under: the PSP's id as it is, or a digest
 * when the id may not be a Redis key:
 * - it holds a card number (other than in `known`: PSP references the ledger already holds, which are no card
 *   data): `hmac:<hex>` ({@link webhookEventIdHmac}, keyed: the digits cannot be found from it);
 * - else a lone UTF-16 surrogate (BullMQ writes the job id into its keys with the surrogate's own three bytes,
 *   reads it back as UTF-8, and can then never move or finish the job), or more than {@link MAX_PLAIN_EVENT_ID}
 *   characters: `sha256:<hex>` of its UTF-16 code units, as earlier releases wrote it (no card number in it).
 * The ordinary id stays as it is, so the dedupe keys of jobs queued by an earlier release still match; a digest is
 * the same for every repeat of the notification, so it dedupes as well. An id holding a card number was
 * `sha256:<hex>` before this release: a resend across the upgrade is not found as a repeat (docs/RUNBOOK.md).
 */
export function webhookEventKey(keys: WebhookDigestKeys, eventId: string, known: readonly string[] = []): string {
  if (holdsCardNumberBeyond(eventId, known)) return webhookEventIdHmac(keys, eventId);
  if (eventId.length > MAX_PLAIN_EVENT_ID || hasLoneSurrogate(eventId)) {
    return `${EVENT_ID_DIGEST_PREFIX}${createHash('sha256').update(codeUnits(eventId)).digest('hex')}`;
  }
  return eventId;
}

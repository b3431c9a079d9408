import { holdsCardNumber } from '../contracts/card-data-policy';
import { hasLoneSurrogate } from '../contracts/command-validator';
import { HashDigest } from '../logging/hash-digest';

/** Longest PSP event id kept as it is in keys and job ids (Stripe's are about 30 characters, Adyen's 60). */
export const MAX_PLAIN_EVENT_ID = 256;

/** What starts an event key that is a digest of the PSP's event id (see {@link webhookEventKey}). */
export const EVENT_ID_DIGEST_PREFIX = 'sha256:';

/**
 * The SHA-256 of a text from a notification, over its UTF-16 code units (little-endian): lossless for a
 * lone surrogate, which UTF-8 cannot carry (two such ids would otherwise share one digest). What the skip
 * lines log instead of a value that may not be written.
 */
export function webhookValueDigest(value: string): HashDigest {
  return HashDigest.sha256(Buffer.from(value, 'utf16le'));
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
 * The event id a webhook's outcome is queued, deduplicated and recorded under: the PSP's id as it is, or
 * `sha256:<hex>` ({@link webhookValueDigest}) when the id may not be a Redis key: it holds a card number
 * (other than in `known`: PSP references the ledger already holds, which are no card data), a lone UTF-16
 * surrogate (BullMQ writes the job id into its keys with the surrogate's own three bytes, reads it back as
 * UTF-8, and can then never move or finish the job), or more than {@link MAX_PLAIN_EVENT_ID} characters. The ordinary id stays as it is,
 * so the dedupe keys of jobs queued by an earlier release still match; a digest is the same for every
 * repeat of the notification, so it dedupes as well.
 */
export function webhookEventKey(eventId: string, known: readonly string[] = []): string {
  const digest = eventId.length > MAX_PLAIN_EVENT_ID || hasLoneSurrogate(eventId) || holdsCardNumberBeyond(eventId, known);
  return digest ? `${EVENT_ID_DIGEST_PREFIX}${webhookValueDigest(eventId).hex}` : eventId;
}

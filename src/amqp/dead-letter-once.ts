import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/redis-connection';
import { counter } from '../metrics/metrics-registry';

/**
 * One dead letter per message. A message the broker delivers twice (its lane's channel closed while the first copy
 * was worked on: the copy comes back, `redelivered`, maybe to another worker) or a publisher sends twice, and that
 * is refused the same way both times, is one record: the first copy's writer marks its identity once its dead letter
 * is confirmed, a later copy finds the mark and is acked without a second one.
 *
 * The identity is a SHA-256 digest of the message id (the intake's is the operation id), a digest of the raw body
 * and the refusal (code, field, reason): never the body itself, which may carry a card number. The body's digest is
 * always part of it: a message id is an operation id, which a corrected command (refused again) shares.
 *
 * The mark is `<prefix>{dl}:once:<identity>`, hash-tagged as the archive's keys are (`deadLetterArchiveKeys`), with
 * the dead letter's id as its value, for {@link DEAD_LETTER_ONCE_TTL_MS}. It is written after the dead letter is
 * confirmed, never before: a worker killed in between leaves no mark and the redelivered copy writes the dead letter.
 * Two copies worked on at the same moment may both write one, under the same id (derived from the identity, see
 * {@link deadLetterIdOf}): the archive keeps one record per id and the triage index one entry.
 * Redis away: the mark is not read or written (logged by the caller), the dead letter is written as before.
 */
export class DeadLetterOnce {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    private readonly ttlMs: number = DEAD_LETTER_ONCE_TTL_MS,
  ) {}

  /** The id of the dead letter already written for `identity`, or null. */
  async written(identity: string): Promise<string | null> {
    return await this.redis.get(deadLetterOnceKey(this.keyPrefix, identity));
  }

  /** Marks `identity` as dead-lettered under `id` (after the dead letter was confirmed). */
  async mark(identity: string, id: string): Promise<void> {
    await this.redis.set(deadLetterOnceKey(this.keyPrefix, identity), id, 'PX', this.ttlMs);
  }
}

/**
 * How long a message's mark is kept: a redelivery comes within the broker's reconnect and a consumer's prefetch
 * (seconds, minutes while a dependency is down), a publisher's re-send within its own retries. The record itself
 * keeps its retention (the archive's bound); a copy arriving after this is dead-lettered again, under the same id.
 */
export const DEAD_LETTER_ONCE_TTL_MS = 24 * 60 * 60 * 1000;

/** `<prefix>{dl}:once:<identity>`: in the archive's slot. */
export function deadLetterOnceKey(keyPrefix: string, identity: string): string {
  return `${keyPrefix}{dl}:once:${identity}`;
}

/**
 * The identity of a refused message (hex SHA-256): its message id (or none), its raw body's digest, the refusal and
 * `context`, what its record says of where it came from (routing key, the channel whose key signed it): one body
 * sent by two channels, or on two routing keys, is two messages and two records. Two copies of one message refused
 * for one reason have the same; the body never leaves this function.
 */
export function deadLetterIdentity(
  messageId: string | undefined,
  body: Buffer,
  why: { code: string; field: string; reason: string },
  context: Record<string, string> = {},
): string {
  const bodyDigest = createHash('sha256').update(body).digest('hex');
  const where = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([messageId ?? null, bodyDigest, why.code, why.field, why.reason, where]))
    .digest('hex');
}

/** A dead-letter id (UUID-shaped, version 8: derived, not random) from an identity: two copies written at once share it. */
export function deadLetterIdOf(identity: string): string {
  const h = identity.slice(0, 32);
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** `pb_dead_letters_duplicate_total{reason}`: copies of a message already dead-lettered, acked without a second record. */
export function deadLetterDuplicates() {
  return counter(
    'pb_dead_letters_duplicate_total',
    'Copies of a message already dead-lettered (a redelivery, a re-send), acked without a second dead letter, by reason',
    ['reason'] as const,
  );
}

import { createHash, createHmac, randomUUID } from 'node:crypto';
import { purposeKey } from '../config/purpose-key';
import type { RedisClient } from '../redis/redis-connection';
import { counter } from '../metrics/metrics-registry';
import { RELEASE_KEY_SCRIPT } from '../redis/key-claim';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { maskCardNumbers } from '../logging/redact';

/**
 * One dead letter per message. A message the broker delivers twice (its lane's channel closed while the first copy
 * was worked on: the copy comes back, `redelivered`, maybe to another worker) or a publisher sends twice, and that
 * is refused the same way both times, is one record: the first copy's writer marks its identity once its dead letter
 * is confirmed, a later copy finds the mark and is acked without a second one.
 *
 * The identity is an HMAC-SHA-256, under the process's identity key ({@link deadLetterIdentityKey}), of the message id
 * (the intake's is the operation id), a keyed digest of the raw body and the refusal (code, field, reason): never the
 * body itself, which may carry a card number, and never an unkeyed digest of it, which anyone holding a dead-letter id
 * could test card numbers against offline (PCI DSS 3.5.1). The body's digest is always part of it: a message id is an
 * operation id, which a corrected command (refused again) shares.
 *
 * The mark is `<prefix>{dl}:once:<dead-letter id>` (the id derived from the identity, {@link deadLetterIdOf}), hash-tagged
 * as the archive's keys are (`deadLetterArchiveKeys`), for {@link DEAD_LETTER_ONCE_TTL_MS} with the id as its value,
 * written once the dead letter is confirmed, never before: a worker killed in between leaves no mark and the
 * redelivered copy writes the dead letter. Keyed by the id its record carries (`x-pb-dead-letter-id`), it is removed
 * with that record when the archive drops it past its bound (`DeadLetterStore`): a mark never outlives its record, and
 * a copy arriving after the drop is a dead letter again. Marks of earlier releases (`<prefix>{dl}:once:<unkeyed
 * identity>`, or under an id derived without a key) are not read: a copy of a message they marked may be a second
 * record, never none, and they expire within 24 h.
 * Two copies worked on at the same moment decide through a claim, `<prefix>{dl}:writing:<dead-letter id>` (same slot): the
 * writer claims it (`SET NX PX`, a random token, for `claimMs`, longer than a write takes) in the script that reads
 * the mark; a copy that finds it claimed waits (at most `waitMs`) for the mark and is a duplicate, or, when the claim
 * ends without one (its writer failed and released it, or died and it expired), claims it and writes the dead letter
 * itself. So a crash at any line loses no dead letter: a copy is acked only once a confirmed record exists, its own or
 * the first copy's. The claim has a key of its own so that a process that only reads the mark (one of the previous
 * release, during a rolling upgrade) never takes a claim for a confirmed record.
 * Redis away: the mark is not read or written (logged by the caller), the dead letter is written as before.
 */
export class DeadLetterOnce {
  private readonly ttlMs: number;
  private readonly claimMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    options: DeadLetterOnceOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEAD_LETTER_ONCE_TTL_MS;
    this.claimMs = options.claimMs ?? DEAD_LETTER_CLAIM_MS;
    // A claim ends within claimMs (marked, released or expired): waiting a little longer sees how.
    this.waitMs = options.waitMs ?? this.claimMs + 1000;
  }

  /**
   * Decides who writes the dead letter of `identity`: `claimed` (this caller: write it, then {@link mark} it, or
   * {@link release} the claim when the write fails), `written` (a copy's dead letter is confirmed: its id),
   * `unresolved` (other copies held it past `waitMs`: write it anyway, a second record rather than none), or
   * `stopped` (`waiting` turned false while another copy held it: the caller's process is stopping, and hands its
   * message back rather than hold its shutdown up to `waitMs`).
   */
  async claim(identity: string, waiting: () => boolean = () => true): Promise<OnceClaim> {
    const keys = this.keysOf(identity);
    const token = randomUUID();
    const deadline = Date.now() + this.waitMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
      const [state, id] = (await CLAIM_SCRIPT.run(this.redis, { keys, args: { token, claim_ms: this.claimMs } })) as [string, string?];
      if (state === 'written' && id !== undefined) return { kind: 'written', id };
      if (state === 'claimed') return { kind: 'claimed', token };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'unresolved' };
      if (!waiting()) return { kind: 'stopped' };
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }

  /**
   * Marks `identity` as dead-lettered under `id` (after the dead letter was confirmed) and ends the claim `token` if it
   * still holds. False when `token` no longer held it: the write outlived its claim, and another copy may have taken
   * it and published its dead letter too (the archive keeps one record of them, `recordFromMessage`).
   */
  async mark(identity: string, id: string, token = ''): Promise<boolean> {
    const { mark, claim } = this.keysOf(identity);
    return (await MARK_SCRIPT.run(this.redis, { keys: { mark, claim }, args: { id, ttl_ms: this.ttlMs, token } })) === 1;
  }

  /** Gives up the claim `token` on `identity` (its write failed), so a waiting copy writes at once; another's claim stays. */
  async release(identity: string, token: string): Promise<void> {
    await RELEASE_KEY_SCRIPT.run(this.redis, { keys: { claim: this.keysOf(identity).claim }, args: { holder: token } });
  }

  private keysOf(identity: string): { mark: string; claim: string } {
    const id = deadLetterIdOf(identity);
    return { mark: deadLetterOnceKey(this.keyPrefix, id), claim: deadLetterClaimKey(this.keyPrefix, id) };
  }
}

// The mark, else a claim taken now, else 'writing' (another copy holds the claim). One script: no copy claims a
// write whose mark another set between its read and its claim.
const CLAIM_SCRIPT = new LuaScript(
  luaInputs(['mark', 'claim'], ['token', 'claim_ms']),
  `
local written = redis.call('GET', K.mark)
if written then return { 'written', written } end
if redis.call('SET', K.claim, A.token, 'PX', A.claim_ms, 'NX') then return { 'claimed' } end
return { 'writing' }
`,
);

// The confirmed mark, and the end of the claim that wrote it (only its own: one that expired and was taken over
// stays). 0 when the token no longer held the claim: the mark is set all the same, the dead letter is confirmed.
const MARK_SCRIPT = new LuaScript(
  luaInputs(['mark', 'claim'], ['id', 'ttl_ms', 'token']),
  `
redis.call('SET', K.mark, A.id, 'PX', A.ttl_ms)
if A.token == '' then return 1 end
if redis.call('GET', K.claim) == A.token then
  redis.call('DEL', K.claim)
  return 1
end
return 0
`,
);

/** Options of {@link DeadLetterOnce}. */
export interface DeadLetterOnceOptions {
  /** How long a confirmed mark is kept (default {@link DEAD_LETTER_ONCE_TTL_MS}). */
  ttlMs?: number;
  /** How long a writer's claim holds before another copy may take it (default {@link DEAD_LETTER_CLAIM_MS}; see {@link deadLetterClaimMs}). */
  claimMs?: number;
  /** How long a copy waits for a claimed write to end (default `claimMs` + 1 s). */
  waitMs?: number;
}

/** What {@link DeadLetterOnce.claim} decided. */
export type OnceClaim = { kind: 'claimed'; token: string } | { kind: 'written'; id: string } | { kind: 'unresolved' } | { kind: 'stopped' };

/** Default of a writer's claim: two bounded publishes (the triage copy, the dead letter) at the default 5 s each, and slack. */
export const DEAD_LETTER_CLAIM_MS = 15_000;

/**
 * The claim a writer needs with `amqp.publish_timeout_ms` = `publishTimeoutMs`: its two publishes, each bounded by it,
 * and 5 s for Redis. A write outliving its claim is not lost, only possibly written twice.
 */
export function deadLetterClaimMs(publishTimeoutMs: number): number {
  return 2 * publishTimeoutMs + 5000;
}

/**
 * How long a message's mark is kept: a redelivery comes within the broker's reconnect and a consumer's prefetch
 * (seconds, minutes while a dependency is down), a publisher's re-send within its own retries. The record itself
 * keeps its retention (the archive's bound); a copy arriving after this is dead-lettered again, under the same id.
 */
export const DEAD_LETTER_ONCE_TTL_MS = 24 * 60 * 60 * 1000;

/** `<prefix>{dl}:once:<dead-letter id>`: the mark of a dead letter written with an identity, in the archive's slot. */
export function deadLetterOnceKey(keyPrefix: string, deadLetterId: string): string {
  return `${keyPrefix}{dl}:once:${deadLetterId}`;
}

/** `<prefix>{dl}:writing:<dead-letter id>`: the claim of the copy writing it, in the mark's slot. */
export function deadLetterClaimKey(keyPrefix: string, deadLetterId: string): string {
  return `${keyPrefix}{dl}:writing:${deadLetterId}`;
}

/** Whether `id` has the shape {@link deadLetterIdOf} gives (what a record's `x-pb-dead-letter-id` must be to name a mark). */
export function isDerivedDeadLetterId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id);
}

/**
 * The key of dead-letter identities, derived from `service_bus.secret` (every role that writes dead letters has it:
 * the web role's intake, the worker's consumer and broker dead-letter redactor) for this one purpose, never the
 * secret itself: `HMAC-SHA-256(secret, "payment-bridge dead-letter identity v1")`. It stays in the process: never
 * logged, stored or sent. Rotating the secret changes every identity and id: a copy of a message dead-lettered
 * before the switch (or by a process still on the other secret) finds no mark and is a second record, never none.
 */
export function deadLetterIdentityKey(busSecret: string): Buffer {
  return purposeKey(busSecret, 'dead-letter identity v1');
}

/**
 * The identity of a refused message (hex HMAC-SHA-256 under `key`, {@link deadLetterIdentityKey}): its message id (or
 * none), its raw body's keyed digest, the refusal and `context`, what its record says of where it came from (routing
 * key, the channel whose key signed it): one body sent by two channels, or on two routing keys, is two messages and two
 * records. Two copies of one message refused for one reason have the same; the body never leaves this function, and
 * nothing derived from it without the key does either (a card number in it cannot be tested against the id).
 */
export function deadLetterIdentity(
  key: Buffer,
  messageId: string | undefined,
  body: Buffer,
  why: { code: string; field: string; reason: string },
  context: Record<string, string> = {},
): string {
  const bodyDigest = createHmac('sha256', key).update(body).digest('hex');
  const where = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHmac('sha256', key)
    .update(JSON.stringify([messageId ?? null, bodyDigest, why.code, why.field, why.reason, where]))
    .digest('hex');
}

/**
 * A dead-letter id (UUID-shaped, version 8: derived, not random) from an identity: two copies written at once share it.
 * About one UUID-shaped id in two hundred holds a Luhn-valid run of 12-19 digits across its dashes, which the
 * redaction of headers and log lines masks: such a candidate is passed over for the next (a digest of the identity
 * and a counter), so the id in `x-pb-dead-letter-id`, the archive and the log lines is always whole, and names its mark.
 */
export function deadLetterIdOf(identity: string): string {
  for (let i = 0; ; i += 1) {
    const h = i === 0 ? identity : createHash('sha256').update(`${identity}:${i}`).digest('hex');
    const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    const id = `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    if (maskCardNumbers(id) === id) return id;
  }
}

/** `pb_dead_letters_duplicate_total{reason}`: copies of a message already dead-lettered, acked without a second record. */
export function deadLetterDuplicates() {
  return counter(
    'pb_dead_letters_duplicate_total',
    'Copies of a message already dead-lettered (a redelivery, a re-send), acked without a second dead letter, by reason',
    ['reason'] as const,
  );
}

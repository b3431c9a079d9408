import type { Config } from '../config/config';
import { MAX_COMMAND_MESSAGE_BYTES, MAX_JSON_DEPTH, jsonDepth } from '../contracts/json-limits';
import { isGiftCardNumberKey, maskGiftCardNumberKeys } from '../contracts/gift-card-keys';
import { jsonTextProblem } from '../contracts/repeated-members';
import { SECRET_MASK, isSensitiveKey, maskCardNumbers, redact, redactJsonText, redactText } from '../logging/redact';
import { ConfirmPublisher } from './confirm-publisher';
import { stampOf } from './dead-letter-stamp';
import { randomUUID } from 'node:crypto';
import { DeadLetterSummary, DeadLetterTriage } from './dead-letter-triage';
import { DeadLetterOnce, deadLetterIdOf } from './dead-letter-once';
import { triageQueueOf } from './topology';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/** Why a message was dead-lettered; travels in the record's headers. */
export interface DeadLetterReason {
  /** Stable code, e.g. INVALID_PARAMS, PARSE_ERROR, CARD_DATA_REJECTED. */
  code: string;
  /** The field at fault (`payment.amount`), or `(root)`. */
  field: string;
  /** Human-readable reason, never quoting the offending value. */
  reason: string;
  /** Where the message came from: `amqp:<queue>` or `http:intake`. */
  source: string;
}

/**
 * Writes dead-letter records: the original message, redacted (a card number in a bad command must not
 * survive into the dead-letter queue), with the reason in `x-pb-*` headers (redacted too: a routing key is
 * publisher-chosen text). Published with confirms straight into the dead-letter queue (default exchange),
 * not through the dead-letter exchange, which only the broker's own dead-lettering uses (see
 * `declareTopology`); callers ack the original only after this resolves.
 */
export class DeadLetterWriter {
  constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly amqp: Config['amqp'],
    /**
     * Scores each dead letter by impact, indexes it and sends the high-impact ones to the triage queue
     * `<dead-letter queue>:triage` as well (see `DeadLetterTriage`). Without it: the dead-letter queue only.
     */
    private readonly triage?: DeadLetterTriage,
    /**
     * `deadLetterStampKey(service_bus.secret)`: binds a caller's `x-pb-authenticated-channel` to the body
     * (`stampOf`). Without it the header is dropped: a stamp nobody can verify would be a claim, not a fact.
     */
    private readonly stampKey?: Buffer,
    /**
     * One dead letter per message (see `DeadLetterOnce`): a write given an `identity` that finds it marked, or finds
     * another copy writing it and then marked, writes nothing. Without it every write is a dead letter of its own.
     */
    private readonly once?: DeadLetterOnce,
  ) {}

  /**
   * Writes the dead letter of `original`. With `options.identity` (`deadLetterIdentity`: the message's, never its
   * body) and the writer's `once`: the write is claimed first (`DeadLetterOnce.claim`); a message already
   * dead-lettered, or whose copy is being written and confirmed meanwhile, writes nothing and comes back `duplicate`
   * with the first one's id; the dead letter's id is derived from the identity; its mark is set once it is confirmed,
   * and a write that fails gives its claim up. The mark's Redis away, a claim another copy held past the wait, or a
   * write that outlived its own claim: written all the same, which of them in `onceGap` and the detail in `onceError`
   * for the caller's log ({@link reportOnceGap}). `options.waiting` (the caller's process still
   * running): once false, a copy waiting for another's write stops waiting and throws
   * `DependencyUnavailableError`, nothing written, so the caller hands its message back (a stopping worker
   * requeues it) instead of holding its shutdown for up to the other copy's claim.
   */
  async write(
    original: Buffer,
    why: DeadLetterReason,
    extraHeaders: Record<string, string> = {},
    options: { identity?: string; waiting?: () => boolean } = {},
  ): Promise<DeadLetterWritten> {
    const at = new Date();
    const once = this.once && options.identity !== undefined ? { marks: this.once, identity: options.identity } : undefined;
    let onceError: string | undefined;
    let onceGap: OnceGap | undefined;
    let claim: string | undefined;
    // Marked once confirmed unless Redis failed this write already (a claim held past the wait is marked: later copies find it).
    let markable = false;
    let stopped = false;
    if (once) {
      try {
        const decided = await once.marks.claim(once.identity, options.waiting);
        if (decided.kind === 'written') return { id: decided.id, duplicate: true };
        if (decided.kind === 'stopped') stopped = true;
        else if (decided.kind === 'claimed') claim = decided.token;
        else {
          onceGap = 'held_past_wait';
          onceError = 'another copy held the write past the wait: written again rather than not at all';
        }
        markable = true;
      } catch (err) {
        onceGap = 'redis_away';
        onceError = (err as Error).message;
      }
    }
    // Outside the try: a stop is no Redis failure to write through.
    if (stopped) throw new DependencyUnavailableError('rabbitmq', 'stopping while another copy writes this dead letter: the message goes back to its queue');
    const id = once ? deadLetterIdOf(once.identity) : randomDeadLetterId();
    let summary: DeadLetterSummary | undefined;
    try {
      summary = await this.publishRecord(id, original, why, extraHeaders, at);
    } catch (err) {
      // A waiting copy writes it now rather than when the claim expires; a release that fails leaves the expiry to it.
      if (once && claim !== undefined) await once.marks.release(once.identity, claim).catch(() => undefined);
      throw err;
    }
    if (once && markable) {
      try {
        if ((await once.marks.mark(once.identity, id, claim)) === false && claim !== undefined) {
          onceGap = 'claim_expired';
          onceError = 'the write outlived its claim: another copy may have taken it and published this dead letter too';
        }
      } catch (err) {
        onceGap = 'redis_away';
        onceError = (err as Error).message;
      }
    }
    // Never throws (an index failure is logged): nothing after the confirmed dead letter can fail the write.
    if (this.triage && summary) await this.triage.record(summary);
    return { id, duplicate: false, ...(onceGap !== undefined ? { onceGap, onceError } : {}) };
  }

  /**
   * Publishes the triage copy of a high-impact dead letter, then the dead letter itself, under `id`; resolves once
   * both are confirmed, with the triage summary to index. The copy goes first: once the dead letter is confirmed
   * nothing may fail the write, or the caller would hold its message (or answer 503) and its copy write a second
   * dead letter. A copy confirmed before a dead letter that is not may be sent again with it (same id): an alert
   * twice, never a record twice.
   */
  private async publishRecord(
    id: string,
    original: Buffer,
    why: DeadLetterReason,
    extraHeaders: Record<string, string>,
    at: Date,
  ): Promise<DeadLetterSummary | undefined> {
    const headers: Record<string, string> = {
      'x-pb-reason': why.reason,
      'x-pb-field': why.field,
      'x-pb-code': why.code,
      'x-pb-source': why.source,
      'x-pb-dead-lettered-at': at.toISOString(),
      'x-pb-dead-letter-id': id,
      ...extraHeaders,
    };
    // Redacted before the cut (a cut through a card number leaves digits redaction no longer sees as one).
    for (const [k, v] of Object.entries(headers)) headers[k] = boundedHeaderValue(redactText(v));
    // A gift card number is card data the redaction cannot tell from a long id: masked anywhere where it was refused
    // for one, else in the fields naming a gift card (a command refused before intake read them: its signature, the broker).
    const body = why.code === 'CARD_DATA_REJECTED' ? maskGiftCardNumbers(redactBody(original)) : maskGiftCardKeys(redactBody(original));
    const channel = extraHeaders[AUTHENTICATED_CHANNEL_HEADER];
    if (channel !== undefined && this.stampKey) headers[AUTHENTICATED_CHANNEL_HEADER] = stampOf(this.stampKey, channel, body);
    else delete headers[AUTHENTICATED_CHANNEL_HEADER];
    const summary = this.triage?.summarise(
      id,
      body,
      { code: headers['x-pb-code'], field: headers['x-pb-field'], reason: headers['x-pb-reason'], source: headers['x-pb-source'] },
      at,
    );
    // The copy in the triage queue is confirmed before the caller acks the original, like the dead letter.
    if (summary?.impact === 'high')
      await this.publisher.publish('', triageQueueOf(this.amqp), body, {
        contentType: 'application/json',
        headers: { ...headers, 'x-pb-impact': summary.impactReasons.join(',') },
      });
    await this.publisher.publish('', this.amqp.deadLetterQueue, body, { contentType: 'application/json', headers });
    return summary;
  }
}

/**
 * A random dead-letter id that the redaction of headers and log lines leaves whole: about one UUID in two hundred
 * holds a Luhn-valid run of digits across its dashes, and would be written masked (see `deadLetterIdOf`).
 */
function randomDeadLetterId(): string {
  for (;;) {
    const id = randomUUID();
    if (maskCardNumbers(id) === id) return id;
  }
}

/** What `DeadLetterWriter.write` did. */
export interface DeadLetterWritten {
  /** The dead letter's id (`x-pb-dead-letter-id`): the one written now, or the first copy's when `duplicate`. */
  id: string;
  /** The message was dead-lettered before (its identity marked): nothing written now. */
  duplicate: boolean;
  /** Why this write may be a second dead letter of its message ({@link OnceGap}); absent when it had its mark. */
  onceGap?: OnceGap;
  /** The detail of `onceGap`: Redis's error, or what happened to the claim. No body, no card data. */
  onceError?: string;
}

/**
 * Why a dead letter was written though it may be a second one of its message: `redis_away` (the one-per-message mark
 * could not be read or written), `held_past_wait` (Redis answered, but another copy still held the write's claim when
 * the wait ended), `claim_expired` (this write's publish outlived its claim, which another copy may have taken).
 */
export type OnceGap = 'redis_away' | 'held_past_wait' | 'claim_expired';

const maybeTwice = () =>
  counter(
    'pb_dead_letters_maybe_twice_total',
    'Dead letters written that may be a second one of their message, by why: redis_away (the one-per-message mark could not be read or written), held_past_wait (another copy held the write past the wait), claim_expired (the publish outlived its claim)',
    ['why'] as const,
  );

const ONCE_GAP_WORDS: Record<OnceGap, string> = {
  redis_away: 'dead letter written without its one-per-message mark (Redis away): a copy of this message may be a second record',
  held_past_wait:
    'dead letter written while another copy still held its write claim past the wait (Redis answered): a copy of this message may be a second record',
  claim_expired: "dead letter published after its write claim expired: another copy may have published it too (the archive keeps the message's one record)",
};

/**
 * The warn line and `pb_dead_letters_maybe_twice_total{why}` of a write that may be a second dead letter of its
 * message (`written.onceGap`), each cause in its own words; nothing for one that had its mark. `fields`: the
 * caller's (`dead_letter_id`, `reason`…), never the body.
 */
export function reportOnceGap(logger: Logger, written: DeadLetterWritten, fields: Record<string, unknown>): void {
  if (written.onceGap === undefined) return;
  maybeTwice().inc({ why: written.onceGap });
  logger.warn(ONCE_GAP_WORDS[written.onceGap], { ...fields, error: written.onceError });
}

/**
 * Longest header value a dead letter carries, in UTF-16 units (at most 3 bytes each in UTF-8). Every header
 * goes in one AMQP content-header frame (128 KiB by default): a larger one makes the broker close the
 * channel, the dead letter is never written and the message it refuses is held and retried for ever. The
 * values are short by construction (codes, reasons, bounded fields and ids); this keeps any one from growing
 * past what a frame holds.
 */
export const MAX_DEAD_LETTER_HEADER_CHARS = 1024;

function boundedHeaderValue(value: string): string {
  if (value.length <= MAX_DEAD_LETTER_HEADER_CHARS) return value;
  const last = value.charCodeAt(MAX_DEAD_LETTER_HEADER_CHARS - 2);
  // Never half a surrogate pair before the ellipsis.
  return `${value.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_DEAD_LETTER_HEADER_CHARS - 2 : MAX_DEAD_LETTER_HEADER_CHARS - 1)}…`;
}

/**
 * The channel whose key signed the original, verified before it was refused (absent: never verified, as an
 * unsigned message or one the broker dead-lettered with a signature that does not hold). A replay signs
 * only what a channel signed first. Callers give the channel; the writer publishes its stamp
 * (`dead-letter-stamp.ts`).
 */
export const AUTHENTICATED_CHANNEL_HEADER = 'x-pb-authenticated-channel';

/**
 * What a gift card number becomes in a dead letter: the secret mask, which a replay refuses to send ("was
 * redacted when it was dead-lettered"), rather than the card number mask a free-text field may carry on with:
 * a masked card key replayed would go to the PSP as the card.
 */
const GIFT_CARD_MASK = SECRET_MASK;

/**
 * A redacted JSON body with every string that is a gift card number as a card key (`isGiftCardNumberKey`:
 * 17 digits or more) masked; one kept as its text, masked in its text (`maskGiftCardNumbersInText`); a body that
 * is not JSON (withheld, or redacted as text) as it is.
 */
export function maskGiftCardNumbers(body: Buffer): Buffer {
  return maskParsedBody(body, (parsed) => {
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return isGiftCardNumberKey(v) ? GIFT_CARD_MASK : v;
      if (Array.isArray(v)) return v.map(walk);
      if (v === null || typeof v !== 'object') return v;
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) out[k] = walk(item);
      return out;
    };
    return Buffer.from(JSON.stringify(walk(parsed)));
  });
}

/**
 * `mask` applied to `body` parsed; a body that is not JSON as it is; one kept as its text (what parsing would
 * hide) with its gift card numbers masked in the text instead (`maskGiftCardNumbersInText`), never re-serialised.
 */
function maskParsedBody(body: Buffer, mask: (parsed: unknown) => Buffer): Buffer {
  let parsed: unknown;
  const text = body.toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch {
    return body;
  }
  if (jsonTextProblem(text) !== null) return Buffer.from(maskGiftCardNumbersInText(text));
  return mask(parsed);
}

/**
 * A redacted JSON body with a gift card number masked in each field that names a gift card
 * (`maskGiftCardNumberKeys`): a canonical command's (its `command` known) or a JSON-RPC call's `params.payment`
 * (its method not read: the card key of a redemption is left as it is). A body kept as its text (what parsing
 * would hide): every gift card number in its text (`maskGiftCardNumbersInText`). Any other body as it is.
 */
export function maskGiftCardKeys(body: Buffer): Buffer {
  return maskParsedBody(body, (parsed) => {
    const object = (v: unknown): Record<string, unknown> | undefined =>
      v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    const message = object(parsed);
    if (!message) return body;
    const payment = object(message.payment);
    const params = object(object(message.params)?.payment);
    const masked = payment
      ? maskGiftCardNumberKeys(payment, typeof message.command === 'string' ? message.command : '', GIFT_CARD_MASK)
      : params !== undefined && maskGiftCardNumberKeys(params, undefined, GIFT_CARD_MASK);
    return masked ? Buffer.from(JSON.stringify(parsed)) : body;
  });
}

/** A JSON string in text (valid JSON text: its strings are the only places a quote appears). */
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;
/** The `:` after a member name (sticky: tried where the string ends). */
const NAME_COLON = /\s*:/y;

/**
 * A body `redactBody` kept as its text (what parsing would hide: a repeated member, a rounded fraction) with
 * every string value that is a gift card number masked in place. Parsed and re-serialised it would lose what
 * it was kept for (a replay would carry the 2000 parsing made of 1999.9999999999999999), and the parsed value
 * cannot say which fields name a gift card (a repeated `token` hides its first value): every such string goes.
 * Numbers and member names are left as they are, so the text is refused again for the same reason.
 */
function maskGiftCardNumbersInText(text: string): string {
  return text.replace(JSON_STRING, (literal: string, offset: number) => {
    // A member name (followed by `:`) stays: masking one could make it repeat another.
    NAME_COLON.lastIndex = offset + literal.length;
    if (NAME_COLON.test(text)) return literal;
    const value = JSON.parse(literal) as unknown;
    return typeof value === 'string' && isGiftCardNumberKey(value) ? JSON.stringify(GIFT_CARD_MASK) : literal;
  });
}

/**
 * JSON bodies are redacted field by field (keys like `cvv` masked, card numbers in keys and values); a body
 * that is not JSON, or nests too deep to walk, is redacted as text (card numbers, and the values of
 * sensitive JSON keys, masked), or withheld when its JSON escapes hide card data or a sensitive key. A body
 * larger than a message may be is withheld, only its size kept.
 */
export function redactBody(body: Buffer): Buffer {
  // Refused for its size before anything read it, and refused again if replayed: walking a body the broker
  // let through (up to its own limit, 128 MiB by default) would hold the worker for nothing.
  if (body.length > MAX_COMMAND_MESSAGE_BYTES) {
    return Buffer.from(JSON.stringify({ withheld: `larger than the ${MAX_COMMAND_MESSAGE_BYTES} bytes a message may have`, bytes: body.length }));
  }
  let text = body.toString('utf8');
  if (jsonDepth(text) <= MAX_JSON_DEPTH) {
    try {
      const parsed = JSON.parse(text) as unknown;
      // Re-serialised, what parsing hid would be lost (a repeated member's last value, a fraction rounded into
      // 2000): a replay would carry what the refusal stopped. Such a text is kept, redacted as text below,
      // a sensitive member's value masked whatever it is (the text scan sees only strings and numbers).
      if (jsonTextProblem(text) === null) return Buffer.from(JSON.stringify(redact(parsed)));
      text = maskSensitiveMembersInText(text);
    } catch {
      // not JSON: redacted as text below
    }
  }
  // JSON escapes (`\u0034`…) hide digits and member names from a scan of the text: a body whose decoded
  // text holds card data or a sensitive member is withheld whole, only its size kept.
  const decoded = text.includes('\\u') ? text.replace(/\\u([0-9a-fA-F]{4})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))) : text;
  if (decoded !== text && redactJsonText(decoded) !== decoded) {
    return Buffer.from(JSON.stringify({ withheld: 'the body could not be walked and its escaped text holds card data or a secret', bytes: body.length }));
  }
  return Buffer.from(redactJsonText(text));
}

/**
 * Valid JSON text with the value of each member a sensitive name marks (`isSensitiveKey`: `cvv`, `cardCode`…)
 * masked whole, as `redact` masks it parsed: an array or an object too (`"cvv":["737"]`), which the text scan of
 * `redactJsonText` (a string or a number after the name) leaves. `""` and `null` stay. Everything else as it is.
 */
function maskSensitiveMembersInText(text: string): string {
  let out = '';
  let copied = 0;
  for (let i = 0; i < text.length; i += 1) {
    if (text.charCodeAt(i) !== 0x22 /* " */) continue;
    const end = stringEnd(text, i);
    NAME_COLON.lastIndex = end;
    if (!NAME_COLON.test(text)) {
      i = end - 1;
      continue;
    }
    let start = NAME_COLON.lastIndex;
    while (start < text.length && /\s/.test(text[start])) start += 1;
    const valueEnd = jsonValueEnd(text, start);
    const value = text.slice(start, valueEnd);
    if (value !== '""' && value !== 'null' && isSensitiveKey(JSON.parse(text.slice(i, end)) as string)) {
      out += `${text.slice(copied, start)}${JSON.stringify(SECRET_MASK)}`;
      copied = valueEnd;
      i = valueEnd - 1;
    } else {
      // Its value is read on: an object's members are names too.
      i = end - 1;
    }
  }
  return out + text.slice(copied);
}

/** The index after the JSON string opening at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 1;
    else if (c === 0x22) return i + 1;
  }
  return text.length;
}

/** The index after the JSON value starting at `start` (valid JSON text). */
function jsonValueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === 0x22) return stringEnd(text, start);
  if (first === 0x7b /* { */ || first === 0x5b /* [ */) {
    let depth = 0;
    for (let i = start; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (c === 0x22) i = stringEnd(text, i) - 1;
      else if (c === 0x7b || c === 0x5b) depth += 1;
      else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
    }
    return text.length;
  }
  let i = start;
  while (i < text.length && !/[\s,\]}]/.test(text[i])) i += 1;
  return i;
}

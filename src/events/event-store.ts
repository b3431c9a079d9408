import Redis, { Result } from 'ioredis';
import { PaymentEvent } from './payment-event';

// KEYS: event hash, payment sequence counter, payment sent watermark, unsent index. ARGV: payment key,
// method, params JSON, event id, now (ms).
// Records the event once; a second call (crash and retry) returns the sequence given the first time.
// A new event also enters the unsent index (score = when recorded), which the recovery sweep reads if
// whoever recorded it dies before it is delivered. Returns {sequence, sent watermark of the payment}, so
// the caller knows in the same round trip whether the per-payment order lets it send now.
const RECORD_LUA = `
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
local seq = redis.call('HGET', KEYS[1], 'sequence')
if seq then return {tonumber(seq), sent} end
seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'sequence', seq, 'payment_key', ARGV[1], 'method', ARGV[2], 'params', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
return {seq, sent}
`;

// KEYS: sent watermark of the payment, unsent index. ARGV: sequence, event id ('' for none).
// Raises the watermark, never lowers it, and takes the event out of the unsent index.
const MARK_SENT_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq > cur then redis.call('SET', KEYS[1], seq) end
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
return cur
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pbEventRecord(eventKey: string, seqKey: string, sentKey: string, unsentKey: string, paymentKey: string, method: string, params: string, eventId: string, now: number): Result<[number, number], Context>;
    pbEventMarkSent(sentKey: string, unsentKey: string, sequence: number, eventId: string): Result<number, Context>;
  }
}

/** A recorded event, as the sender loads it. */
export interface StoredEvent extends PaymentEvent {
  sequence: number;
}

/**
 * The outbox: events are recorded in Redis (with their per-payment sequence) before they are queued, so a
 * crash between the two is repaired by re-recording (same id, same sequence) and re-queuing.
 *   P event:{eventId}       hash: sequence, payment_key, method, params
 *   P payment:{key}:seq     last sequence given out for the payment
 *   P payment:{key}:sent    highest sequence delivered to the bus
 *   P events:unsent         sorted set of recorded, not yet delivered event ids; score = recorded at (ms)
 */
export class EventStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('pbEventRecord', { numberOfKeys: 4, lua: RECORD_LUA });
    redis.defineCommand('pbEventMarkSent', { numberOfKeys: 2, lua: MARK_SENT_LUA });
  }

  /** Key of the unsent index (recovery sweep). */
  get unsentKey(): string {
    return `${this.prefix}events:unsent`;
  }

  /** Records the event (idempotent) and returns its sequence within the payment. */
  async record(event: PaymentEvent): Promise<number> {
    return (await this.recordAndCheck(event)).sequence;
  }

  /**
   * Records the event (idempotent) and, in the same round trip, reads the payment's sent watermark.
   * @returns its sequence within the payment and the highest sequence of the payment already delivered.
   */
  async recordAndCheck(event: PaymentEvent, now = Date.now()): Promise<{ sequence: number; sent: number }> {
    const [sequence, sent] = await this.redis.pbEventRecord(
      `${this.prefix}event:${event.eventId}`,
      `${this.prefix}payment:${event.paymentKey}:seq`,
      `${this.prefix}payment:${event.paymentKey}:sent`,
      this.unsentKey,
      event.paymentKey,
      event.method,
      JSON.stringify(event.params),
      event.eventId,
      now,
    );
    return { sequence: Number(sequence), sent: Number(sent) };
  }

  async load(eventId: string): Promise<StoredEvent | null> {
    const h = await this.redis.hgetall(`${this.prefix}event:${eventId}`);
    if (!h.sequence) return null;
    return { eventId, paymentKey: h.payment_key, method: h.method, params: JSON.parse(h.params) as Record<string, unknown>, sequence: Number(h.sequence) };
  }

  /** Highest sequence of the payment already delivered (0 when none). */
  async sentWatermark(paymentKey: string): Promise<number> {
    return Number((await this.redis.get(`${this.prefix}payment:${paymentKey}:sent`)) ?? 0);
  }

  /** Raises the payment's sent watermark to `sequence`; with `eventId`, also drops it from the unsent index. */
  async markSent(paymentKey: string, sequence: number, eventId = ''): Promise<void> {
    await this.redis.pbEventMarkSent(`${this.prefix}payment:${paymentKey}:sent`, this.unsentKey, sequence, eventId);
  }

  /** Unsent event ids recorded at or before `maxScore` (epoch ms), oldest first. */
  async unsentBefore(maxScore: number, limit = 1000): Promise<string[]> {
    return this.redis.zrangebyscore(this.unsentKey, '-inf', String(maxScore), 'LIMIT', 0, limit);
  }
}

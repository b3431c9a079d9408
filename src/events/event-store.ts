import Redis, { Result } from 'ioredis';
import { PaymentEvent } from './payment-event';

// KEYS: event hash, payment sequence counter. ARGV: payment key, method, params JSON.
// Records the event once; a second call (crash and retry) returns the sequence given the first time.
const RECORD_LUA = `
local seq = redis.call('HGET', KEYS[1], 'sequence')
if seq then return tonumber(seq) end
seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'sequence', seq, 'payment_key', ARGV[1], 'method', ARGV[2], 'params', ARGV[3])
return seq
`;

// KEYS: sent watermark of the payment. ARGV: sequence. Raises the watermark, never lowers it.
const MARK_SENT_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq > cur then redis.call('SET', KEYS[1], seq) end
return cur
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pbEventRecord(eventKey: string, seqKey: string, paymentKey: string, method: string, params: string): Result<number, Context>;
    pbEventMarkSent(sentKey: string, sequence: number): Result<number, Context>;
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
 */
export class EventStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('pbEventRecord', { numberOfKeys: 2, lua: RECORD_LUA });
    redis.defineCommand('pbEventMarkSent', { numberOfKeys: 1, lua: MARK_SENT_LUA });
  }

  /** Records the event (idempotent) and returns its sequence within the payment. */
  async record(event: PaymentEvent): Promise<number> {
    return this.redis.pbEventRecord(
      `${this.prefix}event:${event.eventId}`,
      `${this.prefix}payment:${event.paymentKey}:seq`,
      event.paymentKey,
      event.method,
      JSON.stringify(event.params),
    );
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

  async markSent(paymentKey: string, sequence: number): Promise<void> {
    await this.redis.pbEventMarkSent(`${this.prefix}payment:${paymentKey}:sent`, sequence);
  }
}

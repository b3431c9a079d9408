import Redis, { Result } from 'ioredis';
import { PaymentEvent } from './payment-event';

// The recording of an event, as a Lua function `pb_record_event(K, A)` so that the ledger's outcome
// transition can record the outcome's event in the same atomic step; RECORD_LUA calls it alone.
// K: event hash, payment sequence counter, payment sent watermark, unsent index, send lease, settling
// index. A: payment key, method, params JSON, event id, now (ms), lease ms ('' = do not claim),
// operation id whose settling mark the recorded event clears ('' = none).
// Records the event once; a second call (crash and retry) returns the sequence given the first time.
// A new event also enters the unsent index (score = when recorded), which the recovery sweep reads if
// whoever recorded it dies before it is delivered. When the payment's order lets the event go now (all
// earlier events delivered) and a lease is asked for, it also takes the event's send lease, so no two
// senders have the same event on the wire at once (a repeat landing after the next event would break the
// per-payment order). Returns {sequence, sent watermark, lease taken (0|1)}.
export const RECORD_EVENT_LUA_FUNCTION = `
local function pb_record_event(K, A)
  local sent = tonumber(redis.call('GET', K[3]) or '0')
  local seq = redis.call('HGET', K[1], 'sequence')
  if seq then
    seq = tonumber(seq)
  else
    seq = redis.call('INCR', K[2])
    redis.call('HSET', K[1], 'sequence', seq, 'payment_key', A[1], 'method', A[2], 'params', A[3])
    redis.call('ZADD', K[4], A[5], A[4])
  end
  if A[7] ~= '' then redis.call('ZREM', K[6], A[7]) end
  local claimed = 0
  if A[6] ~= '' and sent == seq - 1 then
    if redis.call('SET', K[5], '1', 'PX', A[6], 'NX') then claimed = 1 end
  end
  return {seq, sent, claimed}
end
`;

const RECORD_LUA = `${RECORD_EVENT_LUA_FUNCTION}
return pb_record_event(KEYS, ARGV)
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
    pbEventRecord(...keysThenArgs: string[]): Result<[number, number, number], Context>;
    pbEventMarkSent(sentKey: string, unsentKey: string, sequence: number, eventId: string): Result<number, Context>;
  }
}

/** What recording an event found: its sequence, the payment's sent watermark, whether the send lease was taken. */
export interface RecordResult {
  sequence: number;
  sent: number;
  claimed: boolean;
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
 *   P event:{eventId}:sending  send lease (expiring): someone is sending it now
 *   P events:unsent         sorted set of recorded, not yet delivered event ids; score = recorded at (ms)
 */
export class EventStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('pbEventRecord', { numberOfKeys: 6, lua: RECORD_LUA });
    redis.defineCommand('pbEventMarkSent', { numberOfKeys: 2, lua: MARK_SENT_LUA });
  }

  /** Key of the unsent index (recovery sweep). */
  private get unsentKey(): string {
    return `${this.prefix}events:unsent`;
  }

  /** Records the event (idempotent) and returns its sequence within the payment. */
  async record(event: PaymentEvent): Promise<number> {
    return (await this.recordAndCheck(event)).sequence;
  }

  /**
   * Records the event (idempotent) and, in the same round trip, reads the payment's sent watermark; with
   * `leaseMs`, also takes the event's send lease when its turn has come (see `claim`); with `settles`, clears
   * that operation's settling mark in the ledger's settling index (the event it was waiting for is now in
   * the outbox, whose unsent index covers the rest).
   * @returns its sequence within the payment, the highest sequence of the payment already delivered, and
   *   whether the lease was taken (always false without `leaseMs`).
   */
  async recordAndCheck(
    event: PaymentEvent,
    now = Date.now(),
    leaseMs?: number,
    settles?: { settlingKey: string; operationId: string },
  ): Promise<RecordResult> {
    const { keys, args } = this.recordInputs(event, now, leaseMs, settles);
    const [sequence, sent, claimed] = await this.redis.pbEventRecord(...keys, ...args);
    return { sequence: Number(sequence), sent: Number(sent), claimed: Number(claimed) === 1 };
  }

  /**
   * The keys and arguments of the recording (`RECORD_EVENT_LUA_FUNCTION`): what `recordAndCheck` sends,
   * for a script that records the event inside a larger atomic step. Same parameters as `recordAndCheck`.
   */
  recordInputs(
    event: PaymentEvent,
    now: number,
    leaseMs?: number,
    settles?: { settlingKey: string; operationId: string },
  ): { keys: [string, string, string, string, string, string]; args: [string, string, string, string, string, string, string] } {
    return {
      keys: [
        `${this.prefix}event:${event.eventId}`,
        `${this.prefix}payment:${event.paymentKey}:seq`,
        `${this.prefix}payment:${event.paymentKey}:sent`,
        this.unsentKey,
        this.leaseKey(event.eventId),
        settles?.settlingKey ?? this.unsentKey,
      ],
      args: [
        event.paymentKey,
        event.method,
        JSON.stringify(event.params),
        event.eventId,
        String(now),
        leaseMs === undefined ? '' : String(leaseMs),
        settles?.operationId ?? '',
      ],
    };
  }

  /**
   * Takes the event's send lease for `leaseMs` (milliseconds) unless someone holds it: whoever sends an
   * event holds it, so the inline sender and the queue never have the same event on the wire together.
   * It expires by itself if its holder dies.
   */
  async claim(eventId: string, leaseMs: number): Promise<boolean> {
    return (await this.redis.set(this.leaseKey(eventId), '1', 'PX', leaseMs, 'NX')) === 'OK';
  }

  /** Gives the send lease back (the send failed; the next sender need not wait for it to expire). */
  async release(eventId: string): Promise<void> {
    await this.redis.del(this.leaseKey(eventId));
  }

  private leaseKey(eventId: string): string {
    return `${this.prefix}event:${eventId}:sending`;
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

  /**
   * Moves the unsent index score of those of `eventIds` still unsent to `score` (epoch ms); one delivered
   * meanwhile is not put back (ZADD XX). The recovery sweep, as `Ledger.rescoreInState`.
   */
  async rescoreUnsent(eventIds: readonly string[], score: number): Promise<void> {
    if (eventIds.length === 0) return;
    await this.redis.zadd(this.unsentKey, 'XX', ...eventIds.flatMap((id) => [score, id]));
  }

  /** Unsent event ids recorded at or before `maxScore` (epoch ms), oldest first. */
  async unsentBefore(maxScore: number, limit = 1000): Promise<string[]> {
    return this.redis.zrangebyscore(this.unsentKey, '-inf', String(maxScore), 'LIMIT', 0, limit);
  }
}

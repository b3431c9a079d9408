import { RedisClient } from '../redis/redis-connection';
import { LuaFragment, LuaScript, LuaStep, luaInputs } from '../redis/lua-script';
import { ShardKeys, ShardMemo, probeShard, shardKeysOf, shardMemoOf } from '../redis/key-layout';
import { lowestAcrossKeys } from '../redis/shard-probe';
import { REPLICA_PROBE_TTL_MS, replicaAcknowledgedKeys } from '../redis/replica-wait';
import { PaymentEvent, shardOfEvent } from './payment-event';
import { paramsJson } from './event-json';
import { LeaseHolder, isHolderId } from '../leases/lease-holder';
import { counter } from '../metrics/metrics-registry';
import { orderKeyPart } from '../ledger/order-index';
import { OperationlessEventKind, operationlessEventKind, ownerIdsOf } from './operationless-events';

// The recording of an event, as a Lua function `pb_record_event()` (reading the script's K and A) so that the ledger's outcome
// transition can record the outcome's event in the same atomic step (`EventStore.recordStep`); RECORD_SCRIPT
// calls it alone. Inputs: see RECORD_INPUTS.
// Records the event once; a second call (crash and retry) returns the sequence given the first time.
// A new event also enters the unsent index (score = when recorded), which the recovery sweep reads if
// whoever recorded it dies before it is delivered. When the payment's order lets the event go now (all
// earlier events delivered) and a lease is asked for, it also takes the event's send lease, so no two
// senders have the same event on the wire at once (a repeat landing after the next event would break the
// per-payment order). Returns {sequence, sent watermark, lease taken (0|1), sequence raised past the watermark (0|1)}.
const RECORD_INPUTS = luaInputs(
  // The event hash, the payment's sequence counter and sent watermark, the unsent index, the event's send
  // lease, the settling index whose mark the recording clears (the ledger's; see `settles`).
  ['event', 'event_seq', 'event_sent', 'event_unsent', 'event_lease', 'event_settling'],
  // The payment key, method, params JSON, event id, now (ms), lease ms ('' = do not claim), the lease's
  // value (the holder id, see src/leases/lease-holder.ts), the operation id whose settling mark the
  // recorded event clears ('' = none).
  ['event_payment_key', 'event_method', 'event_params', 'event_id', 'event_now', 'event_lease_ms', 'event_lease_holder', 'event_settles'],
);
type RecordKey = (typeof RECORD_INPUTS.keys)[number];
type RecordArg = (typeof RECORD_INPUTS.args)[number];

const RECORD_EVENT: LuaFragment<RecordKey, RecordArg> = {
  inputs: RECORD_INPUTS,
  lua: `
local function pb_record_event()
  local sent = tonumber(redis.call('GET', K.event_sent) or '0')
  local seq = redis.call('HGET', K.event, 'sequence')
  local raised = 0
  if seq then
    seq = tonumber(seq)
  else
    seq = redis.call('INCR', K.event_seq)
    -- Never at or below the sent watermark, which would pass the event as delivered: a primary demoted after a
    -- failover drops the counter's last INCRs while the mark of an event it recorded and the bus got survives.
    if seq <= sent then
      seq = sent + 1
      redis.call('SET', K.event_seq, seq, 'KEEPTTL')
      raised = 1
    end
    redis.call('HSET', K.event, 'sequence', seq, 'payment_key', A.event_payment_key, 'method', A.event_method, 'params', A.event_params)
    redis.call('ZADD', K.event_unsent, A.event_now, A.event_id)
  end
  if A.event_settles ~= '' then redis.call('ZREM', K.event_settling, A.event_settles) end
  local claimed = 0
  if A.event_lease_ms ~= '' and sent == seq - 1 then
    if redis.call('SET', K.event_lease, A.event_lease_holder, 'PX', A.event_lease_ms, 'NX') then claimed = 1 end
  end
  return {seq, sent, claimed, raised}
end
`,
};

const RECORD_SCRIPT = new LuaScript(
  RECORD_INPUTS,
  `${RECORD_EVENT.lua}
return pb_record_event()
`,
);

// Gives a lease back only if the caller still holds it (a lease taken over meanwhile is the new holder's).
const RELEASE_SCRIPT = new LuaScript(
  luaInputs(['lease'], ['holder']),
  `
if redis.call('GET', K.lease) == A.holder then redis.call('DEL', K.lease) return 1 end
return 0
`,
);

/** Raises the payment's sent watermark, never lowers it: `cur`, the mark before (the mark-sent scripts' start). */
const RAISE_SENT_MARK_LUA = `
local cur = tonumber(redis.call('SET', K.sent, A.sequence, 'GET') or '0')
if cur > tonumber(A.sequence) then redis.call('SET', K.sent, cur) end
`;

const MARK_SENT_SCRIPT = new LuaScript(
  luaInputs(['sent', 'unsent'], ['sequence', 'event_id']),
  // Raises the payment's sent watermark, never lowers it, and takes the event ('' for none) out of the unsent index.
  // Events are marked in order almost always: one SET ... GET raises the mark and reads the old one (one
  // command, not a GET then a SET), and the rare older event marked late puts the higher mark back.
  `${RAISE_SENT_MARK_LUA}
if A.event_id ~= '' then redis.call('ZREM', K.unsent, A.event_id) end
return cur
`,
);

// An event that no operation names once delivered enters an index of delivered ones as it leaves the unsent index, so
// retention (and erasure) find it there: an idempotency-conflict event (`ShardKeys.deliveredConflictEvents`), an event
// of no operation (`ShardKeys.operationlessEvents`, src/events/operationless-events.ts); `deliveredIndexOf` says which.
// A script of its own: every other event (an operation's) keeps the two keys and two arguments above.
const MARK_SENT_INDEXED_SCRIPT = new LuaScript(
  luaInputs(['sent', 'unsent', 'delivered'], ['sequence', 'event_id', 'now']),
  `${RAISE_SENT_MARK_LUA}
if redis.call('ZREM', K.unsent, A.event_id) == 1 then redis.call('ZADD', K.delivered, A.now, A.event_id) end
return cur
`,
);

/** The index of delivered events `eventId` enters when marked sent (MARK_SENT_INDEXED_SCRIPT); none for an operation's own event. */
function deliveredIndexOf(keys: ShardKeys, eventId: string): string | undefined {
  if (eventId.includes(CONFLICT_INFIX)) return keys.deliveredConflictEvents;
  return operationlessEventKind(eventId) !== null ? keys.operationlessEvents : undefined;
}

// The bus refused the event's content for good: it leaves the unsent index for the rejected one, with its
// reason on its hash, and the payment's watermark rises past it so the events after it are not held for ever.
// One an operator dismissed (`dismissed_at`, DISMISS_SCRIPT) is never set aside again, only kept out of the unsent index.
// An event of no operation (`of_no_operation` '1') also enters their index (`ShardKeys.operationlessEvents`), set aside
// being as final for retention's clock as delivered.
const SET_ASIDE_SCRIPT = new LuaScript(
  luaInputs(['event', 'sent', 'unsent', 'rejected', 'operationless'], ['sequence', 'event_id', 'reason', 'now', 'of_no_operation']),
  `
if redis.call('EXISTS', K.event) == 0 then return 0 end
if redis.call('HEXISTS', K.event, 'dismissed_at') == 1 then
  redis.call('ZREM', K.unsent, A.event_id)
  return 0
end
local cur = tonumber(redis.call('GET', K.sent) or '0')
if cur < tonumber(A.sequence) then redis.call('SET', K.sent, A.sequence) end
redis.call('ZREM', K.unsent, A.event_id)
redis.call('HSET', K.event, 'rejected_at', A.now, 'rejected_reason', A.reason)
redis.call('ZADD', K.rejected, A.now, A.event_id)
if A.of_no_operation == '1' then redis.call('ZADD', K.operationless, A.now, A.event_id) end
return 1
`,
);

// The record of the event is gone (retention expired it with its operation): an entry an earlier release's retention
// left in either index is taken out now, and the reply says which index held it, so the caller counts it as the
// poller's trim does (`missOf`, `indexEntriesTrimmedTotal`): -1 the set-aside index, -3 the dismissed one, -4 both. `reply` wraps a
// code as the script returns it (a number, or a table's first element).
function goneLua(reply: (code: number) => string): string {
  return `  local gone_r = redis.call('ZREM', K.rejected, A.event_id)
  local gone_d = redis.call('ZREM', K.dismissed, A.event_id)
  if gone_r == 1 and gone_d == 1 then return ${reply(-4)} end
  if gone_r == 1 then return ${reply(-1)} end
  if gone_d == 1 then return ${reply(-3)} end`;
}

// An operator's resend of a set-aside event: back in the unsent index, its marks cleared, and marked as resent
// (`resend_at`), so a sender that picks it up without the resend job (the recovery sweep's revival) still sends it.
// Returns 1 (resent), 0 (not set aside), or, its record gone: -1, -3 or -4 when an entry of it was left in an index
// (taken out now; see goneLua), -2 when none was.
const RESEND_SCRIPT = new LuaScript(
  luaInputs(['event', 'unsent', 'rejected', 'dismissed'], ['event_id', 'now']),
  `
if redis.call('EXISTS', K.event) == 0 then
${goneLua((code) => String(code))}
  return -2
end
if redis.call('ZREM', K.rejected, A.event_id) == 0 then return 0 end
redis.call('HDEL', K.event, 'rejected_at', 'rejected_reason')
redis.call('HSET', K.event, 'resend_at', A.now)
redis.call('ZADD', K.unsent, A.now, A.event_id)
return 1
`,
);

// An operator's dismissal of a set-aside event the bus will never take: out of the rejected index for good (so
// neither the gauge nor a later resend sees it), into the dismissed one, who, when and why on its hash, whose
// set-aside marks stay (why the bus refused it). The ZREM decides: of a resend and a dismissal racing on one
// event, exactly one takes it out. Returns {1, method, sequence, payment key, set-aside reason}, {0} (not set
// aside), or, its record gone, {-1}, {-3} or {-4} (an entry of it was left in an index: taken out now; see goneLua) or
// {-2} (none was).
const DISMISS_SCRIPT = new LuaScript(
  luaInputs(['event', 'rejected', 'dismissed'], ['event_id', 'now', 'by', 'reason']),
  `
if redis.call('EXISTS', K.event) == 0 then
${goneLua((code) => `{${code}}`)}
  return {-2}
end
if redis.call('ZREM', K.rejected, A.event_id) == 0 then return {0} end
redis.call('HSET', K.event, 'dismissed_at', A.now, 'dismissed_by', A.by, 'dismissed_reason', A.reason)
redis.call('ZADD', K.dismissed, A.now, A.event_id)
local h = redis.call('HMGET', K.event, 'method', 'sequence', 'payment_key', 'rejected_reason')
return {1, h[1] or '', h[2] or '0', h[3] or '', h[4] or ''}
`,
);

// Takes out of one index (set-aside or dismissed) those of the ids given (ARGV from A_REST on) whose event hash (the
// extra key at the same position) no longer exists: entries an earlier release's retention left behind. Returns
// the ids it took out. The EXISTS and the ZREM are one step, so an event restored meanwhile keeps its entry.
const TRIM_SCRIPT = new LuaScript(
  luaInputs(['index'], []),
  `
local out = {}
for i = A_REST, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', XK(i - A_REST + 1)) == 0 and redis.call('ZREM', K.index, id) == 1 then out[#out + 1] = id end
end
return out
`,
  true,
);

// Retention's expiry of an idempotency-conflict event recorded in another shard than its operation (the refused command's
// anchor: see `EventStore.conflictEventsOf`), or delivered: its record and its dismissed or delivered entry go, unless it
// is set aside or unsent (the OMS has not heard it: the operation is kept for it). Its payment's sequence counters go too
// when nothing else will use them: the refused command's order (`has_order` '1'; its key, else the record's) has no
// operation and every event of the payment recorded is delivered or set aside (sequence at the sent watermark).
// Returns 'expired' (gone, or was already), else why it is kept: 'unsent_event', 'set_aside_event' (retention's reasons).
const DROP_CONFLICT_EVENT_SCRIPT = new LuaScript(
  luaInputs(['event', 'unsent', 'rejected', 'dismissed', 'delivered', 'seq', 'sent', 'order'], ['event_id', 'has_order']),
  `
if redis.call('ZSCORE', K.unsent, A.event_id) then return 'unsent_event' end
if redis.call('ZSCORE', K.rejected, A.event_id) then return 'set_aside_event' end
redis.call('DEL', K.event)
redis.call('ZREM', K.dismissed, A.event_id)
redis.call('ZREM', K.delivered, A.event_id)
if A.has_order == '1' and redis.call('EXISTS', K.order) == 0 then
  local seq = tonumber(redis.call('GET', K.seq) or '0')
  if seq <= tonumber(redis.call('GET', K.sent) or '0') then redis.call('DEL', K.seq, K.sent) end
end
return 'expired'
`,
);

// Retention's expiry of an event of no operation (`EventStore.dropOperationlessEvent`): its record and its set-aside,
// dismissed and own index entries go, unless it is unsent again (an operator's resend: its delivery or setting aside
// puts it back in its index) or an operation exists whose own event its id could be (the extra keys: the records of
// `ownerIdsOf`; then it is that operation's, whose expiry deletes it as one of its events): either way it leaves its
// index. Its payment's sequence counters go as a conflict event's do (DROP_CONFLICT_EVENT_SCRIPT). Returns 'expired',
// 'gone' (erased or expired already), 'unsent_event' or 'operation_event'.
const DROP_OPERATIONLESS_EVENT_SCRIPT = new LuaScript(
  luaInputs(['event', 'unsent', 'rejected', 'dismissed', 'operationless', 'seq', 'sent', 'order'], ['event_id', 'has_order', 'owners']),
  `
if redis.call('ZSCORE', K.unsent, A.event_id) then
  redis.call('ZREM', K.operationless, A.event_id)
  return 'unsent_event'
end
for i = 1, tonumber(A.owners) do
  if redis.call('EXISTS', XK(i)) == 1 then
    redis.call('ZREM', K.operationless, A.event_id)
    return 'operation_event'
  end
end
local existed = redis.call('DEL', K.event)
redis.call('ZREM', K.rejected, A.event_id)
redis.call('ZREM', K.dismissed, A.event_id)
redis.call('ZREM', K.operationless, A.event_id)
if existed == 0 then return 'gone' end
if A.has_order == '1' and redis.call('EXISTS', K.order) == 0 then
  local seq = tonumber(redis.call('GET', K.seq) or '0')
  if seq <= tonumber(redis.call('GET', K.sent) or '0') then redis.call('DEL', K.seq, K.sent) end
end
return 'expired'
`,
);

// Erasure of one event's params (`EventStore.scrubConflictEvent`): replaced only if they still read as the caller read them.
const REPLACE_PARAMS_SCRIPT = new LuaScript(
  luaInputs(['event'], ['old', 'new']),
  `
if redis.call('HGET', K.event, 'params') ~= A.old then return 0 end
redis.call('HSET', K.event, 'params', A.new)
return 1
`,
);

// The fleet's turn at the index trim (`EventStore.takeTrimTurn`): due when the mark, the time the next trim is due (epoch
// ms), is absent or past; the taker moves it one interval on (expiring then, so a clock far ahead holds it no longer).
const TRIM_TURN_SCRIPT = new LuaScript(
  luaInputs(['mark'], ['now', 'interval']),
  `
if tonumber(redis.call('GET', K.mark) or '0') > tonumber(A.now) then return 0 end
redis.call('SET', K.mark, tonumber(A.now) + tonumber(A.interval), 'PX', A.interval)
return 1
`,
);

/** The two indexes of set-aside events: `events:rejected` (set aside) and `events:dismissed` (dismissed by an operator). */
export type SetAsideIndex = 'rejected' | 'dismissed';

/** The infix of an idempotency-conflict event's id: `<operation id>.idempotency-conflict.<digest>` (`idempotencyConflictEvent`). */
const CONFLICT_INFIX = '.idempotency-conflict.';

/**
 * An idempotency-conflict event found in an index (`EventStore.conflictEventsOf`): its shard is the refused
 * command's (its payment's anchor), which may be another than the operation's it names.
 */
export interface ConflictEventEntry {
  eventId: string;
  shard: number;
  /** The index it is in: `unsent` (not delivered yet), `rejected` (set aside), `dismissed`, `delivered` (the bus has it). */
  index: 'unsent' | SetAsideIndex | 'delivered';
}

/** An event of no operation found in their index (`EventStore.operationlessEventsBefore`). */
export interface OperationlessEventEntry {
  eventId: string;
  shard: number;
  kind: OperationlessEventKind;
}

/** Index entries whose event is gone, taken out by `EventStore.trimDangling`. */
export interface TrimmedEntry {
  index: SetAsideIndex;
  eventId: string;
  shard: number;
}

export { REPLICA_PROBE_TTL_MS };

/**
 * `pb_event_sequences_raised_total`: events given a sequence above their payment's sent watermark because the
 * payment's counter was at or below it (a demoted primary dropped the counter's last increments, not the mark).
 * Without the raise the event would be taken for delivered and never sent.
 */
function sequencesRaised() {
  return counter(
    'pb_event_sequences_raised_total',
    "Events recorded with a sequence raised past their payment's sent watermark: the counter was behind it (writes lost in a Redis failover)",
  );
}

/** A set-aside event as its hash reads (`EventStore.rejected`, `dismissed`). */
function rejectedOf(eventId: string, h: Record<string, string>): RejectedEvent {
  return {
    eventId,
    paymentKey: h.payment_key,
    method: h.method,
    sequence: Number(h.sequence),
    rejectedAt: Number(h.rejected_at ?? 0),
    reason: h.rejected_reason ?? '',
  };
}

/** A recorded event whose params do not decode: it can be placed (payment, sequence) but not sent. */
export class UnreadableEventError extends Error {
  constructor(
    /** The event as far as it reads, with empty params. */
    readonly event: StoredEvent,
  ) {
    super(`event ${event.eventId} is recorded with params that do not decode`);
    this.name = 'UnreadableEventError';
  }
}

/** An event the bus refused for its content, set aside (`EventStore.setAside`). */
export interface RejectedEvent {
  eventId: string;
  paymentKey: string;
  method: string;
  sequence: number;
  /** When it was set aside, epoch ms. */
  rejectedAt: number;
  /** The bus's refusal: `http_<status>` or `rpc_<code>`. */
  reason: string;
}

/** A set-aside event an operator dismissed for good (`EventStore.dismiss`): the OMS never hears it. */
export interface DismissedEvent extends RejectedEvent {
  /** When it was dismissed, epoch ms. */
  dismissedAt: number;
  /** Who dismissed it (the audit log's actor). */
  dismissedBy: string;
  /** Why, as the operator said it (card numbers masked, bounded). */
  dismissedReason: string;
}

/**
 * Why an operator's resend or dismissal of an event id took nothing: `not_set_aside` (its record exists, not in the
 * set-aside index: never set aside, resent, dismissed already), `expired` (its record is gone, retention expired it
 * with its operation, while an entry of it was left in the set-aside or dismissed index: taken out now), `not_found`
 * (no record of it and no entry: never recorded, or expired with its operation).
 */
export type SetAsideMiss = 'not_set_aside' | 'expired' | 'not_found';

/** The order id of an event's params (`payment.order_id`), undefined when it names none or they do not decode. */
function orderIdOfParams(params: string | null): string | undefined {
  if (params === null) return undefined;
  try {
    const orderId = (JSON.parse(params) as { payment?: { order_id?: unknown } }).payment?.order_id;
    return typeof orderId === 'string' && orderId !== '' ? orderId : undefined;
  } catch {
    return undefined;
  }
}

/** The indexes an entry was taken out of, by the gone-record reply of the resend or dismiss script (`goneLua`). */
const GONE_INDEXES: Readonly<Record<number, readonly SetAsideIndex[]>> = { [-1]: ['rejected'], [-3]: ['dismissed'], [-4]: ['rejected', 'dismissed'] };

/**
 * `pb_events_index_entries_trimmed_total{index}`: entries of the set-aside or dismissed index whose event no longer
 * exists, taken out by the poller's trim (`EventIndexTrim`) or by an operator's resend or dismissal naming the event.
 */
export function indexEntriesTrimmedTotal() {
  return counter(
    'pb_events_index_entries_trimmed_total',
    "Entries of the set-aside (rejected) or dismissed event index whose event no longer exists (expired by retention in an earlier release), taken out by the poller's trim or by an operator's resend or dismissal of the event, so pb_events_set_aside no longer counts them, by index",
    ['index'],
  );
}

function missOf(code: number): SetAsideMiss {
  const gone = GONE_INDEXES[code];
  if (gone !== undefined) {
    // Taken out as the trim would have: counted with the trim's removals (the trim never sees this entry now).
    for (const index of gone) indexEntriesTrimmedTotal().inc({ index });
    return 'expired';
  }
  return code === -2 ? 'not_found' : 'not_set_aside';
}

/** What dismissing a set-aside event took out of the rejected index (`EventStore.dismiss`). */
export interface EventDismissal {
  eventId: string;
  paymentKey: string;
  method: string;
  sequence: number;
  /** Why it had been set aside (`http_<status>`, `rpc_<code>`, `unreadable`). */
  reason: string;
}

/** What recording an event found: its sequence, the payment's sent watermark, whether the send lease was taken. */
export interface RecordResult {
  sequence: number;
  sent: number;
  claimed: boolean;
  /** True when the sequence was raised past the sent watermark (`pb_event_sequences_raised_total`); absent otherwise. */
  raised?: boolean;
}

/** A recorded event, as the sender loads it. */
export interface StoredEvent extends PaymentEvent {
  sequence: number;
  /** An operator resent it after it was set aside: sent although the payment's watermark is past it. */
  resent?: boolean;
  /** An operator dismissed it after it was set aside (`EventStore.dismiss`): never sent, whatever job names it. */
  dismissed?: boolean;
}

/**
 * The outbox: events are recorded in Redis (with their per-payment sequence) before they are queued, so a
 * crash between the two is repaired by re-recording (same id, same sequence) and re-queuing. An event lives
 * in its payment's shard S (src/redis/key-layout.ts), the shard of the operation it reports, so recording it
 * joins that operation's transition script:
 *   S event:{eventId}       hash: sequence, payment_key, method, params
 *   S payment:{key}:seq     last sequence given out for the payment
 *   S payment:{key}:sent    highest sequence delivered to the bus
 *   S event:{eventId}:sending  send lease (expiring): someone is sending it now
 *   S events:unsent         sorted set of recorded, not yet delivered event ids; score = recorded at (ms)
 *   S events:rejected       sorted set of set-aside event ids (the bus refused them); score = set aside at (ms)
 *   S events:dismissed      sorted set of set-aside event ids an operator dismissed for good; score = dismissed at (ms)
 * Callers that name an event by id alone find its shard in a bounded in-process memo, else by asking every
 * shard at once (rare paths: a queued send after a restart).
 */
export class EventStore {
  private readonly shards: readonly ShardKeys[];
  private readonly events: ShardMemo;
  private readonly payments: ShardMemo;
  /** `<prefix>events:index_trim:next`: when the fleet's next index trim is due (`takeTrimTurn`; unsharded, read alone). */
  private readonly trimMark: string;
  /** `<prefix>events:index_trim:cursor`: where a trim walk cut short by its page budget resumes (`trimDangling`). */
  private readonly trimCursor: string;

  /**
   * @param holder this process's lease identity: the send leases it takes name it, and a lease found held
   *   by a holder whose heartbeat lapsed (a killed process) is taken over at once instead of after its
   *   expiry. Without it (processes that send nothing, tests) leases hold the constant '1' and are only
   *   ever waited out.
   */
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly holder?: LeaseHolder,
  ) {
    this.shards = shardKeysOf(prefix);
    this.events = shardMemoOf(prefix, 'events');
    this.payments = shardMemoOf(prefix, 'payments');
    this.trimMark = `${prefix}events:index_trim:next`;
    this.trimCursor = `${prefix}events:index_trim:cursor`;
  }

  /** The shard of `event`, remembered for its id and payment. */
  private keysOfEvent(event: PaymentEvent): ShardKeys {
    const shard = shardOfEvent(event);
    this.events.set(event.eventId, shard);
    this.payments.set(event.paymentKey, shard);
    return this.shards[shard];
  }

  /** The shard event `eventId` is recorded in: the memo, else every shard asked at once (shard 0 when none has it). */
  private async keysOfEventId(eventId: string): Promise<ShardKeys> {
    const known = this.events.get(eventId);
    if (known !== undefined) return this.shards[known];
    // Shard 0 when no shard holds it: reads there find nothing, as anywhere.
    return this.shards[Math.max(0, await probeShard(this.redis, this.shards, (keys) => keys.event(eventId), this.events, eventId))];
  }

  /**
   * The shard of event `eventId` for an operator's resend or dismissal: the memo, else the shard holding its record,
   * else the shard whose set-aside or dismissed index still names it (its record expired: an entry an earlier
   * release's retention left), every shard asked at once; shard 0 when none does.
   */
  private async keysOfEventOrEntry(eventId: string): Promise<ShardKeys> {
    const known = this.events.get(eventId);
    if (known !== undefined) return this.shards[known];
    const shard = await probeShard(this.redis, this.shards, (keys) => keys.event(eventId), this.events, eventId);
    if (shard >= 0) return this.shards[shard];
    const scores = await Promise.all(
      this.shards.map(async (keys) => (await this.redis.zscore(keys.rejectedEvents, eventId)) ?? (await this.redis.zscore(keys.dismissedEvents, eventId))),
    );
    const indexed = scores.findIndex((score) => score !== null);
    return this.shards[Math.max(0, indexed)];
  }

  /** The shard of a payment's counters: the memo, else the shard of `eventId` (one of its events), else asked. */
  private async keysOfPayment(paymentKey: string, eventId = ''): Promise<ShardKeys> {
    const known = this.payments.get(paymentKey);
    if (known !== undefined) return this.shards[known];
    if (eventId !== '') return this.keysOfEventId(eventId);
    return this.shards[Math.max(0, await probeShard(this.redis, this.shards, (keys) => keys.paymentSequence(paymentKey), this.payments, paymentKey))];
  }

  /** Records the event (idempotent) and returns its sequence within the payment. */
  async record(event: PaymentEvent): Promise<number> {
    return (await this.recordAndCheck(event)).sequence;
  }

  /**
   * Records the event (idempotent) and, in the same round trip, reads the payment's sent watermark; with
   * `leaseMs`, also takes the event's send lease when its turn has come (see `claim`); with `settles`, clears
   * that operation's settling mark in the ledger's settling index of the event's shard (the event it was
   * waiting for is now in the outbox, whose unsent index covers the rest).
   * @returns its sequence within the payment, the highest sequence of the payment already delivered, and
   *   whether the lease was taken (always false without `leaseMs`).
   */
  async recordAndCheck(event: PaymentEvent, now = Date.now(), leaseMs?: number, settles?: { operationId: string }): Promise<RecordResult> {
    const step = this.recordStep(event, now, leaseMs, settles);
    return step.read(await RECORD_SCRIPT.run(this.redis, step.values));
  }

  /**
   * The recording (`recordAndCheck`, same parameters) as a step another script runs inside its own atomic
   * step: the ledger's outcome transition records the outcome's event with it (`Ledger.transitionAndRecord`).
   * The event's keys are in its payment's shard, the operation's.
   */
  recordStep(
    event: PaymentEvent,
    now: number,
    leaseMs?: number,
    settles?: { operationId: string },
  ): LuaStep<RecordResult> & { values: { keys: Record<RecordKey, string>; args: Record<RecordArg, string> } } {
    const keys = this.keysOfEvent(event);
    return {
      fragment: RECORD_EVENT,
      call: 'pb_record_event()',
      values: {
        keys: {
          event: keys.event(event.eventId),
          event_seq: keys.paymentSequence(event.paymentKey),
          event_sent: keys.paymentSent(event.paymentKey),
          event_unsent: keys.unsentEvents,
          event_lease: keys.eventLease(event.eventId),
          event_settling: keys.settling,
        },
        args: {
          event_payment_key: event.paymentKey,
          event_method: event.method,
          event_params: paramsJson(event.params),
          event_id: event.eventId,
          event_now: String(now),
          event_lease_ms: leaseMs === undefined ? '' : String(leaseMs),
          event_lease_holder: this.holder?.id ?? '1',
          event_settles: settles?.operationId ?? '',
        },
      },
      read: (reply) => {
        const [sequence, sent, claimed, raised] = reply as [number, number, number, number];
        const result: RecordResult = { sequence: Number(sequence), sent: Number(sent), claimed: Number(claimed) === 1 };
        if (Number(raised) !== 1) return result;
        sequencesRaised().inc();
        return { ...result, raised: true };
      },
    };
  }

  /**
   * Whether recorded `event` and, with `settles`, that operation's record (same shard: an outcome's event is in
   * its operation's) are on their primary, and how many replicas acknowledged everything that primary held:
   * a probe write to the shard (`ShardKeys.replicaProbe`, expiring after {@link REPLICA_PROBE_TTL_MS}), `EXISTS`
   * of each key, then `WAIT replicas timeoutMs`, pipelined to the shard's node on the confirmation connection
   * (`replicaAcknowledgedKeys`). The probe is what `WAIT` waits for (documented to count the connection's own
   * writes; Redis 7.0 in fact counts up to its last command, reads included, which nothing promises): the move
   * and the event were written by another connection, maybe another worker's, and re-recording an event already
   * recorded writes nothing; the primary replicates in order, so a replica holding the probe holds them too.
   * Takes up to `timeoutMs` (milliseconds) when too few replicas answer, without holding up this store's connection.
   */
  async replicaAcknowledged(
    event: PaymentEvent,
    replicas: number,
    timeoutMs: number,
    settles?: { operationId: string },
  ): Promise<{ present: boolean; acks: number }> {
    const keys = this.keysOfEvent(event);
    const written = settles ? [keys.event(event.eventId), keys.op(settles.operationId)] : [keys.event(event.eventId)];
    return replicaAcknowledgedKeys(this.redis, written, replicas, timeoutMs, { key: keys.replicaProbe, ttlMs: REPLICA_PROBE_TTL_MS });
  }

  /**
   * Takes the event's send lease for `leaseMs` (milliseconds) unless someone holds it: whoever sends an
   * event holds it, so the inline sender and the queue never have the same event on the wire together.
   * It expires by itself if its holder dies; sooner with a `holder`: a lease found held (the rare path) is
   * taken over when the holder it names is dead (`takeOverFromDeadHolder`), never from a live one.
   */
  async claim(eventId: string, leaseMs: number): Promise<boolean> {
    const keys = await this.keysOfEventId(eventId);
    if ((await this.redis.set(keys.eventLease(eventId), this.holder?.id ?? '1', 'PX', leaseMs, 'NX')) === 'OK') return true;
    return this.takeOverFromDeadHolder(eventId, leaseMs);
  }

  /**
   * The holder id in the event's send lease, or null (no lease, or one written without a holder id).
   * Rare path: the recovery sweep asks this for events left unsent.
   */
  async leaseHolderOf(eventId: string): Promise<string | null> {
    const keys = await this.keysOfEventId(eventId);
    const value = await this.redis.get(keys.eventLease(eventId));
    return isHolderId(value) ? value : null;
  }

  /**
   * Takes the event's send lease for `leaseMs` if the holder it names is dead (its heartbeat expired): in
   * one step that checks the lease still names that holder, so of two processes trying, one wins. A live
   * holder (however slow), no lease, or a lease without a holder id (an older build's) is left alone.
   * Counted and logged by the holder (`pb_send_lease_takeovers_total`). False without a `holder`.
   */
  async takeOverFromDeadHolder(eventId: string, leaseMs: number): Promise<boolean> {
    const { holder } = this;
    if (!holder) return false;
    const keys = await this.keysOfEventId(eventId);
    const lease = keys.eventLease(eventId);
    const dead = await holder.takeOverFromDead(this.redis, lease, holder.id, leaseMs);
    if (dead === null) return false;
    holder.noteTakeover(dead, eventId);
    return true;
  }

  /**
   * Gives the send lease back (the send failed; the next sender need not wait for it to expire). With a
   * `holder`, only a lease this process still holds: one taken over meanwhile stays with its new holder.
   */
  async release(eventId: string): Promise<void> {
    const keys = await this.keysOfEventId(eventId);
    if (!this.holder) {
      await this.redis.del(keys.eventLease(eventId));
      return;
    }
    await RELEASE_SCRIPT.run(this.redis, { keys: { lease: keys.eventLease(eventId) }, args: { holder: this.holder.id } });
  }

  async load(eventId: string): Promise<StoredEvent | null> {
    const keys = await this.keysOfEventId(eventId);
    const h = await this.redis.hgetall(keys.event(eventId));
    if (!h.sequence) return null;
    this.payments.set(h.payment_key, keys.shard);
    const event: StoredEvent = { eventId, paymentKey: h.payment_key, shard: keys.shard, method: h.method, params: {}, sequence: Number(h.sequence) };
    if (h.resend_at) event.resent = true;
    if (h.dismissed_at) event.dismissed = true;
    try {
      event.params = JSON.parse(h.params) as Record<string, unknown>;
    } catch {
      throw new UnreadableEventError(event);
    }
    return event;
  }

  /** Highest sequence of the payment already delivered (0 when none). */
  async sentWatermark(paymentKey: string): Promise<number> {
    const keys = await this.keysOfPayment(paymentKey);
    return Number((await this.redis.get(keys.paymentSent(paymentKey))) ?? 0);
  }

  /** Raises the payment's sent watermark to `sequence`; with `eventId`, also drops it from the unsent index. */
  async markSent(paymentKey: string, sequence: number, eventId = '', now = Date.now()): Promise<void> {
    const keys = await this.keysOfPayment(paymentKey, eventId);
    const delivered = deliveredIndexOf(keys, eventId);
    if (delivered !== undefined) {
      await MARK_SENT_INDEXED_SCRIPT.run(this.redis, {
        keys: { sent: keys.paymentSent(paymentKey), unsent: keys.unsentEvents, delivered },
        args: { sequence, event_id: eventId, now },
      });
      return;
    }
    await MARK_SENT_SCRIPT.run(this.redis, { keys: { sent: keys.paymentSent(paymentKey), unsent: keys.unsentEvents }, args: { sequence, event_id: eventId } });
  }

  /**
   * Sets aside an event the bus refused for its content (`reason`: `http_<status>` or `rpc_<code>`): out of
   * the unsent index into the rejected one, the reason on its hash, the payment's sent watermark raised past
   * it so the payment's later events go on. False when the event no longer exists, or an operator dismissed it
   * (`dismiss`: never set aside again).
   */
  async setAside(event: StoredEvent, reason: string, now = Date.now()): Promise<boolean> {
    const keys = this.shards[event.shard ?? (await this.keysOfEventId(event.eventId)).shard];
    const done = await SET_ASIDE_SCRIPT.run(this.redis, {
      keys: {
        event: keys.event(event.eventId),
        sent: keys.paymentSent(event.paymentKey),
        unsent: keys.unsentEvents,
        rejected: keys.rejectedEvents,
        operationless: keys.operationlessEvents,
      },
      args: { sequence: event.sequence, event_id: event.eventId, reason, now, of_no_operation: operationlessEventKind(event.eventId) === null ? '0' : '1' },
    });
    return done === 1;
  }

  /**
   * The idempotency-conflict events (`<operation id>.idempotency-conflict.<digest>`) of the operations `ids` that an
   * index of any shard holds (unsent, set aside, dismissed, delivered), by operation id. Such an event lives in the
   * shard of the refused command's payment, not always its operation's, so retention and erasure find it here (one
   * ZSCAN walk of each index, matching the infix: not on the hot path). A delivered one is in the index of delivered
   * conflict events (`markSent`); one delivered before that index existed is in none and is not found.
   */
  async conflictEventsOf(ids: Iterable<string>): Promise<Map<string, ConflictEventEntry[]>> {
    const wanted = new Set(ids);
    const found = new Map<string, ConflictEventEntry[]>();
    if (wanted.size === 0) return found;
    for (const { operationId, entry } of await this.conflictEntries(this.shards, (id) => wanted.has(id))) {
      found.set(operationId, [...(found.get(operationId) ?? []), entry]);
    }
    return found;
  }

  /** Every idempotency-conflict event an index (unsent, set aside, dismissed, delivered) of shard `shard` holds: erasure's look at a refused command's order. */
  async conflictEventsInShard(shard: number): Promise<ConflictEventEntry[]> {
    return (await this.conflictEntries([this.shards[shard]], () => true)).map((f) => f.entry);
  }

  /** The walk of `conflictEventsOf`: each index of `shards`, ZSCAN matching the infix, an entry once per event and index. */
  private async conflictEntries(
    shards: readonly ShardKeys[],
    accept: (operationId: string) => boolean,
  ): Promise<{ operationId: string; entry: ConflictEventEntry }[]> {
    const found: { operationId: string; entry: ConflictEventEntry }[] = [];
    for (const keys of shards) {
      for (const index of ['unsent', 'rejected', 'dismissed', 'delivered'] as const) {
        const key = { unsent: keys.unsentEvents, rejected: keys.rejectedEvents, dismissed: keys.dismissedEvents, delivered: keys.deliveredConflictEvents }[
          index
        ];
        const seen = new Set<string>();
        let cursor = '0';
        do {
          const [next, flat] = await this.redis.zscan(key, cursor, 'MATCH', `*${CONFLICT_INFIX}*`, 'COUNT', 500);
          cursor = next;
          for (let i = 0; i < flat.length; i += 2) {
            const eventId = flat[i];
            const at = eventId.lastIndexOf(CONFLICT_INFIX);
            const operationId = eventId.slice(0, at);
            // ZSCAN may return an entry twice (a rehash meanwhile).
            if (at <= 0 || seen.has(eventId) || !accept(operationId)) continue;
            seen.add(eventId);
            found.push({ operationId, entry: { eventId, shard: keys.shard, index } });
          }
        } while (cursor !== '0');
      }
    }
    return found;
  }

  /**
   * Idempotency-conflict events delivered at or before `before` (epoch ms), at most `limit` a shard, from every shard's
   * index of delivered ones: retention's own clock for them, whatever became of their operation.
   */
  async deliveredConflictEventsBefore(before: number, limit: number): Promise<ConflictEventEntry[]> {
    const found: ConflictEventEntry[] = [];
    for (const keys of this.shards) {
      const ids = await this.redis.zrangebyscore(keys.deliveredConflictEvents, '-inf', String(before), 'LIMIT', 0, limit);
      for (const eventId of ids) found.push({ eventId, shard: keys.shard, index: 'delivered' });
    }
    return found;
  }

  /**
   * Erasure of an idempotency-conflict event found in an index (`conflictEventsOf`, `conflictEventsInShard`): its
   * params replaced by `scrub`'s, in its shard, only if they still read as they did. `pick` sees the params first:
   * false leaves it alone. True when it changed.
   */
  async scrubConflictEvent(
    entry: Pick<ConflictEventEntry, 'eventId' | 'shard'>,
    scrub: (params: string) => string,
    pick: (params: string) => boolean = () => true,
  ): Promise<boolean> {
    const key = this.shards[entry.shard].event(entry.eventId);
    const params = await this.redis.hget(key, 'params');
    if (params === null || !pick(params)) return false;
    const scrubbed = scrub(params);
    if (scrubbed === params) return false;
    return Number(await REPLACE_PARAMS_SCRIPT.run(this.redis, { keys: { event: key }, args: { old: params, new: scrubbed } })) === 1;
  }

  /**
   * Deletes an idempotency-conflict event's record and its dismissed or delivered entry in its shard, with its
   * operation's expiry (retention), unless it is unsent or set aside (checked in the same script), and its payment's
   * sequence counters when the refused command's order has no operation and nothing of the payment is undelivered
   * (see DROP_CONFLICT_EVENT_SCRIPT): `expired`, else why it is kept (`unsent_event`, `set_aside_event`: its
   * operation is kept for it).
   */
  async dropConflictEvent(entry: Pick<ConflictEventEntry, 'eventId' | 'shard'>): Promise<'expired' | 'unsent_event' | 'set_aside_event'> {
    const keys = this.shards[entry.shard];
    const eventKey = keys.event(entry.eventId);
    // The refused command's payment and order, as recorded (its order in this shard: the event's anchor).
    const [paymentKey, params] = await this.redis.hmget(eventKey, 'payment_key', 'params');
    const orderId = orderIdOfParams(params);
    const done = await DROP_CONFLICT_EVENT_SCRIPT.run(this.redis, {
      keys: {
        event: eventKey,
        unsent: keys.unsentEvents,
        rejected: keys.rejectedEvents,
        dismissed: keys.dismissedEvents,
        delivered: keys.deliveredConflictEvents,
        seq: keys.paymentSequence(paymentKey ?? ''),
        sent: keys.paymentSent(paymentKey ?? ''),
        order: orderId === undefined ? eventKey : keys.order(orderKeyPart(orderId)),
      },
      args: { event_id: entry.eventId, has_order: orderId !== undefined && paymentKey !== null ? '1' : '0' },
    });
    return done === 'unsent_event' || done === 'set_aside_event' ? done : 'expired';
  }

  /**
   * Events of no operation (src/events/operationless-events.ts) delivered or set aside at or before `before` (epoch ms),
   * at most `limit` a shard, from every shard's index of them: retention's clock for them, as for an operation's events
   * its own expiry's.
   */
  async operationlessEventsBefore(before: number, limit: number): Promise<OperationlessEventEntry[]> {
    const found: OperationlessEventEntry[] = [];
    for (const keys of this.shards) {
      const ids = await this.redis.zrangebyscore(keys.operationlessEvents, '-inf', String(before), 'LIMIT', 0, limit);
      for (const eventId of ids) found.push({ eventId, shard: keys.shard, kind: operationlessEventKind(eventId) ?? 'skip_notice' });
    }
    return found;
  }

  /**
   * Deletes an event of no operation found by `operationlessEventsBefore`, with its set-aside and dismissed entries, in
   * one script of its shard (DROP_OPERATIONLESS_EVENT_SCRIPT): `expired`, `gone` (nothing left to delete), else why it
   * is kept (`unsent_event`: resent meanwhile; `operation_event`: possibly an existing operation's own, expiring with it).
   */
  async dropOperationlessEvent(entry: Pick<OperationlessEventEntry, 'eventId' | 'shard'>): Promise<'expired' | 'gone' | 'unsent_event' | 'operation_event'> {
    const keys = this.shards[entry.shard];
    const eventKey = keys.event(entry.eventId);
    const [paymentKey, params] = await this.redis.hmget(eventKey, 'payment_key', 'params');
    const orderId = orderIdOfParams(params);
    // The records of the operations whose own event its id could be (almost always none), in its shard (an operation's
    // events are in its own).
    const owners = ownerIdsOf(entry.eventId).map((id) => keys.op(id));
    const done = await DROP_OPERATIONLESS_EVENT_SCRIPT.run(
      this.redis,
      {
        keys: {
          event: eventKey,
          unsent: keys.unsentEvents,
          rejected: keys.rejectedEvents,
          dismissed: keys.dismissedEvents,
          operationless: keys.operationlessEvents,
          seq: keys.paymentSequence(paymentKey ?? ''),
          sent: keys.paymentSent(paymentKey ?? ''),
          order: orderId === undefined ? eventKey : keys.order(orderKeyPart(orderId)),
        },
        args: { event_id: entry.eventId, has_order: orderId !== undefined && paymentKey !== null ? '1' : '0', owners: owners.length },
      },
      [],
      owners,
    );
    return done === 'gone' || done === 'unsent_event' || done === 'operation_event' ? done : 'expired';
  }

  /** Set-aside events, oldest first, from every shard; an entry whose event is gone is dropped from the index. */
  async rejected(limit = 100): Promise<RejectedEvent[]> {
    return this.listed(
      limit,
      (keys) => keys.rejectedEvents,
      (eventId, h) => rejectedOf(eventId, h),
    );
  }

  /**
   * Set-aside events an operator dismissed (`dismiss`), oldest dismissal first, from every shard, with who, when and
   * why; an entry whose event is gone (retention) is dropped from the index.
   */
  async dismissed(limit = 100): Promise<DismissedEvent[]> {
    return this.listed(
      limit,
      (keys) => keys.dismissedEvents,
      (eventId, h) => ({
        ...rejectedOf(eventId, h),
        dismissedAt: Number(h.dismissed_at ?? 0),
        dismissedBy: h.dismissed_by ?? '',
        dismissedReason: h.dismissed_reason ?? '',
      }),
    );
  }

  /** The events of one index (`rejected`, `dismissed`), lowest score first, read as `read` says; gone ones dropped. */
  private async listed<T>(limit: number, index: (keys: ShardKeys) => string, read: (eventId: string, h: Record<string, string>) => T): Promise<T[]> {
    const ids = await lowestAcrossKeys(this.redis, this.shards.map(index), '-inf', '+inf', limit, (id, shard) => this.events.set(id, shard));
    const found: T[] = [];
    for (const eventId of ids) {
      const keys = await this.keysOfEventId(eventId);
      const h = await this.redis.hgetall(keys.event(eventId));
      if (!h.sequence) {
        // Expired with its operation (retention) or erased: nothing left to resend or show.
        await this.redis.zrem(index(keys), eventId);
        continue;
      }
      found.push(read(eventId, h));
    }
    return found;
  }

  /**
   * Whether the index trim (`trimDangling`) is this caller's to run now: true, and the next one due `intervalMs` later,
   * when no process of the fleet took it within the last `intervalMs` (one mark in Redis, one script); false otherwise.
   */
  async takeTrimTurn(intervalMs: number, now = Date.now()): Promise<boolean> {
    return (await TRIM_TURN_SCRIPT.run(this.redis, { keys: { mark: this.trimMark }, args: { now, interval: intervalMs } })) === 1;
  }

  /**
   * Takes out of the set-aside and dismissed indexes of every shard the entries whose event no longer exists
   * (retention expired it before it took the entries with it, in an earlier release), `pageSize` ids a script, each
   * script in its shard checking that the event is still gone before it removes the entry. Reads every entry in
   * turn (the indexes hold what an operator has still to look at, and what was dismissed within the retention
   * window: a large one after a bulk dismissal), at most `maxPages` pages a call: a walk a call does not finish is
   * resumed by the next one, whichever process makes it, from where it stopped (`<prefix>events:index_trim:cursor`).
   * @returns the entries it took out.
   */
  async trimDangling(pageSize = 200, maxPages = 50): Promise<TrimmedEntry[]> {
    const trimmed: TrimmedEntry[] = [];
    const walks = this.shards.flatMap((keys) => (['rejected', 'dismissed'] as const).map((index) => ({ keys, index })));
    const [from = '', at = '0'] = ((await this.redis.get(this.trimCursor)) ?? '').split('|');
    let pages = 0;
    for (
      let w = Math.max(
        0,
        walks.findIndex(({ keys, index }) => `${keys.shard}:${index}` === from),
      );
      w < walks.length;
      w++
    ) {
      const { keys, index } = walks[w];
      const key = index === 'rejected' ? keys.rejectedEvents : keys.dismissedEvents;
      for (let offset = `${keys.shard}:${index}` === from ? Number(at) || 0 : 0; ;) {
        if (pages >= maxPages) {
          await this.redis.set(this.trimCursor, `${keys.shard}:${index}|${offset}`);
          return trimmed;
        }
        const ids = await this.redis.zrange(key, offset, offset + pageSize - 1);
        if (ids.length === 0) break;
        pages += 1;
        const gone = (await TRIM_SCRIPT.run(
          this.redis,
          { keys: { index: key }, args: {} },
          ids,
          ids.map((id) => keys.event(id)),
        )) as string[];
        for (const eventId of gone) trimmed.push({ index, eventId, shard: keys.shard });
        // The entries taken out no longer count in the ranks: the next page starts after those kept.
        offset += ids.length - gone.length;
        if (ids.length < pageSize) break;
      }
    }
    await this.redis.del(this.trimCursor);
    return trimmed;
  }

  /**
   * Puts a set-aside event back in the unsent index (an operator's resend, once the cause is fixed): the
   * caller then queues it with `resend` so that the payment's watermark, already past it, does not drop it.
   * False when it was not set aside (`resendOrMiss` says why).
   */
  async resend(eventId: string, now = Date.now()): Promise<boolean> {
    return (await this.resendOrMiss(eventId, now)) === 'resent';
  }

  /** `resend`, saying why nothing was resent: `resent`, or a {@link SetAsideMiss}. */
  async resendOrMiss(eventId: string, now = Date.now()): Promise<'resent' | SetAsideMiss> {
    const keys = await this.keysOfEventOrEntry(eventId);
    const done = Number(
      await RESEND_SCRIPT.run(this.redis, {
        keys: { event: keys.event(eventId), unsent: keys.unsentEvents, rejected: keys.rejectedEvents, dismissed: keys.dismissedEvents },
        args: { event_id: eventId, now },
      }),
    );
    return done === 1 ? 'resent' : missOf(done);
  }

  /**
   * Takes a set-aside event out of the rejected index for good (an operator's dismissal of one the bus will never
   * take, e.g. a refund pre-notice on a bus without that method), in one script in the event's shard: the event's
   * hash keeps its set-aside marks and gains `dismissed_at`, `dismissed_by` (`by`) and `dismissed_reason`
   * (`reason`, as given: the caller masks and bounds it), and it enters the dismissed index. A later resend finds it
   * not set aside. Null, nothing changed, when it was not set aside (never was, resent, dismissed already, gone;
   * `dismissOrMiss` says which).
   */
  async dismiss(eventId: string, by: string, reason: string, now = Date.now()): Promise<EventDismissal | null> {
    const done = await this.dismissOrMiss(eventId, by, reason, now);
    return typeof done === 'string' ? null : done;
  }

  /** `dismiss`, saying why nothing was dismissed: the dismissal, or a {@link SetAsideMiss}. */
  async dismissOrMiss(eventId: string, by: string, reason: string, now = Date.now()): Promise<EventDismissal | SetAsideMiss> {
    const keys = await this.keysOfEventOrEntry(eventId);
    const reply = (await DISMISS_SCRIPT.run(this.redis, {
      keys: { event: keys.event(eventId), rejected: keys.rejectedEvents, dismissed: keys.dismissedEvents },
      args: { event_id: eventId, now, by, reason },
    })) as [number, string?, string?, string?, string?];
    if (Number(reply[0]) !== 1) return missOf(Number(reply[0]));
    const [, method = '', sequence = '0', paymentKey = '', setAsideReason = ''] = reply;
    return { eventId, paymentKey, method, sequence: Number(sequence), reason: setAsideReason };
  }

  /**
   * Moves the unsent index score of those of `eventIds` still unsent to `score` (epoch ms); one delivered
   * meanwhile is not put back (ZADD XX). The recovery sweep, as `Ledger.rescoreInState`.
   */
  async rescoreUnsent(eventIds: readonly string[], score: number): Promise<void> {
    const groups = new Map<number, string[]>();
    for (const id of eventIds) {
      const shard = (await this.keysOfEventId(id)).shard;
      groups.set(shard, [...(groups.get(shard) ?? []), id]);
    }
    for (const [shard, ids] of groups) await this.redis.zadd(this.shards[shard].unsentEvents, 'XX', ...ids.flatMap((id) => [score, id]));
  }

  /** Unsent event ids recorded at or before `maxScore` (epoch ms), from every shard, oldest first. */
  async unsentBefore(maxScore: number, limit = 1000): Promise<string[]> {
    return this.unsentWithin('-inf', String(maxScore), limit);
  }

  /**
   * Unsent event ids whose index score is after `after` and at or before `maxScore` (epoch ms), from every
   * shard, oldest first: the recovery sweep's look at events younger than the stale time.
   */
  async unsentBetween(after: number, maxScore: number, limit = 1000): Promise<string[]> {
    return this.unsentWithin(`(${after}`, String(maxScore), limit);
  }

  private async unsentWithin(min: string, max: string, limit: number): Promise<string[]> {
    const indexes = this.shards.map((keys) => keys.unsentEvents);
    return lowestAcrossKeys(this.redis, indexes, min, max, limit, (id, shard) => this.events.set(id, shard));
  }
}

import Redis, { Result } from 'ioredis';
import { Channel, CommandType, Payment, PaymentCommand } from '../contracts/payment-command';
import { Decline, parseDecline } from '../errors/decline';
import { RECORD_EVENT_LUA_FUNCTION, RecordResult } from '../events/event-store';
import { commandDigest } from './command-digest';
import { redact } from '../logging/redact';
import { AUTHORIZATION_INDEX_LUA } from './authorization-index';
import { AUTHORIZATION_BY_REFERENCE_LUA } from './authorization-by-reference';
import { orderIndexKey } from './order-index';
import { ALLOWED_TRANSITIONS, OPERATION_STATES, OperationState, POLLED_STATES, isTerminal } from './operation-state';

/** One operation as the ledger holds it (docs/ARCHITECTURE.md). Times are epoch milliseconds. */
export interface OperationRecord {
  id: string;
  command: CommandType;
  channel: Channel;
  state: OperationState;
  payment: Payment;
  /** Channel-supplied sequence, if any. */
  sequence?: string;
  receivedAt: number;
  createdAt: number;
  updatedAt: number;
  /** Gateway calls made so far. */
  attempts: number;
  reason?: string;
  gatewayReference?: string;
  newGatewayKey?: string;
  gatewayStatus?: string;
  /** FAILED: the normalized decline reported on the FAIL event (stored as one JSON field, `decline`). */
  decline?: Decline;
  /** PENDING/UNKNOWN/UNRESOLVED: when the poller should ask next (epoch ms) and which step of the schedule it is on. */
  nextCheckAt?: number;
  pollStep?: number;
  /** A successful authorization: when it expires, and when it becomes an orphan if still uncaptured (epoch ms). */
  expiresAt?: number;
  orphanAt?: number;
  /** A successful authorization: the capture, cancel or revalidate that closed it. */
  closedBy?: string;
  /** The command field a refusal of ours is about (`payment.currency`), with `reason`. */
  reasonField?: string;
  /** Amount the PSP confirmed for this operation, minor units of `confirmedCurrency` (absent: it did not say). */
  confirmedAmount?: number;
  /** ISO 4217 currency the PSP confirmed (absent: it did not say). */
  confirmedCurrency?: string;
  /** Digest of the command's money fields (`commandDigest`); absent on records older than digests. */
  digest?: string;
}

/** One appended entry of an operation's history: what happened, when, how long it took. Redacted. */
export interface Interaction {
  at: number;
  event: string;
  [detail: string]: unknown;
}

export interface TransitionResult {
  applied: boolean;
  /** State before the call (`null`: no such operation). */
  from: OperationState | null;
}

/** A transition's result plus the record as it stands right after it (`null`: no such operation). */
export interface TransitionWithRecord extends TransitionResult {
  record: OperationRecord | null;
}

/** Fields a transition may set besides the state. Undefined fields are left as they are. */
export interface TransitionFields {
  reason?: string;
  gatewayReference?: string;
  newGatewayKey?: string;
  gatewayStatus?: string;
  /** The decline of a move to FAILED. */
  decline?: Decline;
  nextCheckAt?: number;
  pollStep?: number;
  /** The command field a refusal is about, e.g. `payment.currency`. */
  reasonField?: string;
  /** What the PSP confirmed: amount (minor units) and currency. */
  confirmedAmount?: number;
  confirmedCurrency?: string;
  /** Count this transition as one more gateway attempt. */
  countAttempt?: boolean;
  /** An authorization's success: when it expires (epoch ms); indexed for the lifecycle sweeps (authorization-index.ts). */
  expiresAt?: number;
  /** An authorization's success: when it becomes an orphan if nothing captured it (epoch ms; none: never by age). */
  orphanAt?: number;
  /** A capture, cancel or revalidate's success: the `gateway_key` it named, whose authorization it closes. */
  closesAuthorization?: { gateway: string; key: string };
}

const luaAllowed = `{${Object.entries(ALLOWED_TRANSITIONS)
  .map(([from, tos]) => `${from}={${tos.map((t) => `${t}=true`).join(',')}}`)
  .join(',')}}`;

// KEYS: op hash, interactions list, the order index (order-index.ts; '' when the command names no order).
// ARGV: prefix, id, now, interaction JSON, initial state (RECEIVED, or
// SENT when the first attempt is recorded with the creation), the first attempt's interaction JSON ('' for
// none), the command's digest (see command-digest.ts), then the record's fields as name, value, name,
// value… (as arguments, not JSON: no encoding of the payment twice, no decoding in Lua).
// Creates the record unless it exists; returns {created(0|1), state, conflict(0|1)}: conflict when the
// existing record was created from a command with another digest (a record without one never conflicts).
const CREATE_LUA = `
local existing = redis.call('HMGET', KEYS[1], 'state', 'digest')
if existing[1] then
  local conflict = 0
  if existing[2] and existing[2] ~= ARGV[7] then conflict = 1 end
  return {0, existing[1], conflict}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', ARGV[1] .. 'ops:state:' .. ARGV[5], ARGV[3], ARGV[2])
redis.call('ZADD', ARGV[1] .. 'ops:created', ARGV[3], ARGV[2])
if KEYS[3] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) end
redis.call('RPUSH', KEYS[2], ARGV[4])
if ARGV[6] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[6]) end
return {1, ARGV[5]}
`;

// KEYS: op hash, interactions list. ARGV: prefix, id, now, to, index score, fields JSON (flat), interaction,
// countAttempt, PSP reference key ('' for none), reference TTL seconds, return the record ('0': no, '1':
// without its payment, '2': whole), settling index key ('' for none).
// Moves the state forward only along ALLOWED_TRANSITIONS; returns {applied(0|1), from[, record as a flat
// HGETALL]}. The settling mark, the reference index and the read-back ride in the same round trip as the
// move; the payment, which never changes, stays out of the read-back when the caller holds it.
// These steps are shared by both transition scripts; each first defines `allowed` (TRANSITION_TABLE) and
// records_event(from, before): whether the outcome's event is recorded in the same script (then no
// settling mark is needed).
const TRANSITION_TABLE = `local allowed = ${luaAllowed}`;
const TRANSITION_STEPS = `${AUTHORIZATION_INDEX_LUA}
local ref_before = false
if ARGV[9] ~= '' then ref_before = redis.call('SET', ARGV[9], ARGV[2], 'EX', ARGV[10], 'GET') end
local from = redis.call('HGET', KEYS[1], 'state')
if not from then return {0, ''} end
local before = redis.call('HMGET', KEYS[1], 'updated_at', 'attempts')
local to = ARGV[4]
local records = records_event(from, before)
if ARGV[12] ~= '' and not records then redis.call('ZADD', ARGV[12], ARGV[3], ARGV[2]) end
local applied = 0
if allowed[from][to] then
  local fields = cjson.decode(ARGV[6])
  redis.call('HSET', KEYS[1], 'state', to, 'updated_at', ARGV[3], unpack(fields))
  if ARGV[8] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
  if from ~= to then redis.call('ZREM', ARGV[1] .. 'ops:state:' .. from, ARGV[2]) end
  redis.call('ZADD', ARGV[1] .. 'ops:state:' .. to, ARGV[5], ARGV[2])
  redis.call('RPUSH', KEYS[2], ARGV[7])
  if to == 'SUCCEEDED' then pb_authorization_index(ARGV[1], ARGV[2], fields, ARGV[9], ref_before) end
  applied = 1
end
local reply = {applied, from, {}}
if ARGV[11] == '2' then reply[3] = redis.call('HGETALL', KEYS[1]) end
if ARGV[11] == '1' then
  local flat = redis.call('HGETALL', KEYS[1])
  local out = {}
  for i = 1, #flat, 2 do
    if flat[i] ~= 'payment' then out[#out + 1] = flat[i]; out[#out + 1] = flat[i + 1] end
  end
  reply[3] = out
end
`;

const TRANSITION_LUA = `
${TRANSITION_TABLE}
local function records_event(from, before) return false end
${TRANSITION_STEPS}
return reply
`;

// TRANSITION_LUA, then the outcome's event recorded in the same atomic step (one round trip
// less per command) when the move applied to exactly the record the caller built the event from.
// KEYS 3-8 and ARGV 16-22: the event's recording (event store's RECORD_EVENT_LUA_FUNCTION). ARGV 13-15:
// the state, updated_at and attempts the caller's record had. Returns TRANSITION_LUA's reply plus
// {recorded (0|1), sequence, sent watermark, lease taken}.
const TRANSITION_RECORD_LUA = `${RECORD_EVENT_LUA_FUNCTION}
${TRANSITION_TABLE}
local function records_event(from, before)
  return allowed[from][ARGV[4]] == true and from == ARGV[13] and before[1] == ARGV[14] and before[2] == ARGV[15]
end
${TRANSITION_STEPS}
if records then
  local r = pb_record_event({KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]}, {ARGV[16], ARGV[17], ARGV[18], ARGV[19], ARGV[20], ARGV[21], ARGV[22]})
  reply[4] = 1; reply[5] = r[1]; reply[6] = r[2]; reply[7] = r[3]
else
  reply[4] = 0
end
return reply
`;

// Hold marks (see `Ledger.markHeld`): only on an operation still RECEIVED (never sent).
const HOLD_LUA = `
if not redis.call('HGET', KEYS[1], 'state') then return nil end
local first = redis.call('HSETNX', KEYS[1], 'held_since', ARGV[1])
local marks = redis.call('HMGET', KEYS[1], 'held_since', 'parked_at')
return {marks[1], marks[2], first}
`;
const PARK_LUA = `
if redis.call('HGET', KEYS[1], 'state') ~= 'RECEIVED' then return 0 end
redis.call('HSET', KEYS[1], 'parked_at', ARGV[1])
return 1
`;
const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], 'state') ~= 'RECEIVED' then return 0 end
return redis.call('HDEL', KEYS[1], 'held_since', 'parked_at') > 0 and 1 or 0
`;

// KEYS: an operation's hash, its dependents set. ARGV: the dependent's id ('' to register none).
// Registers the dependent (only if the operation exists); returns {the operation as a flat HGETALL, the
// dependents' ids}. One round trip: what a capture or refund needs to check its authorization.
const AUTHORIZATION_VIEW_LUA = `
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return {{}, {}} end
if ARGV[1] ~= '' then redis.call('SADD', KEYS[2], ARGV[1]) end
return {flat, redis.call('SMEMBERS', KEYS[2])}
`;

/** A command acting on an authorization, as `Ledger.authorizationView` lists it. */
export interface DependentSummary {
  id: string;
  command: CommandType;
  state: OperationState;
  /** What the PSP confirmed for it, else what it asked for; minor units. */
  amount: number;
}

/** How long a PSP reference → operation id index entry lives, seconds (90 days). */
const REFERENCE_TTL_S = 90 * 24 * 3600;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pbLedgerCreate(opKey: string, logKey: string, orderKey: string, prefix: string, id: string, now: number, interaction: string, state: string, attempt: string, digest: string, ...fields: string[]): Result<[number, string, number?], Context>;
    /** Keys and arguments as TRANSITION_LUA's comment lists them. */
    pbLedgerTransition(...keysThenArgs: (string | number)[]): Result<[number, string, string[]?], Context>;
    pbLedgerAuthorizationView(opKey: string, dependentsKey: string, dependent: string): Result<[string[], string[]], Context>;
    pbLedgerAuthorizationByReference(prefix: string, gateway: string, reference: string, dependent: string): Result<[string[], number, string[]], Context>;
    pbLedgerTransitionRecord(...keysThenArgs: (string | number)[]): Result<[number, string, string[], number, number?, number?, number?], Context>;
  }
}

/**
 * The operation ledger in Redis. Key layout under the configured prefix P:
 *   P op:{id}                hash: the record
 *   P op:{id}:interactions   list: append-only history (JSON, redacted)
 *   P ops:state:{STATE}      sorted set of ids; score = next check time for PENDING/UNKNOWN/UNRESOLVED, else updated_at
 *   P ops:created            sorted set of ids by creation time
 *   P order:{order_id}       sorted set of the order's operation ids by creation time (order-index.ts)
 *   P ops:settling           sorted set of ids whose outcome is being written and its event not yet
 *                            recorded; score = when it started (the recovery sweep finishes stale ones)
 * Every write is one Lua script, so a state change, its index move and its history entry are atomic.
 */
export class Ledger {
  constructor(
    private readonly redis: Redis,
    /** Key prefix, e.g. `pb:`; tests use their own so they never collide. */
    readonly prefix: string,
  ) {
    redis.defineCommand('pbLedgerCreate', { numberOfKeys: 3, lua: CREATE_LUA });
    redis.defineCommand('pbLedgerTransition', { numberOfKeys: 2, lua: TRANSITION_LUA });
    redis.defineCommand('pbLedgerTransitionRecord', { numberOfKeys: 8, lua: TRANSITION_RECORD_LUA });
    redis.defineCommand('pbLedgerAuthorizationView', { numberOfKeys: 2, lua: AUTHORIZATION_VIEW_LUA });
    redis.defineCommand('pbLedgerAuthorizationByReference', { numberOfKeys: 0, lua: AUTHORIZATION_BY_REFERENCE_LUA });
  }

  private opKey(id: string): string {
    return `${this.prefix}op:${id}`;
  }

  private logKey(id: string): string {
    return `${this.prefix}op:${id}:interactions`;
  }

  /**
   * Records a new operation in state RECEIVED, unless it already exists (a duplicate or a redelivery).
   * With `firstAttempt` (the worker's fast path), the operation is created in SENT with one
   * attempt and that attempt's history entry: the same as `create` then `transition(…, 'SENT', …,
   * { countAttempt: true })`, in one atomic round trip. The attempt is on record before the request leaves.
   * The command's digest (`commandDigest`) is stored with the record and compared in the same script when
   * the operation exists: `conflict` says the existing one was created from a command with other money
   * fields (an idempotency conflict; the existing record is left untouched).
   * @returns whether it was created, its current state, whether it conflicts, and (when created) the record
   *   as written.
   */
  async create(
    id: string,
    command: PaymentCommand,
    now = Date.now(),
    firstAttempt?: Omit<Interaction, 'at'>,
  ): Promise<{ created: boolean; state: OperationState; conflict: boolean; digest: string; record?: OperationRecord }> {
    const state: OperationState = firstAttempt ? 'SENT' : 'RECEIVED';
    const digest = commandDigest(command);
    const fields: string[] = [
      'id', id,
      'command', command.command,
      'channel', command.channel,
      'state', state,
      'payment', JSON.stringify(command.payment),
      'received_at', String(Date.parse(command.received_at) || now),
      'created_at', String(now),
      'updated_at', String(now),
      'attempts', firstAttempt ? '1' : '0',
      'digest', digest,
    ];
    if (command.sequence !== undefined) fields.push('sequence', String(command.sequence));
    const interaction = JSON.stringify({ at: now, event: 'received', channel: command.channel });
    const attempt = firstAttempt ? historyEntry({ ...firstAttempt, to: 'SENT' }, now) : '';
    const [created, current, conflict] = await this.redis.pbLedgerCreate(this.opKey(id), this.logKey(id), orderIndexKey(this.prefix, command.payment.order_id), this.prefix, id, now, interaction, state, attempt, digest, ...fields);
    if (created !== 1) return { created: false, state: current as OperationState, conflict: conflict === 1, digest };
    // The record as Redis now holds it, built from the very fields written: the caller can deliver it
    // without reading it back (one round trip less per command).
    return { created: true, state, conflict: false, digest, record: recordFromHash(hashFromPairs(fields), command.payment) };
  }

  /**
   * Moves an operation to `to` if that is a forward move; otherwise changes nothing and says so.
   * The interaction is redacted and appended in the same atomic step.
   */
  async transition(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields = {},
    now = Date.now(),
  ): Promise<TransitionResult> {
    const [applied, from] = await this.redis.pbLedgerTransition(...this.transitionInputs(id, to, interaction, fields, now, null, '0', false));
    return { applied: applied === 1, from: from === '' ? null : (from as OperationState) };
  }

  /**
   * `transition`, plus in the same atomic round trip: the PSP reference index (see `indexReference`) when
   * `reference` is given, the settling mark (see `markSettling`) when `markSettling` is set, and the record
   * as it stands afterwards: what the outcome recorder needs to emit the event without reading it back.
   * Pass the operation's `payment` when you hold it (it never changes): it is then not read back nor parsed.
   */
  async transitionAndGet(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields = {},
    options: { reference?: { gateway: string; reference: string } | null; markSettling?: boolean; payment?: Payment; now?: number } = {},
  ): Promise<TransitionWithRecord> {
    const { payment, now = Date.now() } = options;
    const [applied, from, flat] = await this.redis.pbLedgerTransition(...this.transitionInputs(id, to, interaction, fields, now, options.reference ?? null, payment ? '1' : '2', options.markSettling ?? false));
    const record = flat && flat.length > 0 ? recordFromHash(hashFromPairs(flat), payment) : null;
    return { applied: applied === 1, from: from === '' ? null : (from as OperationState), record };
  }

  /**
   * `transitionAndGet` (with the settling mark, the payment held by the caller) that also records the
   * outcome's event in the same atomic step, when the move applies to exactly `expected`: the record the
   * caller holds and built `event` from (same state, updated_at and attempts in Redis). Otherwise nothing
   * is recorded (`recorded: null`) and the caller builds the event from the returned record as usual.
   * @param event the recording's keys and arguments (`EventStore.recordInputs`).
   */
  async transitionAndRecord(
    expected: OperationRecord,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    event: { keys: string[]; args: string[] },
    options: { reference?: { gateway: string; reference: string } | null; now?: number } = {},
  ): Promise<TransitionWithRecord & { recorded: RecordResult | null }> {
    const now = options.now ?? Date.now();
    const { id } = expected;
    const [opKey, logKey, ...args] = this.transitionInputs(id, to, interaction, fields, now, options.reference ?? null, '1', true);
    const [applied, from, flat, recorded, sequence, sent, claimed] = await this.redis.pbLedgerTransitionRecord(
      opKey,
      logKey,
      ...event.keys,
      ...args,
      expected.state,
      String(expected.updatedAt),
      String(expected.attempts),
      ...event.args,
    );
    const hash = hashFromPairs(flat ?? []);
    return {
      applied: applied === 1,
      from: from === '' ? null : (from as OperationState),
      record: hash.state ? recordFromHash(hash, expected.payment) : null,
      recorded: recorded === 1 ? { sequence: Number(sequence), sent: Number(sent), claimed: Number(claimed) === 1 } : null,
    };
  }

  /** TRANSITION_LUA's two keys, then its twelve arguments. */
  private transitionInputs(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    now: number,
    reference: { gateway: string; reference: string } | null,
    returnRecord: '0' | '1' | '2',
    markSettling: boolean,
  ): (string | number)[] {
    const flat: string[] = [];
    const put = (k: string, v: string | number | undefined) => {
      if (v !== undefined) flat.push(k, String(v));
    };
    put('reason', fields.reason);
    put('gateway_reference', fields.gatewayReference);
    put('new_gateway_key', fields.newGatewayKey);
    put('gateway_status', fields.gatewayStatus);
    put('decline', fields.decline === undefined ? undefined : JSON.stringify(fields.decline));
    put('next_check_at', fields.nextCheckAt);
    put('poll_step', fields.pollStep);
    put('expires_at', fields.expiresAt);
    put('orphan_at', fields.orphanAt);
    put('authorization_key', fields.closesAuthorization?.key);
    put('authorization_ref', fields.closesAuthorization && `${fields.closesAuthorization.gateway}:${fields.closesAuthorization.key}`);
    put('reason_field', fields.reasonField);
    put('confirmed_amount', fields.confirmedAmount);
    put('confirmed_currency', fields.confirmedCurrency);
    const score = POLLED_STATES.has(to) && fields.nextCheckAt !== undefined ? fields.nextCheckAt : now;
    const entry = historyEntry({ ...interaction, to }, now);
    return [
      this.opKey(id),
      this.logKey(id),
      this.prefix,
      id,
      now,
      to,
      score,
      JSON.stringify(flat),
      entry,
      fields.countAttempt ? '1' : '0',
      reference ? this.referenceKey(reference.gateway, reference.reference) : '',
      REFERENCE_TTL_S,
      returnRecord,
      markSettling ? this.settlingKey : '',
    ];
  }

  /** Appends a history entry without changing state (e.g. a retry scheduled, a duplicate seen). */
  async appendInteraction(id: string, interaction: Omit<Interaction, 'at'>, now = Date.now()): Promise<void> {
    await this.redis.rpush(this.logKey(id), historyEntry(interaction, now));
  }

  /**
   * The digest stored with operation `id` (`null`: no such operation, or one created before digests were
   * stored). One read: the intake's cheap idempotency-conflict check.
   */
  async digestOf(id: string): Promise<string | null> {
    return this.redis.hget(this.opKey(id), 'digest');
  }

  async get(id: string): Promise<OperationRecord | null> {
    const h = await this.redis.hgetall(this.opKey(id));
    if (!h.state) return null;
    return recordFromHash(h);
  }

  async interactions(id: string): Promise<Interaction[]> {
    const raw = await this.redis.lrange(this.logKey(id), 0, -1);
    return raw.map((r) => JSON.parse(r) as Interaction);
  }

  /**
   * Notes that an outcome is being written for `id` and its event is not recorded yet, so a crash between
   * the transition and the outbox write leaves the id here for the recovery sweep. The outcome recorder
   * sets it inside the transition itself (`transitionAndGet` with `markSettling`); the event store clears
   * it when it records the event.
   */
  async markSettling(id: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(this.settlingKey, now, id);
  }

  /** The event of `id`'s current state is recorded: nothing left for the sweep. */
  async markSettled(id: string): Promise<void> {
    await this.redis.zrem(this.settlingKey, id);
  }

  /** Key of the settling index: the event store clears an operation's mark when it records its event. */
  get settlingKey(): string {
    return `${this.prefix}ops:settling`;
  }

  /** Ids whose settling started before `maxScore` (ms) and never finished. */
  async settlingBefore(maxScore: number, limit = 1000): Promise<string[]> {
    return this.redis.zrangebyscore(this.settlingKey, '-inf', String(maxScore), 'LIMIT', 0, limit);
  }

  /** Ids in `state` whose index score is at most `maxScore` (for PENDING/UNKNOWN/UNRESOLVED: due for a check). */
  async idsInState(state: OperationState, maxScore = Number.POSITIVE_INFINITY, limit = 1000): Promise<string[]> {
    const max = Number.isFinite(maxScore) ? String(maxScore) : '+inf';
    return this.redis.zrangebyscore(`${this.prefix}ops:state:${state}`, '-inf', max, 'LIMIT', 0, limit);
  }

  /**
   * Moves the index score of those of `ids` still in `state` to `score` (epoch ms); an id that moved on
   * meanwhile is not put back (ZADD XX). The recovery sweep: what it queued is left to the queue for another
   * stale period instead of being picked up again at every pass.
   */
  async rescoreInState(state: OperationState, ids: readonly string[], score: number): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.zadd(`${this.prefix}ops:state:${state}`, 'XX', ...ids.flatMap((id) => [score, id]));
  }

  /** How many operations are in each state. */
  async countByState(): Promise<Record<OperationState, number>> {
    const states: readonly OperationState[] = OPERATION_STATES;
    const pipeline = this.redis.pipeline();
    for (const s of states) pipeline.zcard(`${this.prefix}ops:state:${s}`);
    const results = (await pipeline.exec()) ?? [];
    return Object.fromEntries(states.map((s, i) => [s, Number(results[i]?.[1] ?? 0)])) as Record<OperationState, number>;
  }

  /**
   * An authorization and the commands that acted on it (captures, refunds: what its remaining amount is
   * made of), registering `dependentId` among them in the same round trip. A second round trip reads the
   * other dependents, only when there are any. Not on the hot path: only captures and refunds naming one
   * of our authorizations, before their first attempt.
   * @returns `null` when there is no such operation.
   */
  async authorizationView(authId: string, dependentId: string): Promise<{ auth: OperationRecord; dependents: DependentSummary[] } | null> {
    const [flat, members] = await this.redis.pbLedgerAuthorizationView(this.opKey(authId), this.dependentsKey(authId), dependentId);
    if (flat.length === 0) return null;
    const auth = recordFromHash(hashFromPairs(flat));
    const others = members.filter((m) => m !== dependentId);
    if (others.length === 0) return { auth, dependents: [] };
    const pipeline = this.redis.pipeline();
    for (const id of others) pipeline.hmget(this.opKey(id), 'state', 'command', 'confirmed_amount', 'payment');
    const replies = (await pipeline.exec()) ?? [];
    const dependents: DependentSummary[] = [];
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      const [state, command, confirmed, payment] = reply as (string | null)[];
      if (!state || !command || !payment) return;
      const amount = confirmed !== null ? Number(confirmed) : (JSON.parse(payment) as Payment).amount;
      dependents.push({ id: others[i], command: command as CommandType, state: state as OperationState, amount });
    });
    return { auth, dependents };
  }

  /**
   * The operation the PSP's `reference` on `gateway` names (the reference index, see
   * `authorization-by-reference.ts`), followed back to the authorization it belongs to when the index holds
   * one of its dependents (a Stripe capture answers with the PaymentIntent id). With `dependentId`, that
   * dependent is registered among the authorization's dependents and the others are listed, as in
   * `authorizationView`. One round trip; only for a dependent command whose `gateway_key` is not one of our
   * operation ids.
   * @returns `null` when the reference is unknown; `authorization: false` when only a related operation of
   *   the same payment was reached (its scope and currency still hold, not its amounts).
   */
  async authorizationByReference(
    gateway: string,
    reference: string,
    dependentId = '',
  ): Promise<{ record: OperationRecord; authorization: boolean; dependents: DependentSummary[] } | null> {
    const [flat, isAuth, rows] = await this.redis.pbLedgerAuthorizationByReference(this.prefix, gateway, reference, dependentId);
    if (flat.length === 0) return null;
    const dependents: DependentSummary[] = [];
    for (let i = 0; i + 4 < rows.length; i += 5) {
      const [id, state, command, confirmed, payment] = rows.slice(i, i + 5);
      const amount = confirmed !== '' ? Number(confirmed) : (JSON.parse(payment) as Payment).amount;
      dependents.push({ id, command: command as CommandType, state: state as OperationState, amount });
    }
    return { record: recordFromHash(hashFromPairs(flat)), authorization: isAuth === 1, dependents };
  }

  private dependentsKey(authId: string): string {
    return `${this.prefix}op:${authId}:dependents`;
  }

  /** How many operations are in `state` (one ZCARD): e.g. the UNRESOLVED gauge. */
  async countInState(state: OperationState): Promise<number> {
    return this.redis.zcard(`${this.prefix}ops:state:${state}`);
  }

  /** Remembers which operation a PSP object belongs to, for webhooks that do not echo our id. */
  async indexReference(gateway: string, reference: string, id: string): Promise<void> {
    await this.redis.set(this.referenceKey(gateway, reference), id, 'EX', REFERENCE_TTL_S);
  }

  async findByReference(gateway: string, reference: string): Promise<string | null> {
    return this.redis.get(this.referenceKey(gateway, reference));
  }

  private referenceKey(gateway: string, reference: string): string {
    return `${this.prefix}ref:${gateway}:${reference}`;
  }

  // --- Holds: operations whose gateway is missing from the configuration (delivery/config-hold.ts) ---

  /**
   * Notes that `id` is held for a configuration fix (first time only) and reads its hold marks, in one
   * round trip: `held_since` (epoch ms, set once, cleared by `releaseHold`) and `parked_at` (set by
   * `markParked`). `null`: no such operation. Rare path only.
   */
  async markHeld(id: string, now = Date.now()): Promise<{ heldSince: number; parkedAt: number | null; first: boolean } | null> {
    const reply = (await this.redis.eval(HOLD_LUA, 1, this.opKey(id), String(now))) as [string, string | null, number] | null;
    if (!reply) return null;
    const [since, parked, first] = reply;
    return { heldSince: Number(since), parkedAt: parked ? Number(parked) : null, first: first === 1 };
  }

  /** Marks a held operation as parked (its dead letter is written). Only while it is still RECEIVED. */
  async markParked(id: string, now = Date.now()): Promise<boolean> {
    return (await this.redis.eval(PARK_LUA, 1, this.opKey(id), String(now))) === 1;
  }

  /**
   * A re-sent (or replayed) command of a held or parked operation that was never sent: clears its hold
   * marks so it gets a fresh grace period and is delivered again. Returns whether there was a hold to
   * release (false: not held, or it moved on from RECEIVED, so nothing to redeliver).
   */
  async releaseHold(id: string): Promise<boolean> {
    return (await this.redis.eval(RELEASE_LUA, 1, this.opKey(id))) === 1;
  }

  /** Whether `state` can never change again. */
  static isTerminal(state: OperationState): boolean {
    return isTerminal(state);
  }
}

/**
 * The record `create` writes for a new command, before it is written (state RECEIVED, no attempt): what
 * the fast path inspects to decide whether the first attempt can be recorded with the creation. Pure.
 */
export function draftRecord(id: string, command: PaymentCommand, now: number): OperationRecord {
  return {
    id,
    command: command.command,
    channel: command.channel,
    state: 'RECEIVED',
    payment: command.payment,
    sequence: command.sequence === undefined ? undefined : String(command.sequence),
    receivedAt: Date.parse(command.received_at) || now,
    createdAt: now,
    updatedAt: now,
    attempts: 0,
  };
}

/**
 * `record` as a transition to `to` with `fields` at `now` leaves it, if it applies to exactly that record:
 * the script's rules (undefined fields stay as they were; `countAttempt` adds one). Pure.
 */
export function afterTransition(record: OperationRecord, to: OperationState, fields: TransitionFields, now: number): OperationRecord {
  return {
    ...record,
    state: to,
    updatedAt: now,
    attempts: record.attempts + (fields.countAttempt ? 1 : 0),
    reason: fields.reason ?? record.reason,
    gatewayReference: fields.gatewayReference ?? record.gatewayReference,
    newGatewayKey: fields.newGatewayKey ?? record.newGatewayKey,
    gatewayStatus: fields.gatewayStatus ?? record.gatewayStatus,
    decline: fields.decline ?? record.decline,
    nextCheckAt: fields.nextCheckAt ?? record.nextCheckAt,
    pollStep: fields.pollStep ?? record.pollStep,
    expiresAt: fields.expiresAt ?? record.expiresAt,
    orphanAt: fields.orphanAt ?? record.orphanAt,
    reasonField: fields.reasonField ?? record.reasonField,
    confirmedAmount: fields.confirmedAmount ?? record.confirmedAmount,
    confirmedCurrency: fields.confirmedCurrency ?? record.confirmedCurrency,
  };
}

/** `[name, value, name, value…]` (a field list, an HGETALL reply) as an object. */
function hashFromPairs(pairs: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) hash[pairs[i]] = pairs[i + 1];
  return hash;
}

/** One history entry as stored: redacted JSON with its time. */
function historyEntry(interaction: Omit<Interaction, 'at'>, now: number): string {
  // `at` is added after redaction: one epoch-ms timestamp in ten passes the Luhn check and would be masked.
  return JSON.stringify({ ...redact(interaction), at: now });
}

/** A record from its Redis hash; `payment` may be passed when the caller already holds it parsed. */
function recordFromHash(h: Record<string, string>, payment?: Payment): OperationRecord {
  const optNum = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    id: h.id,
    command: h.command as CommandType,
    channel: h.channel as Channel,
    state: h.state as OperationState,
    payment: payment ?? (JSON.parse(h.payment) as Payment),
    sequence: h.sequence,
    receivedAt: Number(h.received_at),
    createdAt: Number(h.created_at),
    updatedAt: Number(h.updated_at),
    attempts: Number(h.attempts ?? 0),
    reason: h.reason,
    gatewayReference: h.gateway_reference,
    newGatewayKey: h.new_gateway_key,
    gatewayStatus: h.gateway_status,
    decline: h.decline === undefined ? undefined : parseStoredDecline(h.decline),
    nextCheckAt: optNum(h.next_check_at),
    pollStep: optNum(h.poll_step),
    expiresAt: optNum(h.expires_at),
    orphanAt: optNum(h.orphan_at),
    closedBy: h.closed_by,
    reasonField: h.reason_field,
    confirmedAmount: optNum(h.confirmed_amount),
    confirmedCurrency: h.confirmed_currency,
    digest: h.digest,
  };
}

/** The stored `decline` field; an unreadable one is dropped (the event then derives it from the reason). */
function parseStoredDecline(json: string): Decline | undefined {
  try {
    return parseDecline(JSON.parse(json) as unknown);
  } catch {
    return undefined;
  }
}

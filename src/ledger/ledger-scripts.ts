import { LuaFragment, LuaScript, luaInputs, mergeInputs } from '../redis/lua-script';
import { AUTHORIZATION_INDEX_LUA } from './authorization-index';
import { WAITERS_FLAG } from './dependent-waiters';
import { REFUNDS_UNDECIDED_FIELD } from './refunds-undecided-mark';
import { ALLOWED_TRANSITIONS, OPERATION_STATES } from './operation-state';

// The ledger's Lua scripts. Each reads its keys and arguments by name (`K.op`, `A.now`: src/redis/lua-script.ts).
// Every write to an operation is one of them, so a state change, its index move and its history entry are atomic.

/**
 * Creates the record unless it exists; returns {created(0|1), state, conflict(0|1)}: conflict when the
 * existing record was created from a command with another digest (a record without one never conflicts).
 * The record's fields follow the named arguments as name, value, name, value… (arguments, not JSON: no
 * encoding of the payment twice, no decoding in Lua).
 */
export const CREATE_SCRIPT = new LuaScript(
  luaInputs(
    // The record's hash, its history, the order index (order-index.ts; the record's own key when the command
    // names no order: `has_order` says), the initial state's index, the creation index. All in the
    // operation's shard (src/redis/key-layout.ts).
    ['op', 'log', 'order', 'state_index', 'created'],
    // Id, now (ms), the received interaction JSON, the initial state (RECEIVED, or SENT when the first attempt
    // is recorded with the creation), the first attempt's interaction JSON ('' for none), the command's
    // digest (command-digest.ts), '1' when `order` is an order index.
    ['id', 'now', 'interaction', 'state', 'attempt', 'digest', 'has_order'],
  ),
  `
local existing = redis.call('HMGET', K.op, 'state', 'digest')
if existing[1] then
  local conflict = 0
  if existing[2] and existing[2] ~= A.digest then conflict = 1 end
  return {0, existing[1], conflict}
end
redis.call('HSET', K.op, unpack(ARGV, A_REST))
redis.call('ZADD', K.state_index, A.now, A.id)
redis.call('ZADD', K.created, A.now, A.id)
if A.has_order == '1' then redis.call('ZADD', K.order, A.now, A.id) end
if A.attempt ~= '' then redis.call('RPUSH', K.log, A.interaction, A.attempt) else redis.call('RPUSH', K.log, A.interaction) end
return {1, A.state}
`,
  true,
);

/**
 * Undoes a creation that the id claim showed to be a second operation under an id another shard holds (one
 * reference, two payments) or a split tender or split refund claims: the record, its history and its index
 * entries, only while it is as created (no attempt has left: the caller had not delivered it yet). Returns 1
 * when it removed it.
 */
export const DISCARD_CREATED_SCRIPT = new LuaScript(
  luaInputs(['op', 'log', 'order', 'state_index', 'created'], ['id', 'state', 'has_order']),
  `
if redis.call('HGET', K.op, 'state') ~= A.state then return 0 end
redis.call('DEL', K.op, K.log)
redis.call('ZREM', K.state_index, A.id)
redis.call('ZREM', K.created, A.id)
if A.has_order == '1' then redis.call('ZREM', K.order, A.id) end
return 1
`,
);

/**
 * What a transition reads back in the same round trip: nothing, the record without its payment (the caller
 * holds it: it never changes), or the whole record.
 */
export type ReadBack = 'none' | 'without_payment' | 'whole';

/** The input name of each state's index in the transition script (`st_sent`…): every one is declared. */
export const STATE_INDEX_INPUTS = OPERATION_STATES.map((s) => `st_${s.toLowerCase()}` as const);

export const TRANSITION_INPUTS = luaInputs(
  [
    // The record's hash, its history.
    'op',
    'log',
    // Each state's index in the operation's shard (the move leaves one and enters another).
    ...STATE_INDEX_INPUTS,
    // The shard's settling index (`settle` says whether to mark).
    'settling',
    // The PSP reference index entry to point at this operation (`has_ref` says whether there is one).
    'ref',
    // The shard's authorization lifecycle indexes (authorization-index.ts).
    'auths_open',
    'auths_expiry',
    // The authorization a closing command names (`close` says whether there is one), in the operation's
    // shard: its record when the name is our operation id, the reference entry when it is the PSP's.
    'close_op',
    'close_ref',
    // The record of the authorization the caller resolved the PSP's reference to (`close_id`), in the same
    // shard: closed in this script when the reference entry names it too.
    'close_auth',
  ],
  [
    'id',
    'now',
    'to',
    // Score in the target state's index (the next check time of a polled state, else now).
    'score',
    // The fields to set besides the state, a flat JSON list (record-fields.ts `encodeTransitionFields`).
    'fields',
    'interaction',
    // '1': count one more gateway attempt.
    'count_attempt',
    // '1': point `ref` at this operation, for `ref_ttl` seconds; 'nx': only when it points nowhere yet.
    'has_ref',
    'ref_ttl',
    // ReadBack.
    'read_back',
    // '1': mark the operation in the settling index (see `Ledger.settlingBefore`).
    'settle',
    // '1': the transition names an authorization it closes (`close_op`, `close_ref`).
    'close',
    // The authorization id the caller resolved a PSP reference to ('' for none; `close_auth` is its record).
    'close_id',
    // The payment JSON without its one-time method data, written when the move applies unless the record was
    // erased ('' for none; see `Ledger.transitionValues`).
    'scrubbed_payment',
    // The state the move applies from only ('' for any allowed one: `TransitionFields.onlyFrom`).
    'only_from',
    // The attempt count the move applies at only ('' for any: `TransitionFields.onlyAttempts`).
    'only_attempts',
    // History entries appended before `interaction` when the move applies, a JSON list of entry JSONs ('' for none:
    // `TransitionFields.precededBy`).
    'preceding',
  ],
);

// The allowed moves and each state's index, as Lua functions rather than tables: a script builds its tables
// anew on every call (Redis keeps no Lua state between calls), and these two were nine tables and some forty
// entries per transition, for two lookups.

/** Every allowed move as ` FROM>TO `, searched as plain text: no table, no pattern. */
const luaAllowedMoves = ` ${Object.entries(ALLOWED_TRANSITIONS)
  .flatMap(([from, tos]) => tos.map((to) => `${from}>${to}`))
  .join(' ')} `;

/**
 * Lua: `may(from, to)`, whether ALLOWED_TRANSITIONS has the move; `state_key(s)`, the state's declared index
 * key (it returns nothing but `K.<name>`: test/unit/redis/cluster-key-layout.test.ts relies on that).
 */
const luaMoveFunctions = `
local function may(from, to)
  return string.find('${luaAllowedMoves}', ' ' .. from .. '>' .. to .. ' ', 1, true) ~= nil
end
local function state_key(s)
  ${OPERATION_STATES.map((s, i) => `${i === 0 ? 'if' : 'elseif'} s == '${s}' then return K.${STATE_INDEX_INPUTS[i]}`).join('\n  ')}
  end
end`;

/**
 * The transition: moves the state forward only along ALLOWED_TRANSITIONS (and only from `only_from` at `only_attempts` attempts when
 * given); `reply` is {applied(0|1), from,
 * record as a flat HGETALL per `read_back` ({} for none), (step), (step reply), closing, waiters (1 when the move
 * applied, changed the state, and dependents wait for it: dependent-waiters.ts), the record's undecided refund mark
 * ('' for none: refunds-undecided-mark.ts)}, or {0, ''} for no
 * such operation. `closing` is what is left of closing the authorization the transition names
 * (authorization-index.ts): '' nothing, else the authorization's id (or `?` + the name when it is not in
 * this shard) for the ledger to finish in the authorization's own shard. The settling
 * mark, the reference index and the read-back ride in the same round trip as the move.
 * `runsStep` is Lua defining `runs_step(from, before)` (`before`: the stored updated_at and attempts):
 * whether the script runs an attached step (another module's write) after the move, in which case that step
 * takes the place of the settling mark. `tail` runs after the move with `reply` and `steps` in scope.
 */
function transitionBody(runsStep: string, tail: string): string {
  return `
${luaMoveFunctions}
${runsStep}
${AUTHORIZATION_INDEX_LUA}
local ref_before = false
-- The waiters flag rides in the read made anyway: a move nobody waits for costs nothing more. So does the mark of a
-- capture an undecided refund reading counted (refunds-undecided-mark.ts): read with the move, never missed by it.
-- So do the first attempt's time, which a move counting an attempt writes only when it is missing, the
-- authorization id, which closing an authorization writes only when it is not the one on record, and the erasure
-- mark, whose payment a move never writes over.
local current = redis.call('HMGET', K.op, 'state', 'updated_at', 'attempts', '${WAITERS_FLAG}', '${REFUNDS_UNDECIDED_FIELD}', 'first_attempt_at', 'authorization_id', 'erased_at')
local from = current[1]
if not from then return {0, ''} end
local before = {current[2], current[3]}
local to = A.to
local steps = runs_step(from, before)
if A.settle == '1' and not steps then redis.call('ZADD', K.settling, A.now, A.id) end
local applied = 0
local closing = ''

-- A caller that decided on a record it read names its state and attempt count: another worker's resend meanwhile
-- (SENT to SENT, one more attempt) leaves the state as read but not the attempt, and the move must not apply.
local as_read = (A.only_from == '' or A.only_from == from) and (A.only_attempts == '' or tonumber(A.only_attempts) == (tonumber(before[2]) or 0))
if may(from, to) and as_read then
  -- Only a move claims the PSP reference: a late or repeated outcome (a PaymentIntent's success after its
  -- capture took it over) must not take it back from the operation holding it.
  if A.has_ref == '1' then ref_before = redis.call('SET', K.ref, A.id, 'EX', A.ref_ttl, 'GET')
  elseif A.has_ref == 'nx' then redis.call('SET', K.ref, A.id, 'EX', A.ref_ttl, 'NX') end
  local fields = cjson.decode(A.fields)
  -- What the move's one HSET writes besides the state: the fields, then what used to be an HINCRBY, an HSETNX
  -- and an HEXISTS with an HSET each, from the values read above (the script is atomic: nothing moved them since).
  local written = fields
  local counts = A.count_attempt == '1'
  -- An erasure's payment is already scrubbed, and of more than this: never written over.
  local scrubs = A.scrubbed_payment ~= '' and not current[8]
  if counts or scrubs then
    written = {unpack(fields)}
    if counts then
      -- One more attempt, and the first attempt's time when there is none: an authorization of this operation
      -- cannot be older (its expiry's fallback).
      written[#written + 1] = 'attempts'
      written[#written + 1] = (tonumber(current[3]) or 0) + 1
      if not current[6] then
        written[#written + 1] = 'first_attempt_at'
        written[#written + 1] = A.now
      end
    end
    if scrubs then
      written[#written + 1] = 'payment'
      written[#written + 1] = A.scrubbed_payment
    end
  end
  redis.call('HSET', K.op, 'state', to, 'updated_at', A.now, unpack(written))
  if from ~= to then redis.call('ZREM', state_key(from), A.id) end
  redis.call('ZADD', state_key(to), A.score, A.id)
  if A.preceding == '' then
    redis.call('RPUSH', K.log, A.interaction)
  else
    local entries = cjson.decode(A.preceding)
    entries[#entries + 1] = A.interaction
    redis.call('RPUSH', K.log, unpack(entries))
  end
  if to == 'SUCCEEDED' then closing = pb_authorization_index(A.id, fields, ref_before, current[7]) end
  applied = 1
end
local reply = {applied, from, {}}
-- An attached step ran: the move applied to exactly the record the caller holds, so the caller knows the
-- record it left (record-fields.ts afterTransition) unless closing an authorization wrote more to it.
local known = steps and not pb_closing_wrote_op
if A.read_back == 'whole' and not known then reply[3] = redis.call('HGETALL', K.op) end
if A.read_back == 'without_payment' and not known then
  local flat = redis.call('HGETALL', K.op)
  local out = {}
  for i = 1, #flat, 2 do
    if flat[i] ~= 'payment' then out[#out + 1] = flat[i]; out[#out + 1] = flat[i + 1] end
  end
  reply[3] = out
end
${tail}
if reply[4] == nil then reply[4] = 0 end
if reply[5] == nil then reply[5] = 0 end
reply[6] = closing
-- Dependents wait for this operation to move (dependent-waiters.ts): the caller wakes them.
if applied == 1 and from ~= to and current[4] then reply[7] = 1 else reply[7] = 0 end
-- The undecided refund mark as it stood at the move, whether or not the move applied (a repeat finds it too).
if current[5] then reply[8] = current[5] else reply[8] = '' end
return reply
`;
}

export const TRANSITION_SCRIPT = new LuaScript(TRANSITION_INPUTS, transitionBody('local function runs_step(from, before) return false end', ''));

/** The record the caller holds and built its attached step from: the step runs only if the move applies to exactly it. */
const EXPECTED_INPUTS = luaInputs([], ['expected_state', 'expected_updated_at', 'expected_attempts']);

/**
 * The transition with another module's step attached (the event store's recording of the outcome's event:
 * one round trip less per command), run in the same atomic script when the move applies to exactly the
 * record the caller holds. `reply` gains {ran (0|1), the step's own reply}. The step's inputs join the
 * transition's by name; a name both declare is refused here, when the script is built.
 */
export function transitionWithStepScript(step: LuaFragment<string, string>, call: string): LuaScript<string, string> {
  const inputs = mergeInputs(mergeInputs(TRANSITION_INPUTS, EXPECTED_INPUTS), step.inputs);
  return new LuaScript<string, string>(
    inputs,
    `${step.lua}
${transitionBody(
  `local function runs_step(from, before)
  return may(from, A.to) and from == A.expected_state and before[1] == A.expected_updated_at and before[2] == A.expected_attempts
end`,
  `if steps then
  reply[4] = 1; reply[5] = ${call}
else
  reply[4] = 0
end`,
)}`,
  );
}

/** The record as the caller read it: another module's step runs only while the operation still stands so. */
const AS_READ_INPUTS = luaInputs(['op'], ['read_state', 'read_attempts']);

/**
 * Another module's step (the event store's recording of an event: a hold's notice to the OMS) run only while the
 * operation is in the state, at the attempt count, its caller decided on: one another worker moved or sent again
 * meanwhile gets nothing. No move, no history entry. `reply` is {ran (0|1), the step's own reply}. The step's keys must
 * be in the operation's shard (an event's are: its payment's).
 */
export function asReadStepScript(step: LuaFragment<string, string>, call: string): LuaScript<string, string> {
  return new LuaScript<string, string>(
    mergeInputs(AS_READ_INPUTS, step.inputs),
    `${step.lua}
local current = redis.call('HMGET', K.op, 'state', 'attempts')
if current[1] ~= A.read_state or (tonumber(current[2]) or 0) ~= tonumber(A.read_attempts) then return {0} end
return {1, ${call}}
`,
  );
}

/**
 * Appends one history entry only while the operation stands as its caller read it: the same state and attempt count
 * (`Ledger.appendAsRead`). For what a decision on that read says about the attempt it read (the end of an attempt a
 * failover left and could not yet replace): one another worker moved or sent again meanwhile gets nothing, so the entry
 * never follows, and never reads as the end of, that worker's attempt. Returns {appended (0|1), the state found ('' for
 * no such operation)}.
 */
export const APPEND_AS_READ_SCRIPT = new LuaScript(
  luaInputs(['op', 'log'], ['read_state', 'read_attempts', 'interaction']),
  `
local current = redis.call('HMGET', K.op, 'state', 'attempts')
if current[1] ~= A.read_state or (tonumber(current[2]) or 0) ~= tonumber(A.read_attempts) then return {0, current[1] or ''} end
redis.call('RPUSH', K.log, A.interaction)
return {1, current[1]}
`,
);

const ONE_RECORD = luaInputs(['op'], ['now']);

/** Hold marks (see `Ledger.markHeld`): only on an operation still RECEIVED (never sent). */
export const HOLD_SCRIPT = new LuaScript(
  ONE_RECORD,
  `
if not redis.call('HGET', K.op, 'state') then return nil end
local first = redis.call('HSETNX', K.op, 'held_since', A.now)
local marks = redis.call('HMGET', K.op, 'held_since', 'parked_at')
return {marks[1], marks[2], first}
`,
);

export const PARK_SCRIPT = new LuaScript(
  ONE_RECORD,
  `
if redis.call('HGET', K.op, 'state') ~= 'RECEIVED' then return 0 end
redis.call('HSET', K.op, 'parked_at', A.now)
return 1
`,
);

export const RELEASE_SCRIPT = new LuaScript(
  luaInputs(['op'], []),
  `
if redis.call('HGET', K.op, 'state') ~= 'RECEIVED' then return 0 end
return redis.call('HDEL', K.op, 'held_since', 'parked_at') > 0 and 1 or 0
`,
);

/**
 * Marks a SUCCEEDED capture or sale (or, `refund` = '1', refund) undone by the cancel that voided it (`undone_field` =
 * the cancel's id, record-fields.ts `undoneBy`; `void_field` = the same id, which says the mark is a void's: a voided
 * capture took nothing of its authorization, one the PSP failed after accepting it may still be re-captured), with a
 * history entry, once: a mark already there (this cancel's on a retry, or an adjustment's) stays. A FAILED one the PSP
 * did after all (`late_field` set: it counts as done) is marked the same. Returns {1, mark} when marked now, {0, mark}
 * when a mark was there, {-1, state} when the record is no SUCCEEDED (or done after failure) capture or sale (or refund,
 * when allowed; no record: state '').
 */
export const MARK_VOIDED_SCRIPT = new LuaScript(
  luaInputs(['op', 'log'], ['undone_field', 'void_field', 'late_field', 'by', 'refund', 'interaction']),
  `
local current = redis.call('HMGET', K.op, 'state', 'command', A.late_field)
local done = current[1] == 'SUCCEEDED' or (current[1] == 'FAILED' and current[3])
local voidable = current[2] == 'capture' or current[2] == 'sale' or (A.refund == '1' and current[2] == 'refund')
if not done or not voidable then return {-1, current[1] or ''} end
if redis.call('HSETNX', K.op, A.undone_field, A.by) == 0 then return {0, redis.call('HGET', K.op, A.undone_field)} end
redis.call('HSET', K.op, A.void_field, A.by)
redis.call('RPUSH', K.log, A.interaction)
return {1, A.by}
`,
);

/**
 * The same fields of many records of one shard in one command (they share its hash tag, so its slot): a
 * reconciliation page's candidates cost one EVALSHA per shard instead of one HMGET each (the client's
 * per-command work was most of a run's CPU). Extra keys: the records; rest arguments: the field names.
 * Read only (`Ledger.fieldsInShard`).
 */
export const READ_FIELDS_SCRIPT = new LuaScript(
  luaInputs([], []),
  `
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', XK(i), unpack(ARGV, A_REST))
end
return out
`,
  true,
);

/**
 * An operator's release of a capture or refund recorded FAILED and held for its PSP's own retry
 * (`Ledger.releaseHeldForPspRetry`): checked and done in one step on the record, so a retry success recorded
 * meanwhile (`late_field`, written by the adjustment store's script on the same hash) is seen, never released. The
 * hold's mark (`held_field`) is moved to `released_field` (the operator's `mark` JSON plus the PSP reason it held),
 * one history entry appended, the index entry removed. Returns {1, psp reason} when released now, else {0, why}:
 * `not_found`, `retry_succeeded`, `already_released`, or `not_held` (no hold, or not FAILED).
 */
export const RELEASE_HELD_FOR_PSP_RETRY_SCRIPT = new LuaScript(
  luaInputs(['op', 'log', 'held_index'], ['op_id', 'held_field', 'released_field', 'late_field', 'mark', 'interaction']),
  `
local current = redis.call('HMGET', K.op, 'state', A.held_field, A.late_field, A.released_field)
if not current[1] then return {0, 'not_found'} end
if current[3] then return {0, 'retry_succeeded'} end
if current[4] then return {0, 'already_released'} end
if current[1] ~= 'FAILED' or not current[2] or current[2] == '' then return {0, 'not_held'} end
local mark = cjson.decode(A.mark)
mark.psp_reason = current[2]
redis.call('HSET', K.op, A.released_field, cjson.encode(mark))
redis.call('HDEL', K.op, A.held_field)
redis.call('RPUSH', K.log, A.interaction)
redis.call('ZREM', K.held_index, A.op_id)
return {1, current[2]}
`,
);

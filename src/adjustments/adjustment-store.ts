import { createHash } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { AdjustmentsChangedError } from '../errors/adjustments-changed-error';
import { OperationNotFoundError } from '../errors/operation-not-found-error';
import { redact } from '../logging/redact';
import { ALL_SHARDS, ShardKeys, shardKeysOf, shardOfOperation } from '../redis/key-layout';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { scoredAcrossKeys } from '../redis/shard-probe';
import {
  ADJUSTMENT_KINDS,
  AdjustmentFact,
  AdjustmentRecord,
  AdjustmentSource,
  MoneyDirection,
  RefundedBeyondCaptured,
  SUCCEEDED_AFTER_FAILURE_FIELD,
  UNDONE_FIELD,
  commandsMarkedDoneBy,
  commandsRedoneBy,
  commandsUndoneBy,
  isAdjustmentKind,
  successAfterFailureMark,
} from './adjustment';
import { ReconciledFactKind, apartByFailure, mayBeSameFact, reconciledKindsOf } from './same-fact';
import { TRANSACTION_SUCCESS_KINDS, oneReadingPerTransaction, readsTransactionSuccess } from './psp-transaction-fact';

// Creates the adjustment unless it exists (same gateway and PSP event: a repeat), links it to the
// operation and appends the history entry, all in one step, over keys of the operation's shard. The
// adjustment's fields follow the named arguments as name, value, name, value…
// With `expected` (a webhook's fact reconciliation may have recorded first, or a reconciliation line judged against
// the adjustments as read): only when the operation still has `expected` adjustments (none was added since the
// caller read them); with `claim_field`, instead of creating,
// marks `counterpart` (the adjustment that already records the fact) as this event's, unless another event has it.
// A fact that undoes what an operation moved (`undoes`: the commands it undoes, space-separated: a refund failed or
// its money came back, a capture failed) marks the operation it names as undone (field `undone_field` = the
// adjustment's id) in the same step, when that operation is of one of those commands and SUCCEEDED. A fact that
// says such an operation succeeded after all (`redoes`: the commands it redoes, space-separated: a re-capture after
// a capture failed) clears that mark in the same step, so the amount counts as moved again.
// A re-capture held on the operation (`recaptured_at`, see HOLD_SCRIPT: it arrived before the failure it follows)
// that is not older than the fact (`occurred`, '' when the PSP gave no time; a held '' likewise: a re-capture
// follows a failure by definition) keeps the fact from marking it: the PSP captured again after that failure.
// The caller read that held re-capture (`held_seen`: '=' and its time, 'none' when none is held; '' for a fact that
// undoes nothing) and names its adjustment (`held_id`); {-3} when another is held now: read again.
// A fact that redoes, with a time (`occurred`), clears the mark only when no failure of the operation recorded already
// (`listed` adjustments, the extra keys XK(1..listed): all of the operation's, read by the caller; {-3} when it has
// more now: read again) of a kind that undoes its command (`undo_kinds`: ' command:kind … ') is later than it: the PSP
// failed it again after this success, and its latest word stands. The mark then names the latest such failure, and
// the new adjustment records it (`failed_again_field`). A failure or a redo without a time keeps the redo winning.
// The other way round, a fact that undoes, with a time, marks nothing when a success of the operation recorded
// already (of a kind that redoes its command, `redo_kinds`) is later than it (a re-capture that arrived first
// and cleared an earlier failure's mark): the PSP did it again after this failure. Strictly later, the rule of
// `laterInPspTime` (src/gateways/psp-time.ts), which reconciliation and the webhooks order the PSP's times by too: a
// success in the failure's second orders nothing, as an undated one. A new adjustment that marked nothing so, by a held re-capture or a recorded
// success, names that success (`superseded_field`: the held one's `held_id`, else the earliest such recorded one).
// An undated failure, or success, still marks as before.
// The same marks apply to a FAILED operation the PSP did after all: a fact that marks its command done (`marks`: a
// success after failure of a FAILED capture, sale, refund or cancel) marks it, unless marked already (`late_field` =
// `late_mark`, JSON: the adjustment's id and the money the PSP confirmed), so a capture, sale or refund counts as
// captured (or refunded) at that amount, and a cancel as done; from then on a capture, sale or refund is weighed as a
// SUCCEEDED one is: a failure of it marks it undone (`undone_field`), a later success clears that, with the same
// ordering by the PSP's times. A FAILED operation without that mark is never marked undone.
// A dated fact, or one with a `former` id, is the one an adjustment of the `listed` records already when that
// adjustment is of the same kind and time (both without one: a time that did not read) and one of the two was
// recorded under the id the other's notification had in an earlier release (`event_id`,
// this fact's PSP event id, is the other's `former_field`; or the other's `psp_event_id` is `former`, the id earlier
// releases gave this fact's notification): a PSP's resend after an upgrade that changed the id; {4, HGETALL} of it.
// A fact that reads a PSP transaction's success (`success_kinds`: ' kind … ') through an entry of a PSP account with
// other entries (`peers`: ' gateway … ', the account's entries; '' otherwise) is a second reading of one an adjustment of
// the `listed` records already under the other such kind through one of those entries, about the same transaction (the
// same `reference` where both name one, else the same `event_id`): not recorded; the first reading stands. The recorded
// one's hash keeps `duplicate_field` = this kind (once: a repeat appends no second history entry) and the history gets
// `duplicate_history` (JSON without its closing brace) naming it; {5, HGETALL of it, 1 when noted now, else 0}.
// Likewise a fact of a kind one transaction gives once (`one_reading`: '1') that an adjustment of the `listed` records
// already under the SAME kind from the other source (a webhook's and a report line's readings), through the same entry (`gateway`) or one of `peers`, about
// the same transaction: a reference of either (`reference`, `line_reference`; the recorded one's `psp_reference` and
// `line_reference_field`) the same, else, neither naming one, the same `event_id` (never across sources: readings
// without references from a webhook and a line are both recorded, docs/RECONCILIATION.md); unless an adjustment recorded after
// it undoes or redoes the operation's command (`undo_kinds`, `redo_kinds`): then it is a fact of its own (re-captured,
// failed again). {5, …} as above.
// Returns {1, marked, cleared, superseded, failed_again, failed_again_at, superseded_by, counted} when created (marked:
// 1 when it marked the operation undone now; cleared: the id of the adjustment whose mark it cleared now, else '';
// superseded: 1 when a held re-capture kept it from marking, 2 when a recorded success did; failed_again: the later
// failure that kept the mark, else '', and its time; superseded_by: the success that kept it from marking, else '';
// counted: 1 when it marked a FAILED operation done by the PSP after all now),
// {0, HGETALL} when it already existed, {2, HGETALL of counterpart} when the
// counterpart was claimed now, {3, HGETALL of counterpart} when this event had it (a repeat), {4, HGETALL} (above),
// {-2} when the adjustments changed (read again), {-1} when the operation does not exist.
const RECORD_SCRIPT = new LuaScript(
  luaInputs(
    ['adjustment', 'op_adjustments', 'log', 'index', 'op', 'counterpart'],
    [
      'id',
      'now',
      'history',
      'expected',
      'claim_field',
      'claim',
      'undoes',
      'redoes',
      'undone_field',
      'occurred',
      'recaptured_at_field',
      'listed',
      'undo_kinds',
      'failed_again_field',
      'redo_kinds',
      'held_seen',
      'held_id',
      'superseded_field',
      'kind',
      'event_id',
      'former',
      'former_field',
      'late_field',
      'late_mark',
      'marks',
      'peers',
      'reference',
      'success_kinds',
      'duplicate_field',
      'duplicate_history',
      'one_reading',
      'gateway',
      'line_reference',
      'line_reference_field',
      'source',
    ],
  ),
  `
if redis.call('EXISTS', K.op) == 0 then return {-1} end
if redis.call('EXISTS', K.adjustment) == 1 then return {0, redis.call('HGETALL', K.adjustment)} end
if A.expected ~= '' then
  if redis.call('ZCARD', K.op_adjustments) ~= tonumber(A.expected) then return {-2} end
  if A.claim_field ~= '' then
    if redis.call('EXISTS', K.counterpart) == 0 then return {-2} end
    local held = redis.call('HGET', K.counterpart, A.claim_field)
    if held and held ~= A.claim then return {-2} end
    if held then return {3, redis.call('HGETALL', K.counterpart)} end
    redis.call('HSET', K.counterpart, A.claim_field, A.claim)
    return {2, redis.call('HGETALL', K.counterpart)}
  end
end
if A.listed ~= '' and redis.call('ZCARD', K.op_adjustments) ~= tonumber(A.listed) then return {-3} end
if A.held_seen ~= '' then
  local now_held = redis.call('HGET', K.op, A.recaptured_at_field)
  if (now_held and ('=' .. now_held) or 'none') ~= A.held_seen then return {-3} end
end
if A.listed ~= '' and (A.occurred ~= '' or A.former ~= '') then
  for i = 1, tonumber(A.listed) do
    local f = redis.call('HMGET', XK(i), 'kind', 'occurred_at', 'psp_event_id', A.former_field)
    if f[1] == A.kind and (f[2] or '') == A.occurred and ((A.former ~= '' and f[3] == A.former) or f[4] == A.event_id) then
      return {4, redis.call('HGETALL', XK(i))}
    end
  end
end
-- The reply to a second reading of the fact adjustment i (id, kind) records: noted on it once, and in the history once.
local function duplicate_of(i, id, kind)
  local noted = redis.call('HSETNX', XK(i), A.duplicate_field, A.kind)
  if noted == 1 then
    redis.call('RPUSH', K.log, A.duplicate_history .. ',"recorded_as":"' .. id .. '","recorded_kind":"' .. kind .. '"}')
  end
  return {5, redis.call('HGETALL', XK(i)), noted}
end
if A.peers ~= '' and A.listed ~= '' then
  for i = 1, tonumber(A.listed) do
    local f = redis.call('HMGET', XK(i), 'id', 'kind', 'gateway', 'psp_reference', 'psp_event_id')
    if f[1] and f[2] and f[2] ~= A.kind and string.find(A.success_kinds, ' ' .. f[2] .. ' ', 1, true)
      and f[3] and string.find(A.peers, ' ' .. f[3] .. ' ', 1, true)
      and ((A.reference ~= '' and f[4]) and f[4] == A.reference or (not (A.reference ~= '' and f[4]) and f[5] == A.event_id)) then
      return duplicate_of(i, f[1], f[2])
    end
  end
end
if A.one_reading ~= '' and A.listed ~= '' then
  local listed = tonumber(A.listed)
  local command = ' ' .. (redis.call('HGET', K.op, 'command') or '') .. ':'
  local function names(ref)
    return ref and ref ~= '' and (ref == A.reference or ref == A.line_reference)
  end
  for i = 1, listed do
    local f = redis.call('HMGET', XK(i), 'id', 'kind', 'gateway', 'psp_reference', 'psp_event_id', A.line_reference_field, 'source')
    local refs = (f[4] or '') ~= '' or (f[6] or '') ~= ''
    local mine = A.reference ~= '' or A.line_reference ~= ''
    if f[1] and f[2] == A.kind and f[7] ~= A.source
      and (f[3] == A.gateway or (A.peers ~= '' and f[3] and string.find(A.peers, ' ' .. f[3] .. ' ', 1, true)))
      and ((refs and mine and (names(f[4]) or names(f[6]))) or (not refs and not mine and f[5] == A.event_id)) then
      local apart = false
      for j = i + 1, listed do
        local k = redis.call('HGET', XK(j), 'kind')
        if k and (string.find(A.undo_kinds, command .. k .. ' ', 1, true) or string.find(A.redo_kinds, command .. k .. ' ', 1, true)) then
          apart = true
        end
      end
      if not apart then
        return duplicate_of(i, f[1], f[2])
      end
    end
  end
end
redis.call('HSET', K.adjustment, unpack(ARGV, A_REST))
-- The operation's list is in recording order: one recorded in the same millisecond as the last goes after it.
local op_score = tonumber(A.now)
local last = redis.call('ZRANGE', K.op_adjustments, -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= op_score then op_score = tonumber(last[2]) + 1 end
redis.call('ZADD', K.op_adjustments, string.format('%.0f', op_score), A.id)
redis.call('RPUSH', K.log, A.history)
redis.call('ZADD', K.index, A.now, A.id)
local marked = 0
local cleared = ''
local superseded = 0
local failed_again = ''
local failed_again_at = ''
local superseded_by = ''
local counted = 0
local state = redis.call('HGET', K.op, 'state')
local done = state == 'SUCCEEDED'
if state == 'FAILED' and (A.undoes ~= '' or A.redoes ~= '' or A.marks ~= '') then
  local command = ' ' .. (redis.call('HGET', K.op, 'command') or '') .. ' '
  if A.marks ~= '' and string.find(' ' .. A.marks .. ' ', command, 1, true) then
    counted = redis.call('HSETNX', K.op, A.late_field, A.late_mark)
  end
  done = redis.call('HEXISTS', K.op, A.late_field) == 1
end
if (A.undoes ~= '' or A.redoes ~= '') and done then
  local bare = redis.call('HGET', K.op, 'command') or ''
  local command = ' ' .. bare .. ' '
  if A.undoes ~= '' and string.find(' ' .. A.undoes .. ' ', command, 1, true) then
    local held = redis.call('HGET', K.op, A.recaptured_at_field)
    if held and (held == '' or A.occurred == '' or tonumber(A.occurred) <= tonumber(held)) then
      superseded, superseded_by = 1, A.held_id
    else
      if A.occurred ~= '' and A.listed ~= '' then
        local failed_at = tonumber(A.occurred)
        local first = nil
        for i = 1, tonumber(A.listed) do
          local f = redis.call('HMGET', XK(i), 'id', 'kind', 'occurred_at')
          local at = tonumber(f[3] or '')
          if f[1] and f[2] and at and at > failed_at and string.find(A.redo_kinds, ' ' .. bare .. ':' .. f[2] .. ' ', 1, true) then
            if first == nil or at < first then first, superseded_by = at, f[1] end
          end
        end
        if first ~= nil then superseded = 2 end
      end
      if superseded == 0 then marked = redis.call('HSETNX', K.op, A.undone_field, A.id) end
    end
    if superseded_by ~= '' then redis.call('HSET', K.adjustment, A.superseded_field, superseded_by) end
  end
  if A.redoes ~= '' and string.find(' ' .. A.redoes .. ' ', command, 1, true) then
    local mark = redis.call('HGET', K.op, A.undone_field) or ''
    if mark ~= '' and A.occurred ~= '' and A.listed ~= '' then
      local redone_at = tonumber(A.occurred)
      local latest = nil
      for i = 1, tonumber(A.listed) do
        local f = redis.call('HMGET', XK(i), 'id', 'kind', 'occurred_at')
        local at = tonumber(f[3] or '')
        if f[1] and f[2] and at and at > redone_at and string.find(A.undo_kinds, ' ' .. bare .. ':' .. f[2] .. ' ', 1, true) then
          if latest == nil or at > latest then latest, failed_again, failed_again_at = at, f[1], f[3] end
        end
      end
    end
    if failed_again ~= '' then
      if failed_again ~= mark then redis.call('HSET', K.op, A.undone_field, failed_again) end
      redis.call('HSET', K.adjustment, A.failed_again_field, failed_again)
    elseif mark ~= '' then
      cleared = mark
      redis.call('HDEL', K.op, A.undone_field)
    end
  end
end
return {1, marked, cleared, superseded, failed_again, failed_again_at, superseded_by, counted}
`,
  true,
);

// Holds a re-capture that arrived before the capture failure it follows (nothing marked undone yet) on a SUCCEEDED
// operation: its time (`at_field`: epoch ms, '' when unknown) and the adjustment it is to be reported as (`fact_field`,
// JSON), unless one as late is held already; one history entry. The operation enters the shard's index of held
// re-captures (`held_index`, score `now`) unless it is there already: the wait for the failure counts from the first.
// One surfaced already (`surfaced_index`) moves back with its score: the new re-capture is due, to be surfaced too.
// Only while that adjustment (`adjustment`) is not recorded and the operation has the `expected` adjustments the
// caller found none recording the fact among.
// Returns 1 when held now, 0 when a re-capture as late was held already, 2 when the operation is marked undone (the
// failure came first: the caller reports it as usual), 3 when the operation is not SUCCEEDED, 4 when its adjustments
// changed (read again), 5 when the adjustment is recorded already, -1 when the operation does not exist.
const HOLD_SCRIPT = new LuaScript(
  luaInputs(
    ['op', 'log', 'adjustment', 'op_adjustments', 'held_index', 'surfaced_index'],
    ['at_field', 'fact_field', 'undone_field', 'at', 'fact', 'history', 'expected', 'op_id', 'now'],
  ),
  `
if redis.call('EXISTS', K.op) == 0 then return -1 end
if redis.call('EXISTS', K.adjustment) == 1 then return 5 end
if redis.call('ZCARD', K.op_adjustments) ~= tonumber(A.expected) then return 4 end
if redis.call('HGET', K.op, 'state') ~= 'SUCCEEDED' then return 3 end
if redis.call('HEXISTS', K.op, A.undone_field) == 1 then return 2 end
local held = redis.call('HGET', K.op, A.at_field)
if held and (A.at == '' or held == '' or tonumber(A.at) <= tonumber(held)) then return 0 end
redis.call('HSET', K.op, A.at_field, A.at, A.fact_field, A.fact)
local surfaced = redis.call('ZSCORE', K.surfaced_index, A.op_id)
if surfaced then
  redis.call('ZREM', K.surfaced_index, A.op_id)
  redis.call('ZADD', K.held_index, 'NX', surfaced, A.op_id)
else
  redis.call('ZADD', K.held_index, 'NX', A.now, A.op_id)
end
redis.call('RPUSH', K.log, A.history)
return 1
`,
);

// A held re-capture (`fact_field` = `fact`, as the caller read it) past its wait for the failure it follows: marked as
// surfaced to operators (`surfaced_field` = its PSP event id `event_id`), once, with one history entry, and moved, with
// its score, from the index of held re-captures (`held_index`) to that of surfaced ones (`surfaced_index`), so the
// wait's due read (of `held_index`) never re-reads it. Out of both when there is nothing left to wait for: the
// operation is gone (-1), holds none (0), or the re-capture's adjustment (`adjustment`) is recorded (2: reported after
// its failure). 1 when surfaced now, 3 when surfaced already, 5 when surfaced already and moved now (an earlier release
// surfaced it in `held_index`, or an import restored it there), 4 when in neither index (dismissed meanwhile: nothing
// surfaced), -3 when another re-capture is held now (read again).
const SURFACE_SCRIPT = new LuaScript(
  luaInputs(['op', 'log', 'held_index', 'surfaced_index', 'adjustment'], ['op_id', 'fact_field', 'fact', 'surfaced_field', 'event_id', 'history']),
  `
local function unindex()
  redis.call('ZREM', K.held_index, A.op_id)
  redis.call('ZREM', K.surfaced_index, A.op_id)
end
if redis.call('EXISTS', K.op) == 0 then
  unindex()
  return -1
end
local fact = redis.call('HGET', K.op, A.fact_field)
if not fact then
  unindex()
  return 0
end
if fact ~= A.fact then return -3 end
if redis.call('EXISTS', K.adjustment) == 1 then
  unindex()
  return 2
end
local due = redis.call('ZSCORE', K.held_index, A.op_id)
local since = due or redis.call('ZSCORE', K.surfaced_index, A.op_id)
if not since then return 4 end
local status = 3
if redis.call('HGET', K.op, A.surfaced_field) ~= A.event_id then
  redis.call('HSET', K.op, A.surfaced_field, A.event_id)
  redis.call('RPUSH', K.log, A.history)
  status = 1
end
if due then
  redis.call('ZREM', K.held_index, A.op_id)
  redis.call('ZADD', K.surfaced_index, 'NX', since, A.op_id)
  if status == 3 then status = 5 end
end
return status
`,
);

// An operator's dismissal of the re-capture an operation holds (`fact_field` set): out of the indexes of held and of
// surfaced re-captures (`held_index`, `surfaced_index`), with one history entry; the re-capture stays held, so its
// failure, if it comes, is reported in order as ever. 1 when dismissed now, 0 when in neither index (dismissed,
// reported, or none held).
const DISMISS_HELD_SCRIPT = new LuaScript(
  luaInputs(['op', 'log', 'held_index', 'surfaced_index'], ['op_id', 'fact_field', 'history']),
  `
if not redis.call('HGET', K.op, A.fact_field) then return 0 end
if redis.call('ZREM', K.held_index, A.op_id) + redis.call('ZREM', K.surfaced_index, A.op_id) == 0 then return 0 end
redis.call('RPUSH', K.log, A.history)
return 1
`,
);

// Takes the operation out of the indexes of held and of surfaced re-captures (`held_index`, `surfaced_index`) once the
// re-capture it holds (`fact_field` = `fact`) is recorded (`adjustment`): reported after its failure. 1 when taken out now.
const RELEASE_HELD_SCRIPT = new LuaScript(
  luaInputs(['op', 'held_index', 'surfaced_index', 'adjustment'], ['op_id', 'fact_field', 'fact']),
  `
if redis.call('HGET', K.op, A.fact_field) ~= A.fact or redis.call('EXISTS', K.adjustment) == 0 then return 0 end
if redis.call('ZREM', K.held_index, A.op_id) + redis.call('ZREM', K.surfaced_index, A.op_id) == 0 then return 0 end
return 1
`,
);

/**
 * The fields of a SUCCEEDED capture or sale's record holding the PSP's re-capture of it that arrived before the
 * capture failure it follows (`AdjustmentStore.holdRecapture`): when the PSP re-captured (epoch ms, '' when it did
 * not say), and the `succeeded_after_failure` adjustment it is reported as once that failure comes (JSON).
 */
export const RECAPTURED_AT_FIELD = 'recaptured_at';
export const RECAPTURE_FIELD = 'recapture';
/**
 * The field of a capture's record naming the PSP event id of the re-capture it holds that was surfaced to operators
 * past its wait for the failure it follows (`AdjustmentStore.surfaceHeldRecapture`): surfaced once.
 */
export const RECAPTURE_SURFACED_FIELD = 'recapture_surfaced';

/** A capture or sale in the index of held re-captures (`AdjustmentStore.heldRecapturesSince`). */
export interface HeldRecaptureEntry {
  operationId: string;
  /** When it first held a re-capture, epoch ms. */
  heldSince: number;
  /** The ledger shard whose index lists it. */
  shard: number;
}

/**
 * What `surfaceHeldRecapture` found: `surfaced` now (once per held re-capture), `surfaced_already` (`moved`: it was
 * still in the index of held re-captures, where an earlier release left it surfaced, and moved now to that of surfaced
 * ones), or nothing left to wait for, taken out of the indexes: `reported` (the failure came and the re-capture was
 * recorded after it), `none` (nothing held), `gone` (no such operation), `not_waiting` (in neither index: dismissed
 * meanwhile). With the re-capture held and the operation's command.
 */
export type SurfacedRecapture =
  { outcome: 'surfaced' | 'surfaced_already' | 'reported'; held: HeldRecapture; command: string; moved?: true } | { outcome: 'none' | 'gone' | 'not_waiting' };

/** Which index of re-captures a read takes: `due` (held, not surfaced yet: what the wait surfaces) or `all` (surfaced ones too). */
export type HeldRecaptureIndexes = 'due' | 'all';

/** A re-capture held on its operation (`AdjustmentStore.holdRecapture`). */
export interface HeldRecapture {
  /** When the PSP re-captured, epoch ms; absent when it did not say. */
  at?: number;
  /** The adjustment it is reported as, after the failure it follows. */
  fact: Omit<AdjustmentInput, 'operationId'>;
}

/**
 * What `holdRecapture` did: `held` now, `later_held` (one as late was held already), `undone` (the failure came
 * first), `not_succeeded`, `recorded` (nothing held: the re-capture is recorded already, by an earlier delivery of
 * it, or by reconciliation from the PSP's line, `mayBeSameFact`; the caller records it, which finds that one).
 */
export type HoldRecaptureResult = 'held' | 'later_held' | 'undone' | 'not_succeeded' | 'recorded';

/**
 * The field of an adjustment reconciliation recorded naming the webhook event (its PSP event id) found to report
 * the same fact later, so that it stands for no other webhook's (a second chargeback of the same amount is a
 * fact of its own). Absent: none yet.
 */
export const WEBHOOK_EVENT_FIELD = 'webhook_event';

/**
 * The field of a `succeeded_after_failure` adjustment naming the later failure of its operation, recorded first,
 * that kept the operation undone (`AdjustmentRecord.failedAgainBy`).
 */
export const FAILED_AGAIN_FIELD = 'failed_again_by';

/**
 * The field of a failure's adjustment naming the later success of its operation that kept it from marking the
 * operation undone (`AdjustmentRecord.supersededBy`).
 */
export const SUPERSEDED_FIELD = 'superseded_by';

/**
 * The field of a late refund fact's adjustment holding what its payment stood at when it was recorded, refunded beyond
 * what stands captured (`AdjustmentRecord.refundedBeyondCaptured`, JSON), or {@link REFUNDS_FIT} when they fit, or
 * {@link REFUNDS_UNDECIDED} when only captures in flight would cover them: written once, after the adjustment and before
 * its event, by `recordRefundedBeyondCapturedOnce`.
 */
export const REFUNDED_BEYOND_CAPTURED_FIELD = 'refunded_beyond_captured';

/**
 * {@link REFUNDED_BEYOND_CAPTURED_FIELD} of a fact whose first reading found the refunds fit: kept too, so a repeat
 * (its event sent saying nothing) never says later what the payment came to after other facts.
 */
const REFUNDS_FIT = 'fit';

/**
 * {@link REFUNDED_BEYOND_CAPTURED_FIELD} of a fact whose first reading found the refunds above what stands captured but
 * within what captures still in flight would add (`undecided`): no alarm, and kept so, as `fit` is.
 */
const REFUNDS_UNDECIDED = 'undecided';

// Keeps on an adjustment (`adjustment`) the figures of its payment refunded beyond captured (`field` = `value`), unless it
// holds some already. Returns {1, value} when written now, {0, the figures held} when held already, {-1} when there is
// no such adjustment.
const REFUNDED_BEYOND_SCRIPT = new LuaScript(
  luaInputs(['adjustment'], ['field', 'value']),
  `
if redis.call('EXISTS', K.adjustment) == 0 then return {-1} end
if redis.call('HSETNX', K.adjustment, A.field, A.value) == 1 then return {1, A.value} end
return {0, redis.call('HGET', K.adjustment, A.field)}
`,
);

/** Stored refunded-beyond figures (JSON) read back; undefined for anything else (not JSON, a field missing or not an integer). */
export function parseRefundedBeyond(stored: string): RefundedBeyondCaptured | undefined {
  let v: unknown;
  try {
    v = JSON.parse(stored);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const f = v as Record<string, unknown>;
  const int = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
  if (!int(f.capturedAmount) || !int(f.refundedAmount) || !int(f.excessAmount) || typeof f.currency !== 'string') return undefined;
  return { capturedAmount: f.capturedAmount, refundedAmount: f.refundedAmount, excessAmount: f.excessAmount, currency: f.currency };
}

/**
 * The prefix of an adjustment's fields noting a second reading of its PSP transaction's success, recorded as a
 * duplicate (`RecordedAdjustment.duplicateOf`): `<prefix>:<the id it would have had>` = its kind. Once per reading.
 */
export const DUPLICATE_READING_FIELD = 'duplicate_reading';

/**
 * The field of an adjustment naming the other PSP reference of the reconciliation line it was recorded from, when the
 * line names two (`AdjustmentInput.lineReference`), so that a webhook naming that one finds it as the same transaction.
 */
export const LINE_REFERENCE_FIELD = 'line_reference';

/**
 * The field of an adjustment naming the id earlier releases gave the notification it was recorded from
 * (`AdjustmentInput.formerPspEventId`), so that a notification still queued under that id finds it.
 */
export const FORMER_EVENT_FIELD = 'former_psp_event_id';

/** ' command:kind … ': the failures that undo each command (`commandsUndoneBy`), as the record script matches them. */
const UNDO_KINDS = ` ${ADJUSTMENT_KINDS.flatMap((kind) => commandsUndoneBy(kind).map((command) => `${command}:${kind}`)).join(' ')} `;

/** ' command:kind … ': the successes that redo each command (`commandsRedoneBy`), as the record script matches them. */
const REDO_KINDS = ` ${ADJUSTMENT_KINDS.flatMap((kind) => commandsRedoneBy(kind).map((command) => `${command}:${kind}`)).join(' ')} `;

/** Rounds of read-then-record before giving up while other writers keep changing an operation's adjustments. */
const RECORD_ROUNDS = 8;

/**
 * The adjustment's field naming the PSP reconciliation line it was tied to (a webhook's adjustment a line
 * was found recorded by), so that it accounts for no other line. Absent: none yet.
 */
export const RECONCILED_LINE_FIELD = 'reconciled_line';

// Ties the adjustment to a reconciliation line unless it is tied to one already. Returns the line it is tied to
// (this one, or the one that had it), or false when the adjustment does not exist.
const TIE_SCRIPT = new LuaScript(
  luaInputs(['adjustment'], ['field', 'line']),
  `
if redis.call('EXISTS', K.adjustment) == 0 then return false end
local held = redis.call('HGET', K.adjustment, A.field)
if held then return held end
redis.call('HSET', K.adjustment, A.field, A.line)
return A.line
`,
);

/** What `recordAdjustment` needs: the fact, whose it is, and where it came from. */
export interface AdjustmentInput extends Omit<AdjustmentFact, 'failsOpenOperation' | 'amountIncludesCaptured'> {
  /** The operation it is linked to (it must exist). */
  operationId: string;
  /** Configured gateway name the fact came from. */
  gateway: string;
  /** The PSP's id of the notification or reconciliation line: with `gateway`, what makes it unique. */
  pspEventId: string;
  /**
   * The id releases before this one gave the same notification, when it had another (`WebhookEvent.formerEventId`):
   * a dated fact an earlier release recorded under it, of the same kind and time, is this one (a resend after the
   * upgrade); kept on the new adjustment, so the earlier release's notification, still queued, finds this one.
   */
  formerPspEventId?: string;
  source: AdjustmentSource;
  /**
   * The reconciliation line's other PSP reference, when it names two and `pspReference` is the other (a Cybersource
   * line: `pspReference` its reconciliationId, this its transaction id, which the webhook names): kept on the
   * adjustment (`LINE_REFERENCE_FIELD`), so that a second reading naming either is found as the same transaction
   * (`oneReadingPerTransaction`). Absent: the line names one.
   */
  lineReference?: string;
  /**
   * How many adjustments the operation had when the caller read them and judged this fact new (reconciliation's
   * late facts and contradictions): recorded only while it still has that many, else `AdjustmentsChangedError`
   * (another source may have recorded the same fact in between). A repeat of this very event is still found as
   * one. Absent: no such check (a webhook's fact is searched for here instead).
   */
  expectedAdjustments?: number;
  /**
   * The configured gateway entries of `gateway`'s PSP account, itself included (`sameAccountGateways`). With two or
   * more, a fact reading a PSP transaction's success (`readsTransactionSuccess`) that an adjustment of the operation
   * records already under the other such kind, through one of them, about the same transaction (`sameTransactionFact`)
   * is not recorded: `duplicateOf`. Absent, or one entry: no such search (today's behaviour).
   */
  accountGateways?: readonly string[];
}

/** What `recordAdjustment` did. */
export interface RecordedAdjustment {
  /** Whether a new adjustment was recorded. */
  created: boolean;
  /** The adjustment as stored: the new one, the first recording's (a repeat), or the one that already records the fact. */
  adjustment: AdjustmentRecord;
  /** Reconciliation had recorded this webhook's fact from the PSP's line first: `adjustment` is that one (first report only; a repeat says nothing). */
  sameFact?: true;
  /**
   * A second reading of one PSP transaction's success, through another entry of its PSP account, under another kind
   * (`AdjustmentInput.accountGateways`), or of its contradiction under the same kind from the other source
   * (`oneReadingPerTransaction`): not recorded, `adjustment` is the first reading's (`created` false), and the
   * history names both. `noted`: recorded in the history now (false: a repeat of this reading, noted before).
   */
  duplicateOf?: { noted: boolean };
  /**
   * The fact was recorded already from the same notification under the id another release gave it
   * (`AdjustmentInput.formerPspEventId`): `adjustment` is that one (`created` false), recorded under this PSP event id.
   */
  recordedUnder?: string;
  /**
   * This new adjustment marked its operation, a SUCCEEDED refund, capture or sale, undone (`commandsUndoneBy`): a
   * refund's amount counts as refunded no more, and can be refunded again; a capture's or sale's as captured no
   * more, so no refund gives it back.
   */
  undone?: true;
  /**
   * This new adjustment would have marked its capture, sale or refund undone, but a success of it the PSP reported
   * first is later (a held re-capture: not older): the PSP did it again after this failure, so nothing was marked
   * (`adjustment.supersededBy` names that success). `held`: the PSP's re-capture held on the operation (`holdRecapture`: it arrived before
   * any failure), to be recorded after this; `recorded`: a `succeeded_after_failure` recorded already (a re-capture
   * that arrived first and cleared an earlier failure's mark), reported to the OMS already.
   */
  superseded?: 'held' | 'recorded';
  /**
   * This new adjustment (`succeeded_after_failure`, `commandsRedoneBy`) cleared the undone mark of its operation, a
   * SUCCEEDED capture, sale or refund the PSP had undone and now says it did after all (an Adyen re-capture): its
   * amount counts as captured (or refunded) again. The id of the adjustment that had marked it undone.
   */
  redoneAfter?: string;
  /**
   * This new adjustment (`succeeded_after_failure`, `commandsMarkedDoneBy`) marked its operation, a capture, sale, refund
   * or cancel the ledger holds FAILED, as done by the PSP after all (`SUCCEEDED_AFTER_FAILURE_FIELD`, with the amount
   * and currency the adjustment confirms): a capture, sale or refund counts as captured (or refunded) at that amount from
   * now on, a cancel as done.
   */
  counted?: true;
  /**
   * This new adjustment (`succeeded_after_failure`, with a time) would have cleared the undone mark of its operation,
   * but a failure of it recorded already is later (the PSP failed it again after this success): the mark stays and
   * names the latest such failure, this adjustment's `failedAgainBy`; when the PSP says that failure happened, epoch ms.
   */
  failedAgainAt?: number;
}

/** `adj_<24 hex>`: the same gateway and PSP event id always give the same id (idempotent across crashes). */
export function adjustmentIdFor(gateway: string, pspEventId: string): string {
  return `adj_${createHash('sha256').update(`${gateway}\n${pspEventId}`).digest('hex').slice(0, 24)}`;
}

/**
 * Adjustments in Redis, next to the operation ledger, in the operation's shard S (src/redis/key-layout.ts):
 *   S adj:{id}                   hash: the adjustment
 *   S op:{opId}:adjustments      sorted set of the operation's adjustment ids, score = recorded at (ms)
 *   S op:{opId}:interactions     the operation's history, which gets one entry per new adjustment
 *   S adjustments                sorted set of the shard's adjustment ids, score = recorded at (ms)
 * Webhooks and reconciliation both record through `recordAdjustment`: one fact, one record, however many
 * times it is reported. The operation's state is never touched, nor its record but for two marks: a SUCCEEDED
 * refund, capture or sale a fact undoes (`commandsUndoneBy`) gets `undone_by`: a refund's amount is refundable
 * again, a capture's or sale's is no longer captured money to refund; a fact that says it succeeded after all
 * (`commandsRedoneBy`: a re-capture) clears it. A FAILED refund, capture, sale or cancel a fact says the PSP did after
 * all (`succeeded_after_failure`) gets `succeeded_after_failure` (the adjustment and the amount the PSP confirmed): a
 * refund, capture or sale counts as refunded or captured at that amount, and is then marked undone, and redone, as a
 * SUCCEEDED one is; a cancel counts as done.
 * Reconciliation ties a
 * webhook's adjustment to the PSP line it found recorded by it (`tieToLine`, field `reconciled_line`); a
 * webhook's fact reconciliation recorded first marks that adjustment as its event's (field `webhook_event`).
 */
export class AdjustmentStore {
  private readonly shards: readonly ShardKeys[];

  constructor(
    private readonly redis: RedisClient,
    /** Key prefix, the ledger's (e.g. `pb:`). */
    private readonly prefix: string,
  ) {
    this.shards = shardKeysOf(prefix);
  }

  /**
   * Records the adjustment and links it to its operation (with an entry in the operation's history),
   * unless the same gateway already reported the same PSP event. A webhook's fact that reconciliation recorded
   * first from the PSP's line (`mayBeSameFact`, by an adjustment no other webhook event stands for yet) is not
   * recorded again: that adjustment is marked as this event's (`webhook_event`) and returned, with `sameFact`.
   * A PSP transaction's success read through another entry of its PSP account under the other kind
   * (`AdjustmentInput.accountGateways`) is not recorded either: the first reading is returned, with `duplicateOf`;
   * nor a contradiction of a kind one transaction gives once (`oneReadingPerTransaction`) that the operation records
   * already under the same kind from the other source (a webhook's, a reconciliation line's), through the same entry
   * or one of `accountGateways`, naming the same transaction (either of a line's references, `lineReference`), unless
   * a failure or success of the operation's command was recorded after it (then a fact of its own).
   * @returns whether it was new, and the adjustment as stored (the first recording's, for a repeat).
   * @throws OperationNotFoundError when the operation does not exist.
   * @throws AdjustmentsChangedError when the operation no longer has `expectedAdjustments` adjustments (nothing written).
   */
  async recordAdjustment(input: AdjustmentInput, now = Date.now()): Promise<RecordedAdjustment> {
    const id = adjustmentIdFor(input.gateway, input.pspEventId);
    const adjustment: AdjustmentRecord = {
      id,
      operationId: input.operationId,
      gateway: input.gateway,
      kind: input.kind,
      direction: input.direction,
      pspEventId: input.pspEventId,
      source: input.source,
      recordedAt: now,
      ...(input.amount !== undefined ? { amount: input.amount } : {}),
      ...(input.currency !== undefined ? { currency: input.currency } : {}),
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
      ...(input.pspReference !== undefined ? { pspReference: input.pspReference } : {}),
      ...(input.occurredAt !== undefined ? { occurredAt: input.occurredAt } : {}),
    };
    const fields = toHash(adjustment);
    if (input.formerPspEventId !== undefined) fields.push(FORMER_EVENT_FIELD, input.formerPspEventId);
    const lineReference = input.lineReference !== undefined && input.lineReference !== input.pspReference ? input.lineReference : undefined;
    if (lineReference !== undefined) fields.push(LINE_REFERENCE_FIELD, lineReference);
    const history = JSON.stringify({
      ...redact({
        event: 'adjustment',
        adjustment_id: id,
        kind: adjustment.kind,
        direction: adjustment.direction,
        amount: adjustment.amount ?? null,
        currency: adjustment.currency ?? null,
        reason: adjustment.reason ?? null,
        source: adjustment.source,
        psp_event_id: adjustment.pspEventId,
      }),
      at: now,
    });
    const shard = await shardOfOperation(this.redis, this.prefix, input.operationId);
    if (shard === null) throw new OperationNotFoundError(`no operation ${input.operationId} for adjustment ${id}`);
    const keys = this.shards[shard];
    const base = {
      adjustment: keys.adjustment(id),
      op_adjustments: keys.operationAdjustments(input.operationId),
      log: keys.history(input.operationId),
      index: keys.adjustments,
      op: keys.op(input.operationId),
    };
    // Only a webhook's fact of a kind reconciliation also records from a line can have been recorded first.
    const searched = input.source === 'webhook' && reconciledKindsOf(input.kind).length > 0;
    const undoes = commandsUndoneBy(input.kind).length > 0;
    // A dated success after failure is weighed against the failures recorded before it, a dated failure against the
    // successes after failure: the script reads them all.
    const weighed = (undoes || commandsRedoneBy(input.kind).length > 0) && input.occurredAt !== undefined;
    // A fact an earlier release may have recorded under its former id is looked for among them too, dated or not
    // (an eventDate that does not read as a time gave the earlier record no time either).
    // A transaction's success through an entry of an account with others: another reading of it is looked for too.
    const peers = readsTransactionSuccess(input.kind) && (input.accountGateways?.length ?? 0) > 1 ? (input.accountGateways ?? []) : [];
    // A kind one transaction gives once: a reading of it under the same kind is looked for (another source id).
    const oneReading = oneReadingPerTransaction(input.kind);
    const listing = weighed || input.formerPspEventId !== undefined || peers.length > 0 || oneReading;
    const duplicateHistory = JSON.stringify({
      ...redact({
        event: 'adjustment_duplicate_psp_fact',
        adjustment_id: id,
        kind: adjustment.kind,
        gateway: adjustment.gateway,
        source: adjustment.source,
        psp_event_id: adjustment.pspEventId,
        psp_reference: adjustment.pspReference ?? null,
      }),
      at: now,
    }).slice(0, -1);
    for (let round = 0; round < RECORD_ROUNDS; round += 1) {
      const found = searched ? await this.recordedFirst(keys, input) : null;
      const listed = listing ? await this.redis.zrange(base.op_adjustments, 0, -1) : null;
      const held = undoes ? await this.heldRaw(base.op) : null;
      const [status, existing, cleared, superseded, failedAgain, failedAgainAt, supersededBy, counted] = (await RECORD_SCRIPT.run(
        this.redis,
        {
          keys: { ...base, counterpart: found?.counterpart ? keys.adjustment(found.counterpart.id) : base.adjustment },
          args: {
            id,
            now,
            history,
            expected: found ? found.count : (input.expectedAdjustments ?? ''),
            claim_field: found?.counterpart ? WEBHOOK_EVENT_FIELD : '',
            claim: input.pspEventId,
            undoes: commandsUndoneBy(input.kind).join(' '),
            redoes: commandsRedoneBy(input.kind).join(' '),
            undone_field: UNDONE_FIELD,
            occurred: input.occurredAt ?? '',
            recaptured_at_field: RECAPTURED_AT_FIELD,
            listed: listed === null ? '' : listed.length,
            undo_kinds: UNDO_KINDS,
            failed_again_field: FAILED_AGAIN_FIELD,
            redo_kinds: REDO_KINDS,
            held_seen: held === null ? '' : held.at === null ? 'none' : `=${held.at}`,
            held_id: held?.id ?? '',
            superseded_field: SUPERSEDED_FIELD,
            kind: input.kind,
            event_id: input.pspEventId,
            former: input.formerPspEventId ?? '',
            former_field: FORMER_EVENT_FIELD,
            late_field: SUCCEEDED_AFTER_FAILURE_FIELD,
            late_mark: JSON.stringify(successAfterFailureMark(id, input.amount, input.currency)),
            marks: commandsMarkedDoneBy(input.kind).join(' '),
            peers: peers.length > 0 ? ` ${peers.join(' ')} ` : '',
            reference: input.pspReference ?? '',
            success_kinds: ` ${TRANSACTION_SUCCESS_KINDS.join(' ')} `,
            duplicate_field: `${DUPLICATE_READING_FIELD}:${id}`,
            duplicate_history: duplicateHistory,
            one_reading: oneReading ? '1' : '',
            gateway: input.gateway,
            line_reference: lineReference ?? '',
            line_reference_field: LINE_REFERENCE_FIELD,
            source: input.source,
          },
        },
        fields,
        listed === null ? [] : listed.map((adj) => keys.adjustment(adj)),
      )) as [number, (string[] | number)?, (string | number)?, number?, string?, string?, string?, number?];
      if (status === -1) throw new OperationNotFoundError(`no operation ${input.operationId} for adjustment ${id}`);
      if (status === 1) {
        return {
          created: true,
          adjustment: {
            ...adjustment,
            ...(failedAgain ? { failedAgainBy: failedAgain } : {}),
            ...(supersededBy ? { supersededBy } : {}),
          },
          ...(existing === 1 ? { undone: true as const } : {}),
          ...(typeof cleared === 'string' && cleared !== '' ? { redoneAfter: cleared } : {}),
          ...(superseded === 1 ? { superseded: 'held' as const } : superseded === 2 ? { superseded: 'recorded' as const } : {}),
          ...(failedAgain && failedAgainAt ? { failedAgainAt: Number(failedAgainAt) } : {}),
          ...(counted === 1 ? { counted: true as const } : {}),
        };
      }
      // -3: a failure (or success) was recorded since the operation's adjustments were read for a dated success (or
      // failure), or another re-capture is held now: weigh it too.
      if (status === -3) continue;
      const pairs = Array.isArray(existing) ? existing : [];
      if (status === 0 || status === 3) return { created: false, adjustment: fromHash(hashFromPairs(pairs)) };
      if (status === 2) return { created: false, adjustment: fromHash(hashFromPairs(pairs)), sameFact: true };
      if (status === 5) return { created: false, adjustment: fromHash(hashFromPairs(pairs)), duplicateOf: { noted: cleared === 1 } };
      if (status === 4) {
        const recorded = hashFromPairs(pairs);
        return { created: false, adjustment: fromHash(recorded), recordedUnder: recorded.psp_event_id };
      }
      // -2: another writer changed the operation's adjustments between the read and the script. The caller's own
      // read (no search here) is the caller's to do again: it may find the fact recorded now.
      if (!found) throw new AdjustmentsChangedError(`adjustment ${id}: the adjustments of operation ${input.operationId} changed since they were read`);
    }
    throw new Error(`adjustment ${id}: the adjustments of operation ${input.operationId} kept changing; try again`);
  }

  /**
   * The operation's adjustment count, and the one reconciliation recorded from a PSP line that records the fact
   * `input` reports (`mayBeSameFact`) and that no other webhook event stands for: one this very event stands for
   * first (a repeat), then the same PSP reference, then the fact's own kind, then the oldest. A dated success after
   * failure is never one a failure of the operation lies between (`apartByFailure`): two re-captures, not one.
   */
  private async recordedFirst(keys: ShardKeys, input: AdjustmentInput): Promise<{ count: number; counterpart: AdjustmentRecord | null }> {
    const ids = await this.redis.zrange(keys.operationAdjustments(input.operationId), 0, -1);
    const hashes = await Promise.all(ids.map((adj) => this.redis.hgetall(keys.adjustment(adj))));
    const kinds = reconciledKindsOf(input.kind);
    const failures = commandsRedoneBy(input.kind).length === 0 ? [] : failureTimes(hashes);
    let best: { adjustment: AdjustmentRecord; order: number[] } | null = null;
    for (const h of hashes) {
      if (!h.id || h.source !== 'reconciliation' || !isAdjustmentKind(h.kind)) continue;
      const held = h[WEBHOOK_EVENT_FIELD];
      if (held !== undefined && held !== input.pspEventId) continue;
      const recorded = fromHash(h);
      if (!mayBeSameFact(input, recorded) || apartByFailure(input, recorded, failures)) continue;
      const sameReference = input.pspReference !== undefined && recorded.pspReference === input.pspReference;
      const order = [held === input.pspEventId ? 0 : 1, sameReference ? 0 : 1, kinds.indexOf(recorded.kind as ReconciledFactKind)];
      // zrange is oldest first: a later one replaces the best only when it sorts strictly before it.
      if (best === null || sortsBefore(order, best.order)) best = { adjustment: recorded, order };
    }
    return { count: ids.length, counterpart: best?.adjustment ?? null };
  }

  /**
   * Holds on SUCCEEDED capture or sale `operationId` the PSP's re-capture of it that arrived before the capture
   * failure it follows (nothing marks it undone): its time and the adjustment `fact` it is to be reported as, so
   * that failure, when it comes, marks nothing (`recordAdjustment`'s `superseded`) and is followed by it. A
   * re-capture as late held already stays. One history entry (`recapture_held`, with the PSP event id). Nothing is
   * held for a re-capture recorded already: by an earlier delivery of it, or by reconciliation from the PSP's line
   * (the same fact, `recordedFirst`: that adjustment cleared the mark the failure had set), which is no re-capture
   * ahead of its failure.
   * @returns what it did; `undone`: the failure was recorded first, the caller reports the re-capture as usual;
   *   `recorded`: it is recorded already, the caller records it (a repeat, or the same fact).
   * @throws OperationNotFoundError when the operation does not exist.
   */
  async holdRecapture(operationId: string, held: HeldRecapture, now = Date.now()): Promise<HoldRecaptureResult> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) throw new OperationNotFoundError(`no operation ${operationId} to hold a re-capture on`);
    const keys = this.shards[shard];
    const history = JSON.stringify({
      ...redact({ event: 'recapture_held', psp_event_id: held.fact.pspEventId, recaptured_at: held.at ?? null, amount: held.fact.amount ?? null }),
      at: now,
    });
    const adjustment = keys.adjustment(adjustmentIdFor(held.fact.gateway, held.fact.pspEventId));
    for (let round = 0; round < RECORD_ROUNDS; round += 1) {
      const { count, counterpart } = await this.recordedFirst(keys, { ...held.fact, operationId });
      if (counterpart !== null) return 'recorded';
      const status = await HOLD_SCRIPT.run(this.redis, {
        keys: {
          op: keys.op(operationId),
          log: keys.history(operationId),
          adjustment,
          op_adjustments: keys.operationAdjustments(operationId),
          held_index: keys.heldRecaptures,
          surfaced_index: keys.surfacedRecaptures,
        },
        args: {
          op_id: operationId,
          now,
          at_field: RECAPTURED_AT_FIELD,
          fact_field: RECAPTURE_FIELD,
          undone_field: UNDONE_FIELD,
          at: held.at ?? '',
          fact: JSON.stringify(held.fact),
          history,
          expected: count,
        },
      });
      if (status === -1) throw new OperationNotFoundError(`no operation ${operationId} to hold a re-capture on`);
      // 4: an adjustment was recorded since they were read (it may be this fact, from reconciliation): read again.
      if (status === 4) continue;
      return status === 1 ? 'held' : status === 0 ? 'later_held' : status === 2 ? 'undone' : status === 5 ? 'recorded' : 'not_succeeded';
    }
    throw new Error(`re-capture ${held.fact.pspEventId}: the adjustments of operation ${operationId} kept changing; try again`);
  }

  /**
   * The held re-capture's time on operation record `opKey` as stored (null: none held) and the id of the adjustment it
   * is to be recorded as ('' when it does not read as one).
   */
  private async heldRaw(opKey: string): Promise<{ at: string | null; id: string }> {
    const { at, fact } = await this.heldFields(opKey);
    return { at, id: fact === null ? '' : adjustmentIdFor(fact.gateway, fact.pspEventId) };
  }

  /**
   * Keeps on adjustment `adjustmentId` of `operationId` the reading of its payment refunded beyond what stands captured
   * (`REFUNDED_BEYOND_CAPTURED_FIELD`; `found` null: the refunds fit; `undecided`: only captures in flight would cover
   * them), once: the first reading stands, so a repeat of the fact says what was found when it was first recorded,
   * which its event said.
   * @returns whether it was written now, and the figures the adjustment holds (undefined: the first reading found the
   *   refunds fit, or undecided); null when there is no such adjustment.
   */
  async recordRefundedBeyondCapturedOnce(
    operationId: string,
    adjustmentId: string,
    found: RefundedBeyondCaptured | null | 'undecided',
  ): Promise<{ recorded: boolean; held: RefundedBeyondCaptured | undefined } | null> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return null;
    const [status, stored] = (await REFUNDED_BEYOND_SCRIPT.run(this.redis, {
      keys: { adjustment: this.shards[shard].adjustment(adjustmentId) },
      args: { field: REFUNDED_BEYOND_CAPTURED_FIELD, value: found === null ? REFUNDS_FIT : found === 'undecided' ? REFUNDS_UNDECIDED : JSON.stringify(found) },
    })) as [number, string?];
    if (status === -1) return null;
    if (status === 1) return { recorded: true, held: found === null || found === 'undecided' ? undefined : found };
    return { recorded: false, held: stored === undefined ? undefined : parseRefundedBeyond(stored) };
  }

  /**
   * The captures and sales holding a re-capture (`holdRecapture`) since `before` (epoch ms) or earlier, oldest first,
   * at most `limit`, from every shard: with `indexes` = `due` only those not surfaced yet (the index of held
   * re-captures: the wait's due read, which surfaced ones, kept apart, never crowd out), else surfaced ones too. One
   * reported after its failure may still be listed (`surfaceHeldRecapture` takes it out).
   */
  async heldRecapturesSince(before: number, limit: number, indexes: HeldRecaptureIndexes = 'all'): Promise<HeldRecaptureEntry[]> {
    const sets = ALL_SHARDS.flatMap((shard) => {
      const keys = this.shards[shard];
      return indexes === 'due'
        ? [{ key: keys.heldRecaptures, shard }]
        : [
            { key: keys.heldRecaptures, shard },
            { key: keys.surfacedRecaptures, shard },
          ];
    });
    const read = await scoredAcrossKeys(
      this.redis,
      sets.map((set) => set.key),
      '-inf',
      String(before),
      limit,
    );
    // An entry in both indexes (a hold by an earlier release on a surfaced capture) is listed once.
    const seen = new Set<string>();
    const entries: HeldRecaptureEntry[] = [];
    for (const { member, score, keyIndex } of read) {
      if (entries.length >= limit) break;
      if (seen.has(member)) continue;
      seen.add(member);
      entries.push({ operationId: member, heldSince: score, shard: sets[keyIndex].shard });
    }
    return entries;
  }

  /**
   * A page of the surfaced re-captures still waiting for their failure (`ShardKeys.surfacedRecaptures`), every shard,
   * walked by ZSCAN from `cursors` (one per shard, '0' to start; about `count` entries in all): so that each pass of
   * the wait looks again at a bounded part of them and, over passes, at every one (one whose failure was recorded by a
   * release that left this index alone is taken out then). Returns the entries and the cursors to go on from.
   */
  async surfacedRecapturesPage(cursors: readonly string[], count: number): Promise<{ entries: HeldRecaptureEntry[]; cursors: string[] }> {
    const perShard = Math.max(10, Math.ceil(count / ALL_SHARDS.length));
    const pages = await Promise.all(
      ALL_SHARDS.map(async (shard) => {
        const [next, flat] = await this.redis.zscan(this.shards[shard].surfacedRecaptures, cursors[shard] ?? '0', 'COUNT', perShard);
        const entries: HeldRecaptureEntry[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ operationId: flat[i], heldSince: Number(flat[i + 1]), shard });
        return { next, entries };
      }),
    );
    return { entries: pages.flatMap((p) => p.entries), cursors: pages.map((p) => p.next) };
  }

  /**
   * Surfaces the re-capture `entry` holds, past its wait for the capture failure it follows: marks it as surfaced
   * (`RECAPTURE_SURFACED_FIELD`, its PSP event id) with a `recapture_awaiting_failure` history entry, once per held
   * re-capture, so a repeat (another poller, a pass after a crash) surfaces nothing again, and moves the entry to the
   * index of surfaced re-captures (`ShardKeys.surfacedRecaptures`) in the same step. An entry with nothing left to wait
   * for (reported after its failure, nothing held, no operation) leaves both indexes.
   * @throws Error when the held re-capture does not read (a record to repair).
   */
  async surfaceHeldRecapture(entry: HeldRecaptureEntry, waitedMs: number, now = Date.now()): Promise<SurfacedRecapture> {
    const keys = this.shards[entry.shard];
    const opKey = keys.op(entry.operationId);
    for (let round = 0; round < RECORD_ROUNDS; round += 1) {
      const [at, raw, command] = await this.redis.hmget(opKey, RECAPTURED_AT_FIELD, RECAPTURE_FIELD, 'command');
      const fact = raw === null ? null : parseHeldFact(raw);
      if (raw !== null && fact === null) throw new Error(`operation ${entry.operationId}: its held re-capture does not read as one`);
      const eventId = fact?.pspEventId ?? '';
      // The times are ours, numbers outside the redaction (an epoch-ms time can pass the Luhn check and be masked).
      const history = JSON.stringify({
        ...redact({ event: 'recapture_awaiting_failure', psp_event_id: eventId }),
        recaptured_at: at === null || at === '' ? null : Number(at),
        held_since: entry.heldSince,
        waited_ms: waitedMs,
        at: now,
      });
      const status = await SURFACE_SCRIPT.run(this.redis, {
        keys: {
          op: opKey,
          log: keys.history(entry.operationId),
          held_index: keys.heldRecaptures,
          surfaced_index: keys.surfacedRecaptures,
          // With nothing held the script reads no adjustment: the record's own key stands in.
          adjustment: fact === null ? opKey : keys.adjustment(adjustmentIdFor(fact.gateway, fact.pspEventId)),
        },
        args: { op_id: entry.operationId, fact_field: RECAPTURE_FIELD, fact: raw ?? '', surfaced_field: RECAPTURE_SURFACED_FIELD, event_id: eventId, history },
      });
      if (status === -3) continue;
      if (status === -1) return { outcome: 'gone' };
      if (status === 0 || fact === null) return { outcome: 'none' };
      if (status === 4) return { outcome: 'not_waiting' };
      const held: HeldRecapture = at === null || at === '' ? { fact } : { at: Number(at), fact };
      if (status === 5) return { outcome: 'surfaced_already', held, command: command ?? '', moved: true };
      const outcome = status === 1 ? 'surfaced' : status === 3 ? 'surfaced_already' : 'reported';
      return { outcome, held, command: command ?? '' };
    }
    throw new Error(`operation ${entry.operationId}: its held re-capture kept changing; try again`);
  }

  /**
   * Takes `operationId` out of the indexes of held and of surfaced re-captures once the re-capture it holds is
   * recorded (reported after the failure it follows), so it no longer counts as waiting. Idempotent.
   * @returns whether it was taken out now.
   */
  async releaseHeldRecapture(operationId: string): Promise<boolean> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return false;
    const keys = this.shards[shard];
    const raw = await this.redis.hget(keys.op(operationId), RECAPTURE_FIELD);
    const fact = raw === null ? null : parseHeldFact(raw);
    if (raw === null || fact === null) return false;
    const removed = await RELEASE_HELD_SCRIPT.run(this.redis, {
      keys: {
        op: keys.op(operationId),
        held_index: keys.heldRecaptures,
        surfaced_index: keys.surfacedRecaptures,
        adjustment: keys.adjustment(adjustmentIdFor(fact.gateway, fact.pspEventId)),
      },
      args: { op_id: operationId, fact_field: RECAPTURE_FIELD, fact: raw },
    });
    return removed === 1;
  }

  /**
   * An operator settled the re-capture `operationId` holds with the PSP: it leaves the indexes of held and of surfaced
   * re-captures (no longer counted or listed as waiting), with a `recapture_dismissed` history entry naming `actor`. It stays held:
   * should its failure come after all, both are reported in order as ever.
   * @returns whether it was dismissed now (false: not waiting, or no such operation).
   */
  async dismissHeldRecapture(operationId: string, actor: string, now = Date.now()): Promise<boolean> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return false;
    const keys = this.shards[shard];
    const history = JSON.stringify({ ...redact({ event: 'recapture_dismissed', by: actor }), at: now });
    const dismissed = await DISMISS_HELD_SCRIPT.run(this.redis, {
      keys: { op: keys.op(operationId), log: keys.history(operationId), held_index: keys.heldRecaptures, surfaced_index: keys.surfacedRecaptures },
      args: { op_id: operationId, fact_field: RECAPTURE_FIELD, history },
    });
    return dismissed === 1;
  }

  /** Whether the re-capture held on `operationId` is recorded (reported after the failure it follows). */
  async heldRecaptureReported(operationId: string): Promise<boolean> {
    const held = await this.heldRecapture(operationId);
    if (held === null) return false;
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return false;
    return (await this.redis.exists(this.shards[shard].adjustment(adjustmentIdFor(held.fact.gateway, held.fact.pspEventId)))) === 1;
  }

  /** The re-capture held on `operationId` (`holdRecapture`), or null when none is (or it cannot be read). */
  async heldRecapture(operationId: string): Promise<HeldRecapture | null> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return null;
    const { at, fact } = await this.heldFields(this.shards[shard].op(operationId));
    if (at === null || fact === null) return null;
    return at === '' ? { fact } : { at: Number(at), fact };
  }

  /** What operation record `opKey` holds of a re-capture: its time as stored (null: none held) and its fact, read. */
  private async heldFields(opKey: string): Promise<{ at: string | null; fact: Omit<AdjustmentInput, 'operationId'> | null }> {
    const [at, fact] = await this.redis.hmget(opKey, RECAPTURED_AT_FIELD, RECAPTURE_FIELD);
    return { at, fact: fact === null ? null : parseHeldFact(fact) };
  }

  /**
   * Ties adjustment `id` of `operationId` to the PSP reconciliation line `lineId`, unless another line has it
   * already: an adjustment accounts for one line (a second chargeback of the same amount is a fact of its own).
   * @returns the line it is tied to (`lineId`, or the line that had it), or null when there is no such adjustment.
   */
  async tieToLine(operationId: string, id: string, lineId: string): Promise<string | null> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return null;
    const held = await TIE_SCRIPT.run(this.redis, {
      keys: { adjustment: this.shards[shard].adjustment(id) },
      args: { field: RECONCILED_LINE_FIELD, line: lineId },
    });
    return typeof held === 'string' ? held : null;
  }

  /** The adjustment `id` (every shard is asked, together; `forOperation` knows its shard). */
  async get(id: string): Promise<AdjustmentRecord | null> {
    const found = await Promise.all(ALL_SHARDS.map((n) => this.redis.hgetall(this.shards[n].adjustment(id))));
    const h = found.find((f) => f.id);
    return h ? fromHash(h) : null;
  }

  /** The operation's adjustments, oldest first. */
  async forOperation(operationId: string): Promise<AdjustmentRecord[]> {
    const shard = await shardOfOperation(this.redis, this.prefix, operationId);
    if (shard === null) return [];
    const keys = this.shards[shard];
    const ids = await this.redis.zrange(keys.operationAdjustments(operationId), 0, -1);
    const found = await Promise.all(ids.map((id) => this.redis.hgetall(keys.adjustment(id))));
    return found.filter((h) => h.id).map((h) => fromHash(h));
  }
}

/** A held re-capture's adjustment as `holdRecapture` wrote it; null when it does not read as one. */
function parseHeldFact(stored: string): Omit<AdjustmentInput, 'operationId'> | null {
  let v: unknown;
  try {
    v = JSON.parse(stored);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  const f = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string';
  const int = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
  if (f.kind !== 'succeeded_after_failure' || !str(f.gateway) || !str(f.pspEventId) || f.source !== 'webhook') return null;
  if (f.direction !== 'credit' && f.direction !== 'debit' && f.direction !== 'none') return null;
  return {
    kind: f.kind,
    direction: f.direction,
    gateway: f.gateway,
    pspEventId: f.pspEventId,
    source: f.source,
    ...(int(f.amount) ? { amount: f.amount } : {}),
    ...(str(f.currency) ? { currency: f.currency } : {}),
    ...(str(f.reason) ? { reason: f.reason } : {}),
    ...(str(f.pspReference) ? { pspReference: f.pspReference } : {}),
    ...(int(f.occurredAt) ? { occurredAt: f.occurredAt } : {}),
  };
}

/** The PSP's times of the failures among an operation's adjustments (`commandsUndoneBy`: kinds that undo a command). */
function failureTimes(hashes: readonly Record<string, string>[]): number[] {
  const times: number[] = [];
  for (const h of hashes) {
    if (!isAdjustmentKind(h.kind) || commandsUndoneBy(h.kind).length === 0 || h.occurred_at === undefined) continue;
    const at = Number(h.occurred_at);
    if (Number.isFinite(at)) times.push(at);
  }
  return times;
}

/** Whether `a` sorts strictly before `b`, element by element. */
function sortsBefore(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

function toHash(a: AdjustmentRecord): string[] {
  const out: string[] = [];
  const put = (k: string, v: string | number | undefined) => {
    if (v !== undefined) out.push(k, String(v));
  };
  put('id', a.id);
  put('operation_id', a.operationId);
  put('gateway', a.gateway);
  put('kind', a.kind);
  put('direction', a.direction);
  put('amount', a.amount);
  put('currency', a.currency);
  put('reason', a.reason);
  put('psp_reference', a.pspReference);
  put('psp_event_id', a.pspEventId);
  put('occurred_at', a.occurredAt);
  put('source', a.source);
  put('recorded_at', a.recordedAt);
  put(FAILED_AGAIN_FIELD, a.failedAgainBy);
  put(SUPERSEDED_FIELD, a.supersededBy);
  return out;
}

function hashFromPairs(pairs: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) hash[pairs[i]] = pairs[i + 1];
  return hash;
}

function fromHash(h: Record<string, string>): AdjustmentRecord {
  if (!isAdjustmentKind(h.kind)) throw new Error(`adjustment ${h.id} has an unknown kind ${JSON.stringify(h.kind)}`);
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    id: h.id,
    operationId: h.operation_id,
    gateway: h.gateway,
    kind: h.kind,
    direction: h.direction as MoneyDirection,
    pspEventId: h.psp_event_id,
    source: h.source as AdjustmentSource,
    recordedAt: Number(h.recorded_at),
    ...(h.amount !== undefined ? { amount: num(h.amount) } : {}),
    ...(h.currency !== undefined ? { currency: h.currency } : {}),
    ...(h.reason !== undefined ? { reason: h.reason } : {}),
    ...(h.psp_reference !== undefined ? { pspReference: h.psp_reference } : {}),
    ...(h.occurred_at !== undefined ? { occurredAt: num(h.occurred_at) } : {}),
    ...(h[FAILED_AGAIN_FIELD] !== undefined ? { failedAgainBy: h[FAILED_AGAIN_FIELD] } : {}),
    ...(h[SUPERSEDED_FIELD] !== undefined ? { supersededBy: h[SUPERSEDED_FIELD] } : {}),
    ...refundedBeyondOf(h[REFUNDED_BEYOND_CAPTURED_FIELD]),
  };
}

function refundedBeyondOf(stored: string | undefined): { refundedBeyondCaptured?: RefundedBeyondCaptured; refundedBeyondUndecided?: true } {
  // Undecided is read back as such, not as fit: ops show marks it (`AdjustmentRecord.refundedBeyondUndecided`).
  if (stored === REFUNDS_UNDECIDED) return { refundedBeyondUndecided: true };
  const read = stored === undefined ? undefined : parseRefundedBeyond(stored);
  return read === undefined ? {} : { refundedBeyondCaptured: read };
}

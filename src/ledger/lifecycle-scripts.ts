import { LuaScript, luaInputs } from '../redis/lua-script';

// The ledger's data lifecycle scripts: restore (import), expiry (retention) and erasure. None is on the hot
// path. Each acts on one operation atomically, in its shard; the keys of the operation's companions (outbox
// events, adjustments, reference entries) vary in number: the caller (Ledger) declares them as extra keys
// (`XK(i)`, src/redis/lua-script.ts) and the JSON argument names them by their position there.

/**
 * Restores one operation from a plan of writes (src/data-lifecycle/restore-plan.ts), unless its record
 * exists. Each step's `k` is the position of its key among the extra keys. Steps: `{c:'hset',k,f:[name,value…]}`, `{c:'rpush',k,v:[…]}`, `{c:'zadd',k,s,m}`,
 * `{c:'sadd',k,m:[…]}`, `{c:'set',k,v,at}` (at: absolute expiry ms, -1 none), `{c:'max',k,v}` (raise a
 * counter to v, never lower it). Returns 1 when restored, 0 when the record was already there.
 */
export const RESTORE_SCRIPT = new LuaScript(
  luaInputs(['op'], ['plan']),
  `
if redis.call('EXISTS', K.op) == 1 then return 0 end
for _, s in ipairs(cjson.decode(A.plan)) do
  local k = XK(s.k)
  if s.c == 'hset' then redis.call('HSET', k, unpack(s.f))
  elseif s.c == 'rpush' then
    for i = 1, #s.v, 500 do redis.call('RPUSH', k, unpack(s.v, i, math.min(i + 499, #s.v))) end
  elseif s.c == 'zadd' then redis.call('ZADD', k, s.s, s.m)
  elseif s.c == 'sadd' then redis.call('SADD', k, unpack(s.m))
  elseif s.c == 'set' then
    redis.call('SET', k, s.v)
    if tonumber(s.at) > 0 then redis.call('PEXPIREAT', k, s.at) end
  elseif s.c == 'max' then
    local cur = tonumber(redis.call('GET', k) or '0')
    if tonumber(s.v) > cur then redis.call('SET', k, s.v) end
  else
    return redis.error_reply('unknown restore step ' .. tostring(s.c))
  end
end
return 1
`,
);

/**
 * Expires one terminal operation if nothing of it is live any more, else says why it is kept.
 * Kept (reply `{0, reason}`): `missing`, `live` (not SUCCEEDED/FAILED), `recent` (updated after the
 * cutoff), `open_authorization` (a successful authorization neither captured nor voided), `settling` (its
 * event not recorded yet), `held` (in the retention hold set: reconciliation or an operator wants it),
 * `recapture_awaiting_failure` (a PSP re-capture held on it, in the index of held or of surfaced re-captures, still
 * waiting for the capture failure it follows: checked here too, as a re-capture held after the sweep's read would
 * otherwise leave its index entry behind),
 * `awaiting_reconciliation` (updated after its gateway's reconciled-through mark, when one is required),
 * `unsent_event` (the OMS has not been told yet), `set_aside_event` (an event of it the bus refused, set aside,
 * neither resent nor dismissed: the OMS has not heard it and an operator has still to decide), `recent_adjustment` (a chargeback or correction after
 * the cutoff restarts the clock), `live_dependent` (a capture or refund of it still moving),
 * `live_in_order` (another operation of its order is not terminal: the order's money is still moving).
 * Expired (reply `{1}`): the record, history, dependents, adjustment links and every index entry (the index of
 * captures and refunds held for their PSP's retry included: gone, nothing reads it as held) are deleted with the companions' keys: events (with their entries in the shard's set-aside and dismissed event indexes), adjustments, reference entries still naming it, and the
 * payment's sequence counters once its order has no operation left.
 * Every key is declared: the named ones (the operation's own keys and its shard's indexes; `order` is the
 * record's own key when `has_order` is 0), and as extra keys the companions and the records of its
 * dependents and of the other operations of its order that live in its shard (the ledger checked those of
 * other shards before). `related` is how many dependents and other operations of the order the ledger
 * read: if that changed meanwhile, it is kept (`changed`) for the next pass.
 * companions JSON (positions among the extra keys): {events:[{k,id}], adjustments:[{k,id}], refs:[k],
 * payment:[seq, sent], dependents:[k], order:[k]}.
 */
export const EXPIRE_SCRIPT = new LuaScript(
  luaInputs(
    [
      'op',
      'log',
      'dependents',
      'op_adjustments',
      'order',
      'st_succeeded',
      'st_failed',
      'created',
      'auths_open',
      'auths_expiry',
      'settling',
      'hold',
      'unsent',
      'adjustments',
      'recaptures_held',
      'recaptures_surfaced',
      'held_psp_retry',
      'rejected',
      'dismissed',
    ],
    ['id', 'cutoff', 'require_reconciled', 'reconciled_through', 'has_order', 'related', 'companions'],
  ),
  `
local id, cutoff = A.id, tonumber(A.cutoff)
local h = redis.call('HMGET', K.op, 'state', 'updated_at')
local state = h[1]
if not state then return {0, 'missing'} end
if state ~= 'SUCCEEDED' and state ~= 'FAILED' then return {0, 'live'} end
if tonumber(h[2] or '0') > cutoff then return {0, 'recent'} end
if redis.call('ZSCORE', K.auths_open, id) then return {0, 'open_authorization'} end
if redis.call('ZSCORE', K.settling, id) then return {0, 'settling'} end
if redis.call('ZSCORE', K.hold, id) then return {0, 'held'} end
if redis.call('ZSCORE', K.recaptures_held, id) or redis.call('ZSCORE', K.recaptures_surfaced, id) then return {0, 'recapture_awaiting_failure'} end
if A.require_reconciled == '1' then
  if A.reconciled_through == '' or tonumber(h[2] or '0') > tonumber(A.reconciled_through) then return {0, 'awaiting_reconciliation'} end
end
local c = cjson.decode(A.companions)
for _, e in ipairs(c.events) do
  if redis.call('ZSCORE', K.unsent, e.id) then return {0, 'unsent_event'} end
  if redis.call('ZSCORE', K.rejected, e.id) then return {0, 'set_aside_event'} end
end
local last = redis.call('ZRANGE', K.op_adjustments, -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) > cutoff then return {0, 'recent_adjustment'} end
local related = redis.call('SCARD', K.dependents)
if A.has_order == '1' then
  related = related + redis.call('ZCARD', K.order)
  if redis.call('ZSCORE', K.order, id) then related = related - 1 end
end
if related ~= tonumber(A.related) then return {0, 'changed'} end
for _, d in ipairs(c.dependents) do
  local ds = redis.call('HGET', XK(d), 'state')
  if ds and ds ~= 'SUCCEEDED' and ds ~= 'FAILED' then return {0, 'live_dependent'} end
end
for _, o in ipairs(c.order) do
  local os = redis.call('HGET', XK(o), 'state')
  if os and os ~= 'SUCCEEDED' and os ~= 'FAILED' then return {0, 'live_in_order'} end
end
-- An event's entries in the set-aside and dismissed indexes go with its record: left behind, they were counted by
-- pb_events_set_aside (its page on for ever) for an event nobody could list, resend or dismiss any more.
for _, e in ipairs(c.events) do
  redis.call('DEL', XK(e.k))
  redis.call('ZREM', K.rejected, e.id)
  redis.call('ZREM', K.dismissed, e.id)
end
for _, a in ipairs(c.adjustments) do
  redis.call('DEL', XK(a.k))
  redis.call('ZREM', K.adjustments, a.id)
end
for _, r in ipairs(c.refs) do
  if redis.call('GET', XK(r)) == id then redis.call('DEL', XK(r)) end
end
redis.call('DEL', K.op, K.log, K.dependents, K.op_adjustments)
if state == 'SUCCEEDED' then redis.call('ZREM', K.st_succeeded, id) else redis.call('ZREM', K.st_failed, id) end
redis.call('ZREM', K.created, id)
redis.call('ZREM', K.auths_expiry, id)
redis.call('ZREM', K.held_psp_retry, id)
local drop_payment = #c.payment == 2
if A.has_order == '1' then
  redis.call('ZREM', K.order, id)
  if redis.call('ZCARD', K.order) ~= 0 then drop_payment = false end
end
if drop_payment then redis.call('DEL', XK(c.payment[1]), XK(c.payment[2])) end
return {1}
`,
);

/**
 * Erasure of customer data from one operation: the payment as scrubbed (written only when it differs), the
 * history entries and outbox events that changed, each replaced only if it still holds what the caller read
 * (history is append-only and events never change, so positions and contents are stable), and the time of
 * the first erasure (`erased_at`, set once). patch JSON: {payment: string|null, stored_card: [old, new]|null
 * (the record's stored card, replaced only if it still holds old), history:[[index0, old, new]…], events:[[extra key position, old_params, new_params]…]} (the events' keys are extra keys). Returns {-1} for no such operation, else
 * {record changed 0|1, history entries changed, events changed}.
 */
export const ERASE_SCRIPT = new LuaScript(
  luaInputs(['op', 'log'], ['now', 'patch']),
  `
if redis.call('EXISTS', K.op) == 0 then return {-1} end
local p = cjson.decode(A.patch)
local rec = 0
if type(p.payment) == 'string' and redis.call('HGET', K.op, 'payment') ~= p.payment then
  redis.call('HSET', K.op, 'payment', p.payment)
  rec = 1
end
-- Only if it still holds what was read: a success recorded meanwhile wrote a card not scrubbed yet.
if type(p.stored_card) == 'table' and redis.call('HGET', K.op, 'stored_card') == p.stored_card[1] then
  redis.call('HSET', K.op, 'stored_card', p.stored_card[2])
  rec = 1
end
local hist = 0
for _, e in ipairs(p.history) do
  if redis.call('LINDEX', K.log, e[1]) == e[2] then
    redis.call('LSET', K.log, e[1], e[3])
    hist = hist + 1
  end
end
local ev = 0
for _, e in ipairs(p.events) do
  if redis.call('HGET', XK(e[1]), 'params') == e[2] then
    redis.call('HSET', XK(e[1]), 'params', e[3])
    ev = ev + 1
  end
end
redis.call('HSETNX', K.op, 'erased_at', A.now)
return {rec, hist, ev}
`,
);

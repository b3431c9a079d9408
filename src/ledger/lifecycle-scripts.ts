import { LuaScript, luaInputs } from '../redis/lua-script';

// The ledger's data lifecycle scripts: restore (import), expiry (retention) and erasure. None is on the hot
// path. Each acts on one operation atomically; the keys of the operation's companions (outbox events,
// adjustments, reference entries) are named by the caller (src/data-lifecycle/key-families.ts) and handed
// over as a JSON list, since their number varies.

/**
 * Restores one operation from a plan of writes (src/data-lifecycle/restore-plan.ts), unless its record
 * exists. Steps: `{c:'hset',k,f:[name,value…]}`, `{c:'rpush',k,v:[…]}`, `{c:'zadd',k,s,m}`,
 * `{c:'sadd',k,m:[…]}`, `{c:'set',k,v,at}` (at: absolute expiry ms, -1 none), `{c:'max',k,v}` (raise a
 * counter to v, never lower it). Returns 1 when restored, 0 when the record was already there.
 */
export const RESTORE_SCRIPT = new LuaScript(
  luaInputs(['op'], ['plan']),
  `
if redis.call('EXISTS', K.op) == 1 then return 0 end
for _, s in ipairs(cjson.decode(A.plan)) do
  if s.c == 'hset' then redis.call('HSET', s.k, unpack(s.f))
  elseif s.c == 'rpush' then
    for i = 1, #s.v, 500 do redis.call('RPUSH', s.k, unpack(s.v, i, math.min(i + 499, #s.v))) end
  elseif s.c == 'zadd' then redis.call('ZADD', s.k, s.s, s.m)
  elseif s.c == 'sadd' then redis.call('SADD', s.k, unpack(s.m))
  elseif s.c == 'set' then
    redis.call('SET', s.k, s.v)
    if tonumber(s.at) > 0 then redis.call('PEXPIREAT', s.k, s.at) end
  elseif s.c == 'max' then
    local cur = tonumber(redis.call('GET', s.k) or '0')
    if tonumber(s.v) > cur then redis.call('SET', s.k, s.v) end
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
 * `awaiting_reconciliation` (updated after its gateway's reconciled-through mark, when one is required),
 * `unsent_event` (the OMS has not been told yet), `recent_adjustment` (a chargeback or correction after
 * the cutoff restarts the clock), `live_dependent` (a capture or refund of it still moving),
 * `live_in_order` (another operation of its order is not terminal: the order's money is still moving).
 * Expired (reply `{1}`): the record, history, dependents, adjustment links and every index entry are
 * deleted with the companions' keys: events, adjustments, reference entries still naming it, and the
 * payment's sequence counters once its order has no operation left.
 * companions JSON: {events:[{k,id}], adjustments:[{k,id}], refs:[k], payment:[seq, sent]}.
 */
export const EXPIRE_SCRIPT = new LuaScript(
  luaInputs(['op', 'log', 'dependents', 'op_adjustments', 'order'], ['prefix', 'id', 'cutoff', 'require_reconciled', 'companions']),
  `
local P, id, cutoff = A.prefix, A.id, tonumber(A.cutoff)
local h = redis.call('HMGET', K.op, 'state', 'updated_at', 'payment')
local state = h[1]
if not state then return {0, 'missing'} end
if state ~= 'SUCCEEDED' and state ~= 'FAILED' then return {0, 'live'} end
if tonumber(h[2] or '0') > cutoff then return {0, 'recent'} end
if redis.call('ZSCORE', P .. 'auths:open', id) then return {0, 'open_authorization'} end
if redis.call('ZSCORE', P .. 'ops:settling', id) then return {0, 'settling'} end
if redis.call('ZSCORE', P .. 'retention:hold', id) then return {0, 'held'} end
if A.require_reconciled == '1' then
  local ok, p = pcall(cjson.decode, h[3] or '')
  local gw = (ok and type(p) == 'table' and type(p.gateway) == 'string') and p.gateway or ''
  local through = redis.call('GET', P .. 'retention:reconciled_through:' .. gw)
  if not through or tonumber(h[2] or '0') > tonumber(through) then return {0, 'awaiting_reconciliation'} end
end
local c = cjson.decode(A.companions)
for _, e in ipairs(c.events) do
  if redis.call('ZSCORE', P .. 'events:unsent', e.id) then return {0, 'unsent_event'} end
end
local last = redis.call('ZRANGE', K.op_adjustments, -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) > cutoff then return {0, 'recent_adjustment'} end
for _, d in ipairs(redis.call('SMEMBERS', K.dependents)) do
  local ds = redis.call('HGET', P .. 'op:' .. d, 'state')
  if ds and ds ~= 'SUCCEEDED' and ds ~= 'FAILED' then return {0, 'live_dependent'} end
end
if K.order ~= '' then
  for _, o in ipairs(redis.call('ZRANGE', K.order, 0, 999)) do
    local os = redis.call('HGET', P .. 'op:' .. o, 'state')
    if os and os ~= 'SUCCEEDED' and os ~= 'FAILED' then return {0, 'live_in_order'} end
  end
end
for _, e in ipairs(c.events) do redis.call('DEL', e.k) end
for _, a in ipairs(c.adjustments) do
  redis.call('DEL', a.k)
  redis.call('ZREM', P .. 'adjustments', a.id)
end
for _, r in ipairs(c.refs) do
  if redis.call('GET', r) == id then redis.call('DEL', r) end
end
redis.call('DEL', K.op, K.log, K.dependents, K.op_adjustments)
redis.call('ZREM', P .. 'ops:state:' .. state, id)
redis.call('ZREM', P .. 'ops:created', id)
redis.call('ZREM', P .. 'auths:expiry', id)
if K.order ~= '' then
  redis.call('ZREM', K.order, id)
  if redis.call('ZCARD', K.order) == 0 and c.payment and #c.payment == 2 then redis.call('DEL', c.payment[1], c.payment[2]) end
elseif c.payment and #c.payment == 2 then
  redis.call('DEL', c.payment[1], c.payment[2])
end
return {1}
`,
);

/**
 * Erasure of customer data from one operation: the payment as scrubbed (written only when it differs), the
 * history entries and outbox events that changed, each replaced only if it still holds what the caller read
 * (history is append-only and events never change, so positions and contents are stable), and the time of
 * the first erasure (`erased_at`, set once). patch JSON: {payment: string|null, history:[[index0, old,
 * new]…], events:[[key, old_params, new_params]…]}. Returns {-1} for no such operation, else
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
local hist = 0
for _, e in ipairs(p.history) do
  if redis.call('LINDEX', K.log, e[1]) == e[2] then
    redis.call('LSET', K.log, e[1], e[3])
    hist = hist + 1
  end
end
local ev = 0
for _, e in ipairs(p.events) do
  if redis.call('HGET', e[1], 'params') == e[2] then
    redis.call('HSET', e[1], 'params', e[3])
    ev = ev + 1
  end
end
redis.call('HSETNX', K.op, 'erased_at', A.now)
return {rec, hist, ev}
`,
);

import { LuaScript, luaInputs } from '../redis/lua-script';

/**
 * The operation a PSP reference names, for a dependent command whose `gateway_key` is the PSP's reference
 * rather than our operation id (the OMS usually names an authorization by what our SUCCESS event returned).
 * One round trip, only on that path.
 *
 * Inputs: no keys (all under the prefix); the prefix P, the gateway, the reference, the dependent's id to
 * register ('' for none). `P ref:<gateway>:<reference>` holds the operation that last indexed the reference: an
 * authorization, or (Stripe answers a capture or cancel with the PaymentIntent id) one of its dependents.
 * A non-authorizing operation is followed back once to the authorization it names: its `authorization_id`
 * (set when it closed one), else its `authorization_key` or `gateway_key` as our operation id or as a PSP
 * reference of the same gateway. When an authorization is reached, the dependent is registered among its
 * dependents, as `Ledger.authorizationView` does.
 * Returns {the operation reached as a flat HGETALL ({} for none), 1 when it is an authorization else 0,
 * the other dependents as id, state, command, confirmed_amount ('' for none), payment JSON, …}.
 */
export const AUTHORIZATION_BY_REFERENCE_SCRIPT = new LuaScript(
  luaInputs([], ['prefix', 'gateway', 'reference', 'dependent']),
  `
local P, gw, dep = A.prefix, A.gateway, A.dependent
local authorizing = {authorize = true, sale = true, revalidate = true}
local function load(id)
  if not id then return nil end
  local flat = redis.call('HGETALL', P .. 'op:' .. id)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return flat, h
end
local id = redis.call('GET', P .. 'ref:' .. gw .. ':' .. A.reference)
if not id then return {{}, 0, {}} end
local flat, h = load(id)
if not flat then return {{}, 0, {}} end
if not authorizing[h.command] then
  local follow = h.authorization_id
  if not follow then
    local key = h.authorization_key
    if not key and h.payment then
      local ok, p = pcall(cjson.decode, h.payment)
      if ok and type(p) == 'table' and type(p.gateway_key) == 'string' then key = p.gateway_key end
    end
    if key then
      if redis.call('EXISTS', P .. 'op:' .. key) == 1 then follow = key else follow = redis.call('GET', P .. 'ref:' .. gw .. ':' .. key) end
    end
  end
  if follow and follow ~= id then
    local f2, h2 = load(follow)
    if f2 and authorizing[h2.command] then flat, h, id = f2, h2, follow end
  end
end
if not authorizing[h.command] then return {flat, 0, {}} end
if dep == '' then return {flat, 1, {}} end
local deps = P .. 'op:' .. id .. ':dependents'
redis.call('SADD', deps, dep)
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', deps)) do
  if m ~= dep then
    local r = redis.call('HMGET', P .. 'op:' .. m, 'state', 'command', 'confirmed_amount', 'payment')
    if r[1] and r[2] and r[4] then
      out[#out + 1] = m; out[#out + 1] = r[1]; out[#out + 1] = r[2]; out[#out + 1] = r[3] or ''; out[#out + 1] = r[4]
    end
  end
end
return {flat, 1, out}
`,
);

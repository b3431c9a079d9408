import { LuaScript, luaInputs } from '../redis/lua-script';
import { CLOSE_AUTHORIZATION_LUA } from './authorization-index';

/** Commands whose success creates an authorization later commands may name (by our operation id or its PSP reference). */
export const AUTHORIZING: ReadonlySet<string> = new Set(['authorize', 'sale', 'revalidate']);

/**
 * From the operation a PSP reference names back to the authorization it belongs to, for a dependent command
 * whose `gateway_key` is the PSP's reference rather than our operation id (the OMS usually names an
 * authorization by what our SUCCESS event returned). `S ref:<gateway>:<reference>` holds the operation that
 * last indexed the reference: an authorization, or (Stripe answers a capture or cancel with the PaymentIntent
 * id) one of its dependents. A non-authorizing operation is followed back once to the authorization it names:
 * its `authorization_id` (set with its attempt when delivery resolved it, and when it closed one), else its
 * `authorization_key` or `gateway_key` as our operation id or as a PSP reference of the same gateway. Each step is one read of one operation (they may
 * live in different shards, so no single script can take them together); only on that path.
 * @returns the authorization reached (`authorization: true`), else the operation the reference named.
 */
export async function followToAuthorization(
  named: { id: string; hash: Readonly<Record<string, string>> },
  lookup: { hash(id: string): Promise<Readonly<Record<string, string>> | null>; findByReference(reference: string): Promise<string | null> },
): Promise<{ id: string; hash: Readonly<Record<string, string>>; authorization: boolean }> {
  if (AUTHORIZING.has(named.hash.command)) return { ...named, authorization: true };
  let follow: string | null | undefined = named.hash.authorization_id;
  if (!follow) {
    const key = named.hash.authorization_key ?? gatewayKeyOf(named.hash.payment);
    if (key) follow = (await lookup.hash(key)) ? key : await lookup.findByReference(key);
  }
  if (follow && follow !== named.id) {
    const reached = await lookup.hash(follow);
    if (reached && AUTHORIZING.has(reached.command)) return { id: follow, hash: reached, authorization: true };
  }
  return { ...named, authorization: false };
}

function gatewayKeyOf(json: string | undefined): string | undefined {
  try {
    const p = JSON.parse(json ?? '') as { gateway_key?: unknown };
    return typeof p.gateway_key === 'string' ? p.gateway_key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Registers `A.dependent` ('' for none) among the authorization's dependents, first time only, with its
 * registration order: field `dseq:<dependent>` of the authorization's own hash, from its counter
 * `dependents_seq` (the hash is the record, so the order lives and goes with it). Both scripts below share it.
 */
const REGISTER_DEPENDENT_LUA = `
if A.dependent ~= '' and redis.call('SADD', K.dependents, A.dependent) == 1 then
  redis.call('HSET', K.op, 'dseq:' .. A.dependent, redis.call('HINCRBY', K.op, 'dependents_seq', 1))
end
`;

/**
 * The order each of `members` was registered in (`dseq:<id>` of the authorization's hash; 0 for one
 * registered before the order was kept), as a Lua list parallel to `members`.
 */
const REGISTRATION_ORDER_LUA = `
local function registered(members)
  local order = {}
  for i, m in ipairs(members) do order[i] = tonumber(redis.call('HGET', K.op, 'dseq:' .. m) or '0') end
  return order
end
`;

/**
 * Registers the dependent ('' for none) among an authorization's dependents and lists them all, with the
 * order each was registered in: what `Ledger.authorizationByReference` reads once it reached the
 * authorization. Keys: the authorization's hash and its dependents set. Reply `{members, orders}`.
 */
export const DEPENDENTS_SCRIPT = new LuaScript(
  luaInputs(['op', 'dependents'], ['dependent']),
  `
${REGISTER_DEPENDENT_LUA}
${REGISTRATION_ORDER_LUA}
local members = redis.call('SMEMBERS', K.dependents)
return {members, registered(members)}
`,
);

/**
 * An operation and, when it authorizes, the dependent registered among its dependents ('' for none) and
 * all of them listed with their registration order, in one round trip: what a capture or refund needs to
 * check its authorization, named by our operation id or by the PSP reference our SUCCESS event returned.
 * Registering and reading in one script orders concurrent dependents: of two, the later registered always
 * sees the earlier. Any other operation (one the reference index holds because it took the reference over,
 * as a Stripe capture does) is returned as read, its set left alone. Keys: the operation's hash and
 * dependents set. Reply `{flat HGETALL, members, 1, orders}` for an authorization, `{flat, {}, 0, {}}`
 * otherwise, `{{}, {}, 0, {}}` when there is no such operation.
 */
export const AUTHORIZATION_VIEW_SCRIPT = new LuaScript(
  luaInputs(['op', 'dependents'], ['dependent']),
  // The record is read once, first, and the registration's two fields are written into that copy as they are
  // written to the hash: the command, the counter and every member's order come from it, not from an HGET, an
  // HINCRBY and an HGET per member (the same reply in four commands instead of six or more; the script is atomic).
  `
local authorizing = {${[...AUTHORIZING].map((c) => `[${JSON.stringify(c)}] = true`).join(', ')}}
local flat = redis.call('HGETALL', K.op)
local at = {}
for i = 1, #flat, 2 do at[flat[i]] = i + 1 end
local function field(name) if at[name] then return flat[at[name]] end return nil end
local command = field('command')
if not command then return {{}, {}, 0, {}} end
if not authorizing[command] then return {flat, {}, 0, {}} end
if A.dependent ~= '' and redis.call('SADD', K.dependents, A.dependent) == 1 then
  local n = tostring((tonumber(field('dependents_seq')) or 0) + 1)
  redis.call('HSET', K.op, 'dependents_seq', n, 'dseq:' .. A.dependent, n)
  for _, name in ipairs({'dependents_seq', 'dseq:' .. A.dependent}) do
    if not at[name] then
      flat[#flat + 1] = name
      flat[#flat + 1] = n
      at[name] = #flat
    else
      flat[at[name]] = n
    end
  end
end
local members = redis.call('SMEMBERS', K.dependents)
local order = {}
for i, m in ipairs(members) do order[i] = tonumber(field('dseq:' .. m) or '0') end
return {flat, members, 1, order}
`,
);

/** See `CLOSE_AUTHORIZATION_LUA`. */
export const CLOSE_AUTHORIZATION_SCRIPT = new LuaScript(
  luaInputs(['auth_op', 'auths_open', 'auths_expiry'], ['auth', 'closer', 'named_by_ref']),
  CLOSE_AUTHORIZATION_LUA,
);

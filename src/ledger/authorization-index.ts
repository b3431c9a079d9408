/**
 * The authorization lifecycle indexes, kept by the ledger's transition scripts in the same atomic step as
 * the move to SUCCEEDED (no extra round trip on the hot path). Under the ledger prefix P:
 *   P auths:expiry   sorted set of authorization ids still to be warned about; score = expires_at (ms)
 *   P auths:open     sorted set of authorization ids neither captured, voided nor replaced; score = when
 *                    they become orphans (`orphan_at`, ms; +inf: never by age): the orphan sweep's source
 * An authorization enters both when its transition carries `expires_at`; a capture, cancel or revalidate
 * whose transition carries `authorization_key` (the `gateway_key` it named: our operation id, or the PSP's
 * reference, found through `P ref:<authorization_ref>`) takes it out of both, sets its `closed_by`, and
 * records it as the closing operation's `authorization_id`.
 *
 * A Lua function `pb_authorization_index(P, id, fields, own_ref_key, own_ref_before)`: `fields` is the flat
 * name/value list the transition wrote; `own_ref_key` the reference key the same transition set ('' for
 * none) and `own_ref_before` what it held before (false for nothing).
 */
export const AUTHORIZATION_INDEX_LUA = `
local function pb_authorization_index(P, id, fields, own_ref_key, own_ref_before)
  local expires, orphan, key, ref
  for i = 1, #fields, 2 do
    local f = fields[i]
    if f == 'expires_at' then expires = fields[i + 1]
    elseif f == 'orphan_at' then orphan = fields[i + 1]
    elseif f == 'authorization_key' then key = fields[i + 1]
    elseif f == 'authorization_ref' then ref = fields[i + 1] end
  end
  if key then
    local auth = key
    if not redis.call('ZSCORE', P .. 'auths:open', key) and ref then
      -- This very transition may have just taken over that reference (a Stripe capture answers with the
      -- PaymentIntent id the authorization holds): then its previous holder is the authorization.
      if own_ref_key == P .. 'ref:' .. ref then auth = own_ref_before else auth = redis.call('GET', P .. 'ref:' .. ref) end
    end
    if auth and auth ~= id then
      redis.call('ZREM', P .. 'auths:open', auth)
      redis.call('ZREM', P .. 'auths:expiry', auth)
      if redis.call('EXISTS', P .. 'op:' .. auth) == 1 then redis.call('HSET', P .. 'op:' .. auth, 'closed_by', id) end
      -- Which authorization it closed, for a later command that finds this operation by the reference it
      -- took over (authorization-by-reference.ts).
      redis.call('HSET', P .. 'op:' .. id, 'authorization_id', auth)
    end
  end
  if expires then
    redis.call('ZADD', P .. 'auths:expiry', expires, id)
    redis.call('ZADD', P .. 'auths:open', orphan or '+inf', id)
  end
end
`;

/** Key of the expiry index (see `AUTHORIZATION_INDEX_LUA`). */
export function expiryIndexKey(prefix: string): string {
  return `${prefix}auths:expiry`;
}

/** Key of the open-authorizations index (see `AUTHORIZATION_INDEX_LUA`). */
export function openIndexKey(prefix: string): string {
  return `${prefix}auths:open`;
}

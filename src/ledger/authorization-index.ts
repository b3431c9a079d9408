/**
 * The authorization lifecycle indexes, kept by the ledger's transition scripts in the same atomic step as
 * the move to SUCCEEDED (no extra round trip on the hot path). Per shard S (src/redis/key-layout.ts):
 *   S auths:expiry   sorted set of authorization ids still to be warned about; score = expires_at (ms)
 *   S auths:open     sorted set of authorization ids neither captured, voided nor replaced; score = when
 *                    they become orphans (`orphan_at`, ms; +inf: never by age): the orphan sweep's source
 * An authorization enters both when its transition carries `expires_at`; a capture, cancel or revalidate
 * whose transition carries `authorization_key` (the `gateway_key` it named: our operation id, or the PSP's
 * reference, found through `S ref:<gateway>:<reference>`) takes it out of both, sets its `closed_by`, and
 * records it as the closing operation's `authorization_id`.
 *
 * A Lua function `pb_authorization_index(id, fields, own_ref_before, own_authorization_id)` for the transition script, reading
 * only declared keys (`K.auths_open`, `K.auths_expiry`, `K.close_op`: the named authorization's record when
 * the name is our operation id, `K.close_ref`: the reference entry of the name, `K.close_auth`: the record of
 * `A.close_id`, the authorization the caller resolved a PSP reference to, `K.ref`: the reference entry this
 * very transition set, which held `own_ref_before` before). `fields` is the flat name/value list the
 * transition wrote; `own_authorization_id` the record's `authorization_id` as the transition read it (false for none; one in `fields` wins).
 * `pb_closing_wrote_op` says afterwards whether it wrote to the transition's own record.
 * Returns what is left for the ledger to do outside the script: '' (nothing), the authorization's id when it
 * was found through a reference entry and is not the one the caller resolved in this shard (its `closed_by`
 * is set in its own record, a key the script could not declare beforehand), or `?` followed by the name when
 * neither the record nor the reference entry is in this shard (an authorization of another order or payment
 * anchor: closed in its own shard). The caller's id only lets the script reach the record: which
 * authorization closes is still what the reference entry says.
 */
export const AUTHORIZATION_INDEX_LUA = `
-- Whether closing wrote to the transition's own record (its authorization_id): the transition then reads it back.
local pb_closing_wrote_op = false
local function pb_authorization_index(id, fields, own_ref_before, own_authorization_id)
  local expires, orphan, key
  for i = 1, #fields, 2 do
    local f = fields[i]
    if f == 'expires_at' then expires = fields[i + 1]
    elseif f == 'orphan_at' then orphan = fields[i + 1]
    elseif f == 'authorization_key' then key = fields[i + 1]
    elseif f == 'authorization_id' then own_authorization_id = fields[i + 1] end
  end
  local left = ''
  if key and A.close == '1' then
    local auth, own = nil, false
    if redis.call('ZSCORE', K.auths_open, key) then
      auth, own = key, true
    else
      -- This very transition may have just taken over that reference (a Stripe capture answers with the
      -- PaymentIntent id the authorization holds): then its previous holder is the authorization.
      if A.has_ref == '1' and K.ref == K.close_ref then auth = own_ref_before else auth = redis.call('GET', K.close_ref) end
      if auth == key then own = true end
    end
    if auth and auth ~= id then
      redis.call('ZREM', K.auths_open, auth)
      redis.call('ZREM', K.auths_expiry, auth)
      if own then
        if redis.call('EXISTS', K.close_op) == 1 then redis.call('HSET', K.close_op, 'closed_by', id) end
      elseif auth == A.close_id and redis.call('EXISTS', K.close_auth) == 1 then
        -- Found through the reference entry, and it is the authorization the caller resolved: its record
        -- is declared, so it is closed here rather than by a second script.
        redis.call('HSET', K.close_auth, 'closed_by', id)
      else
        left = auth
      end
      -- Which authorization it closed, for a later command that finds this operation by the reference it
      -- took over (Ledger.authorizationByReference); not written again when the record holds it already (the
      -- delivery resolved it and wrote it with the attempt).
      if own_authorization_id ~= auth then
        redis.call('HSET', K.op, 'authorization_id', auth)
        pb_closing_wrote_op = true
      end
    elseif not auth and redis.call('EXISTS', K.close_op) == 0 then
      left = '?' .. key
    end
  end
  if expires then
    redis.call('ZADD', K.auths_expiry, expires, id)
    redis.call('ZADD', K.auths_open, orphan or '+inf', id)
  end
  return left
end
`;

/**
 * Finishes closing an authorization in its own shard (see `AUTHORIZATION_INDEX_LUA`'s leftovers): out of
 * both indexes, `closed_by` set when its record exists. Keys: the authorization's record, its shard's
 * open and expiry indexes.
 */
export const CLOSE_AUTHORIZATION_LUA = `
local was_open = redis.call('ZREM', K.auths_open, A.auth)
redis.call('ZREM', K.auths_expiry, A.auth)
if redis.call('EXISTS', K.auth_op) == 0 then return 0 end
-- A later command naming an authorization already closed does not take its closing over.
if was_open == 1 or A.named_by_ref == '1' or not redis.call('HGET', K.auth_op, 'closed_by') then redis.call('HSET', K.auth_op, 'closed_by', A.closer) end
return 1
`;

import { LuaScript, luaInputs } from './lua-script';

/**
 * A claim: a string key that names who holds something (an operation id's shard, a split refund id's split
 * and amount, a lock's token), set only where none is, for a time.
 */

/** Claims `claim` for `holder` unless it is held: '' when this call claimed it, else what holds it. Expires after `ttl_s` seconds. */
export const CLAIM_KEY_SCRIPT = new LuaScript(
  luaInputs(['claim'], ['holder', 'ttl_s']),
  `
local held = redis.call('GET', K.claim)
if held then return held end
redis.call('SET', K.claim, A.holder, 'EX', A.ttl_s)
return ''
`,
);

/** Drops `claim` if `holder` holds it (another's claim stays): 1 when it was dropped. */
export const RELEASE_KEY_SCRIPT = new LuaScript(
  luaInputs(['claim'], ['holder']),
  `
if redis.call('GET', K.claim) == A.holder then return redis.call('DEL', K.claim) end
return 0
`,
);

import { LuaScript, luaInputs } from './lua-script';
import { RedisClient } from './redis-connection';
import { sendFlatArgs } from './flat-args-command';

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

/**
 * Claims `claim` for `holder` unless it is held, as {@link CLAIM_KEY_SCRIPT} does: '' when this call claimed it,
 * else what holds it. Expires after `ttlS` seconds. A free claim (every new operation's id) is one `SET NX EX`,
 * not a script running a GET and a SET (two commands of the ~29 a payment command cost Redis, docs/BENCHMARKS.md,
 * "Redis commands a payment command runs, by script"); only a held one is read, by the script, which also claims it when it
 * was freed or expired between the two.
 */
export async function claimKey(redis: RedisClient, claim: string, holder: string | number, ttlS: number): Promise<string> {
  // Without ioredis's argument copy and concatenated command text: one of these a payment command (`sendFlatArgs`).
  if ((await sendFlatArgs(redis, 'set', [claim, String(holder), 'EX', String(ttlS), 'NX'])) === 'OK') return '';
  return (await CLAIM_KEY_SCRIPT.run(redis, { keys: { claim }, args: { holder, ttl_s: ttlS } })) as string;
}

/** Drops `claim` if `holder` holds it (another's claim stays): 1 when it was dropped. */
export const RELEASE_KEY_SCRIPT = new LuaScript(
  luaInputs(['claim'], ['holder']),
  `
if redis.call('GET', K.claim) == A.holder then return redis.call('DEL', K.claim) end
return 0
`,
);

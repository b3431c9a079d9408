import { RedisClient } from '../redis/redis-connection';
import { RateLimit } from '../config/config';
import { LuaScript, luaInputs } from '../redis/lua-script';

/**
 * Takes up to ARGV[1] tokens from every bucket KEYS[i] (rate ARGV[2i], capacity ARGV[2i+1]) at once, or none.
 * A bucket is a hash {t = tokens, at = ms of the last refill}; the clock is Redis' own (TIME), so every
 * process shares it. Granted = the whole tokens every bucket can spare, capped at the request.
 * Returns {granted, 0, 0} or, when a bucket is short, {0, ms until one token is free, index of that bucket}.
 * Keys expire once they would be full again (an idle bucket costs nothing).
 */
const TAKE = new LuaScript(
  luaInputs([], []),
  `
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local want = tonumber(ARGV[1])
local tokens = {}
local grant = want
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 't', 'at')
  local t = tonumber(state[1])
  local at = tonumber(state[2])
  if t == nil or at == nil then
    t = burst
  else
    local elapsed = now - at
    if elapsed < 0 then elapsed = 0 end
    t = math.min(burst, t + elapsed * rate / 1000)
  end
  tokens[i] = t
  local whole = math.floor(t)
  if whole < grant then grant = whole end
end
if grant < 1 then
  local wait = 0
  local which = 1
  for i = 1, #KEYS do
    local rate = tonumber(ARGV[2 * i])
    local need = math.ceil((1 - tokens[i]) * 1000 / rate)
    if need > wait then
      wait = need
      which = i
    end
  end
  return {0, math.max(wait, 1), which - 1}
end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local left = tokens[i] - grant
  redis.call('HSET', KEYS[i], 't', tostring(left), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - left) * 1000 / rate) + 1000)
end
return {grant, 0, 0}
`,
  true,
);

/** One bucket to take from: its Redis key and its limit. */
export interface Bucket {
  key: string;
  limit: RateLimit;
}

/** What one take got: tokens granted (0 when refused), and when refused how long to wait and which bucket was short. */
export interface TakeResult {
  granted: number;
  /** Milliseconds until the short bucket has a token (0 when granted). */
  retryAfterMs: number;
  /** Index in the buckets given of the bucket that refused (0 when granted). */
  limitedBy: number;
}

/**
 * Token buckets in Redis, one Lua script per take (atomic over all the buckets given: a command never takes
 * from the channel's bucket and is then refused by the account's). On Redis Cluster every bucket key must
 * share a hash slot: callers build keys with one hash tag.
 */
export class TokenBuckets {
  constructor(private readonly redis: RedisClient) {}

  /** Takes up to `want` tokens (at least one, or none) from every bucket. */
  async take(buckets: readonly Bucket[], want = 1): Promise<TakeResult> {
    const args: (string | number)[] = [want];
    for (const b of buckets) args.push(b.limit.perS, b.limit.burst);
    // An EVALSHA naming its keys, so a cluster client routes it by them. A command defined with a variable key
    // count (first argument: the count) misstates its keys to ioredis' auto-pipelining, which then failed every
    // command sent in the same tick ("same slots allocation group").
    const [granted, retryAfterMs, limitedBy] = (await TAKE.run(
      this.redis,
      { keys: {}, args: {} },
      args,
      buckets.map((b) => b.key),
    )) as [number, number, number];
    return { granted: Number(granted), retryAfterMs: Number(retryAfterMs), limitedBy: Number(limitedBy) };
  }
}

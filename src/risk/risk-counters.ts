import { createHmac } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { Payment } from '../contracts/payment-command';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { RiskConfig, RiskCounts, VelocityDimension, needsTokenCheck, velocityCounter, velocityValue } from './risk-rules';

/**
 * Counts, in ONE script: KEYS[1] the operation's mark, KEYS[2..] one fixed-window counter per velocity
 * counter (`velocityCounter`) that has a value, then (optional) the token's seen-key. ARGV: mark TTL (ms), then
 * per counter its window TTL (ms), then the token memory (ms) when a token key is given. A mark already present
 * returns what was counted the first time (a retry counts nothing twice).
 */
const COUNT_BODY = `
local held = redis.call('GET', KEYS[1])
if held then return held end
local out = {}
local counters = tonumber(ARGV[2])
for i = 1, counters do
  local key = KEYS[i + 1]
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[i + 2]) end
  table.insert(out, n)
end
if #KEYS > counters + 1 then
  local fresh = redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', ARGV[counters + 3])
  if fresh then table.insert(out, 'new') else table.insert(out, 'seen') end
end
local reply = table.concat(out, ',')
redis.call('SET', KEYS[1], reply, 'PX', ARGV[1])
return reply
`;

const scripts = new Map<number, LuaScript<string, string>>();
function scriptFor(keyCount: number): LuaScript<string, string> {
  let s = scripts.get(keyCount);
  if (!s) {
    s = new LuaScript(
      luaInputs(
        Array.from({ length: keyCount }, (_, i) => (i === 0 ? 'mark' : `k${i}`)),
        [],
      ),
      COUNT_BODY,
      true,
    );
    scripts.set(keyCount, s);
  }
  return s;
}

/** How long an operation's count mark lives: longer than any delivery retry of it. */
const MARK_TTL_MS = 7 * 86400 * 1000;

/**
 * The Redis side of the risk rules: velocity per customer, token, IP and e-mail in fixed windows, and
 * whether a token is new. Values are never stored: keys carry an HMAC-SHA256 of them (keyed by
 * `risk.hash_key`), so no e-mail address, IP or token can be read back from Redis. All keys share the
 * hash tag `{risk}` (one script touches several; one slot on Redis Cluster).
 */
export class RiskCounters {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly config: RiskConfig,
    private readonly hashKey: string,
  ) {}

  /** The keyed hash of a value, as it appears in keys (hex, 32 characters: 128 bits). */
  hashed(by: VelocityDimension, value: string): string {
    return createHmac('sha256', this.hashKey).update(`${by}\u0000${value}`).digest('hex').slice(0, 32);
  }

  /**
   * Counts this operation (once) and says what its counters stand at, per counter (`velocityCounter`: limits of one
   * dimension and window share one, counted once). No Redis call when nothing applies.
   */
  async count(operationId: string, payment: Payment, now = Date.now()): Promise<RiskCounts> {
    const keys = [`${this.prefix}{risk}:op:${operationId}`];
    const args: (string | number)[] = [MARK_TTL_MS, 0];
    const names: string[] = [];
    for (const limit of this.config.velocity) {
      const value = velocityValue(payment, limit.by);
      if (value === undefined) continue;
      const name = velocityCounter(limit);
      if (names.includes(name)) continue;
      const window = Math.floor(now / limit.windowMs);
      keys.push(`${this.prefix}{risk}:v:${limit.by}:${limit.windowMs}:${this.hashed(limit.by, value)}:${window}`);
      args.push(limit.windowMs - (now % limit.windowMs) + 1000);
      names.push(name);
    }
    args[1] = names.length;
    const token = needsTokenCheck(this.config, payment) && payment.gateway_key ? payment.gateway_key : undefined;
    if (token !== undefined) {
      keys.push(`${this.prefix}{risk}:tok:${this.hashed('token', token)}`);
      args.push(this.config.tokenMemoryMs);
    }
    if (keys.length === 1) return { velocity: {} };
    const script = scriptFor(keys.length);
    const reply = String(await script.run(this.redis, { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} }, args)).split(',');
    // Each limit reads its own counter's count: never another window's (a day's count against an hour's limit).
    const velocity: RiskCounts['velocity'] = {};
    names.forEach((name, i) => (velocity[name] = Number(reply[i])));
    return { velocity, ...(token !== undefined ? { newToken: reply[names.length] === 'new' } : {}) };
  }
}

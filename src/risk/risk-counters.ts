import { createHmac } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { Payment } from '../contracts/payment-command';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { RiskConfig, RiskCounts, VelocityDimension, VelocityLimit, needsTokenCheck, velocityCounter, velocityKeep, velocityValue } from './risk-rules';

/**
 * Counts, in ONE script: KEYS[1] the operation's mark, KEYS[2..] one sliding-window counter (a sorted set: members the
 * operation ids, scores the time counted) per velocity counter that has a value, then (optional) the token's seen-key.
 * ARGV: mark TTL (ms), the number of counters, the operation id, now (ms), per counter the cut-off (now - window: a
 * member scored at or before it is outside), how many members to keep, the key's TTL (ms) and its name
 * (`velocityCounter`), then the token memory (ms) when a token key is given, then per limit with a value (in
 * configuration order) the number of its counter. Per counter: drop what left the window, add the operation (NX: a
 * member already there keeps its first time), count, trim to the newest `keep` (the largest `max_count` of its limits,
 * plus one: any count above that `max_count` is still read as above it, and a flood cannot grow the set), expire the key
 * a window after its last count. The reply, kept as the mark, first says what the release before wrote (one count per
 * limit with a value, then `new`/`seen`), which that release reads by position during a rolling upgrade, then names what
 * it counted (`customer:3600000=3,new_token=new`): a mark already present returns what was counted the first time (a
 * retry counts nothing twice), and is read by name, so a retry under another configuration (limits added, removed or
 * reordered) never reads one counter's count as another's.
 */
const COUNT_BODY = `
local held = redis.call('GET', KEYS[1])
if held then return held end
local counts = {}
local named = {}
local counters = tonumber(ARGV[2])
local member, now = ARGV[3], ARGV[4]
for i = 1, counters do
  local key = KEYS[i + 1]
  local at = 4 * i + 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[at])
  redis.call('ZADD', key, 'NX', now, member)
  local n = redis.call('ZCARD', key)
  local keep = tonumber(ARGV[at + 1])
  if n > keep then redis.call('ZREMRANGEBYRANK', key, 0, n - keep - 1) end
  redis.call('PEXPIRE', key, ARGV[at + 2])
  counts[i] = n
  table.insert(named, ARGV[at + 3] .. '=' .. n)
end
local positions = 4 * counters + 5
local token
if #KEYS > counters + 1 then
  if redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', ARGV[positions]) then token = 'new' else token = 'seen' end
  positions = positions + 1
  table.insert(named, 'new_token=' .. token)
end
local out = {}
for a = positions, #ARGV do table.insert(out, counts[tonumber(ARGV[a])]) end
if token then table.insert(out, token) end
for _, part in ipairs(named) do table.insert(out, part) end
local reply = table.concat(out, ',')
redis.call('SET', KEYS[1], reply, 'PX', ARGV[1])
return reply
`;

/** The name the seen-token answer goes by in a count's reply. */
const NEW_TOKEN = 'new_token';

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
 * How long a sliding counter outlives its window after its last count: scores are the counting worker's clock, the
 * expiry Redis's, so a member scored by a worker running a little ahead stays inside the other workers' windows a
 * little longer than `window_ms`.
 */
const COUNTER_TTL_MARGIN_MS = 1000;

/**
 * The Redis side of the risk rules: velocity per customer, token, IP and e-mail in sliding windows (at most
 * `max_count` within any `window_ms`), and whether a token is new. Values are never stored: keys carry an HMAC-SHA256
 * of them (keyed by `risk.hash_key`), so no e-mail address, IP or token can be read back from Redis. All keys share
 * the hash tag `{risk}` (one script touches several; one slot on Redis Cluster).
 */
export class RiskCounters {
  /** Per counter (`velocityCounter`), how many members its set keeps: the largest `max_count` of its limits, plus one. */
  private readonly keep = new Map<string, number>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly config: RiskConfig,
    private readonly hashKey: string,
  ) {
    for (const limit of config.velocity) this.keep.set(velocityCounter(limit), velocityKeep(config, velocityCounter(limit)));
  }

  /** The keyed hash of a value, as it appears in keys (hex, 32 characters: 128 bits). */
  hashed(by: VelocityDimension, value: string): string {
    return createHmac('sha256', this.hashKey).update(`${by}\u0000${value}`).digest('hex').slice(0, 32);
  }

  /**
   * The sorted set counting `value` for a counter. Its own key family (`sliding`), never the release before's
   * fixed-window strings (`v:<by>:<window>:<hash>:<window index>`), so neither release meets the other's type.
   */
  counterKey(limit: Pick<VelocityLimit, 'by' | 'windowMs'>, value: string): string {
    return `${this.prefix}{risk}:sliding:${limit.by}:${limit.windowMs}:${this.hashed(limit.by, value)}`;
  }

  /**
   * Counts this operation (once) and says what its counters stand at, per counter (`velocityCounter`: limits of one
   * dimension and window share one, counted once): the operations counted within `window_ms` up to `now`, this one
   * included. No Redis call when nothing applies.
   * @param now the time counted (ms since the epoch): the worker's clock, injectable for tests; every count of one
   *   call uses it, as the member's score and for the window's start.
   */
  async count(operationId: string, payment: Payment, now = Date.now()): Promise<RiskCounts> {
    const keys = [`${this.prefix}{risk}:op:${operationId}`];
    const args: (string | number)[] = [MARK_TTL_MS, 0, operationId, now];
    const names: string[] = [];
    // Per limit with a value, as the release before named counters wrote its marks (by position): a retry may read one.
    const positions: string[] = [];
    /** Per position, the number (1-based) of its counter: the script writes the release before's counts first. */
    const counterOf: number[] = [];
    for (const limit of this.config.velocity) {
      const value = velocityValue(payment, limit.by);
      if (value === undefined) continue;
      const name = velocityCounter(limit);
      positions.push(name);
      if (names.includes(name)) {
        counterOf.push(names.indexOf(name) + 1);
        continue;
      }
      counterOf.push(names.length + 1);
      keys.push(this.counterKey(limit, value));
      args.push(now - limit.windowMs, this.keep.get(name) ?? limit.maxCount + 1, limit.windowMs + COUNTER_TTL_MARGIN_MS, name);
      names.push(name);
    }
    args[1] = names.length;
    const token = needsTokenCheck(this.config, payment) && payment.gateway_key ? payment.gateway_key : undefined;
    if (token !== undefined) {
      keys.push(`${this.prefix}{risk}:tok:${this.hashed('token', token)}`);
      args.push(this.config.tokenMemoryMs);
    }
    args.push(...counterOf);
    if (keys.length === 1) return { velocity: {} };
    const script = scriptFor(keys.length);
    const reply = String(await script.run(this.redis, { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} }, args));
    return readCounts(reply, names, positions, token !== undefined);
  }
}

/**
 * The counts a reply (or an operation's mark) names, for the counters asked now; a counter it does not name (a limit
 * added since the operation was first counted) is left out: not counted, so not checked. Its parts without a name are
 * the release before's (read there by position) and skipped. A mark without names (written by the release before) is
 * read by `positions`, its counters' order then; its seen-token answer after them.
 */
function readCounts(reply: string, names: readonly string[], positions: readonly string[], tokenAsked: boolean): RiskCounts {
  const parts = reply.split(',');
  const velocity: RiskCounts['velocity'] = {};
  let newToken: boolean | undefined;
  if (parts.some((p) => p.includes('='))) {
    for (const part of parts.filter((p) => p.includes('='))) {
      const at = part.lastIndexOf('=');
      const [name, value] = [part.slice(0, at), part.slice(at + 1)];
      if (name === NEW_TOKEN) newToken = value === 'new';
      else if (names.includes(name)) velocity[name] = Number(value);
    }
  } else {
    // Limits alike each had a counter of their own there (the same key counted twice): the larger is the later count.
    positions.forEach((name, i) => (velocity[name] = Math.max(velocity[name] ?? 0, Number(parts[i]))));
    if (parts.length > positions.length) newToken = parts[positions.length] === 'new';
  }
  return { velocity, ...(tokenAsked && newToken !== undefined ? { newToken } : {}) };
}

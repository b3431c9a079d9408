import { RedisClient } from '../redis/redis-connection';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { CapAttempt, CapRefusal, CapRule, CounterCheck, amountRefusal, applicableRules, capsTag, counterChecks } from './cap-rules';

/** One route the caps are asked about, in order of preference (the routing stage's candidates). */
export interface CapCandidate extends CapAttempt {
  /** Index in the caller's candidate list, echoed back. */
  index: number;
}

/** What `reserve` decided. */
export type CapDecision =
  /** Nothing applies to this attempt (no rule for its gateway, merchant and currency): nothing was written. */
  | { kind: 'unlimited'; index: number; refusals: CapRefusal[] }
  /** Reserved on candidate `index` (earlier candidates were over a cap: `refusals`). */
  | { kind: 'reserved'; index: number; refusals: CapRefusal[] }
  /** This operation already holds a reservation on candidate `index` (a retry, a redelivery): nothing added. */
  | { kind: 'already'; index: number; refusals: CapRefusal[] }
  /** Every candidate is over a cap. */
  | { kind: 'over'; refusals: CapRefusal[] };

/**
 * The reservation mark of an operation: which counters it added to, and how much. Kept as long as a
 * monthly bucket (plus margin), so a late failure still releases exactly what was reserved.
 */
const MARK_TTL_S = 40 * 86400;

/**
 * Reserves: KEYS[1] the operation's mark, KEYS[2..] counters; ARGV: the mark's TTL, the candidate count,
 * then per candidate its gateway name and its number of checks, then per check: key index, add, max,
 * expire-at. The first candidate whose every counter stays within its max gets every counter incremented
 * (INCRBY, EXPIREAT) and the mark written, atomically: two concurrent attempts never both take the last
 * unit. A mark already present answers `already` (idempotent per operation).
 */
const RESERVE_BODY = `
local mark = KEYS[1]
local held = redis.call('GET', mark)
if held then return {'already', held} end
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local p = 3
local refusals = {}
for c = 1, n do
  local idx = ARGV[p]
  local checks = tonumber(ARGV[p + 1])
  p = p + 2
  local fits = true
  local first = p
  for i = 1, checks do
    local key = KEYS[tonumber(ARGV[p])]
    local add = tonumber(ARGV[p + 1])
    local max = tonumber(ARGV[p + 2])
    local cur = tonumber(redis.call('GET', key) or '0')
    if fits and cur + add > max then
      fits = false
      table.insert(refusals, idx .. '|' .. (i - 1) .. '|' .. cur)
    end
    p = p + 4
  end
  if fits then
    local parts = {idx}
    local q = first
    for i = 1, checks do
      local key = KEYS[tonumber(ARGV[q])]
      redis.call('INCRBY', key, ARGV[q + 1])
      redis.call('EXPIREAT', key, ARGV[q + 3])
      table.insert(parts, key .. '=' .. ARGV[q + 1])
      q = q + 4
    end
    redis.call('SET', mark, table.concat(parts, ','), 'EX', ttl)
    return {'reserved', idx, refusals}
  end
end
return {'over', '', refusals}
`;

/**
 * Releases: KEYS[1] the mark, KEYS[2..] the counters it names (read by the caller first, so every key is
 * declared). Subtracts what the mark says was added, from counters that still exist, and deletes the mark:
 * a second release finds no mark and does nothing. ARGV[1] is the mark as the caller read it; a mark that
 * changed meanwhile (released and reserved again) is left alone.
 */
const RELEASE_BODY = `
local held = redis.call('GET', KEYS[1])
if not held or held ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
redis.call('DEL', KEYS[1])
return 1
`;

/** Scripts by number of keys: each declares exactly the keys it touches. */
const reserveScripts = new Map<number, LuaScript<string, string>>();
const releaseScripts = new Map<number, LuaScript<string, string>>();

function scriptFor(cache: Map<number, LuaScript<string, string>>, keyCount: number, body: string): LuaScript<string, string> {
  let s = cache.get(keyCount);
  if (!s) {
    const names = Array.from({ length: keyCount }, (_, i) => (i === 0 ? 'mark' : `k${i}`));
    // Arguments are variadic (the rest list): the body reads ARGV by position.
    s = new LuaScript(luaInputs(names, []), body, true);
    cache.set(keyCount, s);
  }
  return s;
}

/**
 * Transaction caps kept in Redis: `reserve` checks every applicable limit of the candidates, in order, and
 * reserves on the first that fits, in ONE round trip (none when no rule applies); `release` gives a failed
 * attempt's reservation back (idempotent).
 */
export class CapReservations {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly rules: readonly CapRule[],
  ) {}

  /** Whether any cap is configured (no rule: the stage costs nothing). */
  get configured(): boolean {
    return this.rules.length > 0;
  }

  private markKey(currency: string, operationId: string): string {
    return `${capsTag(this.prefix, currency)}:res:${operationId}`;
  }

  /**
   * Reserves room for `operationId` on the first candidate within every cap. Candidates must share one
   * currency (one hash slot); the caller asks again per currency. Per-transaction bounds are checked
   * without Redis; counted limits in one script.
   */
  async reserve(operationId: string, candidates: readonly CapCandidate[], now = Date.now()): Promise<CapDecision> {
    const refusals: CapRefusal[] = [];
    const counted: Array<{ candidate: CapCandidate; checks: CounterCheck[] }> = [];
    for (const candidate of candidates) {
      const rules = applicableRules(this.rules, candidate);
      const bound = amountRefusal(rules, candidate);
      if (bound) {
        refusals.push(bound);
        continue;
      }
      const checks = counterChecks(this.prefix, rules, candidate, now);
      // A candidate no counted limit applies to can be taken at once, without Redis, if nothing before it needs Redis.
      if (checks.length === 0 && counted.length === 0) return { kind: 'unlimited', index: candidate.index, refusals };
      counted.push({ candidate, checks });
      if (checks.length === 0) break; // no later candidate can be reached
    }
    if (counted.length === 0) return { kind: 'over', refusals };
    const currency = counted[0].candidate.currency;
    if (counted.some((c) => c.candidate.currency !== currency)) throw new RangeError('cap candidates of one reservation must share a currency');

    const keys: string[] = [this.markKey(currency, operationId)];
    const keyIndex = new Map<string, number>();
    const args: (string | number)[] = [MARK_TTL_S, counted.length];
    for (const { candidate, checks } of counted) {
      args.push(String(candidate.index), checks.length);
      for (const check of checks) {
        let at = keyIndex.get(check.key);
        if (at === undefined) {
          keys.push(check.key);
          at = keys.length;
          keyIndex.set(check.key, at);
        }
        args.push(at, check.add, check.max, check.expireAt);
      }
    }
    const script = scriptFor(reserveScripts, keys.length, RESERVE_BODY);
    const values = { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} };
    const reply = (await script.run(this.redis, values, args)) as [string, string, string[]?];
    const byIndex = new Map(counted.map((c) => [String(c.candidate.index), c]));
    for (const r of reply[2] ?? []) {
      const [idx, check, current] = r.split('|');
      const c = byIndex.get(idx)?.checks[Number(check)];
      if (c) refusals.push({ cap: c.cap, limit: c.limit, max: c.max, current: Number(current) });
    }
    if (reply[0] === 'already') return { kind: 'already', index: Number(reply[1].split(',')[0]), refusals: [] };
    if (reply[0] === 'reserved') return { kind: 'reserved', index: Number(reply[1]), refusals };
    return { kind: 'over', refusals };
  }

  /**
   * Read-only: for each attempt, the first cap it would break now (per-transaction bounds, then the daily
   * and monthly counters as they stand), or null when it fits. Reserves nothing: what a checkout is offered
   * (payment method options), which the payment itself checks again atomically when it comes. One MGET per
   * currency (its counters share a hash slot); none when no counted limit applies.
   */
  async peek(attempts: readonly CapAttempt[], now = Date.now()): Promise<Array<CapRefusal | null>> {
    const result: Array<CapRefusal | null> = attempts.map(() => null);
    const counted: Array<{ at: number; checks: CounterCheck[] }> = [];
    attempts.forEach((attempt, at) => {
      const rules = applicableRules(this.rules, attempt);
      const bound = amountRefusal(rules, attempt);
      if (bound) result[at] = bound;
      else {
        const checks = counterChecks(this.prefix, rules, attempt, now);
        if (checks.length > 0) counted.push({ at, checks });
      }
    });
    const byCurrency = new Map<string, Array<{ at: number; checks: CounterCheck[] }>>();
    for (const c of counted) {
      const currency = attempts[c.at].currency;
      byCurrency.set(currency, [...(byCurrency.get(currency) ?? []), c]);
    }
    for (const group of byCurrency.values()) {
      const keys = [...new Set(group.flatMap((g) => g.checks.map((c) => c.key)))];
      const values = await this.redis.mget(...keys);
      const current = new Map(keys.map((k, i) => [k, Number(values[i] ?? 0)]));
      for (const { at, checks } of group) {
        const over = checks.find((c) => (current.get(c.key) ?? 0) + c.add > c.max);
        if (over) result[at] = { cap: over.cap, limit: over.limit, max: over.max, current: current.get(over.key) ?? 0 };
      }
    }
    return result;
  }

  /**
   * Gives back what `operationId` reserved in `currency` (its attempt failed, or was provably never sent).
   * Idempotent: nothing reserved, or released already, is a no-op. Two round trips, failure path only.
   * @returns whether a reservation was released.
   */
  async release(operationId: string, currency: string): Promise<boolean> {
    const mark = this.markKey(currency, operationId);
    const held = await this.redis.get(mark);
    if (held === null) return false;
    const keys = [mark];
    const amounts: string[] = [held];
    // The mark is `<candidate>,<key>=<added>,…`: every counter it added to, by name.
    for (const part of held.split(',').slice(1)) {
      const [key, add] = part.split('=');
      keys.push(key);
      amounts.push(add);
    }
    const script = scriptFor(releaseScripts, keys.length, RELEASE_BODY);
    const values = { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} };
    return (await script.run(this.redis, values, amounts)) === 1;
  }
}

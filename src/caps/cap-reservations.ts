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
 * How long a claim on a reservation (`reserve`'s `claim`) is kept. A claim only has to outlast a delivery pass that read
 * the record before another worker's move and may still abandon its failover (seconds); a day leaves room for any stall
 * without keeping a set beside every mark for as long as the mark.
 */
const CLAIM_TTL_S = 86400;

/**
 * Reserves: KEYS[1..] the marks, their claim sets, then the counters; ARGV: the mark's TTL, the key index of the
 * operation's mark of the release before (one mark per operation and currency, `<candidate index>,…`; 0: none) and of
 * its claim set, the claim ('' none) and its TTL, the candidate count, then per candidate its index, the key index of
 * its own mark and of that mark's claim set, its gateway (encoded), its number of checks, then per check: key index,
 * add, max, expire-at. A mark of any candidate asked about (or the release before's naming one of them) answers
 * `already` (idempotent per operation and gateway): a mark of another gateway (the one a failover leaves, released once
 * the move is on record) is not this reservation's. Else the first candidate whose every counter stays within its max
 * gets every counter incremented (INCRBY, EXPIREAT) and its mark written, atomically: two concurrent attempts never
 * both take the last unit. The mark is the operation's mark per currency (the release before's key and value) when
 * none stands, so a worker of the release before still finds it (never reserves it again, gives it back on a FAIL or
 * its own failover); the gateway's own only beside another (a failover's next candidate while the one it leaves is on
 * record). Its first counter's part carries the gateway (`<key>=<added>=<gateway>`, which the release before reads as
 * `<key>=<added>`), so the operation's mark is `already` for the candidate at that gateway, whatever its index: a
 * plan of another route (a configuration reloaded between two plans) reserves its own, or finds its gateway's.
 * The claim joins the claim set of the mark reserved or found, in the same step: a plan that may send on the
 * reservation says so before it can, and an abandoned plan gives back only what no other plan claims (`releaseAbandoned`).
 */
const RESERVE_BODY = `
local ttl = tonumber(ARGV[1])
local legacy = tonumber(ARGV[2])
local legacy_claims = tonumber(ARGV[3])
local claim = ARGV[4]
local claim_ttl = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local cands = {}
local p = 7
for c = 1, n do
  local checks = tonumber(ARGV[p + 4])
  cands[c] = {ARGV[p], tonumber(ARGV[p + 1]), p + 5, checks, ARGV[p + 3], tonumber(ARGV[p + 2])}
  p = p + 5 + 4 * checks
end
local function claimed(claims)
  if claim ~= '' then
    redis.call('SADD', KEYS[claims], claim)
    redis.call('EXPIRE', KEYS[claims], claim_ttl)
  end
end
for c = 1, n do
  if redis.call('EXISTS', KEYS[cands[c][2]]) == 1 then
    claimed(cands[c][6])
    return {'already', cands[c][1]}
  end
end
if legacy > 0 then
  local held = redis.call('GET', KEYS[legacy])
  if held then
    local at = string.match(held, '^[^,]*')
    local gw = string.match(held, '^[^,]*,[^,=]*=[^,=]*=([^,]*)')
    for c = 1, n do
      if (gw == nil and cands[c][1] == at) or gw == cands[c][5] then
        claimed(legacy_claims)
        return {'already', cands[c][1]}
      end
    end
  end
end
local refusals = {}
for c = 1, n do
  local idx = cands[c][1]
  local first = cands[c][3]
  local checks = cands[c][4]
  local fits = true
  local q = first
  for i = 1, checks do
    local key = KEYS[tonumber(ARGV[q])]
    local add = tonumber(ARGV[q + 1])
    local max = tonumber(ARGV[q + 2])
    local cur = tonumber(redis.call('GET', key) or '0')
    if fits and cur + add > max then
      fits = false
      table.insert(refusals, idx .. '|' .. (i - 1) .. '|' .. cur)
    end
    q = q + 4
  end
  if fits then
    local parts = {idx}
    q = first
    for i = 1, checks do
      local key = KEYS[tonumber(ARGV[q])]
      redis.call('INCRBY', key, ARGV[q + 1])
      redis.call('EXPIREAT', key, ARGV[q + 3])
      table.insert(parts, key .. '=' .. ARGV[q + 1] .. (i == 1 and ('=' .. cands[c][5]) or ''))
      q = q + 4
    end
    local at = cands[c][2]
    local claims = cands[c][6]
    if legacy > 0 and redis.call('EXISTS', KEYS[legacy]) == 0 then
      at = legacy
      claims = legacy_claims
    end
    redis.call('SET', KEYS[at], table.concat(parts, ','), 'EX', ttl)
    -- A new reservation: claims left from one released by a worker of the release before (which knows no claims) go.
    redis.call('DEL', KEYS[claims])
    claimed(claims)
    return {'reserved', idx, refusals}
  end
end
return {'over', '', refusals}
`;

/**
 * Releases: KEYS[1] the mark, KEYS[2] its claim set, KEYS[3..] the counters the mark names (read by the caller first,
 * so every key is declared). Subtracts what the mark says was added, from counters that still exist, and deletes the
 * mark and its claims: a second release finds no mark and does nothing. ARGV[1] is the mark as the caller read it; a
 * mark that changed meanwhile (released and reserved again) is left alone. ARGV[2] `abandon`: a plan that never went
 * on record gives back its claim (ARGV[3], '' none) and the reservation only when no other plan claims it (2: kept,
 * claimed); else ('') whatever claims it (the operation FAILED, or is on record elsewhere). ARGV[4..]: the amounts.
 */
const RELEASE_BODY = `
local held = redis.call('GET', KEYS[1])
if not held or held ~= ARGV[1] then return 0 end
if ARGV[2] == 'abandon' then
  if ARGV[3] ~= '' then redis.call('SREM', KEYS[2], ARGV[3]) end
  if redis.call('SCARD', KEYS[2]) > 0 then return 2 end
end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i + 1]) end
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`;

/**
 * Reclaims: KEYS[1] the mark, KEYS[2] its claim set, KEYS[3..] the counters the mark names (as `RELEASE_BODY`). ARGV[1]
 * the mark as the caller read it (changed meanwhile: nothing, {0, 0}); ARGV[2] the record's attempt count; ARGV[3..]
 * the amounts. A claim `<attempts>:<uuid>` (`reserve`'s, from the attempt count of the record its plan was decided on)
 * whose attempts are below the record's names a plan whose move to SENT (applied only to the record it was decided on)
 * can never apply: it leaves the set. Once no claim stands, the reservation is given back, unless none was dropped (a set
 * empty already: claims expired, or a worker of the release before, which claims nothing, may still send on it; a claim
 * without attempts, that release's too, stays to its TTL). Returns {claims dropped, 1 given back | 0}.
 */
const RECLAIM_BODY = `
local held = redis.call('GET', KEYS[1])
if not held or held ~= ARGV[1] then return {0, 0} end
local attempts = tonumber(ARGV[2])
local dropped = 0
for _, claim in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local at = tonumber(string.match(claim, '^(%d+):'))
  if at ~= nil and at < attempts then
    redis.call('SREM', KEYS[2], claim)
    dropped = dropped + 1
  end
end
if dropped == 0 or redis.call('SCARD', KEYS[2]) > 0 then return {dropped, 0} end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
redis.call('DEL', KEYS[1], KEYS[2])
return {dropped, 1}
`;

/**
 * Whether a mark (`<candidate index>,<counter>=<added>[=<gateway>],…`) is `candidate`'s reservation: its gateway where
 * the mark names one (whatever its index on a route reloaded since), else its index (the release before's marks name
 * no gateway: the index alone decides, as it did there).
 */
function markNames(held: string, candidate: { gateway: string; index: number }): boolean {
  const [index, first = ''] = held.split(',', 2);
  const gateway = first.split('=')[2];
  return gateway === undefined ? index === String(candidate.index) : gateway === encodeURIComponent(candidate.gateway);
}

/**
 * Moves a gateway's mark (KEYS[1], as the caller read it: ARGV[1]) into the operation's mark per currency (KEYS[2]) when
 * that is free, its TTL with it, and its claim set (KEYS[3]) into that mark's (KEYS[4]); else, or when the gateway's
 * mark changed meanwhile (released), nothing.
 */
const PROMOTE_BODY = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[4]) else redis.call('DEL', KEYS[4]) end
return 1
`;

/** Scripts by number of keys: each declares exactly the keys it touches. */
const reserveScripts = new Map<number, LuaScript<string, string>>();
const releaseScripts = new Map<number, LuaScript<string, string>>();
const promoteScripts = new Map<number, LuaScript<string, string>>();
const reclaimScripts = new Map<number, LuaScript<string, string>>();

function scriptFor(cache: Map<number, LuaScript<string, string>>, keyCount: number, body: string, first = 'mark'): LuaScript<string, string> {
  let s = cache.get(keyCount);
  if (!s) {
    const names = Array.from({ length: keyCount }, (_, i) => (i === 0 ? first : `k${i}`));
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

  /**
   * The reservation mark of `operationId` at `gateway` in `currency`: one per gateway, so a failover reserves at the
   * next candidate before it gives back the one it leaves (`releaseMarks`, once the move is on record). Without a
   * gateway: the mark of the release before (one per operation and currency, naming its candidate by index), still
   * read and released.
   */
  private markKey(currency: string, operationId: string, gateway?: string): string {
    const mark = `${capsTag(this.prefix, currency)}:res:${operationId}`;
    return gateway === undefined ? mark : `${mark}@${encodeURIComponent(gateway)}`;
  }

  /**
   * The claim set of a mark (`markKey`'s arguments): the plans that found or made that reservation and may send on it,
   * each by its claim (`reserve`). Same hash tag as the mark.
   */
  private claimsKey(currency: string, operationId: string, gateway?: string): string {
    const claims = `${capsTag(this.prefix, currency)}:claims:${operationId}`;
    return gateway === undefined ? claims : `${claims}@${encodeURIComponent(gateway)}`;
  }

  /**
   * Reserves room for `operationId` on the first candidate within every cap. Candidates must share one
   * currency (one hash slot); the caller asks again per currency. Per-transaction bounds are checked
   * without Redis; counted limits in one script.
   * @param claim names the plan asking (unique per plan: a delivery pass's failover, a plan decided again; `<attempts>:…`,
   *   the attempt count of the record it was decided on, lets `reclaimDead` tell a plan that can no longer go on record): it joins the
   *   claims of the reservation made or found (`already`), in the same script, so that another plan of the operation
   *   abandoning it (`releaseAbandoned`) leaves it to this one, which may send on it. None: nothing is claimed.
   */
  async reserve(operationId: string, candidates: readonly CapCandidate[], now = Date.now(), claim?: string): Promise<CapDecision> {
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

    const keys: string[] = [this.markKey(currency, operationId), this.claimsKey(currency, operationId)];
    const keyIndex = new Map<string, number>();
    const indexOf = (key: string): number => {
      let at = keyIndex.get(key);
      if (at === undefined) {
        keys.push(key);
        at = keys.length;
        keyIndex.set(key, at);
      }
      return at;
    };
    const args: (string | number)[] = [MARK_TTL_S, 1, 2, claim ?? '', CLAIM_TTL_S, counted.length];
    for (const { candidate, checks } of counted) {
      args.push(
        String(candidate.index),
        indexOf(this.markKey(currency, operationId, candidate.gateway)),
        indexOf(this.claimsKey(currency, operationId, candidate.gateway)),
        encodeURIComponent(candidate.gateway),
        checks.length,
      );
      for (const check of checks) {
        args.push(indexOf(check.key), check.add, check.max, check.expireAt);
      }
    }
    const script = scriptFor(reserveScripts, keys.length, RESERVE_BODY, 'legacy_mark');
    const values = { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} };
    const reply = (await script.run(this.redis, values, args)) as [string, string, string[]?];
    const byIndex = new Map(counted.map((c) => [String(c.candidate.index), c]));
    for (const r of reply[2] ?? []) {
      const [idx, check, current] = r.split('|');
      const c = byIndex.get(idx)?.checks[Number(check)];
      if (c) refusals.push({ cap: c.cap, limit: c.limit, max: c.max, current: Number(current) });
    }
    if (reply[0] === 'already') return { kind: 'already', index: Number(reply[1]), refusals: [] };
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
   * Gives back what `operationId` reserved in `currency` at each of `candidates` (its gateway's mark, or the operation's
   * mark per currency when it names the candidate: `markNames`): the attempt failed, was never sent, or the operation is
   * on record at another candidate. Idempotent: nothing reserved, or released already, is a no-op. One round trip when
   * nothing is held (one MGET: the marks of a currency share its slot), one more per mark released. With `kept` (the
   * record's candidate, whose reservation stands), its gateway's mark then moves into the operation's mark when that is
   * free (one more, only when it is there to move: after a failover). Whatever claims them (`reserve`): the caller
   * knows from the record that no plan of the operation sends on them (see `releaseAbandoned` for one that does not).
   * @param options.strays the operation's mark is given back too when it names a gateway outside this route (an earlier
   *   plan's, decided before a configuration reload dropped that gateway), or whatever gateway it names (`'any'`: the
   *   operation FAILED). A mark of the release before names no gateway: only `candidates` name it, by index.
   * @param options.read read the marks even with no `candidates` (for `strays`): else nothing is read then.
   * @returns the gateways whose reservation was released.
   */
  async releaseMarks(
    operationId: string,
    currency: string,
    candidates: ReadonlyArray<{ gateway: string; index: number }>,
    kept?: { gateway: string; index: number },
    options: { strays?: readonly string[] | 'any'; read?: boolean } = {},
  ): Promise<string[]> {
    if (candidates.length === 0 && !(options.read === true && options.strays !== undefined)) return [];
    const legacy = this.markKey(currency, operationId);
    const marks = candidates.map((c) => this.markKey(currency, operationId, c.gateway));
    const keptMark = kept ? [this.markKey(currency, operationId, kept.gateway)] : [];
    const held = await this.redis.mget(legacy, ...marks, ...keptMark);
    const released: string[] = [];
    for (let i = 0; i < candidates.length; i++) {
      const mark = held[i + 1];
      if (mark !== null && mark !== undefined && (await this.releaseMark(marks[i], this.claimsKey(currency, operationId, candidates[i].gateway), mark)) === 1)
        released.push(candidates[i].gateway);
    }
    const old = held[0];
    let legacyFree = old === null || old === undefined;
    if (old !== null && old !== undefined) {
      const gateway = candidates.find((c) => markNames(old, c))?.gateway ?? strayOf(old, options.strays);
      if (gateway !== undefined && (await this.releaseMark(legacy, this.claimsKey(currency, operationId), old)) === 1) {
        legacyFree = true;
        if (!released.includes(gateway)) released.push(gateway);
      }
    }
    // The reservation kept (the record's candidate) moves into the operation's mark once that is free, where a worker of
    // the release before finds it: a rolling upgrade neither counts it twice nor leaks it.
    const keptHeld = held[candidates.length + 1];
    if (kept && legacyFree && keptHeld !== null && keptHeld !== undefined) {
      const script = scriptFor(promoteScripts, 4, PROMOTE_BODY);
      const keys = { mark: keptMark[0], k1: legacy, k2: this.claimsKey(currency, operationId, kept.gateway), k3: this.claimsKey(currency, operationId) };
      await script.run(this.redis, { keys, args: {} }, [keptHeld]);
    }
    return released;
  }

  /** `releaseMarks` for one candidate: whether a reservation was released. */
  async release(operationId: string, currency: string, candidate: { gateway: string; index: number }): Promise<boolean> {
    return (await this.releaseMarks(operationId, currency, [candidate])).length > 0;
  }

  /**
   * Gives back what a plan that never went on record (a failover that went nowhere) reserved or found at `candidate`,
   * unless another plan of the operation claims it: one that found it (`already`) may be sending on it, in another
   * worker, and the cap must count that. The plan's own `claim` is withdrawn first, in the same script, so the last
   * plan to abandon a reservation gives it back, once. A reservation no plan claims (one made by a worker of the
   * release before, which knows no claims) is given back. One MGET, one more per mark held.
   * @returns `released`: given back; `claimed`: left to the other plans that claim it.
   */
  async releaseAbandoned(
    operationId: string,
    currency: string,
    candidate: { gateway: string; index: number },
    claim?: string,
  ): Promise<{ released: boolean; claimed: boolean }> {
    const legacy = this.markKey(currency, operationId);
    const mark = this.markKey(currency, operationId, candidate.gateway);
    const [old, own] = await this.redis.mget(legacy, mark);
    const outcomes: number[] = [];
    if (own !== null && own !== undefined)
      outcomes.push(await this.releaseMark(mark, this.claimsKey(currency, operationId, candidate.gateway), own, claim ?? ''));
    if (old !== null && old !== undefined && markNames(old, candidate))
      outcomes.push(await this.releaseMark(legacy, this.claimsKey(currency, operationId), old, claim ?? ''));
    return { released: outcomes.includes(1), claimed: outcomes.includes(2) };
  }

  /**
   * Drops the claims on what `operationId` holds in `currency` at `candidates` (their gateways' marks, and the
   * operation's mark per currency when it names one of them) whose plans can never go on record, and gives a reservation
   * back once no claim on it stands (`RECLAIM_BODY`): a plan decided on a record of fewer attempts than `attempts` (the
   * record's now). For the candidates after the record's: a failover's plan
   * whose worker died between its claim and its move would otherwise keep the reservation counted until the claim's and
   * the mark's TTLs. A claim of a plan decided on the record as it stands is left (a live failover may be sending on it).
   * One MGET, one script more per mark held.
   * @returns per mark that had claims dropped or was given back: its gateway, the claims dropped, whether given back.
   */
  async reclaimDead(
    operationId: string,
    currency: string,
    candidates: ReadonlyArray<{ gateway: string; index: number }>,
    attempts: number,
  ): Promise<Array<{ gateway: string; claims: number; released: boolean }>> {
    if (candidates.length === 0) return [];
    const legacy = this.markKey(currency, operationId);
    const marks = candidates.map((c) => this.markKey(currency, operationId, c.gateway));
    const held = await this.redis.mget(legacy, ...marks);
    const out: Array<{ gateway: string; claims: number; released: boolean }> = [];
    const reclaim = async (gateway: string, mark: string, claims: string, value: string): Promise<void> => {
      const keys = [mark, claims];
      const args: string[] = [value, String(attempts)];
      for (const part of value.split(',').slice(1)) {
        const [key, add] = part.split('=');
        keys.push(key);
        args.push(add);
      }
      const script = scriptFor(reclaimScripts, keys.length, RECLAIM_BODY);
      const values = { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} };
      const [dropped, released] = (await script.run(this.redis, values, args)) as [number, number];
      if (Number(dropped) > 0 || Number(released) === 1) out.push({ gateway, claims: Number(dropped), released: Number(released) === 1 });
    };
    for (const [i, candidate] of candidates.entries()) {
      const value = held[i + 1];
      if (value !== null && value !== undefined) await reclaim(candidate.gateway, marks[i], this.claimsKey(currency, operationId, candidate.gateway), value);
    }
    const old = held[0];
    const named = old !== null && old !== undefined ? candidates.find((c) => markNames(old, c)) : undefined;
    if (named && old) await reclaim(named.gateway, legacy, this.claimsKey(currency, operationId), old);
    return out;
  }

  /**
   * Subtracts what mark `mark` (read as `held`) added and deletes it with its claim set `claims`, in one script: 1
   * released, 0 when it changed meanwhile; with `abandon` (the abandoning plan's claim, '' none), 2 when another plan
   * still claims it (nothing released).
   */
  private async releaseMark(mark: string, claims: string, held: string, abandon?: string): Promise<0 | 1 | 2> {
    const keys = [mark, claims];
    const args: string[] = [held, abandon === undefined ? '' : 'abandon', abandon ?? ''];
    // The mark is `<candidate>,<key>=<added>,…`: every counter it added to, by name.
    for (const part of held.split(',').slice(1)) {
      const [key, add] = part.split('=');
      keys.push(key);
      args.push(add);
    }
    const script = scriptFor(releaseScripts, keys.length, RELEASE_BODY);
    const values = { keys: Object.fromEntries(script.inputs.keys.map((k, i) => [k, keys[i]])), args: {} };
    const reply = Number(await script.run(this.redis, values, args));
    return reply === 1 || reply === 2 ? reply : 0;
  }
}

/**
 * The gateway an operation's mark names (`<index>,<key>=<added>=<gateway>,…`), decoded, when it is a stray for `strays`
 * (`releaseMarks`): any gateway for `'any'`, else one outside the route given. Undefined for a mark of the release
 * before (no gateway) or one the route names.
 */
function strayOf(held: string, strays: readonly string[] | 'any' | undefined): string | undefined {
  if (strays === undefined) return undefined;
  const named = (held.split(',', 2)[1] ?? '').split('=')[2];
  if (named === undefined) return undefined;
  const gateway = decodeURIComponent(named);
  return strays === 'any' || !strays.includes(gateway) ? gateway : undefined;
}

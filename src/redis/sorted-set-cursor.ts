import { RedisClient } from './redis-connection';
import { LuaScript, luaInputs } from './lua-script';
import { ScoredEntry, scoredEntries } from './scored-entries';

/** Lua: whether member `a` sorts after `b` in a sorted set of one score (their bytes, as memcmp: not a locale's collation). */
const SORTS_AFTER_LUA = `
local function sorts_after(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end`;

/**
 * The entries of a sorted set after a place (a score and a member), in the set's own order: by score, then
 * members of one score by their bytes (memcmp, as Redis orders them). KEYS: the set. ARGV: the place's score and
 * member, `max` (the highest score read, as Redis reads a range's bound: `(` before it excludes it; `+inf` for
 * none) and `count`.
 * The place is found in the same script as the read: the rank of the first entry after it is the count of
 * entries of lower score, plus those of its score whose member sorts at or before its own (found by halving
 * that run of ranks; usually one or two entries). So whatever was removed or added before the place since the
 * caller read it (retention purging older entries, an entry written with an earlier score) shifts nothing: a
 * walk from place to place never skips an entry that was there all along, as one from rank to rank would. The
 * place's member need not be in the set any more (removed since it was read), nor ever have been (`''` with
 * the window's first score is the start of the window: every member sorts after the empty one).
 * Lua's `<` on strings follows the server's collation (Redis sets LC_COLLATE from its environment), not the
 * set's order: members are compared byte by byte.
 */
const ENTRIES_AFTER_SCRIPT = new LuaScript(
  luaInputs(['index'], ['score', 'member', 'max', 'count']),
  `${SORTS_AFTER_LUA}
local lo = redis.call('ZCOUNT', K.index, '-inf', '(' .. A.score)
local hi = redis.call('ZCOUNT', K.index, '-inf', A.score)
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  if sorts_after(redis.call('ZRANGE', K.index, mid, mid)[1], A.member) then hi = mid else lo = mid + 1 end
end
local flat = redis.call('ZRANGE', K.index, lo, lo + tonumber(A.count) - 1, 'WITHSCORES')
if A.max == '+inf' then return flat end
local exclusive = string.sub(A.max, 1, 1) == '('
local max = tonumber(exclusive and string.sub(A.max, 2) or A.max)
local out = {}
for i = 1, #flat, 2 do
  local s = tonumber(flat[i + 1])
  if s > max or (exclusive and s == max) then break end
  out[#out + 1] = flat[i]
  out[#out + 1] = flat[i + 1]
end
return out
`,
);

/**
 * Up to `count` entries of the sorted set `key` that come after `after` (its score, then its member: see
 * {@link ENTRIES_AFTER_SCRIPT}), scored at most `max` (Redis's syntax: `'(100'` is below 100, `'100'` up to it
 * included; default none), in the set's order. One script, one round
 * trip, one key; none for a `count` below 1. The last entry returned is the place the next page starts after.
 */
export async function entriesAfter(redis: RedisClient, key: string, after: ScoredEntry, count: number, max = '+inf'): Promise<ScoredEntry[]> {
  if (count < 1) return [];
  const flat = (await ENTRIES_AFTER_SCRIPT.run(redis, {
    keys: { index: key },
    args: { score: scoreArg(after.score), member: after.id, max, count },
  })) as string[];
  return scoredEntries(flat);
}

/**
 * The mirror of {@link ENTRIES_AFTER_SCRIPT}: the entries of a sorted set before a place, highest first (as
 * ZREVRANGE reads them). KEYS: the set. ARGV: the place's score and member (score `''`: no place, the highest
 * entries), `count`. The rank the page ends at is the count of entries of lower score, plus those of its score
 * whose member sorts before its own, found in the same script as the read: whatever was added above the place
 * (newer entries of a set scored by time) or removed since (the place's own member too) shifts nothing.
 */
const ENTRIES_BEFORE_SCRIPT = new LuaScript(
  luaInputs(['index'], ['score', 'member', 'count']),
  `${SORTS_AFTER_LUA}
local last
if A.score == '' then
  last = redis.call('ZCARD', K.index)
else
  local lo = redis.call('ZCOUNT', K.index, '-inf', '(' .. A.score)
  local hi = redis.call('ZCOUNT', K.index, '-inf', A.score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZRANGE', K.index, mid, mid)[1]
    if m == A.member or sorts_after(m, A.member) then hi = mid else lo = mid + 1 end
  end
  last = lo
end
if last == 0 then return {} end
local flat = redis.call('ZRANGE', K.index, math.max(0, last - tonumber(A.count)), last - 1, 'WITHSCORES')
local out = {}
for i = #flat - 1, 1, -2 do
  out[#out + 1] = flat[i]
  out[#out + 1] = flat[i + 1]
end
return out
`,
);

/**
 * Up to `count` entries of the sorted set `key` that come before `before` (its score, then its member: see
 * {@link ENTRIES_BEFORE_SCRIPT}), highest first; without `before`, the highest `count`. One script, one round
 * trip, one key; none for a `count` below 1. The last entry returned is the place the next page ends before.
 * A bare score as the place (member `''`) gives the entries scored below it.
 */
export async function entriesBefore(redis: RedisClient, key: string, before: ScoredEntry | undefined, count: number): Promise<ScoredEntry[]> {
  if (count < 1) return [];
  const flat = (await ENTRIES_BEFORE_SCRIPT.run(redis, {
    keys: { index: key },
    args: { score: before ? scoreArg(before.score) : '', member: before?.id ?? '', count },
  })) as string[];
  return scoredEntries(flat);
}

/** A score as Redis reads a range bound (an infinite one as `-inf` / `+inf`: the start of a whole set is `-inf`). */
function scoreArg(score: number): string {
  if (score === Number.NEGATIVE_INFINITY) return '-inf';
  if (score === Number.POSITIVE_INFINITY) return '+inf';
  return String(score);
}

import { LuaScript, luaInputs } from '../redis/lua-script';

/**
 * What a finished, applied reconciliation run did to its gateway's reconciled-through mark (the end of what is
 * reconciled without a gap, `P retention:reconciled_through:<gateway>`, which retention waits for):
 * - `moved`: the window joined the mark (it starts at or before it, or there was no mark) and the mark moved to its
 *   end, and on through the windows reconciled past it before that now join;
 * - `covered`: the window joined, the mark was at or past its end already;
 * - `gap`: the window starts past the mark; it is kept as reconciled (one span with the kept windows it overlaps or
 *   touches), and joins when the gap is;
 * - `held`: the window is not reconciled (PSP lines its run could not read): the mark does not reach it. It stays
 *   where it is when it is at or before the window's start; the first window of a gateway starts it at its start;
 *   a mark past the window's start is put back to it (the windows reconciled past the window are kept, and join
 *   again once a run of the window reads every line).
 */
export type ReconciledMarkOutcome = 'moved' | 'covered' | 'gap' | 'held';

export interface ReconciledWindow {
  outcome: ReconciledMarkOutcome;
  /** The mark before, epoch ms; null when there was none. */
  before: number | null;
  /** The mark after, epoch ms; null when there is none. */
  through: number | null;
  /**
   * Spans kept past the mark before, taken in as the mark moved through them (`moved` only): windows reconciled side
   * by side (or overlapping) are kept as one span, so this counts stretches between gaps, not windows.
   */
  joined: number;
}

/**
 * The mark and the windows reconciled past it, in one step (two runs of a gateway may finish at once). The
 * windows are a sorted set, member `<from>:<to>`, score `from`; they never overlap the mark's span, and a window kept
 * is merged with those it overlaps or touches (one member per stretch between gaps, however many windows). Epoch ms are
 * kept as strings, or formatted with `%.0f` (Lua's own number to string conversion would write `1.8e+12`).
 */
export const RECORD_RECONCILED_WINDOW_SCRIPT = new LuaScript(
  luaInputs(['mark', 'windows'], ['from', 'to', 'complete']),
  `
local function fmt(n) return string.format('%.0f', n) end
local function bounds(member)
  local a, b = string.match(member, '^(-?%d+):(-?%d+)$')
  return tonumber(a), tonumber(b)
end
local from, to = tonumber(A.from), tonumber(A.to)
local raw = redis.call('GET', K.mark)
local before = nil
if raw then before = tonumber(raw) end
if A.complete == '1' then
  if before ~= nil and before < from then
    -- One span with the kept windows it overlaps or touches: a mark held for long keeps a member per stretch
    -- between the windows not reconciled, not one per window the schedule reconciled meanwhile.
    local lo, hi = from, to
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', K.windows, '-inf', fmt(to))) do
      local a, b = bounds(member)
      if a ~= nil and b >= from then
        if a < lo then lo = a end
        if b > hi then hi = b end
        redis.call('ZREM', K.windows, member)
      end
    end
    redis.call('ZADD', K.windows, lo, fmt(lo) .. ':' .. fmt(hi))
    return {'gap', raw, raw, 0}
  end
  local through = to
  if before ~= nil and before > through then through = before end
  local joined = 0
  repeat
    local found = redis.call('ZRANGEBYSCORE', K.windows, '-inf', fmt(through))
    for _, member in ipairs(found) do
      local _, b = bounds(member)
      if b ~= nil and b > through then through = b end
      redis.call('ZREM', K.windows, member)
      joined = joined + 1
    end
  until #found == 0
  if before ~= nil and through <= before then return {'covered', raw, raw, joined} end
  redis.call('SET', K.mark, fmt(through))
  return {'moved', raw or '', fmt(through), joined}
end
-- Not reconciled: cut the window out of the windows kept past the mark.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', K.windows, '-inf', '(' .. A.to)) do
  local a, b = bounds(member)
  if a ~= nil and b > from then
    redis.call('ZREM', K.windows, member)
    if a < from then redis.call('ZADD', K.windows, a, fmt(a) .. ':' .. A.from) end
    if b > to then redis.call('ZADD', K.windows, to, A.to .. ':' .. fmt(b)) end
  end
end
if before == nil then
  redis.call('SET', K.mark, A.from)
  return {'held', '', A.from, 0}
end
if before > from then
  redis.call('SET', K.mark, A.from)
  if before > to then redis.call('ZADD', K.windows, to, A.to .. ':' .. raw) end
  return {'held', raw, A.from, 0}
end
return {'held', raw, raw, 0}
`,
);

/** The script's reply as a {@link ReconciledWindow}. */
export function reconciledWindowOf(reply: unknown): ReconciledWindow {
  const [outcome, before, through, joined] = reply as [ReconciledMarkOutcome, string | null, string | null, number];
  const mark = (raw: string | null): number | null => (raw === null || raw === '' ? null : Number(raw));
  return { outcome, before: mark(before), through: mark(through), joined: Number(joined) };
}

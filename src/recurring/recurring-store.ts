import { RedisClient } from '../redis/redis-connection';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { entriesAfter } from '../redis/sorted-set-cursor';
import { ScoredEntry } from '../redis/scored-entries';
import { IssuedTokenValues } from '../contracts/card-data-policy';
import { validateCommand } from '../contracts/command-validator';
import { CommandValidationError } from '../errors/command-validation-error';
import { counter } from '../metrics/metrics-registry';
import { Schedule, ScheduleDefinition, ScheduleState, CyclePhase, cycleCommandToValidate, cycleDueAt } from './recurring-schedule';

const orderEntriesDropped = counter(
  'pb_recurring_order_index_entries_dropped_total',
  "Recurring billing: ids taken out of an order's schedule index ({recurring}:order:<order>) when listed, their schedule gone (entries a deletion left behind)",
);

const SCHEDULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const STATES: readonly ScheduleState[] = ['active', 'cancelled', 'completed', 'failed'];

/**
 * A schedule's moving parts and its place in the due index, written only while the stored schedule is still
 * `active`, else nothing (0): a cancel (or any stop) that came after the runner read the schedule is never
 * overwritten by the runner's older copy, which would make it active again and charge on. `stay_due` '1': a
 * schedule no longer active stays in the due index (a cycle failed for good whose event is still to record).
 * A schedule written ended (not active, not staying due) is put in the ended index, by when it ended (retention).
 * `expect` '1': written only while the stored cycle, attempt, phase and operation are still those read (`exp_*`),
 * else nothing (2): a runner whose copy another runner moved on meanwhile (another process, another clock) never
 * claims a second charge over the first one's. 1: written. `last_skip_notice` `pending` over the same skip stored
 * `sent` stays `sent`: a copy read before the notice was recorded never asks for it again.
 */
const UPDATE_ACTIVE_SCRIPT = new LuaScript(
  luaInputs(
    ['schedule', 'due', 'ended'],
    [
      'id',
      'now',
      'state',
      'cycle',
      'attempt',
      'phase',
      'next_at',
      'operation',
      'last_reason',
      'skipped_cycles',
      'last_skip_from',
      'last_skip_through',
      'last_skip_at',
      'last_skip_notice',
      'stay_due',
      'expect',
      'exp_cycle',
      'exp_attempt',
      'exp_phase',
      'exp_operation',
    ],
  ),
  `
if redis.call('HGET', K.schedule, 'state') ~= 'active' then return 0 end
if A.expect == '1' then
  local f = redis.call('HMGET', K.schedule, 'cycle', 'attempt', 'phase', 'operation')
  local phase = 'due'
  if f[3] == 'charging' then phase = 'charging' end
  if (f[1] or '1') ~= A.exp_cycle or (f[2] or '0') ~= A.exp_attempt or phase ~= A.exp_phase or (f[4] or '') ~= A.exp_operation then return 2 end
end
local notice = A.last_skip_notice
if notice == 'pending' then
  local s = redis.call('HMGET', K.schedule, 'last_skip_from', 'last_skip_through', 'last_skip_notice')
  if s[1] == A.last_skip_from and s[2] == A.last_skip_through and s[3] == 'sent' then notice = 'sent' end
end
redis.call('HSET', K.schedule, 'state', A.state, 'cycle', A.cycle, 'attempt', A.attempt, 'phase', A.phase,
  'next_at', A.next_at, 'operation', A.operation, 'last_reason', A.last_reason, 'skipped_cycles', A.skipped_cycles,
  'last_skip_from', A.last_skip_from, 'last_skip_through', A.last_skip_through, 'last_skip_at', A.last_skip_at,
  'last_skip_notice', notice)
if A.state == 'active' or A.stay_due == '1' then redis.call('ZADD', K.due, A.next_at, A.id) else
  redis.call('ZREM', K.due, A.id)
  redis.call('HSETNX', K.schedule, 'ended_at', A.now)
  redis.call('ZADD', K.ended, 'NX', A.now, A.id)
end
return 1
`,
);

/**
 * Creates a schedule in one step: its definition, its first cycle's state, the due index, the list of every
 * schedule and, for a definition naming an order, the order's schedules (what an erasure of the order finds them
 * by). 'created'; 'exists' when the id holds this definition already (its order entry written too: a schedule
 * created before the order index is indexed by its next create); 'other' when it holds another one; 'deleted' when
 * no schedule holds it but one did, deleted past its retention (`K.deleted`): its cycles' operations may still be
 * in the ledger under the ids a new schedule's cycles would take, an old SUCCEEDED one counted as paid. A schedule
 * whose definition stands without a state (a creation cut short by a crash before this was one script) is
 * finished here ('created'): otherwise it would look active and never be due. `K.order` is declared even without
 * an order (`order_id` ''), and then untouched.
 */
const CREATE_SCRIPT = new LuaScript(
  luaInputs(
    ['schedule', 'due', 'all', 'order', 'deleted'],
    ['id', 'definition', 'created_at', 'state', 'cycle', 'attempt', 'phase', 'next_at', 'operation', 'last_reason', 'order_id'],
  ),
  `
local existing = redis.call('HGET', K.schedule, 'definition')
if existing then
  if existing ~= A.definition then return 'other' end
  if redis.call('HEXISTS', K.schedule, 'state') == 1 then
    if A.order_id ~= '' then redis.call('SADD', K.order, A.id) end
    return 'exists'
  end
elseif redis.call('ZSCORE', K.deleted, A.id) then
  return 'deleted'
end
redis.call('HSET', K.schedule, 'definition', A.definition, 'state', A.state, 'cycle', A.cycle, 'attempt', A.attempt,
  'phase', A.phase, 'next_at', A.next_at, 'operation', A.operation, 'last_reason', A.last_reason)
redis.call('ZADD', K.due, A.next_at, A.id)
redis.call('ZADD', K.all, 'NX', A.created_at, A.id)
if A.order_id ~= '' then redis.call('SADD', K.order, A.id) end
return 'created'
`,
);

/**
 * Replaces a schedule's definition by its erased form (an erasure of its order) only if it is still the one read
 * (1; else 0: a definition never changes once created, so 0 means the schedule is gone or was erased meanwhile).
 * `erased_at` keeps the first erasure's time.
 */
const ERASE_SCRIPT = new LuaScript(
  luaInputs(['schedule'], ['read', 'erased', 'now']),
  `
if redis.call('HGET', K.schedule, 'definition') ~= A.read then return 0 end
redis.call('HSET', K.schedule, 'definition', A.erased)
redis.call('HSETNX', K.schedule, 'erased_at', A.now)
return 1
`,
);

/**
 * Stops an active schedule: its state becomes `cancelled`, it leaves the due index and enters the ended index (at
 * `now`, also its `ended_at`) (1); else nothing (0). A definition without a state (a creation cut short) is active,
 * as `RecurringStore.get` reads it. One whose last skip's notice is still to record (`last_skip_notice` `pending`: a
 * crash or an outage after the skip) stays due: the runner's next pass records it, then takes it off.
 */
const CANCEL_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due', 'ended'], ['id', 'now']),
  `
local state = redis.call('HGET', K.schedule, 'state')
if not state and redis.call('HEXISTS', K.schedule, 'definition') == 1 then state = 'active' end
if state ~= 'active' then return 0 end
redis.call('HSET', K.schedule, 'state', 'cancelled')
redis.call('HSETNX', K.schedule, 'ended_at', A.now)
if redis.call('HGET', K.schedule, 'last_skip_notice') ~= 'pending' then redis.call('ZREM', K.due, A.id) end
redis.call('ZADD', K.ended, 'NX', A.now, A.id)
return 1
`,
);

/**
 * Marks the notice of the skip of cycles `from` to `through` recorded (`last_skip_notice` `sent`), only if that skip
 * is still the schedule's last and its notice is pending (1); else nothing (0).
 */
const SKIP_NOTICED_SCRIPT = new LuaScript(
  luaInputs(['schedule'], ['from', 'through']),
  `
local s = redis.call('HMGET', K.schedule, 'last_skip_from', 'last_skip_through', 'last_skip_notice')
if s[1] ~= A.from or s[2] ~= A.through or s[3] ~= 'pending' then return 0 end
redis.call('HSET', K.schedule, 'last_skip_notice', 'sent')
return 1
`,
);

/**
 * Takes a schedule off the due index; one that stands ended (a state, not `active`) enters the ended index at `now`
 * (its `ended_at` too) unless it is there already. A schedule gone, or active, only leaves the due index.
 */
const DROP_DUE_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due', 'ended'], ['id', 'now']),
  `
redis.call('ZREM', K.due, A.id)
local state = redis.call('HGET', K.schedule, 'state')
if state and state ~= 'active' then
  redis.call('HSETNX', K.schedule, 'ended_at', A.now)
  redis.call('ZADD', K.ended, 'NX', A.now, A.id)
end
return 1
`,
);

/**
 * The walk's step for one schedule of `:schedules`: an id whose schedule is gone leaves the list ('gone'); a schedule
 * that stands ended (a state, not `active`), not due and in no ended index (an earlier release ended it) enters the
 * ended index at `now`, its `ended_at` too ('indexed'); else nothing ('kept').
 */
const INDEX_ENDED_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due', 'ended', 'all'], ['id', 'now']),
  `
if redis.call('EXISTS', K.schedule) == 0 then
  redis.call('ZREM', K.all, A.id)
  return 'gone'
end
local state = redis.call('HGET', K.schedule, 'state')
if not state or state == 'active' then return 'kept' end
if redis.call('ZSCORE', K.due, A.id) or redis.call('ZSCORE', K.ended, A.id) then return 'kept' end
redis.call('HSETNX', K.schedule, 'ended_at', A.now)
redis.call('ZADD', K.ended, 'NX', A.now, A.id)
return 'indexed'
`,
);

/**
 * Puts schedules in their orders' indexes (the catch-up's page): for each i, id `ARGV[A_REST + i - 1]` joins the order
 * index `XK(2i)` only while its schedule `XK(2i - 1)` still stands. A schedule the retention deleted after the caller
 * read its definition stays out (its id would name nothing for ever). Returns how many ids were not in their index before.
 */
const INDEX_ORDERS_SCRIPT = new LuaScript(
  luaInputs([], []),
  `
local added = 0
for i = A_REST, #ARGV do
  local n = i - A_REST + 1
  if redis.call('EXISTS', XK(2 * n - 1)) == 1 then added = added + redis.call('SADD', XK(2 * n), ARGV[i]) end
end
return added
`,
  true,
);

/**
 * Takes id `A.id` out of the order index `K.order` when its schedule `K.schedule` is gone (1; else 0): an entry left
 * behind by a deletion that did not take it with it (the set goes with its last id).
 */
const DROP_GONE_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'order'], ['id']),
  `
if redis.call('EXISTS', K.schedule) == 1 then return 0 end
return redis.call('SREM', K.order, A.id)
`,
);

/** How often the walk of every schedule for ended ones outside the ended index starts again, ms. */
const ENDED_WALK_EVERY_MS = 86_400_000;

/**
 * Deletes an ended schedule past its retention: its hash, its entries in the ended index, the list of schedules and
 * its order's index (the order index key too once empty), leaving its id in `K.deleted` (at `now`, for ever: the
 * create script refuses the id), only if it is still ended at or before \`cutoff\`, not
 * active, not due (a failed cycle whose event is still to record), and its definition is still the one read (whose
 * order the caller named): 'expired'; else 'kept' (an entry whose schedule is gone or active leaves the ended index).
 */
const EXPIRE_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due', 'ended', 'all', 'order', 'deleted'], ['id', 'cutoff', 'definition', 'order_id', 'now']),
  `
local ended = redis.call('ZSCORE', K.ended, A.id)
if not ended or tonumber(ended) > tonumber(A.cutoff) then return 'kept' end
local state = redis.call('HGET', K.schedule, 'state')
if not state or state == 'active' then
  redis.call('ZREM', K.ended, A.id)
  if redis.call('EXISTS', K.schedule) == 0 then
    redis.call('ZREM', K.all, A.id)
    if A.order_id ~= '' then redis.call('SREM', K.order, A.id) end
  end
  return 'kept'
end
if redis.call('ZSCORE', K.due, A.id) then return 'kept' end
if redis.call('HGET', K.schedule, 'definition') ~= A.definition then return 'kept' end
redis.call('DEL', K.schedule)
redis.call('ZADD', K.deleted, 'NX', A.now, A.id)
redis.call('ZREM', K.ended, A.id)
redis.call('ZREM', K.all, A.id)
if A.order_id ~= '' then
  redis.call('SREM', K.order, A.id)
  if redis.call('SCARD', K.order) == 0 then redis.call('DEL', K.order) end
end
return 'expired'
`,
);

/** The recurring schedules' keys under `prefix` (see {@link RecurringStore}). */
export function recurringKeys(prefix: string): {
  schedule(id: string): string;
  due: string;
  ended: string;
  deleted: string;
  all: string;
  order(orderId: string): string;
  orderIndexMark: string;
  endedWalk: string;
} {
  const base = `${prefix}{recurring}:`;
  return {
    schedule: (id) => `${base}schedule:${id}`,
    due: `${base}due`,
    ended: `${base}ended`,
    deleted: `${base}deleted`,
    all: `${base}schedules`,
    order: (orderId) => `${base}order:${orderId}`,
    orderIndexMark: `${base}order_index:through`,
    endedWalk: `${base}ended_index:walk`,
  };
}

/**
 * How far back of the last catch-up's mark the next one reads again, ms: a schedule is scored by its creating
 * process's clock, so one an older release created just after a catch-up may be scored a little before its mark.
 */
const ORDER_INDEX_OVERLAP_MS = 10 * 60_000;

/**
 * Recurring schedules in Redis. Keys under the prefix P, all with the hash tag `{recurring}` (one Redis
 * Cluster slot: `save` writes a schedule and the due index in one transaction, `add`, `updateActive` and
 * `cancel` in one script each):
 *   P {recurring}:schedule:<id>   hash: `definition` (JSON, fixed at creation), `state`, `cycle`, `attempt`,
 *                                 `phase`, `next_at`, `operation`, `last_reason`, `skipped_cycles`,
 *                                 `last_skip_from`, `last_skip_through`, `last_skip_at` (missed cycles skipped),
 *                                 `last_skip_notice` (`pending`, `sent`: the skip's notice to the OMS),
 *                                 `ended_at` (epoch ms, once it ended)
 *   P {recurring}:due             sorted set of active schedule ids, score = `next_at` (epoch ms)
 *   P {recurring}:ended           sorted set of ended schedule ids, score = when they ended (retention: `expireEnded`)
 *   P {recurring}:deleted         sorted set of the ids of schedules deleted by the retention, score = when; kept for
 *                                 ever (an id, no definition): such an id is never created again (`add`)
 *   P {recurring}:schedules       sorted set of every schedule id, score = creation time
 *   P {recurring}:order:<order>   set of the ids of the schedules whose definition names that `order_id` (erasure)
 *   P {recurring}:order_index:through  where the order index's catch-up over `:schedules` got to ("<score> <id>")
 *   P {recurring}:ended_index:walk  where the walk for ended schedules outside `:ended` got to ("<score> <id>"), or
 *                                 "done <epoch ms>" (the next walk starts a day after)
 * Before the cluster layout they were `P recurring:schedule:<id>`, `P recurring:due`, `P recurring:schedules`
 * (src/data-lifecycle/legacy-keys.ts moves them).
 * A schedule's cycles are operations of the ledger (`<id>.c<n>`), so the money trail lives there.
 */
export class RecurringStore {
  private readonly keys: ReturnType<typeof recurringKeys>;

  constructor(
    private readonly redis: RedisClient,
    readonly prefix: string,
  ) {
    this.keys = recurringKeys(prefix);
  }

  private key(id: string): string {
    return this.keys.schedule(id);
  }

  private get dueKey(): string {
    return this.keys.due;
  }

  /**
   * Adds a schedule, active from its first cycle (`start_at`). Safe to repeat with the same definition; a
   * different definition under a known id is refused (an id names one agreement with the customer).
   * @throws CommandValidationError naming the field at fault (the first cycle's command is validated as a
   *   channel's would be: a schedule that could never charge is refused now, not at its first cycle).
   * @param issued a card-like `gateway_key` the bridge issued (the issued-token index said so), accepted as a token.
   */
  async add(definition: ScheduleDefinition, now = Date.now(), issued?: IssuedTokenValues): Promise<{ created: boolean; schedule: Schedule }> {
    validateDefinition(definition, issued);
    const id = definition.id;
    const schedule: Schedule = { definition, state: 'active', cycle: 1, attempt: 0, phase: 'due', nextAt: cycleDueAt(definition, 1) };
    const result = await CREATE_SCRIPT.run(this.redis, {
      keys: {
        schedule: this.key(id),
        due: this.dueKey,
        all: this.keys.all,
        order: this.keys.order(definition.order_id ?? ''),
        deleted: this.keys.deleted,
      },
      args: { id, definition: JSON.stringify(definition), created_at: now, ...movingParts(schedule), order_id: definition.order_id ?? '' },
    });
    if (result === 'created') return { created: true, schedule };
    if (result === 'other') throw new CommandValidationError('schedule.id', 'names another schedule already (an id is one agreement)', 'INVALID_PARAMS');
    if (result === 'deleted') {
      // Its cycles' operations (`_<id>.c<n>`) may still be in the ledger: a new schedule would take them for its own.
      throw new CommandValidationError(
        'schedule.id',
        'named a schedule that ended and was deleted (an id is one agreement; its cycles stay in the ledger)',
        'INVALID_PARAMS',
      );
    }
    const existing = await this.get(id);
    if (!existing) throw new Error(`schedule ${id} vanished`);
    return { created: false, schedule: existing };
  }

  async get(id: string): Promise<Schedule | null> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.definition) return null;
    const state = STATES.find((s) => s === h.state) ?? 'active';
    return {
      definition: JSON.parse(h.definition) as ScheduleDefinition,
      state,
      cycle: Number(h.cycle ?? 1),
      attempt: Number(h.attempt ?? 0),
      phase: (h.phase === 'charging' ? 'charging' : 'due') as CyclePhase,
      nextAt: Number(h.next_at ?? 0),
      ...(h.operation ? { operation: h.operation } : {}),
      ...(h.last_reason ? { lastReason: h.last_reason } : {}),
      ...(h.ended_at ? { endedAt: Number(h.ended_at) } : {}),
      ...(h.skipped_cycles ? { skippedCycles: Number(h.skipped_cycles) } : {}),
      ...(h.last_skip_from ? { lastSkip: skipOf(h) } : {}),
    };
  }

  /**
   * Writes the schedule's moving parts and its place in the due index (only active schedules are due); one not active
   * enters the ended index at `now` (unless there already).
   */
  async save(schedule: Schedule, now = Date.now()): Promise<void> {
    const id = schedule.definition.id;
    const multi = this.redis.multi().hset(this.key(id), { ...movingParts(schedule), ...skipParts(schedule) });
    if (schedule.state === 'active') multi.zadd(this.dueKey, schedule.nextAt, id);
    else multi.zrem(this.dueKey, id).hsetnx(this.key(id), 'ended_at', now).zadd(this.keys.ended, 'NX', now, id);
    await multi.exec();
  }

  /**
   * What the runner writes: as {@link save}, but only while the stored schedule is still `active`, in one script.
   * The runner's copy was read before its step; a cancel since then stands (the copy is not written).
   * @param stayDue a schedule written no longer active stays in the due index (at `nextAt`) until {@link dropDue}:
   *   a cycle failed for good, whose final failure event is recorded after this write.
   * @returns false when the schedule was no longer active: nothing was written.
   */
  async updateActive(schedule: Schedule, stayDue = false, now = Date.now()): Promise<boolean> {
    return (await this.runUpdate(schedule, stayDue, null, now)) === 'written';
  }

  /**
   * As {@link updateActive}, and only while the stored cycle, attempt, phase and operation are still those of `read`
   * (the copy `next` was made from), in the same script: of two runners stepping one schedule at once, one writes.
   * @returns `written`; `not_active` (a cancel or another stop meanwhile); `moved` (another runner stepped it
   *   meanwhile). Nothing is written unless `written`.
   * @param now when a schedule written ended ended (its place in the ended index).
   */
  async updateFrom(read: Schedule, next: Schedule, stayDue = false, now = Date.now()): Promise<'written' | 'not_active' | 'moved'> {
    return this.runUpdate(next, stayDue, read, now);
  }

  private async runUpdate(schedule: Schedule, stayDue: boolean, read: Schedule | null, now: number): Promise<'written' | 'not_active' | 'moved'> {
    const id = schedule.definition.id;
    const written = await UPDATE_ACTIVE_SCRIPT.run(this.redis, {
      keys: { schedule: this.key(id), due: this.dueKey, ended: this.keys.ended },
      args: {
        id,
        now,
        ...movingParts(schedule),
        ...skipParts(schedule),
        stay_due: stayDue ? '1' : '',
        expect: read ? '1' : '',
        exp_cycle: read ? String(read.cycle) : '',
        exp_attempt: read ? String(read.attempt) : '',
        exp_phase: read ? read.phase : '',
        exp_operation: read?.operation ?? '',
      },
    });
    return written === 1 ? 'written' : written === 2 ? 'moved' : 'not_active';
  }

  /**
   * Marks the notice of schedule `id`'s skip of cycles `from` to `through` recorded in the outbox, only while that skip
   * is still its last and its notice pending.
   * @returns whether this call marked it.
   */
  async markSkipNoticed(id: string, from: number, through: number): Promise<boolean> {
    return (await SKIP_NOTICED_SCRIPT.run(this.redis, { keys: { schedule: this.key(id) }, args: { from, through } })) === 1;
  }

  /** Active schedules whose next look is due at `now`, oldest first. */
  async dueIds(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.dueKey, '-inf', String(now), 'LIMIT', 0, limit);
  }

  /** Moves a due schedule's place in the due index to `at` (ms); one that left the index meanwhile is not put back. */
  async postpone(id: string, at: number): Promise<void> {
    await this.redis.zadd(this.dueKey, 'XX', at, id);
  }

  /**
   * Takes an id off the due index (its schedule is gone or no longer active); a schedule that stands ended enters the
   * ended index at `now` unless there already (a failed one once its final event is recorded; one an earlier
   * release ended).
   */
  async dropDue(id: string, now = Date.now()): Promise<void> {
    await DROP_DUE_SCRIPT.run(this.redis, { keys: { schedule: this.key(id), due: this.dueKey, ended: this.keys.ended }, args: { id, now } });
  }

  /**
   * One page of the walk over `:schedules` that puts in the ended index the schedules an earlier release ended
   * (they were never put there: retention would keep them for ever), from `ended_at` `now` (when they ended is not
   * known), and takes out of the list the ids whose schedule is gone. The walk resumes from its mark at each call and
   * starts again a day after it finished: an older process still running in a rolling upgrade may end one after it.
   * @returns how many schedules were walked, put in the ended index, and ids dropped as gone (0s: not its turn).
   */
  async indexEndedPage(now: number, page = 500): Promise<{ walked: number; indexed: number; gone: number }> {
    const mark = await this.redis.get(this.keys.endedWalk);
    const [head, tail] = (mark ?? '').split(' ');
    if (head === 'done' && now - Number(tail) < ENDED_WALK_EVERY_MS) return { walked: 0, indexed: 0, gone: 0 };
    const score = Number(head);
    const after: ScoredEntry = mark && head !== 'done' && Number.isFinite(score) ? { score, id: tail ?? '' } : { score: Number.NEGATIVE_INFINITY, id: '' };
    const entries = await entriesAfter(this.redis, this.keys.all, after, page);
    const results = await Promise.all(
      entries.map((e) =>
        INDEX_ENDED_SCRIPT.run(this.redis, {
          keys: { schedule: this.key(e.id), due: this.dueKey, ended: this.keys.ended, all: this.keys.all },
          args: { id: e.id, now },
        }),
      ),
    );
    const last = entries[entries.length - 1];
    await this.redis.set(this.keys.endedWalk, entries.length < page || !last ? `done ${now}` : `${last.score} ${last.id}`);
    return {
      walked: entries.length,
      indexed: results.filter((r) => r === 'indexed').length,
      gone: results.filter((r) => r === 'gone').length,
    };
  }

  /**
   * Retention: deletes the schedules that ended at or before `cutoff` (epoch ms), oldest first, at most `limit`, each
   * in one script with its entries in the list of schedules and its order's index (see `EXPIRE_SCRIPT`); active ones
   * are never in the ended index.
   * @returns how many were deleted.
   */
  async expireEnded(cutoff: number, limit: number, now = Date.now()): Promise<number> {
    const ids = await this.redis.zrangebyscore(this.keys.ended, '-inf', String(cutoff), 'LIMIT', 0, limit);
    if (ids.length === 0) return 0;
    const read = this.redis.pipeline();
    for (const id of ids) read.hget(this.key(id), 'definition');
    const definitions = repliesOrThrow(await read.exec());
    let expired = 0;
    for (const [i, id] of ids.entries()) {
      const definition = typeof definitions[i] === 'string' ? definitions[i] : '';
      const orderId = orderIdOf(definition) ?? '';
      const result = await EXPIRE_SCRIPT.run(this.redis, {
        keys: {
          schedule: this.key(id),
          due: this.dueKey,
          ended: this.keys.ended,
          all: this.keys.all,
          order: this.keys.order(orderId),
          deleted: this.keys.deleted,
        },
        args: { id, cutoff, definition, order_id: orderId, now },
      });
      if (result === 'expired') expired += 1;
    }
    return expired;
  }

  /** Every schedule id, by creation. */
  async ids(limit = 1000): Promise<string[]> {
    return this.redis.zrange(this.keys.all, 0, limit - 1);
  }

  /**
   * The ids of the schedules whose definition names order `orderId` (its order index, after {@link catchUpOrderIndex}
   * for those created by a release before the index); an id whose schedule is gone is skipped and taken out of the
   * index ({@link listOrder}).
   */
  async idsOfOrder(orderId: string): Promise<string[]> {
    return (await this.listOrder(orderId)).ids;
  }

  /**
   * {@link idsOfOrder}, and the ids its order index held whose schedule is gone, taken out of it here (each in one
   * script that checks the schedule is still gone): entries a deletion left behind before it took them with it.
   * One SMEMBERS and one pipeline of EXISTS (one slot); one script more per id gone.
   */
  async listOrder(orderId: string): Promise<{ ids: string[]; dropped: string[] }> {
    if (orderId === '') return { ids: [], dropped: [] };
    const order = this.keys.order(orderId);
    const members = (await this.redis.smembers(order)).sort();
    if (members.length === 0) return { ids: [], dropped: [] };
    const read = this.redis.pipeline();
    for (const id of members) read.exists(this.key(id));
    const exists = repliesOrThrow(await read.exec());
    const ids: string[] = [];
    const dropped: string[] = [];
    for (const [i, id] of members.entries()) {
      if (Number(exists[i]) === 1) ids.push(id);
      else if (Number(await DROP_GONE_SCRIPT.run(this.redis, { keys: { schedule: this.key(id), order }, args: { id } })) === 1) dropped.push(id);
      // Else created meanwhile (an id the retention never deleted), or taken out by another listing: not listed here.
    }
    if (dropped.length > 0) orderEntriesDropped.inc(dropped.length);
    return { ids, dropped };
  }

  /**
   * Puts in the order index every schedule created since the last catch-up (from its mark, less
   * `ORDER_INDEX_OVERLAP_MS`), walking `:schedules` by creation a page at a time (one pipeline of HGETs a page, one
   * slot), then moves the mark. The first one after the release that brought the index walks every schedule, each
   * later one only the few created since: schedules a release before the index created, including one an older
   * process still running created after the first catch-up, are indexed before an erasure looks. Idempotent (SADD).
   * @returns how many schedules were walked, how many of them name an order (indexed or already there), and how many
   *   of those were not in their order's index before (`added`: schedules a release before the index created).
   */
  async catchUpOrderIndex(page = 500): Promise<{ walked: number; indexed: number; added: number }> {
    const mark = await this.redis.get(this.keys.orderIndexMark);
    const markScore = mark ? Number(mark.split(' ')[0]) : Number.NaN;
    let after: ScoredEntry = Number.isFinite(markScore) ? { score: markScore - ORDER_INDEX_OVERLAP_MS, id: '' } : { score: Number.NEGATIVE_INFINITY, id: '' };
    let walked = 0;
    let indexed = 0;
    let added = 0;
    let last: ScoredEntry | null = null;
    for (;;) {
      const entries = await entriesAfter(this.redis, this.keys.all, after, page);
      if (entries.length === 0) break;
      const read = this.redis.pipeline();
      for (const e of entries) read.hget(this.key(e.id), 'definition');
      // A failed read or write throws: the mark, moved below, must never pass a schedule left out of the index.
      const replies = repliesOrThrow(await read.exec());
      // One script a page, adding each schedule only while it stands: the retention may delete one after this read,
      // and its entry, written after the deletion took it out, would name nothing for ever.
      const pairs: string[] = [];
      const ids: string[] = [];
      entries.forEach((e, i) => {
        const orderId = orderIdOf(replies[i]);
        if (orderId === null) return;
        pairs.push(this.key(e.id), this.keys.order(orderId));
        ids.push(e.id);
      });
      if (ids.length > 0) added += Number(await INDEX_ORDERS_SCRIPT.run(this.redis, { keys: {}, args: {} }, ids, pairs));
      walked += entries.length;
      indexed += ids.length;
      after = entries[entries.length - 1];
      last = after;
      if (entries.length < page) break;
    }
    // Forward of the mark this one read: beside another catch-up it may set the mark back to where it got, which only
    // has the next one walk some schedules again (SADD is idempotent).
    if (last && (!Number.isFinite(markScore) || last.score > markScore)) await this.redis.set(this.keys.orderIndexMark, `${last.score} ${last.id}`);
    return { walked, indexed, added };
  }

  /**
   * Puts schedule `id` in the order index of the order its definition names (none: nothing), only while it stands (the
   * catch-up's script: the retention may delete it after the read). Idempotent. For a schedule the catch-up's walk may
   * not reach: one moved from its pre-cluster name (src/data-lifecycle/legacy-keys.ts).
   */
  async indexOrderOf(id: string): Promise<void> {
    const orderId = orderIdOf(await this.redis.hget(this.key(id), 'definition'));
    if (orderId !== null) await INDEX_ORDERS_SCRIPT.run(this.redis, { keys: {}, args: {} }, [id], [this.key(id), this.keys.order(orderId)]);
  }

  /**
   * Replaces schedule `id`'s definition by `erase(definition)` (an erasure of its order: the caller's policy says what
   * stays), only if it is still the definition read, and marks it `erased_at` (the first erasure's time stays).
   * @returns whether this call changed it (false: no schedule, nothing to erase, or erased already).
   */
  async eraseDefinition(id: string, erase: (definition: ScheduleDefinition) => ScheduleDefinition, now = Date.now()): Promise<boolean> {
    const read = await this.redis.hget(this.key(id), 'definition');
    if (read === null) return false;
    let erased: string;
    try {
      erased = JSON.stringify(erase(JSON.parse(read) as ScheduleDefinition));
    } catch {
      // A definition that does not decode: nothing of it can be told safe.
      erased = JSON.stringify({ id });
    }
    if (erased === read) return false;
    return (await ERASE_SCRIPT.run(this.redis, { keys: { schedule: this.key(id) }, args: { read, erased, now } })) === 1;
  }

  /**
   * Stops a schedule: no further cycle starts (a charge already out still settles in the ledger). Only the state
   * changes (and `ended_at` is stamped), in one script with the due and ended indexes: the cycle, attempt and
   * operation stay as the runner left them.
   * @returns whether this call stopped it (of two cancels at once, one), and the schedule after it; null: no schedule.
   */
  async cancel(id: string, now = Date.now()): Promise<{ cancelled: boolean; schedule: Schedule } | null> {
    const cancelled =
      (await CANCEL_SCRIPT.run(this.redis, { keys: { schedule: this.key(id), due: this.dueKey, ended: this.keys.ended }, args: { id, now } })) === 1;
    const schedule = await this.get(id);
    return schedule ? { cancelled, schedule } : null;
  }
}

/** A pipeline's replies, its first failed command's error thrown. */
function repliesOrThrow(replies: Array<[Error | null, unknown]> | null): unknown[] {
  return (replies ?? []).map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** The order a stored definition names, or null (none, or a definition that does not decode). */
function orderIdOf(definition: unknown): string | null {
  if (typeof definition !== 'string') return null;
  try {
    const orderId = (JSON.parse(definition) as { order_id?: unknown }).order_id;
    return typeof orderId === 'string' && orderId !== '' ? orderId : null;
  } catch {
    return null;
  }
}

/** A schedule's fields that move (everything but its definition), as stored. */
function movingParts(schedule: Schedule): Record<'state' | 'cycle' | 'attempt' | 'phase' | 'next_at' | 'operation' | 'last_reason', string> {
  return {
    state: schedule.state,
    cycle: String(schedule.cycle),
    attempt: String(schedule.attempt),
    phase: schedule.phase,
    next_at: String(schedule.nextAt),
    operation: schedule.operation ?? '',
    last_reason: schedule.lastReason ?? '',
  };
}

/** A schedule's record of its skipped cycles, as stored ('' when none). */
function skipParts(schedule: Schedule): Record<'skipped_cycles' | 'last_skip_from' | 'last_skip_through' | 'last_skip_at' | 'last_skip_notice', string> {
  const skip = schedule.lastSkip;
  return {
    skipped_cycles: schedule.skippedCycles ? String(schedule.skippedCycles) : '',
    last_skip_from: skip ? String(skip.from) : '',
    last_skip_through: skip ? String(skip.through) : '',
    last_skip_at: skip ? String(skip.at) : '',
    last_skip_notice: skip?.notice ?? '',
  };
}

/** The last skip of a stored schedule hash that holds one. */
function skipOf(h: Record<string, string>): NonNullable<Schedule['lastSkip']> {
  const notice = h.last_skip_notice === 'pending' || h.last_skip_notice === 'sent' ? h.last_skip_notice : undefined;
  return { from: Number(h.last_skip_from), through: Number(h.last_skip_through), at: Number(h.last_skip_at), ...(notice ? { notice } : {}) };
}

/** Checks a definition by the command its first cycle would send (with a channel's rules). */
export function validateDefinition(d: ScheduleDefinition, issued?: IssuedTokenValues): void {
  if (typeof d.id !== 'string' || !SCHEDULE_ID.test(d.id)) throw new CommandValidationError('schedule.id', 'must be 1 to 64 letters, digits, ., _ or -');
  if (typeof d.start_at !== 'string' || Number.isNaN(Date.parse(d.start_at))) throw new CommandValidationError('schedule.start_at', 'must be an ISO 8601 time');
  const i = d.interval as Partial<ScheduleDefinition['interval']> | undefined;
  if (!i || !['day', 'week', 'month'].includes(i.unit ?? '') || !Number.isInteger(i.count) || (i.count ?? 0) < 1 || (i.count ?? 0) > 366) {
    throw new CommandValidationError('schedule.interval', 'must be {unit: day|week|month, count: 1..366}');
  }
  if (d.max_cycles !== undefined && (!Number.isInteger(d.max_cycles) || d.max_cycles < 1))
    throw new CommandValidationError('schedule.max_cycles', 'must be a positive integer');
  if (d.command !== undefined && d.command !== 'sale' && d.command !== 'authorize')
    throw new CommandValidationError('schedule.command', 'must be sale or authorize');
  try {
    validateCommand(cycleCommandToValidate(d), undefined, issued);
  } catch (err) {
    if (err instanceof CommandValidationError) throw new CommandValidationError(err.field.replace(/^payment\./, 'schedule.'), err.reason, err.code);
    throw err;
  }
}

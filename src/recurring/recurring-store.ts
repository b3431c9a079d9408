import { RedisClient } from '../redis/redis-connection';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { IssuedTokenValues } from '../contracts/card-data-policy';
import { validateCommand } from '../contracts/command-validator';
import { CommandValidationError } from '../errors/command-validation-error';
import { Schedule, ScheduleDefinition, ScheduleState, CyclePhase, cycleCommandToValidate, cycleDueAt } from './recurring-schedule';

const SCHEDULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const STATES: readonly ScheduleState[] = ['active', 'cancelled', 'completed', 'failed'];

/**
 * A schedule's moving parts and its place in the due index, written only while the stored schedule is still
 * `active` (1), else nothing (0): a cancel (or any stop) that came after the runner read the schedule is never
 * overwritten by the runner's older copy, which would make it active again and charge on. `stay_due` '1': a
 * schedule no longer active stays in the due index (a cycle failed for good whose event is still to record).
 */
const UPDATE_ACTIVE_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due'], ['id', 'state', 'cycle', 'attempt', 'phase', 'next_at', 'operation', 'last_reason', 'stay_due']),
  `
if redis.call('HGET', K.schedule, 'state') ~= 'active' then return 0 end
redis.call('HSET', K.schedule, 'state', A.state, 'cycle', A.cycle, 'attempt', A.attempt, 'phase', A.phase,
  'next_at', A.next_at, 'operation', A.operation, 'last_reason', A.last_reason)
if A.state == 'active' or A.stay_due == '1' then redis.call('ZADD', K.due, A.next_at, A.id) else redis.call('ZREM', K.due, A.id) end
return 1
`,
);

/**
 * Creates a schedule in one step: its definition, its first cycle's state, the due index and the list of every
 * schedule. 'created'; 'exists' when the id holds this definition already; 'other' when it holds another one. A
 * schedule whose definition stands without a state (a creation cut short by a crash before this was one script)
 * is finished here ('created'): otherwise it would look active and never be due.
 */
const CREATE_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due', 'all'], ['id', 'definition', 'created_at', 'state', 'cycle', 'attempt', 'phase', 'next_at', 'operation', 'last_reason']),
  `
local existing = redis.call('HGET', K.schedule, 'definition')
if existing then
  if existing ~= A.definition then return 'other' end
  if redis.call('HEXISTS', K.schedule, 'state') == 1 then return 'exists' end
end
redis.call('HSET', K.schedule, 'definition', A.definition, 'state', A.state, 'cycle', A.cycle, 'attempt', A.attempt,
  'phase', A.phase, 'next_at', A.next_at, 'operation', A.operation, 'last_reason', A.last_reason)
redis.call('ZADD', K.due, A.next_at, A.id)
redis.call('ZADD', K.all, 'NX', A.created_at, A.id)
return 'created'
`,
);

/**
 * Stops an active schedule: its state alone becomes `cancelled` and it leaves the due index (1); else nothing (0).
 * A definition without a state (a creation cut short) is active, as `RecurringStore.get` reads it.
 */
const CANCEL_SCRIPT = new LuaScript(
  luaInputs(['schedule', 'due'], ['id']),
  `
local state = redis.call('HGET', K.schedule, 'state')
if not state and redis.call('HEXISTS', K.schedule, 'definition') == 1 then state = 'active' end
if state ~= 'active' then return 0 end
redis.call('HSET', K.schedule, 'state', 'cancelled')
redis.call('ZREM', K.due, A.id)
return 1
`,
);

/** The recurring schedules' keys under `prefix` (see {@link RecurringStore}). */
export function recurringKeys(prefix: string): { schedule(id: string): string; due: string; all: string } {
  const base = `${prefix}{recurring}:`;
  return { schedule: (id) => `${base}schedule:${id}`, due: `${base}due`, all: `${base}schedules` };
}

/**
 * Recurring schedules in Redis. Keys under the prefix P, all with the hash tag `{recurring}` (one Redis
 * Cluster slot: `save` writes a schedule and the due index in one transaction, `add`, `updateActive` and
 * `cancel` in one script each):
 *   P {recurring}:schedule:<id>   hash: `definition` (JSON, fixed at creation), `state`, `cycle`, `attempt`,
 *                                 `phase`, `next_at`, `operation`, `last_reason`
 *   P {recurring}:due             sorted set of active schedule ids, score = `next_at` (epoch ms)
 *   P {recurring}:schedules       sorted set of every schedule id, score = creation time
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
      keys: { schedule: this.key(id), due: this.dueKey, all: this.keys.all },
      args: { id, definition: JSON.stringify(definition), created_at: now, ...movingParts(schedule) },
    });
    if (result === 'created') return { created: true, schedule };
    if (result === 'other') throw new CommandValidationError('schedule.id', 'names another schedule already (an id is one agreement)', 'INVALID_PARAMS');
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
    };
  }

  /** Writes the schedule's moving parts and its place in the due index (only active schedules are due). */
  async save(schedule: Schedule): Promise<void> {
    const id = schedule.definition.id;
    const multi = this.redis.multi().hset(this.key(id), movingParts(schedule));
    if (schedule.state === 'active') multi.zadd(this.dueKey, schedule.nextAt, id);
    else multi.zrem(this.dueKey, id);
    await multi.exec();
  }

  /**
   * What the runner writes: as {@link save}, but only while the stored schedule is still `active`, in one script.
   * The runner's copy was read before its step; a cancel since then stands (the copy is not written).
   * @param stayDue a schedule written no longer active stays in the due index (at `nextAt`) until {@link dropDue}:
   *   a cycle failed for good, whose final failure event is recorded after this write.
   * @returns false when the schedule was no longer active: nothing was written.
   */
  async updateActive(schedule: Schedule, stayDue = false): Promise<boolean> {
    const id = schedule.definition.id;
    const written = await UPDATE_ACTIVE_SCRIPT.run(this.redis, {
      keys: { schedule: this.key(id), due: this.dueKey },
      args: { id, ...movingParts(schedule), stay_due: stayDue ? '1' : '' },
    });
    return written === 1;
  }

  /** Active schedules whose next look is due at `now`, oldest first. */
  async dueIds(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.dueKey, '-inf', String(now), 'LIMIT', 0, limit);
  }

  /** Moves a due schedule's place in the due index to `at` (ms); one that left the index meanwhile is not put back. */
  async postpone(id: string, at: number): Promise<void> {
    await this.redis.zadd(this.dueKey, 'XX', at, id);
  }

  /** Takes an id off the due index (its schedule is gone or no longer active). */
  async dropDue(id: string): Promise<void> {
    await this.redis.zrem(this.dueKey, id);
  }

  /** Every schedule id, by creation. */
  async ids(limit = 1000): Promise<string[]> {
    return this.redis.zrange(this.keys.all, 0, limit - 1);
  }

  /**
   * Stops a schedule: no further cycle starts (a charge already out still settles in the ledger). Only the state
   * changes, in one script with the due index: the cycle, attempt and operation stay as the runner left them.
   * @returns whether this call stopped it (of two cancels at once, one), and the schedule after it; null: no schedule.
   */
  async cancel(id: string): Promise<{ cancelled: boolean; schedule: Schedule } | null> {
    const cancelled = (await CANCEL_SCRIPT.run(this.redis, { keys: { schedule: this.key(id), due: this.dueKey }, args: { id } })) === 1;
    const schedule = await this.get(id);
    return schedule ? { cancelled, schedule } : null;
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

import { RedisClient } from '../redis/redis-connection';
import { RECONCILIATION_CLASSES, ReconciliationClass } from '../reconciliation/reconciliation-class';
import type { ReconciliationWindow, UnreadablePspLine } from '../reconciliation/psp-record';
import type { ReconciledMarkOutcome } from '../ledger/reconciled-mark';
import type { CreatedCursor } from '../ledger/ledger';

/** Unreadable lines a run keeps for its report (the first ones; all are counted). */
export const UNREADABLE_LINES_KEPT = 1000;

const REFRESH_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";

// One page's commit, written only while the run's lock holds the committing invocation's token (ARGV[1]; '' = no
// check): an invocation whose lock expired and was taken by another must not add its page's totals to the ones that
// other invocation adds for the same page. KEYS: the run, its lock, its seen set, its unreadable lines. ARGV: token,
// lock ms, ttl s, then JSON {set: [[field, value]], incr: [[field, "n"]], seen: [...], unreadable: [...], kept}.
// 1 committed, 0 not (the lock is another's).
const COMMIT_PAGE = `
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
local d = cjson.decode(ARGV[4])
for _, kv in ipairs(d.set) do redis.call('HSET', KEYS[1], kv[1], kv[2]) end
for _, kv in ipairs(d.incr) do redis.call('HINCRBY', KEYS[1], kv[1], kv[2]) end
if #d.seen > 0 then
  for i = 1, #d.seen, 500 do redis.call('SADD', KEYS[3], unpack(d.seen, i, math.min(i + 499, #d.seen))) end
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
if #d.unreadable > 0 then
  redis.call('HINCRBY', KEYS[1], 'unreadable', #d.unreadable)
  for i = 1, #d.unreadable, 500 do redis.call('RPUSH', KEYS[4], unpack(d.unreadable, i, math.min(i + 499, #d.unreadable))) end
  redis.call('LTRIM', KEYS[4], 0, tonumber(d.kept) - 1)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

// A run's finish, written only while the run's lock holds the finishing invocation's token (ARGV[1]; '' = no check).
// KEYS: the run, its lock, its seen set, its unreadable lines. ARGV: token, ttl s, then the fields to set. 1 done, 0 not.
const FINISH_RUN = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
`;

/** Where a run is: reading the PSP's lines, then the ledger's operations of the window no line named. */
export type RunPhase = 'psp' | 'ledger';

/** What a finished, applied run did to its gateway's reconciled-through mark (`Ledger.recordReconciledWindow`). */
export interface RunMark {
  outcome: ReconciledMarkOutcome;
  /** The mark after the run, epoch ms (null: none). */
  through: number | null;
  /** Why the mark was held (`held` only): PSP lines the run could not read, so the window is not reconciled. */
  reason?: 'psp_lines_not_read';
}

/** A run's progress as stored, totals over every invocation that worked on it. */
export interface StoredRun {
  status: 'new' | 'running' | 'done';
  phase: RunPhase;
  /** The reader's cursor after the last page committed (absent: from the window's start). */
  cursor?: string;
  /** Where the ledger phase goes on: the place in the creation indexes after the last page committed. */
  ledgerCursor?: CreatedCursor;
  /**
   * An older release's ledger phase position, a rank in the creation indexes (and no `ledgerCursor`): not
   * trusted (retention may have shifted it since), so that phase is read again from the window's start.
   */
  ledgerRank?: number;
  startedAt?: number;
  finishedAt?: number;
  lines: number;
  classes: Record<ReconciliationClass, number>;
  /** Adjustments recorded (new), operations settled, actions a dry run would have taken. */
  adjusted: number;
  settled: number;
  wouldApply: number;
  /** Sum of fees and of net amounts, by currency, minor units. */
  fees: Record<string, number>;
  net: Record<string, number>;
  /** PSP lines the reader could not read, set aside (not in `lines`). */
  unreadable: number;
  /** PSP objects the run read by id to confirm operations no line named (`reconciliation.lookups_per_run` bounds it). */
  lookups: number;
  /** What the run did to the reconciled-through mark when it finished (absent: not finished, a dry run, or an older release's). */
  mark?: RunMark;
}

/** What one committed page adds to the stored run. */
export interface PageDelta {
  phase: RunPhase;
  cursor?: string;
  ledgerCursor?: CreatedCursor;
  lines: number;
  classes: Partial<Record<ReconciliationClass, number>>;
  adjusted: number;
  settled: number;
  wouldApply: number;
  fees: Record<string, number>;
  net: Record<string, number>;
  /** Operation ids the page's lines matched (the ledger phase skips them). */
  seen: string[];
  /** Operation ids left to a person (the runner keeps them out of retention's expiry; not stored here). */
  held: string[];
  /** The page's lines the reader set aside, with their reasons. */
  unreadable: UnreadablePspLine[];
  /** PSP objects the page read by id (ledger phase). */
  lookups: number;
}

/**
 * A run's resumable state in Redis, one per gateway and window (a dry run has its own, started afresh
 * each time):
 *   P recon:run:{<gateway>:<from>:<to>[:dry]}        hash: status, phase, cursor, ledger cursor, totals
 *   P recon:run:{<gateway>:<from>:<to>[:dry]}:seen   set: operation ids a PSP line was matched to
 *   P recon:run:{<gateway>:<from>:<to>[:dry]}:lock   the running invocation's lock
 *   P recon:run:{<gateway>:<from>:<to>[:dry]}:unreadable  list: the first lines the reader could not read (JSON)
 * The braces are a hash tag: the four share a Redis Cluster slot, for the scripts and the DEL that name several.
 * A page's cursor and totals are committed together (one script) after its actions are applied, so a run stopped
 * anywhere resumes at the first page not committed; redoing that page is harmless (every action is
 * idempotent by the PSP line id). A finished run stays `done` for `ttlS`: running it again does nothing.
 */
export class ReconciliationRunState {
  readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    gateway: string,
    window: ReconciliationWindow,
    dryRun: boolean,
    /** How long a run's state is kept after its last page, seconds. */
    private readonly ttlS: number,
  ) {
    this.key = `${prefix}recon:run:{${gateway}:${window.from}:${window.to}${dryRun ? ':dry' : ''}}`;
  }

  get seenKey(): string {
    return `${this.key}:seen`;
  }

  get unreadableKey(): string {
    return `${this.key}:unreadable`;
  }

  /** Takes the run's lock for `ms` (false: another invocation holds it). */
  async lock(token: string, ms: number): Promise<boolean> {
    return (await this.redis.set(`${this.key}:lock`, token, 'PX', ms, 'NX')) === 'OK';
  }

  /** Extends the run's lock if it still holds `token`; false when it does not (expired, or another invocation's). */
  async refreshLock(token: string, ms: number): Promise<boolean> {
    return Number(await this.redis.eval(REFRESH_LOCK, 1, `${this.key}:lock`, token, ms)) === 1;
  }

  async unlock(token: string): Promise<void> {
    await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, `${this.key}:lock`, token);
  }

  /** Forgets the run (a dry run starts afresh). */
  async clear(): Promise<void> {
    await this.redis.del(this.key, this.seenKey, this.unreadableKey);
  }

  async load(): Promise<StoredRun> {
    const h = await this.redis.hgetall(this.key);
    const num = (name: string): number => Number(h[name] ?? 0);
    const byCurrency = (prefix: string): Record<string, number> =>
      Object.fromEntries(
        Object.entries(h)
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, v]) => [k.slice(prefix.length), Number(v)]),
      );
    const ledgerCursor = ledgerCursorOf(h.ledger_cursor);
    return {
      status: h.status === 'running' || h.status === 'done' ? h.status : 'new',
      phase: h.phase === 'ledger' ? 'ledger' : 'psp',
      ...(h.cursor ? { cursor: h.cursor } : {}),
      ...(ledgerCursor ? { ledgerCursor } : {}),
      ...(h.ledger_rank !== undefined ? { ledgerRank: Number(h.ledger_rank) } : {}),
      ...(h.started_at ? { startedAt: Number(h.started_at) } : {}),
      ...(h.finished_at ? { finishedAt: Number(h.finished_at) } : {}),
      lines: num('lines'),
      classes: Object.fromEntries(RECONCILIATION_CLASSES.map((c) => [c, num(`class:${c}`)])) as Record<ReconciliationClass, number>,
      adjusted: num('adjusted'),
      settled: num('settled'),
      wouldApply: num('would_apply'),
      fees: byCurrency('fee:'),
      net: byCurrency('net:'),
      unreadable: num('unreadable'),
      lookups: num('lookups'),
      ...(isMarkOutcome(h.mark)
        ? {
            mark: {
              outcome: h.mark,
              through: h.mark_through ? Number(h.mark_through) : null,
              ...(h.mark === 'held' ? { reason: 'psp_lines_not_read' as const } : {}),
            },
          }
        : {}),
    };
  }

  /** The lines the reader could not read, as committed (the first {@link UNREADABLE_LINES_KEPT}). */
  async unreadableLines(): Promise<UnreadablePspLine[]> {
    const raw = await this.redis.lrange(this.unreadableKey, 0, UNREADABLE_LINES_KEPT - 1);
    return raw.flatMap((text) => {
      try {
        return [JSON.parse(text) as UnreadablePspLine];
      } catch {
        return [];
      }
    });
  }

  /** Marks the run started (first invocation only keeps its start time). */
  async start(now: number): Promise<void> {
    await this.redis.multi().hsetnx(this.key, 'started_at', String(now)).hset(this.key, 'status', 'running').expire(this.key, this.ttlS).exec();
  }

  /**
   * Commits one page: its cursor (or ledger cursor) and its totals, atomically; with `lock`, only while the run's
   * lock holds `lock.token` (then refreshed in the same script: the keys share the run's hash tag).
   * @returns false when the lock is not the token's (nothing written): another invocation runs the window now.
   */
  async commit(delta: PageDelta, lock?: { token: string; ms: number }): Promise<boolean> {
    const set: [string, string][] = [['phase', delta.phase]];
    if (delta.cursor !== undefined) set.push(['cursor', delta.cursor]);
    if (delta.ledgerCursor !== undefined) set.push(['ledger_cursor', JSON.stringify(delta.ledgerCursor)]);
    // Counts as strings: a Lua number would print a large money total in exponent form.
    const incr: [string, string][] = [];
    const add = (field: string, n: number | undefined): void => {
      if (n) incr.push([field, String(n)]);
    };
    add('lines', delta.lines);
    for (const [c, n] of Object.entries(delta.classes)) add(`class:${c}`, n);
    add('adjusted', delta.adjusted);
    add('settled', delta.settled);
    add('would_apply', delta.wouldApply);
    add('lookups', delta.lookups);
    for (const [cur, n] of Object.entries(delta.fees)) add(`fee:${cur}`, n);
    for (const [cur, n] of Object.entries(delta.net)) add(`net:${cur}`, n);
    // With the cursor that moves past them: a page redone after a stop never lists its lines twice.
    const unreadable = delta.unreadable.map((u) => JSON.stringify(u));
    const page = JSON.stringify({ set, incr, seen: delta.seen, unreadable, kept: UNREADABLE_LINES_KEPT });
    const keys = [this.key, `${this.key}:lock`, this.seenKey, this.unreadableKey];
    const committed = await this.redis.eval(COMMIT_PAGE, keys.length, ...keys, lock?.token ?? '', lock?.ms ?? 0, this.ttlS, page);
    return Number(committed) === 1;
  }

  /**
   * Marks the run done, with what it did to the reconciled-through mark (`mark`; none for a dry run), and drops its
   * seen set (no longer needed); its unreadable lines stay with it for its report. With `lock`, only while the run's
   * lock holds `lock.token` (one script: the keys share the run's hash tag).
   * @returns false when the lock is not the token's (nothing written): another invocation runs the window now.
   */
  async finish(now: number, mark?: RunMark, lock?: { token: string; ms: number }): Promise<boolean> {
    const fields = ['status', 'done', 'finished_at', String(now)];
    if (mark) fields.push('mark', mark.outcome, 'mark_through', mark.through === null ? '' : String(mark.through));
    const keys = [this.key, `${this.key}:lock`, this.seenKey, this.unreadableKey];
    const finished = await this.redis.eval(FINISH_RUN, keys.length, ...keys, lock?.token ?? '', this.ttlS, ...fields);
    return Number(finished) === 1;
  }
}

function isMarkOutcome(value: string | undefined): value is ReconciledMarkOutcome {
  return value === 'moved' || value === 'covered' || value === 'gap' || value === 'held';
}

/** A stored ledger cursor (`ledger_cursor`, JSON), or undefined when absent or not one. */
function ledgerCursorOf(raw: string | undefined): CreatedCursor | undefined {
  if (raw === undefined) return undefined;
  try {
    const c = JSON.parse(raw) as Partial<CreatedCursor>;
    return Number.isSafeInteger(c.shard) && typeof c.score === 'number' && Number.isFinite(c.score) && typeof c.id === 'string'
      ? { shard: c.shard as number, score: c.score, id: c.id }
      : undefined;
  } catch {
    return undefined;
  }
}

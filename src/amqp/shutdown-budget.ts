import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import type { RedisClient } from '../redis/redis-connection';

/** Most of a process's shutdown deadline kept back for the steps after the broker's (queues, Redis, the exit), ms. */
export const SHUTDOWN_MARGIN_MS = 2000;

/**
 * Most a step is still given once the budget is spent, ms (250; at most a quarter of the margin): in-flight work
 * that used the budget up must not leave a healthy broker's closes 1 ms each, which dropped the connection's socket
 * and counted close timeouts on routine deploys. The four closes that can follow one another fit in the margin.
 */
export const SPENT_STEP_MS = 250;

/**
 * What is left of a process's shutdown deadline (`shutdown.deadline_ms`), shared by the bounded steps of its stop:
 * each step waits at most the smaller of its own bound and what is left. Bounded one by one (each by
 * `amqp.publish_timeout_ms`), a broker gone silent made the steps add up past the deadline, and the process exited
 * with code 1 through the deadline's timer instead of stopping cleanly. A step cut short loses nothing: what its
 * channel or connection holds unacked is returned to its queue by the broker when that channel or connection ends
 * (the connection's own close, cut short too, drops its socket).
 */
export class ShutdownBudget {
  /** The steps the budget cut short (given less than their own bound, and not ended within it), in order, each named once. */
  readonly cut: string[] = [];

  private constructor(
    /** When the budget ends, ms (Date.now); Infinity for none. */
    private readonly until: number,
    private readonly now: () => number,
    /** What a step is still given once the budget is spent, ms ({@link SPENT_STEP_MS}; 1 for a margin of under 4 ms). */
    private readonly floorMs: number,
  ) {}

  /** No budget: each step keeps its own bound (a stop outside a process's shutdown, a test). */
  static unbounded(): ShutdownBudget {
    return new ShutdownBudget(Infinity, Date.now, 1);
  }

  /**
   * The budget of a shutdown that must end within `deadlineMs` from now: the deadline less a margin for the final
   * steps ({@link SHUTDOWN_MARGIN_MS}, at most a quarter of the deadline).
   */
  static of(deadlineMs: number, now: () => number = Date.now): ShutdownBudget {
    const margin = Math.min(SHUTDOWN_MARGIN_MS, Math.floor(deadlineMs / 4));
    return new ShutdownBudget(now() + deadlineMs - margin, now, Math.max(1, Math.min(SPENT_STEP_MS, Math.floor(margin / 4))));
  }

  /** What is left, ms (negative once spent; Infinity without a budget). */
  leftMs(): number {
    return this.until - this.now();
  }

  /**
   * The bound of a step starting now: the smaller of its own (`ownMs`) and what is left, and once the budget is
   * (nearly) spent still the smaller of its own and a floor taken from the margin ({@link SPENT_STEP_MS}): a step past
   * the budget is still tried, briefly. Records nothing: a step given less than its own bound may still end in time;
   * {@link step} records the ones that did not.
   */
  bound(ownMs: number): number {
    return Math.min(ownMs, Math.max(this.floorMs, Math.floor(this.leftMs())));
  }

  /**
   * Runs a bounded step: `run` gets its bound ({@link bound}) and says whether the step ended within it. One that did
   * not, under a bound the budget made smaller than its own, is recorded in {@link cut}: only the steps actually cut
   * short are named (a step given less than its own bound that the broker answers in time is not).
   */
  async step(ownMs: number, what: string, run: (timeoutMs: number) => Promise<boolean>): Promise<boolean> {
    const timeoutMs = this.bound(ownMs);
    const inTime = await run(timeoutMs);
    if (!inTime && timeoutMs < ownMs && !this.cut.includes(what)) this.cut.push(what);
    return inTime;
  }

  /**
   * Waits for `work` at most the smaller of `ownMs` (Infinity: until it settles) and what is left: true when it settled
   * in time (a rejection counts as settled), false when the wait was cut short (recorded in {@link cut} when the
   * budget cut it). `work` itself goes on.
   */
  async wait(work: Promise<unknown> | null | undefined, ownMs: number, what: string): Promise<boolean> {
    if (!work) return true;
    const settled = work.then(
      () => true,
      () => true,
    );
    const ms = this.bound(ownMs);
    if (!Number.isFinite(ms)) return settled;
    let timer: NodeJS.Timeout | undefined;
    try {
      const inTime = await Promise.race([settled, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
      if (!inTime && ms < ownMs && !this.cut.includes(what)) this.cut.push(what);
      return inTime;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * What a stop can leave unfinished when its budget runs out (a bounded set: the label `work`): `dead_letter` is a
 * message the broker dead-lettered by itself whose redacted copy was still being written.
 */
export type AbandonedWork = 'command' | 'queue_job' | 'poll_pass' | 'reconciliation' | 'dead_letter';

/** The processes whose stop can abandon work (the label `role`). */
export type AbandoningRole = 'worker' | 'poller';

/**
 * Every pair a stop can abandon: the scrape's gauge (`pb_shutdown_inflight_abandoned`) shows each, at 0 before the
 * first, so the alert sees the first abandon as a rise rather than a series born at its value.
 */
export const ABANDONABLE: readonly { role: AbandoningRole; work: AbandonedWork }[] = [
  { role: 'worker', work: 'command' },
  { role: 'worker', work: 'queue_job' },
  { role: 'worker', work: 'poll_pass' },
  { role: 'worker', work: 'dead_letter' },
  { role: 'poller', work: 'poll_pass' },
  { role: 'poller', work: 'reconciliation' },
];

/**
 * Work still under way when a stop's budget ran out, left to a redelivery or the next holder of its lock rather than
 * waited for past `shutdown.deadline_ms` (where the supervisor's SIGKILL would cut it mid-write): `role` the process
 * (`worker`, `poller`), `work` what was left (`command`: a command message left unacked, its PSP call under way;
 * `queue_job`: a BullMQ job under way, a delivery retry's PSP call among them, run again once its lock lapses;
 * `poll_pass`, `reconciliation`: a pass of the periodic jobs or a reconciliation run; `dead_letter`: a broker
 * dead letter whose redacted copy was being written, left unacked). Counted moments before the process exits, so a
 * scrape rarely sees it: {@link countAbandoned} also keeps it for {@link recordAbandoned}, which writes it to Redis,
 * where the surviving processes' scrapes read it (`pb_shutdown_inflight_abandoned`).
 */
export function abandonedAtShutdown() {
  return counter(
    'pb_shutdown_inflight_abandoned_total',
    'Work still under way when the shutdown budget (shutdown.deadline_ms) ran out, left unfinished for a redelivery or the next lock holder, by role and work (this process only: pb_shutdown_inflight_abandoned is the fleet total, from Redis)',
    ['role', 'work'] as const,
  );
}

/** Abandoned work counted and not yet written to Redis, by `<role>:<work>`. */
const unrecorded = new Map<string, number>();

/**
 * Counts `n` pieces of `work` a stop of `role` abandoned: the process's counter at once, and kept for
 * {@link recordAbandoned}, which the stop calls before it closes Redis.
 */
export function countAbandoned(role: AbandoningRole, work: AbandonedWork, n = 1): void {
  if (n <= 0) return;
  abandonedAtShutdown().inc({ role, work }, n);
  const field = `${role}:${work}`;
  unrecorded.set(field, (unrecorded.get(field) ?? 0) + n);
}

/**
 * The hash of the fleet's abandoned work, field `<role>:<work>`, value the count since the deployment's first stop
 * (hash-tagged `{shutdown}`: one key, one slot).
 */
export function abandonedCountsKey(keyPrefix: string): string {
  return `${keyPrefix}{shutdown}:abandoned`;
}

/** Most the write of the abandoned counts waits at a stop, ms (and never more than what is left of the budget, or its floor). */
export const ABANDONED_RECORD_MS = 1000;

/**
 * Writes what this process's stop abandoned (counted by {@link countAbandoned} for `role`) to Redis, one HINCRBY a
 * pair, so the surviving processes' scrapes show it after this one has exited. Called by the stop once its work is
 * settled or abandoned and before it closes Redis; waits at most {@link ABANDONED_RECORD_MS} and what is left of
 * `budget` (step `abandoned_record`): a Redis away or silent must not hold the stop past its deadline. A write that
 * fails or does not end in time is logged with the counts it carried (the warn lines of the abandon stay the record).
 */
export async function recordAbandoned(deps: {
  redis: Pick<RedisClient, 'pipeline'>;
  keyPrefix: string;
  role: AbandoningRole;
  budget: ShutdownBudget;
  logger: Logger;
}): Promise<void> {
  const counts: Record<string, number> = {};
  for (const [field, n] of unrecorded) {
    if (!field.startsWith(`${deps.role}:`)) continue;
    counts[field] = n;
    unrecorded.delete(field);
  }
  if (Object.keys(counts).length === 0) return;
  const key = abandonedCountsKey(deps.keyPrefix);
  const outcome: { error?: string } = {};
  const write = (async () => {
    const pipeline = deps.redis.pipeline();
    for (const [field, n] of Object.entries(counts)) pipeline.hincrby(key, field, n);
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
  })().catch((err: Error) => {
    outcome.error = err.message;
  });
  const boundMs = deps.budget.bound(ABANDONED_RECORD_MS);
  const inTime = await deps.budget.wait(write, ABANDONED_RECORD_MS, 'abandoned_record');
  if (inTime && outcome.error === undefined) return;
  deps.logger.warn('shutdown: abandoned work not recorded in Redis (the scrapes of the other processes will not show it)', {
    role: deps.role,
    counts,
    error: inTime ? outcome.error : `no answer within ${boundMs} ms`,
  });
}

import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { faultWaitMs } from '../queueing/backoff';

/** The periodic jobs that run their due items one by one (the `job` label of `pb_periodic_item_faults_total`). */
export type PeriodicItemJob =
  'recurring' | 'authorization_expiry' | 'orphan_reversal' | 'action_expiry' | 'risk_review_expiry' | 'retention' | 'recapture_wait';

const itemFaults = counter(
  'pb_periodic_item_faults_total',
  'Items of a periodic job (a schedule, an authorization, a review hold, an operation) whose run threw a fault of their own, not a dependency outage; each is put back after a backoff so the items behind it get their turn',
  ['job'],
);

/** Wait after an item's first fault, ms; each further fault in a row waits 4 times longer, up to {@link MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 60_000;
const MAX_BACKOFF_MS = 3_600_000;
/** Items whose faults one process remembers at most; the oldest are forgotten first (their next wait is then the first). */
const REMEMBERED = 10_000;

/** The wait before an item that faulted `faults` times in a row is run again, ms. */
export function itemFaultBackoffMs(faults: number): number {
  return faultWaitMs(faults, FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
}

/**
 * The due items of one periodic job, run one at a time so that an item that faults does not hold the others
 * back. Its indexes are read oldest first with a limit, so an item left at its old score after a fault would
 * stay at the head and, once there are as many as the limit, starve every other item: a faulted item is
 * moved by the job's `defer` to be due again only after a backoff that grows with its faults in a row.
 * Those are counted by this process (a restart starts over at the first wait, which only shortens one wait).
 */
export class PeriodicItems {
  private readonly faults = new Map<string, { count: number; until: number }>();

  /**
   * @param job the job's name in the metric and on every log line.
   * @param idField the log field naming an item (`operation_id`, `schedule_id`).
   */
  constructor(
    private readonly job: PeriodicItemJob,
    private readonly idField: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `run` on each of `items` in turn. A dependency outage is thrown on at once: it ends the pass (the
   * items after it would meet it too) and every item stays due. Anything else an item throws is its own
   * fault: counted in `pb_periodic_item_faults_total{job}`, logged as an error (job, item id, error class),
   * and the item is moved by `defer` to be due no sooner than the backoff's end; the pass goes on.
   * @param defer moves an item in the job's index to be due at `at` (ms); without it (a job whose index order
   *   is not its own), the job skips the item itself while {@link waiting} says so.
   * @returns how many items faulted.
   */
  async each<T>(
    items: readonly T[],
    idOf: (item: T) => string,
    run: (item: T) => Promise<void>,
    defer?: (item: T, at: number) => Promise<void>,
  ): Promise<number> {
    let faulted = 0;
    for (const item of items) {
      const id = idOf(item);
      try {
        await run(item);
        this.faults.delete(id);
      } catch (err) {
        if (isDependencyOutage(err)) throw err;
        faulted += 1;
        const at = this.recordFault(id, err);
        if (defer) await defer(item, at);
      }
    }
    return faulted;
  }

  /** Whether `id` faulted lately and its backoff has not ended (for a job that cannot move it in its index). */
  waiting(id: string): boolean {
    const fault = this.faults.get(id);
    return fault !== undefined && fault.until > this.now();
  }

  /**
   * The log line of a due entry taken off its index because there is nothing to run for it (`reason`:
   * `record_gone`, or the record is in a state the index is not for): it would otherwise stay at the head of
   * the index for ever.
   */
  dropped(id: string, index: string, reason = 'record_gone'): void {
    this.logger.warn('periodic job: due entry with nothing to run removed from its index', { job: this.job, [this.idField]: id, index, reason });
  }

  /** Counts and logs one fault of `id`; returns when it may run again. */
  private recordFault(id: string, err: unknown): number {
    const count = (this.faults.get(id)?.count ?? 0) + 1;
    const wait = itemFaultBackoffMs(count);
    const until = this.now() + wait;
    this.faults.delete(id);
    if (this.faults.size >= REMEMBERED) {
      const oldest = this.faults.keys().next().value;
      if (oldest !== undefined) this.faults.delete(oldest);
    }
    this.faults.set(id, { count, until });
    itemFaults.inc({ job: this.job });
    this.logger.error('periodic job item faulted; it runs again after a backoff, the items behind it go on', {
      job: this.job,
      [this.idField]: id,
      error_class: errorClassOf(err),
      error: err instanceof Error ? err.message : String(err),
      faults: count,
      retry_in_ms: wait,
    });
    return until;
  }
}

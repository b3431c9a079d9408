import { Queue, Worker } from 'bullmq';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

const restarts = counter('pb_queue_worker_restarts_total', 'BullMQ workers the watchdog closed and started again because they stopped taking ready jobs', [
  'queue',
]);

/** Checks in a row that must find a worker stalled before it is restarted (one alone can be a moment's gap). */
export const STALL_CHECKS = 2;

/** How long closing a stalled worker may take before the watchdog starts its replacement anyway, ms. */
const CLOSE_BOUND_MS = 5000;

/** What one check saw of one queue and its worker. */
export interface WatchdogSample {
  /** Jobs ready to run now (`wait` + `prioritized`; delayed jobs are not ready). */
  readonly ready: number;
  /** Jobs this worker started since the previous check. */
  readonly started: number;
  /** Jobs this worker is running now. */
  readonly running: number;
  /** The worker's concurrency. */
  readonly concurrency: number;
}

/**
 * The number of stalled checks in a row after this one: a check is stalled when jobs are ready while the
 * worker, with a free slot, started none since the previous check. Any progress resets the count.
 */
export function nextStallCount(previous: number, sample: WatchdogSample): number {
  const stalled = sample.ready > 0 && sample.started === 0 && sample.running < sample.concurrency;
  return stalled ? previous + 1 : 0;
}

/** True when the worker has been seen stalled on enough checks in a row to be restarted. */
export function shouldRestart(stallCount: number): boolean {
  return stallCount >= STALL_CHECKS;
}

/** One watched worker: its queue (for the ready count) and the factory that starts a worker on it. */
export interface WatchedWorker {
  readonly queue: Pick<Queue, 'name' | 'getJobCounts'>;
  readonly start: () => Worker;
}

interface Slot {
  readonly watched: WatchedWorker;
  worker: Worker;
  started: number;
  lastStartAt: number;
  stallCount: number;
}

/**
 * Restarts a BullMQ worker that stopped taking jobs. After a Redis restart or failover a worker's blocking
 * connection can stay stuck with no error while `isRunning()` is true (a known BullMQ failure): jobs then wait
 * forever, and the recovery sweep leaves them alone because a waiting job looks live. Every `intervalMs` each
 * queue's ready jobs are counted (one Redis call per queue); a worker seen stalled `STALL_CHECKS` times in a
 * row is closed without waiting for its jobs (BullMQ's stalled-job check hands an active job to a live worker:
 * at-least-once, and every handler is idempotent) and replaced by a new one from the same factory.
 */
export class WorkerWatchdog {
  private readonly slots: Slot[];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | null = null;
  private stopped = false;

  /**
   * @param watched the workers to start and watch.
   * @param intervalMs ms between checks (`queues.watchdog_interval_ms`); 0 starts the workers without watching.
   */
  constructor(
    watched: readonly WatchedWorker[],
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.slots = watched.map((w) => this.startSlot(w));
  }

  /** The workers running now (a restart replaces one). */
  workers(): Worker[] {
    return this.slots.map((s) => s.worker);
  }

  /** Starts the periodic checks (none when the interval is 0). */
  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.checking) return;
      this.checking = this.checkOnce().finally(() => {
        this.checking = null;
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the checks (waiting for one under way); the workers are left for the caller to close. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
  }

  /** One check of every worker, restarting those stalled long enough. Exposed for tests. */
  async checkOnce(): Promise<void> {
    for (const slot of this.slots) {
      if (this.stopped) return;
      try {
        await this.checkSlot(slot);
      } catch (err) {
        this.logger.warn('queue worker watchdog check failed', { queue: slot.watched.queue.name, error: (err as Error).message });
      }
    }
  }

  private async checkSlot(slot: Slot): Promise<void> {
    const counts = await slot.watched.queue.getJobCounts('wait', 'prioritized');
    const ready = (counts.wait ?? 0) + (counts.prioritized ?? 0);
    const sample: WatchdogSample = { ready, started: slot.started, running: runningJobs(slot.worker), concurrency: slot.worker.concurrency };
    slot.started = 0;
    slot.stallCount = nextStallCount(slot.stallCount, sample);
    if (!shouldRestart(slot.stallCount) || this.stopped) return;
    const queue = slot.watched.queue.name;
    this.logger.warn('queue worker stalled; restarting it', {
      queue,
      waiting: ready,
      seconds_since_last_job: Math.round((Date.now() - slot.lastStartAt) / 1000),
    });
    restarts.inc({ queue });
    const old = slot.worker;
    await closeBounded(old, this.logger, queue);
    if (this.stopped) return;
    const fresh = this.startSlot(slot.watched);
    slot.worker = fresh.worker;
    slot.started = 0;
    slot.lastStartAt = fresh.lastStartAt;
    slot.stallCount = 0;
  }

  private startSlot(watched: WatchedWorker): Slot {
    const worker = watched.start();
    const slot: Slot = { watched, worker, started: 0, lastStartAt: Date.now(), stallCount: 0 };
    worker.on('active', () => {
      // A closed worker's late events must not count for its replacement.
      if (slot.worker !== worker) return;
      slot.started += 1;
      slot.lastStartAt = Date.now();
    });
    return slot;
  }
}

/** Jobs a worker is running now: BullMQ's lock manager tracks each one (not public API: 0 when absent). */
/** The jobs `worker` is running now (0 when the BullMQ version keeps no count). */
export function runningJobs(worker: Worker): number {
  const lockManager = (worker as unknown as { lockManager?: { getActiveJobCount?: () => number } }).lockManager;
  return typeof lockManager?.getActiveJobCount === 'function' ? lockManager.getActiveJobCount() : 0;
}

/** Closes a worker without waiting for its jobs, and gives up waiting after CLOSE_BOUND_MS (a hung connection). */
async function closeBounded(worker: Worker, logger: Logger, queue: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), CLOSE_BOUND_MS);
  });
  const closing = worker.close(true).then(
    () => 'closed' as const,
    (err: unknown) => {
      logger.warn('stalled queue worker failed to close', { queue, error: (err as Error).message });
      return 'closed' as const;
    },
  );
  const result = await Promise.race([closing, bound]);
  clearTimeout(timer);
  if (result === 'timeout') logger.warn('stalled queue worker did not close in time; starting its replacement anyway', { queue, bound_ms: CLOSE_BOUND_MS });
}

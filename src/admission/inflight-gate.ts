interface Waiter {
  start: () => void;
  cancel: () => void;
}

/**
 * A counting gate with a limit that can change while work runs: at most `limit` tasks run at once, the
 * rest wait in arrival order, priority tasks (the priority lane's captures, cancels and refunds) ahead of
 * the others. Lowering the limit lets running tasks finish (none is interrupted); raising it starts waiting
 * ones at once. It also keeps the figures of the current interval the in-flight controller reads
 * (`takeInterval`).
 */
export class InflightGate {
  private running = 0;
  private readonly waiters: Waiter[] = [];
  private readonly priorityWaiters: Waiter[] = [];
  private completed = 0;
  private latencySumMs = 0;
  private peak = 0;

  constructor(private current: number) {}

  /** The limit now, tasks. */
  get limit(): number {
    return this.current;
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Tasks waiting for a slot now, priority ones included. */
  get waiting(): number {
    return this.waiters.length + this.priorityWaiters.length;
  }

  /** Sets the limit (at least 1) and starts waiting tasks it makes room for. */
  setLimit(limit: number): void {
    this.current = Math.max(1, Math.floor(limit));
    this.pump();
  }

  /**
   * Runs `task` once a slot is free (at once if one is). `cancel` is called instead if the gate is
   * cancelled (`cancelWaiting`) before the task started. The returned promise settles when the task (or
   * `cancel`) has; it never rejects for the gate's sake.
   * @param priority wait ahead of every task that is not (still in arrival order among priority tasks).
   */
  run(task: () => Promise<void>, cancel: () => void, priority = false): Promise<void> {
    if (this.running < this.current) return this.start(task);
    return new Promise<void>((resolve) => {
      (priority ? this.priorityWaiters : this.waiters).push({
        start: () => void this.start(task).then(resolve),
        cancel: () => {
          try {
            cancel();
          } finally {
            resolve();
          }
        },
      });
    });
  }

  /** Cancels every waiting task (shutdown): each one's `cancel` runs, priority ones first, in arrival order. */
  cancelWaiting(): void {
    for (const waiter of [...this.priorityWaiters.splice(0), ...this.waiters.splice(0)]) waiter.cancel();
  }

  /** The figures since the previous call, then a new interval starts. */
  takeInterval(): { completed: number; meanLatencyMs: number; peakInFlight: number; waiting: number } {
    const figures = {
      completed: this.completed,
      meanLatencyMs: this.completed > 0 ? this.latencySumMs / this.completed : Number.NaN,
      peakInFlight: this.peak,
      waiting: this.waiting,
    };
    this.completed = 0;
    this.latencySumMs = 0;
    this.peak = this.running;
    return figures;
  }

  private async start(task: () => Promise<void>): Promise<void> {
    this.running += 1;
    if (this.running > this.peak) this.peak = this.running;
    const started = performance.now();
    try {
      await task();
    } finally {
      this.running -= 1;
      this.completed += 1;
      this.latencySumMs += performance.now() - started;
      this.pump();
    }
  }

  private pump(): void {
    while (this.running < this.current) {
      const next = this.priorityWaiters.shift() ?? this.waiters.shift();
      if (!next) return;
      next.start();
    }
  }
}

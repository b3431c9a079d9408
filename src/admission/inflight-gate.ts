/**
 * A task waiting for a slot: one object, where closures for starting and cancelling it took four. Up to the
 * prefetch's worth of deliveries wait here at PSP latency, each held across several scavenges.
 */
class Waiter {
  constructor(
    readonly task: () => Promise<void>,
    readonly cancel: () => void,
    /** Resolves the promise `run` returned. */
    readonly settle: () => void,
    /** Rejects it: the task threw, as `run` rejects for a task that started at once. */
    readonly fail: (err: unknown) => void,
  ) {}
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
    return new Promise<void>((resolve, reject) => {
      (priority ? this.priorityWaiters : this.waiters).push(new Waiter(task, cancel, resolve, reject));
    });
  }

  /** Cancels every waiting task (shutdown): each one's `cancel` runs, priority ones first, in arrival order. */
  cancelWaiting(): void {
    for (const waiter of [...this.priorityWaiters.splice(0), ...this.waiters.splice(0)]) {
      try {
        waiter.cancel();
      } finally {
        waiter.settle();
      }
    }
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

  /**
   * Runs `task` in a slot. For a task that waited, its `run` promise is settled here, once the task has
   * ended and the next ones have started (this promise then never rejects); otherwise this is that promise.
   */
  private async start(task: () => Promise<void>, waiter?: Waiter): Promise<void> {
    this.running += 1;
    if (this.running > this.peak) this.peak = this.running;
    const started = performance.now();
    let failure: { err: unknown } | undefined;
    try {
      await task();
    } catch (err) {
      if (!waiter) throw err;
      failure = { err };
    } finally {
      this.running -= 1;
      this.completed += 1;
      this.latencySumMs += performance.now() - started;
      this.pump();
    }
    if (waiter) {
      if (failure) waiter.fail(failure.err);
      else waiter.settle();
    }
  }

  private pump(): void {
    while (this.running < this.current) {
      const next = this.priorityWaiters.shift() ?? this.waiters.shift();
      if (!next) return;
      void this.start(next.task, next);
    }
  }
}

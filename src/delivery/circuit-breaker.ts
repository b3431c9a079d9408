/**
 * Per-gateway circuit breaker. After `failureThreshold` consecutive failures it opens: calls wait instead
 * of hot-looping against an outage. Every `openMs` one probe is let through (half-open); its success
 * closes the breaker at once, so recovery is detected within one interval. In-process state: each worker
 * protects its own gateway pool; the ledger and BullMQ carry everything else.
 */
/** A breaker's state: closed (calls go), open (calls wait), half-open (one probe in flight). */
export type BreakerStateName = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private probeInFlight = false;

  constructor(
    /** Consecutive failures that open the breaker. */
    private readonly failureThreshold: number,
    /** How long the breaker stays open before a probe, milliseconds. */
    private readonly openMs: number,
    private readonly now: () => number = Date.now,
    /** Told of every state change (metrics, log lines). Default: nobody. */
    private readonly onChange?: (from: BreakerStateName, to: BreakerStateName) => void,
  ) {}

  /** Runs `change` and reports the state change it made, if any. */
  private track(change: () => void): void {
    if (!this.onChange) {
      change();
      return;
    }
    const before = this.state;
    change();
    const after = this.state;
    if (after !== before) this.onChange(before, after);
  }

  /**
   * Whether a call may go now. When it may not, `retryInMs` says when to ask again. A `true` answer in the
   * half-open state reserves the single probe: report its result with `success()` or `failure()`.
   */
  permit(): { allowed: true } | { allowed: false; retryInMs: number } {
    if (this.openedAt === null) return { allowed: true };
    const elapsed = this.now() - this.openedAt;
    if (elapsed >= this.openMs && !this.probeInFlight) {
      this.track(() => (this.probeInFlight = true));
      return { allowed: true };
    }
    return { allowed: false, retryInMs: Math.max(this.openMs - elapsed, Math.ceil(this.openMs / 4)) };
  }

  success(): void {
    if (this.openedAt === null) {
      this.failures = 0; // the hot path: closed stays closed
      return;
    }
    this.track(() => {
      this.failures = 0;
      this.openedAt = null;
      this.probeInFlight = false;
    });
  }

  /**
   * Gives back a `permit()` whose caller did not call the gateway after all (it settled the operation without a call,
   * or refused it): a reserved probe is freed, so the next `permit()` may probe at once, and nothing else changes.
   * Unlike `success()`, it neither closes an open breaker on no evidence nor clears the count of failures in a row.
   */
  release(): void {
    if (!this.probeInFlight) return;
    this.track(() => (this.probeInFlight = false));
  }

  failure(): void {
    this.failures += 1;
    if (this.probeInFlight || this.failures >= this.failureThreshold) {
      this.track(() => {
        this.openedAt = this.now();
        this.probeInFlight = false;
      });
    }
  }

  get state(): BreakerStateName {
    if (this.openedAt === null) return 'closed';
    return this.probeInFlight ? 'half-open' : 'open';
  }
}

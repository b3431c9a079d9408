/**
 * Per-gateway circuit breaker. After `failureThreshold` consecutive failures it opens: calls wait instead
 * of hot-looping against an outage. Every `openMs` one probe is let through (half-open); its success
 * closes the breaker at once, so recovery is detected within one interval. In-process state: each worker
 * protects its own gateway pool; the ledger and BullMQ carry everything else.
 */
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
  ) {}

  /**
   * Whether a call may go now. When it may not, `retryInMs` says when to ask again. A `true` answer in the
   * half-open state reserves the single probe: report its result with `success()` or `failure()`.
   */
  permit(): { allowed: true } | { allowed: false; retryInMs: number } {
    if (this.openedAt === null) return { allowed: true };
    const elapsed = this.now() - this.openedAt;
    if (elapsed >= this.openMs && !this.probeInFlight) {
      this.probeInFlight = true;
      return { allowed: true };
    }
    return { allowed: false, retryInMs: Math.max(this.openMs - elapsed, Math.ceil(this.openMs / 4)) };
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.probeInFlight = false;
  }

  failure(): void {
    this.failures += 1;
    if (this.probeInFlight || this.failures >= this.failureThreshold) {
      this.openedAt = this.now();
      this.probeInFlight = false;
    }
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.openedAt === null) return 'closed';
    return this.probeInFlight ? 'half-open' : 'open';
  }
}

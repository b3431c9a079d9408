import { Logger } from './logger';

/**
 * At most one log line per key per window; the lines dropped in between are counted and reported on the
 * next line written (`suppressed`). For refusals anyone on the network can trigger (unauthenticated 401s,
 * failing readiness checks): each one still counts in a metric, but a flood cannot flood the log.
 * Keys must be a bounded set (gateway names, codes, dependency names), never ids or addresses.
 */
export class LogThrottle {
  private readonly windows = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    /** Window per key, milliseconds. Default 60 000. */
    private readonly windowMs = 60_000,
    /** The clock, milliseconds since the epoch (tests pass their own). */
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes `message` at `level` unless a line for `key` was written in the current window; true if written. */
  log(level: 'warn' | 'error' | 'info', key: string, message: string, meta: Record<string, unknown> = {}): boolean {
    const t = this.now();
    const w = this.windows.get(key);
    if (w && t < w.until) {
      w.suppressed += 1;
      return false;
    }
    const suppressed = w?.suppressed ?? 0;
    this.windows.set(key, { until: t + this.windowMs, suppressed: 0 });
    this.logger.log(level, message, { ...meta, ...(suppressed > 0 ? { suppressed, suppressed_window_ms: this.windowMs } : {}) });
    return true;
  }

  /** {@link log} at `warn`. */
  warn(key: string, message: string, meta: Record<string, unknown> = {}): boolean {
    return this.log('warn', key, message, meta);
  }
}

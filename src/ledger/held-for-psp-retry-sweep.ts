import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { RedisClient } from '../redis/redis-connection';
import { indexUnindexedHeld } from './held-for-psp-retry-backfill';

const unindexed = counter(
  'pb_held_for_psp_retry_unindexed_total',
  "Captures and refunds held for their PSP's own retry found in no index of held ones after the one-off backfill (held by a process of an earlier release during a rolling deploy), indexed when found: listed, counted and alerted on since",
);

/** Ids named in one sweep's warn lines; the rest are counted in its summary line. */
const NAMED_PER_SWEEP = 20;

/** Default time between two sweeps while the fleet runs more than one release, ms: 10 minutes. */
export const HELD_SWEEP_EVERY_MS = 600_000;

/**
 * The poller's sweep for captures and refunds held for their PSP's own retry that no index holds: a process of an
 * earlier release (without the index) that still runs after the one-off backfill wrote its marker records holds the
 * index never sees (not listed, not in the `pb_held_for_psp_retry_*` gauges, never alerted on). While the poller's
 * release check counts more than one release (`pb_releases_running`), every `everyMs` (default
 * {@link HELD_SWEEP_EVERY_MS}) and once more when the fleet is back on one release (for what the last old process
 * held), it indexes every one it finds ({@link indexUnindexedHeld}: a walk of every record, one pipelined read a page
 * of 500), each counted in `pb_held_for_psp_retry_unindexed_total` and named in a warn line. On one release from the
 * start it never runs.
 */
export class HeldForPspRetrySweep {
  /** A sweep is owed for when the fleet is back on one release (the fleet was seen mixed since the last sweep on one). */
  private owed = false;
  private lastAt = Number.NEGATIVE_INFINITY;
  private running: Promise<string[]> | null = null;

  constructor(private readonly deps: { redis: RedisClient; prefix: string; logger: Logger; everyMs?: number; batch?: number }) {}

  /**
   * After a release check that counted `releases` (at `now`, epoch ms): sweeps when one is due (see the class), never
   * two at once. Resolves with the ids it indexed, or null when no sweep was due. A Redis failure is left to the caller.
   */
  async afterReleaseCheck(releases: number, now = Date.now()): Promise<string[] | null> {
    const mixed = releases > 1;
    if (mixed) this.owed = true;
    const due = mixed ? now - this.lastAt >= (this.deps.everyMs ?? HELD_SWEEP_EVERY_MS) : this.owed;
    if (!due || this.running) return null;
    this.lastAt = now;
    this.running = this.sweep();
    try {
      const found = await this.running;
      // Owed until one sweep ran whole on one release: a failed one is tried again at the next check.
      if (!mixed) this.owed = false;
      return found;
    } finally {
      this.running = null;
    }
  }

  private async sweep(): Promise<string[]> {
    const { logger } = this.deps;
    const found = await indexUnindexedHeld(this.deps.redis, this.deps.prefix, this.deps.batch, (ids) => unindexed.inc(ids.length));
    for (const id of found.slice(0, NAMED_PER_SWEEP)) {
      logger.warn("capture or refund held for its PSP's retry found in no index (held by a process of an earlier release): indexed now", {
        operation_id: id,
      });
    }
    if (found.length > NAMED_PER_SWEEP) {
      logger.warn("more captures and refunds held for their PSP's retry found in no index: indexed now (see ops held-retries list --all)", {
        count: found.length,
        not_named: found.length - NAMED_PER_SWEEP,
      });
    }
    return found;
  }
}

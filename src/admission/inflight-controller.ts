/**
 * How many commands a worker works on at once, following PSP latency and the worker's memory instead of
 * a fixed AMQP prefetch. Pure: it is handed one {@link InflightSample} per interval and answers the next
 * limit; the governor (`inflight-governor.ts`) measures and applies.
 *
 * Why it works: by Little's law the commands in flight a worker needs are its completion rate times the
 * time each command takes, so at 250 ms per PSP call 1,000 commands/s need ~250 in flight, at 20 ms only
 * 20. The controller does not need the target rate: while there is more work than slots (saturated) and
 * nothing says stop, it grows (multiplicatively up to the level of the last cut, additively above it, AIMD); it cuts
 * multiplicatively when the process's memory is over its budget (once, then again only when RSS still
 * rises, or when it fell but stays over the budget for seconds: RSS follows a cut slowly, and a cut that
 * did not move it at all says the commands in flight are not what holds it) or its event loop lags two intervals in a row (more in flight
 * would only queue on the CPU), holds while the command time has jumped above its recent level (a PSP
 * that slows under load is not pushed harder until the new level is the usual one), holds while the
 * worker's own share of the command time (the command time less the PSP's) shows commands queueing in
 * the worker for the CPU or Redis (more in flight would only wait longer there, holding memory and GC
 * work), trims a limit grown past that point back towards what the PSP latency needs, and when demand is
 * well below the limit it eases the limit down towards twice what is used (Little's estimate; never
 * below the start value), so a
 * sudden backlog does not start hundreds of commands at once on a limit that was never tested.
 */

/** What one interval looked like. */
export interface InflightSample {
  /** Commands that finished in the interval. */
  completed: number;
  /** Mean time a finished command held its slot, milliseconds (PSP call included); NaN when none finished. */
  meanLatencyMs: number;
  /** Highest number of commands in flight at any moment of the interval. */
  peakInFlight: number;
  /** Messages waiting for a slot at the end of the interval (work beyond the limit). */
  waiting: number;
  /** Resident set size of the process now, bytes. */
  rssBytes: number;
  /** Event-loop delay of the interval (99th percentile), milliseconds. */
  eventLoopLagMs: number;
  /**
   * Mean time the interval's PSP calls took, milliseconds (the part of a command's time spent waiting on
   * the PSP); NaN or absent when no call finished. The rest of the command time is the worker's own.
   */
  meanExternalMs?: number;
  /** Length of the interval, milliseconds. */
  intervalMs: number;
}

/** Bounds and thresholds; see `inflight.*` in `parameters.yml.dist`. */
export interface InflightSettings {
  /** Lowest limit, commands. */
  min: number;
  /** Highest limit, commands. */
  max: number;
  /** Limit at start, commands (clamped to min..max). */
  initial: number;
  /** RSS above which the limit is cut (when it is in use), bytes; at 98 % of it the limit stops growing. */
  memoryBudgetBytes: number;
  /** Event-loop delay (p99) above which, two intervals in a row, the limit is cut (one interval: it holds), milliseconds. */
  lagLimitMs: number;
}

/** Why the limit moved (or did not): bounded values, the label of `pb_worker_inflight_adjustments_total`. */
export type InflightReason =
  'grow' | 'memory' | 'memory_wait' | 'memory_floor' | 'lag' | 'latency_rise' | 'memory_near' | 'lag_near' | 'queueing' | 'ease' | 'steady';

/** Every reason, for zeroed metric series and reports. */
export const INFLIGHT_REASONS: readonly InflightReason[] = [
  'grow',
  'memory',
  'memory_wait',
  'memory_floor',
  'lag',
  'latency_rise',
  'memory_near',
  'lag_near',
  'queueing',
  'ease',
  'steady',
];

export interface InflightDecision {
  limit: number;
  previous: number;
  reason: InflightReason;
  /** Little's law: completion rate × mean command time = commands actually in flight on average. */
  littleEstimate: number;
  /** The recent level of the command time the latency check compares with, milliseconds (NaN until known). */
  baselineLatencyMs: number;
  /** The worker's own time per command (command time less PSP time), milliseconds; NaN when unknown. */
  workerTimeMs: number;
}

/** Share of the limit in use (peak) from which a cut for memory or lag applies. */
const IN_USE_SHARE = 0.5;
/** Share of the memory budget from which the limit stops growing. */
const NEAR_SHARE = 0.98;
/** Multiplicative cut on memory pressure. */
const MEMORY_CUT = 0.75;
/**
 * After a cut for memory, how many intervals RSS may stay over the budget before the next cut (5 s at the
 * default 500 ms). V8 gives pages back to the system lazily (after a full GC, and not all of them), so RSS
 * lags a cut by seconds: cutting again every interval meanwhile pinned the limit to its minimum for good.
 */
const MEMORY_SETTLE_INTERVALS = 10;
/** ...unless RSS keeps rising: this far above its level at the cut, the next cut comes at once. */
const MEMORY_RISE_SHARE = 0.05;
/**
 * After the settling time, the next cut for memory needs RSS this far below its level at the last cut: a cut
 * that did not move RSS shows that what holds the memory is not the commands in flight (larger semi-spaces, a
 * budget under the process's floor), and cutting again every settling time took a worker to `min` and its
 * throughput to a fifth with RSS unchanged. The limit holds (`memory_floor`) until RSS falls or rises.
 */
const MEMORY_EFFECT_SHARE = 0.02;
/**
 * Intervals in a row with the event-loop delay over its limit before a cut for lag. The delay is sampled
 * every 10 ms, so over a 500 ms interval its p99 is the interval's longest stall: one full GC or one slow
 * step alone would cut the limit (and the throughput at a slow PSP) by a fifth. Two in a row is load.
 */
const LAG_INTERVALS = 2;
/** Multiplicative cut on event-loop lag. */
const LAG_CUT = 0.8;
/**
 * Growth per interval below the last cut's level (slow start; up to it, as TCP's ssthresh): doubling, as TCP
 * per round trip. At ×1.5 a fresh worker facing a backlog took 2.5 s to reach the ~250 commands a 250 ms PSP needs.
 */
const SLOW_START = 2;
/** Additive growth per interval after the first cut, as a share of the limit (at least 1). */
const ADDITIVE_SHARE = 0.1;
/** A command time this far above its recent level holds growth. */
const LATENCY_RISE = 1.5;
/** Weight of a new interval in the recent command time. */
const BASELINE_WEIGHT = 0.2;
/**
 * The worker's own time per command (command time less PSP time) above which commands are queueing in
 * the worker: this many milliseconds, or this share of the PSP time if more. Unloaded, a command's own time
 * is a few Redis round trips and a bus call (a few ms); when it climbs past this, the CPU (or Redis) is
 * what the commands in flight wait for, and more of them would only wait longer there. Half, not a quarter:
 * at 250 ms PSP latency the bench's workers ran their best rate with 25-130 ms of their own per command, and a
 * quarter (62 ms) held a fresh worker's growth for seconds at the start of a backlog.
 */
const QUEUE_FLOOR_MS = 20;
const QUEUE_SHARE = 0.5;
/**
 * Queueing this deep (the worker's own time over the PSP time, and over 4 × QUEUE_FLOOR_MS) trims a limit
 * grown past it by this factor per interval, never below the initial limit: the extra commands in flight
 * bring no throughput, only memory and scavenge work (each one survives to old space at PSP latency).
 */
const QUEUE_TRIM = 0.9;
/** Below this share of the limit in use, the limit eases down. */
const EASE_BELOW = 0.5;
/** Easing never cuts more than this share per interval. */
const EASE_MAX_CUT = 0.2;

export class InflightController {
  private current: number;
  /** As TCP's ssthresh: growth is multiplicative below it, additive above; set by each cut. */
  private threshold: number;
  private baseline = Number.NaN;
  /** RSS at the last cut for memory and the intervals since, while RSS has stayed over the budget; null otherwise. */
  private memoryCut: { rssBytes: number; intervals: number } | null = null;
  /** Intervals in a row whose event-loop delay was over the limit. */
  private lagging = 0;

  constructor(private readonly settings: InflightSettings) {
    if (settings.min < 1 || settings.max < settings.min) throw new Error('inflight limits need 1 <= min <= max');
    this.current = clamp(settings.initial, settings.min, settings.max);
    this.threshold = settings.max;
  }

  /** The limit now, commands. */
  get limit(): number {
    return this.current;
  }

  /** Takes one interval's sample, returns the decision (the new limit and why). */
  next(sample: InflightSample): InflightDecision {
    const { min, max, memoryBudgetBytes, lagLimitMs } = this.settings;
    const previous = this.current;
    const hasLatency = sample.completed > 0 && Number.isFinite(sample.meanLatencyMs);
    const littleEstimate = hasLatency ? (sample.completed / (sample.intervalMs / 1000)) * (sample.meanLatencyMs / 1000) : 0;
    const baselineBefore = this.baseline;
    if (hasLatency) {
      this.baseline = Number.isNaN(this.baseline) ? sample.meanLatencyMs : this.baseline + BASELINE_WEIGHT * (sample.meanLatencyMs - this.baseline);
    }
    const external = sample.meanExternalMs;
    const workerTimeMs = hasLatency && external !== undefined && Number.isFinite(external) ? Math.max(0, sample.meanLatencyMs - external) : Number.NaN;
    const queueing = Number.isFinite(workerTimeMs) && workerTimeMs > Math.max(QUEUE_FLOOR_MS, QUEUE_SHARE * (external ?? 0));
    const deepQueue = queueing && workerTimeMs > Math.max(4 * QUEUE_FLOOR_MS, external ?? 0);
    const saturated = sample.waiting > 0 || sample.peakInFlight >= previous;
    // A cut only helps when the limit is what fills memory or the CPU: an idle worker whose RSS is high
    // (V8 returns pages lazily) keeps its limit and only stops growing.
    const inUse = sample.peakInFlight >= previous * IN_USE_SHARE;
    let reason: InflightReason;
    let next = previous;
    if (sample.rssBytes <= memoryBudgetBytes) this.memoryCut = null;
    else if (this.memoryCut) this.memoryCut.intervals += 1;
    this.lagging = sample.eventLoopLagMs > lagLimitMs ? this.lagging + 1 : 0;
    const cut = this.memoryCut;
    const over = sample.rssBytes > memoryBudgetBytes;
    const rising = cut !== null && sample.rssBytes > cut.rssBytes * (1 + MEMORY_RISE_SHARE);
    const settled = cut === null || cut.intervals >= MEMORY_SETTLE_INTERVALS;
    const cutMovedRss = cut === null || sample.rssBytes <= cut.rssBytes * (1 - MEMORY_EFFECT_SHARE);
    if (over && inUse && !rising && !settled) {
      // The last cut has not had its effect on RSS yet: hold, do not cut again.
      reason = 'memory_wait';
    } else if (over && inUse && !rising && !cutMovedRss) {
      // The last cut did not move RSS: the commands in flight are not what holds it. Hold, do not cut again.
      reason = 'memory_floor';
    } else if (over && inUse) {
      reason = 'memory';
      next = Math.floor(previous * MEMORY_CUT);
      this.threshold = next;
      this.memoryCut = { rssBytes: sample.rssBytes, intervals: 0 };
    } else if (this.lagging >= LAG_INTERVALS && inUse) {
      reason = 'lag';
      next = Math.floor(previous * LAG_CUT);
      this.threshold = next;
    } else if (sample.rssBytes > memoryBudgetBytes * NEAR_SHARE) {
      reason = 'memory_near';
    } else if (saturated) {
      // Over the limit for one interval: may be the first of two (a cut), or one full GC; hold either way.
      if (sample.eventLoopLagMs > lagLimitMs) reason = 'lag_near';
      else if (queueing) {
        reason = 'queueing';
        if (deepQueue && inUse && previous > this.settings.initial) next = Math.max(this.settings.initial, Math.floor(previous * QUEUE_TRIM));
      } else if (hasLatency && Number.isFinite(baselineBefore) && sample.meanLatencyMs > baselineBefore * LATENCY_RISE) reason = 'latency_rise';
      else {
        reason = 'grow';
        const additive = previous + Math.max(1, Math.ceil(previous * ADDITIVE_SHARE));
        next = previous < this.threshold ? Math.max(additive, Math.min(this.threshold, Math.ceil(previous * SLOW_START))) : additive;
      }
    } else if (sample.peakInFlight < previous * EASE_BELOW) {
      reason = 'ease';
      const wanted = Math.max(Math.ceil(2 * littleEstimate), 2 * sample.peakInFlight);
      // Never below the start value: a backlog after an idle spell starts where a fresh worker would.
      next = Math.min(previous, Math.max(wanted, Math.floor(previous * (1 - EASE_MAX_CUT)), this.settings.initial));
    } else {
      reason = 'steady';
    }
    this.current = clamp(next, min, max);
    return { limit: this.current, previous, reason, littleEstimate, baselineLatencyMs: this.baseline, workerTimeMs };
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round(value)));
}

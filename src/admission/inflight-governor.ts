import { IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { InflightConfig } from '../config/config';
import { Logger } from '../logging/logger';
import { counter, gauge } from '../metrics/metrics-registry';
import { InflightController, InflightDecision, InflightSample } from './inflight-controller';
import { InflightGate } from './inflight-gate';
import { takePspWaits } from './psp-wait';

/** What the governor reads each interval besides the gate; replaceable in tests. */
export interface InflightProbes {
  /** Resident set size now, bytes. Default `process.memoryUsage.rss()`. */
  rssBytes(): number;
}

/** A change of the limit by at least this share since the last logged value is logged. */
const LOG_CHANGE_SHARE = 0.25;

/**
 * Runs the in-flight controller on the worker's command consumer: every `inflight.interval_ms` it reads
 * the gate's interval figures, the process's RSS and the event-loop delay, asks the controller for the
 * next limit and sets it on the gate. Exposes `pb_worker_inflight_limit`, `pb_worker_inflight`,
 * `pb_worker_inflight_waiting`, `pb_worker_inflight_adjustments_total{reason}` (changes) and
 * `pb_worker_inflight_decisions_total{reason}` (every interval, holds included), and logs a line when
 * the limit moved by a quarter or more since the last line (and on every cut for memory or lag, and when
 * RSS stays over the budget although the last cut did not lower it, at warn).
 */
export class InflightGovernor {
  readonly gate: InflightGate;
  private readonly controller: InflightController;
  private readonly lag: IntervalHistogram;
  private timer: NodeJS.Timeout | undefined;
  private lastLogged: number;
  private lastTick = performance.now();
  /** The last decision (tests, the bench's summary). */
  last: InflightDecision | null = null;

  constructor(
    private readonly config: InflightConfig,
    private readonly logger: Logger,
    private readonly probes: InflightProbes = { rssBytes: () => process.memoryUsage.rss() },
  ) {
    const min = Math.min(config.min, config.max);
    this.controller = new InflightController({
      min,
      max: config.max,
      initial: config.initial,
      memoryBudgetBytes: config.memoryBudgetMib * 1024 * 1024,
      lagLimitMs: config.lagLimitMs,
    });
    this.gate = new InflightGate(this.controller.limit);
    this.lastLogged = this.controller.limit;
    this.lag = monitorEventLoopDelay({ resolution: 10 });
    limitGauge().set(this.controller.limit);
  }

  /** Starts the interval (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.lag.enable();
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), this.config.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.lag.disable();
  }

  /** One interval: sample, decide, apply, report. Public for tests, which drive it without the timer. */
  tick(): InflightDecision {
    const now = performance.now();
    const figures = this.gate.takeInterval();
    const lagMs = this.lag.count > 0 ? this.lag.percentile(99) / 1e6 : 0;
    this.lag.reset();
    const sample: InflightSample = {
      ...figures,
      rssBytes: this.probes.rssBytes(),
      eventLoopLagMs: lagMs,
      intervalMs: Math.max(1, now - this.lastTick),
      meanExternalMs: takePspWaits().meanMs,
    };
    this.lastTick = now;
    const decision = this.controller.next(sample);
    const before = this.last;
    this.gate.setLimit(decision.limit);
    this.last = decision;
    limitGauge().set(decision.limit);
    inflightGauge().set(this.gate.inFlight);
    waitingGauge().set(this.gate.waiting);
    if (decision.limit !== decision.previous) adjustments().inc({ reason: decision.reason });
    decisions().inc({ reason: decision.reason });
    this.report(decision, sample, before?.reason === 'memory_floor');
    return decision;
  }

  private report(decision: InflightDecision, sample: InflightSample, floorKnown: boolean): void {
    const cut = decision.limit < decision.previous && (decision.reason === 'memory' || decision.reason === 'lag');
    const floor = decision.reason === 'memory_floor' && !floorKnown;
    const moved = Math.abs(decision.limit - this.lastLogged) >= Math.max(1, this.lastLogged * LOG_CHANGE_SHARE);
    if (!cut && !floor && !moved) return;
    this.lastLogged = decision.limit;
    const fields = {
      limit: decision.limit,
      previous: decision.previous,
      reason: decision.reason,
      in_flight_peak: sample.peakInFlight,
      waiting: sample.waiting,
      little_estimate: Math.round(decision.littleEstimate),
      command_ms: Number.isFinite(sample.meanLatencyMs) ? Math.round(sample.meanLatencyMs) : undefined,
      worker_ms: Number.isFinite(decision.workerTimeMs) ? Math.round(decision.workerTimeMs) : undefined,
      rss_mib: Math.round(sample.rssBytes / (1024 * 1024)),
      event_loop_lag_ms: Math.round(sample.eventLoopLagMs),
    };
    if (cut) this.logger.warn(`in-flight limit cut (${decision.reason})`, fields);
    else if (floor) {
      // Once per spell: the operator's cue that the budget is under what this process holds without load.
      this.logger.warn('in-flight limit held over the memory budget: the last cut did not lower RSS, so the commands in flight are not what holds it', {
        ...fields,
        memory_budget_mib: this.config.memoryBudgetMib,
      });
    } else this.logger.info('in-flight limit changed', fields);
  }
}

function limitGauge() {
  return gauge('pb_worker_inflight_limit', 'Commands of the commands queue this worker may work on at once (adaptive: follows PSP latency and memory)');
}

function inflightGauge() {
  return gauge('pb_worker_inflight', 'Commands of the commands queue this worker is working on, as of the last in-flight interval');
}

function waitingGauge() {
  return gauge('pb_worker_inflight_waiting', 'Messages this worker holds (unacked) waiting for an in-flight slot, as of the last interval');
}

/** Every interval's decision, held limits included: whether lag, memory or latency kept the limit from growing. */
function decisions() {
  return counter(
    'pb_worker_inflight_decisions_total',
    'In-flight intervals by decision (grow, steady, ease, lag_near, memory_near, latency_rise, queueing, lag, memory, memory_wait, memory_floor): why the limit moved or held',
    ['reason'] as const,
  );
}

function adjustments() {
  return counter('pb_worker_inflight_adjustments_total', 'Changes of the in-flight limit, by reason (grow, ease, memory, lag, queueing)', ['reason'] as const);
}

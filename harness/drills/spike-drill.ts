import { CommandType } from '../../src/contracts/payment-command';
import { FlowCheck, latencySummary } from '../workload/flow-checks';
import { StepRecord } from '../workload/workload-driver';
import { DrillDefinition } from './drill-runner';

/** The spike drill's shape: a normal rate, then `factor` times it for `spikeS`, then normal again. */
export interface SpikeOptions {
  /** Normal load, payments started per second (a payment is 2.3 commands on average). Default 8. */
  baseRate: number;
  /** How many times the normal load the spike is. Default 10. */
  factor: number;
  /** Seconds at the normal rate before the spike. Default 10. */
  warmS: number;
  /** Seconds of the spike. Default 60. */
  spikeS: number;
  /** Seconds at the normal rate after it. Default 10. */
  coolS: number;
  /** Bound on the p99 latency of captures, cancels and refunds (sent to reported, retries included), ms. Default 5000. */
  priorityP99Ms: number;
  /** `backpressure.max_backlog` of the drill's stack: small, so the spike reaches it. Default 300. */
  maxBacklog: number;
}

/** Options from the environment: PB_SPIKE_BASE_RATE, PB_SPIKE_FACTOR, PB_SPIKE_WARM_S, PB_SPIKE_S, PB_SPIKE_COOL_S, PB_SPIKE_PRIORITY_P99_MS, PB_SPIKE_MAX_BACKLOG. */
export function spikeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SpikeOptions {
  const n = (name: string, fallback: number) => {
    const v = Number(env[name]);
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    baseRate: n('PB_SPIKE_BASE_RATE', 8),
    factor: n('PB_SPIKE_FACTOR', 10),
    warmS: n('PB_SPIKE_WARM_S', 10),
    spikeS: n('PB_SPIKE_S', 60),
    coolS: n('PB_SPIKE_COOL_S', 10),
    priorityP99Ms: n('PB_SPIKE_PRIORITY_P99_MS', 5000),
    maxBacklog: n('PB_SPIKE_MAX_BACKLOG', 300),
  };
}

/** Payments of each phase and when payment `index` starts (ms after the start): an open-loop schedule. */
export function spikeSchedule(o: SpikeOptions): { payments: number; startAt: (index: number) => number } {
  const warm = Math.round(o.baseRate * o.warmS);
  const spikeRate = o.baseRate * o.factor;
  const spike = Math.round(spikeRate * o.spikeS);
  const cool = Math.round(o.baseRate * o.coolS);
  const startAt = (i: number): number => {
    if (i < warm) return (i * 1000) / o.baseRate;
    if (i < warm + spike) return o.warmS * 1000 + ((i - warm) * 1000) / spikeRate;
    return (o.warmS + o.spikeS) * 1000 + ((i - warm - spike) * 1000) / o.baseRate;
  };
  return { payments: warm + spike + cool, startAt };
}

/** Captures, cancels and refunds: the commands that must keep flowing. */
const PRIORITY: readonly CommandType[] = ['capture', 'cancel', 'refund'];

/**
 * Latency by class (priority vs authorizations), the refusals the driver retried, and the drill's own
 * checks: every command completed (none rejected, timed out or skipped: what the intake refused with 429
 * or 503 was sent again, as the bus does, and went through), and the priority p99 under its bound.
 */
export function spikeReport(records: readonly StepRecord[], o: SpikeOptions): { checks: FlowCheck[]; figures: string[] } {
  const latency = (r: StepRecord) => (r.reportedAt ?? 0) - r.sentAt;
  const reported = records.filter((r) => r.reportedAt !== undefined);
  const priority = latencySummary(reported.filter((r) => PRIORITY.includes(r.command)).map(latency));
  const authorizations = latencySummary(reported.filter((r) => !PRIORITY.includes(r.command)).map(latency));
  const refused429 = records.reduce((sum, r) => sum + (r.refusals?.[429] ?? 0), 0);
  const refused503 = records.reduce((sum, r) => sum + (r.refusals?.[503] ?? 0), 0);
  const incomplete = records.filter((r) => r.status !== 'SUCCESS' && r.status !== 'FAIL');
  const ms = (v: number) => `${Math.round(v)} ms`;
  const figures = [
    `load: ${o.baseRate} payments/s for ${o.warmS} s, ${o.baseRate * o.factor} payments/s (×${o.factor}) for ${o.spikeS} s, ${o.baseRate} payments/s for ${o.coolS} s; backlog limit ${o.maxBacklog}`,
    `captures/cancels/refunds: ${priority.count} commands, p50 ${ms(priority.p50)}, p99 ${ms(priority.p99)}, max ${ms(priority.max)} (sent to reported, retries included)`,
    `authorizations (authorize, sale, validate, revalidate, tokenize): ${authorizations.count} commands, p50 ${ms(authorizations.p50)}, p99 ${ms(authorizations.p99)}, max ${ms(authorizations.max)}`,
    `intake refusals retried after Retry-After: ${refused429} × 429 (rate limit), ${refused503} × 503 (backlog or broker)`,
  ];
  const checks: FlowCheck[] = [
    {
      name: 'every command completed (refused ones retried as the bus does)',
      ok: incomplete.length === 0,
      detail:
        incomplete.length === 0
          ? `${records.length} commands reported`
          : `${incomplete.length} not reported, e.g. ${incomplete[0].operationId} ${String(incomplete[0].status)} ${incomplete[0].reason ?? ''}`,
    },
    {
      name: `priority commands p99 ≤ ${o.priorityP99Ms} ms`,
      ok: priority.count > 0 && priority.p99 <= o.priorityP99Ms,
      detail: `p50 ${ms(priority.p50)}, p99 ${ms(priority.p99)} (authorizations p50 ${ms(authorizations.p50)}, p99 ${ms(authorizations.p99)})`,
    },
  ];
  return { checks, figures };
}

/**
 * Drill 7: ten times the normal load for 60 s (all configurable), every invariant holding. The stack runs
 * with a small backlog limit (new authorizations get 503 + Retry-After past it) and a web-channel rate
 * limit below the spike (the workers hold those messages: slower, never dropped); the driver retries every
 * 429/503 after its Retry-After, as the bus does. Captures, cancels and refunds ride the priority lane:
 * their latency is printed next to authorizations' and bounded.
 */
export function spikeDrill(o: SpikeOptions = spikeOptionsFromEnv()): DrillDefinition {
  const schedule = spikeSchedule(o);
  const webPerS = Math.max(1, Math.round(o.baseRate * o.factor * 0.5));
  return {
    name: `spike ×${o.factor} for ${o.spikeS} s`,
    faults: { latencyMs: { min: 2, max: 20 } },
    parameters: {
      'backpressure.max_backlog': o.maxBacklog,
      'backpressure.retry_after_s': 1,
      'backpressure.depth_cache_ms': 250,
      // Web checkout authorizations over half the spike's rate wait in the workers (held, not refused).
      'rate_limits.by_channel': { web: { per_s: webPerS, burst: webPerS } },
      // A call that times out under the spike goes UNKNOWN and is asked about; the drills' short schedule
      // (15 s in all) would call it UNRESOLVED before a loaded machine answers: a minute and a half here.
      'poller.schedule_ms': [500, 1000, 2000, 4000, 8000, 16000, 32000, 32000],
    },
    workload: { payments: schedule.payments, concurrency: schedule.payments, startAt: schedule.startAt },
    report: (records) => spikeReport(records, o),
    disrupt: () => Promise.resolve([]),
  };
}

import { CpuCeiling } from './cpu-ceiling';

/** One benchmark target (docs/BENCHMARKS.md) and whether the run met it. Targets are reported, never enforced. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

/** The figures the targets are judged on; a phase that did not run leaves its figures out (no verdict then). */
export interface TargetInputs {
  endToEndPerS?: number;
  /** The saturation phase's CPU ceiling, when every process's CPU was readable. */
  endToEndCeiling?: CpuCeiling;
  rawAmqpPerS?: number;
  addedP50Ms?: number;
  addedP99Ms?: number;
  /** Peak RSS of each bridge process (web, workers) over the whole run, MiB. */
  bridgeRssMiB?: Record<string, number | null>;
  /** Steady drain rate of the small backlog (the mean of its drains before and after the large one), commands/s. */
  backlogSmallPerS?: number;
  backlogLargePerS?: number;
  /** The PSP-latency phase: its PSP latency range (ms), workers, throughput and each process's peak RSS (MiB). */
  /**
   * `perS` is the closed run's rate (first publish to last notification), the judged figure; `steadyPerS` the rate
   * over the middle 80 % of its completions (start and tail left out), printed beside it.
   */
  pspLatency?: {
    minMs: number;
    maxMs: number;
    workers: number;
    perS: number;
    steadyPerS?: number;
    rssMiB: Record<string, number | null>;
    ceiling?: CpuCeiling;
    /** The ceiling without the stand-ins' CPU (bench process, bus twin, simulator): the bridge and its servers alone. */
    bridgeCeiling?: CpuCeiling;
  };
  /**
   * The scaling rows: each bridge process's highest peak RSS over all rows, MiB (a process is named by its row,
   * e.g. `worker-1 (1 web (HTTP captures), 2 workers, PSP 0 ms)`, so the verdict says where the peak was).
   */
  scalingRssMiB?: Record<string, number | null>;
}

/**
 * `; CPU ceiling 772/s (2590 µs of CPU per command, all processes)`, then the bridge's own when given
 * (`; 954/s without the stand-ins (2096 µs)`), or nothing without a ceiling.
 */
function ceilingNote(c: CpuCeiling | undefined, bridge?: CpuCeiling): string {
  if (c === undefined) return '';
  const own = bridge === undefined ? '' : `; ${Math.round(bridge.perS)}/s without the stand-ins (${Math.round(bridge.cpuMicrosPerCommand)} µs)`;
  return `; CPU ceiling ${Math.round(c.perS)}/s (${Math.round(c.cpuMicrosPerCommand)} µs of CPU per command, all processes)${own}`;
}

/** MiB → MB (the targets are in MB, /proc speaks kB). */
const MB_PER_MIB = 1.048576;

/** The worst (largest) peak of a set of processes, and whether every one is known and within 150 MB. */
function rssCheck(rss: Record<string, number | null>): { worst: [string, number]; met: boolean } {
  const entries = Object.entries(rss);
  const worst = entries.reduce<[string, number]>((w, [name, v]) => (v !== null && v > w[1] ? [name, v] : w), ['', 0]);
  return { worst, met: entries.length > 0 && entries.every(([, v]) => v !== null && v * MB_PER_MIB <= 150) };
}

/**
 * Judges a run against the targets in docs/BENCHMARKS.md: ≥ 2 500 commands/s end to end; ≥ 20 % of the
 * raw AMQP rate measured in the same run; added latency p50 ≤ 3 ms and p99 ≤ 10 ms at 500/s; ≤ 150 MB peak
 * RSS per bridge process (the bench process hosts the twins and is reported, not judged); backlog drain
 * rate of the large backlog within 10 % of the small one's; at 200–300 ms PSP latency with two workers of
 * the default configuration, ≥ 2 000 commands/s and ≤ 150 MB peak RSS per process; and ≤ 150 MB peak RSS
 * per process in every scaling row (long-lived workers carry their history from row to row, as in production).
 * A throughput verdict carries its phase's CPU ceiling when known: whether the machine or the bridge's own
 * limits held the rate.
 */
export function checkTargets(i: TargetInputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  if (i.endToEndPerS !== undefined) {
    checks.push({
      target: 'end to end ≥ 2 500 commands/s',
      measured: `${Math.round(i.endToEndPerS)} commands/s${ceilingNote(i.endToEndCeiling)}`,
      met: i.endToEndPerS >= 2500,
    });
    if (i.rawAmqpPerS !== undefined) {
      const ratio = i.rawAmqpPerS > 0 ? i.endToEndPerS / i.rawAmqpPerS : 0;
      checks.push({
        target: 'end to end ≥ 20 % of raw AMQP (same run)',
        measured: `${(100 * ratio).toFixed(1)} % (${Math.round(i.endToEndPerS)} / ${Math.round(i.rawAmqpPerS)})`,
        met: ratio >= 0.2,
      });
    }
  }
  if (i.addedP50Ms !== undefined)
    checks.push({ target: 'added latency p50 ≤ 3 ms at 500/s', measured: `${i.addedP50Ms.toFixed(1)} ms`, met: i.addedP50Ms <= 3 });
  if (i.addedP99Ms !== undefined)
    checks.push({ target: 'added latency p99 ≤ 10 ms at 500/s', measured: `${i.addedP99Ms.toFixed(1)} ms`, met: i.addedP99Ms <= 10 });
  if (i.bridgeRssMiB !== undefined) {
    const { worst, met } = rssCheck(i.bridgeRssMiB);
    checks.push({ target: '≤ 150 MB peak RSS per bridge process', measured: `max ${worst[1]} MiB (${worst[0] || 'n/a'})`, met });
  }
  if (i.backlogSmallPerS !== undefined && i.backlogLargePerS !== undefined) {
    const backlogRatio = i.backlogSmallPerS > 0 ? i.backlogLargePerS / i.backlogSmallPerS : 0;
    checks.push({
      target: 'backlog drain rate within 10 % (large vs small)',
      measured: `${Math.round(i.backlogLargePerS)} vs ${Math.round(i.backlogSmallPerS)} /s (ratio ${backlogRatio.toFixed(2)})`,
      met: backlogRatio >= 0.9 && backlogRatio <= 1.1,
    });
  }
  if (i.pspLatency !== undefined) {
    const p = i.pspLatency;
    const at = `at ${p.minMs}–${p.maxMs} ms PSP latency, ${p.workers} workers, default configuration`;
    const steady = p.steadyPerS === undefined ? '' : ` (steady ${Math.round(p.steadyPerS)}/s)`;
    checks.push({
      target: `≥ 2 000 commands/s ${at}`,
      measured: `${Math.round(p.perS)} commands/s${steady}${ceilingNote(p.ceiling, p.bridgeCeiling)}`,
      met: p.perS >= 2000,
    });
    const { worst, met } = rssCheck(p.rssMiB);
    checks.push({ target: `≤ 150 MB peak RSS per process ${at}`, measured: `max ${worst[1]} MiB (${worst[0] || 'n/a'})`, met });
  }
  if (i.scalingRssMiB !== undefined) {
    const { worst, met } = rssCheck(i.scalingRssMiB);
    checks.push({ target: '≤ 150 MB peak RSS per process in every scaling row', measured: `max ${worst[1]} MiB (${worst[0] || 'n/a'})`, met });
  }
  return checks;
}

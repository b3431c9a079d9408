import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { authorizeCommand } from './bench-commands';

/**
 * How fast this machine runs a fixed piece of work now, and how much CPU time the hypervisor took from it. On a
 * shared host the same flow has cost 971 µs of CPU a command on one hour and ~1,500 µs on another, with nothing
 * else running in the machine: the neighbours slow every instruction. These two figures, printed with every
 * bench, say how much of a difference between two runs is the machine's rather than the code's.
 */
export interface SpeedProbe {
  /** The fastest run, ms: the machine's speed when least disturbed. */
  minMs: number;
  /** The median run, ms. */
  medianMs: number;
  runs: number;
}

/** Round trips of a command through JSON per run: ~50 ms on a quiet 2-core machine of this kind. */
const ROUND_TRIPS = 20_000;

/**
 * Times `runs` runs of a fixed CPU-bound workload like the bridge's own (a command serialised and parsed
 * {@link ROUND_TRIPS} times), synchronously: nothing else of this process runs meanwhile.
 */
export function speedProbe(runs = 7): SpeedProbe {
  const command = authorizeCommand('speed-probe', 'probe', 0);
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < runs; r += 1) {
    const started = performance.now();
    for (let i = 0; i < ROUND_TRIPS; i += 1) sink += (JSON.parse(JSON.stringify(command)) as { payment: { amount: number } }).payment.amount;
    times.push(performance.now() - started);
  }
  // Kept live so the loop is not optimised away.
  if (sink === -1) throw new Error('unreachable');
  times.sort((a, b) => a - b);
  return { minMs: round1(times[0]), medianMs: round1(times[Math.floor(times.length / 2)]), runs };
}

/** The machine's CPU time counters (/proc/stat, all CPUs), in clock ticks; null where there is no /proc. */
export interface CpuTicks {
  total: number;
  steal: number;
}

export function cpuTicks(): CpuTicks | null {
  try {
    // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; guest time is inside user already.
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null;
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] };
  } catch {
    return null;
  }
}

/** The share of the CPUs' time between two readings the hypervisor gave to other guests (steal), percent. */
export function stealPercent(from: CpuTicks | null, to: CpuTicks | null): number | null {
  if (!from || !to || to.total <= from.total) return null;
  return round1((100 * (to.steal - from.steal)) / (to.total - from.total));
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

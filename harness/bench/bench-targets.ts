/** One benchmark target (docs/BENCHMARKS.md) and whether the run met it. Targets are reported, never enforced. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

/** The figures the targets are judged on (null when a phase did not produce the figure). */
export interface TargetInputs {
  endToEndPerS: number;
  rawAmqpPerS: number;
  addedP50Ms: number;
  addedP99Ms: number;
  /** Peak RSS of each bridge process (web, workers), MiB. */
  bridgeRssMiB: Record<string, number | null>;
  backlogSmallPerS: number;
  backlogLargePerS: number;
}

/**
 * Judges a run against the targets in docs/BENCHMARKS.md: ≥ 2 500 commands/s end to end; ≥ 20 % of the raw AMQP rate;
 * added latency p50 ≤ 3 ms and p99 ≤ 20 ms at 500/s; ≤ 150 MB peak RSS per bridge process (the bench
 * process hosts the twins and is reported, not judged); backlog drain rate of the large backlog within
 * 10 % of the small one's.
 */
export function checkTargets(i: TargetInputs): TargetCheck[] {
  const ratio = i.rawAmqpPerS > 0 ? i.endToEndPerS / i.rawAmqpPerS : 0;
  const rss = Object.entries(i.bridgeRssMiB);
  const worst = rss.reduce<[string, number]>((w, [name, v]) => (v !== null && v > w[1] ? [name, v] : w), ['', 0]);
  const backlogRatio = i.backlogSmallPerS > 0 ? i.backlogLargePerS / i.backlogSmallPerS : 0;
  return [
    { target: 'end to end ≥ 2 500 commands/s', measured: `${Math.round(i.endToEndPerS)} commands/s`, met: i.endToEndPerS >= 2500 },
    {
      target: 'end to end ≥ 20 % of raw AMQP',
      measured: `${(100 * ratio).toFixed(1)} % (${Math.round(i.endToEndPerS)} / ${Math.round(i.rawAmqpPerS)})`,
      met: ratio >= 0.2,
    },
    { target: 'added latency p50 ≤ 3 ms at 500/s', measured: `${i.addedP50Ms.toFixed(1)} ms`, met: i.addedP50Ms <= 3 },
    { target: 'added latency p99 ≤ 20 ms at 500/s', measured: `${i.addedP99Ms.toFixed(1)} ms`, met: i.addedP99Ms <= 20 },
    {
      target: '≤ 150 MB peak RSS per bridge process',
      measured: `max ${worst[1]} MiB (${worst[0] || 'n/a'})`,
      met: rss.length > 0 && rss.every(([, v]) => v !== null && v * 1.048576 <= 150),
    },
    {
      target: 'backlog drain rate within 10 % (large vs small)',
      measured: `${Math.round(i.backlogLargePerS)} vs ${Math.round(i.backlogSmallPerS)} /s (ratio ${backlogRatio.toFixed(2)})`,
      met: backlogRatio >= 0.9 && backlogRatio <= 1.1,
    },
  ];
}

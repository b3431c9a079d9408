/**
 * The demo's KPIs as Prometheus computes them: each KPI's PromQL (as in the README and the alert rules)
 * and the same figure computed here from the stack's live `/metrics` endpoints (counters summed over the
 * processes, histogram buckets merged), so an operator sees which query gives which number.
 */

/** One sample of the Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus' text exposition format (comments skipped; label values unescaped). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((n, s) => n + s.value, 0);
}

/** The `q` quantile of a histogram from its merged cumulative buckets (Prometheus' linear interpolation). */
export function histogramQuantile(samples: Sample[], name: string, q: number): number | null {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-9);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** One KPI: its name, the PromQL behind it, and the figure read from `/metrics` now. */
export interface KpiRow {
  kpi: string;
  promql: string;
  value: string;
}

/** Reads every target's `/metrics` (`host:port`; an unreachable one is skipped) and computes the KPIs. */
export async function kpisFromMetrics(targets: readonly string[]): Promise<{ rows: KpiRow[]; scraped: number }> {
  const samples: Sample[] = [];
  let scraped = 0;
  for (const target of targets) {
    const text = await fetch(`http://${target}/metrics`)
      .then((r) => (r.ok ? r.text() : null))
      .catch(() => null);
    if (text === null) continue;
    scraped += 1;
    samples.push(...parseExposition(text));
  }
  return { rows: kpiRows(samples), scraped };
}

export function kpiRows(samples: Sample[]): KpiRow[] {
  const all = sum(samples, 'pb_commands_total');
  const decided = sum(samples, 'pb_commands_total', (l) => l.outcome === 'succeeded' || l.outcome === 'declined');
  const succeeded = sum(samples, 'pb_commands_total', (l) => l.outcome === 'succeeded');
  const calls = sum(samples, 'pb_gateway_requests_total');
  const notOk = sum(samples, 'pb_gateway_requests_total', (l) => l.result !== 'ok');
  const pct = (n: number, d: number) => (d === 0 ? 'n/a' : `${((100 * n) / d).toFixed(2)} %`);
  const secs = (v: number | null) => (v === null ? 'n/a' : `${(v * 1000).toFixed(1)} ms`);
  const recoveries = sum(samples, 'pb_recovery_seconds_count');
  return [
    { kpi: 'commands with an outcome', promql: 'sum(increase(pb_commands_total[1h]))', value: String(all) },
    {
      kpi: 'success rate (PSP decided / all)',
      promql: 'sum(rate(pb_commands_total{outcome=~"succeeded|declined"}[5m])) / sum(rate(pb_commands_total[5m]))',
      value: pct(decided, all),
    },
    {
      kpi: 'approval rate (succeeded / PSP decided)',
      promql: 'sum(rate(pb_commands_total{outcome="succeeded"}[5m])) / sum(rate(pb_commands_total{outcome=~"succeeded|declined"}[5m]))',
      value: pct(succeeded, decided),
    },
    {
      kpi: 'latency p50, intake → event accepted',
      promql: 'histogram_quantile(0.5, sum by (le) (rate(pb_command_e2e_seconds_bucket[5m])))',
      value: secs(histogramQuantile(samples, 'pb_command_e2e_seconds', 0.5)),
    },
    {
      kpi: 'latency p99, intake → event accepted',
      promql: 'histogram_quantile(0.99, sum by (le) (rate(pb_command_e2e_seconds_bucket[5m])))',
      value: secs(histogramQuantile(samples, 'pb_command_e2e_seconds', 0.99)),
    },
    {
      kpi: 'error frequency (gateway calls not ok)',
      promql: 'sum(rate(pb_gateway_requests_total{result!="ok"}[5m])) / sum(rate(pb_gateway_requests_total[5m]))',
      value: pct(notOk, calls),
    },
    {
      kpi: 'recovery time (mean; breaker open → closed after the last failure)',
      promql: 'sum(rate(pb_recovery_seconds_sum[15m])) / sum(rate(pb_recovery_seconds_count[15m]))',
      value: recoveries === 0 ? 'n/a (no outage seen by live processes)' : secs(sum(samples, 'pb_recovery_seconds_sum') / recoveries),
    },
    {
      kpi: 'dead letters (queue)',
      promql: 'max(pb_queue_depth{queue="dead_letter",state="ready"})',
      value: String(Math.max(0, ...samples.filter((s) => s.name === 'pb_queue_depth' && s.labels.queue === 'dead_letter').map((s) => s.value))),
    },
  ];
}

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The one Prometheus registry of a process. Every metric the product exports is registered here (never
 * on prom-client's global default registry), so a test can read exactly what a process would serve.
 * Metric names start with `pb_`; label values are bounded sets (gateway names, codes), never ids.
 */
export const metricsRegistry = new Registry();

/** A counter on the process registry; `labelNames` must be bounded sets. */
export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [metricsRegistry] });
}

/** A gauge on the process registry. */
export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge<L>({ name, help, labelNames, registers: [metricsRegistry] });
}

/** A histogram on the process registry; `buckets` in the metric's unit (seconds for durations). */
export function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Histogram<L>;
  return new Histogram<L>({ name, help, labelNames, buckets, registers: [metricsRegistry] });
}

/** The current value of a counter or gauge for one label set (0 when never set); for tests and summaries. */
export async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  return values.filter((v) => wanted.every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)).reduce((sum, v) => sum + v.value, 0);
}

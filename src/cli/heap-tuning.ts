import { setFlagsFromString } from 'node:v8';

/** Default old-generation growth allowed after a full GC, percent of the live heap. */
export const DEFAULT_HEAP_GROWING_PERCENT = 60;

/**
 * The old-generation growth a long-running role asks of V8, from `PB_HEAP_GROWING_PERCENT` (default 60;
 * `0` leaves V8's own heuristic). Returns null when V8 is to decide, throws naming the variable when the
 * value is not an integer 0..400.
 *
 * Why: a worker's live heap is ~27 MiB, but under load part of each in-flight command survives two
 * scavenges and dies in old space; V8's default factor (up to 4× the live size on a fast mutator) then
 * let old space reach 100+ MiB of garbage before a mark-compact, and RSS 200+ MiB. Capping growth at
 * 1.6× keeps a worker near 130 MiB for a few percent of extra GC time (docs/BENCHMARKS.md).
 */
export function heapGrowingPercent(env: NodeJS.ProcessEnv = process.env): number | null {
  const raw = env.PB_HEAP_GROWING_PERCENT;
  if (raw === undefined || raw === '') return DEFAULT_HEAP_GROWING_PERCENT;
  if (!/^\d+$/.test(raw) || Number(raw) > 400) {
    throw new Error(`PB_HEAP_GROWING_PERCENT must be an integer from 0 to 400 (0 = V8's default), got ${JSON.stringify(raw)}`);
  }
  return Number(raw) === 0 ? null : Number(raw);
}

/**
 * Applies {@link heapGrowingPercent} to this process's V8. The flag is read at every full GC, so setting
 * it at start, before the role allocates its working set, takes effect like the command-line option.
 */
export function tuneHeap(env: NodeJS.ProcessEnv = process.env): number | null {
  const percent = heapGrowingPercent(env);
  if (percent !== null) setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}

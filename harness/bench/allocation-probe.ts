/**
 * Preloaded into a bridge role process by the bench (`node --require dist/harness/bench/allocation-probe.js`),
 * never imported by the product: counts the bytes the process allocates on the V8 heap, and answers the
 * bench's {@link AllocationQuery} over the IPC channel with the running total.
 *
 * How: V8 exposes no running allocation counter in Node 20, but `v8.GCProfiler` records the used heap size
 * before and after every collection. Between two collections the used heap only grows by allocation, so
 * the bytes allocated over a window are the sum of (used before GC i − used after GC i−1), plus the growth
 * since the last GC. The profiler is folded into the total every second, so its record stays small.
 * What it does not see: memory outside the V8 heap (Buffer and typed-array contents, sockets, TLS), which
 * is counted by RSS, not here.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';

/** The bench's question, sent over IPC. */
export interface AllocationQuery {
  type: 'pb-bench-allocation?';
}

/** The probe's answer: V8 heap bytes allocated since the probe loaded. */
export interface AllocationAnswer {
  type: 'pb-bench-allocation';
  bytes: number;
}

let total = 0;
let base = getHeapStatistics().used_heap_size;
let profiler = new GCProfiler();
profiler.start();

/** Adds what the profiler saw since the last fold to `total` and restarts it. */
function fold(): number {
  const record = profiler.stop();
  const now = getHeapStatistics().used_heap_size;
  let previous = base;
  for (const gc of record?.statistics ?? []) {
    total += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - previous);
    previous = gc.afterGC.heapStatistics.usedHeapSize;
  }
  total += Math.max(0, now - previous);
  base = now;
  profiler = new GCProfiler();
  profiler.start();
  return total;
}

setInterval(fold, 1000).unref();

if (process.send) {
  process.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null || (message as Partial<AllocationQuery>).type !== 'pb-bench-allocation?') return;
    const answer: AllocationAnswer = { type: 'pb-bench-allocation', bytes: fold() };
    process.send?.(answer);
  });
  // Listening must not keep a role alive that would otherwise exit.
  process.channel?.unref();
}

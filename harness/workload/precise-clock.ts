/**
 * Epoch milliseconds with sub-millisecond precision, from this process's monotonic clock: the one clock
 * for every stamp the twins and the harness (bench, drills, demo) compare with each other. `Date.now()`
 * follows the wall clock, which NTP or a VM resume can step, so a `Date.now()` stamp compared with the
 * bus twin's `receivedAt` mixes two clocks.
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The environment variable that hands this process's clock anchor to the processes it starts (the twins). */
const ANCHOR_ENV = 'PB_CLOCK_ANCHOR_MS';

/** The machine's monotonic clock (CLOCK_MONOTONIC: one clock for every process of the machine), ms. */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

// One anchor for the process tree: the first harness process takes the wall clock once, and every process it
// starts afterwards inherits it, so their stamps differ by the monotonic clock alone.
const inherited = process.env[ANCHOR_ENV];
const anchor = inherited !== undefined && Number.isFinite(Number(inherited)) ? Number(inherited) : Date.now() - monotonicMs();
process.env[ANCHOR_ENV] = String(anchor);

/**
 * Epoch milliseconds with sub-millisecond precision on the machine's monotonic clock: the one clock for every
 * stamp the twins and the harness (bench, drills, demo) compare with each other, across processes. `Date.now()`
 * follows the wall clock, which NTP or a VM resume can step; `performance.timeOrigin + performance.now()` is
 * anchored at each process's own start, so a process started minutes later disagrees with an older one by
 * however far NTP slewed the wall clock in between (84 ms seen between a CI test worker and a fresh twin).
 * Here every process of the tree shares one anchor (`PB_CLOCK_ANCHOR_MS`, set by the first and inherited), so
 * stamps differ by the monotonic clock only; as an epoch time a stamp is as close as the anchor was.
 */
export function preciseNow(): number {
  return anchor + monotonicMs();
}

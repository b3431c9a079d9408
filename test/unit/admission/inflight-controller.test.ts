import { InflightController, InflightSample, InflightSettings } from '../../../src/admission/inflight-controller';

const MiB = 1024 * 1024;
const settings: InflightSettings = { min: 16, max: 512, initial: 64, memoryBudgetBytes: 140 * MiB, lagLimitMs: 100 };

/** A 500 ms interval in which `limit` commands of `latencyMs` each ran back to back and more were waiting. */
function saturated(limit: number, latencyMs = 250, extra: Partial<InflightSample> = {}): InflightSample {
  return {
    completed: Math.round((limit * 500) / latencyMs),
    meanLatencyMs: latencyMs,
    peakInFlight: limit,
    waiting: 100,
    rssBytes: 100 * MiB,
    eventLoopLagMs: 12,
    intervalMs: 500,
    ...extra,
  };
}

function idle(extra: Partial<InflightSample> = {}): InflightSample {
  return { completed: 0, meanLatencyMs: Number.NaN, peakInFlight: 0, waiting: 0, rssBytes: 100 * MiB, eventLoopLagMs: 5, intervalMs: 500, ...extra };
}

describe('InflightController', () => {
  it('starts at the initial limit, clamped to min..max', () => {
    expect(new InflightController(settings).limit).toBe(64);
    expect(new InflightController({ ...settings, initial: 2 }).limit).toBe(16);
    expect(new InflightController({ ...settings, initial: 9000 }).limit).toBe(512);
  });

  it('refuses bounds that cannot hold (max below min)', () => {
    expect(() => new InflightController({ ...settings, min: 10, max: 5 })).toThrow(/min <= max/);
  });

  it('grows while work waits and latency holds, multiplicatively at first, up to max and no further', () => {
    const controller = new InflightController(settings);
    const limits: number[] = [];
    for (let i = 0; i < 12; i++) limits.push(controller.next(saturated(controller.limit)).limit);
    expect(limits.slice(0, 3)).toEqual([128, 256, 512]); // doubling each interval, as TCP's slow start
    expect(limits[limits.length - 1]).toBe(512);
    for (let i = 1; i < limits.length; i++) expect(limits[i]).toBeGreaterThanOrEqual(limits[i - 1]);
  });

  it("reports Little's estimate: completion rate times command time", () => {
    const controller = new InflightController(settings);
    // 1,000 commands/s of 250 ms each = 250 in flight on average.
    const decision = controller.next({ ...saturated(64), completed: 500, meanLatencyMs: 250, intervalMs: 500 });
    expect(decision.littleEstimate).toBeCloseTo(250, 5);
  });

  it('cuts the limit when RSS is over the memory budget while the limit is in use, and grows only additively after', () => {
    const controller = new InflightController({ ...settings, initial: 400 });
    const cut = controller.next(saturated(400, 250, { rssBytes: 141 * MiB }));
    expect(cut).toMatchObject({ reason: 'memory', previous: 400, limit: 300 });
    const regrow = controller.next(saturated(300));
    expect(regrow.reason).toBe('grow');
    expect(regrow.limit).toBe(330); // +10 %: above the last cut's level growth is additive
  });

  it('after a cut for memory, holds while RSS stays over the budget without rising, instead of cutting every interval down to min', () => {
    // V8 gives memory back lazily: RSS stays over the budget for seconds after the in-flight work shrank.
    const controller = new InflightController({ ...settings, initial: 400 });
    expect(controller.next(saturated(400, 250, { rssBytes: 141 * MiB }))).toMatchObject({ reason: 'memory', limit: 300 });
    const held: number[] = [];
    for (let i = 0; i < 8; i++) held.push(controller.next(saturated(controller.limit, 250, { rssBytes: 141 * MiB })).limit);
    expect(held).toEqual(Array(8).fill(300));
    expect(controller.next(saturated(300, 250, { rssBytes: 141 * MiB })).reason).toBe('memory_wait');
  });

  it('cuts again for memory when RSS keeps rising after a cut, or fell but stays over the budget past the settling time', () => {
    const rising = new InflightController({ ...settings, initial: 400 });
    rising.next(saturated(400, 250, { rssBytes: 150 * MiB }));
    expect(rising.next(saturated(300, 250, { rssBytes: 158 * MiB }))).toMatchObject({ reason: 'memory', limit: 225 });
    const falling = new InflightController({ ...settings, initial: 400 });
    falling.next(saturated(400, 250, { rssBytes: 150 * MiB }));
    const reasons: string[] = [];
    for (let i = 0; i < 10; i++) reasons.push(falling.next(saturated(falling.limit, 250, { rssBytes: 145 * MiB })).reason);
    expect(reasons.slice(0, 9)).toEqual(Array(9).fill('memory_wait'));
    expect(reasons[9]).toBe('memory'); // 10 intervals (5 s at 500 ms) later
    expect(falling.limit).toBe(225);
  });

  it('does not cut again when the last cut left RSS where it was: it holds (memory_floor) instead of falling to min', () => {
    // 4 → 16 MiB semi-spaces put a worker's RSS at 150-157 MiB whatever it had in flight: with a 143 MiB
    // budget, a cut every settling time took the limit to min and the throughput to a fifth.
    const controller = new InflightController({ ...settings, initial: 400 });
    expect(controller.next(saturated(400, 250, { rssBytes: 150 * MiB }))).toMatchObject({ reason: 'memory', limit: 300 });
    const reasons: string[] = [];
    for (let i = 0; i < 60; i++) reasons.push(controller.next(saturated(controller.limit, 250, { rssBytes: 149 * MiB })).reason);
    expect(reasons.slice(0, 9)).toEqual(Array(9).fill('memory_wait'));
    expect(new Set(reasons.slice(9))).toEqual(new Set(['memory_floor']));
    expect(controller.limit).toBe(300);
    // RSS then falls (V8 gave pages back: the cut was working) but is still over the budget: the next cut comes.
    expect(controller.next(saturated(300, 250, { rssBytes: 145 * MiB }))).toMatchObject({ reason: 'memory', limit: 225 });
  });

  it('cuts at once when RSS rises well past its level at the cut, even while holding at the floor', () => {
    const controller = new InflightController({ ...settings, initial: 400 });
    controller.next(saturated(400, 250, { rssBytes: 150 * MiB }));
    for (let i = 0; i < 12; i++) controller.next(saturated(controller.limit, 250, { rssBytes: 150 * MiB }));
    expect(controller.next(saturated(300, 250, { rssBytes: 160 * MiB }))).toMatchObject({ reason: 'memory', limit: 225 });
  });

  it('forgets a cut for memory once RSS is back under the budget: the next excess cuts at once', () => {
    const controller = new InflightController({ ...settings, initial: 400 });
    controller.next(saturated(400, 250, { rssBytes: 141 * MiB }));
    controller.next(saturated(300, 250, { rssBytes: 120 * MiB }));
    expect(controller.next(saturated(controller.limit, 250, { rssBytes: 141 * MiB }))).toMatchObject({ reason: 'memory' });
  });

  it('stops growing near the memory budget without cutting', () => {
    const controller = new InflightController(settings);
    const decision = controller.next(saturated(64, 250, { rssBytes: 138 * MiB }));
    expect(decision).toMatchObject({ reason: 'memory_near', limit: 64 });
  });

  it('does not cut an idle worker whose RSS is high (the limit is not what fills memory), it only holds', () => {
    const controller = new InflightController(settings);
    const decision = controller.next(idle({ rssBytes: 150 * MiB }));
    expect(decision).toMatchObject({ reason: 'memory_near', limit: 64 });
  });

  it('cuts on event-loop lag over the limit two intervals in a row and holds growth for one interval over it', () => {
    const lagging = new InflightController({ ...settings, initial: 200 });
    expect(lagging.next(saturated(200, 250, { eventLoopLagMs: 180 }))).toMatchObject({ reason: 'lag_near', limit: 200 });
    expect(lagging.next(saturated(200, 250, { eventLoopLagMs: 180 }))).toMatchObject({ reason: 'lag', limit: 160 });
    expect(lagging.next(saturated(160, 250, { eventLoopLagMs: 180 }))).toMatchObject({ reason: 'lag', limit: 128 });
  });

  it('keeps growing through event-loop delay under the limit (a scavenge or one slow step), while commands do not queue in the worker', () => {
    // Sampled every 10 ms, an interval's p99 is its longest stall: 60 ms is one GC pause, not a CPU at its ceiling.
    const busy = new InflightController({ ...settings, initial: 200 });
    expect(busy.next(saturated(200, 250, { eventLoopLagMs: 60, meanExternalMs: 245 }))).toMatchObject({ reason: 'grow', limit: 400 });
    expect(busy.next(saturated(300, 250, { eventLoopLagMs: 90 }))).toMatchObject({ reason: 'grow' });
  });

  it("holds growth while commands queue in the worker: its own time (command time less the PSP's) over 20 ms and half the PSP time", () => {
    const controller = new InflightController({ ...settings, initial: 200 });
    // 400 ms per command of which the PSP took 250: 150 ms waiting for the CPU or Redis.
    const decision = controller.next(saturated(200, 400, { meanExternalMs: 250 }));
    expect(decision).toMatchObject({ reason: 'queueing', limit: 200 });
    expect(decision.workerTimeMs).toBeCloseTo(150, 5);
    // 30 ms of its own at 250 ms PSP latency is a few round trips, not a queue: growth goes on.
    expect(new InflightController({ ...settings, initial: 200 }).next(saturated(200, 280, { meanExternalMs: 250 }))).toMatchObject({ reason: 'grow' });
    // 100 ms of its own at 250 ms is under half: growth goes on (the bench's workers ran their best rate there).
    expect(new InflightController({ ...settings, initial: 200 }).next(saturated(200, 350, { meanExternalMs: 250 }))).toMatchObject({ reason: 'grow' });
    // At 0 ms PSP latency the floor applies: 15 ms of its own is no queue, 40 ms is.
    expect(new InflightController(settings).next(saturated(64, 17, { meanExternalMs: 2 })).reason).toBe('grow');
    expect(new InflightController(settings).next(saturated(64, 42, { meanExternalMs: 2 })).reason).toBe('queueing');
  });

  it('ignores the queueing check when no PSP call finished (no figure to subtract)', () => {
    const controller = new InflightController(settings);
    expect(controller.next(saturated(64, 400, { meanExternalMs: Number.NaN })).reason).toBe('grow');
  });

  it('trims a limit grown past what the PSP latency needs on a CPU-bound worker, towards rate × PSP latency, never below the initial limit', () => {
    // A worker whose CPU does 345 commands/s whatever the limit: a command holds its slot limit / 345 s.
    const controller = new InflightController({ ...settings, initial: 64 });
    const cpuBound = (limit: number) => saturated(limit, Math.max(250, (limit / 345) * 1000), { meanExternalMs: 250, completed: 172 });
    for (let i = 0; i < 6; i++) controller.next(saturated(controller.limit, 250, { meanExternalMs: 250 }));
    expect(controller.limit).toBeGreaterThan(324); // grown while the CPU kept up
    const reasons: string[] = [];
    for (let i = 0; i < 30; i++) reasons.push(controller.next(cpuBound(controller.limit)).reason);
    expect(reasons).toContain('queueing');
    // 345/s × 250 ms = 86 needed; it ends where the worker's own time is between a quarter of and the PSP time.
    expect(controller.limit).toBeGreaterThanOrEqual(108);
    expect(controller.limit).toBeLessThanOrEqual(173);
    const low = new InflightController({ ...settings, initial: 64 });
    for (let i = 0; i < 30; i++) low.next(saturated(low.limit, 2000, { meanExternalMs: 250 }));
    expect(low.limit).toBe(64);
  });

  it('follows PSP latency on a CPU-bound worker (queueing, no lag): a slower PSP ends with a higher limit, near rate × latency', () => {
    // A worker whose CPU allows 1,000 commands/s: a command waits its PSP latency, or its turn on the CPU if longer.
    const run = (latencyMs: number) => {
      const controller = new InflightController(settings);
      for (let i = 0; i < 40; i++) controller.next(saturated(controller.limit, Math.max(latencyMs, controller.limit), { meanExternalMs: latencyMs }));
      return controller.limit;
    };
    expect(run(20)).toBeLessThanOrEqual(64);
    const slow = run(250);
    expect(slow).toBeGreaterThanOrEqual(250);
    // Growth stops once its own time passes half the PSP's (375 here); a doubling that overshoots is trimmed
    // while its own time exceeds the PSP's, so the limit ends under twice rate × latency.
    expect(slow).toBeLessThan(500);
  });

  it('does not cut for one stall alone (a full GC, one slow step): the p99 of an interval is its longest pause', () => {
    const controller = new InflightController({ ...settings, initial: 200 });
    const decisions = [10, 180, 10, 180, 10].map((lag) => controller.next(saturated(controller.limit, 250, { eventLoopLagMs: lag })));
    expect(decisions.map((d) => d.reason)).not.toContain('lag');
    expect(controller.limit).toBeGreaterThanOrEqual(200);
  });

  it('never cuts below min', () => {
    const controller = new InflightController({ ...settings, initial: 20 });
    for (let i = 0; i < 5; i++) controller.next(saturated(controller.limit, 250, { rssBytes: 200 * MiB }));
    expect(controller.limit).toBe(16);
  });

  it('holds growth while the command time is well above its recent level (a PSP slowing down is not pushed harder), then resumes', () => {
    const controller = new InflightController(settings);
    for (let i = 0; i < 2; i++) controller.next(saturated(controller.limit, 200));
    const before = controller.limit;
    const slowed = controller.next(saturated(before, 800));
    expect(slowed).toMatchObject({ reason: 'latency_rise', limit: before });
    // Once the slower level is the usual one, more in flight is what keeps the rate: growth resumes.
    let decision = slowed;
    for (let i = 0; i < 15 && decision.reason !== 'grow'; i++) decision = controller.next(saturated(controller.limit, 800));
    expect(decision.reason).toBe('grow');
    expect(controller.limit).toBeGreaterThan(before);
  });

  it('eases towards twice the commands in use when demand is well below the limit, never below the initial limit', () => {
    const controller = new InflightController({ ...settings, initial: 64 });
    for (let i = 0; i < 8; i++) controller.next(saturated(controller.limit));
    expect(controller.limit).toBe(512);
    // 500/s at 250 ms: ~125 in flight, peak 140.
    const eased = controller.next({ ...idle(), completed: 250, meanLatencyMs: 250, peakInFlight: 140 });
    expect(eased.reason).toBe('ease');
    expect(eased.limit).toBe(409); // at most a fifth per interval
    for (let i = 0; i < 10; i++) controller.next({ ...idle(), completed: 250, meanLatencyMs: 250, peakInFlight: 140 });
    expect(controller.limit).toBe(280);
    for (let i = 0; i < 20; i++) controller.next(idle());
    expect(controller.limit).toBe(64);
  });

  it('follows PSP latency: at the same offered backlog a slower PSP ends with a higher limit', () => {
    // A worker whose CPU allows 1,000 commands/s: in flight above rate x latency only waits for the CPU (lag).
    const run = (latencyMs: number) => {
      const controller = new InflightController(settings);
      for (let i = 0; i < 40; i++) {
        const needed = (1000 * latencyMs) / 1000;
        const lag = controller.limit > needed * 1.2 ? 150 : 10;
        controller.next(saturated(controller.limit, latencyMs, { eventLoopLagMs: lag }));
      }
      return controller.limit;
    };
    const fast = run(20);
    const slow = run(250);
    expect(fast).toBeLessThan(60);
    expect(slow).toBeGreaterThan(200);
  });
});

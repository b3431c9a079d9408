import { STALL_CHECKS, WatchdogSample, nextStallCount, shouldRestart } from '../../../src/queueing/worker-watchdog';

const stalled: WatchdogSample = { ready: 12, started: 0, running: 0, concurrency: 50 };

/** The stall count after these checks, from a fresh worker. */
function after(...samples: WatchdogSample[]): number {
  return samples.reduce((count, sample) => nextStallCount(count, sample), 0);
}

describe('worker watchdog decision', () => {
  it('restarts a worker that has jobs waiting and started none on two checks in a row', () => {
    expect(STALL_CHECKS).toBe(2);
    expect(shouldRestart(after(stalled, stalled))).toBe(true);
  });

  it('does not restart on a single stalled check', () => {
    expect(shouldRestart(after(stalled))).toBe(false);
  });

  it('does not restart a worker that started a job since the last check', () => {
    expect(shouldRestart(after(stalled, { ...stalled, started: 1 }))).toBe(false);
    // Progress in between resets the count: stalled, progress, stalled is not two in a row.
    expect(shouldRestart(after(stalled, { ...stalled, started: 3 }, stalled))).toBe(false);
  });

  it('does not restart when only delayed jobs remain (nothing ready to run)', () => {
    expect(shouldRestart(after({ ...stalled, ready: 0 }, { ...stalled, ready: 0 }))).toBe(false);
  });

  it('does not restart a worker busy at its concurrency', () => {
    const full = { ...stalled, running: 50 };
    expect(shouldRestart(after(full, full))).toBe(false);
  });

  it('restarts again after further stalled checks', () => {
    expect(shouldRestart(after(stalled, stalled, stalled))).toBe(true);
  });
});

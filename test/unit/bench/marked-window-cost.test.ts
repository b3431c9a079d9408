import { MarkedWindowCost } from '../../../harness/bench/marked-window-cost';
import { ProcessCost, WindowCost } from '../../../harness/bench/process-cost';

/** A meter that records when it was begun and ended, and with how many commands. */
function fakeMeter() {
  const calls: string[] = [];
  const meter = {
    begin: async (options: { resetPeaks?: boolean }) => {
      calls.push(`begin resetPeaks=${String(options.resetPeaks)}`);
    },
    end: async (commands: number) => {
      calls.push(`end ${commands}`);
      return { workerCpuMicrosPerCommand: commands } as unknown as WindowCost;
    },
  };
  return { calls, meter: meter as unknown as ProcessCost };
}

describe('MarkedWindowCost', () => {
  it('begins at the first mark without resetting peaks, ends at the second, and divides by the completions between them', async () => {
    const { calls, meter } = fakeMeter();
    let done = 0;
    const window = new MarkedWindowCost(meter, () => done, 100, 900);
    for (done = 0; done <= 1000; done += 50) {
      window.onProgress(done);
      await Promise.resolve(); // the meter's readings resolve between two progress reports
    }
    const cost = await window.result();
    expect(calls).toEqual(['begin resetPeaks=false', 'end 800']);
    expect(cost?.workerCpuMicrosPerCommand).toBe(800);
  });

  it('has no result when the run never reaches the second mark', async () => {
    const { calls, meter } = fakeMeter();
    const window = new MarkedWindowCost(meter, () => 500, 100, 900);
    window.onProgress(500);
    expect(await window.result()).toBeUndefined();
    expect(calls).toEqual(['begin resetPeaks=false']);
  });
});

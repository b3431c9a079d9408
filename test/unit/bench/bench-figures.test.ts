import { addedLatenciesMs } from '../../../harness/bench/psp-time';
import { TerminalTracker, steadyRate } from '../../../harness/bench/terminal-tracker';

describe('bench figures', () => {
  it('takes the steady rate over the middle 80 % of completions, ignoring a slow start', () => {
    // 10 completions in the first second (cold workers), then one every 10 ms.
    const cold = Array.from({ length: 10 }, (_, i) => i * 100);
    const warm = Array.from({ length: 90 }, (_, i) => 1000 + i * 10);
    expect(steadyRate([...warm, ...cold])).toBeCloseTo(100, 0);
    expect(steadyRate([1, 2, 3])).toBeNull();
  });

  it('subtracts each command its own PSP time, skipping commands whose PSP time is unknown', () => {
    const psp = new Map([
      ['a', 1.5],
      ['c', 0.25],
    ]);
    expect(addedLatenciesMs(['a', 'b', 'c'], [4, 9, 3], psp)).toEqual([2.5, 2.75]);
  });

  it('joins each terminal notification to its command, once, with its reference and arrival time', async () => {
    const notifications = [
      { params: { payment: { operation_reference: 'r1', event_id: 'r1.SUCCEEDED', status: 'SUCCESS' } }, receivedAt: 1010.5 },
      { params: { payment: { operation_reference: 'r1', event_id: 'r1.SUCCEEDED', status: 'SUCCESS' } }, receivedAt: 1011 },
      { params: { payment: { operation_reference: 'r2', event_id: 'r2.PENDING', status: 'PENDING' } }, receivedAt: 1012 },
      { params: { payment: { operation_reference: 'r2', event_id: 'r2.FAILED', status: 'FAIL' } }, receivedAt: 1013.25 },
    ];
    const tracker = new TerminalTracker(() => notifications);
    tracker.begin();
    tracker.published('r1', 1000);
    tracker.published('r2', 1001);
    const batch = await tracker.waitAll({ pollMs: 1, timeoutMs: 1000 });
    expect(batch).toMatchObject({
      completed: 2,
      references: ['r1', 'r2'],
      latenciesMs: [10.5, 12.25],
      completedAt: [1010.5, 1013.25],
      firstAt: 1010.5,
      lastAt: 1013.25,
      failed: 1,
    });
  });
});

import { spikeOptionsFromEnv, spikeReport, spikeSchedule } from '../../../harness/drills/spike-drill';
import { StepRecord } from '../../../harness/workload/workload-driver';

const options = { baseRate: 2, factor: 10, warmS: 3, spikeS: 2, coolS: 1, priorityP99Ms: 1000, maxBacklog: 10 };

describe('spike drill', () => {
  it('schedules the normal rate, ten times it during the spike, then the normal rate again', () => {
    const { payments, startAt } = spikeSchedule(options);
    expect(payments).toBe(6 + 40 + 2);
    expect(startAt(1) - startAt(0)).toBe(500);
    expect(startAt(6)).toBe(3000);
    expect(startAt(7) - startAt(6)).toBe(50);
    expect(startAt(46)).toBe(5000);
    expect(startAt(47) - startAt(46)).toBe(500);
  });

  it('reads its shape from the environment, with the documented defaults', () => {
    expect(spikeOptionsFromEnv({})).toEqual({ baseRate: 8, factor: 10, warmS: 10, spikeS: 60, coolS: 10, priorityP99Ms: 5000, maxBacklog: 300 });
    expect(spikeOptionsFromEnv({ PB_SPIKE_S: '5', PB_SPIKE_BASE_RATE: '3' })).toMatchObject({ spikeS: 5, baseRate: 3 });
  });

  const record = (command: StepRecord['command'], ms: number, status: StepRecord['status'] = 'SUCCESS'): StepRecord => ({
    scenario: 0,
    step: 0,
    operationId: `op-${command}-${ms}`,
    orderId: 'o',
    channel: 'bus',
    command,
    expect: 'SUCCESS',
    sentAt: 1000,
    ...(status === 'SUCCESS' || status === 'FAIL' ? { reportedAt: 1000 + ms } : {}),
    status,
    intakeRetries: 0,
  });

  it("prints priority latency next to authorizations' and fails when the priority p99 is over its bound", () => {
    const fast = spikeReport([record('capture', 100), record('refund', 200), record('authorize', 3000)], options);
    expect(fast.checks.every((c) => c.ok)).toBe(true);
    expect(fast.figures.join('\n')).toMatch(/captures\/cancels\/refunds: 2 commands, p50 100 ms, p99 200 ms/);
    expect(fast.figures.join('\n')).toMatch(/authorizations .*: 1 commands, p50 3000 ms/);
    const slow = spikeReport([record('capture', 100), record('cancel', 4000)], options);
    expect(slow.checks.find((c) => c.name.startsWith('priority'))?.ok).toBe(false);
  });

  it('fails when a command was not completed (a refusal not retried, a timeout)', () => {
    const report = spikeReport([record('capture', 100), record('authorize', 0, 'REJECTED')], options);
    expect(report.checks.find((c) => c.name.startsWith('every command'))?.ok).toBe(false);
  });
});

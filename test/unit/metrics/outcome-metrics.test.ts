import { EndToEndLatency, commandOutcome, noteOutcome } from '../../../src/metrics/outcome-metrics';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue, metricsRegistry } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { payment } from '../../support/fixtures';

function record(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'op-1',
    command: 'capture',
    channel: 'bus',
    state: 'SENT',
    payment: payment({ order_id: 'ORD-9' }),
    receivedAt: 1000,
    createdAt: 1000,
    updatedAt: 1000,
    attempts: 1,
    ...overrides,
  };
}

async function e2eCount(channel: string, outcome: string): Promise<number> {
  const { values } = await metricsRegistry.getSingleMetric('pb_command_e2e_seconds')!.get();
  return values
    .filter((v) => (v as { metricName?: string }).metricName === 'pb_command_e2e_seconds_count' && v.labels.channel === channel && v.labels.outcome === outcome)
    .reduce((n, v) => n + v.value, 0);
}

describe('commandOutcome', () => {
  it('tells a PSP decline from a failure of ours, and is null for moves that are not outcomes', () => {
    expect(commandOutcome('SUCCEEDED', { event: 'outcome' })).toBe('succeeded');
    expect(commandOutcome('FAILED', { event: 'outcome' })).toBe('declined');
    expect(commandOutcome('FAILED', { event: 'failed', kind: 'declined' })).toBe('declined');
    expect(commandOutcome('FAILED', { event: 'failed', reason: 'UNRESPONSIVE' })).toBe('failed');
    expect(commandOutcome('FAILED', { event: 'failed', kind: 'invalid_request' })).toBe('failed');
    expect(commandOutcome('UNRESOLVED', { event: 'unresolved' })).toBe('unresolved');
    expect(commandOutcome('PENDING', { event: 'outcome' })).toBeNull();
    expect(commandOutcome('UNKNOWN', { event: 'send_error' })).toBeNull();
  });
});

describe('noteOutcome', () => {
  it('counts the outcome by channel, command and outcome and writes one info line with ids, gateway, state, attempts and latency', async () => {
    const logs = captureLogger('info');
    const before = await metricValue('pb_commands_total', { channel: 'bus', command: 'capture', outcome: 'succeeded' });
    noteOutcome(logs.logger, record(), record({ state: 'SUCCEEDED', attempts: 2 }), 'succeeded', 1250);
    expect(await metricValue('pb_commands_total', { channel: 'bus', command: 'capture', outcome: 'succeeded' })).toBe(before + 1);
    expect(logs.lines).toHaveLength(1);
    expect(JSON.parse(logs.lines[0])).toMatchObject({
      level: 'info',
      operation_id: 'op-1',
      order_id: 'ORD-9',
      gateway: 'simulator',
      command: 'capture',
      channel: 'bus',
      state: 'SUCCEEDED',
      attempts: 2,
      latency_ms: 250,
    });
    expect(JSON.parse(logs.lines[0])).not.toHaveProperty('method_data_dropped');
  });

  it('counts and says on the line that the move dropped one-time method data, only when it did', async () => {
    const logs = captureLogger('info');
    const oneTime = record({ payment: payment({ payment_method: { type: 'gift_card', token: 'enc-card', encrypted_security_code: 'enc-pin' } }) });
    const before = await metricValue('pb_one_time_method_data_dropped_total');
    noteOutcome(logs.logger, oneTime, { ...oneTime, state: 'UNRESOLVED' }, 'unresolved', 1250);
    noteOutcome(logs.logger, oneTime, { ...oneTime, state: 'FAILED' }, 'declined', 1250, true);
    expect(await metricValue('pb_one_time_method_data_dropped_total')).toBe(before + 1);
    expect(logs.lines.map((l) => (JSON.parse(l) as { method_data_dropped?: boolean }).method_data_dropped)).toEqual([undefined, true]);
  });
});

describe('EndToEndLatency', () => {
  it("observes intake → event accepted once per outcome event, reading another process's operation back from the ledger", async () => {
    const tracker = new EndToEndLatency(2);
    const before = await e2eCount('pos', 'succeeded');
    tracker.expect('a.SUCCEEDED', 'pos', 'succeeded', 1000);
    await tracker.accepted('a.SUCCEEDED', undefined, 1500);
    await tracker.accepted('a.SUCCEEDED', undefined, 1600); // a repeat is not observed twice
    expect(await e2eCount('pos', 'succeeded')).toBe(before + 1);
    const lookups: string[] = [];
    const lookup = async (id: string) => {
      lookups.push(id);
      return record({ id, channel: 'pos', state: 'SUCCEEDED' });
    };
    await tracker.accepted('op.with.dots.SUCCEEDED', lookup, 3000);
    await tracker.accepted('op-2.refund-pending', lookup, 3000);
    await tracker.accepted('op-3.PENDING', lookup, 3000);
    expect(lookups).toEqual(['op.with.dots']);
    expect(await e2eCount('pos', 'succeeded')).toBe(before + 2);
  });
});

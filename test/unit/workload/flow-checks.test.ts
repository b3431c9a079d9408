import { checkFlow, latencySummary } from '../../../harness/workload/flow-checks';
import { formatTable } from '../../../harness/workload/text-table';
import { ObservedNotification, StepRecord } from '../../../harness/workload/workload-driver';

const record = (overrides: Partial<StepRecord>): StepRecord => ({
  scenario: 0,
  step: 0,
  operationId: 'ORD-1-1-authorize',
  orderId: 'ORD-1',
  channel: 'web',
  command: 'authorize',
  expect: 'SUCCESS',
  sentAt: 1,
  acceptedAt: 2,
  reportedAt: 10,
  status: 'SUCCESS',
  intakeRetries: 0,
  ...overrides,
});

const note = (opId: string, state: 'SUCCEEDED' | 'FAILED', sequence: number, order = 'ORD-1'): ObservedNotification => ({
  method: 'm',
  receivedAt: 0,
  params: {
    payment: {
      operation_reference: opId,
      order_id: order,
      gateway: 'simulator',
      gateway_account: 'a',
      status: state === 'SUCCEEDED' ? 'SUCCESS' : 'FAIL',
      event_id: `${opId}.${state}`,
      sequence,
    },
  },
});

const byName = (checks: ReturnType<typeof checkFlow>) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe('flow checks', () => {
  it('hold for a run where every command was reported as expected, in order, charged once', () => {
    const checks = checkFlow({
      records: [record({}), record({ step: 1, operationId: 'ORD-1-2-capture', command: 'capture', channel: 'bus' })],
      notifications: [note('ORD-1-1-authorize', 'SUCCEEDED', 1), note('ORD-1-2-capture', 'SUCCEEDED', 2)],
      maxEffectsPerKey: 1,
    });
    expect(checks.every((c) => c.ok)).toBe(true);
  });

  it('fail when an accepted command was never reported', () => {
    const checks = byName(checkFlow({ records: [record({ status: 'TIMEOUT', reportedAt: undefined })], notifications: [], maxEffectsPerKey: 1 }));
    expect(checks['every accepted command reported'].ok).toBe(false);
    expect(checks['every accepted command reported'].detail).toContain('ORD-1-1-authorize');
  });

  it('count an UNRESOLVED validate as reported, and fail an UNRESOLVED command that moves money', () => {
    const validate = byName(
      checkFlow({ records: [record({ operationId: 'ORD-1-1-validate', command: 'validate', status: 'UNRESOLVED' })], notifications: [], maxEffectsPerKey: 1 }),
    );
    expect(validate['every accepted command reported'].ok).toBe(true);
    expect(validate['UNRESOLVED only where the PSP keeps no trace'].ok).toBe(true);
    const capture = byName(checkFlow({ records: [record({ command: 'capture', status: 'UNRESOLVED' })], notifications: [], maxEffectsPerKey: 1 }));
    expect(capture['UNRESOLVED only where the PSP keeps no trace'].ok).toBe(false);
    expect(capture['UNRESOLVED only where the PSP keeps no trace'].detail).toContain('ORD-1-1-authorize');
  });

  it('fail when an outcome differs from the plan, naming the operation and its reason', () => {
    const checks = byName(checkFlow({ records: [record({ status: 'FAIL', reason: 'card_declined' })], notifications: [], maxEffectsPerKey: 1 }));
    expect(checks['every outcome as expected'].ok).toBe(false);
    expect(checks['every outcome as expected'].detail).toContain('card_declined');
  });

  it('accept a duplicate delivery of the same event but not an operation reported both ways', () => {
    const dup = byName(
      checkFlow({
        records: [record({})],
        notifications: [note('ORD-1-1-authorize', 'SUCCEEDED', 1), note('ORD-1-1-authorize', 'SUCCEEDED', 1)],
        maxEffectsPerKey: 1,
      }),
    );
    expect(dup['no operation reported two ways'].ok).toBe(true);
    expect(dup['events of each payment in sequence order'].ok).toBe(true);
    const both = byName(
      checkFlow({
        records: [record({})],
        notifications: [note('ORD-1-1-authorize', 'SUCCEEDED', 1), note('ORD-1-1-authorize', 'FAILED', 2)],
        maxEffectsPerKey: 1,
      }),
    );
    expect(both['no operation reported two ways'].ok).toBe(false);
  });

  it('accept UNRESOLVED followed by SUCCESS for one operation: giving up is not an outcome', () => {
    const unresolved: ObservedNotification = {
      method: 'm',
      receivedAt: 0,
      params: {
        payment: { operation_reference: 'ORD-1-1-authorize', order_id: 'ORD-1', status: 'UNRESOLVED', event_id: 'ORD-1-1-authorize.UNRESOLVED', sequence: 1 },
      },
    };
    const checks = byName(checkFlow({ records: [record({})], notifications: [unresolved, note('ORD-1-1-authorize', 'SUCCEEDED', 2)], maxEffectsPerKey: 1 }));
    expect(checks['no operation reported two ways'].ok).toBe(true);
    expect(checks['events of each payment in sequence order'].ok).toBe(true);
  });

  it('fail when a payment’s events arrive out of sequence, but not across payments', () => {
    const bad = byName(checkFlow({ records: [], notifications: [note('a', 'SUCCEEDED', 2), note('b', 'SUCCEEDED', 1)], maxEffectsPerKey: 1 }));
    expect(bad['events of each payment in sequence order'].ok).toBe(false);
    const fine = byName(
      checkFlow({ records: [], notifications: [note('a', 'SUCCEEDED', 2, 'ORD-1'), note('b', 'SUCCEEDED', 1, 'ORD-2')], maxEffectsPerKey: 1 }),
    );
    expect(fine['events of each payment in sequence order'].ok).toBe(true);
  });

  it('fail when an idempotency key moved money twice, and when a valid command was rejected', () => {
    const checks = byName(
      checkFlow({ records: [record({ status: 'REJECTED', acceptedAt: undefined, reason: 'HTTP 401' })], notifications: [], maxEffectsPerKey: 2 }),
    );
    expect(checks['nothing charged twice (effects per idempotency key)'].ok).toBe(false);
    expect(checks['no valid command rejected at intake'].ok).toBe(false);
  });

  it('summarise latencies with nearest-rank percentiles', () => {
    expect(latencySummary([])).toEqual({ count: 0, avg: 0, p50: 0, p95: 0, p99: 0, max: 0 });
    const s = latencySummary(Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(s).toEqual({ count: 100, avg: 50.5, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it('render an aligned table', () => {
    expect(formatTable(['a', 'bb'], [['xxx', 'y']])).toBe('a    bb\n───  ──\nxxx  y');
  });
});

import { BusRequestError, BusRpcError } from '../../../src/bus/bus-errors';
import { EventStore, StoredEvent } from '../../../src/events/event-store';
import { refusedNotice, setAsideRefusedNotice } from '../../../src/events/refusable-notices';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

const config = testConfig();
const methods = config.serviceBus.methods.notifications;
const notFound = new BusRpcError(-32601, 'Method not found');

const stored = (eventId: string, method: string): StoredEvent => ({
  eventId,
  method,
  paymentKey: 'sima:acct:pm_card_visa',
  sequence: 3,
  params: {},
});
const refundNotice = stored('op-1.refund-pending', methods.refund_updated);
const skipNotice = stored('sched-1.skipped.2-4', methods.recurring_cycles_skipped);

/** An event store that records what was set aside. */
function store(): { events: EventStore; setAside: [string, string][] } {
  const setAside: [string, string][] = [];
  const events = { setAside: (event: StoredEvent, reason: string) => Promise.resolve(void setAside.push([event.eventId, reason])) };
  return { events: events as unknown as EventStore, setAside };
}

describe('refusedNotice: the notices the bus may refuse for good', () => {
  it('names the refund pre-notice and the skipped-cycles notice on a JSON-RPC error, each by its method and event id', () => {
    expect(refusedNotice(refundNotice, notFound, config)?.notice.method).toBe('refund_updated');
    expect(refusedNotice(skipNotice, notFound, config)?.notice.method).toBe('recurring_cycles_skipped');
  });

  it('names none for a transient failure, another method, or another event id under the same method', () => {
    expect(refusedNotice(refundNotice, new BusRequestError('bus answered HTTP 503', 503), config)).toBeNull();
    expect(refusedNotice(refundNotice, new Error('socket hang up'), config)).toBeNull();
    expect(refusedNotice(stored('op-1.refund-pending', methods.recurring_cycles_skipped), notFound, config)).toBeNull();
    expect(refusedNotice(stored('op-1', methods.refund_updated), notFound, config)).toBeNull();
    expect(refusedNotice(stored('sched-1.cycle.2', methods.recurring_cycles_skipped), notFound, config)).toBeNull();
  });
});

describe('setAsideRefusedNotice', () => {
  it('sets a refused refund pre-notice aside as rpc_<code>, counts pb_refund_notices_set_aside_total and names its payment in the warn line', async () => {
    const { events, setAside } = store();
    const logs = captureLogger('info');
    const before = await metricValue('pb_refund_notices_set_aside_total', { reason: 'rpc_-32601' });
    expect(await setAsideRefusedNotice(refusedNotice(refundNotice, notFound, config)!, refundNotice, { events, logger: logs.logger })).toBe('set-aside');
    expect(setAside).toEqual([['op-1.refund-pending', 'rpc_-32601']]);
    expect(await metricValue('pb_refund_notices_set_aside_total', { reason: 'rpc_-32601' })).toBe(before + 1);
    const line = JSON.parse(logs.lines.find((l) => l.includes('refund pre-notice set aside'))!) as Record<string, unknown>;
    expect(line).toMatchObject({
      event_id: 'op-1.refund-pending',
      method: methods.refund_updated,
      sequence: 3,
      payment_key: 'sima:acct:pm_card_visa',
      reason: 'rpc_-32601',
    });
    expect(line.error).toContain('-32601');
  });

  it('sets a refused skipped-cycles notice aside as rpc_<code>, counts pb_recurring_skip_notices_set_aside_total; its warn line never names the payment key (a stored credential)', async () => {
    const { events, setAside } = store();
    const logs = captureLogger('info');
    const before = await metricValue('pb_recurring_skip_notices_set_aside_total', { reason: 'rpc_-32601' });
    expect(await setAsideRefusedNotice(refusedNotice(skipNotice, notFound, config)!, skipNotice, { events, logger: logs.logger })).toBe('set-aside');
    expect(setAside).toEqual([['sched-1.skipped.2-4', 'rpc_-32601']]);
    expect(await metricValue('pb_recurring_skip_notices_set_aside_total', { reason: 'rpc_-32601' })).toBe(before + 1);
    const line = JSON.parse(logs.lines.find((l) => l.includes('recurring skipped-cycles notice set aside'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ event_id: 'sched-1.skipped.2-4', method: methods.recurring_cycles_skipped, sequence: 3, reason: 'rpc_-32601' });
    expect(line).not.toHaveProperty('payment_key');
    expect(JSON.stringify(line)).not.toContain('pm_card_visa');
  });
});

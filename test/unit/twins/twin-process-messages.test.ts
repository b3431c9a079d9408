import { terminalSummary } from '../../../harness/twins/bus-twin/bus-twin';
import { fromTuple, toTuple } from '../../../harness/twins/twin-processes/twin-process-messages';

describe('notification tuples (the bus twin process → the bench)', () => {
  const roundTrip = (params: Record<string, unknown>) => {
    const n = { method: 'magento.payments.payments_management.validated', params: terminalSummary(params), receivedAt: 1764489600123.456 };
    return { sent: n, received: fromTuple(JSON.parse(JSON.stringify(toTuple(n))) as ReturnType<typeof toTuple>) };
  };

  it('carries what the terminal tracker reads, and the arrival time to the microsecond', () => {
    const { sent, received } = roundTrip({
      payment: {
        event_id: 'op-1.SUCCEEDED',
        operation_reference: 'op-1',
        status: 'SUCCESS',
        amount: 1000,
        gateway_response: { reference: 'auth_1', status: 'authorized' },
      },
    });
    expect(received).toEqual(sent);
    expect(received.receivedAt).toBe(1764489600123.456);
    expect(received.params).toEqual({
      payment: { event_id: 'op-1.SUCCEEDED', operation_reference: 'op-1', status: 'SUCCESS', gateway_response: { reference: 'auth_1' } },
    });
  });

  it('keeps a missing PSP reference missing and a notification without payment without one', () => {
    expect(roundTrip({ payment: { event_id: 'op-2.FAILED', operation_reference: 'op-2', status: 'FAIL' } }).received.params).toEqual({
      payment: { event_id: 'op-2.FAILED', operation_reference: 'op-2', status: 'FAIL' },
    });
    expect(roundTrip({ other: true }).received.params).toEqual({});
  });
});

import { jsonRpcRequest } from '../../../src/bus/json-rpc';
import { notificationBody, withSequence } from '../../../src/events/event-send';
import { paramsJson } from '../../../src/events/event-json';

/** What the bus client wrote for a notification before: the params copied with their sequence, serialised whole. */
const reference = (method: string, params: Record<string, unknown>, eventId: string, sequence: number) =>
  JSON.stringify(jsonRpcRequest(method, withSequence(params, eventId, sequence)));

describe('notificationBody (an event serialised once, recorded and sent as the same text)', () => {
  const method = 'magento.payments.payments_management.captured';

  it('is byte for byte the notification the bus client wrote from the params, for an outcome event', () => {
    const params = {
      payment: {
        gateway: 'simulator',
        amount: 1000,
        currency: 'EUR',
        lines: [{ line_number: 1, item_name: 'Caf\u00e9 "au" lait\n', quantity: 2 }],
        status: 'SUCCESS',
        gateway_response: { status: 'captured', reference: null },
        event_id: 'op-1.SUCCEEDED',
        expires_at: '2026-12-01T00:00:00.000Z',
      },
    };
    expect(paramsJson(params)).toBe(JSON.stringify(params));
    expect(notificationBody(method, params, 'op-1.SUCCEEDED', 7)).toBe(reference(method, params, 'op-1.SUCCEEDED', 7));
    expect(params.payment).not.toHaveProperty('sequence');
  });

  it('falls back to the whole serialisation where appending would differ: no payment, no event_id, another id, a sequence already there, more params', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ code: 'PENDINGRELEASE', operation_reference: 'op-2' }, 'op-2.refund-pending'],
      [{ payment: { gateway: 'simulator', status: 'PENDING' } }, 'op-3.PENDING'],
      [{ payment: { gateway: 'simulator', event_id: 'op-4.OTHER' } }, 'op-4.PENDING'],
      [{ payment: { event_id: 'op-5.SUCCEEDED', sequence: 1, gateway: 'simulator' } }, 'op-5.SUCCEEDED'],
      [{ payment: { event_id: 'op-6.SUCCEEDED' }, extra: true }, 'op-6.SUCCEEDED'],
      [{ payment: ['op-7.SUCCEEDED'] }, 'op-7.SUCCEEDED'],
      [JSON.parse('{"payment":{"__proto__":{"x":1},"event_id":"op-8.SUCCEEDED"}}') as Record<string, unknown>, 'op-8.SUCCEEDED'],
    ];
    for (const [params, eventId] of cases) {
      expect(notificationBody(method, params, eventId, 3)).toBe(reference(method, params, eventId, 3));
    }
  });

  it('serialises a params object once: the recorded text is reused for the notification', () => {
    const params = { payment: { gateway: 'simulator', event_id: 'op-9.SUCCEEDED' } };
    const first = paramsJson(params);
    expect(paramsJson(params)).toBe(first);
    const stringify = jest.spyOn(JSON, 'stringify');
    try {
      notificationBody(method, params, 'op-9.SUCCEEDED', 2);
      // Only the method name and the sequence number are serialised, never the payment again.
      for (const [value] of stringify.mock.calls) expect(typeof value === 'object' && value !== null).toBe(false);
    } finally {
      stringify.mockRestore();
    }
  });
});

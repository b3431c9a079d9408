import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES, cybersourceLateFact } from '../../../../src/gateways/cybersource/cybersource-webhook';
import { PAYMENT_ID, gateway } from './cybersource-test-fixtures';

const EVENT_DATE = '2026-11-22T10:00:00.000Z';

function notification(eventType: string, data: Record<string, unknown> = {}, eventDate: unknown = EVENT_DATE): Buffer {
  return Buffer.from(
    JSON.stringify({
      notificationId: '0b9a1c6d-3f43-4c2e-9a65-2f0d5d2b1e77',
      retryNumber: 0,
      eventType,
      eventDate,
      payload: [
        {
          data: {
            id: PAYMENT_ID,
            type: 'payments',
            clientReferenceInformation: { code: 'op-cs-1' },
            orderInformation: { amountDetails: { totalAmount: '12.50', currency: 'usd' } },
            errorInformation: { reason: 'PROCESSOR_DECLINED' },
            ...data,
          },
          organizationId: 'testrest',
        },
      ],
    }),
  );
}

/** Cybersource webhook event → adjustment (docs/EVENTS.md). It documents no chargeback or dispute webhook. */
const TABLE: Array<[string, string, string]> = [
  ['payments.captures.reject', 'capture_failed', 'debit'],
  ['payments.payments.failed', 'capture_failed', 'debit'],
  ['payments.refunds.reject', 'refund_failed', 'credit'],
  ['payments.credits.reject', 'refund_failed', 'credit'],
  ['payments.credits.failed', 'refund_failed', 'credit'],
];

describe('Cybersource late facts', () => {
  it.each(TABLE)('maps %s to its FAIL outcome with a %s adjustment (%s)', (type, kind, direction) => {
    const [event] = t.parseWebhook(notification(type), gateway);
    expect(event.operationId).toBe('op-cs-1');
    expect(event.outcome.status).toBe('FAIL');
    expect(event.adjustment).toEqual({
      kind,
      direction,
      failsOpenOperation: true,
      amount: 1250,
      currency: 'USD',
      reason: 'PROCESSOR_DECLINED',
      pspReference: PAYMENT_ID,
      occurredAt: Date.parse(EVENT_DATE),
    });
  });

  it('has exactly the table above as late facts among the event types it maps', () => {
    const late = CYBERSOURCE_WEBHOOK_EVENT_TYPES.filter((type) => cybersourceLateFact(type) !== null);
    expect([...late].sort()).toEqual(TABLE.map(([type]) => type).sort());
  });

  it('dates the adjustment only by a PSP time (to the end of year 9999), as the outcome is: never one the event cannot write as a date', () => {
    for (const eventDate of ['+010000-01-01T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '1969-12-31T23:59:59.000Z', 'not a date']) {
      const [event] = t.parseWebhook(notification('payments.captures.reject', {}, eventDate), gateway);
      expect(event.adjustment).toBeDefined();
      expect(event.adjustment?.occurredAt).toBeUndefined();
      expect(event.outcome.occurredAt).toBeUndefined();
    }
  });

  it('carries no adjustment on an accepted capture', () => {
    const [event] = t.parseWebhook(notification('payments.captures.accept'), gateway);
    expect(event.adjustment).toBeUndefined();
  });
});

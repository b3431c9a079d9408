import { SkippedWebhookItem } from '../../../../src/gateways/gateway-adapter';
import { parseSimulatorWebhook } from '../../../../src/gateways/simulator/simulator-webhook';

function event(type: string, object: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ id: 'evt_late_1', type, created: 1764400000, data: { object } }));
}

describe('simulator late facts', () => {
  it('reads chargeback.created as a chargeback of the operation it names, never its outcome', () => {
    const [e] = parseSimulatorWebhook(
      event('chargeback.created', {
        id: 'cb_1',
        object: 'chargeback',
        status: 'charged_back',
        amount: 1500,
        currency: 'EUR',
        reference: 'op-cap-1',
        authorization: 'auth_1',
        reason: 'fraudulent',
      }),
      'simulator',
    );
    expect(e.operationId).toBe('op-cap-1');
    expect(e.outcome.status).toBe('PENDING');
    expect(e.adjustment).toEqual({
      kind: 'chargeback',
      direction: 'debit',
      failsOpenOperation: false,
      amount: 1500,
      currency: 'EUR',
      reason: 'fraudulent',
      pspReference: 'cb_1',
      occurredAt: 1764400000000,
    });
  });

  it('reads chargeback.reversed as money coming back', () => {
    const [e] = parseSimulatorWebhook(
      event('chargeback.reversed', {
        id: 'cbr_1',
        object: 'chargeback',
        status: 'reversed',
        amount: 1500,
        currency: 'EUR',
        reference: 'op-cap-1',
        authorization: 'auth_1',
        reason: 'fraudulent',
      }),
      'simulator',
    );
    expect(e.adjustment).toMatchObject({ kind: 'chargeback_reversed', direction: 'credit' });
  });

  it('reads refund.failed as the refund FAIL outcome and a refund_failed adjustment', () => {
    const [e] = parseSimulatorWebhook(
      event('refund.failed', {
        id: 're_1',
        object: 'refund',
        status: 'failed',
        amount: 800,
        currency: 'EUR',
        reference: 'op-ref-1',
        authorization: 'auth_1',
        failure_reason: 'expired_or_canceled_card',
      }),
      'simulator',
    );
    expect(e.operationId).toBe('op-ref-1');
    expect(e.outcome).toMatchObject({ status: 'FAIL', reason: 'expired_or_canceled_card' });
    expect(e.adjustment).toMatchObject({ kind: 'refund_failed', direction: 'credit', failsOpenOperation: true, amount: 800, currency: 'EUR' });
  });

  it('refuses a late event without the reference of the operation it is about', () => {
    expect(() => parseSimulatorWebhook(event('chargeback.created', { id: 'cb_2', amount: 1 }), 'simulator')).toThrow(/reference/);
  });

  it.each<[string, unknown]>([
    ['chargeback.created', 'EURO'],
    ['chargeback.reversed', 'eu'],
    ['refund.failed', 'XXX1'],
    ['chargeback.created', ''],
    ['chargeback.created', 978],
  ])('refuses %s with currency %p naming data.object.currency: acknowledged and skipped, no adjustment', (type, currency) => {
    const skipped: SkippedWebhookItem[] = [];
    const object = { id: 'cb_1', object: 'chargeback', amount: 1500, currency, reference: 'op-cap-1', reason: 'fraudulent' };
    expect(parseSimulatorWebhook(event(type, object), 'simulator', (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([
      {
        reason: 'unreadable',
        eventId: 'evt_late_1',
        eventType: type,
        reference: 'cb_1',
        field: 'data.object.currency',
        problem: expect.stringContaining('is not an ISO 4217 currency code') as unknown,
      },
    ]);
  });
});

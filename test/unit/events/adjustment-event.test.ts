import { AdjustmentRecord } from '../../../src/adjustments/adjustment';
import { adjustmentEvent, adjustmentEventId } from '../../../src/events/adjustment-event';
import { paymentKeyOf } from '../../../src/events/payment-event';
import { OperationRecord } from '../../../src/ledger/ledger';
import { testConfig } from '../../support/test-config';

const op: OperationRecord = {
  id: 'op-cap-1',
  command: 'capture',
  channel: 'bus',
  state: 'SUCCEEDED',
  payment: { gateway: 'adyen-eu', gateway_account: 'acme', gateway_key: 'PSP123', amount: 5000, currency: 'EUR', order_id: 'O-9' },
  receivedAt: 1000,
  createdAt: 1000,
  updatedAt: 1250,
  attempts: 1,
  gatewayStatus: 'CAPTURE',
  gatewayReference: 'CAPREF1',
};

const adjustment: AdjustmentRecord = {
  id: 'adj_0123456789abcdef01234567',
  operationId: 'op-cap-1',
  gateway: 'adyen-eu',
  kind: 'chargeback',
  direction: 'debit',
  amount: 4200,
  currency: 'EUR',
  reason: '10.4',
  pspReference: 'DSP1',
  pspEventId: 'DSP1:CHARGEBACK:true',
  occurredAt: Date.parse('2026-11-20T09:00:00Z'),
  source: 'webhook',
  recordedAt: 2000,
};

describe('the adjustment event', () => {
  it('reports the operation as the PSP confirmed it, beside what the command asked', () => {
    const event = adjustmentEvent({ ...op, confirmedAmount: 4800, confirmedCurrency: 'EUR' }, adjustment, testConfig());
    expect(event.params.payment).toMatchObject({
      amount: 4800,
      currency: 'EUR',
      requested_amount: 5000,
      requested_currency: 'EUR',
      discrepancy: 'amount_mismatch',
    });
  });
  it('goes by the configured adjusted method, in the payment sequence, with a stable id', () => {
    const config = testConfig({ 'service_bus.method.adjusted': 'oms.payments.adjusted' });
    const event = adjustmentEvent(op, adjustment, config);
    expect(event.method).toBe('oms.payments.adjusted');
    expect(event.paymentKey).toBe(paymentKeyOf(op.payment));
    expect(event.eventId).toBe('op-cap-1.adj.adj_0123456789abcdef01234567');
    expect(adjustmentEventId(op.id, adjustment.id)).toBe(event.eventId);
  });

  it('defaults the method to magento.payments.payments_management.adjusted', () => {
    expect(adjustmentEvent(op, adjustment, testConfig()).method).toBe('magento.payments.payments_management.adjusted');
  });

  it('carries what the PSP reported and the operation it adjusts, whose state it does not change', () => {
    const { params } = adjustmentEvent(op, adjustment, testConfig());
    expect(params.adjustment).toEqual({
      id: adjustment.id,
      kind: 'chargeback',
      direction: 'debit',
      amount: 4200,
      currency: 'EUR',
      reason: '10.4',
      gateway: 'adyen-eu',
      psp_reference: 'DSP1',
      psp_event_id: 'DSP1:CHARGEBACK:true',
      occurred_at: '2026-11-20T09:00:00.000Z',
      source: 'webhook',
    });
    expect(params.payment).toMatchObject({
      operation_reference: 'op-cap-1',
      order_id: 'O-9',
      gateway: 'adyen-eu',
      gateway_account: 'acme',
      amount: 5000,
      currency: 'EUR',
      operation_state: 'SUCCEEDED',
      gateway_command: 'capture',
      event_id: 'op-cap-1.adj.adj_0123456789abcdef01234567',
    });
  });

  it('says null, not a guess, for what the PSP did not report', () => {
    const { params } = adjustmentEvent(
      op,
      { ...adjustment, amount: undefined, currency: undefined, reason: undefined, pspReference: undefined, occurredAt: undefined },
      testConfig(),
    );
    expect(params.adjustment).toMatchObject({ amount: null, currency: null, reason: null, psp_reference: null, occurred_at: null });
  });
});

import { notificationFor, outcomeEvent } from '../../../src/events/payment-event';
import { OperationRecord } from '../../../src/ledger/ledger';
import { testConfig } from '../../support/test-config';

const config = testConfig();

function op(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'op-bal-1',
    command: 'balance_inquiry',
    channel: 'web',
    state: 'SUCCEEDED',
    payment: { gateway: 'simulator', gateway_account: 'acme', gateway_key: 'gc_0001', amount: 0, currency: 'EUR', order_id: 'O-1' },
    receivedAt: 1000,
    createdAt: 1000,
    updatedAt: 1250,
    attempts: 1,
    gatewayStatus: 'succeeded',
    gatewayReference: 'gcb_1',
    ...overrides,
  };
}

describe('stored value card events', () => {
  it('names a notification for every stored value command', () => {
    expect(notificationFor('balance_inquiry')).toBe('balance_reported');
    expect(notificationFor('reload')).toBe('reloaded');
    expect(notificationFor('issue')).toBe('issued');
    expect(notificationFor('activate')).toBe('activated');
    expect(notificationFor('deactivate')).toBe('deactivated');
    expect(notificationFor('merge_balance')).toBe('balance_merged');
  });

  it("answers a balance inquiry with the card's balance the PSP confirmed, on the configured method, never as a discrepancy", () => {
    const event = outcomeEvent(op({ confirmedAmount: 4250, confirmedCurrency: 'EUR' }), config);
    expect(event?.method).toBe('magento.payments.payments_management.balance_reported');
    const payment = event?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'SUCCESS', amount: 0, currency: 'EUR', balance: { amount: 4250, currency: 'EUR' } });
    expect(payment).not.toHaveProperty('discrepancy');
    expect(payment.reason).toBeNull();
  });

  it('reports no balance when the PSP named none', () => {
    const payment = outcomeEvent(op(), config)?.params.payment as Record<string, unknown>;
    expect(payment).not.toHaveProperty('balance');
  });

  it('still flags a reload the PSP confirmed in another currency than asked', () => {
    const payment = outcomeEvent(op({ command: 'reload', payment: { ...op().payment, amount: 2500 }, confirmedAmount: 2500, confirmedCurrency: 'USD' }), config)
      ?.params.payment as Record<string, unknown>;
    expect(payment.discrepancy).toBe('currency_mismatch');
    expect(payment).not.toHaveProperty('balance');
  });
});

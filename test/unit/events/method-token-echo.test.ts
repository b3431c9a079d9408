import { AdjustmentRecord } from '../../../src/adjustments/adjustment';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { adjustmentEvent } from '../../../src/events/adjustment-event';
import { idempotencyConflictEvent } from '../../../src/events/idempotency-conflict-event';
import { outcomeEvent } from '../../../src/events/payment-event';
import { riskReviewEvent } from '../../../src/events/risk-review-event';
import { OperationRecord } from '../../../src/ledger/ledger';
import { testConfig } from '../../support/test-config';

/**
 * A one-time method token and an encrypted security code are the PSP's: they stay in the ledger and are
 * never echoed on an event, whichever event copies the payment (docs/EVENTS.md).
 */
const TOKEN = 'tok_oneTimeUnitTest0123';
const ENCRYPTED_CVC = 'adyenjs_0_1_25$encryptedCvcUnitTest';
const payment = {
  gateway: 'adyen-eu',
  gateway_account: 'acme',
  gateway_key: 'shopper-1:PM1',
  amount: 5000,
  currency: 'EUR',
  order_id: 'O-9',
  payment_method: { type: 'card' as const, token: TOKEN, encrypted_security_code: ENCRYPTED_CVC },
};
const op: OperationRecord = {
  id: 'op-auth-1',
  command: 'authorize',
  channel: 'web',
  state: 'SUCCEEDED',
  payment,
  receivedAt: 1000,
  createdAt: 1000,
  updatedAt: 1250,
  attempts: 1,
  gatewayStatus: 'Authorised',
  gatewayReference: 'PSP1',
};
const adjustment: AdjustmentRecord = {
  id: 'adj_0123456789abcdef01234567',
  operationId: op.id,
  gateway: 'adyen-eu',
  kind: 'chargeback',
  direction: 'debit',
  amount: 5000,
  currency: 'EUR',
  pspEventId: 'DSP1:CHARGEBACK:true',
  source: 'webhook',
  recordedAt: 2000,
};
const command: PaymentCommand = { version: 1, command: 'authorize', channel: 'web', received_at: '2026-11-20T09:00:00.000Z', payment };

describe('events never echo the one-time method token or the encrypted security code', () => {
  const config = testConfig();
  it.each([
    ['outcome', () => outcomeEvent(op, config)],
    ['adjustment', () => adjustmentEvent(op, adjustment, config)],
    ['idempotency conflict', () => idempotencyConflictEvent(op.id, command, 'v1:abc', config)],
    ['risk review', () => riskReviewEvent({ ...op, state: 'PENDING' }, config, { deadline: 3000, rule: 'high-amount', signals: 'amount' })],
  ])('the %s event', (_name, build) => {
    const text = JSON.stringify(build());
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(ENCRYPTED_CVC);
    expect(text).toContain('"type":"card"');
  });
});

describe('events the bridge answers without a PSP call still carry every field of the protocol', () => {
  const config = testConfig();
  it.each([
    ['idempotency conflict', () => idempotencyConflictEvent(op.id, command, 'v1:abc', config)],
    ['risk review', () => riskReviewEvent({ ...op, state: 'PENDING' }, config, { deadline: 3000, rule: 'high-amount', signals: 'amount' })],
  ])('the %s event', (_name, build) => {
    const payment = build().params.payment as Record<string, unknown>;
    for (const field of [
      'operation_reference',
      'status',
      'reason',
      'gateway_command',
      'gateway_response',
      'gateway_response_time',
      'new_gateway_key',
      'requested_amount',
      'requested_currency',
      'event_id',
    ]) {
      expect(payment).toHaveProperty(field);
    }
  });
});

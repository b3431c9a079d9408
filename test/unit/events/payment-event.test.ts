import { eventStatusOf, notificationFor, outcomeEvent, paymentKeyOf, refundPendingEvent } from '../../../src/events/payment-event';
import { OperationRecord } from '../../../src/ledger/ledger';
import { testConfig } from '../../support/test-config';

const config = testConfig();

function op(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'op-1',
    command: 'capture',
    channel: 'bus',
    state: 'SUCCEEDED',
    payment: { gateway: 'simulator', gateway_account: 'acme', gateway_key: 'auth_1', amount: 500, currency: 'EUR', order_id: 'O-1' },
    receivedAt: 1000,
    createdAt: 1000,
    updatedAt: 1250,
    attempts: 1,
    gatewayStatus: 'captured',
    gatewayReference: 'cap_1',
    pspResponseMs: 250,
    ...overrides,
  };
}

describe('payment events', () => {
  it('names the notification of every command', () => {
    expect(notificationFor('validate')).toBe('validated');
    expect(notificationFor('revalidate')).toBe('revalidated');
    expect(notificationFor('capture')).toBe('captured');
    expect(notificationFor('cancel')).toBe('cancelled');
    expect(notificationFor('refund')).toBe('refunded');
    expect(notificationFor('authorize')).toBe('authorized');
    expect(notificationFor('sale')).toBe('sold');
    expect(notificationFor('tokenize')).toBe('tokenized');
  });

  it('reports SUCCEEDED, FAILED and PENDING, and keeps RECEIVED, SENT and UNKNOWN internal', () => {
    expect(eventStatusOf('SUCCEEDED')).toBe('SUCCESS');
    expect(eventStatusOf('FAILED')).toBe('FAIL');
    expect(eventStatusOf('PENDING')).toBe('PENDING');
    expect(eventStatusOf('RECEIVED')).toBeNull();
    expect(eventStatusOf('SENT')).toBeNull();
    expect(eventStatusOf('UNKNOWN')).toBeNull();
  });

  it('reports UNRESOLVED as its own event, so the later SUCCESS is a new event of the payment', () => {
    expect(eventStatusOf('UNRESOLVED')).toBe('UNRESOLVED');
    const unresolved = outcomeEvent(op({ state: 'UNRESOLVED' }), config);
    expect(unresolved?.eventId).toBe('op-1.UNRESOLVED');
    expect(unresolved?.params.payment).toMatchObject({ status: 'UNRESOLVED', reason: 'NO_FINAL_ANSWER', event_id: 'op-1.UNRESOLVED' });
    expect(outcomeEvent(op(), config)?.eventId).toBe('op-1.SUCCEEDED');
  });

  it('echoes the payment with status, gateway details and a stable event id', () => {
    const event = outcomeEvent(op(), config);
    expect(event?.method).toBe('magento.payments.payments_management.captured');
    expect(event?.eventId).toBe('op-1.SUCCEEDED');
    expect(event?.params.payment).toMatchObject({
      order_id: 'O-1',
      amount: 500,
      operation_reference: 'op-1',
      status: 'SUCCESS',
      gateway_command: 'capture',
      gateway_response: { status: 'captured', reference: 'cap_1' },
      gateway_response_time: 250,
      event_id: 'op-1.SUCCEEDED',
    });
    expect(outcomeEvent(op(), config)).toEqual(event);
  });

  it("says the PSP's response time the worker timed as gateway_response_time, not the operation's lifetime (updatedAt - createdAt)", () => {
    expect(outcomeEvent(op({ pspResponseMs: 87, updatedAt: 9_000 }), config)?.params.payment).toMatchObject({ gateway_response_time: 87 });
    // No call of ours answered (refused unsent, told by webhook only): 0, as the events of nothing asked say.
    expect(outcomeEvent(op({ state: 'FAILED', reason: 'card_declined', pspResponseMs: undefined }), config)?.params.payment).toMatchObject({
      gateway_response_time: 0,
    });
  });

  it('carries the reason of a failure and the new gateway key of a revalidation', () => {
    expect(outcomeEvent(op({ state: 'FAILED', reason: 'card_declined' }), config)?.params.payment).toMatchObject({ status: 'FAIL', reason: 'card_declined' });
    expect(outcomeEvent(op({ command: 'revalidate', newGatewayKey: 'auth_2' }), config)?.params.payment).toMatchObject({ new_gateway_key: 'auth_2' });
  });

  it('tells the OMS until when the customer may act, as the PSP said, on the ACTION_REQUIRED event only', () => {
    const waiting = op({ command: 'sale', state: 'ACTION_REQUIRED', action: { kind: 'voucher' }, actionExpiresAt: Date.parse('2026-03-14T02:59:00Z') });
    expect(outcomeEvent(waiting, config)?.params.payment).toMatchObject({ status: 'ACTION_REQUIRED', action_expires_at: '2026-03-14T02:59:00.000Z' });
    // The PSP named none (3-D Secure): nothing of ours stands in for it.
    const challenge = op({ command: 'sale', state: 'ACTION_REQUIRED', action: { kind: 'three_ds' } });
    expect(outcomeEvent(challenge, config)?.params.payment).not.toHaveProperty('action_expires_at');
    const paid = op({ command: 'sale', state: 'SUCCEEDED', actionExpiresAt: Date.parse('2026-03-14T02:59:00Z') });
    expect(outcomeEvent(paid, config)?.params.payment).not.toHaveProperty('action_expires_at');
  });

  describe("a cancel's effect at a PSP whose cancel can void what was captured (gateway_response)", () => {
    const cancel = (overrides: Partial<OperationRecord>) =>
      op({ command: 'cancel', payment: { ...op().payment, gateway: 'cybs', amount: 10000, currency: 'USD' }, gatewayStatus: 'REVERSED', ...overrides });

    it('names the capture or sale its void undid, by operation reference', () => {
      const payment = outcomeEvent(cancel({ gatewayStatus: 'VOIDED', cancelEffect: { voided: 'op-capture-1', command: 'capture' } }), config)?.params.payment;
      expect(payment).toMatchObject({
        gateway_response: { status: 'VOIDED', reference: 'cap_1', voided: { operation_reference: 'op-capture-1', command: 'capture' } },
      });
    });

    it("says what became of the authorization's hold the void left: a reversal of it requested (naming it), or left", () => {
      const releasing = cancel({
        gatewayStatus: 'VOIDED',
        cancelEffect: { voided: 'op-capture-1', command: 'capture', hold: 'releasing', reversal: '_op-auth-1-after-void.void' },
      });
      expect(outcomeEvent(releasing, config)?.params.payment).toMatchObject({
        gateway_response: {
          voided: { operation_reference: 'op-capture-1', command: 'capture', hold: 'releasing', reversal_reference: '_op-auth-1-after-void.void' },
        },
      });
      const left = outcomeEvent(cancel({ gatewayStatus: 'VOIDED', cancelEffect: { voided: 'op-sale-1', command: 'sale', hold: 'left' } }), config)?.params
        .payment as { gateway_response: Record<string, unknown> };
      expect(left.gateway_response.voided).toEqual({ operation_reference: 'op-sale-1', command: 'sale', hold: 'left' });
    });

    it("names what it released of what partial captures left, as the PSP confirmed it, without flagging the command's amount", () => {
      const effect = { released: 'remainder' as const, amount: 4000, currency: 'USD' };
      const payment = outcomeEvent(cancel({ cancelEffect: effect, confirmedAmount: 4000, confirmedCurrency: 'USD' }), config)?.params.payment;
      expect(payment).toMatchObject({
        amount: 4000,
        requested_amount: 10000,
        reason: null,
        gateway_response: { status: 'REVERSED', released: { amount: 4000, currency: 'USD', of: 'uncaptured_remainder' } },
      });
      expect(payment).not.toHaveProperty('discrepancy');
      // The PSP released another figure than the remainder asked: flagged.
      const other = outcomeEvent(cancel({ cancelEffect: effect, confirmedAmount: 3900, confirmedCurrency: 'USD' }), config)?.params.payment;
      expect(other).toMatchObject({ discrepancy: 'amount_mismatch', gateway_response: { released: { amount: 3900 } } });
    });

    it('names the release of the whole hold, and nothing on a FAIL or on any other cancel', () => {
      expect(outcomeEvent(cancel({ cancelEffect: { released: 'hold' } }), config)?.params.payment).toMatchObject({
        gateway_response: { released: { amount: 10000, currency: 'USD', of: 'authorization' } },
      });
      const failed = outcomeEvent(cancel({ state: 'FAILED', cancelEffect: { released: 'hold' } }), config)?.params.payment as Record<string, unknown>;
      expect(failed.gateway_response).toEqual({ status: 'REVERSED', reference: 'cap_1' });
      expect((outcomeEvent(cancel({}), config)?.params.payment as Record<string, unknown>).gateway_response).toEqual({
        status: 'REVERSED',
        reference: 'cap_1',
      });
    });
  });

  it('sends no event for an operation still in flight', () => {
    expect(outcomeEvent(op({ state: 'SENT' }), config)).toBeNull();
  });

  it('keys the events of one order together', () => {
    expect(paymentKeyOf(op().payment)).toBe('simulator:acme:O-1');
    expect(paymentKeyOf({ ...op().payment, order_id: undefined })).toBe('simulator:acme:auth_1');
  });

  it('announces a refund as PENDINGRELEASE / REQUESTED before the gateway call', () => {
    const e = refundPendingEvent(op({ command: 'refund', state: 'RECEIVED' }), config);
    expect(e.method).toBe('magento.postsales.refund_management.updated');
    expect(e.params).toMatchObject({ code: 'PENDINGRELEASE', reason_code: 'REQUESTED', operation_reference: 'op-1' });
    expect(e.paymentKey).toBe(paymentKeyOf(op().payment));
  });
});

import { CommandType, Payment } from '../../../src/contracts/payment-command';
import { OperationRecord, draftRecord } from '../../../src/ledger/record-fields';
import { ownClosing } from '../../../src/webhooks/own-closing';
import { channelCommand } from '../../support/fixtures';

/** An operation of order `ORD-OC` in `state`. */
function record(command: CommandType, state: OperationRecord['state'], payment: Partial<Payment> = {}): OperationRecord {
  const c = channelCommand(command, {}, { gateway: 'adyen', amount: 1000, currency: 'EUR', order_id: 'ORD-OC', ...payment });
  return { ...draftRecord(c.payment.operation_reference!, c, Date.now()), state, attempts: 1 };
}

/** A ledger holding `records`, none closing the authorization (`closed_by` never written: a crash, or an older record). */
function ledgerOf(records: OperationRecord[]) {
  return {
    get: async (id: string) => records.find((r) => r.id === id) ?? null,
    operationsOfOrder: async (orderId: string) => records.filter((r) => r.payment.order_id === orderId),
  };
}

describe('ownClosing: the cancel of an authorization a PSP cancellation is expected from', () => {
  it('is a cancel of its order recorded FAILED that the PSP did after all (its succeeded_after_failure mark): settled, not in flight', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const cancel = { ...record('cancel', 'FAILED', { gateway_key: auth.id }), succeededAfterFailure: { by: 'adj_1', amount: 1000, currency: 'EUR' } };
    expect(await ownClosing(auth, ledgerOf([auth, cancel]))).toEqual({ id: cancel.id, state: 'FAILED', inFlight: false });
  });

  it('is none for a cancel that failed and stayed failed; one in flight is in flight', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const failed = record('cancel', 'FAILED', { gateway_key: auth.id });
    expect(await ownClosing(auth, ledgerOf([auth, failed]))).toBeNull();
    const pending = record('cancel', 'PENDING', { gateway_key: auth.id });
    expect(await ownClosing(auth, ledgerOf([auth, failed, pending]))).toEqual({ id: pending.id, state: 'PENDING', inFlight: true });
  });
});

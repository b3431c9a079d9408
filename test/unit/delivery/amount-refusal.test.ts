import { amountRefusal } from '../../../src/delivery/operation-context';
import { DependentSummary, OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { channelCommand } from '../../support/fixtures';

function op(command: OperationRecord['command'], amount: number, extra: Partial<OperationRecord> = {}): OperationRecord {
  const c = channelCommand(command, {}, { amount });
  return { ...draftRecord(c.payment.operation_reference!, c, 0), ...extra };
}

describe('amountRefusal: a refund against what was captured', () => {
  it('refuses a refund above the registered successful captures', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const captured: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 3000 }];
    expect(amountRefusal(op('refund', 3500), auth, captured)).toMatchObject({ fail: 'amount_exceeds_captured', field: 'payment.amount' });
    expect(amountRefusal(op('refund', 3000), auth, captured)).toBeNull();
  });

  it('refuses a refund of an authorization nothing captured and nothing closed', () => {
    expect(amountRefusal(op('refund', 100), op('authorize', 5000, { state: 'SUCCEEDED' }), [])).toMatchObject({ fail: 'amount_exceeds_captured' });
  });

  it('leaves a refund to the PSP when the authorization was closed by an operation never registered as its dependent (what was captured is unknown)', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-unregistered' });
    expect(amountRefusal(op('refund', 3000), auth, [])).toBeNull();
  });
});

describe('amountRefusal: a PSP that captures an authorization once only (Stripe: Klarna, and cards without multicapture)', () => {
  const klarna = () =>
    op('authorize', 5000, {
      state: 'SUCCEEDED',
      payment: { ...channelCommand('authorize', {}, { amount: 5000 }).payment, payment_method: { type: 'klarna' } },
    });

  it('refuses a second capture (the first shipment captured or still under way) naming payment.gateway_key', () => {
    const first: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 2000 }];
    expect(amountRefusal(op('capture', 1000), klarna(), first, true)).toMatchObject({
      fail: 'capture_already_made',
      field: 'payment.gateway_key',
      detail: { capture_operation_id: 'cap-1', method: 'klarna' },
    });
    expect(amountRefusal(op('capture', 1000), klarna(), [{ id: 'cap-1', command: 'capture', state: 'SENT', amount: 2000 }], true)).toMatchObject({
      fail: 'capture_already_made',
    });
  });

  it('lets one partial capture through, and a new one after the first failed; a gateway with multicapture takes several', () => {
    expect(amountRefusal(op('capture', 2000), klarna(), [], true)).toBeNull();
    expect(amountRefusal(op('capture', 2000), klarna(), [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 2000 }], true)).toBeNull();
    expect(amountRefusal(op('capture', 1000), klarna(), [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 2000 }], false)).toBeNull();
  });
});

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

import { PaymentCommand } from '../../../src/contracts/payment-command';
import { REFERENCE_PATTERN } from '../../../src/contracts/payment-command-schema';
import { MAX_OPERATION_ID_LENGTH, hasOperationIdShape, operationIdOf } from '../../../src/ledger/operation-id';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { cycleOperationId } from '../../../src/recurring/recurring-schedule';
import { refundReferences, stepReferences } from '../../../src/split-tender/split-tender-plan';

const command = (overrides: Partial<PaymentCommand> = {}, payment: Partial<PaymentCommand['payment']> = {}): PaymentCommand => ({
  version: 1,
  command: 'capture',
  channel: 'bus',
  sequence: 'rpc-1',
  received_at: '2024-06-01T10:00:00.000Z',
  ...overrides,
  payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'auth_1', amount: 1999, currency: 'EUR', order_id: 'ORD-1', ...payment },
});

describe('operationIdOf', () => {
  it('uses the operation_reference as it is', () => {
    expect(operationIdOf(command({}, { operation_reference: 'opref-42' }))).toBe('opref-42');
  });

  it('uses the operation_reference whatever else differs', () => {
    const a = command({ sequence: 1, command: 'capture' }, { operation_reference: 'opref-42', amount: 1 });
    const b = command({ sequence: 2, command: 'refund', channel: 'web' }, { operation_reference: 'opref-42', amount: 2 });
    expect(operationIdOf(a)).toBe(operationIdOf(b));
  });

  it('derives a stable id when there is no operation_reference', () => {
    const id = operationIdOf(command());
    expect(id).toBe(operationIdOf(command()));
    expect(id).toMatch(/^op-[0-9a-f]{32}$/);
    expect(id).toMatch(new RegExp(REFERENCE_PATTERN));
  });

  it('ignores the time the command was received (a re-sent command keeps its id)', () => {
    expect(operationIdOf(command({ received_at: '2024-06-02T11:00:00.000Z' }))).toBe(operationIdOf(command()));
  });

  it.each<[string, PaymentCommand]>([
    ['sequence', command({ sequence: 'rpc-2' })],
    ['amount', command({}, { amount: 2000 })],
    ['command', command({ command: 'refund' })],
    ['channel', command({ channel: 'pos' })],
    ['currency', command({}, { currency: 'USD' })],
    ['order', command({}, { order_id: 'ORD-2' })],
    ['gateway', command({}, { gateway: 'stripe' })],
    ['gateway account', command({}, { gateway_account: 'acme-us' })],
  ])('derives a different id for a different %s', (_what, other) => {
    expect(operationIdOf(other)).not.toBe(operationIdOf(command()));
  });

  it('falls back on the gateway_key when there is no order_id', () => {
    const a = command({}, { order_id: undefined, gateway_key: 'auth_1' });
    const b = command({}, { order_id: undefined, gateway_key: 'auth_2' });
    expect(operationIdOf(a)).not.toBe(operationIdOf(b));
  });
});

describe('hasOperationIdShape', () => {
  it('holds for every kind of id the bridge takes or makes', () => {
    const ids = [
      'opref-42',
      `R${'x'.repeat(127)}`,
      operationIdOf(command()),
      voidOperationId('opref-42'),
      voidOperationId(`R${'x'.repeat(127)}`),
      ...Object.values(stepReferences({ id: `S${'x'.repeat(127)}`, step_ids: 'namespaced' })),
      ...Object.values(refundReferences({ refundId: `F${'x'.repeat(127)}`, stepIds: 'namespaced' })),
      cycleOperationId('sched-1', 12, 3),
      // Recorded before references lost `:`.
      'legacy:ref-1',
    ];
    for (const id of ids) expect([id, hasOperationIdShape(id)]).toEqual([id, true]);
  });

  it('fails for what no id of ours looks like: empty, spaces, slashes, non-ASCII, a leading dot or dash, longer than the bound', () => {
    for (const value of ['', 'order 42', 'a/b', 'café', 'a\ud800b', '.hidden', '-x', `a${'b'.repeat(MAX_OPERATION_ID_LENGTH)}`]) {
      expect([value.slice(0, 20), hasOperationIdShape(value)]).toEqual([value.slice(0, 20), false]);
    }
  });
});

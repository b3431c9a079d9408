import { OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { cycleNetworkId, firstPaymentNetworkId } from '../../../src/recurring/first-payment-network-id';
import { ScheduleDefinition, cycleCommand } from '../../../src/recurring/recurring-schedule';
import { channelCommand } from '../../support/fixtures';

const definition: ScheduleDefinition = {
  id: 'sub-nti',
  gateway: 'adyen',
  gateway_account: 'acme-eu',
  gateway_key: 'shopper-0042:8416039902646530',
  amount: 1500,
  currency: 'EUR',
  order_id: 'SUB-ORDER-NTI',
  start_at: '2026-01-01T00:00:00Z',
  interval: { unit: 'month', count: 1 },
};

/** The payment of the order that stored the schedule's credential, SUCCEEDED with the scheme's id `id`; `change` alters it. */
function first(id: string, change: (op: OperationRecord) => void = () => undefined): OperationRecord {
  const command = channelCommand(
    'sale',
    {},
    { gateway: 'adyen', order_id: 'SUB-ORDER-NTI', payment_method: { type: 'card', token: 'eyJ.jwe', store: true }, recurring: { model: 'subscription' } },
  );
  const op = draftRecord(`first-${id}`, command, 0);
  Object.assign(op, { state: 'SUCCEEDED', storedToken: definition.gateway_key, networkTransactionId: id });
  change(op);
  return op;
}

describe("a schedule's first payment (firstPaymentNetworkId)", () => {
  it('is the oldest SUCCEEDED authorize or sale of a channel that stored the schedule’s credential and has a network id', () => {
    expect(firstPaymentNetworkId(definition, [first('111'), first('222')])).toBe('111');
    expect(firstPaymentNetworkId(definition, [first('111', (op) => (op.command = 'authorize'))])).toBe('111');
  });

  it('is never a failed or open payment, one without an id, one that stored another credential, a charge of the bridge or any merchant-initiated one', () => {
    const not = [
      first('1', (op) => (op.state = 'FAILED')),
      first('2', (op) => (op.state = 'PENDING')),
      first('3', (op) => delete op.networkTransactionId),
      first('4', (op) => (op.storedToken = 'shopper-0042:OTHER')),
      first('5', (op) => (op.channel = 'bridge')),
      first('6', (op) => (op.payment = { ...op.payment, payment_method: { type: 'stored_card' } })),
      first('7', (op) => (op.command = 'refund')),
    ];
    expect(firstPaymentNetworkId(definition, not)).toBeUndefined();
    expect(firstPaymentNetworkId(definition, [...not, first('8')])).toBe('8');
  });
});

describe("a cycle's network transaction id (cycleNetworkId, cycleCommand)", () => {
  const ledger = (ops: OperationRecord[], records: OperationRecord[] = []) => {
    const asked: string[] = [];
    return {
      asked,
      operationsOfOrder: async (order: string) => (asked.push(order), ops),
      get: async (id: string) => (asked.push(`get ${id}`), records.find((r) => r.id === id) ?? null),
    };
  };

  it("the schedule's own wins, without reading the ledger; else the first payment's; else none", async () => {
    const l = ledger([first('777718270854480')]);
    expect(await cycleNetworkId({ ...definition, network_transaction_id: 'OMS1' }, l)).toEqual({ id: 'OMS1', source: 'schedule' });
    expect(l.asked).toEqual([]);
    expect(await cycleNetworkId(definition, l)).toEqual({ id: '777718270854480', source: 'first_payment' });
    expect(l.asked).toEqual(['SUB-ORDER-NTI']);
    expect(await cycleNetworkId(definition, ledger([]))).toEqual({ source: 'none' });
    const noOrder = ledger([first('1')]);
    expect(await cycleNetworkId({ ...definition, order_id: undefined }, noOrder)).toEqual({ source: 'none' });
    expect(noOrder.asked).toEqual([]);
  });

  it("an earlier charge of the schedule carries it forward (the first payment's record may be expired since); a channel's operation under its id does not", async () => {
    const earlierCycle = draftRecord('_sub-nti.c1', cycleCommand(definition, 1, 0, 0, '777718270854480'), 0);
    const l = ledger([], [earlierCycle]);
    expect(await cycleNetworkId(definition, l, ['_sub-nti.c1', 'sub-nti.c1'])).toEqual({ id: '777718270854480', source: 'first_payment' });
    expect(l.asked).toEqual(['get _sub-nti.c1']);
    // Under the cycle's earlier name, a channel's own command is no cycle of the schedule: the order is searched instead.
    const squatter = draftRecord('sub-nti.c1', channelCommand('sale', {}, { recurring: { model: 'subscription', network_transaction_id: '999' } }), 0);
    const searched = ledger([first('111')], [squatter]);
    expect(await cycleNetworkId(definition, searched, ['_sub-nti.c1', 'sub-nti.c1'])).toEqual({ id: '111', source: 'first_payment' });
    expect(searched.asked).toEqual(['get _sub-nti.c1', 'get sub-nti.c1', 'SUB-ORDER-NTI']);
    // An earlier charge holding it masked (archived, then imported back) carries nothing: the order is searched.
    const masked = draftRecord('_sub-nti.c1', cycleCommand(definition, 1, 0, 0, '[PAN REDACTED]'), 0);
    expect(await cycleNetworkId(definition, ledger([first('111')], [masked]), ['_sub-nti.c1'])).toEqual({ id: '111', source: 'first_payment' });
  });

  it('the command quotes the recorded id only when the definition holds none', () => {
    expect(cycleCommand(definition, 2, 0, 0, '777718270854480').payment.recurring).toMatchObject({ network_transaction_id: '777718270854480' });
    expect(cycleCommand({ ...definition, network_transaction_id: 'OMS1' }, 2, 0, 0, '777718270854480').payment.recurring?.network_transaction_id).toBe('OMS1');
    expect(cycleCommand(definition, 2, 0, 0).payment.recurring).not.toHaveProperty('network_transaction_id');
  });
});

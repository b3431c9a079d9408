import { OperationKeys } from '../../../src/data-lifecycle/key-families';
import { OperationSnapshot } from '../../../src/data-lifecycle/operation-snapshot';
import { restorePlan } from '../../../src/data-lifecycle/restore-plan';

/**
 * A restore (`payment-bridge import`) puts an outbox event back where its marks say it was: one the bus refused and
 * the sender set aside back in the set-aside index (still listed, counted by pb_events_set_aside, resendable), one
 * an operator dismissed back in the dismissed index (listed by `ops events rejected --dismissed`), scored as then.
 */
describe('restorePlan: the outbox events the bus refused', () => {
  const keys = new OperationKeys('pb:', 3);
  const event = (id: string, marks: Record<string, string>, unsent?: string) => ({
    id,
    hash: { sequence: '1', payment_key: 'stripe:acct:ORDER-1', method: 'm', params: '{}', ...marks },
    ...(unsent === undefined ? {} : { unsent }),
  });
  const snapshot: OperationSnapshot = {
    type: 'operation',
    id: 'op-1',
    record: { state: 'SUCCEEDED', created_at: '1000', updated_at: '2000', payment: '{"gateway_key":"k","order_id":"ORDER-1"}' },
    history: [],
    indexes: {},
    dependents: [],
    references: [],
    adjustments: [],
    events: [
      event('op-1.SUCCEEDED', { rejected_at: '5000', rejected_reason: 'http_422' }),
      event('op-1.refund-pending', { rejected_at: '6000', rejected_reason: 'rpc_-32601', dismissed_at: '7000', dismissed_by: 'ops', dismissed_reason: 'r' }),
      event('op-1.PENDING', {}),
      event('op-1.FAILED', { resend_at: '8000' }, '8000'),
    ],
    payment: null,
  };

  it('puts a set-aside event back in the set-aside index and a dismissed one in the dismissed index, with their times', () => {
    const steps = restorePlan(snapshot, keys);
    expect(steps.filter((s) => s.k === keys.rejectedEvents)).toEqual([{ c: 'zadd', k: keys.rejectedEvents, s: '5000', m: 'op-1.SUCCEEDED' }]);
    expect(steps.filter((s) => s.k === keys.dismissedEvents)).toEqual([{ c: 'zadd', k: keys.dismissedEvents, s: '7000', m: 'op-1.refund-pending' }]);
  });
});

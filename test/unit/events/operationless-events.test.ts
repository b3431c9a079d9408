import { operationlessEventKind, ownerIdsOf } from '../../../src/events/operationless-events';
import { skipNoticeId } from '../../../src/recurring/recurring-skip-notice';

describe('operationlessEventKind', () => {
  it('names the kind of each event id that belongs to no operation', () => {
    expect(operationlessEventKind(skipNoticeId('sched-1', 2, 5))).toBe('skip_notice');
    expect(operationlessEventKind('sched-1.c7.failed')).toBe('recurring_failed');
    expect(operationlessEventKind('split-9.split-tender.ROLLED_BACK')).toBe('split_tender');
    expect(operationlessEventKind('refund-3.split-refund.REFUND_FAILED')).toBe('split_refund');
    expect(operationlessEventKind('refund-3.split-refund.refused.amount_above_left.0a1b2c')).toBe('split_refund');
  });

  it("is null for an operation's own events (its states, pre-notice, adjustments, conflicts)", () => {
    for (const id of [
      'op-1.SUCCEEDED',
      'op-1.FAILED',
      'op-1.refund-pending',
      'op-1.adj.adj_0123456789abcdef01234567',
      'op-1.idempotency-conflict.abc',
      'sched-1.c7.FAILED',
    ]) {
      expect(operationlessEventKind(id)).toBeNull();
    }
  });

  it('gives the operations an event id could be an own event of (none for a notice whatever precedes its suffix)', () => {
    expect(ownerIdsOf('op-1.split-tender.FAILED')).toEqual(['op-1.split-tender']);
    expect(ownerIdsOf('op-1.split-tender.PENDING')).toEqual(['op-1.split-tender']);
    expect(ownerIdsOf('op-1.split-refund.refused.adj.adj_0123456789abcdef')).toEqual(['op-1.split-refund.refused']);
    expect(ownerIdsOf('op-1.split-refund.refused.idempotency-conflict.abc')).toEqual(['op-1.split-refund.refused']);
    expect(ownerIdsOf('sched-1.c4.failed')).toEqual([]);
    expect(ownerIdsOf(skipNoticeId('sched-1', 2, 5))).toEqual([]);
    expect(ownerIdsOf('split-9.split-tender.DONE')).toEqual([]);
    expect(ownerIdsOf('nodot')).toEqual([]);
    // An id may start with a dot: the dots after it are still looked at.
    expect(ownerIdsOf('.op.split-tender.FAILED')).toEqual(['.op.split-tender']);
  });
});

/**
 * The notice of a recurring schedule's skipped cycles (`recurring_cycles_skipped`), built from the skip recorded on the
 * schedule: its stable event id, the cycles, whether the skip completed the schedule, the money a cycle would have
 * charged, never the stored credential; placed with the schedule's cycles' events.
 */
import { inBusUnits } from '../../../src/events/bus-units';
import { ScheduleDefinition, Schedule, cycleCommand } from '../../../src/recurring/recurring-schedule';
import { eventAnchor, isSkipNoticeEventId } from '../../../src/events/payment-event';
import { recurringCyclesSkippedEvent, skipNoticeId } from '../../../src/recurring/recurring-skip-notice';
import { testConfig } from '../../support/test-config';

const config = testConfig();
const AT = Date.parse('2026-12-07T09:00:00.000Z');

const definition: ScheduleDefinition = {
  id: 'sub-42',
  gateway: 'simulator',
  gateway_account: 'acme-eu',
  gateway_key: 'pm_card_visa',
  amount: 1999,
  currency: 'EUR',
  order_id: 'SUB-42',
  start_at: '2026-07-01T09:00:00.000Z',
  interval: { unit: 'month', count: 1 },
};

function skipped(from: number, through: number, d: ScheduleDefinition = definition): Schedule {
  return {
    definition: d,
    state: 'active',
    cycle: through + 1,
    attempt: 0,
    phase: 'charging',
    nextAt: AT + 30_000,
    skippedCycles: through - from + 1,
    lastSkip: { from, through, at: AT, notice: 'pending' },
  };
}

describe('the skipped-cycles notice', () => {
  it('names the skip by the schedule and its first and last cycle, on the configured method, with the cycles and the money of a cycle', () => {
    const event = recurringCyclesSkippedEvent(skipped(1, 4), config);
    expect(skipNoticeId('sub-42', 1, 4)).toBe('sub-42.skipped.1-4');
    expect(event).toEqual({
      eventId: 'sub-42.skipped.1-4',
      ...eventAnchor(cycleCommand(definition, 5, 0, AT).payment),
      method: 'magento.payments.payments_management.recurring_cycles_skipped',
      params: {
        schedule: {
          id: 'sub-42',
          model: 'subscription',
          completed: false,
          skipped: {
            first_cycle: 1,
            last_cycle: 4,
            count: 4,
            first_due_at: '2026-07-01T09:00:00.000Z',
            last_due_at: '2026-10-01T09:00:00.000Z',
            decided_at: '2026-12-07T09:00:00.000Z',
          },
        },
        payment: {
          gateway: 'simulator',
          gateway_account: 'acme-eu',
          order_id: 'SUB-42',
          status: 'SKIPPED',
          amount: 1999,
          currency: 'EUR',
          event_id: 'sub-42.skipped.1-4',
        },
      },
    });
    expect(config.serviceBus.methods.notifications.recurring_cycles_skipped).toBe(event?.method);
  });

  it("is told apart by its event id from a cycle's own events (the events queue sets it aside at a bus's JSON-RPC error)", () => {
    expect(isSkipNoticeEventId(skipNoticeId('sub-42', 1, 4))).toBe(true);
    expect(isSkipNoticeEventId(skipNoticeId('sub.skipped.1-2', 10, 12))).toBe(true);
    expect(isSkipNoticeEventId('_sub-42.c5.SUCCEEDED')).toBe(false);
    expect(isSkipNoticeEventId('sub-42.c4.failed')).toBe(false);
    expect(isSkipNoticeEventId('op.refund-pending')).toBe(false);
  });

  it('says completed only for a skip through the last cycle (a lapse)', () => {
    const d = { ...definition, max_cycles: 3 };
    expect(recurringCyclesSkippedEvent(skipped(1, 3, d), config)?.params.schedule).toMatchObject({ completed: true, skipped: { count: 3 } });
    expect(recurringCyclesSkippedEvent(skipped(1, 2, d), config)?.params.schedule).toMatchObject({ completed: false });
  });

  it('never carries the stored credential, and is the same event whenever it is built (a later pass, another runner)', () => {
    const schedule = skipped(2, 3);
    const first = recurringCyclesSkippedEvent(schedule, config);
    expect(JSON.stringify(first)).not.toContain('pm_card_visa');
    expect(recurringCyclesSkippedEvent({ ...schedule, cycle: 9, state: 'cancelled', lastSkip: { ...schedule.lastSkip!, notice: 'sent' } }, config)).toEqual(
      first,
    );
  });

  it("says its amount in the bus's unit like every event (major: 19.99)", () => {
    const event = inBusUnits(recurringCyclesSkippedEvent(skipped(1, 4), config)!, 'major');
    expect(event.params.payment).toMatchObject({ amount: 19.99, currency: 'EUR', amount_units: 'major' });
  });

  it('is none without a skip, or for a definition an erasure left as its id alone', () => {
    const { lastSkip: _none, ...unskipped } = skipped(1, 4);
    expect(recurringCyclesSkippedEvent(unskipped, config)).toBeNull();
    expect(recurringCyclesSkippedEvent(skipped(1, 4, { id: 'sub-42' } as ScheduleDefinition), config)).toBeNull();
  });
});

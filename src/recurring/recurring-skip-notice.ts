import { Config } from '../config/config';
import { PaymentEvent, eventAnchor } from '../events/payment-event';
import { Schedule, cycleCommand, cycleDueAt } from './recurring-schedule';

/** The status a skipped-cycles notice carries in `payment.status`. */
export const SKIPPED_STATUS = 'SKIPPED';

/**
 * The event id of the notice of cycles `from` to `through` of schedule `scheduleId`:
 * `<schedule id>.skipped.<from>-<through>`. A skip is recorded once (its first cycle is the schedule's cycle before
 * it, which only moves forward), so the id names one skip: a retry, a later pass or a second runner records the same
 * event, which the outbox keeps once.
 */
export function skipNoticeId(scheduleId: string, from: number, through: number): string {
  return `${scheduleId}.skipped.${from}-${through}`;
}

/**
 * The notice that a schedule's cycles were skipped, never charged (method
 * `service_bus.method.recurring_cycles_skipped`): the cycles a start found missed (a `start_at` in the past, a runner
 * down), or every cycle left of a schedule whose whole term had passed, which the skip completed. Built from the skip
 * recorded on the schedule (`lastSkip`), so a notice recorded by a later pass is the one the skip's own pass would
 * have recorded. It carries the schedule (`id`, `model`, `completed`: the skip completed it, `skipped`: `first_cycle`,
 * `last_cycle`, `count`, when the first and the last were due and when the skip was decided, ISO 8601 UTC) and the
 * payment a cycle would have made (`gateway`, `gateway_account`, `order_id`, `amount` in minor units, or the bus's
 * unit, and `currency`), never the stored credential. Placed with the schedule's cycles' events (their payment key
 * and shard). `null` when the schedule records no skip, or its definition no longer says whose payment it was (one
 * an erasure could not decode is kept as its id alone).
 */
export function recurringCyclesSkippedEvent(schedule: Schedule, config: Config): PaymentEvent | null {
  const skip = schedule.lastSkip;
  const d = schedule.definition;
  if (!skip || !paysSomething(d)) return null;
  const eventId = skipNoticeId(d.id, skip.from, skip.through);
  // The payment a cycle makes: its anchor puts the notice in the order's sequence, before the cycle charged after it.
  const payment = cycleCommand(d, skip.from, 0, skip.at).payment;
  return {
    eventId,
    ...eventAnchor(payment),
    method: config.serviceBus.methods.notifications.recurring_cycles_skipped,
    params: {
      schedule: {
        id: d.id,
        model: d.model ?? 'subscription',
        // Only a lapse skips a schedule's last cycle: a start skips the cycles before the one it charges.
        completed: d.max_cycles !== undefined && skip.through >= d.max_cycles,
        skipped: {
          first_cycle: skip.from,
          last_cycle: skip.through,
          count: skip.through - skip.from + 1,
          first_due_at: dueAt(d, skip.from),
          last_due_at: dueAt(d, skip.through),
          decided_at: new Date(skip.at).toISOString(),
        },
      },
      payment: {
        gateway: payment.gateway,
        gateway_account: payment.gateway_account,
        ...(payment.order_id !== undefined ? { order_id: payment.order_id } : {}),
        status: SKIPPED_STATUS,
        amount: payment.amount,
        currency: payment.currency,
        event_id: eventId,
      },
    },
  };
}

/** Whether a stored definition still names the payment its cycles make (an erased one may be its id alone). */
function paysSomething(d: Schedule['definition']): boolean {
  return typeof d.gateway === 'string' && typeof d.gateway_account === 'string' && Number.isSafeInteger(d.amount) && typeof d.currency === 'string';
}

/** When cycle `n` of `d` was due (ISO 8601 UTC), or null when the definition no longer says (an erased interval). */
function dueAt(d: Schedule['definition'], n: number): string | null {
  try {
    const at = cycleDueAt(d, n);
    return Number.isFinite(at) ? new Date(at).toISOString() : null;
  } catch {
    return null;
  }
}

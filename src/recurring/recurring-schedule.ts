import { PaymentCommand } from '../contracts/payment-command';
import type { OperationRecord } from '../ledger/ledger';
import { bridgeOperationId } from '../ledger/operation-id';
import { RecurringModel } from '../contracts/payment-method';

/**
 * A recurring billing schedule: a stored credential charged by the bridge, cycle after cycle, without the
 * customer (a merchant-initiated transaction). Kept in Redis (`recurring-store.ts`), run by the poller
 * role (`recurring-runner.ts`). Amounts in minor units.
 */
export interface ScheduleDefinition {
  /** The schedule's id: the root of every cycle's operation id. Letters, digits, `.`, `_`, `-`; at most 64. */
  id: string;
  gateway: string;
  gateway_account: string;
  /** The stored credential (what a token on first use reported as `payment.token`). */
  gateway_key: string;
  /** Per cycle, minor units. */
  amount: number;
  currency: string;
  /** The subscription's order in the OMS: every cycle's events name it. */
  order_id?: string;
  /** `subscription` (a fixed schedule) or `unscheduled` (card on file, charged when due). Default subscription. */
  model?: RecurringModel;
  /** `sale` (default: charged at once) or `authorize`. */
  command?: 'sale' | 'authorize';
  /** The first cycle's due time (ISO 8601). */
  start_at: string;
  /** Cycle length. */
  interval: { unit: 'day' | 'week' | 'month'; count: number };
  /** Stop after this many cycles (absent: until cancelled). */
  max_cycles?: number;
  /**
   * The scheme's id of the customer-initiated first payment, carried by every cycle (quoted by Cybersource as
   * `previousTransactionId`; Adyen and Stripe link the chain of a credential they stored themselves). Absent: the one the bridge recorded for the payment of `order_id` that
   * stored `gateway_key`, if any (`first-payment-network-id.ts`).
   */
  network_transaction_id?: string;
  custom_attributes?: Record<string, unknown>;
}

/** `active`: cycles run; `cancelled` by an operator; `completed` after `max_cycles`; `failed`: a cycle failed for good. */
export type ScheduleState = 'active' | 'cancelled' | 'completed' | 'failed';

/** Where the current cycle is: `due` (its next charge is to start at `nextAt`), `charging` (its operation is out). */
export type CyclePhase = 'due' | 'charging';

/** Where a skip's notice to the OMS stands: `pending` (to record in the outbox), `sent` (recorded there). */
export type SkipNotice = 'pending' | 'sent';

/** A schedule as it stands. */
export interface Schedule {
  definition: ScheduleDefinition;
  state: ScheduleState;
  /** The current cycle, from 1. */
  cycle: number;
  /** Retries of the current cycle made so far (0: first attempt). */
  attempt: number;
  phase: CyclePhase;
  /** Epoch ms of the next look (a start, or a check of the charge in flight). */
  nextAt: number;
  /** The current cycle's operation (while charging, and after). */
  operation?: string;
  /** The last decline's reason, while retrying. */
  lastReason?: string;
  /** When it ended (epoch ms): cancelled, completed, or failed with its final event recorded. Retention counts from it. */
  endedAt?: number;
  /** Cycles skipped over the schedule's life: missed (due before the one due at a start), never charged. */
  skippedCycles?: number;
  /**
   * The last skip: its first and last cycle, when it was made (epoch ms), and whether its notice to the OMS
   * (`recurring_cycles_skipped`) is still to be recorded (`pending`, written with the skip) or recorded (`sent`).
   * Absent `notice`: a skip an earlier release made, which owes no notice.
   */
  lastSkip?: { from: number; through: number; at: number; notice?: SkipNotice };
}

/**
 * The cycle to charge when a schedule at `cycle` (a first attempt) starts at `now`: the latest cycle already due,
 * at most `max_cycles`, never before `cycle`. The cycles between are missed (a `start_at` in the past, a runner
 * down): charging each of them back to back would charge the customer several times in a minute, so they are
 * skipped. Linear in the cycles missed: a daily schedule ten years late is 3 650 steps of arithmetic.
 */
export function cycleDueNow(definition: ScheduleDefinition, cycle: number, now: number): number {
  let current = cycle;
  while ((definition.max_cycles === undefined || current < definition.max_cycles) && cycleDueAt(definition, current + 1) <= now) current += 1;
  return current;
}

/**
 * The operation id of one attempt of one cycle, one of the bridge's own (`bridgeOperationId`):
 * `_<schedule>.c<cycle>` for the first, `_<schedule>.c<cycle>.r<n>` for the n-th retry. Deterministic, so a
 * crash and a rerun find the same operation (never a second charge), and the PSP gets the same idempotency
 * key; a retry is a new attempt at the PSP with its own key. Under the earlier naming
 * ({@link earlierCycleOperationId}) a command sent with the reference `<schedule>.c<cycle>` took the cycle's place.
 */
export function cycleOperationId(scheduleId: string, cycle: number, attempt: number): string {
  return bridgeOperationId(earlierCycleOperationId(scheduleId, cycle, attempt));
}

/** A cycle attempt's operation id as cycles were named before {@link cycleOperationId}: `<schedule>.c<cycle>[.r<n>]`. */
export function earlierCycleOperationId(scheduleId: string, cycle: number, attempt: number): string {
  return attempt === 0 ? `${scheduleId}.c${cycle}` : `${scheduleId}.c${cycle}.r${attempt}`;
}

/** Whether `op` is a cycle charge the bridge made for schedule `scheduleId` (channel `bridge`, no channel can send it). */
export function isCycleOf(op: Pick<OperationRecord, 'channel' | 'payment'>, scheduleId: string): boolean {
  return op.channel === 'bridge' && op.payment.recurring?.schedule_id === scheduleId;
}

/** When cycle `n` (from 1) is due, epoch ms: `start_at` plus n-1 intervals; months add calendar months (UTC), the day clamped. */
export function cycleDueAt(definition: ScheduleDefinition, cycle: number): number {
  const start = new Date(definition.start_at);
  const steps = (cycle - 1) * definition.interval.count;
  switch (definition.interval.unit) {
    case 'day':
      return start.getTime() + steps * 86_400_000;
    case 'week':
      return start.getTime() + steps * 7 * 86_400_000;
    case 'month': {
      const year = start.getUTCFullYear();
      const month = start.getUTCMonth() + steps;
      const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
      return Date.UTC(
        year,
        month,
        Math.min(start.getUTCDate(), lastDay),
        start.getUTCHours(),
        start.getUTCMinutes(),
        start.getUTCSeconds(),
        start.getUTCMilliseconds(),
      );
    }
    default: {
      const never: never = definition.interval.unit;
      throw new Error(`unknown interval unit ${String(never)}`);
    }
  }
}

/**
 * A schedule's first cycle command as a channel would send it, for checking a definition with the command
 * validator: channel `web` (the `bridge` channel is never accepted from outside) and the reference without the
 * leading `_` of the bridge's own ids (which no channel may send): the schedule id is what is checked.
 */
export function cycleCommandToValidate(definition: ScheduleDefinition): PaymentCommand {
  const command = cycleCommand(definition, 1, 0, Date.now());
  return { ...command, channel: 'web', payment: { ...command.payment, operation_reference: earlierCycleOperationId(definition.id, 1, 0) } };
}

/**
 * The merchant-initiated command of one attempt of one cycle (channel `bridge`: the bridge starts it).
 * @param recordedNetworkId the network transaction id the bridge recorded for the schedule's first payment
 *   (`first-payment-network-id.ts`), quoted when the definition holds none: the definition's own (the OMS's) wins.
 */
export function cycleCommand(definition: ScheduleDefinition, cycle: number, attempt: number, now: number, recordedNetworkId?: string): PaymentCommand {
  const d = definition;
  const networkId = d.network_transaction_id || recordedNetworkId;
  return {
    version: 1,
    command: d.command ?? 'sale',
    channel: 'bridge',
    sequence: 'recurring',
    received_at: new Date(now).toISOString(),
    payment: {
      gateway: d.gateway,
      gateway_account: d.gateway_account,
      gateway_key: d.gateway_key,
      amount: d.amount,
      currency: d.currency,
      ...(d.order_id !== undefined ? { order_id: d.order_id } : {}),
      operation_reference: cycleOperationId(d.id, cycle, attempt),
      recurring: {
        model: d.model ?? 'subscription',
        schedule_id: d.id,
        cycle,
        ...(networkId ? { network_transaction_id: networkId } : {}),
      },
      ...(d.custom_attributes ? { custom_attributes: d.custom_attributes } : {}),
    },
  };
}

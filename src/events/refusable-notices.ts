import { BusRpcError } from '../bus/bus-errors';
import { BusNotificationName, Config } from '../config/config';
import { Logger } from '../logging/logger';
import { EventStore, StoredEvent } from './event-store';
import { countRefundNoticeSetAside, countSkipNoticeSetAside } from './event-rejection';
import { isRefundPendingEventId, isSkipNoticeEventId } from './payment-event';

/**
 * A notice the bus may refuse for good (a JSON-RPC error: the bus answered, and the same call gets the same answer,
 * -32601 method not found from a bus that does not know the method yet), which retried would hold every later event of
 * its payment back for ever: set aside at once instead, so they go on.
 */
export interface RefusableNotice {
  /** Its method: `service_bus.method.<name>`. */
  readonly method: BusNotificationName;
  /** Whether an event id is this notice's (the method alone may carry other events). */
  readonly isOwnId: (eventId: string) => boolean;
  /** Counts one set aside on the bus's JSON-RPC error code (its metric, `reason` label). */
  readonly count: (rpcCode: number) => void;
  /** The warn line: what was set aside, what goes on, what an operator does. */
  readonly message: string;
  /** Whether the warn line names the payment key (a skipped-cycles notice's may be a schedule's stored credential). */
  readonly namesPayment: boolean;
}

/** The notices the bus may refuse, each with its metric and its warn line. */
const REFUSABLE_NOTICES: readonly RefusableNotice[] = [
  {
    // The refund pre-notice (`refundPendingEvent`): retried, it would hold the refund's own outcome, next in its
    // payment's sequence, back.
    method: 'refund_updated',
    isOwnId: isRefundPendingEventId,
    // pb_refund_notices_set_aside_total{reason}
    count: countRefundNoticeSetAside,
    message:
      "refund pre-notice set aside: the bus refused it (a JSON-RPC error); the refund's outcome goes on. Set service_bus.refund_pending_notice: false if the bus does not take it, then dismiss it (payment-bridge ops events dismiss --reason)",
    namesPayment: true,
  },
  {
    // The recurring skipped-cycles notice (`recurringCyclesSkippedEvent`, src/recurring/recurring-skip-notice.ts):
    // retried, it would hold the order's later events, the charge of the cycle due now first, back.
    method: 'recurring_cycles_skipped',
    isOwnId: isSkipNoticeEventId,
    // pb_recurring_skip_notices_set_aside_total{reason}
    count: countSkipNoticeSetAside,
    message:
      "recurring skipped-cycles notice set aside: the bus refused it (a JSON-RPC error); the order's later events go on. Resend it once the bus takes the method (payment-bridge ops events resend), or dismiss it (ops events dismiss --reason)",
    namesPayment: false,
  },
];

/**
 * The notice `event` is, when `err` is the bus's JSON-RPC error answer to one of {@link REFUSABLE_NOTICES} (its
 * configured method and an event id of its shape); `null` for any other event or failure (a transient one:
 * unreachable, 5xx, 429, is no such answer).
 */
export function refusedNotice(event: StoredEvent, err: unknown, config: Config): { notice: RefusableNotice; err: BusRpcError } | null {
  if (!(err instanceof BusRpcError)) return null;
  const methods = config.serviceBus.methods.notifications;
  const notice = REFUSABLE_NOTICES.find((n) => event.method === methods[n.method] && n.isOwnId(event.eventId));
  return notice ? { notice, err } : null;
}

/**
 * Sets a notice the bus refused aside at once (`EventStore.setAside`, reason `rpc_<code>`: listed for an operator,
 * resendable), so its payment's later events go on: counted in the notice's metric (the specification's codes by name,
 * any other as `rpc_other`), a warn line naming the event, the method and the bus's error (made safe by `BusRpcError`).
 */
export async function setAsideRefusedNotice(
  refused: { notice: RefusableNotice; err: BusRpcError },
  event: StoredEvent,
  deps: { events: EventStore; logger: Logger },
): Promise<string> {
  const { notice, err } = refused;
  const reason = `rpc_${err.rpcCode}`;
  await deps.events.setAside(event, reason);
  notice.count(err.rpcCode);
  deps.logger.warn(notice.message, {
    event_id: event.eventId,
    method: event.method,
    sequence: event.sequence,
    ...(notice.namesPayment ? { payment_key: event.paymentKey } : {}),
    reason,
    error: err.message,
  });
  return 'set-aside';
}

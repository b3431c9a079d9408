import { BusRequestError, BusRpcError } from '../bus/bus-errors';
import { counter } from '../metrics/metrics-registry';

/**
 * How many times one event's send is refused by the bus for its content before the event is set aside: the
 * same body gets the same answer, and an event retried for ever also holds back every later event of its
 * payment (they are sent in sequence order).
 */
export const EVENT_REJECTION_TRIES = 3;

/** HTTP statuses that refuse the request's content: 400 Bad Request, 413 Content Too Large, 422 Unprocessable Content. */
const CONTENT_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

/** JSON-RPC 2.0 errors that refuse the request's content: -32700 parse error, -32600 invalid request, -32602 invalid params. */
const CONTENT_RPC_CODES: ReadonlySet<number> = new Set([-32700, -32600, -32602]);

/**
 * Why the bus refused this event for its content, as a bounded token (`http_422`, `rpc_-32602`), or null when
 * the failure is anything else: unreachable, 5xx, 429, refused credentials, a token request the OAuth server
 * refused (400 `invalid_scope`, …), or a 4xx that names the endpoint or our access (404, 403, 405, …, JSON-RPC
 * method not found). Those are the bus's or our configuration's, the
 * same for every event, and are retried until fixed: setting every event aside would bury the cause.
 */
export function contentRejection(err: unknown): string | null {
  // A token request the OAuth server refused says nothing of the event: it fails every send until fixed.
  if (err instanceof BusRequestError && err.peer === 'bus' && CONTENT_STATUSES.has(err.httpStatus)) return `http_${err.httpStatus}`;
  if (err instanceof BusRpcError && CONTENT_RPC_CODES.has(err.rpcCode)) return `rpc_${err.rpcCode}`;
  return null;
}

const rejections = counter(
  'pb_event_rejections_total',
  'Event sends the bus refused for their content (HTTP 400, 413 or 422; JSON-RPC -32700, -32600 or -32602) or that could not be read (unreadable), by reason and by what was done: retried, or the event set aside',
  ['reason', 'outcome'],
);

/** Counts one content refusal (or unreadable record) of an event (`pb_event_rejections_total{reason,outcome}`). */
export function countEventRejection(reason: string, outcome: 'retried' | 'set_aside'): void {
  rejections.inc({ reason, outcome });
}

const refundNoticesSetAside = counter(
  'pb_refund_notices_set_aside_total',
  "Refund pre-notices (refund_management.updated PENDINGRELEASE) the bus answered with a JSON-RPC error, set aside at once so the refund's outcome goes on, by reason (rpc_<code> for JSON-RPC 2.0's own codes -32700, -32600, -32601, -32602, -32603; rpc_other for any other code)",
  ['reason'],
);

/** JSON-RPC 2.0's own error codes (§5.1); every other code is the bus's to choose. */
const SPEC_RPC_CODES: ReadonlySet<number> = new Set([-32700, -32600, -32601, -32602, -32603]);

/**
 * The `reason` label of a refund pre-notice refused with JSON-RPC error `rpcCode`: `rpc_<code>` for the
 * specification's codes, `rpc_other` for any other. The bus picks its codes among 2^32 (an application's own,
 * an id put there by mistake): each would be a series of its own. The set-aside record and the warn line keep
 * the exact code.
 */
export function refundNoticeReasonLabel(rpcCode: number): string {
  return SPEC_RPC_CODES.has(rpcCode) ? `rpc_${rpcCode}` : 'rpc_other';
}

/** Counts one refund pre-notice set aside on the bus's JSON-RPC error `rpcCode` (`pb_refund_notices_set_aside_total{reason}`). */
export function countRefundNoticeSetAside(rpcCode: number): void {
  refundNoticesSetAside.inc({ reason: refundNoticeReasonLabel(rpcCode) });
}

const skipNoticesSetAside = counter(
  'pb_recurring_skip_notices_set_aside_total',
  "Recurring skipped-cycles notices (recurring_cycles_skipped) the bus answered with a JSON-RPC error, set aside at once so the order's later events (the charge of the cycle due now) go on, by reason (rpc_<code> for JSON-RPC 2.0's own codes; rpc_other for any other code)",
  ['reason'],
);

/** Counts one skipped-cycles notice set aside on the bus's JSON-RPC error `rpcCode` (`pb_recurring_skip_notices_set_aside_total{reason}`). */
export function countSkipNoticeSetAside(rpcCode: number): void {
  skipNoticesSetAside.inc({ reason: refundNoticeReasonLabel(rpcCode) });
}

import { BusNotificationName, Config } from '../config/config';
import { gatewayOf, routingEventField } from '../ledger/routing-record';
import { CommandType, Payment } from '../contracts/payment-command';
import { OperationRecord } from '../ledger/ledger';
import { CancelEffect } from '../ledger/cancel-effect';
import { OperationState } from '../ledger/operation-state';
import { balanceOf, reportedMoney } from './psp-discrepancy';
import { withoutMethodToken } from '../contracts/payment-method';
import { assertNever } from '../gateways/assert-never';
import { actionExpiryMs } from '../gateways/customer-action';
import { Decline, isKnownCode } from '../errors/decline';
import { BRIDGE_DECLINES } from '../errors/bridge-declines';
import { bridgeDecline, outcomeDecline } from '../gateways/gateway-declines';
import { declineTableFor } from '../gateways/gateway-registry';
import { shardOfAnchor, shardOfPayment } from '../redis/key-layout';
import { extensibleCopy } from './extensible-copy';
import { storedCardReport } from './stored-card-report';
import type { RefundedBeyondCaptured } from '../adjustments/adjustment';
import type { SuggestedAction } from '../errors/decline';
import { parseRereadAfterVoid } from '../ledger/refunds-undecided-mark';

/**
 * Status the OMS sees in a payment notification. `UNRESOLVED`: the bridge stopped expecting an answer
 * from the PSP (its poll schedule ran out) and the money may or may not have moved; not final: a later
 * `SUCCESS` or `FAIL` event of the same operation (a new event id, a higher sequence) settles it.
 * `ACTION_REQUIRED`: the PSP waits for the customer; the event carries `payment.action` (what the
 * storefront needs) and a later SUCCESS, FAIL or PENDING event settles it (docs/EVENTS.md).
 */
export type EventStatus = 'SUCCESS' | 'FAIL' | 'PENDING' | 'ACTION_REQUIRED' | 'UNRESOLVED';

/**
 * The reason an UNRESOLVED event carries: the bridge stopped expecting a final answer from the PSP; the
 * money may or may not have moved, and a later SUCCESS or FAIL event settles it.
 */
export const UNRESOLVED_REASON = 'NO_FINAL_ANSWER';

/** A notification to the bus, stored in the outbox until delivered. */
export interface PaymentEvent {
  /**
   * `<operation id>.<STATE>` (e.g. `.UNRESOLVED`, then `.SUCCEEDED`) or `<operation id>.refund-pending`:
   * stable across crashes and retries.
   */
  eventId: string;
  /** Orders events of one payment; the OMS drops duplicates and reorders by it. */
  paymentKey: string;
  /**
   * The ledger shard the event is recorded in: its payment's (src/redis/key-layout.ts `shardOfPayment`),
   * the same as its operation's. Set by `eventAnchor`; without it, it is read from `paymentKey`.
   */
  shard?: number;
  method: string;
  params: Record<string, unknown>;
}

/** The notification each command's outcome is reported with. */
export function notificationFor(command: CommandType): BusNotificationName {
  switch (command) {
    case 'validate':
      return 'validated';
    case 'revalidate':
      return 'revalidated';
    case 'capture':
      return 'captured';
    case 'cancel':
      return 'cancelled';
    case 'refund':
      return 'refunded';
    case 'authorize':
      return 'authorized';
    case 'sale':
      return 'sold';
    case 'tokenize':
      return 'tokenized';
    case 'balance_inquiry':
      return 'balance_reported';
    case 'reload':
      return 'reloaded';
    case 'issue':
      return 'issued';
    case 'activate':
      return 'activated';
    case 'deactivate':
      return 'deactivated';
    case 'merge_balance':
      return 'balance_merged';
    default:
      return assertNever(command, 'command');
  }
}

/** Ledger state → event status; `null` for states the OMS is not told about (RECEIVED, SENT, UNKNOWN). */
export function eventStatusOf(state: OperationState): EventStatus | null {
  switch (state) {
    case 'SUCCEEDED':
      return 'SUCCESS';
    case 'FAILED':
      return 'FAIL';
    case 'PENDING':
      return 'PENDING';
    case 'ACTION_REQUIRED':
      return 'ACTION_REQUIRED';
    case 'UNRESOLVED':
      return 'UNRESOLVED';
    case 'RECEIVED':
    case 'SENT':
    case 'UNKNOWN':
      return null;
    default:
      return assertNever(state, 'state');
  }
}

/** Events of one payment share a key: its order (or the gateway key when there is no order). */
export function paymentKeyOf(payment: Payment): string {
  return `${payment.gateway}:${payment.gateway_account}:${payment.order_id ?? payment.gateway_key}`;
}

/** What places an event of `payment`: its payment key and its ledger shard (spread into a `PaymentEvent`). */
export function eventAnchor(payment: Payment): { paymentKey: string; shard: number } {
  return { paymentKey: paymentKeyOf(payment), shard: shardOfPayment(payment) };
}

/**
 * The ledger shard of `event`: its own `shard`, else the one its payment key's anchor (what follows the
 * gateway and the account) gives, which is the payment's when the account holds no `:`.
 */
export function shardOfEvent(event: Pick<PaymentEvent, 'paymentKey' | 'shard'>): number {
  if (event.shard !== undefined) return event.shard;
  return shardOfAnchor(event.paymentKey.split(':').slice(2).join(':'));
}

/** The id of the event that hands the OMS a token the PSP reported after the operation's SUCCESS event (`storedTokenEvent`). */
export function storedTokenEventId(operationId: string): string {
  return `${operationId}.stored-token`;
}

/**
 * The event that hands the OMS a token on first use the PSP reported apart from the operation's outcome, after the
 * SUCCESS event went without it (Adyen RECURRING_CONTRACT after AUTHORISATION): the operation's SUCCESS event again,
 * with `payment.token` (a tokenize's `new_gateway_key` too, when it had none), under its own id
 * (`storedTokenEventId`) and with `token_update: true`: it restates the success the OMS has, to hand over the token;
 * nothing else happened. `null` unless the operation SUCCEEDED and holds a token.
 */
export function storedTokenEvent(op: OperationRecord, config: Config): PaymentEvent | null {
  if (op.state !== 'SUCCEEDED' || !op.storedToken) return null;
  const event = outcomeEvent(op, config);
  if (!event) return null;
  const eventId = storedTokenEventId(op.id);
  const payment = event.params.payment as Record<string, unknown>;
  payment.event_id = eventId;
  payment.token_update = true;
  if (op.command === 'tokenize' && payment.new_gateway_key === null) payment.new_gateway_key = op.storedToken;
  return { ...event, eventId };
}

/**
 * The outcome notification for an operation in a reportable state: the command's payment echoed, plus
 * status, reason, `decline` on a FAIL (see `failDecline`), gateway details (no raw PSP body: only its status and reference), the new
 * gateway key, and `event_id`. `sequence` is added when the event is recorded.
 */
export function outcomeEvent(op: OperationRecord, config: Config): PaymentEvent | null {
  const status = eventStatusOf(op.state);
  if (!status) return null;
  const eventId = `${op.id}.${op.state}`;
  // UNRESOLVED says why in its own words; an earlier state's reason would mislead.
  const { reported, requested, discrepancy } = reportedMoney(op);
  // A difference with the PSP is the reason when there is no other: never papered over.
  // The stored card as the PSP confirmed it, once the PSP confirmed the operation (docs/EVENTS.md).
  const storedCard = status === 'SUCCESS' ? storedCardReport(op) : undefined;
  const cardDiscrepancy = typeof storedCard?.discrepancy === 'string' ? storedCard.discrepancy : undefined;
  const reason = (op.state === 'UNRESOLVED' ? UNRESOLVED_REASON : op.reason) ?? discrepancy ?? cardDiscrepancy ?? undefined;
  // Built by assignment onto one copy, not as a literal of a dozen conditional spreads: V8 copies every
  // spread after the first through its slow path, a measurable share of the worker's CPU per command; and the
  // copy is not a spread either (see `extensibleCopy`). Same fields in the same order.
  // The one-time method's token stays in the ledger: the OMS sent it, and it is the PSP's.
  const payment = extensibleCopy(withoutMethodToken(op.payment));
  // What the PSP confirmed where it said so, else what was asked (docs/EVENTS.md).
  payment.amount = reported.amount;
  payment.currency = reported.currency;
  payment.requested_amount = requested.amount;
  payment.requested_currency = requested.currency;
  if (discrepancy) payment.discrepancy = discrepancy;
  // A balance inquiry: what is on the card, as the PSP said (docs/payment-methods/stored-value.md).
  const balance = balanceOf(op);
  if (balance) payment.balance = balance;
  payment.operation_reference = op.id;
  payment.status = status;
  // Every field the bus protocol lists is present: null when it has no value (a SUCCESS has no reason).
  payment.reason = reason || null;
  if (status === 'FAIL') payment.decline = failDecline(op, config);
  if (op.reasonField) payment.field = op.reasonField;
  // A capture the PSP retries itself: failed for now, but it may still collect, and its amount stays held.
  if (status === 'FAIL' && op.heldForPspRetry !== undefined) payment.retried_by_psp = true;
  payment.gateway_command = op.command;
  payment.gateway_response = gatewayResponse(op, status, reported);
  // A cancel's void that left the payment refunded beyond what stands captured, said by this event (no other fact says it).
  const beyond = status === 'SUCCESS' ? saidAfterVoid(op) : undefined;
  if (beyond) payment.refunded_beyond_captured = refundedBeyondCapturedBlock(beyond);
  // The PSP's response time (ms) as the worker timed its call, not the operation's lifetime; 0: no call of ours answered.
  payment.gateway_response_time = op.pspResponseMs ?? 0;
  payment.new_gateway_key = op.newGatewayKey ?? payment.new_gateway_key ?? null;
  // Where the orchestration sent it and why (rules, agreements, failovers), when anything decided.
  if (op.routing) payment.routing = routingEventField(op.routing);
  // Token on first use: the reusable key, once the PSP confirmed the payment (docs/EVENTS.md).
  if (op.storedToken && status === 'SUCCESS') payment.token = op.storedToken;
  if (storedCard) payment.stored_card = storedCard;
  // The card scheme's id of the payment as the PSP reported it, for the OMS to quote in later merchant-initiated ones.
  if (op.networkTransactionId !== undefined && status === 'SUCCESS') payment.network_transaction_id = op.networkTransactionId;
  if (status === 'ACTION_REQUIRED' && op.action) payment.action = op.action;
  // Until when the customer may act, as the PSP said (a voucher's expiry; docs/EVENTS.md); none: it named none.
  const actionExpiresAt = status === 'ACTION_REQUIRED' ? actionExpiryMs(op.actionExpiresAt) : undefined;
  if (actionExpiresAt !== undefined) payment.action_expires_at = new Date(actionExpiresAt).toISOString();
  // A successful authorization: until when it can be captured (docs/AUTHORIZATION-LIFECYCLE.md).
  if (op.expiresAt !== undefined && status === 'SUCCESS') payment.expires_at = new Date(op.expiresAt).toISOString();
  payment.event_id = eventId;
  const { paymentKey, shard } = eventAnchor(op.payment);
  return {
    eventId,
    paymentKey,
    shard,
    method: config.serviceBus.methods.notifications[notificationFor(op.command)],
    params: { payment },
  };
}

/**
 * What a person does about a payment left refunded beyond what stands captured: the PSP gave money back twice, which
 * only the PSP (or the shopper) can return.
 */
const REFUNDED_BEYOND_CAPTURED_ACTION: SuggestedAction = 'contact_support';

/**
 * The `refunded_beyond_captured` block of an event (an adjustment's, or a cancel's success whose void lowered what stands
 * captured): the figures in minor units of the order's currency and what to do. Pure.
 */
export function refundedBeyondCapturedBlock(figures: RefundedBeyondCaptured): Record<string, unknown> {
  return {
    captured_amount: figures.capturedAmount,
    refunded_amount: figures.refundedAmount,
    excess_amount: figures.excessAmount,
    currency: figures.currency,
    suggested_action: REFUNDED_BEYOND_CAPTURED_ACTION,
  };
}

/**
 * The refunded-beyond figures a cancel's success says: those its reading after the void found (`refundsRereadAfterVoid`),
 * unless another fact or move says them (`saidBy`). Pure.
 */
function saidAfterVoid(op: OperationRecord): RefundedBeyondCaptured | undefined {
  if (op.command !== 'cancel') return undefined;
  const read = parseRereadAfterVoid(op.refundsRereadAfterVoid);
  return typeof read === 'object' && read.saidBy === undefined ? read.figures : undefined;
}

/**
 * The event's `gateway_response`: the PSP's status and reference, and for a cancel that succeeded at a PSP whose
 * cancel can void what was captured (Cybersource, `cancelEffect`) what it did: `voided` (the operation reference
 * and command of the capture or sale it voided, and what became of the authorization's hold it left) or `released` (what it released, as reported: the PSP's figure,
 * else what it was asked; the hold, or what partial captures left of it). Pure.
 */
function gatewayResponse(op: OperationRecord, status: EventStatus, reported: { amount: number; currency: string }): Record<string, unknown> {
  const response: Record<string, unknown> = { status: op.gatewayStatus ?? null, reference: op.gatewayReference ?? null };
  return withCancelEffect(response, status === 'SUCCESS' ? op.cancelEffect : undefined, reported);
}

/**
 * `response` (an event's `gateway_response`) with what a cancel did, `effect`, when there is one: `voided` (the
 * operation reference and command of the capture or sale it voided, what became of the hold it left) or `released`
 * (the amount `reported`, and of what). The cancel's own SUCCESS event says it, and the adjustment event of a cancel
 * recorded FAILED that the PSP did after all. Pure.
 */
export function withCancelEffect(
  response: Record<string, unknown>,
  effect: CancelEffect | undefined,
  reported: { amount: number; currency: string },
): Record<string, unknown> {
  if (effect === undefined) return response;
  if ('voided' in effect)
    response.voided = {
      operation_reference: effect.voided,
      command: effect.command,
      // The authorization's hold, which the void left: a reversal of it requested (its own cancel), or left to expire.
      ...(effect.hold !== undefined ? { hold: effect.hold } : {}),
      ...(effect.reversal !== undefined ? { reversal_reference: effect.reversal } : {}),
    };
  else
    response.released = {
      amount: reported.amount,
      currency: reported.currency,
      of: effect.released === 'remainder' ? 'uncaptured_remainder' : 'authorization',
    };
  return response;
}

/**
 * The `decline` of a FAIL event: `{category, gateway_code, customer_message, suggested_action}` as the
 * ledger recorded it; a record written before declines were recorded gets it derived from its reason.
 */
export function failDecline(op: OperationRecord, config: Config): Decline {
  if (op.decline !== undefined) return op.decline;
  const code = op.reason ?? op.gatewayStatus ?? 'FAILED';
  const type = config.gateways[gatewayOf(op)]?.type;
  if (type === undefined || isKnownCode(BRIDGE_DECLINES, code)) return bridgeDecline(code);
  return outcomeDecline(declineTableFor(type), { status: 'FAIL', gatewayStatus: code });
}

/** The suffix of a refund pre-notice's event id (`<operation id>.refund-pending`). */
const REFUND_PENDING_SUFFIX = '.refund-pending';

/** Whether `eventId` is a refund pre-notice's ({@link refundPendingEvent}). */
export function isRefundPendingEventId(eventId: string): boolean {
  return eventId.endsWith(REFUND_PENDING_SUFFIX);
}

/**
 * Whether `eventId` is a recurring skipped-cycles notice's (`<schedule id>.skipped.<first cycle>-<last cycle>`,
 * src/recurring/recurring-skip-notice.ts `skipNoticeId`).
 */
export function isSkipNoticeEventId(eventId: string): boolean {
  return /\.skipped\.\d+-\d+$/.test(eventId);
}

/** The refund pre-notice sent before the gateway refund: `PENDINGRELEASE` / `REQUESTED`. */
export function refundPendingEvent(op: OperationRecord, config: Config): PaymentEvent {
  const eventId = `${op.id}${REFUND_PENDING_SUFFIX}`;
  return {
    eventId,
    ...eventAnchor(op.payment),
    method: config.serviceBus.methods.notifications.refund_updated,
    params: {
      code: 'PENDINGRELEASE',
      reason_code: 'REQUESTED',
      order_id: op.payment.order_id ?? null,
      operation_reference: op.id,
      amount: op.payment.amount,
      currency: op.payment.currency,
      event_id: eventId,
    },
  };
}

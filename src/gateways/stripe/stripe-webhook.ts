import { pspEpochSecondsMs } from '../psp-time';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error';
import { GatewayOutcome, ModificationReading, SkippedWebhookItem, UnmarkedWebhookItem, WebhookEvent } from '../gateway-adapter';
import { stripeConfirmedMoney } from './stripe-amount';
import { isStripeLapse } from './stripe-status-map';
import { paymentIntentToOutcome, refundToOutcome, setupIntentToOutcome, stripeCancelOutcome, stripeCaptureLapseOutcome } from './stripe-responses';
import { CAPTURE_OPERATION_ID_METADATA, OPERATION_ID_METADATA } from './stripe-requests';
import { StripeDisputeEventType, isStripeDisputeEventType, parseDisputeStatus, stripeDisputeFact, stripeDisputeGatewayStatus } from './stripe-adjustments';
import { AdjustmentFact } from '../../adjustments/adjustment';
import { readPspCurrency } from '../../money/currencies';
import type { GatewayConfig } from '../gateway-config';
import { StripeMode, stripeKeyMode, stripeObjectMode } from './stripe-mode';

/** Stripe's default tolerance between the signed timestamp and our clock, seconds. */
export const STRIPE_WEBHOOK_TOLERANCE_S = 300;

export interface StripeSignatureHeader {
  /** Unix seconds Stripe signed at. */
  timestamp: number;
  /** Every `v1` signature (several while a secret is being rolled), hex. */
  signatures: string[];
}

/** Parses `t=…,v1=…[,v1=…][,v0=…]`; undefined when there is no timestamp or no v1. */
export function parseStripeSignatureHeader(value: string | undefined): StripeSignatureHeader | undefined {
  if (value === undefined) return undefined;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(val)) timestamp = Number(val);
    if (key === 'v1' && /^[0-9a-f]{64}$/.test(val)) signatures.push(val);
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

/** `v1` for `rawBody` at `timestamp` with `secret`: HMAC-SHA256 over `${t}.${rawBody}`, hex. */
export function stripeSignature(rawBody: Buffer, timestamp: number, secret: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** A complete `Stripe-Signature` header value, for tests and our own twins. */
export function stripeSignatureHeader(rawBody: Buffer, timestamp: number, secret: string): string {
  return `t=${timestamp},v1=${stripeSignature(rawBody, timestamp, secret)}`;
}

/**
 * Whether `Stripe-Signature` signs `rawBody` with one of `secrets` (current and previous, for rotation),
 * at a timestamp at most the tolerance older than `now` (a later one is clock skew, accepted as Stripe's
 * libraries accept it). Every candidate is compared in constant time.
 */
export function verifyStripeWebhook(
  rawBody: Buffer,
  headers: Record<string, string>,
  secrets: readonly string[],
  now: Date,
  toleranceS = STRIPE_WEBHOOK_TOLERANCE_S,
): boolean {
  const value = Object.entries(headers).find(([k]) => k.toLowerCase() === 'stripe-signature')?.[1];
  const parsed = parseStripeSignatureHeader(value);
  if (parsed === undefined) return false;
  // Too old only, as Stripe's libraries check: a timestamp ahead of our clock is skew, not a replay.
  if (Math.floor(now.getTime() / 1000) - parsed.timestamp > toleranceS) return false;
  let ok = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = Buffer.from(stripeSignature(rawBody, parsed.timestamp, secret), 'hex');
    for (const candidate of parsed.signatures) {
      // No early exit: the time taken does not depend on which candidate matched.
      if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) ok = true;
    }
  }
  return ok;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Event types we act on; every other type is acknowledged and ignored (see `parseStripeWebhook`). */
export const STRIPE_WEBHOOK_EVENT_TYPES = [
  'payment_intent.succeeded',
  'payment_intent.amount_capturable_updated',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'payment_intent.processing',
  'payment_intent.requires_action',
  'setup_intent.succeeded',
  'setup_intent.setup_failed',
  'setup_intent.requires_action',
  'setup_intent.canceled',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.refund.updated',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.funds_reinstated',
] as const;

/**
 * Types about the objects we read that carry no outcome of ours: a PaymentIntent or SetupIntent just created
 * (our own request's answer says more), a customer-balance PaymentIntent partly funded (its status does not
 * move). Acknowledged and left alone, not counted as skipped.
 */
export const STRIPE_IGNORED_EVENT_TYPES = ['payment_intent.created', 'payment_intent.partially_funded', 'setup_intent.created'] as const;

/**
 * The types about the objects we read (PaymentIntent, SetupIntent, Refund, Dispute). One of them that is in
 * neither list above is new to us: skipped as `unknown_event_type`. Types about other objects (`customer.*`,
 * `charge.refunded`…) are no business of the bridge, acknowledged quietly.
 */
const READ_TYPE_PREFIXES = ['payment_intent.', 'setup_intent.', 'refund.', 'charge.refund.', 'charge.dispute.'] as const;

function listed(list: readonly string[], type: string): boolean {
  return list.includes(type);
}

/**
 * A verified Stripe event as our outcome.
 *
 * - `payment_intent.*`: the PaymentIntent read as an authorization when its capture is manual
 *   (`requires_capture` SUCCESS), else as a sale (`succeeded` SUCCESS); `canceled` / failed are FAIL with
 *   the cancellation or decline code; Stripe's own cancellation of a manual-capture one
 *   (`cancellation_reason: automatic`) also carries an `authorization_expired` adjustment (see
 *   `authorizationLapse`), and the FAIL of a cancel of it still open (`modificationReading`). `operationId` is the one we put
 *   in its metadata when creating it (the authorize / sale / revalidate), `gatewayReference` its id, so a
 *   capture or cancel is found through the PaymentIntent. A revalidate's new key is set where the outcome
 *   meets its operation (the event does not say which command created the PaymentIntent). A manual-capture one
 *   captured by our capture, or cancelled by a cancel, also carries that modification's reading (`modification`, see
 *   `modificationReading`): the outcome worker settles the open capture or cancel with it.
 * - `setup_intent.*`: a tokenize's SetupIntent, read as its outcome (the PaymentMethod the token).
 * - `refund.*` / `charge.refund.updated`: the Refund, whose metadata carries the refund's operation id and
 *   whose id is its reference; a refund without our metadata (made in the Dashboard) settles nothing: once it
 *   succeeded it names the payment it refunds (`outsideRefund`), told to the OMS as a refund outside the bridge.
 * - `charge.refunded` is acknowledged and ignored: it is the Charge, with a running total
 *   (`amount_refunded`) and the PaymentIntent's metadata, sent even while the refund is pending; it names
 *   no refund, so it cannot settle one (Stripe: "Listen to refund.created for information about the refund").
 * - A Refund `failed` (`refund.failed`, or an update to `failed`) also carries a `refund_failed`
 *   adjustment: the refund's outcome while it is open, an adjustment once it had succeeded. A Refund's success,
 *   failure or cancellation is keyed by the Refund (`refundFactKey`): Stripe tells each in several events.
 * - `charge.dispute.*`: the Dispute, a late fact about the disputed PaymentIntent (its reference); an
 *   adjustment only (see `stripeDisputeFact`), never the payment's outcome.
 *
 * Stripe renders an event in its endpoint's API version, not the one our requests pin, so a signed event may
 * carry a status our maps do not list, or be of a type added since. Either is reported to `skipped` (as
 * `unreadable` with the status, or `unknown_event_type`) and gives no event: a refusal would only bring it
 * back for days. So is an event of the objects we read from the other mode than `api_key`'s (`livemode`
 * against `stripeKeyMode`: `other_environment`): a test object is no payment of a live gateway, nor the
 * reverse. A key whose prefix names no mode, or an event without a boolean `livemode`, leaves the mode
 * unchecked. And so is one of another account than `merchant_account` (`other_account`): a Connect endpoint
 * gets the events of every connected account ("All events on the connected account are sent to the Connect
 * webhooks"), each naming its own in `account`; the platform's own events name none, which only a gateway
 * without `merchant_account` reads. The outcome worker's scope check still refuses an outcome naming another
 * account (`outcome-scope.ts`). A PaymentIntent, SetupIntent or Dispute event about an object that carries no mark of
 * ours (`unmarkedReferences`: another integration sharing the account, Checkout, Billing, the Dashboard) is returned
 * with `unmarked`: the route skips it (`not_ours`) unless the ledger knows it. Every skipped item names the event's
 * `api_version`. Throws only when the body as a whole is not a Stripe event.
 */
export function parseStripeWebhook(
  rawBody: Buffer,
  gateway: Pick<GatewayConfig, 'name' | 'apiKey' | 'merchantAccount'>,
  skipped: (item: SkippedWebhookItem) => void = () => undefined,
): WebhookEvent[] {
  return parseEvent(rawBody, gateway.name, { mode: stripeKeyMode(gateway.apiKey), account: gateway.merchantAccount }, skipped);
}

/** What the gateway is: the mode of its key (undefined: unchecked), and the account its events must name ('' none). */
interface OurStripeScope {
  mode: StripeMode | undefined;
  account: string;
}

function parseEvent(rawBody: Buffer, gateway: string, ours: OurStripeScope, skipped: (item: SkippedWebhookItem) => void): WebhookEvent[] {
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString('utf8')) as unknown;
  } catch (cause) {
    throw new GatewayError('invalid_request', gateway, 'webhook body is not JSON', { cause });
  }
  if (!isObject(json) || !isObject(json.data) || !isObject(json.data.object)) {
    throw new GatewayError('invalid_request', gateway, 'webhook is not a Stripe event');
  }
  const eventId = str(json.id);
  const type = str(json.type);
  if (eventId === undefined || type === undefined) throw new GatewayError('invalid_request', gateway, 'webhook event without id or type');
  const object = json.data.object;
  // A Connect event names the connected account; the platform's own events name none ('').
  const account = str(json.account) ?? '';
  const reference = str(object.id);
  // The version Stripe rendered the event in (the endpoint's): what an operator needs to read a skipped one.
  const apiVersion = str(json.api_version);
  const item: SkippedWebhookItem = {
    reason: 'unreadable',
    eventId,
    eventType: type,
    ...(apiVersion !== undefined ? { apiVersion } : {}),
    account,
    ...(reference !== undefined ? { reference } : {}),
  };
  const read = READ_TYPE_PREFIXES.some((p) => type.startsWith(p)) && !listed(STRIPE_IGNORED_EVENT_TYPES, type);
  // From the other mode (a test endpoint's events sent to a live bridge, or the reverse): about no payment of this
  // gateway, whatever its ids match. Acknowledged, as Stripe would retry a refusal for days; the other types stay quiet.
  const theirs = stripeObjectMode(json.livemode);
  if (read && ours.mode !== undefined && theirs !== undefined && theirs !== ours.mode) {
    skipped({
      ...item,
      reason: 'other_environment',
      field: 'livemode',
      problem: `is ${String(json.livemode)} (Stripe's ${theirs} mode) while api_key is a ${ours.mode} mode key`,
    });
    return [];
  }
  // Another connected account's (a Connect endpoint brings them all), or the platform's own at a gateway acting as a
  // connected account: expected, acknowledged and left out here rather than queued and retried as an operation not
  // found. The other types stay quiet.
  if (read && account !== ours.account) {
    skipped({ ...item, reason: 'other_account' });
    return [];
  }
  if (!listed(STRIPE_WEBHOOK_EVENT_TYPES, type)) {
    if (read) skipped({ ...item, reason: 'unknown_event_type' });
    return [];
  }
  try {
    const event = readEvent(eventId, type, object, json.created, gateway);
    if (event === undefined) return [];
    const refused = unreadableCurrency(type, object);
    if (refused !== undefined) {
      skipped({ ...item, ...refused });
      return [];
    }
    const unmarked = unmarkedReferences(type, object);
    if (unmarked === undefined) return [{ ...event, account }];
    return [{ ...event, account, unmarked: { references: unmarked, ...requestKeyOf(json.request), skipped: { ...item, reason: 'not_ours' } } }];
  } catch (err) {
    // Our readers throw a GatewayError for what the PSP said that they cannot read (a status the maps do not
    // list); anything else is a fault of ours, refused so that Stripe sends it again once it is fixed.
    if (!(err instanceof GatewayError)) throw err;
    const status = str(object.status);
    skipped({ ...item, ...(status !== undefined ? { status } : {}) });
    return [];
  }
}

/**
 * The first currency the event's reading takes that is no ISO 4217 code (Stripe's are lower case, read in any
 * case): the object's `currency` (a PaymentIntent's, a Refund's, a Dispute's; a SetupIntent names none), and
 * for `funds_reinstated` its balance transactions' (`reinstated`). Null or absent is no currency named.
 */
function unreadableCurrency(type: string, object: Json): { field: string; problem: string } | undefined {
  const named: Array<[string, unknown]> = [['data.object.currency', object.currency]];
  if (type === 'charge.dispute.funds_reinstated' && Array.isArray(object.balance_transactions)) {
    object.balance_transactions.forEach((bt: unknown, k) => {
      if (isObject(bt)) named.push([`data.object.balance_transactions[${k}].currency`, bt.currency]);
    });
  }
  for (const [field, value] of named) {
    if (value === undefined || value === null) continue;
    const read = readPspCurrency(value);
    if ('problem' in read) return { field, problem: read.problem };
  }
  return undefined;
}

/**
 * The ids of the objects an event is about when the object carries no mark of ours (see `WebhookEvent.unmarked`), or
 * undefined when it does or needs none:
 * - a PaymentIntent without the `operation_id` metadata every one we create carries (authorize, sale, revalidate) and
 *   without the `capture_operation_id` our capture adds: one Checkout, Billing (its `invoice`), Payment Links, the
 *   Dashboard or another integration of the account created, ours only when an operation of ours acted on it as its
 *   `gateway_key` (a validate, capture or cancel: its answer indexed the PaymentIntent) or a request of ours caused the
 *   event (a cancel, which takes no metadata, whose answer is not recorded yet: `requestKeyOf`);
 * - a SetupIntent without our `operation_id` (a tokenize's carries it);
 * - a Dispute, which carries no metadata of ours: ours when the disputed PaymentIntent (or Charge) is.
 * A Refund without our metadata is not one: it names the payment it refunds, which the outcome worker looks up
 * (`outsideRefund`; one of no payment of ours ends there, `isRefundOfAnotherPayment`). Metadata of ours decides alone,
 * whatever the ledger holds yet: an event of ours that comes before our own request's answer is recorded is queued
 * and waits for its operation as before.
 */
function unmarkedReferences(type: string, object: Json): string[] | undefined {
  if (isStripeDisputeEventType(type)) return [str(object.payment_intent), str(object.charge)].filter((r): r is string => r !== undefined);
  if (!type.startsWith('payment_intent.') && !type.startsWith('setup_intent.')) return undefined;
  const metadata = isObject(object.metadata) ? object.metadata : {};
  if (str(metadata[OPERATION_ID_METADATA]) !== undefined || str(metadata[CAPTURE_OPERATION_ID_METADATA]) !== undefined) return undefined;
  const id = str(object.id);
  return id === undefined ? [] : [id];
}

/**
 * The idempotency key of the API request that caused an event (`request.idempotency_key`, "The idempotency key
 * transmitted during the request, if any"; null for a change Stripe made itself), as `UnmarkedWebhookItem.requestKey`.
 */
function requestKeyOf(request: unknown): Pick<UnmarkedWebhookItem, 'requestKey'> {
  const key = isObject(request) ? str(request.idempotency_key) : undefined;
  return key === undefined ? {} : { requestKey: key };
}

/** One event of a type we act on; undefined when it is not ours (a refund made in the Dashboard). */
function readEvent(eventId: string, type: string, object: Json, created: unknown, gateway: string): WebhookEvent | undefined {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const operationId = str(metadata[OPERATION_ID_METADATA]);
  let outcome: GatewayOutcome;
  let adjustment: AdjustmentFact | undefined;
  let modification: ModificationReading | undefined;
  if (isStripeDisputeEventType(type)) return disputeEvent(eventId, type, object, created, gateway);
  if (type.startsWith('payment_intent.')) {
    // A manual-capture PaymentIntent is an authorization; an automatic one is a sale (held is not done).
    outcome = paymentIntentToOutcome(object, object.capture_method === 'manual' ? 'authorize' : 'sale', gateway, false);
    if (isStripeLapse(object)) adjustment = authorizationLapse(object, created);
    // The lapse is the authorization's adjustment and, for a cancel of it still open, that cancel's FAIL: both are read.
    modification = modificationReading(object, gateway);
  } else if (type.startsWith('setup_intent.')) {
    // A tokenize's SetupIntent (our operation id in its metadata): what the customer's action led to.
    outcome = setupIntentToOutcome(object, gateway, false);
  } else {
    // refund.* and charge.refund.updated. Every refund of ours carries our metadata; one without it was made
    // elsewhere (the Dashboard): only its success is read, for the payment it refunds (`outsideRefund`).
    if (operationId === undefined) return outsideRefund(type, object, created, gateway);
    // Dated by the event below (when Stripe made the change), not by the Refund's creation.
    outcome = refundToOutcome(object, gateway, false);
    if (object.status === 'failed') adjustment = refundFailure(object, created);
  }
  // When Stripe made the change the event reports (the Event is created with it: "The event's data field embeds the
  // resource's state at the time of the change"), in whole seconds: a success is ordered by it against a dated
  // failure of the same operation, and a failure against the success recorded, whichever arrives first.
  dated(outcome, created);
  if (modification) dated(modification.outcome, created);
  for (const other of modification?.others ?? []) dated(other.outcome, created);
  // The object itself: for a refund the Refund as our refund operation holds it, never the PaymentIntent,
  // which names other operations.
  const event: WebhookEvent = { eventId, gatewayReference: str(object.id), outcome };
  const fact = refundFactKey(type, object);
  if (fact !== undefined) Object.assign(event, { eventId: fact, formerEventId: eventId });
  if (operationId !== undefined) event.operationId = operationId;
  if (adjustment) event.adjustment = adjustment;
  if (modification) event.modification = modification;
  return event;
}

/**
 * A Refund without our metadata (no refund of ours created it: the Dashboard, another integration), once it
 * `succeeded`: money went back to the shopper of the PaymentIntent it names (`payment_intent`, else `charge`), which is
 * what it is found by (`paymentReference`); the outcome worker tells it as a refund outside the bridge of that payment
 * when the payment is ours (`webhooks/outside-refund.ts`). Once it `failed` (a Refund may fail after it succeeded,
 * Stripe's "failed refunds": the money comes back to the merchant's balance), its `refund_failed` fact as well, for the
 * outcome worker to report once that refund outside the bridge was (`outsideRefundFailure`). Keyed by the Refund
 * (`refundFactKey`: `<refund id>:succeeded`, `<refund id>:failed`), so its `refund.created`, `refund.updated`,
 * `refund.failed` and `charge.refund.updated` are one fact per status. Any other status: nothing (undefined), as before.
 * Nor a Refund Stripe made itself of an uncaptured charge whose authorization expired ({@link STRIPE_RELEASE_REFUND_REASON}):
 * no money taken went back, the hold was released, which the PaymentIntent's cancellation reports (`authorizationLapse`).
 */
function outsideRefund(type: string, refund: Json, created: unknown, gateway: string): WebhookEvent | undefined {
  if (refund.reason === STRIPE_RELEASE_REFUND_REASON) return undefined;
  const payment = str(refund.payment_intent) ?? str(refund.charge);
  const key = refundFactKey(type, refund);
  const failed = refund.status === 'failed';
  if ((refund.status !== 'succeeded' && !failed) || payment === undefined || key === undefined) return undefined;
  const outcome: GatewayOutcome = { ...refundToOutcome(refund, gateway, false), settles: ['refund'], referenceIsModification: true };
  dated(outcome, created);
  const event: WebhookEvent = { eventId: key, gatewayReference: str(refund.id), paymentReference: payment, outcome };
  if (failed) event.adjustment = refundFailure(refund, created);
  return event;
}

/**
 * The `reason` of a Refund Stripe makes itself when an uncaptured charge expires ("generated by Stripe internally",
 * API reference, Refund): the authorization's release, not money paid back.
 */
export const STRIPE_RELEASE_REFUND_REASON = 'expired_uncaptured_charge';

/** The Refund statuses a Refund reaches once: `succeeded` (it may fail after, never succeed again), `failed`, `canceled`. */
const ONCE_REACHED_REFUND_STATUSES: ReadonlySet<unknown> = new Set(['succeeded', 'failed', 'canceled']);

/**
 * The key a Refund's success, failure or cancellation is queued and recorded under, `<refund id>:<status>`, instead
 * of the event's id: Stripe tells one such change in several events, each with its own id (`refund.created` or
 * `refund.updated` and, for a failure, `refund.failed`, on endpoints from API 2024-10-28 for every refund; and
 * `charge.refund.updated` on the payment methods that send it), and a Refund reaches each of these statuses once
 * (`ONCE_REACHED_REFUND_STATUSES`), so they are one fact: one outcome of the open refund, one `refund_failed` adjustment
 * of a succeeded one, one `succeeded_after_failure` of one recorded FAILED, never one per event. The event's own id is
 * its former id (`WebhookEvent.formerEventId`): an adjustment an earlier release recorded under it is found under it.
 * Undefined for any other event (a `pending` or `requires_action` refund's: their outcomes only wait).
 */
function refundFactKey(type: string, object: Json): string | undefined {
  if (!type.startsWith('refund.') && !type.startsWith('charge.refund.')) return undefined;
  const id = str(object.id);
  return ONCE_REACHED_REFUND_STATUSES.has(object.status) && id !== undefined ? `${id}:${String(object.status)}` : undefined;
}

/**
 * A manual-capture PaymentIntent (an authorization) read as the outcome of the modification it shows done, which its
 * events do not name otherwise (their metadata names the authorization):
 * - `succeeded` with the `capture_operation_id` our capture request set (Stripe stores it with the capture): that
 *   capture's SUCCESS, for what Stripe collected (`amount_received`; a partial capture releases the rest, "Partially
 *   capturing automatically releases the remaining amount"). Without it, the capture was not ours (the Dashboard's):
 *   no reading, nothing guessed.
 * - `canceled`: what `stripeCancelOutcome` reads, as the status inquiry of the open cancel does: for no reason or one
 *   the canceller gave (`ASKED_CANCELLATION_REASONS`) a cancel's SUCCESS, for the open cancel of that authorization;
 *   for Stripe's own reasons a cancel's FAIL (`automatic`, the lapse: reason `authorization_expired`, while the release
 *   is the authorization's adjustment, see `authorizationLapse`); for a reason Stripe does not document, no reading.
 *   The lapse is also the FAIL of a capture of it still open (`others`), as its status inquiry reads it
 *   (`stripeCaptureLapseOutcome`: `authorization_expired`, the OMS to obtain a new authorization), and both are `final`
 *   (a canceled PaymentIntent never moves again: a capture or cancel still in flight can only be refused).
 * Any other status shows no modification done (`requires_capture` from `amount_capturable_updated` is the hold).
 */
function modificationReading(pi: Json, gateway: string): ModificationReading | undefined {
  if (pi.capture_method !== 'manual') return undefined;
  if (pi.status === 'succeeded') {
    const metadata = isObject(pi.metadata) ? pi.metadata : {};
    const capture = str(metadata[CAPTURE_OPERATION_ID_METADATA]);
    if (capture === undefined) return undefined;
    return { command: 'capture', operationId: capture, outcome: paymentIntentToOutcome(pi, 'capture', gateway, false) };
  }
  if (pi.status === 'canceled') {
    const outcome = stripeCancelOutcome(pi, gateway, false);
    if (outcome === null) return undefined;
    const capture = stripeCaptureLapseOutcome(pi);
    if (capture === undefined) return { command: 'cancel', outcome };
    // The lapse itself is the webhook's own adjustment of the authorization (`authorizationLapse`), not the capture's.
    const { authorizationLapse: _lapse, ...captureFailed } = capture;
    return { command: 'cancel', outcome, final: true, others: [{ command: 'capture', outcome: captureFailed, final: true }] };
  }
  return undefined;
}

/**
 * Sets a SUCCESS or FAIL outcome's `occurredAt` to the event's `created`, when it reads as a time, unless the object's
 * own time of it is there already (a cancel's `canceled_at`, read as the status inquiry reads it).
 */
function dated(outcome: GatewayOutcome, created: unknown): void {
  if (outcome.occurredAt !== undefined) return;
  const at = outcome.status === 'SUCCESS' || outcome.status === 'FAIL' ? createdMs(created) : undefined;
  if (at !== undefined) outcome.occurredAt = at;
}

/** Event `created` (unix seconds) as epoch ms; undefined when absent, or no time a Date can hold (`pspEpochSecondsMs`). */
function createdMs(created: unknown): number | undefined {
  return pspEpochSecondsMs(created);
}

/** The amounts, reason and time Stripe reported on a Refund or a Dispute. */
function reported(
  object: Json,
  reason: string | undefined,
  created: unknown,
): Pick<AdjustmentFact, 'amount' | 'currency' | 'reason' | 'pspReference' | 'occurredAt'> {
  // In ISO minor units (Stripe's units differ for a few currencies); an inexact amount is left out.
  const { amount, currency } = stripeConfirmedMoney(object, 'amount');
  const at = createdMs(created);
  const id = str(object.id);
  return {
    ...(amount !== undefined ? { amount } : {}),
    ...(currency !== undefined ? { currency } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(id !== undefined ? { pspReference: id } : {}),
    ...(at !== undefined ? { occurredAt: at } : {}),
  };
}

/** A Refund that failed: the refund's outcome while it is open, an adjustment after it succeeded. */
function refundFailure(refund: Json, created: unknown): AdjustmentFact {
  return { kind: 'refund_failed', direction: 'credit', failsOpenOperation: true, ...reported(refund, str(refund.failure_reason), created) };
}

/**
 * An uncaptured PaymentIntent Stripe cancelled itself (`cancellation_reason: automatic`: card authorizations
 * are cancelled once their capture window closes, seven days by default): the authorization lapsed. While the
 * authorization is open, the cancellation is its outcome; once it SUCCEEDED, an `authorization_expired`
 * adjustment on Stripe's signed word alone, since a cancelled PaymentIntent never moves again. `amount`: what
 * lapsed, the intent's amount less what was captured of it (`amount_received`).
 */
function authorizationLapse(pi: Json, created: unknown): AdjustmentFact {
  // When it was cancelled (`canceled_at`), else when Stripe sent the event.
  const fact = reported(pi, 'automatic', typeof pi.canceled_at === 'number' ? pi.canceled_at : created);
  const received = stripeConfirmedMoney(pi, 'amount_received').amount ?? 0;
  if (fact.amount !== undefined) {
    if (fact.amount >= received) fact.amount -= received;
    else delete fact.amount;
  }
  return { kind: 'authorization_expired', direction: 'none', failsOpenOperation: true, ...fact };
}

/**
 * What `funds_reinstated` gave back, which is not always the disputed amount: a dispute of a partly refunded
 * payment that is not fully resolved for the merchant returns only what had been refunded, and closes `lost`
 * (Stripe: "If it's not, only the partially refunded amount is returned"). The Dispute's `balance_transactions`
 * show the money withdrawn (negative) and reinstated (positive): the reinstated amount, when it is in the
 * dispute's currency or the dispute was not `won`; a `won` dispute, all of it came back (`amount`, in the dispute's
 * currency, as reconciliation reads it). Without a reinstatement to read, a dispute not `won` states no amount
 * rather than the disputed one.
 */
function reinstated(fact: AdjustmentFact, dispute: Json, status: string): void {
  const lines = Array.isArray(dispute.balance_transactions) ? dispute.balance_transactions.filter(isObject) : [];
  const back = lines.filter((bt) => typeof bt.amount === 'number' && bt.amount > 0);
  const currency = str(back[0]?.currency);
  if (back.length > 0 && currency !== undefined && back.every((bt) => str(bt.currency) === currency)) {
    const sum = back.reduce((n, bt) => n + (bt.amount as number), 0);
    if (status !== 'won' || currency.toUpperCase() === fact.currency) {
      const money = stripeConfirmedMoney({ amount: sum, currency }, 'amount');
      delete fact.amount;
      if (money.amount !== undefined) fact.amount = money.amount;
      if (money.currency !== undefined) fact.currency = money.currency;
    }
    return;
  }
  if (status !== 'won') delete fact.amount;
}

/** A `charge.dispute.*` event: about the disputed PaymentIntent (or Charge), an adjustment only. */
function disputeEvent(eventId: string, type: StripeDisputeEventType, dispute: Json, created: unknown, gateway: string): WebhookEvent {
  const status = parseDisputeStatus(dispute.status, gateway);
  const reference = str(dispute.payment_intent) ?? str(dispute.charge);
  const adjustment: AdjustmentFact = { ...stripeDisputeFact(type, status), failsOpenOperation: false, ...reported(dispute, str(dispute.reason), created) };
  if (type === 'charge.dispute.funds_reinstated') reinstated(adjustment, dispute, status);
  return {
    eventId,
    gatewayReference: reference,
    // Informational: a dispute is never applied as the payment's outcome.
    outcome: { status: 'PENDING', gatewayStatus: stripeDisputeGatewayStatus(status), ...(reference ? { gatewayReference: reference } : {}) },
    adjustment,
  };
}

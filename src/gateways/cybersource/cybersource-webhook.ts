import { createHmac, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error';
import { readPspCurrency } from '../../money/currencies';
import { ConfirmedMoney } from '../../money/psp-currency-table';
import { cybersourceConfirmedMoney } from './cybersource-currencies';
import { operationIdFromReference } from './cybersource-requests';
import { assertNever } from '../assert-never';
import { JweError, decryptCompactJwe, isCompactJwe } from './cybersource-mle';
import { FundsHeldReason, OutcomeStatus, PspReversal, SkippedWebhookItem, WebhookEvent } from '../gateway-adapter';
import type { CommandType } from '../../contracts/payment-command';
import { AdjustmentKind, MoneyDirection } from '../../adjustments/adjustment';
import { pspIsoTimeMs } from '../psp-time';

/**
 * Cybersource Webhooks (Notification Subscriptions): signature check and event mapping.
 *
 * Signature, as documented in the Webhooks Implementation Guide ("Validating a Notification with the
 * Digital Signature Key" ▸ "Digital Signature Format", developer.cybersource.com/docs/cybs/en-us/webhooks/
 * implementation/all/rest/webhooks/wh-fg-optional-intro/wh-fg-optional-validate-intro/
 * wh-fg-optional-validate-sig-format.html): every notification carries
 * `v-c-signature: t=<timestamp>;keyId=<digital signature key id>;sig=<signature>`, where `sig` is the
 * base64 HMAC-SHA256 of `<t>.<raw body>` keyed by the base64-decoded digital signature key
 * (`keyInformation.key` of the key created at /kms/egress/v2/keys-sym). The documented example
 * `t=1617830804768` is in milliseconds; `t` is signed as sent, whatever its unit.
 *
 * `keyId` names the key ("The digital signature key ID": `keyInformation.keyId` of the key created, beside its
 * `key`), and the HMAC is checked, in constant time, with that key only: the current one (`webhook_key_id`,
 * `webhook_secret`) or the previous one during a rotation (`webhook_key_id_previous`, `webhook_secret_previous`).
 * A notification naming a key we do not hold is refused before any HMAC is computed (`unheldWebhookKeyId`): a
 * key Cybersource created since (a new key "overrides the old key") is one to configure, and its notifications
 * come back once it is (Cybersource resends what is not acknowledged). A key configured without its id (before
 * `webhook_key_id` existed) is still tried for any `keyId`, with a warning at start. No freshness
 * window: the same page defines `t` as "the timestamp at which the digital signature key was created", not
 * when the notification was sent, so an age limit on it could refuse every genuine notification once the key
 * is a few minutes old (and Cybersource retries a notification for hours). Replays are harmless: events are
 * deduplicated by `notificationId` and state transitions only move forward. The signature covers the body as sent;
 * payloads with message-level encryption (required for payment events from guide revision 26.1) are then
 * decrypted with `webhook_private_key` (`cybersource-mle.ts`).
 */

export interface CybersourceSignatureHeader {
  /** Timestamp as sent (milliseconds in the documented example). */
  t: string;
  keyId: string;
  /** Base64 HMAC-SHA256. */
  sig: string;
}

/** Parses `t=…;keyId=…;sig=…` (any order, surrounding spaces and a trailing `;` tolerated). */
export function parseSignatureHeader(value: string | undefined): CybersourceSignatureHeader | null {
  if (!value) return null;
  const parts: Record<string, string> = {};
  for (const piece of value.split(';')) {
    const eq = piece.indexOf('=');
    if (eq <= 0) continue;
    parts[piece.slice(0, eq).trim()] = piece
      .slice(eq + 1)
      .trim()
      .replace(/^"|"$/g, '');
  }
  const { t, keyId, sig } = parts;
  if (!t || !sig || !/^\d+$/.test(t)) return null;
  return { t, keyId: keyId ?? '', sig };
}

/** `sig` for a body, timestamp and base64 key: what Cybersource computes. */
export function webhookSignature(rawBody: Buffer, t: string, keyBase64: string): string {
  return createHmac('sha256', Buffer.from(keyBase64, 'base64'))
    .update(Buffer.concat([Buffer.from(`${t}.`, 'utf8'), rawBody]))
    .digest('base64');
}

/** A webhook digital signature key held for a gateway: its id (`keyId`) and the key (base64). */
export interface CybersourceWebhookKey {
  keyId: string;
  keyBase64: string;
}

/** The `v-c-signature` header, read in any case. */
function signatureHeaderOf(headers: Record<string, string>): string | undefined {
  return Object.entries(headers).find(([k]) => k.toLowerCase() === 'v-c-signature')?.[1];
}

/**
 * The held keys a notification naming `keyId` is checked with: the key of that id; a key configured without an
 * id (a deployment from before `webhook_key_id`, warned about at start) is tried whatever the notification
 * names, as it was then, so an upgrade refuses nothing. Empty keys are never tried.
 */
function keysFor(keyId: string, keys: readonly CybersourceWebhookKey[]): CybersourceWebhookKey[] {
  return keys.filter((k) => k.keyBase64 !== '' && (k.keyId === '' || (keyId !== '' && k.keyId === keyId)));
}

/**
 * The `keyId` a readable `v-c-signature` names when no key of `keys` checks it ('' when it names none), or
 * undefined: one does, or the header is missing or unreadable (the signature check refuses it).
 */
export function unheldWebhookKeyId(headers: Record<string, string>, keys: readonly CybersourceWebhookKey[]): string | undefined {
  const parsed = parseSignatureHeader(signatureHeaderOf(headers));
  if (!parsed) return undefined;
  return keysFor(parsed.keyId, keys).length > 0 ? undefined : parsed.keyId;
}

/**
 * Whether `rawBody` carries a valid `v-c-signature` made with the key of `keys` its `keyId` names, whatever
 * its `t` (see the file comment: no freshness window), or with a key configured without an id (`keysFor`). An
 * id naming no key held verifies nothing.
 */
export function verifyCybersourceWebhook(rawBody: Buffer, headers: Record<string, string>, keys: readonly CybersourceWebhookKey[]): boolean {
  const parsed = parseSignatureHeader(signatureHeaderOf(headers));
  if (!parsed) return false;
  const received = Buffer.from(parsed.sig, 'base64');
  let ok = false;
  for (const key of keysFor(parsed.keyId, keys)) {
    const expected = Buffer.from(webhookSignature(rawBody, parsed.t, key.keyBase64), 'base64');
    // Length first: timingSafeEqual throws on unequal lengths; the length of an HMAC is no secret.
    if (expected.length === received.length && timingSafeEqual(expected, received)) ok = true;
  }
  return ok;
}

/**
 * Payment event types we map (Webhooks guide, "Supported Products and Event Types": Payments,
 * eCheck and Decision Manager products).
 */
export const CYBERSOURCE_WEBHOOK_EVENT_TYPES = [
  'payments.payments.accept',
  'payments.payments.review',
  'payments.payments.reject',
  'payments.payments.partial.approval',
  'payments.reversals.accept',
  'payments.reversals.reject',
  'payments.captures.accept',
  'payments.captures.review',
  'payments.captures.reject',
  'payments.refunds.accept',
  'payments.refunds.reject',
  'payments.refunds.partial.approval',
  'payments.credits.accept',
  'payments.credits.review',
  'payments.credits.reject',
  'payments.credits.partial.approval',
  'payments.voids.accept',
  'payments.voids.reject',
  'payments.payments.accepted',
  'payments.payments.failed',
  'payments.credits.accepted',
  'payments.credits.failed',
  'payments.voids.accepted',
  'payments.voids.failed',
  'risk.casemanagement.decision.accept',
  'risk.casemanagement.decision.reject',
  'risk.profile.decision.reject',
] as const;
export type CybersourceWebhookEventType = (typeof CYBERSOURCE_WEBHOOK_EVENT_TYPES)[number];

/**
 * The commands a review accepted (`risk.casemanagement.decision.accept`) completes. Decision Manager holds
 * a flagged request's follow-on services: a sale held for review was authorized, not captured ("If decision
 * is ACCEPT, then CAPTURE can be used"), so the accept is history for it, which
 * stays PENDING until its capture is reported.
 */
export const REVIEW_ACCEPTED_SETTLES: readonly CommandType[] = ['authorize', 'revalidate'];

/** The commands whose operation is a payment (an authorization, with or without its capture). */
const PAYMENT_COMMANDS: readonly CommandType[] = ['authorize', 'sale', 'revalidate'];

/**
 * The commands whose operation an event type's outcome settles, SUCCESS or FAIL alike: the service the event reports
 * (Webhooks guide, "Supported Products and Event Types": payments, reversals, captures, refunds, credits, voids, and
 * Decision Manager's decisions about a payment). A notification names its operation by the merchant reference
 * (`clientReferenceInformation.code`), and a follow-on the bridge did not send carries its payment's (a reversal
 * Decision Manager made for a rejected review, a capture, reversal or refund made in the Business Center): that fact
 * is not the payment's own outcome. It goes to the operation holding its reference, else into the payment's history
 * (a late fact as its adjustment), never a reversal read as "authorized" nor a refused void as the payment's failure
 * (`webhooks/outcome-for-command.ts`). A capture's events settle a sale too: a sale held for review is sold by its
 * capture (`REVIEW_ACCEPTED_SETTLES`). Exhaustive.
 */
export function webhookSettles(type: CybersourceWebhookEventType): readonly CommandType[] {
  switch (type) {
    case 'payments.payments.accept':
    case 'payments.payments.review':
    case 'payments.payments.reject':
    case 'payments.payments.partial.approval':
    case 'payments.payments.accepted':
    case 'payments.payments.failed':
    case 'risk.casemanagement.decision.reject':
    case 'risk.profile.decision.reject':
      return PAYMENT_COMMANDS;
    case 'risk.casemanagement.decision.accept':
      return REVIEW_ACCEPTED_SETTLES;
    case 'payments.captures.accept':
    case 'payments.captures.review':
    case 'payments.captures.reject':
      return ['capture', 'sale'];
    case 'payments.refunds.accept':
    case 'payments.refunds.reject':
    case 'payments.refunds.partial.approval':
    case 'payments.credits.accept':
    case 'payments.credits.review':
    case 'payments.credits.reject':
    case 'payments.credits.partial.approval':
    case 'payments.credits.accepted':
    case 'payments.credits.failed':
      return ['refund'];
    // A cancel of ours is a reversal (an authorization's hold) or a void (a sale's or capture's, or our capture's or
    // refund's by its own id).
    case 'payments.reversals.accept':
    case 'payments.reversals.reject':
    case 'payments.voids.accept':
    case 'payments.voids.reject':
    case 'payments.voids.accepted':
    case 'payments.voids.failed':
      return ['cancel'];
    default:
      return assertNever(type, 'cybersource webhook event type');
  }
}

/**
 * Why a webhook's failure leaves the authorization holding the customer's funds, or undefined. A review
 * rejected (`risk.casemanagement.decision.reject`) fails a payment that was authorized and held for the
 * review ("If you approve the order after reviewing it […] you can request the credit card capture without
 * requesting a new authorization"). Cybersource reverses it only when asked: the case action's `actionList`
 * ("If decision is REJECT, then REVERSE can be used") or the Business Center's Decision Reject setting
 * ("Enable with authorization reversal selected by default", optional). The notification says neither, so
 * the hold is taken to stand and is handed to orphan reversal (`review_rejected`): a reversal Cybersource
 * already made only gets ours refused, a hold nobody reverses stays on the card until it expires.
 */
export function webhookFundsHeld(type: CybersourceWebhookEventType): FundsHeldReason | undefined {
  return type === 'risk.casemanagement.decision.reject' ? 'review_rejected' : undefined;
}

/**
 * What a successful reversal or void says of the payment it names when no cancel of ours takes it: `cancel` (the
 * `pspReversal` of `GatewayOutcome`). A cancel of ours names itself (its own merchant reference), so one naming an
 * authorization or sale the OMS was told SUCCEEDED is a Business Center or Decision Manager reversal or void (Webhooks
 * guide: a follow-on carries its payment's merchant reference): that payment's failure after success, confirmed by the
 * status inquiry, which reads a whole release as `AUTH_ALREADY_REVERSED` / `CAPTURE_ALREADY_VOIDED`
 * (`webhooks/psp-reversal.ts`); a cancel of ours of it, closed or in flight, is that cancel seen again, never reported.
 */
export function webhookPspReversal(type: CybersourceWebhookEventType): PspReversal | undefined {
  return type === 'payments.reversals.accept' || type === 'payments.voids.accept' || type === 'payments.voids.accepted' ? 'cancel' : undefined;
}

/**
 * Whether an event type's success is a follow-on refund whose `data.id` is the refund's own id (its
 * `referenceIsModification`): a refund of ours names itself and settles as today, one naming the payment that no
 * refund of ours holds (the Business Center's) is that payment's `refund_outside_bridge` (`webhooks/outside-refund.ts`).
 * Credits are not: a stand-alone credit refunds no payment.
 */
export function webhookIsRefund(type: CybersourceWebhookEventType): boolean {
  return type === 'payments.refunds.accept' || type === 'payments.refunds.partial.approval';
}

/**
 * The event id of a successful reversal, void or refund (`pspReversal`, `referenceIsModification`): its transaction's own
 * id (`data.id`, `<id>:succeeded`), not the notification's (`notified`, kept when it names none). Cybersource may tell
 * one transaction under several notifications, each with its own `notificationId` (a void as `payments.voids.accept` and
 * `payments.voids.accepted`, a second subscription of the organization, a refund's partial approval and its accept),
 * while the adjustment it becomes (`refund_outside_bridge`, `failed_after_success`, `capture_failed`) is one fact per
 * transaction: keyed by it, as Adyen's and Stripe's refunds outside the bridge are keyed by their refund. A resend keeps
 * it too.
 */
function transactionEventId(reference: string | undefined, notified: string): string {
  return reference === undefined ? notified : `${reference}:succeeded`;
}

/** Exhaustive map of an event type to the outcome of the transaction it is about. */
export function webhookEventOutcome(type: CybersourceWebhookEventType): OutcomeStatus {
  switch (type) {
    case 'payments.payments.accept':
    case 'payments.payments.partial.approval':
    case 'payments.reversals.accept':
    case 'payments.captures.accept':
    case 'payments.refunds.accept':
    case 'payments.refunds.partial.approval':
    case 'payments.credits.accept':
    case 'payments.credits.partial.approval':
    case 'payments.voids.accept':
    case 'payments.payments.accepted':
    case 'payments.credits.accepted':
    case 'payments.voids.accepted':
    case 'risk.casemanagement.decision.accept':
      return 'SUCCESS';
    case 'payments.payments.review':
    case 'payments.captures.review':
    case 'payments.credits.review':
      return 'PENDING';
    case 'payments.payments.reject':
    case 'payments.reversals.reject':
    case 'payments.captures.reject':
    case 'payments.refunds.reject':
    case 'payments.credits.reject':
    case 'payments.voids.reject':
    case 'payments.payments.failed':
    case 'payments.credits.failed':
    case 'payments.voids.failed':
    case 'risk.casemanagement.decision.reject':
    case 'risk.profile.decision.reject':
      return 'FAIL';
    default:
      return assertNever(type, 'cybersource webhook event type');
  }
}

/**
 * Which Cybersource webhook events are late facts about money (table in docs/EVENTS.md). Cybersource's
 * Webhooks guide ("Supported Products and Event Types") documents no chargeback or dispute event:
 * disputes reach merchants through Cybersource's reporting (the chargeback and retrieval reports), which
 * reconciliation reads. What webhooks do report are failures of captures, refunds and credits (eCheck
 * included), which can arrive after the operation succeeded: those are failures of the operation while it
 * is open, adjustments after. Exhaustive; `null` for every other event type.
 */
export function cybersourceLateFact(type: CybersourceWebhookEventType): { kind: AdjustmentKind; direction: MoneyDirection; failsOpenOperation: true } | null {
  switch (type) {
    // payments.payments.failed is eCheck's: a debit returned by the bank after it was accepted.
    case 'payments.captures.reject':
    case 'payments.payments.failed':
      return { kind: 'capture_failed', direction: 'debit', failsOpenOperation: true };
    case 'payments.refunds.reject':
    case 'payments.credits.reject':
    case 'payments.credits.failed':
      return { kind: 'refund_failed', direction: 'credit', failsOpenOperation: true };
    case 'payments.payments.accept':
    case 'payments.payments.review':
    case 'payments.payments.reject':
    case 'payments.payments.partial.approval':
    case 'payments.reversals.accept':
    case 'payments.reversals.reject':
    case 'payments.captures.accept':
    case 'payments.captures.review':
    case 'payments.refunds.accept':
    case 'payments.refunds.partial.approval':
    case 'payments.credits.accept':
    case 'payments.credits.review':
    case 'payments.credits.partial.approval':
    case 'payments.voids.accept':
    case 'payments.voids.reject':
    case 'payments.payments.accepted':
    case 'payments.credits.accepted':
    case 'payments.voids.accepted':
    case 'payments.voids.failed':
    case 'risk.casemanagement.decision.accept':
    case 'risk.casemanagement.decision.reject':
    case 'risk.profile.decision.reject':
      return null;
    default:
      return assertNever(type, 'cybersource webhook event type');
  }
}

function isMappedEventType(value: string): value is CybersourceWebhookEventType {
  return (CYBERSOURCE_WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * `orderInformation.amountDetails` as Cybersource confirmed it: amount in ISO minor units, and currency.
 * `partial`: a partial approval, whose amount is the one approved (`authorizedAmount`) or none: its
 * `totalAmount` is the amount asked.
 */
function moneyOf(data: Json, partial: boolean): ConfirmedMoney {
  const details = obj(obj(data.orderInformation)?.amountDetails);
  // A notification names its currency; without one, no amount can be read.
  if (!str(details?.currency)) return {};
  // What was approved, when it says (a partial approval holds less than was asked), else the total.
  return cybersourceConfirmedMoney(details, partial ? ['authorizedAmount'] : ['authorizedAmount', 'totalAmount'], '');
}

/**
 * The notification with its encrypted parts decrypted (message-level encryption, `cybersource-mle.ts`): a
 * `payload` that is a JWE, a payload entry that is one, or an entry's `data` that is one, each replaced by
 * the JSON it holds. The guide describes the encryption, not where in the notification it sits: every place a
 * payload can be is read. A clear notification comes out as it went in.
 */
function withDecryptedPayload(body: Json, gateway: string, key: string): Json {
  const open = (value: unknown): unknown => (isCompactJwe(value) ? decrypted(value, gateway, key) : value);
  const entry = (value: unknown): unknown => {
    const opened = open(value);
    const o = obj(opened);
    return o && isCompactJwe(o.data) ? { ...o, data: open(o.data) } : opened;
  };
  const payload = open(body.payload);
  return { ...body, payload: Array.isArray(payload) ? payload.map(entry) : entry(payload) };
}

/**
 * The JSON a JWE holds. Refused (the route answers 422 and the PSP sends the notification again) when no
 * key is configured, or it was not encrypted for it: a configuration to fix, after which the resends are read.
 */
function decrypted(jwe: string, gateway: string, key: string): unknown {
  if (key === '') {
    throw new GatewayError(
      'invalid_request',
      gateway,
      `webhook payload is encrypted (message-level encryption) and gateways.${gateway}.webhook_private_key is not set`,
    );
  }
  let plain: Buffer;
  try {
    plain = decryptCompactJwe(jwe, key);
  } catch (err) {
    const reason = err instanceof JweError ? err.reason : 'malformed';
    throw new GatewayError(
      'invalid_request',
      gateway,
      `encrypted webhook payload could not be decrypted with gateways.${gateway}.webhook_private_key (${reason})`,
    );
  }
  try {
    return JSON.parse(plain.toString('utf8')) as unknown;
  } catch {
    throw new GatewayError('invalid_request', gateway, 'decrypted webhook payload is not JSON');
  }
}

/**
 * Normalises a verified notification: one event per payload entry. A capture, refund or credit failure
 * also carries its adjustment (see `cybersourceLateFact`). Event types outside the payment
 * products (tokens, invoicing, reports…) carry no payment outcome and give no event; an unknown
 * `payments.*` type is reported to `skipped` and gives no event rather than a guess (acknowledged: a
 * refusal would only bring the same notification back). So is an entry naming another organization than
 * `organization` (`merchant_id`, when given), reported as `other_account`: a subscription of a parent
 * organization (a portfolio) brings its other merchants' notifications, none about an operation of ours
 * (every request of ours names `merchant_id`); an entry naming none is kept, the signature of our key
 * vouching for it, and the outcome worker still checks any account named (`outcome-scope.ts`). Throws only
 * for a body without an event type.
 */
export function parseCybersourceWebhook(
  rawBody: Buffer,
  gateway: string,
  skipped: (item: SkippedWebhookItem) => void = () => undefined,
  decryptionKey = '',
  organization = '',
): WebhookEvent[] {
  const text = rawBody.toString('utf8');
  let body: Json | undefined;
  try {
    // The whole body may be one JWE (message-level encryption); else it is JSON, whose payload may be.
    const trimmed = text.trim();
    const parsed: unknown = isCompactJwe(trimmed) ? decrypted(trimmed, gateway, decryptionKey) : JSON.parse(text);
    // A JWE sent as a JSON string is the same JWE.
    body = obj(isCompactJwe(parsed) ? decrypted(parsed, gateway, decryptionKey) : parsed);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    body = undefined;
  }
  if (!body) throw new GatewayError('invalid_request', gateway, 'webhook body is not a JSON object');
  body = withDecryptedPayload(body, gateway, decryptionKey);
  const eventType = str(body.eventType);
  if (!eventType) throw new GatewayError('invalid_request', gateway, 'webhook without eventType');
  if (!isMappedEventType(eventType)) {
    if (eventType.startsWith('payments.')) {
      const first = obj(Array.isArray(body.payload) ? body.payload[0] : body.payload);
      const reference = str(obj(first?.data)?.id);
      const account = str(first?.organizationId) ?? str(body.organizationId);
      skipped({ reason: 'unknown_event_type', eventType, ...(reference ? { reference } : {}), ...(account ? { account } : {}) });
    }
    return [];
  }
  const partial = eventType.endsWith('.partial.approval');
  // Each entry with where it sits in the body, for a field's name in a refusal.
  const listed = Array.isArray(body.payload);
  const entries = (listed ? (body.payload as unknown[]) : [body.payload])
    .map((value, at) => ({ entry: obj(value), at: listed ? `payload[${at}]` : 'payload' }))
    .filter((e): e is { entry: Json; at: string } => e.entry !== undefined);
  const notificationId = str(body.notificationId);
  const events = entries.map(({ entry, at }, i): WebhookEvent | undefined => {
    const data = obj(entry.data) ?? entry;
    const reference = str(data.id);
    // The organization (merchant id) the notification is for: on the payload entry, else on the body.
    const account = str(entry.organizationId) ?? str(body.organizationId);
    if (organization !== '' && account !== undefined && account !== organization) {
      skipped({ reason: 'other_account', eventType, account, ...(notificationId ? { eventId: notificationId } : {}), ...(reference ? { reference } : {}) });
      return undefined;
    }
    // The currency of the money it states, when it names one, must be an ISO 4217 code (upper case at
    // Cybersource, read in any case): else the entry is refused, and its money reaches no outcome or adjustment.
    const named = obj(obj(data.orderInformation)?.amountDetails)?.currency;
    const currency = named === undefined || named === null ? undefined : readPspCurrency(named);
    if (currency !== undefined && 'problem' in currency) {
      skipped({
        reason: 'unreadable',
        eventType,
        ...(reference ? { reference } : {}),
        ...(account ? { account } : {}),
        field: `${at}${obj(entry.data) ? '.data' : ''}.orderInformation.amountDetails.currency`,
        problem: currency.problem,
      });
      return undefined;
    }
    const money = moneyOf(data, partial);
    // A partial approval that names no approved amount confirms none: the operation waits (PENDING) for the
    // status inquiry, which reads it from the transaction's details, never the amount asked as approved.
    const amountless = partial && money.amount === undefined;
    const status = amountless ? 'PENDING' : webhookEventOutcome(eventType);
    const base = notificationId ?? `${eventType}:${reference ?? 'unknown'}`;
    const reason = status === 'FAIL' ? (str(obj(data.errorInformation)?.reason) ?? str(data.status) ?? eventType) : undefined;
    const late = cybersourceLateFact(eventType);
    const reversal = status === 'SUCCESS' ? webhookPspReversal(eventType) : undefined;
    const refund = status === 'SUCCESS' && reference !== undefined && webhookIsRefund(eventType);
    const held = status === 'FAIL' ? webhookFundsHeld(eventType) : undefined;
    const dated = pspIsoTimeMs(body.eventDate);
    const adjustment = late
      ? {
          adjustment: {
            ...late,
            ...(money.amount !== undefined ? { amount: money.amount } : {}),
            ...(money.currency !== undefined ? { currency: money.currency } : {}),
            ...(reason !== undefined ? { reason } : {}),
            ...(reference !== undefined ? { pspReference: reference } : {}),
            // A PSP time only (pspIsoTimeMs): past year 9999 the adjustment's event could not write it as a date.
            ...(dated !== undefined ? { occurredAt: dated } : {}),
          },
        }
      : {};
    const notified = entries.length > 1 ? `${base}:${i}` : base;
    return {
      ...adjustment,
      eventId: reversal !== undefined || refund ? transactionEventId(reference, notified) : notified,
      // A digested reference names no operation: the outcome is then found by the PSP's id.
      operationId: operationIdFromReference(str(obj(data.clientReferenceInformation)?.code)),
      gatewayReference: reference,
      ...(account !== undefined ? { account } : {}),
      outcome: {
        status,
        settles: webhookSettles(eventType),
        // The approved amount (authorizedAmount) is below the request: the synchronous PARTIAL_AUTHORIZED's fact.
        ...(partial && !amountless ? { partialApproval: true as const } : {}),
        gatewayStatus: eventType,
        ...(reference ? { gatewayReference: reference } : {}),
        ...(reason ? { reason } : {}),
        ...(held !== undefined ? { fundsHeld: held } : {}),
        ...(reversal !== undefined ? { pspReversal: reversal } : {}),
        ...(refund ? { referenceIsModification: true as const } : {}),
        ...(money.amount !== undefined ? { amount: money.amount } : {}),
        ...(money.currency !== undefined ? { currency: money.currency } : {}),
        // "The timestamp of when the event occurred" (Webhooks guide, notification fields): a success is ordered by it
        // against a dated failure of the same operation, and a failure against the success recorded.
        ...(dated !== undefined && status !== 'PENDING' ? { occurredAt: dated } : {}),
      },
    };
  });
  return events.filter((e): e is WebhookEvent => e !== undefined);
}

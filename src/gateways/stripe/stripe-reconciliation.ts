import { MoneyRefusalError } from '../../errors/money-refusal-error';
import { PspRecordError } from '../../errors/psp-record-error';
import { readPspCurrency } from '../../money/currencies';
import { pspToIsoAmount } from '../../money/psp-currency-table';
import type { CommandType } from '../../contracts/payment-command';
import type {
  LookupTarget,
  PspRecord,
  PspRecordKind,
  PspRecordLookup,
  PspRecordPage,
  PspRecordReader,
  PspRecordStatus,
  ReconciliationHttp,
  ReconciliationTypeRow,
  ReconciliationSupport,
  ReconciliationWindow,
  UnreadablePspLine,
} from '../../reconciliation/psp-record';
import { countUnmappedType } from '../unmapped-type-metric';
import { pspEpochSecondsMs } from '../psp-time';
import { assertNever } from '../assert-never';
import type { GatewayConfig } from '../gateway-config';
import { object, readLine, reconciliationAnswer, safePspType, safeReference, text } from '../reconciliation-answer';
import { STRIPE_BALANCE_TYPES, STRIPE_BALANCE_TYPE_MAP, stripeBalanceMapping } from './stripe-balance-types';
import { STRIPE_CURRENCIES } from './stripe-currencies';
import { isStripeLapse, stripeLapseLineId } from './stripe-status-map';
import { CAPTURE_OPERATION_ID_METADATA, OPERATION_ID_METADATA, STRIPE_API_VERSION } from './stripe-requests';

/**
 * Stripe's own records for reconciliation, in two passes over the window, each a list endpoint paged
 * with `starting_after` (newest first, a stable order: nothing new is ever created inside a past window):
 *
 * 1. `GET /v1/balance_transactions` (`created[gte]`/`created[lt]`, `expand[]=data.source`): every movement
 *    of money (captures, refunds, disputes, failures, fees, payouts) with its fee and net in the balance's
 *    currency. Balance transactions show only collected money, so:
 * 2. `GET /v1/payment_intents` (same window): the authorizations (captured later or not, canceled,
 *    failed, still processing), which move no money until captured.
 *
 * Cursor (opaque to the runner): `{"p":"bt"|"pi","after":"<last id>"}`, or `{"p":"done"}`.
 *
 * Both list by creation time, so a PaymentIntent cancelled in a later window than it was created in is listed in
 * neither: its cancel is read by id instead (`lookup`, `GET /v1/payment_intents/{id}`) before it would be reported
 * missing. Captures and refunds need none: each has a balance transaction created when it happened.
 */

/** Largest page Stripe lists. */
export const STRIPE_PAGE_LIMIT = 100;

/** The PaymentIntent statuses of API 2023-08-16. */
export const STRIPE_INTENT_STATUSES = [
  'canceled',
  'processing',
  'requires_action',
  'requires_capture',
  'requires_confirmation',
  'requires_payment_method',
  'succeeded',
] as const;
export type StripeIntentStatus = (typeof STRIPE_INTENT_STATUSES)[number];

interface StripeCursor {
  p: 'bt' | 'pi' | 'done';
  after?: string;
}

function cursorOf(raw: string | undefined, gateway: string): StripeCursor {
  if (raw === undefined || raw === '') return { p: 'bt' };
  try {
    const parsed = JSON.parse(raw) as unknown;
    const c = object(parsed);
    if (c && (c.p === 'bt' || c.p === 'pi' || c.p === 'done') && (c.after === undefined || typeof c.after === 'string')) {
      return { p: c.p, after: c.after as string | undefined };
    }
  } catch {
    // fall through: named below
  }
  throw new PspRecordError(gateway, 'cursor', 'cursor', 'is not a cursor of the Stripe reader');
}

/** Window bounds as Stripe's `created` seconds: `from <= created*1000 < to`. */
export function stripeCreatedRange(window: ReconciliationWindow): { gte: number; lt: number } {
  return { gte: Math.ceil(window.from / 1000), lt: Math.ceil(window.to / 1000) };
}

/** The list request of one page (path with query), `expand[]=data.source` on balance transactions. */
export function stripeListPath(pass: 'bt' | 'pi', window: ReconciliationWindow, after?: string): string {
  const { gte, lt } = stripeCreatedRange(window);
  const query = [`created[gte]=${gte}`, `created[lt]=${lt}`, `limit=${STRIPE_PAGE_LIMIT}`];
  if (pass === 'bt') query.push(`expand[]=data.source`);
  if (after !== undefined) query.push(`starting_after=${encodeURIComponent(after)}`);
  return `${pass === 'bt' ? '/v1/balance_transactions' : '/v1/payment_intents'}?${query.join('&')}`.replace(/\[/g, '%5B').replace(/\]/g, '%5D');
}

function isoAmount(gateway: string, line: string, field: string, value: unknown, currency: string): number {
  if (typeof value !== 'number') throw new PspRecordError(gateway, line, field, 'is not a number');
  try {
    return pspToIsoAmount(STRIPE_CURRENCIES, value, currency, field);
  } catch (err) {
    if (err instanceof MoneyRefusalError) throw new PspRecordError(gateway, line, err.field, err.refusal, { cause: err });
    throw err;
  }
}

/** A currency field: an ISO 4217 code (lower case at Stripe, read in any case), upper-cased; else refused naming the field. */
function currencyOf(gateway: string, line: string, field: string, value: unknown): string {
  const read = readPspCurrency(value);
  if ('problem' in read) throw new PspRecordError(gateway, line, field, read.problem);
  return read.code;
}

function idOf(value: unknown): string | undefined {
  return text(value) ?? text(object(value)?.id);
}

function metadataOf(value: unknown): Record<string, unknown> {
  return object(object(value)?.metadata) ?? {};
}

/** Our operation id on what the bridge created: `capture_operation_id` (a capture) before `operation_id`. */
function operationIdOf(metadata: Record<string, unknown>, preferCapture: boolean): string | undefined {
  return (preferCapture ? safeReference(metadata[CAPTURE_OPERATION_ID_METADATA]) : undefined) ?? safeReference(metadata[OPERATION_ID_METADATA]);
}

function withOptional(record: PspRecord, optional: Partial<PspRecord>): PspRecord {
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
  return record;
}

/**
 * One balance transaction → a record. `source` expanded (a charge, refund or dispute object) gives the
 * presentment amount and currency, the PaymentIntent and our ids; a bare source id gives only the
 * modification reference, and the amount is the balance's. Fee and net are always in the balance currency.
 */
export function parseStripeBalanceTransaction(gateway: string, bt: Record<string, unknown>): PspRecord {
  const lineId = text(bt.id);
  if (lineId === undefined) throw new PspRecordError(gateway, '?', 'id', 'is missing');
  const type = text(bt.type);
  if (type === undefined) throw new PspRecordError(gateway, lineId, 'type', 'is missing');
  const balanceCurrency = currencyOf(gateway, lineId, 'currency', bt.currency);
  const signed = isoAmount(gateway, lineId, 'amount', bt.amount, balanceCurrency);
  const fee = bt.fee === undefined || bt.fee === null ? undefined : isoAmount(gateway, lineId, 'fee', bt.fee, balanceCurrency);
  const net = bt.net === undefined || bt.net === null ? undefined : isoAmount(gateway, lineId, 'net', bt.net, balanceCurrency);
  const createdAt = pspEpochSecondsMs(bt.created);
  if (createdAt === undefined) throw new PspRecordError(gateway, lineId, 'created', 'is not epoch seconds');

  const source = object(bt.source);
  const sourceId = idOf(bt.source);
  const sourceObject = text(source?.object);
  const isDispute = sourceObject === 'dispute' || (sourceId !== undefined && /^(dp|du)_/.test(sourceId));
  const isRefund = sourceObject === 'refund' || (sourceId !== undefined && /^(re|pyr)_/.test(sourceId));
  const category = text(bt.reporting_category);

  let kind: PspRecordKind;
  let status: PspRecordStatus;
  const mapping = stripeBalanceMapping(type);
  if (mapping === undefined) {
    countUnmappedType('stripe');
    kind = 'other';
    status = 'succeeded';
  } else if (category === 'partial_capture_reversal') {
    // The uncaptured part of an authorization captured for less, given back: no refund (the capture's own
    // line is read at the amount captured, below).
    kind = 'other';
    status = 'succeeded';
  } else if (mapping === 'dispute') {
    // Adjustments: a dispute's withdrawal or reinstatement, or a failed refund's money coming back
    // (reporting_category refund_failure; its source is the refund).
    if (isDispute) kind = signed < 0 ? 'chargeback' : 'chargeback_reversed';
    else kind = category === 'refund_failure' || (isRefund && signed > 0) ? 'refund_reversed' : 'other';
    status = 'succeeded';
  } else {
    ({ kind, status } = mapping);
  }

  // The presentment money, when the expanded source names it in another currency than the balance's. A
  // charge captured for less than its authorization is booked at the authorization with a
  // partial_capture_reversal beside it (before API version 2025-03-31): its amount_captured is what moved.
  let amount = Math.abs(signed);
  let currency = balanceCurrency;
  const captured = sourceObject === 'charge' && typeof source?.amount_captured === 'number' && source.amount_captured > 0 ? source.amount_captured : undefined;
  // A reinstatement of a dispute not `won` (a partly refunded payment's: only the refunded part came back) is
  // not the dispute's amount: the balance's own amount is what moved.
  const partlyReinstated = kind === 'chargeback_reversed' && sourceObject === 'dispute' && text(source?.status) !== 'won';
  if (source !== undefined && kind !== 'other' && !partlyReinstated && source.currency !== undefined) {
    const sourceCurrency = currencyOf(gateway, lineId, 'source.currency', source.currency);
    if (sourceCurrency !== balanceCurrency) {
      amount = Math.abs(isoAmount(gateway, lineId, 'source.amount', captured ?? source.amount, sourceCurrency));
      currency = sourceCurrency;
    } else if (kind === 'capture' && captured !== undefined) {
      amount = Math.abs(isoAmount(gateway, lineId, 'source.amount_captured', captured, sourceCurrency));
    }
  }

  const intent = source?.payment_intent;
  const metadata = { ...metadataOf(intent), ...metadataOf(source) };
  const pspReference = idOf(intent) ?? (sourceObject === 'charge' ? sourceId : text(source?.charge));
  return withOptional(
    { lineId, kind, status, amount, currency, occurredAt: createdAt, pspType: safePspType(type) },
    {
      operationId: kind === 'other' ? undefined : operationIdOf(metadata, kind === 'capture'),
      pspReference: kind === 'other' ? undefined : pspReference,
      modificationReference: sourceId,
      merchantReference: safeReference(metadata.order_id),
      fee,
      net,
      settlementCurrency: currency !== balanceCurrency ? balanceCurrency : undefined,
    },
  );
}

/** What a PaymentIntent's status says of its authorization (manual capture) or its payment (automatic). */
export function stripeIntentMapping(
  status: StripeIntentStatus,
  manualCapture: boolean,
  hasError: boolean,
): { kind: PspRecordKind; status: PspRecordStatus } | null {
  const attempt: PspRecordKind = manualCapture ? 'authorization' : 'capture';
  switch (status) {
    case 'requires_capture':
      return { kind: 'authorization', status: 'succeeded' };
    case 'succeeded':
      // A captured authorization still was one; an automatic payment's capture is its balance transaction.
      return manualCapture ? { kind: 'authorization', status: 'succeeded' } : null;
    case 'processing':
    case 'requires_action':
    case 'requires_confirmation':
      return { kind: attempt, status: 'pending' };
    case 'requires_payment_method':
      // Never confirmed: nothing was attempted. After a decline it waits here with `last_payment_error`.
      return hasError ? { kind: attempt, status: 'failed' } : null;
    case 'canceled':
      return { kind: 'cancel', status: 'succeeded' };
    default:
      return assertNever(status, 'PaymentIntent status');
  }
}

/**
 * One PaymentIntent → zero, one or two records (`<pi>:authorization`, `<pi>:cancel`; a canceled
 * authorization also records that it had been authorized, when it carries a charge; one Stripe cancelled
 * itself, `cancellation_reason: automatic`, is `<pi>:authorization_expired` instead of a cancel, of what was
 * not captured). `amount` is the intent's amount, in its currency; our operation id from `metadata.operation_id`.
 */
export function parseStripePaymentIntent(gateway: string, pi: Record<string, unknown>): PspRecord[] {
  const id = text(pi.id);
  if (id === undefined) throw new PspRecordError(gateway, '?', 'id', 'is missing');
  const status = text(pi.status);
  if (status === undefined || !(STRIPE_INTENT_STATUSES as readonly string[]).includes(status)) {
    countUnmappedType('stripe');
    return [];
  }
  const manual = pi.capture_method === 'manual';
  const mapping = stripeIntentMapping(status as StripeIntentStatus, manual, object(pi.last_payment_error) !== undefined);
  if (mapping === null) return [];
  const currency = currencyOf(gateway, id, 'currency', pi.currency);
  const amount = isoAmount(gateway, id, 'amount', pi.amount, currency);
  const createdAt = pspEpochSecondsMs(pi.created);
  if (createdAt === undefined) throw new PspRecordError(gateway, id, 'created', 'is not epoch seconds');
  // When it was cancelled, when Stripe says so in a time a Date can hold, else when it was created.
  const canceledAt = mapping.kind === 'cancel' ? pspEpochSecondsMs(pi.canceled_at) : undefined;
  const occurredAt = canceledAt ?? createdAt;
  const metadata = metadataOf(pi);
  const base = (kind: PspRecordKind, recordStatus: PspRecordStatus, at: number): PspRecord =>
    withOptional(
      { lineId: `${id}:${kind}`, kind, status: recordStatus, amount, currency, occurredAt: at, pspType: `payment_intent.${status}` },
      // The cancel endpoint takes no metadata: a cancel is matched by the PaymentIntent alone.
      { operationId: kind === 'cancel' ? undefined : operationIdOf(metadata, false), pspReference: id, merchantReference: safeReference(metadata.order_id) },
    );
  // Stripe's own cancellation of an authorization (its capture window closed): the lapse of what was not
  // captured, a fact about the authorization (found by its operation id), not a cancel anyone asked for.
  const records = [
    isStripeLapse(pi)
      ? {
          ...base('authorization_expired', 'succeeded', occurredAt),
          lineId: stripeLapseLineId(id),
          amount: amount - Math.min(amount, isoAmount(gateway, id, 'amount_received', pi.amount_received ?? 0, currency)),
        }
      : base(mapping.kind, mapping.status, occurredAt),
  ];
  if (mapping.kind === 'cancel' && manual && idOf(pi.latest_charge) !== undefined) records.unshift(base('authorization', 'succeeded', createdAt));
  return records;
}

function listPage(gateway: string, what: string, answer: { status: number; body: string }): { data: Record<string, unknown>[]; hasMore: boolean } {
  const body = reconciliationAnswer(gateway, what, answer);
  if (!Array.isArray(body.data)) throw new PspRecordError(gateway, what, 'data', 'is not a list');
  return { data: body.data.map((item, i) => object(item) ?? ({ id: `${what}[${i}]` } as Record<string, unknown>)), hasMore: body.has_more === true };
}

/**
 * The commands whose operations the Stripe lookup reads: the PaymentIntent an authorization created, or the one a
 * cancel cancelled (listed only in the window it was created in).
 */
export const STRIPE_LOOKUP_COMMANDS: readonly CommandType[] = ['authorize', 'revalidate', 'cancel'];

/** A PaymentIntent id as Stripe writes it: the only thing the lookup puts into its path. */
const PAYMENT_INTENT_ID = /^pi_[A-Za-z0-9]{1,250}$/;

const LOOKUP_WHAT = 'GET /v1/payment_intents/{id}';

/** The lookup request of one PaymentIntent (`GET /v1/payment_intents/{intent}`). */
export function stripeLookupPath(id: string): string {
  return `/v1/payment_intents/${encodeURIComponent(id)}`;
}

/** Whether a 404 is Stripe's own "no such object" (`error.code` `resource_missing`), not a wrong base URL's. */
function isResourceMissing(body: string): boolean {
  try {
    return object(object(JSON.parse(body) as unknown)?.error)?.code === 'resource_missing';
  } catch {
    return false;
  }
}

/**
 * Reads the PaymentIntent of an operation no listed line named: the one its success recorded
 * (`gatewayReference`), or, for a cancel, the one it was sent for (`gateway_key`). Parsed as the list's are
 * (`parseStripePaymentIntent`): a cancelled one gives `<pi>:cancel`, the very line a list would have given.
 */
export function stripeRecordLookup(gateway: GatewayConfig, http: ReconciliationHttp): PspRecordLookup {
  return {
    commands: STRIPE_LOOKUP_COMMANDS,
    source: LOOKUP_WHAT,
    async read(target: LookupTarget): Promise<PspRecord[] | null> {
      const named = [target.gatewayReference, target.command === 'cancel' ? target.gatewayKey : undefined];
      const id = named.find((v): v is string => v !== undefined && PAYMENT_INTENT_ID.test(v));
      if (id === undefined) return null;
      const answer = await http.send({ method: 'GET', path: stripeLookupPath(id), headers: { 'stripe-version': STRIPE_API_VERSION } });
      if (answer.status === 404 && isResourceMissing(answer.body)) return null;
      const body = reconciliationAnswer(gateway.name, LOOKUP_WHAT, answer);
      if (text(body.id) !== id) throw new PspRecordError(gateway.name, LOOKUP_WHAT, 'id', 'is not the PaymentIntent asked for');
      return parseStripePaymentIntent(gateway.name, body);
    },
  };
}

/** The reader of one configured Stripe gateway. */
export function stripeRecordReader(gateway: GatewayConfig, http: ReconciliationHttp): PspRecordReader {
  return {
    lookup: stripeRecordLookup(gateway, http),
    async *read(window: ReconciliationWindow, rawCursor?: string): AsyncIterable<PspRecordPage> {
      let cursor = cursorOf(rawCursor, gateway.name);
      while (cursor.p !== 'done') {
        const pass = cursor.p;
        const what = pass === 'bt' ? 'GET /v1/balance_transactions' : 'GET /v1/payment_intents';
        const answer = await http.send({ method: 'GET', path: stripeListPath(pass, window, cursor.after), headers: { 'stripe-version': STRIPE_API_VERSION } });
        const { data, hasMore } = listPage(gateway.name, what, answer);
        const unreadable: UnreadablePspLine[] = [];
        const records = data.flatMap((item, i) => {
          const where = (): string => `${what} data[${i}]${cursor.after !== undefined ? ` after ${cursor.after}` : ''}`;
          const read =
            pass === 'bt'
              ? readLine(() => [parseStripeBalanceTransaction(gateway.name, item)], unreadable, where)
              : readLine(() => parseStripePaymentIntent(gateway.name, item), unreadable, where);
          return read ?? [];
        });
        const last = data.length > 0 ? text(data[data.length - 1].id) : undefined;
        if (hasMore && last === undefined) throw new PspRecordError(gateway.name, what, 'data', 'has more pages but its last item has no id');
        cursor = hasMore ? { p: pass, after: last } : { p: pass === 'bt' ? 'pi' : 'done' };
        yield { records, cursor: JSON.stringify(cursor), ...(unreadable.length > 0 ? { unreadable } : {}) };
      }
    },
  };
}

function stripeTypeRows(): ReconciliationTypeRow[] {
  const rows: ReconciliationTypeRow[] = STRIPE_BALANCE_TYPES.map((type) => {
    const m = STRIPE_BALANCE_TYPE_MAP[type];
    return {
      pspType: `balance transaction \`${type}\``,
      reads: m === 'dispute' ? 'on a dispute: chargeback (funds withdrawn) or chargeback_reversed (reinstated); else other' : `${m.kind} ${m.status}`,
    };
  });
  for (const status of STRIPE_INTENT_STATUSES) {
    for (const manual of [true, false]) {
      const m = stripeIntentMapping(status, manual, true);
      rows.push({
        pspType: `PaymentIntent \`${status}\` (capture ${manual ? 'manual' : 'automatic'})`,
        reads:
          m === null
            ? 'no record'
            : `${m.kind} ${m.status}${status === 'canceled' && manual ? '; authorization_expired succeeded when `cancellation_reason` is `automatic`' : ''}`,
      });
    }
  }
  return rows;
}

/** `GatewayDefinition.reconciliation` of Stripe. */
export const stripeReconciliation: ReconciliationSupport = {
  source: 'GET /v1/balance_transactions, GET /v1/payment_intents',
  reader: stripeRecordReader,
  types: stripeTypeRows(),
};

import { Channel, CommandType, Payment, PaymentCommand } from '../contracts/payment-command';
import { Decline, parseDecline } from '../errors/decline';
import { OperationState } from './operation-state';
import { RoutingRecord, parseRoutingRecord } from './routing-record';
import { CustomerAction, parseCustomerAction } from '../gateways/customer-action';
import { StoredCard, parseStoredCard } from '../gateways/stored-card';
import { NETWORK_TRANSACTION_ID_FIELD, networkTransactionIdOf } from '../gateways/network-transaction-id';
import { SUCCEEDED_AFTER_FAILURE_FIELD, SuccessAfterFailureMark, UNDONE_FIELD, parseSuccessAfterFailureMark } from '../adjustments/adjustment';
import { CANCEL_EFFECT_FIELD, CancelEffect, UNDONE_BY_VOID_FIELD, parseCancelEffect } from './cancel-effect';
import { CancelBasis, parseCancelBasis } from './cancel-basis';
import { REFUNDS_REREAD_AFTER_VOID_FIELD, VOID_READING_CLAIMS_FIELD } from './refunds-undecided-mark';

/** One operation as the ledger holds it (docs/ARCHITECTURE.md). Times are epoch milliseconds. */
export interface OperationRecord {
  id: string;
  command: CommandType;
  channel: Channel;
  state: OperationState;
  payment: Payment;
  /** Channel-supplied sequence, if any. */
  sequence?: string;
  receivedAt: number;
  createdAt: number;
  updatedAt: number;
  /** Gateway calls made so far. */
  attempts: number;
  /**
   * When the first gateway call was recorded (epoch ms; absent on records from before it was kept): no
   * authorization of this operation can be older, so an authorization's expiry falls back on it.
   */
  firstAttemptAt?: number;
  reason?: string;
  gatewayReference?: string;
  newGatewayKey?: string;
  gatewayStatus?: string;
  /** FAILED: the normalized decline reported on the FAIL event (stored as one JSON field, `decline`). */
  decline?: Decline;
  /** PENDING/UNKNOWN/UNRESOLVED: when the poller should ask next (epoch ms) and which step of the schedule it is on. */
  nextCheckAt?: number;
  pollStep?: number;
  /**
   * A successful authorization: when it expires, and when it becomes an orphan if still uncaptured (epoch ms;
   * none: never by age). Indexed for the lifecycle sweeps (authorization-index.ts).
   */
  expiresAt?: number;
  orphanAt?: number;
  /** A successful authorization: the capture, cancel or revalidate that closed it. */
  closedBy?: string;
  /**
   * A capture, cancel, refund, validate or revalidate: the id of the authorization it acts on, recorded when
   * its attempt is (once the PSP reference it names was resolved to one of ours), and when it closes one.
   */
  authorizationId?: string;
  /** The command field a refusal of ours is about (`payment.currency`), with `reason`. */
  reasonField?: string;
  /** Amount the PSP confirmed for this operation, minor units of `confirmedCurrency` (absent: it did not say). */
  confirmedAmount?: number;
  /** ISO 4217 currency the PSP confirmed (absent: it did not say). */
  confirmedCurrency?: string;
  /** ACTION_REQUIRED: what the storefront needs (kept as `{kind}` only once the operation moves on). */
  action?: CustomerAction;
  /**
   * ACTION_REQUIRED: the deadline the PSP gave for the customer's action (epoch ms), when it gave one the
   * bridge took (`delivery/action-deadline.ts`); `nextCheckAt` is then that deadline plus the grace.
   */
  actionExpiresAt?: number;
  /** Token on first use: the reusable key of the method the PSP stored with this payment. */
  storedToken?: string;
  /** A tokenize, or a payment storing its method: the stored card as the PSP confirmed it (no card number). */
  storedCard?: StoredCard;
  /**
   * A SUCCEEDED authorize or sale: the card scheme's transaction id of the payment as the PSP reported it
   * (`GatewayOutcome.networkTransactionId`), what a later merchant-initiated payment quotes. Absent: it named none.
   */
  networkTransactionId?: string;
  /**
   * A SUCCEEDED refund, capture or sale the PSP later undid (a refund failed or reversed, a capture failed): the
   * id of the adjustment that said so. Written by the adjustment store's script only (`UNDONE_FIELD`), never
   * by a transition; the state stays SUCCEEDED.
   */
  undoneBy?: string;
  /**
   * A capture, sale or refund a void of ours undid (`UNDONE_BY_VOID_FIELD`): the cancel whose confirmed void marked
   * it undone. The mark is that void's while it equals `undoneBy`. Absent otherwise.
   */
  undoneByVoid?: string;
  /**
   * A FAILED capture, sale, refund or cancel the PSP later said it did after all (a `succeeded_after_failure`): the
   * adjustment that said so and the amount it confirmed. A capture, sale or refund then counts as captured (or
   * refunded) at that amount, unless a later failure of it marks it `undoneBy`; a cancel as done. Written by the
   * adjustment store's script only (`SUCCEEDED_AFTER_FAILURE_FIELD`), never by a transition; the state stays FAILED.
   */
  succeededAfterFailure?: SuccessAfterFailureMark;
  /**
   * A SUCCEEDED cancel at a PSP whose cancel can void what was captured (Cybersource): the capture or sale it
   * voided, or the hold or uncaptured remainder it released (`cancel-effect.ts`), written with its success.
   */
  cancelEffect?: CancelEffect;
  /**
   * A cancel at a PSP whose cancel is built from the captures standing (Cybersource): what its first attempt was
   * built on (`cancel-basis.ts`), written with that attempt; its retries, inquiries and outcome read it.
   */
  cancelBasis?: CancelBasis;
  /**
   * SUCCEEDED: when the PSP says the success happened (epoch ms), as the outcome that moved it there dated it
   * (`GatewayOutcome.occurredAt`: an Adyen `eventDate`, a Stripe event's `created`, a Stripe cancel's `canceled_at` or
   * refund's `created`, a Cybersource `eventDate` or `submitTimeUtc`);
   * absent when it did not say. Written with that move only, never changed: a failure of the operation the PSP
   * dates before it is an older event (`webhooks/failure-after-success.ts`), not an undo.
   */
  pspSucceededAt?: number;
  /**
   * The PSP's response time (whole ms): the round trip of the last PSP call whose answer was recorded as this
   * operation's outcome (the request's answer, or a status inquiry's, delivery's or the poller's: two calls for a
   * gateway whose inquiry takes two), as the history's `elapsed_ms` of that outcome entry says it. The event's `gateway_response_time`.
   * Absent when no answer of a call of ours was recorded (refused unsent, settled by a webhook or report only).
   */
  pspResponseMs?: number;
  /**
   * A capture or refund recorded FAILED whose PSP documents that it retries it itself (`GatewayOutcome.retriedByPsp`:
   * Adyen's technical issue): the PSP's reason, kept. A capture's amount stays claimed of the authorization (a second
   * capture of it is refused `amount_held_by_failed_capture`), though nothing was collected (no refund can give it
   * back); a refund's stays counted as given back (a refund of it is refused `amount_held_by_failed_refund`); until the
   * PSP's retry marks it done (`succeededAfterFailure`). Absent otherwise.
   */
  heldForPspRetry?: string;
  /**
   * A cancel recorded FAILED that its PSP refused BECAUSE the payment is captured already (the gateway's rule,
   * `GatewayDefinition.voidRefusedAsCaptured`: an operator's capture at the PSP, an automatic capture): what the PSP stated
   * captured (`CAPTURED_AT_PSP_FIELD`, JSON `{amount, currency}` in ISO minor units, `{}` when its answer stated no
   * amount). A refund of the payment may give back up to that amount (`capturedToRefund`); a split tender's rollback
   * refunds it instead of ending REVERSAL_FAILED. Absent otherwise.
   */
  capturedAtPsp?: CapturedAtPsp;
  /**
   * A SUCCEEDED cancel whose void undid a capture or sale: what reading its payment, after the void's mark and before
   * its move, found (`REFUNDS_REREAD_AFTER_VOID_FIELD`: `fit`, `undecided`, or the refunded-beyond figures as JSON,
   * with `saidBy` when another fact or move says them), written with its success so its event says it
   * (refunds-undecided-mark.ts, {@link parseRereadAfterVoid}). Absent otherwise.
   */
  refundsRereadAfterVoid?: string;
  /**
   * A cancel one of whose readings of its void's success claimed (or was about to claim) refunded-beyond figures on its
   * payment, before its move (`VOID_READING_CLAIMS_FIELD`, `1`): only such a cancel, found SUCCEEDED by another move,
   * looks for claims of its id its event does not say (refunded-beyond-alarm.ts, `sayClaimsOffEvent`). Absent otherwise.
   */
  voidReadingClaims?: string;
  /** Digest of the command's money fields (`commandDigest`); absent on records older than digests. */
  digest?: string;
  /**
   * What the orchestration decided (gateway, candidates, decisions, failovers), when anything was
   * configured to decide; absent: the operation goes to `payment.gateway` (see `gatewayOf`).
   */
  routing?: RoutingRecord;
}

/** What a PSP stated captured when it refused a void (`OperationRecord.capturedAtPsp`); both absent: it stated no amount. */
export interface CapturedAtPsp {
  amount?: number;
  currency?: string;
}

/** A stored {@link CapturedAtPsp}, read back checked (an imported record may hold anything): a whole amount with an ISO-shaped currency, else none. */
export function parseCapturedAtPsp(value: unknown): CapturedAtPsp | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { amount, currency } = value as Record<string, unknown>;
  return Number.isSafeInteger(amount) && (amount as number) >= 0 && typeof currency === 'string' && /^[A-Z]{3}$/.test(currency)
    ? { amount: amount as number, currency }
    : {};
}

/** The hash field of a cancel its PSP refused because the payment is captured (`OperationRecord.capturedAtPsp`), read with the dependents. */
export const CAPTURED_AT_PSP_FIELD = 'captured_at_psp';

/** How one field is written to and read from the record's Redis hash. */
interface Codec<T> {
  encode(value: T): string;
  decode(stored: string): T | undefined;
}

const text: Codec<string> = { encode: (v) => v, decode: (s) => s };
/** Read back checked again (an imported file's record may hold anything there): only an id's shape is kept. */
const networkTransactionIdCodec: Codec<string> = { encode: (v) => v, decode: (s) => networkTransactionIdOf(s) };
const int: Codec<number> = { encode: (v) => String(v), decode: (s) => Number(s) };
const json = <T>(parse: (value: unknown) => T | undefined): Codec<T> => ({
  encode: (v) => JSON.stringify(v),
  // An unreadable stored value is dropped (for `decline`, the event then derives it from the reason).
  decode: (s) => {
    try {
      return parse(JSON.parse(s) as unknown);
    } catch {
      return undefined;
    }
  },
});

/** The hash field of a FAILED capture or refund the PSP retries itself (`OperationRecord.heldForPspRetry`), read with the dependents. */
export const HELD_FOR_PSP_RETRY_FIELD = 'held_for_psp_retry';
/**
 * The hash field of a capture or refund whose hold for its PSP's retry an operator released (the PSP confirmed no retry
 * will come): JSON `{ at, by, reason, psp_reason }` (`Ledger.releaseHeldForPspRetry`), written once in place of
 * `HELD_FOR_PSP_RETRY_FIELD`. Not part of the record: its history entry says the same. Read with the dependents: a
 * re-capture after a release is still one by the PSP's retry (`DependentSummary.doneByPspRetry`).
 */
export const HELD_FOR_PSP_RETRY_RELEASED_FIELD = 'held_for_psp_retry_released';

type FieldTable = { [F in keyof OperationRecord]-?: { hash: string; codec: Codec<NonNullable<OperationRecord[F]>> } };

/**
 * THE mapping between an operation record and its Redis hash: each field's name in the hash and its
 * encoding. Everything that writes or reads a record (create, transitions, read-backs) goes through it.
 * The hash also holds fields the record does not expose: `authorization_key` and `authorization_ref`
 * (authorization-index.ts), the hold marks `held_since` and `parked_at` (`Ledger.markHeld`), the poller's
 * `orphan_dry_run_at` and `orphan_nothing_left_at`, a re-capture that arrived before the capture failure it follows,
 * `recaptured_at` and `recapture` (`AdjustmentStore.holdRecapture`), an operator's release of a hold for the PSP's retry
 * `held_for_psp_retry_released` (`Ledger.releaseHeldForPspRetry`), the `dependents_waiting` flag of an operation
 * others wait for (`Ledger.waitFor`), a dependent's wait marks `wait_started_at:<kind>` (one per kind of wait) and
 * `dependent_wait_noted_at` (`DeliveryService`), and a capture's `refunds_undecided_by`, `refunds_undecided_refs` and `refunds_reread`
 * (refunds-undecided-mark.ts: an undecided refund reading counted it in flight; what its failure's reading found), and a
 * cancel's `refunds_reread_after_void` (what reading its payment after its void of a capture or sale found; also a
 * record field, `refundsRereadAfterVoid`, written with the cancel's success) and its
 * `refunds_claim_said_off_event:<currency>:<captured>:<refunded>` (a claim of its id no event says, said once:
 * `claimSaidOffEventField`), a capture's or sale's
 * `refunds_alarm_withdrawn` (a refunded-beyond alarm its failure raised that no longer holds), and a payment's
 * `refunded_beyond_said:<currency>:<captured>:<refunded>` (who says those refunds beyond: `refundedBeyondSaidField`) and
 * `refunded_beyond_given_up:<currency>:<captured>:<refunded>` (whose such claim a withdrawal gave up: `givenUpClaimField`).
 */
const FIELDS: FieldTable = {
  id: { hash: 'id', codec: text },
  command: { hash: 'command', codec: text as Codec<CommandType> },
  channel: { hash: 'channel', codec: text as Codec<Channel> },
  state: { hash: 'state', codec: text as Codec<OperationState> },
  // The payment is written by create only and never changes.
  payment: { hash: 'payment', codec: { encode: (v) => JSON.stringify(v), decode: (s) => JSON.parse(s) as Payment } },
  sequence: { hash: 'sequence', codec: text },
  receivedAt: { hash: 'received_at', codec: int },
  createdAt: { hash: 'created_at', codec: int },
  updatedAt: { hash: 'updated_at', codec: int },
  attempts: { hash: 'attempts', codec: int },
  firstAttemptAt: { hash: 'first_attempt_at', codec: int },
  reason: { hash: 'reason', codec: text },
  gatewayReference: { hash: 'gateway_reference', codec: text },
  newGatewayKey: { hash: 'new_gateway_key', codec: text },
  gatewayStatus: { hash: 'gateway_status', codec: text },
  decline: { hash: 'decline', codec: json(parseDecline) },
  nextCheckAt: { hash: 'next_check_at', codec: int },
  pollStep: { hash: 'poll_step', codec: int },
  expiresAt: { hash: 'expires_at', codec: int },
  orphanAt: { hash: 'orphan_at', codec: int },
  closedBy: { hash: 'closed_by', codec: text },
  authorizationId: { hash: 'authorization_id', codec: text },
  reasonField: { hash: 'reason_field', codec: text },
  confirmedAmount: { hash: 'confirmed_amount', codec: int },
  confirmedCurrency: { hash: 'confirmed_currency', codec: text },
  digest: { hash: 'digest', codec: text },
  routing: { hash: 'routing', codec: json(parseRoutingRecord) },
  action: { hash: 'action', codec: json(parseCustomerAction) },
  actionExpiresAt: { hash: 'action_expires_at', codec: int },
  storedToken: { hash: 'stored_token', codec: text },
  storedCard: { hash: 'stored_card', codec: json(parseStoredCard) },
  networkTransactionId: { hash: NETWORK_TRANSACTION_ID_FIELD, codec: networkTransactionIdCodec },
  undoneBy: { hash: UNDONE_FIELD, codec: text },
  undoneByVoid: { hash: UNDONE_BY_VOID_FIELD, codec: text },
  succeededAfterFailure: { hash: SUCCEEDED_AFTER_FAILURE_FIELD, codec: json(parseSuccessAfterFailureMark) },
  cancelEffect: { hash: CANCEL_EFFECT_FIELD, codec: json(parseCancelEffect) },
  cancelBasis: { hash: 'cancel_basis', codec: json(parseCancelBasis) },
  pspSucceededAt: { hash: 'psp_succeeded_at', codec: int },
  pspResponseMs: { hash: 'psp_response_ms', codec: int },
  heldForPspRetry: { hash: HELD_FOR_PSP_RETRY_FIELD, codec: text },
  capturedAtPsp: { hash: CAPTURED_AT_PSP_FIELD, codec: json(parseCapturedAtPsp) },
  refundsRereadAfterVoid: { hash: REFUNDS_REREAD_AFTER_VOID_FIELD, codec: text },
  voidReadingClaims: { hash: VOID_READING_CLAIMS_FIELD, codec: text },
};

const RECORD_FIELDS = Object.keys(FIELDS) as (keyof OperationRecord)[];

/** The record fields a transition may set besides the state (the rest are set at create, or by the scripts). */
export const TRANSITION_SETTABLE = [
  'reason',
  'gatewayReference',
  'newGatewayKey',
  'gatewayStatus',
  'decline',
  'nextCheckAt',
  'pollStep',
  'expiresAt',
  'orphanAt',
  'reasonField',
  'confirmedAmount',
  'confirmedCurrency',
  'routing',
  'authorizationId',
  'action',
  'actionExpiresAt',
  'storedToken',
  'storedCard',
  'networkTransactionId',
  'cancelEffect',
  'cancelBasis',
  'pspSucceededAt',
  'pspResponseMs',
  'heldForPspRetry',
  'capturedAtPsp',
  'refundsRereadAfterVoid',
] as const satisfies readonly (keyof OperationRecord)[];

/**
 * Fields a transition may set besides the state; undefined fields are left as they are. `decline` is the
 * decline of a move to FAILED; `expiresAt`/`orphanAt` those of an authorization's success.
 */
export type TransitionFields = Partial<Pick<OperationRecord, (typeof TRANSITION_SETTABLE)[number]>> & {
  /** Count this transition as one more gateway attempt. */
  countAttempt?: boolean;
  /**
   * A capture, cancel or revalidate's success: the `gateway_key` it named, whose authorization it closes, and
   * the id of the authorization the caller resolved that key to, when it did (`authorizationId`): with it an
   * authorization named by PSP reference is closed in the same script.
   */
  closesAuthorization?: { gateway: string; key: string; id?: string };
  /**
   * Move only from this state: a caller that decided on a record it read earlier (the poller, after an inquiry
   * that may take the gateway's timeout) leaves an operation someone else moved meanwhile as it is.
   */
  onlyFrom?: OperationState;
  /**
   * Move only while the operation still counts this many gateway attempts (with `onlyFrom`: the record the caller
   * read). The state alone misses another worker's resend in between (SENT to SENT, one more attempt, which may be
   * at the PSP): a refusal decided before it must change nothing.
   */
  onlyAttempts?: number;
  /**
   * History entries written just before the move's own entry, in the same script, only when the move applies (nothing
   * of them otherwise): a failover's step, which is on record only with the attempt (or the refusal) it led to.
   */
  precededBy?: readonly HistoryEntryDraft[];
};

/** A history entry as a caller hands it to the ledger (`Interaction` without its time, which the ledger adds). */
export interface HistoryEntryDraft {
  event: string;
  [detail: string]: unknown;
}

/** Appends `field`'s hash name and encoded value to `out` when `value` is defined. */
function put<F extends keyof OperationRecord>(out: string[], field: F, value: OperationRecord[F] | undefined): void {
  if (value === undefined) return;
  const { hash, codec } = FIELDS[field] as { hash: string; codec: Codec<NonNullable<OperationRecord[F]>> };
  out.push(hash, codec.encode(value as NonNullable<OperationRecord[F]>));
}

/** The defined fields of `record` as the flat `[name, value, …]` list the hash is written with. */
export function encodeRecord(record: Partial<OperationRecord>): string[] {
  const out: string[] = [];
  for (const field of RECORD_FIELDS) put(out, field, record[field]);
  return out;
}

/**
 * What a transition writes besides the state, `updated_at` and `attempts`, as a flat `[name, value, …]` list:
 * the defined settable fields, and the authorization a closing command names (`authorization_key`,
 * `authorization_ref`, read by the authorization index in the same script).
 */
export function encodeTransitionFields(fields: TransitionFields): string[] {
  const out: string[] = [];
  for (const field of TRANSITION_SETTABLE) put(out, field, fields[field]);
  if (fields.closesAuthorization) {
    out.push(
      'authorization_key',
      fields.closesAuthorization.key,
      'authorization_ref',
      `${fields.closesAuthorization.gateway}:${fields.closesAuthorization.key}`,
    );
  }
  return out;
}

/** Every field of a record, undefined: what a decoded record starts from. */
type BlankRecord = { [F in keyof OperationRecord]-?: unknown };

/**
 * A record with every field present and undefined, as one literal in the field table's order (the compiler
 * checks that it names every field): records then share one shape whatever their history, and V8 keeps them
 * as fast objects (a record built by assigning its fields one by one by name is a dictionary, slower to
 * read and to copy on every transition).
 */
function blankRecord(): BlankRecord {
  return {
    id: undefined,
    command: undefined,
    channel: undefined,
    state: undefined,
    payment: undefined,
    sequence: undefined,
    receivedAt: undefined,
    createdAt: undefined,
    updatedAt: undefined,
    attempts: undefined,
    firstAttemptAt: undefined,
    reason: undefined,
    gatewayReference: undefined,
    newGatewayKey: undefined,
    gatewayStatus: undefined,
    decline: undefined,
    nextCheckAt: undefined,
    pollStep: undefined,
    expiresAt: undefined,
    orphanAt: undefined,
    closedBy: undefined,
    authorizationId: undefined,
    reasonField: undefined,
    confirmedAmount: undefined,
    confirmedCurrency: undefined,
    digest: undefined,
    routing: undefined,
    action: undefined,
    actionExpiresAt: undefined,
    storedToken: undefined,
    storedCard: undefined,
    networkTransactionId: undefined,
    undoneBy: undefined,
    undoneByVoid: undefined,
    succeededAfterFailure: undefined,
    cancelEffect: undefined,
    cancelBasis: undefined,
    pspSucceededAt: undefined,
    pspResponseMs: undefined,
    heldForPspRetry: undefined,
    capturedAtPsp: undefined,
    refundsRereadAfterVoid: undefined,
    voidReadingClaims: undefined,
  };
}

/** A field's value as the hash holds it (`undefined`: not stored), decoded. */
function decodeField(field: keyof OperationRecord, stored: string | undefined): unknown {
  return stored === undefined ? undefined : (FIELDS[field].codec as Codec<unknown>).decode(stored);
}

/** A record from its Redis hash; `payment` may be passed when the caller already holds it parsed. */
export function decodeRecord(hash: Readonly<Record<string, string>>, payment?: Payment): OperationRecord {
  const record: BlankRecord = blankRecord();
  for (const field of RECORD_FIELDS) {
    if (field === 'payment' && payment) continue;
    // Every field is present, undefined when not stored: the record's shape does not depend on its history.
    record[field] = decodeField(field, hash[FIELDS[field].hash]);
  }
  if (payment) record.payment = payment;
  record.attempts ??= 0;
  return record as unknown as OperationRecord;
}

/** Record field by hash name. */
const FIELD_BY_HASH: ReadonlyMap<string, keyof OperationRecord> = new Map(RECORD_FIELDS.map((f) => [FIELDS[f].hash, f]));

/**
 * `decodeRecord(hashFromPairs(pairs), payment)` without the intermediate hash: a record from the flat
 * `[name, value, …]` list a script wrote or read back (a name given twice: the last value).
 */
export function decodeRecordPairs(pairs: readonly string[], payment?: Payment): OperationRecord {
  const record: BlankRecord = blankRecord();
  for (let i = 0; i < pairs.length; i += 2) {
    const field = FIELD_BY_HASH.get(pairs[i]);
    if (field === undefined || (field === 'payment' && payment)) continue;
    record[field] = decodeField(field, pairs[i + 1]);
  }
  if (payment) record.payment = payment;
  record.attempts ??= 0;
  return record as unknown as OperationRecord;
}

/** The hash names of `fields`, in order: an HMGET of only what a reader needs (see {@link decodeFields}). */
export function hashNamesOf(fields: readonly (keyof OperationRecord)[]): string[] {
  return fields.map((f) => FIELDS[f].hash);
}

/**
 * Those `fields` of a record from an HMGET of `hashNamesOf(fields)` (same order); `null` when the record is
 * absent (no `state`, or no `state` asked for and every value null). Decodes only what was read: a bulk
 * reader (reconciliation) spends nothing on the fields it does not use.
 */
export function decodeFields<K extends keyof OperationRecord>(fields: readonly K[], values: readonly (string | null)[]): Pick<OperationRecord, K> | null {
  const record: Partial<Record<K, unknown>> = {};
  let present = false;
  for (let i = 0; i < fields.length; i += 1) {
    const stored = values[i];
    const field = fields[i];
    if (stored === null || stored === undefined) {
      if (field === 'state') return null;
      record[field] = field === 'attempts' ? 0 : undefined;
      continue;
    }
    present = true;
    record[field] = (FIELDS[field] as { codec: Codec<unknown> }).codec.decode(stored);
  }
  return present ? (record as Pick<OperationRecord, K>) : null;
}

/** `[name, value, name, value…]` (a field list, an HGETALL reply) as an object. */
export function hashFromPairs(pairs: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) hash[pairs[i]] = pairs[i + 1];
  return hash;
}

/**
 * The record `create` writes for a new command, before it is written (state RECEIVED, no attempt): what
 * the fast path inspects to decide whether the first attempt can be recorded with the creation. Pure.
 */
export function draftRecord(id: string, command: PaymentCommand, now: number): OperationRecord {
  return {
    id,
    command: command.command,
    channel: command.channel,
    state: 'RECEIVED',
    payment: command.payment,
    sequence: command.sequence === undefined ? undefined : String(command.sequence),
    receivedAt: Date.parse(command.received_at) || now,
    createdAt: now,
    updatedAt: now,
    attempts: 0,
  };
}

/**
 * `record` as a transition to `to` with `fields` at `now` leaves it, if it applies to exactly that record:
 * the script's rules (undefined fields stay as they were; `countAttempt` adds one). Pure.
 */
export function afterTransition(record: OperationRecord, to: OperationState, fields: TransitionFields, now: number): OperationRecord {
  const after: OperationRecord = { ...record, state: to, updatedAt: now, attempts: record.attempts + (fields.countAttempt ? 1 : 0) };
  if (fields.countAttempt && after.firstAttemptAt === undefined) after.firstAttemptAt = now;
  for (const field of TRANSITION_SETTABLE) {
    const value = fields[field];
    if (value !== undefined) (after as unknown as Record<string, unknown>)[field] = value;
  }
  return after;
}

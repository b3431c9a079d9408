import type { CommandType } from '../contracts/payment-command';
import type { GatewayConfig } from '../gateways/gateway-config';

/**
 * What a PSP's own records say happened, one line at a time, in our words: the input of reconciliation
 * (see docs/ARCHITECTURE.md). Each gateway reads its PSP's documented report or list interface (Stripe
 * balance transactions and list endpoints, Adyen's settlement details report, Cybersource's transaction
 * search, the simulator's report endpoint) and normalises each line into a `PspRecord`; the classifier,
 * the runner and the report never see a PSP's format.
 */

/** What kind of money movement a line records. Closed set: a PSP line that fits none is `other` (reported, never applied). */
export const PSP_RECORD_KINDS = [
  /** Funds reserved on the shopper's card, not yet collected (Stripe `requires_capture`, Adyen `Authorised`). */
  'authorization',
  /** Funds collected from the shopper (Stripe charge captured, Adyen `Settled`, Cybersource capture). */
  'capture',
  /** An authorization released without collecting (Stripe canceled PaymentIntent, Adyen `Cancelled`). */
  'cancel',
  /** Funds given back to the shopper (Stripe refund, Adyen `Refunded`, Cybersource credit). */
  'refund',
  /** Disputed funds taken from the merchant (Stripe dispute, Adyen `Chargeback`). */
  'chargeback',
  /** Disputed funds taken again after the merchant's defence won them back (Adyen `SecondChargeback`). */
  'second_chargeback',
  /** Disputed funds returned to the merchant (Adyen `ChargebackReversed`, Stripe dispute won). */
  'chargeback_reversed',
  /** A refund that came back to the merchant (Adyen `RefundedReversed`, Stripe refund failure). */
  'refund_reversed',
  /**
   * What an authorization held uncaptured, released by the PSP itself once its capture window closed (Stripe
   * PaymentIntent cancelled with `cancellation_reason: automatic`); `amount` is what lapsed.
   */
  'authorization_expired',
  /** A fee line, a payout, a balance transfer: no payment of ours (reported as context, never matched). */
  'other',
] as const;
export type PspRecordKind = (typeof PSP_RECORD_KINDS)[number];

/** Whether the PSP says the movement happened. */
export type PspRecordStatus = 'succeeded' | 'failed' | 'pending';

/** One line of a PSP's records. Amounts are integers of ISO 4217 minor units (converted by the gateway's currency table). */
export interface PspRecord {
  /**
   * The PSP's own unique id of this line (a balance transaction id, Adyen's psp reference plus record
   * type and batch, a Cybersource request id): adjustments from reconciliation are idempotent by it.
   */
  lineId: string;
  kind: PspRecordKind;
  status: PspRecordStatus;
  /** Our operation id, when the PSP echoes it (Stripe metadata or idempotency, Adyen merchant reference, Cybersource code). */
  operationId?: string;
  /** The PSP's id of the payment (PaymentIntent or charge id, Adyen pspReference, Cybersource id): matched against the ledger's gateway reference. */
  pspReference?: string;
  /** The PSP's id of the modification itself (refund id, Adyen modification pspReference), when it has one. */
  modificationReference?: string;
  /** The merchant's own reference (our order id where the PSP carries it). */
  merchantReference?: string;
  /** Gross amount, integer minor units of `currency`, positive whatever the direction. */
  amount: number;
  /** Upper-case ISO 4217. */
  currency: string;
  /** The PSP's fee for this line, integer minor units of `feeCurrency` (or `currency`), when the PSP reports it. */
  fee?: number;
  /** Net amount credited (or debited, negative) to the merchant, minor units, when the PSP reports it. */
  net?: number;
  /** Currency of `fee` and `net` when it differs from `currency` (settlement currency). */
  settlementCurrency?: string;
  /** When the PSP says it happened, epoch milliseconds. */
  occurredAt: number;
  /** The PSP's own type or status string, verbatim (e.g. `charge`, `Settled`, `TRANSACTION_SEARCH`): for the report. */
  pspType: string;
}

/** The period a reconciliation run covers: PSP lines with `from <= occurredAt < to`, epoch milliseconds. */
export interface ReconciliationWindow {
  from: number;
  to: number;
}

/**
 * A line of the PSP's records its reader could not read (a missing or malformed field, a currency that is no
 * ISO 4217 code): set aside with its reason, so that one bad line never stops the lines behind it. Names
 * where the PSP's report has it and the field, never the line's content (it may carry customer data).
 */
export interface UnreadablePspLine {
  /** Where: the PSP's line id, or `<report>:<line number>`, or the line's position in the PSP's list. */
  line: string;
  /** The PSP's field at fault, e.g. `currency`, `Gross Credit (GC)`. */
  field: string;
  /** What is wrong with it, never its value. */
  problem: string;
  /**
   * The line's time does not read either, so the reader cannot tell which window it belongs to, and the runs of
   * other windows that read the same report meet it too (an Adyen settlement batch is read by adjacent windows).
   * The runner reports it once per line (`line`): in the window whose run met it first.
   */
  undated?: true;
}

/** A page of PSP lines and the opaque cursor that resumes right after it (stored by the runner). */
export interface PspRecordPage {
  records: PspRecord[];
  /** The page's lines its reader could not read (absent: none); the cursor moves past them too. */
  unreadable?: UnreadablePspLine[];
  /** Opaque to everyone but the reader; `read(window, cursor)` continues after this page. */
  cursor: string;
}

/** HTTP the readers use: the gateway's own authenticated client, streamed where a report can be large. */
export interface ReconciliationHttp {
  /** A GET (or POST for search APIs) authenticated by the gateway's transformer, body buffered (list endpoints). */
  send(request: { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }>;
  /**
   * A GET whose body is streamed line by line (report files). Two cases, by `path`:
   * - a relative path (the gateway's own API, e.g. the simulator's `/v1/reports/lines.csv`): appended to the
   *   gateway's `base_url` and authenticated by the gateway's transformer like `send`; the given headers are
   *   added and win over the transformer's on a clash;
   * - an absolute `https://` (or `http://`) URL (a PSP whose reports live on another host: Adyen's Customer
   *   Area): only the given headers (a report user's Basic auth) go there, never the transformer's API
   *   credentials.
   * A non-2xx answer throws a `GatewayError` carrying its HTTP status (404: `not_found`).
   */
  lines(request: { path: string; headers?: Record<string, string> }): AsyncIterable<string>;
}

/**
 * Reads one gateway's records for a window, page by page, in a stable order, so that a run stopped after
 * any page resumes from its cursor without reading a line twice or skipping one. Constant memory: one
 * page at a time. A line it cannot read goes to its page's `unreadable` and the page goes on; it throws only
 * for what stops the page itself (an HTTP failure, a body that is no answer, a truncated report, a bad cursor):
 * the run stops there and its next invocation reads that page again.
 */
export interface PspRecordReader {
  read(window: ReconciliationWindow, cursor?: string): AsyncIterable<PspRecordPage>;
  /**
   * Reads one payment object by its id, for a ledger operation no line of the window named, before the runner
   * reports it `missing_at_psp` (a source that lists objects by their creation time never lists, in a later
   * window, what was done later to an object created earlier: a Stripe cancel). Default: none (no lookup).
   */
  readonly lookup?: PspRecordLookup;
}

/** What a lookup reads a ledger operation by (the ledger's fields, never card data). */
export interface LookupTarget {
  /** Our operation id. */
  operationId: string;
  command: CommandType;
  /** The PSP's id the operation's success recorded (`gatewayReference`), when it has one. */
  gatewayReference?: string;
  /** The payment's key at the PSP the command named (`payment.gateway_key`: a Stripe `pi_…` for a capture or cancel). */
  gatewayKey: string;
}

/**
 * Reads a PSP's own object by id for a ledger operation no line of a window named (`PspRecordReader.lookup`). The
 * runner calls it only for `commands`, at most `reconciliation.lookups_per_run` times per run, through the same
 * reconciliation HTTP (and deadline) as the reader's lists, and judges the records it gives like the lines of a list.
 */
export interface PspRecordLookup {
  /** The commands whose operations `read` can find (others are reported `missing_at_psp` unread). */
  readonly commands: readonly CommandType[];
  /** The documented interface it reads, for the docs and log lines, e.g. `GET /v1/payment_intents/{id}`. */
  readonly source: string;
  /**
   * The records the PSP's object shows now, parsed like its list's lines (empty: it shows nothing of a kind the
   * reader records). `null`: the PSP has no such object (HTTP 404), or `target` names no id the PSP could have.
   * Throws on any other failure (HTTP, deadline, a body that is no object): the runner then reports the operation
   * `missing_at_psp` as unconfirmed.
   */
  read(target: LookupTarget): Promise<PspRecord[] | null>;
}

/** What a gateway definition declares to take part in reconciliation (`GatewayDefinition.reconciliation`). */
export interface ReconciliationSupport {
  /** The documented interface it reads, for the report and the docs, e.g. `GET /v1/balance_transactions`. */
  readonly source: string;
  /** Builds the reader for one configured gateway. */
  reader(gateway: GatewayConfig, http: ReconciliationHttp): PspRecordReader;
  /** The PSP's line types and how the reader reads each (the docs' table, built from the reader's exhaustive map). Default: none shown. */
  readonly types?: readonly ReconciliationTypeRow[];
  /**
   * Money-moving commands whose success the source never lists a line for (Adyen's Settlement details report holds
   * settled money only: no authorization, no cancellation). A SUCCEEDED operation of one of them that no line named is
   * not `missing_at_psp`: the PSP's records cannot show it. Default: none (the source lists every command's success).
   */
  readonly unlistedCommands?: readonly CommandType[];
}

/** One PSP line type of a reader's map, for `docs/gateways/<type>.md`. */
export interface ReconciliationTypeRow {
  /** The PSP's own type or status, verbatim (`charge`, `Settled`, `ics_bill`). */
  readonly pspType: string;
  /** What the reader makes of it, e.g. `capture succeeded`, `chargeback (funds withdrawn) or chargeback_reversed`, `no record`. */
  readonly reads: string;
}

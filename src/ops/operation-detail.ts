import { AdjustmentKind, AdjustmentRecord, AdjustmentSource, MoneyDirection, RefundedBeyondCaptured } from '../adjustments/adjustment';
import { parseRefundedBeyond } from '../adjustments/adjustment-store';
import { Interaction, OperationRecord } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { PspDiscrepancy, ReportedMoney, askedMoney, pspDiscrepancy, reportedMoney } from '../events/psp-discrepancy';
import { redact, redactText } from '../logging/redact';
import { formatMinor } from '../money/minor-units';
import { shownInteraction } from './shown-records';

/*
 * One operation as the on-call operator reads it (`ops show`, the console's lookup): its state, then what the PSP
 * confirmed, then every mark the bridge put on its record and every adjustment with its time and source, then its
 * history. A FAILED operation the PSP did after all, or a success it undid, reads as such here, not as its bare
 * state: the ledger's state never changes, the marks carry the later truth.
 */

/**
 * An operation as an operator sees it in a list and at the head of its detail: what moved where, its state and
 * timing, never card data (of the payment method only the method, brand and last four digits are kept; free-text
 * attributes are left out).
 */
export interface OperationView {
  id: string;
  command: string;
  channel: string;
  state: OperationState;
  /**
   * What the bridge's marks say of `state`, shown next to it: `done at the PSP after all (15.00 EUR)` for a FAILED one
   * the PSP did after all, `undone by the PSP since` for a success it undid. Absent when no mark qualifies it.
   */
  stateNote?: string;
  /** The gateway it went to (after any failover; the command's own when nothing routed it). */
  gateway: string;
  gatewayAccount: string;
  orderId?: string;
  /** Minor units of `currency`: what the OMS was told it moved (the PSP's figure where it confirmed one, else what was asked). */
  amount: number;
  currency: string;
  method?: string;
  cardBrand?: string;
  lastFour?: string;
  attempts: number;
  reason?: string;
  gatewayReference?: string;
  gatewayStatus?: string;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  nextCheckAt?: number;
  /** Age now, ms (since creation). */
  ageMs: number;
}

/** The operator's view of a ledger record. Pure. */
export function operationView(record: OperationRecord, now = Date.now()): OperationView {
  const p = record.payment;
  const card = p.method_details?.card;
  const note = stateNote(record);
  const { reported } = reportedMoney(record);
  // Only the text is redacted: a 13-digit epoch-ms time passes the Luhn check one time in ten and would be masked.
  const text = redact({
    id: record.id,
    command: record.command,
    channel: record.channel,
    state: record.state,
    ...(note === undefined ? {} : { stateNote: note }),
    gateway: gatewayOf(record),
    gatewayAccount: p.gateway_account,
    ...(p.order_id === undefined ? {} : { orderId: p.order_id }),
    currency: reported.currency,
    ...(p.method_details?.method ? { method: p.method_details.method } : {}),
    ...(card?.brand ? { cardBrand: card.brand } : {}),
    ...(card?.last_four_digits && /^\d{4}$/.test(card.last_four_digits) ? { lastFour: card.last_four_digits } : {}),
    ...(record.reason === undefined ? {} : { reason: record.reason }),
    ...(record.gatewayReference === undefined ? {} : { gatewayReference: record.gatewayReference }),
    ...(record.gatewayStatus === undefined ? {} : { gatewayStatus: record.gatewayStatus }),
  });
  return {
    ...text,
    amount: reported.amount,
    attempts: record.attempts,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.nextCheckAt === undefined ? {} : { nextCheckAt: record.nextCheckAt }),
    ageMs: Math.max(0, now - record.createdAt),
  };
}

/** "The PSP says": what the PSP confirmed for the operation, next to what was asked. Money in integer minor units. */
export interface PspSays {
  /** The gateway the operation went to (its routing record's, after any failover). */
  gateway: string;
  /** The gateway the command named, when the operation went elsewhere. */
  requestedGateway?: string;
  /**
   * The PSP's latest word on it, from its state and the marks: `succeeded`, `failed`, `did it after all` (recorded
   * FAILED, a `succeeded_after_failure` since), `did it after all, then undid it`, `undid it after its success`,
   * `nothing final yet`.
   */
  latest: string;
  /** The PSP's reference of the operation (`gateway_reference`), once an outcome named one. */
  reference?: string;
  /** The PSP's own status word of its latest outcome (`gateway_status`). */
  status?: string;
  /**
   * What the PSP confirmed: its outcome's figure, else (a FAILED one it did after all) the figure of the adjustment
   * that said so (`confirmedBy`); absent when it said nothing.
   */
  confirmed?: ReportedMoney;
  /** The `succeeded_after_failure` adjustment `confirmed` comes from, when it is not the outcome's. */
  confirmedBy?: string;
  /** A currency the PSP named whose amount could not be read (no `confirmed` then). */
  confirmedCurrencyOnly?: string;
  /** What the gateway was asked (a converted operation's converted money; a cancel releasing a remainder, that remainder). */
  asked: ReportedMoney;
  /** What the command asked, before any conversion. */
  requested: ReportedMoney;
  /** How what the PSP confirmed differs from what the gateway was asked; absent when it does not (or it said nothing). */
  discrepancy?: PspDiscrepancy;
  /**
   * When the PSP says the success happened (`psp_succeeded_at`; a FAILED one it did after all: its adjustment's PSP
   * time), epoch ms; absent when it did not say.
   */
  succeededAt?: number;
}

/** What each mark is (see {@link OperationMark}). */
export type OperationMarkKind =
  | 'succeeded_after_failure'
  | 'undone'
  | 'closed_by'
  | 'cancel_effect'
  | 'orphan_reversal'
  | 'failover'
  | 'recapture_held'
  | 'held_for_config'
  | 'held_for_psp_retry'
  | 'held_for_psp_retry_released'
  | 'parked'
  | 'orphan_dry_run'
  | 'orphan_nothing_left'
  | 'refunded_beyond_captured'
  | 'refunded_beyond_undecided'
  | 'refunds_reread_beyond'
  | 'refunds_undecided_capture'
  | 'refunded_beyond_after_void'
  | 'refunded_beyond_withdrawn';

/**
 * A mark the bridge put on the operation's record (or a decision it recorded on it) that changes what its state
 * means: done at the PSP after all, undone since, closed by another operation, voided, failed over…
 */
export interface OperationMark {
  kind: OperationMarkKind;
  /** When, epoch ms: the PSP's time where it gave one, else when the bridge recorded it; absent when unknown. */
  at?: number;
  /**
   * Who put it there: `webhook` or `reconciliation` (an adjustment's source, with its gateway), `void` (a cancel of
   * the bridge's), `poller` (its sweeps), `orchestration` (a failover), `delivery` (the outcome that moved it), `ledger`, `operator` (an ops command).
   */
  source: string;
  /** One line an operator reads. */
  text: string;
  /** The adjustment or operation the mark names. */
  ref?: string;
  /** Money the mark is about, integer minor units of `currency`. */
  amount?: number;
  currency?: string;
}

/** An adjustment of the operation as an operator is shown it (text masked). Times epoch ms. */
export interface AdjustmentView {
  id: string;
  kind: AdjustmentKind;
  direction: MoneyDirection;
  gateway: string;
  source: AdjustmentSource;
  /** Integer minor units of `currency`, as the PSP reported it. */
  amount?: number;
  currency?: string;
  reason?: string;
  pspReference?: string;
  pspEventId: string;
  /** When the PSP says it happened. */
  occurredAt?: number;
  /** When the bridge recorded it. */
  recordedAt: number;
  failedAgainBy?: string;
  supersededBy?: string;
  /**
   * A late refund fact that left its payment with more refunded than stands captured (`refunded_beyond_captured`):
   * the figures when it was recorded, integer minor units of `currency` (the order's).
   */
  refundedBeyondCaptured?: { capturedAmount: number; refundedAmount: number; excessAmount: number; currency: string };
  /** A late refund fact read undecided when recorded: refunds above what stands captured unless a capture in flight went through. */
  refundedBeyondUndecided?: true;
}

/** One operation with all an on-call operator needs to judge it, in the order it is read. */
export interface OperationDetail {
  operation: OperationView;
  psp: PspSays;
  /** Oldest first (those without a time last). */
  marks: OperationMark[];
  /** Oldest first (as recorded). */
  adjustments: AdjustmentView[];
  /** Masked again as shown (`shownInteraction`). */
  history: Interaction[];
}

/** The raw fields of the record's hash that hold marks the record type does not expose (`record-fields.ts`). */
export const MARK_HASH_FIELDS = [
  'held_since',
  'parked_at',
  'recaptured_at',
  'recapture_surfaced',
  'orphan_dry_run_at',
  'orphan_nothing_left_at',
  // A capture an undecided refund reading counted in flight, and what re-reading its payment after its FAILED found (refunds-undecided-mark.ts).
  'refunds_undecided_by',
  'refunds_reread',
  // What reading a cancel's payment again after its void of a capture or sale was recorded found (refunded-beyond-alarm.ts).
  'refunds_reread_after_void',
  // A refunded-beyond alarm raised when this capture failed that no longer holds: the PSP said it succeeded after all.
  'refunds_alarm_withdrawn',
] as const;
export type MarkHashField = (typeof MARK_HASH_FIELDS)[number];

/** The operation that closed an authorization (`closed_by`), as read: its command, state and last move. */
export interface CloserSummary {
  id: string;
  command: string;
  state: OperationState;
  updatedAt: number;
}

/** What {@link operationDetail} is built from: the record and what the stores hold about it. */
export interface OperationDetailInputs {
  record: OperationRecord;
  adjustments: readonly AdjustmentRecord[];
  history: readonly Interaction[];
  /** The values of {@link MARK_HASH_FIELDS} the record's hash holds (absent: not set). */
  hashMarks?: Partial<Record<MarkHashField, string>>;
  /** The record of the operation named by `closedBy`, when it was read (null: not found). */
  closer?: CloserSummary | null;
}

const money = (amount: number | undefined, currency: string | undefined): string => {
  if (amount === undefined || currency === undefined) return '';
  try {
    return `${formatMinor(amount, currency)} ${currency}`;
  } catch {
    return `${amount} (minor units) ${currency}`;
  }
};

const epoch = (stored: string | undefined): number | undefined => {
  if (stored === undefined || stored === '') return undefined;
  const n = Number(stored);
  return Number.isFinite(n) ? n : undefined;
};

const adjustmentSource = (a: AdjustmentRecord): string => `${a.source} (${a.gateway})`;

/** The success-after-failure and undone marks, with the adjustment (or void) that put each. */
function outcomeMarks(record: OperationRecord, byId: ReadonlyMap<string, AdjustmentRecord>, history: readonly Interaction[]): OperationMark[] {
  const marks: OperationMark[] = [];
  const late = record.succeededAfterFailure;
  if (late !== undefined) {
    const a = byId.get(late.by);
    const amount = late.amount ?? a?.amount;
    const currency = late.currency ?? a?.currency;
    const confirmed = money(amount, currency);
    marks.push({
      kind: 'succeeded_after_failure',
      at: a?.occurredAt ?? a?.recordedAt,
      source: a ? adjustmentSource(a) : 'ledger',
      text: `recorded ${record.state}, the PSP did it after all${confirmed ? `: ${confirmed} confirmed` : ''}${
        record.command === 'cancel' ? '; it counts as done' : '; it counts as moved money'
      }`,
      ref: late.by,
      ...(amount !== undefined && currency !== undefined ? { amount, currency } : {}),
    });
  }
  if (record.undoneBy !== undefined) {
    const a = byId.get(record.undoneBy);
    if (a) {
      marks.push({
        kind: 'undone',
        at: a.occurredAt ?? a.recordedAt,
        source: adjustmentSource(a),
        text: `the PSP undid it since (${a.kind}${a.amount !== undefined ? `: ${money(a.amount, a.currency)}` : ''}); it no longer counts as moved money`,
        ref: a.id,
        ...(a.amount !== undefined && a.currency !== undefined ? { amount: a.amount, currency: a.currency } : {}),
      });
    } else {
      // Not an adjustment: the bridge's own cancel voided it (`Ledger.markUndoneByVoid`), which wrote an `undone` entry.
      const entry = history.find((h) => h.event === 'undone' && h.by === record.undoneBy);
      marks.push({
        kind: 'undone',
        at: entry?.at,
        source: 'void',
        text: `voided by cancel ${record.undoneBy}; it no longer counts as captured`,
        ref: record.undoneBy,
      });
    }
  }
  // A capture or refund FAILED that its PSP retries itself, not done yet: its amount stays held.
  if (record.state === 'FAILED' && record.heldForPspRetry !== undefined && late === undefined) {
    const held =
      record.command === 'refund' ? 'as given back, a second refund of it is refused' : 'against the authorization, a second capture of it is refused';
    marks.push({
      kind: 'held_for_psp_retry',
      at: record.updatedAt,
      source: 'delivery',
      text: `failed, but the PSP retries it itself (${record.heldForPspRetry}): its amount stays held ${held}`,
      amount: record.payment.amount,
      currency: record.payment.currency,
    });
  }
  // Released by an operator (the PSP confirmed no retry): its history entry says who, when and why.
  const released = history.find((h) => h.event === 'held_for_psp_retry_released');
  if (released !== undefined) {
    const by = typeof released.by === 'string' ? released.by : 'an operator';
    const why = typeof released.reason === 'string' ? released.reason : '';
    marks.push({
      kind: 'held_for_psp_retry_released',
      at: released.at,
      source: 'operator',
      text: `held for the PSP's retry, released by ${by}${why ? ` (${why})` : ''}: its amount is no longer held`,
      amount: record.payment.amount,
      currency: record.payment.currency,
    });
  }
  return marks;
}

/**
 * The late refund facts that left the payment with more refunded than stands captured (`refundedBeyondCaptured` on the
 * adjustment): money given back twice, for a person to settle with the PSP.
 */
function refundedBeyondMarks(adjustments: readonly AdjustmentRecord[]): OperationMark[] {
  return adjustments.flatMap((a): OperationMark[] => {
    const beyond = a.refundedBeyondCaptured;
    // No alarm was raised and none follows on its own: without a mark an undecided reading looks like one that fit.
    if (beyond === undefined && a.refundedBeyondUndecided === true) {
      return [
        {
          kind: 'refunded_beyond_undecided' as const,
          at: a.recordedAt,
          source: adjustmentSource(a),
          text: `refunds above what stands captured after this ${a.kind}, unless a capture in flight then went through: check those captures; one FAILED for good leaves money given back twice, contact the PSP`,
          ref: a.id,
        },
      ];
    }
    if (beyond === undefined) return [];
    return [
      {
        kind: 'refunded_beyond_captured' as const,
        at: a.recordedAt,
        source: adjustmentSource(a),
        text: `refunded beyond captured after this ${a.kind}: ${money(beyond.refundedAmount, beyond.currency)} refunded, ${money(
          beyond.capturedAmount,
          beyond.currency,
        )} captured standing; ${money(beyond.excessAmount, beyond.currency)} given back twice, contact the PSP`,
        ref: a.id,
        amount: beyond.excessAmount,
        currency: beyond.currency,
      },
    ];
  });
}

/** The authorization's closer, and what a cancel did at a PSP whose cancel voids captures. */
function closingMarks(record: OperationRecord, closer: CloserSummary | null | undefined): OperationMark[] {
  const marks: OperationMark[] = [];
  if (record.closedBy !== undefined && record.closedBy !== '') {
    marks.push({
      kind: 'closed_by',
      at: closer?.updatedAt,
      source: 'ledger',
      text: closer
        ? `authorization closed by ${closer.command} ${closer.id} (${closer.state}): no expiry notice or orphan void follows`
        : `authorization closed by ${record.closedBy} (no such operation in the ledger now)`,
      ref: record.closedBy,
    });
  }
  const effect = record.cancelEffect;
  if (effect !== undefined) {
    const text =
      'voided' in effect
        ? `the cancel voided ${effect.command} ${effect.voided}${
            effect.hold === 'releasing'
              ? `; the hold is being released${effect.reversal ? ` by ${effect.reversal}` : ''}`
              : effect.hold === 'left'
                ? '; the hold stays until it expires'
                : ''
          }`
        : effect.released === 'hold'
          ? "the cancel released the authorization's hold (nothing captured stood)"
          : `the cancel released what the captures left: ${money(effect.amount, effect.currency)}`;
    marks.push({
      kind: 'cancel_effect',
      at: record.pspSucceededAt ?? (record.state === 'SUCCEEDED' ? record.updatedAt : undefined),
      source: 'delivery',
      text,
      ...('voided' in effect ? { ref: effect.voided } : {}),
      ...('released' in effect && effect.released === 'remainder' ? { amount: effect.amount, currency: effect.currency } : {}),
    });
  }
  return marks;
}

/** The orchestration's failovers, each a step from one gateway to the next. */
function failoverMarks(record: OperationRecord): OperationMark[] {
  return (record.routing?.failovers ?? []).map((f) => ({
    kind: 'failover' as const,
    at: f.at,
    source: 'orchestration',
    text: `failed over from ${f.from} to ${f.to} (${f.trigger})`,
  }));
}

/** The poller's orphan reversals, as their history entries (`orphan_reversal`) say them. */
function orphanMarks(history: readonly Interaction[]): OperationMark[] {
  return history
    .filter((h) => h.event === 'orphan_reversal')
    .map((h) => {
      const amount = typeof h.amount === 'number' ? h.amount : undefined;
      const currency = typeof h.currency === 'string' ? h.currency : undefined;
      const words = [h.outcome, h.mode ? `mode ${String(h.mode)}` : '', h.reason ? `reason ${String(h.reason)}` : ''].filter(Boolean).join(', ');
      const reversal = typeof h.reversal_operation_id === 'string' ? h.reversal_operation_id : undefined;
      return {
        kind: 'orphan_reversal' as const,
        at: h.at,
        source: 'poller',
        text: `orphan reversal (${typeof h.reversal === 'string' ? h.reversal : 'void'}): ${words}${amount !== undefined ? `; ${money(amount, currency)}` : ''}${reversal ? `; ${reversal}` : ''}`,
        ...(reversal ? { ref: reversal } : {}),
        ...(amount !== undefined && currency !== undefined ? { amount, currency } : {}),
      };
    });
}

/** What re-reading a payment after its capture failed for good found (`refunds_reread`, refunded-beyond-alarm.ts). */
export type RefundsReread = { kind: 'fit' } | { kind: 'undecided' } | { kind: 'beyond'; figures: RefundedBeyondCaptured };

/** `refunds_reread` as stored (`fit`, `undecided` or the figures as JSON) read back; undefined for anything else (garbled: shown as no re-read). */
export function parseRefundsReread(stored: string | undefined): RefundsReread | undefined {
  if (stored === undefined) return undefined;
  if (stored === 'fit' || stored === 'undecided') return { kind: stored };
  const figures = parseRefundedBeyond(stored);
  return figures === undefined ? undefined : { kind: 'beyond', figures };
}

/**
 * A capture an undecided refund reading counted in flight (`refunds_undecided_by`): the alarm its FAILED re-read raised
 * (`refunds_reread_beyond`, the figures), else a neutral line naming that reading's adjustment and where it stands.
 * A re-read without the mark (never written so) or an empty mark is not shown.
 */
function refundsRereadMarks(record: OperationRecord, marks: Partial<Record<MarkHashField, string>>): OperationMark[] {
  const by = marks.refunds_undecided_by;
  if (by === undefined || by === '') return [];
  const reread = parseRefundsReread(marks.refunds_reread);
  // The re-read follows the move to FAILED and keeps no time of its own: that move's time.
  const at = record.state === 'FAILED' ? record.updatedAt : undefined;
  if (reread?.kind === 'beyond') {
    const f = reread.figures;
    return [
      {
        kind: 'refunds_reread_beyond',
        at,
        source: 'delivery',
        text: `failed for good after an undecided refund reading counted it in flight; the payment read again: ${money(f.refundedAmount, f.currency)} refunded, ${money(
          f.capturedAmount,
          f.currency,
        )} captured standing; ${money(f.excessAmount, f.currency)} given back twice, contact the PSP`,
        ref: by,
        amount: f.excessAmount,
        currency: f.currency,
      },
    ];
  }
  const where = undecidedCaptureStanding(record, reread);
  return [{ kind: 'refunds_undecided_capture', at, source: 'delivery', text: `counted in flight by an undecided refund reading: ${where}`, ref: by }];
}

/**
 * A cancel whose void of a capture or sale, recorded after refunds of the payment were counted, left it with more
 * refunded than stands captured (`refunds_reread_after_void` holding the figures): `refunded_beyond_after_void`, naming
 * what it voided. Nothing shown when the re-read found the refunds fit or undecided (no alarm was raised).
 */
function rereadAfterVoidMarks(record: OperationRecord, marks: Partial<Record<MarkHashField, string>>): OperationMark[] {
  const reread = parseRefundsReread(marks.refunds_reread_after_void);
  if (reread?.kind !== 'beyond') return [];
  const f = reread.figures;
  const voided = record.cancelEffect !== undefined && 'voided' in record.cancelEffect ? record.cancelEffect.voided : undefined;
  return [
    {
      kind: 'refunded_beyond_after_void',
      // The re-read follows the move to SUCCEEDED and keeps no time of its own: that move's time.
      at: record.state === 'SUCCEEDED' ? record.updatedAt : undefined,
      source: 'delivery',
      text: `its void${voided !== undefined ? ` of ${voided}` : ''}, recorded after refunds of the payment were counted, lowered what stands captured: ${money(
        f.refundedAmount,
        f.currency,
      )} refunded, ${money(f.capturedAmount, f.currency)} captured standing; ${money(f.excessAmount, f.currency)} given back twice, contact the PSP`,
      ...(voided !== undefined ? { ref: voided } : {}),
      amount: f.excessAmount,
      currency: f.currency,
    },
  ];
}

/**
 * A capture or sale whose failure raised a refunded-beyond alarm, then done by the PSP after all, its payment read again
 * within what stands captured (`refunds_alarm_withdrawn`, JSON): `refunded_beyond_withdrawn`, naming the latest such success.
 * A garbled value is shown as nothing.
 */
function withdrawnMarks(marks: Partial<Record<MarkHashField, string>>): OperationMark[] {
  const stored = marks.refunds_alarm_withdrawn;
  if (stored === undefined) return [];
  let v: unknown;
  try {
    v = JSON.parse(stored);
  } catch {
    return [];
  }
  if (v === null || typeof v !== 'object') return [];
  const { by, reading, withdrawn, at } = v as Record<string, unknown>;
  if (typeof by !== 'string' || (reading !== 'fit' && reading !== 'undecided')) return [];
  const alarms = Array.isArray(withdrawn) ? withdrawn.filter((w): w is string => typeof w === 'string') : [];
  const which = alarms.map((w) => (w === 'refunds_reread' ? 'its FAILED re-read' : `capture_failed ${w}`)).join(', ');
  return [
    {
      kind: 'refunded_beyond_withdrawn',
      ...(typeof at === 'number' && Number.isSafeInteger(at) ? { at } : {}),
      source: 'delivery',
      text: `the PSP says it succeeded after all: the refunded-beyond alarm raised when it failed${which ? ` (${which})` : ''} no longer holds; the payment read again: ${
        reading === 'fit' ? 'the refunds fit what stands captured' : 'undecided, a capture in flight could cover the refunds'
      }`,
      ref: by,
    },
  ];
}

/** Where a capture an undecided refund reading counted in flight stands, for its neutral mark (no alarm raised on it). */
function undecidedCaptureStanding(record: OperationRecord, reread: RefundsReread | undefined): string {
  if (reread?.kind === 'fit') return 'failed for good, the payment read again: the refunds fit what stands captured, no alarm';
  if (reread?.kind === 'undecided') return 'failed for good, the payment read again: still undecided, another capture in flight could cover the refunds';
  if (record.state === 'SUCCEEDED') return 'it went through';
  if (record.state !== 'FAILED' || record.heldForPspRetry !== undefined) return 'if it fails for good the payment is read again';
  return 'failed for good, no re-read kept (it may have failed: see the error log)';
}

/** The marks kept as raw time fields of the record's hash, each with what it says: in the order they are shown. */
const HASH_FIELD_MARKS: readonly {
  field: MarkHashField;
  kind: OperationMarkKind;
  source: string;
  text: (marks: Partial<Record<MarkHashField, string>>) => string;
}[] = [
  { field: 'held_since', kind: 'held_for_config', source: 'delivery', text: () => 'held: its gateway is missing from the configuration' },
  { field: 'parked_at', kind: 'parked', source: 'delivery', text: () => 'parked as a dead letter (config): replay it once the gateway is configured' },
  {
    field: 'recaptured_at',
    kind: 'recapture_held',
    source: 'webhook',
    text: (marks) => `the PSP re-captured it; held until the capture failure it follows arrives${marks.recapture_surfaced ? ' (surfaced: past its wait)' : ''}`,
  },
  { field: 'orphan_dry_run_at', kind: 'orphan_dry_run', source: 'poller', text: () => 'an orphan the dry run would void (nothing sent)' },
  {
    field: 'orphan_nothing_left_at',
    kind: 'orphan_nothing_left',
    source: 'poller',
    text: () => 'an orphan with nothing left to give back (refunded in full already): nothing sent',
  },
];

/** Marks kept as raw fields of the record's hash: holds, a re-capture held, the orphan sweep's notes. */
function hashFieldMarks(marks: Partial<Record<MarkHashField, string>>): OperationMark[] {
  return HASH_FIELD_MARKS.filter(({ field }) => marks[field] !== undefined).map(({ field, kind, source, text }) => ({
    kind,
    at: epoch(marks[field]),
    source,
    text: text(marks),
  }));
}

/** What `standing` says when a mark qualifies the state (shown next to it): undefined when none does. */
export function stateNote(record: Pick<OperationRecord, 'state' | 'succeededAfterFailure' | 'undoneBy'>): string | undefined {
  const late = record.succeededAfterFailure;
  if (late !== undefined) {
    const confirmed = money(late.amount, late.currency);
    const done = `done at the PSP after all${confirmed ? ` (${confirmed})` : ''}`;
    return record.undoneBy !== undefined ? `${done}, then undone` : done;
  }
  if (record.undoneBy !== undefined) return 'undone by the PSP since';
  return undefined;
}

function adjustmentView(a: AdjustmentRecord): AdjustmentView {
  return {
    id: redactText(a.id),
    kind: a.kind,
    direction: a.direction,
    gateway: redactText(a.gateway),
    source: a.source,
    ...(a.amount !== undefined ? { amount: a.amount } : {}),
    ...(a.currency !== undefined ? { currency: redactText(a.currency) } : {}),
    ...(a.reason !== undefined ? { reason: redactText(a.reason) } : {}),
    ...(a.pspReference !== undefined ? { pspReference: redactText(a.pspReference) } : {}),
    pspEventId: redactText(a.pspEventId),
    ...(a.occurredAt !== undefined ? { occurredAt: a.occurredAt } : {}),
    recordedAt: a.recordedAt,
    ...(a.failedAgainBy !== undefined ? { failedAgainBy: redactText(a.failedAgainBy) } : {}),
    ...(a.supersededBy !== undefined ? { supersededBy: redactText(a.supersededBy) } : {}),
    ...(a.refundedBeyondCaptured !== undefined
      ? { refundedBeyondCaptured: { ...a.refundedBeyondCaptured, currency: redactText(a.refundedBeyondCaptured.currency) } }
      : {}),
    ...(a.refundedBeyondUndecided === true ? { refundedBeyondUndecided: true as const } : {}),
  };
}

/** The PSP's latest word on the operation, as its state and marks hold it (see {@link PspSays.latest}). */
function latestWord(record: OperationRecord): string {
  if (record.succeededAfterFailure !== undefined) return record.undoneBy !== undefined ? 'did it after all, then undid it' : 'did it after all';
  if (record.undoneBy !== undefined) return 'undid it after its success';
  switch (record.state) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    default:
      return 'nothing final yet';
  }
}

function pspSays(record: OperationRecord, byId: ReadonlyMap<string, AdjustmentRecord>): PspSays {
  const { reported, requested, discrepancy } = reportedMoney(record);
  const gateway = gatewayOf(record);
  const asked = askedMoney(record);
  // A FAILED one the PSP did after all: its confirmation came with the adjustment that marked it, not with an outcome.
  const late = record.succeededAfterFailure;
  const lateAdjustment = late === undefined ? undefined : byId.get(late.by);
  const lateMoney = late?.amount !== undefined && late.currency !== undefined ? { amount: late.amount, currency: late.currency } : undefined;
  const confirmed = record.confirmedAmount !== undefined ? reported : lateMoney;
  const differs = record.confirmedAmount === undefined && lateMoney ? pspDiscrepancy(asked, lateMoney) : discrepancy;
  const succeededAt = record.pspSucceededAt ?? lateAdjustment?.occurredAt;
  // The command's gateway is the OMS's text (a held one names no configured gateway): masked as every shown string.
  return {
    gateway: redactText(gateway),
    ...(gateway !== record.payment.gateway ? { requestedGateway: redactText(record.payment.gateway) } : {}),
    latest: latestWord(record),
    ...(record.gatewayReference !== undefined ? { reference: redactText(record.gatewayReference) } : {}),
    ...(record.gatewayStatus !== undefined ? { status: redactText(record.gatewayStatus) } : {}),
    ...(confirmed ? { confirmed } : {}),
    ...(record.confirmedAmount === undefined && lateMoney && late ? { confirmedBy: redactText(late.by) } : {}),
    ...(record.confirmedAmount === undefined && record.confirmedCurrency !== undefined
      ? { confirmedCurrencyOnly: redactText(record.confirmedCurrency.toUpperCase()) }
      : {}),
    asked,
    requested,
    ...(differs !== null ? { discrepancy: differs } : {}),
    ...(succeededAt !== undefined ? { succeededAt } : {}),
  };
}

/** What the PSP confirmed, in words (`ops show`, the console): its money (and the adjustment that said it, when not its outcome), or that it said nothing. */
export function confirmedText(p: PspSays): string {
  if (p.confirmed) return `${money(p.confirmed.amount, p.confirmed.currency)}${p.confirmedBy ? ` (by ${p.confirmedBy})` : ''}`;
  return p.confirmedCurrencyOnly ? `a currency only, ${p.confirmedCurrencyOnly}` : 'nothing confirmed';
}

/** A mark's text fields masked (a PSP's reason or an id from a record written before a rule existed), times and money kept. */
function shownMark(m: OperationMark): OperationMark {
  return { ...m, source: redactText(m.source), text: redactText(m.text), ...(m.ref !== undefined ? { ref: redactText(m.ref) } : {}) };
}

/**
 * The operator's view of one operation, from its record and what the stores hold about it: state (with what its
 * marks say of it), what the PSP confirmed, the marks and adjustments, the history. Never card data: text is masked
 * again as shown, of the card only brand and last four digits are kept. Pure.
 */
export function operationDetail(inputs: OperationDetailInputs, now = Date.now()): OperationDetail {
  const { record } = inputs;
  const history = inputs.history.map(shownInteraction);
  const byId = new Map(inputs.adjustments.map((a) => [a.id, a]));
  const marks = [
    ...outcomeMarks(record, byId, history),
    ...closingMarks(record, inputs.closer),
    ...failoverMarks(record),
    ...orphanMarks(history),
    ...hashFieldMarks(inputs.hashMarks ?? {}),
    ...refundsRereadMarks(record, inputs.hashMarks ?? {}),
    ...rereadAfterVoidMarks(record, inputs.hashMarks ?? {}),
    ...withdrawnMarks(inputs.hashMarks ?? {}),
    ...refundedBeyondMarks(inputs.adjustments),
  ]
    .map(shownMark)
    // Oldest first; a mark without a time after those with one, in the order above.
    .map((m, i) => ({ m, i }))
    .sort((a, b) => (a.m.at ?? Number.POSITIVE_INFINITY) - (b.m.at ?? Number.POSITIVE_INFINITY) || a.i - b.i)
    .map(({ m }) => m);
  return {
    operation: operationView(record, now),
    psp: pspSays(record, byId),
    marks,
    adjustments: inputs.adjustments.map(adjustmentView),
    history,
  };
}

import {
  commandsMarkedDoneBy,
  commandsRedoneBy,
  directionOfSuccess,
  failureAfterSuccess,
  heldDoneAtPsp,
  reversed,
  type AdjustmentKind,
  type MoneyDirection,
} from '../adjustments/adjustment';
import { RECONCILED_LATE_FACT_KINDS, recordedAs as lateFactRecordedAs, type ReconciledLateFactKind } from '../adjustments/same-fact';
import type { CommandType } from '../contracts/payment-command';
import { laterInPspTime } from '../gateways/psp-time';
import type { OperationRecord } from '../ledger/ledger';
import type { OperationState } from '../ledger/operation-state';
import { confirmedOrAsked, gatewayOf, routedPayment } from '../ledger/routing-record';
import { isKnownCurrency } from '../money/currencies';
import { formatMinor } from '../money/minor-units';
import type { PspRecord, PspRecordKind } from './psp-record';
import type { LedgerSide, LineVerdict, MatchMethod, ReconciliationAction, UndoneLineOutcome } from './reconciliation-class';

/**
 * The classifier: pure. It ties a PSP line to the ledger operation it is about (`chooseMatch`) and says
 * what the two sides agree or disagree on (`classifyLine`), or flags a ledger operation no line names
 * (`classifyMissingAtPsp`). No I/O: the runner looks the candidates up and applies the actions.
 */

/**
 * What the classifier reads of a ledger operation: reconciliation loads only these fields (an HMGET per
 * operation, not the whole record), so the classifier must not need more.
 */
export const RECONCILED_FIELDS = [
  'id',
  'command',
  'state',
  'payment',
  'routing',
  'confirmedAmount',
  'confirmedCurrency',
  'gatewayReference',
  'closedBy',
  'undoneBy',
  'undoneByVoid',
  'succeededAfterFailure',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof OperationRecord)[];

/** A ledger operation as reconciliation reads it ({@link RECONCILED_FIELDS}); a full `OperationRecord` is one too. */
export type ReconciledOperation = Pick<OperationRecord, (typeof RECONCILED_FIELDS)[number]>;

/** A ledger operation a lookup found for a line, and how. */
export interface Candidate {
  op: ReconciledOperation;
  by: MatchMethod;
}

/** An adjustment already recorded on an operation (for late-fact lines: a chargeback the webhook already brought). */
export interface KnownAdjustment {
  /** Its id (`adj_…`). */
  id: string;
  kind: AdjustmentKind;
  direction: MoneyDirection;
  amount?: number;
  /**
   * The PSP's id of the dispute, refund or modification it records, when it named one; of a contradiction
   * (`succeeded_after_failure`, a failure after success), the PSP transaction it reports.
   */
  pspReference?: string;
  /** When the PSP says the fact happened, epoch ms, when it said. */
  occurredAt?: number;
  /**
   * The PSP line it already accounts for, one at most: the line reconciliation recorded it from, or the line a
   * run tied it to (a webhook's adjustment a line was found recorded by). Absent: none yet.
   */
  line?: string;
}

/** How a late-fact line was found recorded by an adjustment no line accounted for (a webhook's). */
export type TieMethod = NonNullable<LineVerdict['ties']>['by'];

/** The match a line was tied to, with the operation's adjustments when the line needs them (`needsKnownAdjustments`). */
export interface Match extends Candidate {
  adjustments?: readonly KnownAdjustment[];
  /**
   * How many adjustments the operation had when `adjustments` were read (unreadable ones included): a verdict
   * judged against them is recorded only while it still has that many (`AdjustmentInput.expectedAdjustments`).
   */
  adjustmentsRead?: number;
}

/** Exhaustiveness guard: an unhandled kind, command or state is a compile error here, and a runtime error. */
function assertNever(value: never): never {
  throw new Error(`unmapped value: ${JSON.stringify(value)}`);
}

const METHOD_RANK: Readonly<Record<MatchMethod, number>> = { operation_id: 0, modification_reference: 1, psp_reference: 2, merchant_reference: 3 };

/** Whether a PSP line of `kind` can be about a ledger operation of `command`. */
export function compatible(kind: PspRecordKind, command: CommandType): boolean {
  switch (kind) {
    case 'authorization':
      return command === 'authorize' || command === 'revalidate' || command === 'sale';
    case 'capture':
      return command === 'capture' || command === 'sale';
    case 'cancel':
      return command === 'cancel';
    case 'refund':
      return command === 'refund';
    case 'chargeback':
    case 'second_chargeback':
    case 'chargeback_reversed':
      return command === 'capture' || command === 'sale' || command === 'authorize' || command === 'revalidate';
    case 'refund_reversed':
      return command === 'refund';
    case 'authorization_expired':
      return holdsAuthorization(command);
    case 'other':
      return false;
    default:
      return assertNever(kind);
  }
}

/** Commands whose success leaves an authorization held at the PSP (a sale's is captured at once). */
function holdsAuthorization(command: CommandType): boolean {
  return command === 'authorize' || command === 'revalidate';
}

/** Whether the line is a late fact about money that already moved (it adds an adjustment, never settles). */
export function isLateFact(kind: PspRecordKind): boolean {
  return (
    kind === 'chargeback' || kind === 'second_chargeback' || kind === 'chargeback_reversed' || kind === 'refund_reversed' || kind === 'authorization_expired'
  );
}

/**
 * Whether classifying `record` against `op` needs the adjustments `op` already has: a late fact (a webhook
 * may have brought it), or a line that contradicts a terminal state (a webhook may have reported the same
 * contradiction as `succeeded_after_failure` or a failure after success).
 */
export function needsKnownAdjustments(record: PspRecord, op: ReconciledOperation): boolean {
  if (isLateFact(record.kind) || cancelsAuthorization(record, op) || refundsPayment(record, op) || showsUndoneDone(record, op)) return true;
  const ledger = standing(op.state);
  // A FAILED one the PSP did after all (`doneAfterFailure`) failing: ordered with the fact that marked it.
  const failed = record.status === 'failed' && (ledger === 'succeeded' || doneAfterFailure(op));
  // A success of a FAILED one is a contradiction, unless the ledger marked it done after all (it agrees, `markedDoneAfterFailure`);
  // a marked sale's line naming a transaction is weighed against the transactions its adjustments name (`anotherCharge`).
  const marked = markedDoneAfterFailure(op);
  return failed || (ledger === 'failed' && record.status === 'succeeded' && (!marked || (op.command === 'sale' && lineReferences(record).length > 0)));
}

/**
 * Whether `op` is a capture, sale or refund the ledger holds FAILED that a recorded `succeeded_after_failure` says the
 * PSP did after all (`succeededAfterFailure`, the mark `commandsRedoneBy` commands get): it counts as captured (or
 * refunded), so the classifier weighs a later failure of it, and a success after that failure, as a SUCCEEDED one's.
 */
export function doneAfterFailure(op: ReconciledOperation): boolean {
  return op.state === 'FAILED' && op.succeededAfterFailure !== undefined && commandsRedoneBy('succeeded_after_failure').includes(op.command);
}

/**
 * Whether `op` is one the ledger holds FAILED that a recorded `succeeded_after_failure` marked done by the PSP after all
 * (`succeededAfterFailure`, the mark `commandsMarkedDoneBy` commands get): a capture, sale or refund
 * (`doneAfterFailure`), or a cancel. The ledger then agrees with a PSP line saying it succeeded.
 */
export function markedDoneAfterFailure(op: ReconciledOperation): boolean {
  return op.state === 'FAILED' && op.succeededAfterFailure !== undefined && commandsMarkedDoneBy('succeeded_after_failure').includes(op.command);
}

/**
 * The candidate a line is about: of `gateway` (the configured name), compatible with the line's kind, by the
 * strongest method (operation id, the modification's reference, the payment's reference, the merchant
 * reference). Among candidates found the same way (an order's operations; the partial captures a payment's
 * reference leads to) the one with the line's amount and currency, then one no earlier line of the run was
 * matched to (`taken`), then, by merchant reference, the oldest. `null`: none fits.
 */
export function chooseMatch(record: PspRecord, candidates: readonly Candidate[], gateway: string, taken?: ReadonlySet<string>): Candidate | null {
  const best = strongestMatch(record, candidates, gateway, compatible, taken);
  // A cancellation no cancel of the ledger accounts for, naming one of our authorizations (its PSP reference,
  // or our id for it): about that authorization, which the PSP released (see `classifyCancelOfAuthorization`).
  if (best !== null || (record.kind !== 'cancel' && record.kind !== 'refund' && record.kind !== 'refund_reversed')) return best;
  // Likewise a refund no refund of the ledger accounts for, naming one of our payments: about that payment, which the
  // PSP refunded without the bridge (see `classifyRefundOfPayment`); and such a refund's failure or reversal (see
  // `classifyReversalOfPaymentRefund`).
  return strongestMatch(
    record,
    candidates.filter((c) => c.by === 'operation_id' || c.by === 'psp_reference'),
    gateway,
    (kind, command) => (kind === 'cancel' ? holdsAuthorization(command) : isPayment(command)),
    taken,
  );
}

/** Commands whose operation is a payment a refund gives money back from. */
function isPayment(command: CommandType): boolean {
  return holdsAuthorization(command) || command === 'sale';
}

/** Whether `record` is a refund's failure or reversal matched to a payment itself (no refund of ours accounts for it). */
export function reversesRefundOfPayment(record: PspRecord, op: ReconciledOperation): boolean {
  return record.kind === 'refund_reversed' && op.command !== 'refund';
}

/** Whether `record` is a refund matched to a payment itself (no refund of ours accounts for it). */
export function refundsPayment(record: PspRecord, op: ReconciledOperation): boolean {
  return record.kind === 'refund' && op.command !== 'refund';
}

/**
 * Whether some of the line's compatible candidates tie on the strongest method (then {@link chooseMatch} asks
 * which of them earlier lines took): the runner looks that up only for such lines.
 */
export function hasTiedCandidates(record: PspRecord, candidates: readonly Candidate[], gateway: string): boolean {
  const fitting = candidates.filter((c) => gatewayOf(c.op) === gateway && compatible(record.kind, c.op.command));
  const strongest = Math.min(...fitting.map((c) => METHOD_RANK[c.by]));
  return new Set(fitting.filter((c) => METHOD_RANK[c.by] === strongest).map((c) => c.op.id)).size > 1;
}

/** The strongest of `candidates` of `gateway` that `fits` the line (see {@link chooseMatch}). */
function strongestMatch(
  record: PspRecord,
  candidates: readonly Candidate[],
  gateway: string,
  fits: (kind: PspRecordKind, command: CommandType) => boolean,
  taken: ReadonlySet<string> | undefined,
): Candidate | null {
  const currency = record.currency.toUpperCase();
  // Ties, in order: the line's money, then not matched yet, then (an order's operations) the oldest.
  const order = (x: Candidate): [number, number, number] => [
    ledgerAmount(x.op) === record.amount && ledgerCurrency(x.op) === currency ? 0 : 1,
    taken?.has(x.op.id) === true ? 1 : 0,
    x.by === 'merchant_reference' ? x.op.createdAt : 0,
  ];
  let best: Candidate | null = null;
  for (const c of candidates) {
    if (gatewayOf(c.op) !== gateway || !fits(record.kind, c.op.command)) continue;
    if (!best) {
      best = c;
      continue;
    }
    const rank = METHOD_RANK[c.by] - METHOD_RANK[best.by];
    if (rank < 0) best = c;
    else if (rank === 0 && before(order(c), order(best))) best = c;
  }
  return best;
}

/** Whether `a` sorts strictly before `b`, element by element. */
function before(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * What the PSP confirmed for the operation when it said, else what was sent to it: the routed payment's
 * amount, which for a converted payment is in the settlement currency the PSP's records use. A confirmed
 * currency counts only with its confirmed amount (`confirmedOrAsked`).
 */
export function ledgerAmount(op: ReconciledOperation): number {
  return counted(op).amount;
}

/** The currency of {@link ledgerAmount}. */
export function ledgerCurrency(op: ReconciledOperation): string {
  return counted(op).currency.toUpperCase();
}

/**
 * {@link ledgerAmount} and its currency. A FAILED operation the PSP did after all (`markedDoneAfterFailure`) counts what
 * that fact confirmed (else what was asked), as the amount checks count it, not a figure its refusal may have carried.
 */
function counted(op: ReconciledOperation): { amount: number; currency: string } {
  const mark = markedDoneAfterFailure(op) ? op.succeededAfterFailure : undefined;
  if (mark === undefined) return confirmedOrAsked(op, routedPayment(op));
  return confirmedOrAsked({ confirmedAmount: mark.amount, confirmedCurrency: mark.currency }, routedPayment(op));
}

export function ledgerSide(op: ReconciledOperation): LedgerSide {
  return {
    operationId: op.id,
    command: op.command,
    state: op.state,
    amount: ledgerAmount(op),
    currency: ledgerCurrency(op),
    ...(op.payment.order_id ? { orderId: op.payment.order_id } : {}),
    ...(op.gatewayReference ? { gatewayReference: op.gatewayReference } : {}),
    createdAt: op.createdAt,
  };
}

/** Operations whose success at the PSP moves (or holds) money, and so must appear in its records. */
export function movesMoney(command: CommandType): boolean {
  switch (command) {
    case 'authorize':
    case 'sale':
    case 'capture':
    case 'refund':
    case 'cancel':
    case 'revalidate':
    case 'reload':
    case 'issue':
      return true;
    case 'validate':
    case 'tokenize':
    case 'balance_inquiry':
    case 'activate':
    case 'deactivate':
    case 'merge_balance':
      return false;
    default:
      return assertNever(command);
  }
}

/**
 * The direction of an amount difference, for the merchant: more collected than the ledger says is a credit,
 * less a debit; for a refund the reverse; an authorization only holds money.
 */
function differenceDirection(command: CommandType, pspAmount: number, ledger: number): MoneyDirection {
  // More moved than the ledger says goes the way the operation's own success moves money; less, the other way.
  const success = directionOfSuccess(command);
  return pspAmount > ledger ? success : reversed(success);
}

/**
 * Adjustment kinds that may already record a late-fact line of `kind` (a webhook brought it first), its own
 * kind first (the table both searches share, `src/adjustments/same-fact.ts`).
 */
function recordedAs(kind: PspRecordKind): readonly AdjustmentKind[] {
  if (kind === 'refund') return lateFactRecordedAs('refund_outside_bridge');
  return isReconciledLateFact(kind) ? lateFactRecordedAs(kind) : lateFactRecordedAs('refund_reversed');
}

function isReconciledLateFact(kind: PspRecordKind): kind is ReconciledLateFactKind {
  return (RECONCILED_LATE_FACT_KINDS as readonly string[]).includes(kind);
}

/**
 * The adjustment no line accounts for yet that already records `record` (a late fact), or `null`. One
 * adjustment accounts for one line: it must be free (no `line`), of a kind that records the line's
 * (`recordedAs`) moving money the same way (a notice that moved nothing does not stand for money taken),
 * of the line's amount or of none stated, and name the line's own PSP reference (the dispute or
 * modification) when both name one. Preferred: the same reference, then the line's own kind, then the
 * amount stated; then the oldest.
 */
export function recordingAdjustment(record: PspRecord, adjustments: readonly KnownAdjustment[]): { adjustment: KnownAdjustment; by: TieMethod } | null {
  const kinds = recordedAs(record.kind);
  const { direction } = record.kind === 'refund' ? OUTSIDE_REFUND : lateFactAdjustment(record.kind);
  const reference = record.modificationReference;
  const sameReference = (a: KnownAdjustment): boolean => reference !== undefined && a.pspReference === reference;
  let best: KnownAdjustment | null = null;
  let bestOrder: number[] = [];
  for (const a of adjustments) {
    if (a.line !== undefined || !kinds.includes(a.kind) || a.direction !== direction) continue;
    // A refund's reference names one refund, whatever amount the webhook read (an Adyen cancel-or-refund, capped).
    if (a.amount !== undefined && a.amount !== record.amount && !(record.kind === 'refund' && sameReference(a))) continue;
    if (reference !== undefined && a.pspReference !== undefined && a.pspReference !== reference) continue;
    const order = [sameReference(a) ? 0 : 1, kinds.indexOf(a.kind), a.amount === undefined ? 1 : 0];
    if (best === null || before(order, bestOrder)) {
      best = a;
      bestOrder = order;
    }
  }
  return best === null ? null : { adjustment: best, by: sameReference(best) ? 'psp_reference' : 'kind_and_amount' };
}

/** Where an operation stands, for comparing with a PSP status. */
type LedgerStanding = 'succeeded' | 'failed' | 'open' | 'never_sent';

function standing(state: OperationState): LedgerStanding {
  switch (state) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    case 'SENT':
    case 'PENDING':
    case 'ACTION_REQUIRED':
    case 'UNKNOWN':
    case 'UNRESOLVED':
      return 'open';
    case 'RECEIVED':
      return 'never_sent';
    default:
      return assertNever(state);
  }
}

/** An amount for a person: major units ("41.00 EUR"), or minor units said as such for a currency we cannot place. */
function money(amount: number, currency: string): string {
  return isKnownCurrency(currency) && Number.isSafeInteger(amount) ? `${formatMinor(amount, currency)} ${currency}` : `${amount} minor units of ${currency}`;
}

/**
 * Classifies one PSP line against the operation it was matched to (`null`: none). Every PSP kind, PSP
 * status and ledger state is handled; nothing falls through.
 */
export function classifyLine(record: PspRecord, match: Match | null): LineVerdict {
  const currency = record.currency.toUpperCase();
  if (record.kind === 'other') return { class: 'not_a_payment', record, action: { type: 'none' }, note: `${record.pspType}: not a payment` };
  if (!match) {
    const moved = record.status === 'failed' ? 'tried to move' : 'moved';
    return {
      class: 'missing_in_ledger',
      record,
      action: { type: 'report' },
      note: `the PSP ${moved} ${money(record.amount, currency)} (${record.kind}) that no ledger operation of this gateway accounts for`,
    };
  }
  const { op, by } = match;
  const base = { record, ledger: ledgerSide(op), matchedBy: by };
  if (reversesRefundOfPayment(record, op)) return classifyReversalOfPaymentRefund(record, match, base);
  if (isLateFact(record.kind)) return classifyLateFact(record, match, base);
  if (cancelsAuthorization(record, op)) return classifyCancelOfAuthorization(record, match, base);
  if (refundsPayment(record, op)) return classifyRefundOfPayment(record, match, base);

  const psp = record.status;
  const ledger = standing(op.state);
  const adjust = (kind: AdjustmentKind, direction: MoneyDirection, amount: number, reason: string): ReconciliationAction => ({
    type: 'adjust',
    kind,
    direction,
    amount,
    currency,
    reason,
  });
  switch (ledger) {
    case 'succeeded':
      if (showsUndoneDone(record, op)) return classifyUndoneDone(record, match, base);
      if (psp === 'succeeded') return compareMoney(record, op, base);
      if (psp === 'failed') {
        const { kind, direction } = failureAfterSuccess(op.command);
        if (reported(match, kind, record)) return alreadyReported(base, kind, `the ledger holds ${op.command} ${op.id} SUCCEEDED; the PSP says it failed`);
        return {
          ...base,
          class: 'state_mismatch',
          action: adjust(kind, direction, record.amount, `psp_${record.pspType}`),
          note: `the ledger holds ${op.command} ${op.id} SUCCEEDED; the PSP says it failed`,
        };
      }
      return { ...base, class: 'state_mismatch', action: { type: 'report' }, note: `the ledger holds ${op.id} SUCCEEDED; the PSP still shows it pending` };
    case 'failed':
      if (showsUndoneDone(record, op)) return classifyUndoneDone(record, match, base);
      if (psp === 'failed' && doneAfterFailure(op)) return classifyFailureAfterCounted(record, match, base);
      if (psp === 'succeeded') {
        if (anotherCharge(record, match)) return classifyAnotherCharge(record, match, base);
        if (markedDoneAfterFailure(op)) return classifyDoneAfterFailure(record, op, base);
        if (reported(match, 'succeeded_after_failure', record)) {
          return alreadyReported(base, 'succeeded_after_failure', `the ledger holds ${op.command} ${op.id} FAILED; the PSP says it succeeded`);
        }
        return {
          ...base,
          class: 'state_mismatch',
          action: successAfterFailure(record, op),
          note: `the ledger holds ${op.command} ${op.id} FAILED; the PSP says it succeeded (${money(record.amount, currency)})`,
        };
      }
      if (psp === 'failed') return { ...base, class: 'matched', action: { type: 'none' }, note: 'failed on both sides' };
      return { ...base, class: 'state_mismatch', action: { type: 'report' }, note: `the ledger holds ${op.id} FAILED; the PSP still shows it pending` };
    case 'open':
      if (psp === 'pending') return { ...base, class: 'matched', action: { type: 'none' }, note: `open on both sides (${op.state}, pending)` };
      return {
        ...base,
        class: 'state_mismatch',
        action: { type: 'settle', status: psp === 'succeeded' ? 'SUCCESS' : 'FAIL' },
        note: `the ledger holds ${op.id} ${op.state}; the PSP says it ${psp}: settled by the PSP's record`,
      };
    case 'never_sent':
      return {
        ...base,
        class: 'state_mismatch',
        action: { type: 'report' },
        note: `the ledger holds ${op.id} RECEIVED (never sent); the PSP lists it as ${psp}`,
      };
    default:
      return assertNever(ledger);
  }
}

/**
 * Whether `record` shows as done (a capture collected, a refund paid out) a capture, sale or refund the ledger holds
 * SUCCEEDED (or FAILED and done by the PSP after all, `doneAfterFailure`) and marked undone (`undoneBy`: the PSP said
 * it failed, or a refund's money came back), of the kind a `succeeded_after_failure` redoes (`commandsRedoneBy`). A
 * sale's authorization line says nothing about its capture.
 */
export function showsUndoneDone(record: PspRecord, op: ReconciledOperation): boolean {
  if (!(op.state === 'SUCCEEDED' || doneAfterFailure(op)) || op.undoneBy === undefined || record.status !== 'succeeded') return false;
  if (!commandsRedoneBy('succeeded_after_failure').includes(op.command)) return false;
  return op.command === 'refund' ? record.kind === 'refund' : record.kind === 'capture';
}

/**
 * Whether `op` was undone by a void of ours the PSP confirmed (`undoneByVoid`: a cancel naming it, or the cancel of its
 * authorization, voided it and its success marked it), not by a later fact an adjustment recorded.
 */
function undoneByOurVoid(op: ReconciledOperation): boolean {
  return op.undoneBy !== undefined && op.undoneByVoid === op.undoneBy;
}

/**
 * A PSP line showing done a capture or refund our own confirmed void undid: the PSP keeps listing the original
 * transaction (Cybersource lists the void as a transaction of its own), so the line is the one the void undid, not a
 * success after the undoing. Its money is compared as usual; when it agrees it matches, naming the void.
 */
function classifyVoidedByUs(record: PspRecord, op: ReconciledOperation, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const verdict = compareMoney(record, op, base);
  if (verdict.class !== 'matched') return verdict;
  const done = op.command === 'refund' ? 'refunded' : 'captured';
  return { ...verdict, note: `${op.command} ${op.id} voided by our cancel ${op.undoneBy ?? ''} (confirmed); the PSP's line is the ${done} the void undid` };
}

/** An epoch-ms time for a person (ISO 8601), or `no time` when the PSP gave none. */
function at(ms: number | undefined): string {
  return ms === undefined ? 'no time' : new Date(ms).toISOString();
}

/**
 * The PSP lists as done an operation the ledger holds SUCCEEDED and marked undone by a later fact (`showsUndoneDone`).
 * Ordered by the PSP's own times, the line's against the undoing adjustment's: a line after it says the PSP did it
 * after all (a re-capture whose webhook was lost, a failure reported in error): a `succeeded_after_failure`, which
 * clears the mark in its own write and tells the OMS. A line before it is the success that fact undid (a report cut
 * before the failure): the failure stands, the money is compared as usual. The same time, an undoing adjustment
 * without a time, or none readable: which came first cannot be told, a person looks.
 */
function classifyUndoneDone(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const { op } = match;
  if (undoneByOurVoid(op)) return classifyVoidedByUs(record, op, base);
  const undoneBy = op.undoneBy ?? '';
  const failure = (match.adjustments ?? []).find((a) => a.id === undoneBy);
  const done = op.command === 'refund' ? 'refunded' : 'captured';
  const held = op.state === 'FAILED' ? `FAILED, ${done} by the PSP after all,` : 'SUCCEEDED,';
  const what = `the ledger holds ${op.command} ${op.id} ${held} undone by ${failure?.kind ?? 'adjustment'} ${undoneBy} (${at(failure?.occurredAt)})`;
  const undone = (outcome: UndoneLineOutcome): NonNullable<LineVerdict['undone']> => ({ adjustmentId: undoneBy, outcome });
  if (failure?.occurredAt === undefined || failure.occurredAt === record.occurredAt) {
    return {
      ...base,
      class: 'state_mismatch',
      action: { type: 'report' },
      undone: undone('unclear'),
      note: `${what}; the PSP lists it ${done} (${at(record.occurredAt)}) and whether before or after that cannot be told: a person looks`,
    };
  }
  if (laterInPspTime(failure.occurredAt, record.occurredAt)) {
    const verdict = compareMoney(record, op, base);
    const stands = { ...verdict, undone: undone('stands') };
    if (verdict.class !== 'matched') return stands;
    return { ...stands, note: `${what}; the PSP's line (${at(record.occurredAt)}) is the ${done} it undid: the failure stands` };
  }
  const currency = record.currency.toUpperCase();
  return {
    ...base,
    class: 'state_mismatch',
    action: successAfterFailure(record, op),
    undone: undone('redone'),
    note: `${what}; the PSP lists it ${done} after that (${at(record.occurredAt)}, ${money(record.amount, currency)}): succeeded after all`,
  };
}

/**
 * The PSP lists as failed a capture, sale or refund the ledger holds FAILED and counts as done by the PSP after all
 * (`doneAfterFailure`), as it would one it holds SUCCEEDED: a failure after that success is the same contradiction
 * (`failureAfterSuccess`: `capture_failed`, `refund_failed`), recorded once, whose write marks the operation undone
 * (the adjustment store orders it with the success by the PSP's times), so it stops counting. Ordered by the PSP's
 * times against the success that marked it, as the store does (`laterInPspTime`): a line the success is later than is
 * the failure it succeeded after (the ledger's own FAILED), agreed; one in the success's own second cannot be told
 * older, and marks, as in the store. One the operation is undone by already, or an adjustment recorded from this very line: reported
 * already. The line the success itself was recorded from, now failed: the PSP restated it, a person looks.
 */
function classifyFailureAfterCounted(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const { op } = match;
  const by = op.succeededAfterFailure?.by ?? '';
  const adjustments = match.adjustments ?? [];
  const success = adjustments.find((a) => a.id === by);
  const done = op.command === 'refund' ? 'refunded' : 'captured';
  const what = `the ledger holds ${op.command} ${op.id} FAILED, ${done} by the PSP after all (succeeded_after_failure ${by}, ${at(success?.occurredAt)}); the PSP says it failed (${at(record.occurredAt)})`;
  const { kind, direction } = failureAfterSuccess(op.command);
  if (op.undoneBy !== undefined) return { ...base, class: 'state_mismatch', action: { type: 'none' }, note: `${what}; already undone by ${op.undoneBy}` };
  const own = adjustments.find((a) => a.line === record.lineId);
  if (own?.id === by) {
    return {
      ...base,
      class: 'state_mismatch',
      action: { type: 'report' },
      note: `${what}: the line that said it succeeded now says it failed; a person looks`,
    };
  }
  if (own) return alreadyReported(base, own.kind, what);
  if (laterInPspTime(success?.occurredAt, record.occurredAt)) {
    return { ...base, class: 'matched', action: { type: 'none' }, note: `${what}: the failure it succeeded after; it counts as ${done}` };
  }
  const currency = record.currency.toUpperCase();
  return {
    ...base,
    class: 'state_mismatch',
    action: { type: 'adjust', kind, direction, amount: record.amount, currency, reason: `psp_${record.pspType}` },
    note: `${what} after that: ${kind}, it no longer counts as ${done}`,
  };
}

/**
 * Whether `record`, a success line of a sale the ledger holds FAILED and marked done by the PSP after all
 * (`markedDoneAfterFailure`), is a charge at another PSP transaction than the one the mark's `succeeded_after_failure`
 * reported (a resend that landed twice, a second attempt): the line names its transaction, the mark's adjustment names
 * one, and no adjustment of the operation names the line's (`namesLineTransaction`) nor was recorded from it. Where
 * either names none, or the adjustments were not read, the first reading stands: compared by money. Pure.
 */
export function anotherCharge(record: PspRecord, match: Match): boolean {
  const { op } = match;
  if (op.command !== 'sale' || record.status !== 'succeeded' || !markedDoneAfterFailure(op) || lineReferences(record).length === 0) return false;
  const adjustments = match.adjustments ?? [];
  const mark = adjustments.find((a) => a.id === op.succeededAfterFailure?.by);
  if (mark?.pspReference === undefined) return false;
  return !adjustments.some((a) => a.line === record.lineId || namesLineTransaction(a, record));
}

/** The `succeeded_after_failure` adjustment of `record`'s money, in the direction `op`'s command moves it. Pure. */
function successAfterFailure(record: PspRecord, op: Pick<OperationRecord, 'command'>): ReconciliationAction {
  return {
    type: 'adjust',
    kind: 'succeeded_after_failure',
    direction: directionOfSuccess(op.command),
    amount: record.amount,
    currency: record.currency.toUpperCase(),
    reason: `psp_${record.pspType}`,
  };
}

/**
 * A FAILED sale the PSP charged after all (its mark's transaction) charged again at another transaction
 * (`anotherCharge`): the customer was charged twice and the OMS knows of one. Its own `succeeded_after_failure` of the
 * line's amount, told to the OMS; the mark keeps the first (what refunds of the sale are checked against). Not
 * refunded: captured money is the merchant's decision, as orphan reversal leaves a sale outside a split tender.
 */
function classifyAnotherCharge(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const { op } = match;
  const currency = record.currency.toUpperCase();
  return {
    ...base,
    class: 'state_mismatch',
    action: successAfterFailure(record, op),
    note: `the ledger holds ${op.command} ${op.id} FAILED, captured by the PSP after all (succeeded_after_failure ${op.succeededAfterFailure?.by ?? ''}); the PSP lists another charge of it (${money(record.amount, currency)}): charged more than once`,
  };
}

/**
 * The PSP lists as succeeded an operation the ledger holds FAILED and marked done by the PSP after all
 * (`markedDoneAfterFailure`): both sides agree it was done, so its money is compared as a SUCCEEDED one's, at what
 * the mark confirmed (`ledgerAmount`): `matched`, or `amount_mismatch` / `currency_mismatch` as for any operation.
 * Never a second `succeeded_after_failure`, nor a state mismatch run after run.
 */
function classifyDoneAfterFailure(record: PspRecord, op: ReconciledOperation, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const verdict = compareMoney(record, op, base);
  if (verdict.class !== 'matched') return verdict;
  const done = op.command === 'refund' ? 'refunded' : op.command === 'cancel' ? 'cancelled' : 'captured';
  return {
    ...verdict,
    note: `the ledger holds ${op.command} ${op.id} FAILED, ${done} by the PSP after all (succeeded_after_failure ${op.succeededAfterFailure?.by ?? ''}); the PSP agrees, same amount and currency`,
  };
}

/** Both sides say it succeeded: currency first, then amount (a cancel's amount is what it released: not compared). */
function compareMoney(record: PspRecord, op: ReconciledOperation, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const currency = record.currency.toUpperCase();
  const ourCurrency = ledgerCurrency(op);
  const ours = ledgerAmount(op);
  if (currency !== ourCurrency) {
    return {
      ...base,
      class: 'currency_mismatch',
      action: {
        type: 'adjust',
        kind: 'currency_mismatch',
        direction: 'none',
        amount: record.amount,
        currency,
        reason: `ledger_${money(ours, ourCurrency).replace(' ', '_')}`,
      },
      note: `the PSP moved ${money(record.amount, currency)}; the ledger holds ${money(ours, ourCurrency)}`,
    };
  }
  if (record.kind !== 'cancel' && record.amount !== ours) {
    const difference = Math.abs(record.amount - ours);
    return {
      ...base,
      class: 'amount_mismatch',
      action: {
        type: 'adjust',
        kind: 'amount_mismatch',
        direction: differenceDirection(op.command, record.amount, ours),
        amount: difference,
        currency,
        reason: `psp_${record.amount}_ledger_${ours}`,
      },
      note: `the PSP moved ${money(record.amount, currency)}; the ledger holds ${money(ours, ourCurrency)} (difference ${money(difference, currency)})`,
    };
  }
  return { ...base, class: 'matched', action: { type: 'none' }, note: 'same operation, state, amount and currency' };
}

/**
 * Whether the operation already has an adjustment of `kind` reporting this line's PSP transaction (a webhook, or an
 * earlier line, reported the contradiction first): one naming either of the line's references, or, where either side
 * names none, any of that kind (the first reading stands where the reference cannot tell). One naming another
 * transaction (a second authorization or charge of the operation at the PSP) does not report this one.
 */
function reported(match: Match, kind: AdjustmentKind, record: PspRecord): boolean {
  const named = lineReferences(record);
  return (match.adjustments ?? []).some((a) => a.kind === kind && (named.length === 0 || a.pspReference === undefined || named.includes(a.pspReference)));
}

/**
 * The references a line names its PSP transaction by: its modification's (what the runner records an adjustment of it
 * under, `modificationReference ?? pspReference`) and its payment's. A webhook names the transaction by what its
 * notification carries, which may be the other one: a Cybersource line's modification reference is its
 * `reconciliationId`, its payment reference the transaction id the webhook names. Pure.
 */
export function lineReferences(record: Pick<PspRecord, 'modificationReference' | 'pspReference'>): string[] {
  return [record.modificationReference, record.pspReference].filter((r): r is string => r !== undefined);
}

/**
 * Whether adjustment `a` names the PSP transaction of line `record` ({@link lineReferences}): false when either names
 * none (the reference cannot tell). Pure.
 */
export function namesLineTransaction(a: Pick<KnownAdjustment, 'pspReference'>, record: Pick<PspRecord, 'modificationReference' | 'pspReference'>): boolean {
  return a.pspReference !== undefined && lineReferences(record).includes(a.pspReference);
}

/**
 * A contradiction of a terminal state that an adjustment already reported to the OMS: still a state
 * mismatch for the report, with nothing more to record or send.
 */
function alreadyReported(base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>, kind: AdjustmentKind, note: string): LineVerdict {
  return { ...base, class: 'state_mismatch', action: { type: 'none' }, note: `${note}; already reported as a ${kind} adjustment` };
}

/** Whether `record` is a cancellation matched to an authorization itself (no cancel of ours accounts for it). */
export function cancelsAuthorization(record: PspRecord, op: ReconciledOperation): boolean {
  return record.kind === 'cancel' && op.command !== 'cancel';
}

/**
 * The PSP released an authorization and no cancel of the ledger accounts for it (a Dashboard void, a
 * cancellation by the PSP itself): what the webhook path reports once the PSP confirms it. Against an
 * authorization the ledger holds SUCCEEDED and nothing of ours closed, a `failed_after_success` adjustment
 * (which also takes it out of the expiry and orphan indexes), unless one (or the lapse it may have been
 * reported as) is recorded already; one a cancel or revalidation of ours closed is expected; one FAILED held
 * nothing to release; an open or unsent one is left to a person.
 */
function classifyCancelOfAuthorization(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const { op } = match;
  const what = `the PSP cancelled ${op.command} ${op.id}`;
  if (record.status !== 'succeeded') return { ...base, class: 'matched', action: { type: 'none' }, note: `a cancellation ${record.status}: nothing released` };
  const ledger = standing(op.state);
  switch (ledger) {
    case 'succeeded': {
      if (op.closedBy !== undefined) return { ...base, class: 'matched', action: { type: 'none' }, note: `${what}, which ${op.closedBy} of the ledger closed` };
      const known = (match.adjustments ?? []).find((a) => a.kind === 'failed_after_success' || a.kind === 'authorization_expired');
      if (known) return alreadyReported(base, known.kind, `${what}, which the ledger holds SUCCEEDED`);
      return {
        ...base,
        class: 'state_mismatch',
        action: {
          type: 'adjust',
          kind: 'failed_after_success',
          direction: 'none',
          amount: record.amount,
          currency: record.currency.toUpperCase(),
          reason: `psp_${record.pspType}`,
        },
        note: `${what}, which the ledger holds SUCCEEDED and no cancel of the ledger asked for`,
      };
    }
    case 'failed':
      return { ...base, class: 'matched', action: { type: 'none' }, note: `${what}, which the ledger holds FAILED: nothing held on either side` };
    case 'open':
    case 'never_sent':
      return { ...base, class: 'state_mismatch', action: { type: 'report' }, note: `${what}, which the ledger holds ${op.state}` };
    default:
      return assertNever(ledger);
  }
}

/** The adjustment a refund of one of our payments that no refund of ours accounts for records. */
const OUTSIDE_REFUND: { kind: AdjustmentKind; direction: MoneyDirection } = { kind: 'refund_outside_bridge', direction: 'debit' };

/**
 * The PSP refunded one of our payments (an authorization or a sale) and no refund of the ledger accounts for it (the
 * PSP's back office, the PSP itself): what the webhook path reports (`webhooks/outside-refund.ts`), the same fact, found
 * once by either. Against a payment the ledger holds SUCCEEDED: matched when an adjustment accounts for this very line,
 * or when a webhook's `refund_outside_bridge` no line accounts for records it (same refund reference, or same amount:
 * `recordingAdjustment`; the runner ties it to this line); a sale a cancel-or-refund of the PSP already undid
 * (`undoneBy`: reported as its `capture_failed`) is reported already; else a `refund_outside_bridge` adjustment,
 * `debit`, the line's amount and currency (the runner reports it instead when a refund of ours on the payment is still
 * open: it may be that one). A refund not succeeded gave nothing back; a payment the ledger holds otherwise: a person looks.
 */
function classifyRefundOfPayment(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const { op } = match;
  const currency = record.currency.toUpperCase();
  const what = `the PSP refunded ${money(record.amount, currency)} of ${op.command} ${op.id}, which no refund of the ledger asked for`;
  if (record.status !== 'succeeded') return { ...base, class: 'matched', action: { type: 'none' }, note: `a refund ${record.status}: nothing given back` };
  // The payment the PSP holds, as the webhook reads it (`outsideRefundReading`): SUCCEEDED, or held FAILED and done
  // by the PSP after all (a sale's `succeeded_after_failure`). One fact either way.
  if (!heldDoneAtPsp(op)) return { ...base, class: 'state_mismatch', action: { type: 'report' }, note: `${what}; the ledger holds it ${op.state}` };
  const adjustments = match.adjustments ?? [];
  const own = adjustments.find((a) => a.line === record.lineId);
  if (own) return { ...base, class: 'matched', action: { type: 'none' }, note: `${what}: already recorded as ${own.kind} adjustment ${own.id}` };
  if (op.undoneBy !== undefined) return alreadyReported(base, 'capture_failed', `${what}; the ledger holds it undone by ${op.undoneBy}`);
  const found = recordingAdjustment(record, adjustments);
  const told = found?.adjustment.amount;
  if (found && told !== undefined && told !== record.amount) {
    // The same refund (its reference), the webhook's amount another (an Adyen cancel-or-refund capped at what the
    // ledger left to refund): one fact, tied; the OMS was told another amount than the PSP gave back: a person looks.
    const tied = tiedToRecording(base, found, what);
    return { ...tied, class: 'amount_mismatch', action: { type: 'report' }, note: `${tied.note}; the adjustment states ${money(told, currency)}` };
  }
  if (found) return tiedToRecording(base, found, what);
  return {
    ...base,
    class: 'state_mismatch',
    action: { type: 'adjust', ...OUTSIDE_REFUND, amount: record.amount, currency, reason: `psp_${record.pspType}` },
    note: what,
  };
}

/**
 * The failure or reversal of a refund of one of our payments that no refund of the ledger accounts for (Stripe's
 * `refund_failure` of a Dashboard refund, Adyen's `RefundedReversed` of a Customer Area refund): the money came back to
 * the merchant. Once the payment's `refund_outside_bridge` of that refund (the line's modification reference) is
 * recorded, a late fact of the payment as the webhook's `refund_failed` / `refund_reversed` of it is
 * (`classifyLateFact`: tied to that one when it came first, else `refund_reversed`, credit, the line's amount). A refund
 * the OMS was never told of (no `refund_outside_bridge` of it): a person looks, nothing recorded (its failure alone
 * would tell of money coming back from a refund it never heard of).
 */
function classifyReversalOfPaymentRefund(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  const adjustments = match.adjustments ?? [];
  const reference = record.modificationReference;
  const refunded = adjustments.some((a) => a.kind === 'refund_outside_bridge' && reference !== undefined && a.pspReference === reference);
  if (refunded || adjustments.some((a) => a.line === record.lineId)) return classifyLateFact(record, match, base);
  const { op } = match;
  return {
    ...base,
    class: 'state_mismatch',
    action: { type: 'report' },
    note: `the PSP lists a refund_reversed of ${money(record.amount, record.currency.toUpperCase())} of refund ${reference ?? '(no reference)'} of ${op.command} ${op.id}, which no refund of the ledger asked for and no refund_outside_bridge reported`,
  };
}

/**
 * The verdict of a line whose fact an adjustment no line accounts for yet records already (`recordingAdjustment`):
 * matched, nothing to do, and the runner ties that adjustment to the line; `what` names the fact in the note.
 */
function tiedToRecording(
  base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>,
  { adjustment, by }: { adjustment: KnownAdjustment; by: TieMethod },
  what: string,
): LineVerdict {
  const how = by === 'psp_reference' ? 'same PSP reference' : 'same kind and amount';
  return {
    ...base,
    class: 'matched',
    action: { type: 'none' },
    ties: { adjustmentId: adjustment.id, by },
    note: `${what}: already recorded as ${adjustment.kind} adjustment ${adjustment.id} (${how})`,
  };
}

/** The adjustment a late-fact line of `kind` records. */
function lateFactAdjustment(kind: PspRecordKind): { kind: AdjustmentKind; direction: MoneyDirection } {
  switch (kind) {
    case 'chargeback':
      return { kind: 'chargeback', direction: 'debit' };
    case 'second_chargeback':
      return { kind: 'second_chargeback', direction: 'debit' };
    case 'chargeback_reversed':
      return { kind: 'chargeback_reversed', direction: 'credit' };
    case 'authorization_expired':
      return { kind: 'authorization_expired', direction: 'none' };
    case 'refund_reversed':
      return { kind: 'refund_reversed', direction: 'credit' };
    default:
      throw new Error(`a ${kind} line is not a late fact`);
  }
}

/**
 * A chargeback, its reversal, a refund reversal, a lapse: matched when an adjustment accounts for this very
 * line (recorded from it, or tied to it by an earlier run), or when one no line accounts for yet records it
 * (`recordingAdjustment`: the runner then ties that one to this line); else an adjustment to record. A
 * second fact of the same kind and amount (a second chargeback after a reversal) is a line of its own.
 */
function classifyLateFact(record: PspRecord, match: Match, base: Pick<LineVerdict, 'record' | 'ledger' | 'matchedBy'>): LineVerdict {
  if (record.status !== 'succeeded') return { ...base, class: 'matched', action: { type: 'none' }, note: `${record.kind} ${record.status}: nothing moved` };
  const adjustments = match.adjustments ?? [];
  const own = adjustments.find((a) => a.line === record.lineId);
  if (own) return { ...base, class: 'matched', action: { type: 'none' }, note: `${record.kind} already recorded as ${own.kind} adjustment ${own.id}` };
  const found = recordingAdjustment(record, adjustments);
  if (found) return tiedToRecording(base, found, record.kind);
  const currency = record.currency.toUpperCase();
  const fact = lateFactAdjustment(record.kind);
  return {
    ...base,
    class: 'state_mismatch',
    action: { type: 'adjust', ...fact, amount: record.amount, currency, reason: `psp_${record.pspType}` },
    note: `the PSP lists a ${record.kind} of ${money(record.amount, currency)} the ledger has no adjustment for`,
  };
}

/**
 * Whether the ledger holds that the PSP did `op`: SUCCEEDED, or FAILED and done by the PSP after all (`doneAfterFailure`:
 * it counts as captured or refunded, at what the PSP confirmed) and not undone since (`undoneBy`: a later failure of it
 * took that back). A plain FAILED one is not: the PSP not listing a failure agrees with the ledger.
 */
export function heldDone(op: ReconciledOperation): boolean {
  return op.state === 'SUCCEEDED' || (doneAfterFailure(op) && op.undoneBy === undefined);
}

/**
 * A ledger operation of the window with no PSP line: `missing_at_psp` when it moved money by the ledger
 * (`heldDone`: SUCCEEDED, or FAILED and done by the PSP after all, at the amount the PSP confirmed; of a
 * money-moving command the PSP's source lists: not one of `unlisted`), else `null` (nothing to expect at the PSP).
 */
export function classifyMissingAtPsp(op: ReconciledOperation, unlisted: readonly CommandType[] = []): LineVerdict | null {
  if (!heldDone(op) || !movesMoney(op.command) || unlisted.includes(op.command)) return null;
  const side = ledgerSide(op);
  const held =
    op.state === 'SUCCEEDED'
      ? 'SUCCEEDED'
      : `FAILED, ${op.command === 'refund' ? 'refunded' : 'captured'} by the PSP after all (succeeded_after_failure ${op.succeededAfterFailure?.by ?? ''})`;
  return {
    class: 'missing_at_psp',
    ledger: side,
    action: { type: 'report' },
    note: `the ledger holds ${op.command} ${op.id} ${held} (${money(side.amount, side.currency)}); the PSP lists no line for it`,
  };
}

/**
 * A late PSP fact about money that already moved: a chargeback, a capture or refund that failed after the
 * PSP accepted it, a refund the PSP reversed, a dispute's outcome. It never moves the operation's own
 * state (a terminal state never changes); it is a record of its own, linked to the operation, and the OMS
 * gets an event for it. See docs/EVENTS.md for the mapping of each PSP's notifications.
 */

import type { CommandType } from '../contracts/payment-command';
import type { OperationState } from '../ledger/operation-state';

/** Every kind of adjustment, in our words (each PSP's notifications map onto these, see docs/EVENTS.md). */
export const ADJUSTMENT_KINDS = [
  /** A capture the PSP accepted was later rejected (by the scheme or the bank): the money was not collected. */
  'capture_failed',
  /** A refund the PSP accepted was later rejected: the shopper did not get the money back. */
  'refund_failed',
  /** A refunded amount came back to the merchant (the shopper's account could not take it). */
  'refund_reversed',
  /** A dispute (or a notice of an incoming chargeback) was opened; no money moved yet. */
  'dispute_opened',
  /** A step of an open dispute (documents supplied, issuer comments, pre-arbitration opened…); no money moved. */
  'dispute_updated',
  /** The disputed amount was taken from the merchant. */
  'chargeback',
  /** The chargeback was defended: the disputed amount came back to the merchant (not always final). */
  'chargeback_reversed',
  /** The issuer refused the defence: the disputed amount was taken again. */
  'second_chargeback',
  /** The dispute ended in the merchant's favour. */
  'dispute_won',
  /** The dispute ended in the shopper's favour. */
  'dispute_lost',
  /** The issuer reported the payment as fraud (Visa TC40, Mastercard SAFE); no money moved yet. */
  'fraud_alert',
  /**
   * The PSP reports success for an operation the OMS was told FAILED (a late or out-of-order answer): money
   * moved, or is held on the shopper's card, that the OMS does not know about. The operation stays FAILED.
   */
  'succeeded_after_failure',
  /**
   * Reconciliation: the PSP's records show another amount than the ledger holds for an operation both say
   * succeeded. The adjustment's amount is the difference (the PSP is authoritative), its direction which way.
   */
  'amount_mismatch',
  /** Reconciliation: the PSP's records show the money moved in another currency than the ledger holds (amount and currency: the PSP's). */
  'currency_mismatch',
  /**
   * Reconciliation: the PSP's records show as failed an operation the ledger holds SUCCEEDED, other than a
   * capture or refund (those are `capture_failed` / `refund_failed`): an authorization or a cancel.
   */
  'failed_after_success',
  /**
   * A gateway the operation failed over FROM reports that it authorised (or charged) it after all: a second
   * live authorization, at the earlier gateway, besides the one where the operation was routed (whose
   * outcome the OMS has). The bridge voids it (`authorizations.orphan_reversal` on); a sale charged there
   * is for a person to refund. `gateway` is the earlier gateway, `psp_reference` its authorization.
   */
  'duplicate_after_failover',
  /**
   * The PSP let an authorization lapse (Adyen `EXPIRE`): what it still held uncaptured is released and can no
   * longer be captured; nothing moved. `amount` as the PSP reports it (Adyen: the amount originally
   * authorised), so what lapsed is that less what was captured.
   */
  'authorization_expired',
  /**
   * The PSP refunded the payment (an authorization or a sale) and no refund of the bridge asked for it: the
   * merchant's staff in the PSP's back office (Adyen Customer Area, Stripe Dashboard), or the PSP itself (an Adyen
   * `CANCEL_OR_REFUND` of a captured payment). Money went back to the shopper: `direction` `debit`; `amount` and
   * `currency` as the PSP reports them; `psp_reference` the PSP's refund (one adjustment per refund).
   */
  'refund_outside_bridge',
] as const;
export type AdjustmentKind = (typeof ADJUSTMENT_KINDS)[number];

/**
 * Which way the money of this fact moved for the merchant: `debit` (taken from the merchant, or not
 * collected after all), `credit` (given back to the merchant), `none` (a notice: nothing moved).
 */
export type MoneyDirection = 'debit' | 'credit' | 'none';

/**
 * Which way the merchant's money moved when the PSP did an operation the ledger (or the OMS) holds as failed:
 * a sale or a capture credited the merchant, a refund or a stored-value load or issue debited it; the other
 * commands move no money. The direction of a `succeeded_after_failure` adjustment, whoever finds it (a
 * webhook or reconciliation).
 */
export function directionOfSuccess(command: CommandType): MoneyDirection {
  switch (command) {
    case 'sale':
    case 'capture':
      return 'credit';
    case 'refund':
    case 'reload':
    case 'issue':
      return 'debit';
    case 'authorize':
    case 'revalidate':
    case 'validate':
    case 'cancel':
    case 'tokenize':
    case 'balance_inquiry':
    case 'activate':
    case 'deactivate':
    case 'merge_balance':
      return 'none';
  }
}

/** The other way: what undoes a movement in `direction` (`none` stays `none`). */
export function reversed(direction: MoneyDirection): MoneyDirection {
  return direction === 'credit' ? 'debit' : direction === 'debit' ? 'credit' : 'none';
}

/**
 * The adjustment of a PSP failure of an operation the ledger holds SUCCEEDED, whoever finds it (a webhook the
 * PSP confirmed, reconciliation): it undoes the money the success would have moved (a capture not collected
 * is a debit, a refund not paid out a credit, a stored-value load that failed leaves the card holding less
 * than the merchant believes, a credit; an authorization that no longer holds moves nothing).
 */
export function failureAfterSuccess(command: CommandType): { kind: AdjustmentKind; direction: MoneyDirection } {
  const kind: AdjustmentKind = command === 'sale' || command === 'capture' ? 'capture_failed' : command === 'refund' ? 'refund_failed' : 'failed_after_success';
  return { kind, direction: reversed(directionOfSuccess(command)) };
}

/**
 * The commands whose SUCCEEDED operation an adjustment of `kind` says the PSP undid: money it had accepted to move
 * did not move after all. A refund failed (rejected by the scheme or the bank) or its money came back to the
 * merchant: the shopper got nothing. A capture, or a sale's capture, failed (`capture_failed`, the kind
 * `failureAfterSuccess` gives both): nothing was collected. Recorded on such an operation, it marks it undone
 * (`UNDONE_FIELD`, see `AdjustmentStore.recordAdjustment`), so the amount no longer counts as refunded, or as
 * captured money a refund can give back. Empty for every other kind.
 */
export function commandsUndoneBy(kind: AdjustmentKind): readonly CommandType[] {
  if (kind === 'refund_failed' || kind === 'refund_reversed') return ['refund'];
  if (kind === 'capture_failed') return ['capture', 'sale'];
  return [];
}

/** Facts that say the PSP no longer holds an authorization: its lapse, its cancellation confirmed. */
const RELEASING: ReadonlySet<AdjustmentKind> = new Set<AdjustmentKind>(['authorization_expired', 'failed_after_success']);

/**
 * Whether an adjustment of `kind` says the PSP no longer holds the authorization it is recorded on (on an
 * authorizing operation only: a cancel whose success turned out failed leaves its authorization held).
 */
export function releasesHold(kind: AdjustmentKind): boolean {
  return RELEASING.has(kind);
}

/**
 * The commands whose SUCCEEDED operation, marked undone (`UNDONE_FIELD`), an adjustment of `kind` says the PSP did
 * after all: a `succeeded_after_failure` reported for it (Adyen re-captures after `CAPTURE_FAILED`, "Transaction
 * Recaptured"; a refund the PSP confirms succeeded after its failure). Recorded on such an operation, it clears the
 * mark in the same step (`AdjustmentStore.recordAdjustment`), so the amount counts as captured, or refunded, again.
 * Empty for every other kind.
 */
export function commandsRedoneBy(kind: AdjustmentKind): readonly CommandType[] {
  return kind === 'succeeded_after_failure' ? ['capture', 'sale', 'refund'] : [];
}

/**
 * Whether the PSP holds payment (or capture, refund) `op` as done, by the ledger's `doneAtPsp` rule read from a whole
 * record (whose mark is the mark, not a flag; not imported, as the ledger depends on this module): SUCCEEDED, or held
 * FAILED with a recorded `succeeded_after_failure` mark (only a capture, sale or refund gets one). A refund outside the
 * bridge of such a payment gives money back all the same: the webhook (`outsideRefundReading`) and reconciliation
 * (`classifyRefundOfPayment`) read it by this one rule. Pure.
 */
export function heldDoneAtPsp(op: { state: OperationState; succeededAfterFailure?: SuccessAfterFailureMark }): boolean {
  return op.state === 'SUCCEEDED' || (op.state === 'FAILED' && op.succeededAfterFailure !== undefined);
}

/**
 * The commands whose FAILED operation an adjustment of `kind` marks done by the PSP after all
 * (`SUCCEEDED_AFTER_FAILURE_FIELD`): a `succeeded_after_failure` of a capture, sale or refund (`commandsRedoneBy`: it
 * then counts as captured or refunded) or of a cancel (it then stands as what cancelled its authorization, as a
 * SUCCEEDED cancel does, for the lifecycle sweeps and whoever reads the record). Empty for every other kind.
 */
export function commandsMarkedDoneBy(kind: AdjustmentKind): readonly CommandType[] {
  return kind === 'succeeded_after_failure' ? [...commandsRedoneBy(kind), 'cancel'] : [];
}

/**
 * The field of a SUCCEEDED refund, capture or sale's ledger record (or a FAILED one the PSP did after all,
 * `SUCCEEDED_AFTER_FAILURE_FIELD`) that says the PSP later undid it (`commandsUndoneBy`): the id of the adjustment
 * that said so. Written once, with that adjustment, by the
 * adjustment store's script, and cleared by it when the PSP later says the operation succeeded after all
 * (`commandsRedoneBy`); read with the amounts a capture or refund check sums (`Ledger.dependentsOf`…), and
 * as a sale's `undoneBy`. The operation's state stays SUCCEEDED (terminal states never change).
 */
export const UNDONE_FIELD = 'undone_by';

/**
 * The field of a FAILED capture, sale, refund or cancel's ledger record that says the PSP did it after all (a
 * `succeeded_after_failure` recorded for it, `commandsMarkedDoneBy`): the mark, JSON (`SuccessAfterFailureMark`).
 * Written once, with the first such adjustment, by the adjustment store's script, never by a transition; the state
 * stays FAILED. Read with the amounts a capture or refund check sums (`Ledger.dependentsOf`…): a capture, sale or
 * refund counts as captured (or refunded) at the amount the PSP confirmed, until a later failure of it marks it undone
 * (`UNDONE_FIELD`, with the same ordering rules as on a SUCCEEDED one); a cancel counts as done (`doneAtPsp`), the
 * closer of its authorization.
 */
export const SUCCEEDED_AFTER_FAILURE_FIELD = 'succeeded_after_failure';

/** What the PSP confirmed for an operation recorded FAILED that it did after all (`SUCCEEDED_AFTER_FAILURE_FIELD`). */
export interface SuccessAfterFailureMark {
  /** The `succeeded_after_failure` adjustment that said so. */
  by: string;
  /** Integer minor units of `currency` the PSP confirmed; absent when it said none (what was asked counts then). */
  amount?: number;
  /** ISO 4217 code of `amount`, upper case; absent with it. */
  currency?: string;
}

/** The mark a `succeeded_after_failure` adjustment `id` leaves on its FAILED operation: its amount and currency, both or neither. */
export function successAfterFailureMark(id: string, amount: number | undefined, currency: string | undefined): SuccessAfterFailureMark {
  return amount !== undefined && currency !== undefined ? { by: id, amount, currency: currency.toUpperCase() } : { by: id };
}

/** A stored mark (`SUCCEEDED_AFTER_FAILURE_FIELD`), or undefined when it does not read as one (never throws). */
export function parseSuccessAfterFailureMark(value: unknown): SuccessAfterFailureMark | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.by !== 'string' || v.by === '') return undefined;
  if (typeof v.amount === 'number' && Number.isSafeInteger(v.amount) && v.amount >= 0 && typeof v.currency === 'string') {
    return { by: v.by, amount: v.amount, currency: v.currency };
  }
  return { by: v.by };
}

/** What a PSP notification says, normalised by the gateway's webhook parser. Amounts as the PSP reported them. */
export interface AdjustmentFact {
  kind: AdjustmentKind;
  direction: MoneyDirection;
  /** Integer minor units (ISO 4217 exponent) of `currency`, as the PSP reported it; absent when it sent none. */
  amount?: number;
  /** ISO 4217 code, upper case, as the PSP reported it. */
  currency?: string;
  /** The PSP's own reason code (scheme chargeback reason, refund failure reason…), verbatim. */
  reason?: string;
  /** The PSP's id of the dispute, refund or modification this fact is about (not the payment's). */
  pspReference?: string;
  /** When the PSP says it happened, epoch milliseconds; absent when it does not say. */
  occurredAt?: number;
  /**
   * A failure of the very operation it names (capture or refund failed). While that operation is still
   * open (PENDING, UNKNOWN, SENT…), the fact is its outcome (the event's `outcome`, a FAIL), not an
   * adjustment; once it SUCCEEDED, it is an adjustment. Disputes are about a payment that succeeded, so
   * they are adjustments whatever the state of the operation they name.
   */
  failsOpenOperation: boolean;
  /**
   * `amount` is the authorization's whole authorised amount (Adyen's `EXPIRE` reports it so), not the part the
   * fact is about: what lapsed is that less what the authorization's captures took, which is subtracted from
   * the ledger's captures before the adjustment is recorded (see `late-fact.ts`). Absent: `amount` is the fact's own.
   */
  amountIncludesCaptured?: true;
}

/** An adjustment as the ledger keeps it. Times are epoch milliseconds. */
export interface AdjustmentRecord {
  /** `adj_<hex>`: derived from the gateway and the PSP's event id, so the same fact always gets the same id. */
  id: string;
  operationId: string;
  /** Configured gateway name the fact came from. */
  gateway: string;
  kind: AdjustmentKind;
  direction: MoneyDirection;
  amount?: number;
  currency?: string;
  reason?: string;
  pspReference?: string;
  /** The PSP's id of the notification (or the reconciliation line) this adjustment was recorded from. */
  pspEventId: string;
  occurredAt?: number;
  /** Where it came from: a webhook, or reconciliation. */
  source: AdjustmentSource;
  recordedAt: number;
  /**
   * A `succeeded_after_failure` older than a failure of its operation recorded already (an Adyen re-capture
   * delivered after the capture failed again): the id of the latest such failure, which keeps the operation undone
   * (`UNDONE_FIELD`). The success is what the PSP did then; the failure is its latest word. Absent otherwise.
   */
  failedAgainBy?: string;
  /**
   * A failure (`commandsUndoneBy`) of a capture, sale or refund the PSP did again, itself, after it (an Adyen re-capture
   * later than this `capture_failed`), that arrived first: the id of that later success's adjustment, recorded
   * already or recorded right after this one (a re-capture held on the operation). The failure marked nothing: the
   * success is the PSP's later word. Absent otherwise.
   */
  supersededBy?: string;
  /**
   * A late refund fact (a refund recorded FAILED that the PSP did after all, a refund it made outside the bridge), or a
   * fact that lowered what stands captured after the refunds were counted (a `capture_failed` that undid a capture or
   * sale; a cancel recorded FAILED that the PSP did after all whose own void undid one), that left its payment with more
   * refunded, as the PSP confirmed, than stands captured: the figures found right after it was recorded
   * (`AdjustmentRecorder`), kept once. Absent otherwise.
   */
  refundedBeyondCaptured?: RefundedBeyondCaptured;
  /**
   * A late refund fact whose first reading found its payment's refunds above what stands captured, within what captures
   * still in flight would add (kept `undecided`): no alarm was raised by it; those captures are marked, and one recorded
   * FAILED for good reads the payment again and raises the alarm then (refunded-beyond-alarm.ts; not one held FAILED for
   * its PSP's retry); shown so an operator sees the reading was left open. Kept as it was. Absent otherwise.
   */
  refundedBeyondUndecided?: true;
}

/**
 * A payment whose confirmed refunds exceed what stands captured of it, minor units of the order's currency: the money
 * given back twice (`excessAmount` = `refundedAmount` − `capturedAmount`, above 0). The refund check's own sums
 * (`leftToRefund` in src/delivery/operation-context.ts, below 0).
 */
export interface RefundedBeyondCaptured {
  /**
   * What stands captured: a sale's amount unless undone (by a void or a failure of its capture; not by its PSP's
   * cancel-or-refund, a refund), else its captures the PSP did and did not undo (voided ones left out).
   */
  capturedAmount: number;
  /** What its refunds gave back: those of ours the PSP did and did not undo, and those it made outside the bridge standing. */
  refundedAmount: number;
  excessAmount: number;
  /** The order's currency (ISO 4217, upper case). */
  currency: string;
}

export type AdjustmentSource = 'webhook' | 'reconciliation';

export function isAdjustmentKind(value: unknown): value is AdjustmentKind {
  return typeof value === 'string' && (ADJUSTMENT_KINDS as readonly string[]).includes(value);
}

/**
 * Whether an operator should look at it now: money left the merchant or did not arrive (a chargeback, a
 * failed capture), or a refund the shopper is owed did not reach them. Notices and money coming back are
 * informational.
 */
export function needsAttention(kind: AdjustmentKind): boolean {
  switch (kind) {
    case 'capture_failed':
    case 'refund_failed':
    case 'refund_reversed':
    case 'chargeback':
    case 'second_chargeback':
    case 'dispute_lost':
    case 'dispute_opened':
    case 'fraud_alert':
    case 'succeeded_after_failure':
    case 'amount_mismatch':
    case 'currency_mismatch':
    case 'failed_after_success':
    case 'duplicate_after_failover':
    case 'authorization_expired':
    case 'refund_outside_bridge':
      return true;
    case 'chargeback_reversed':
    case 'dispute_won':
    case 'dispute_updated':
      return false;
    default: {
      // Exhaustive: a new kind is a compile error here.
      const unmapped: never = kind;
      throw new Error(`unmapped adjustment kind ${JSON.stringify(unmapped)}`);
    }
  }
}

import { AUTHORIZING } from '../ledger/authorization-by-reference';
import { Ledger, OperationRecord } from '../ledger/ledger';
import {
  REFUNDS_ALARM_WITHDRAWN_FIELD,
  REFUNDS_REREAD_AFTER_VOID_FIELD,
  REFUNDS_REREAD_FIELD,
  REFUNDS_UNDECIDED_REFS_FIELD,
  VOID_READING_CLAIMS_FIELD,
  claimSaidOffEventField,
  figuresOfSaidField,
  givenUpClaimField,
  parseRereadAfterVoid,
  refundedBeyondSaidField,
} from '../ledger/refunds-undecided-mark';
import { REFUNDED_BEYOND_CAPTURED_FIELD, parseRefundedBeyond } from '../adjustments/adjustment-store';
import { RefundedBeyondCaptured } from '../adjustments/adjustment';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { RefundedBeyondReading, refundedBeyondCapturedReadingOf } from './operation-context';

/**
 * Payments left with more refunded, as the PSP confirmed, than stands captured: money given back twice (a capture
 * voided, then a refund recorded FAILED that the PSP did after all). `cause`: the late refund fact's kind,
 * `capture_failed_after_undecided` (a capture an undecided reading counted in flight then failed for good), or one of
 * {@link LoweredCapturedCause} (a move that lowered what stands captured after the refunds were counted).
 */
export const refundedBeyondCapturedTotal = counter(
  'pb_refunded_beyond_captured_total',
  "Payments found with their confirmed refunds above what stands captured (a capture voided or undone): money given back twice, by gateway and cause: a late refund fact recorded while it left them so (a refund recorded FAILED that the PSP did after all: succeeded_after_failure; a refund it made outside the bridge: refund_outside_bridge; said on the adjustment event, refunded_beyond_captured, contact_support), capture_failed_after_undecided (such a fact's reading was undecided, a capture in flight could cover it, and that capture then failed for good: said by the error line, not on the capture's event), void_after_refund (a void's success recorded after the refunds were counted lowered what stands captured: a cancel's success, said on its cancelled event, refunded_beyond_captured, and the error line; or a cancel recorded FAILED that the PSP did after all, said on its adjustment event too) or capture_failed_after_refund (the PSP failed a capture after the refunds were counted: said on the capture_failed adjustment event)",
  ['gateway', 'cause'],
);

/**
 * A move that lowered what stands captured of a payment after refunds of it were counted (the other order than a late
 * refund fact's): `void_after_refund`, a void of ours whose success is recorded (as an outcome, or as the late success of
 * a cancel recorded FAILED) undid a capture or sale; `capture_failed_after_refund`, the PSP's failure of a capture or
 * sale (`capture_failed`) undid it.
 */
export type LoweredCapturedCause = 'void_after_refund' | 'capture_failed_after_refund';

/**
 * Withdrawals of refunded-beyond alarms that no longer hold: the PSP said a capture or sale succeeded after all, and the
 * payment read again finds the refunds within what stands captured (`withdrawAfterLateCapture`): those its failure raised
 * and those a late refund fact or a void said of the payment.
 */
export const refundedBeyondWithdrawnTotal = counter(
  'pb_refunded_beyond_captured_withdrawn_total',
  'Withdrawals of refunded-beyond-captured alarms that no longer hold: the PSP said a capture or sale succeeded after all (done after its recorded failure, or re-captured) and the payment, read again, has its refunds within what stands captured; the alarms withdrawn are those its failure raised (capture_failed_after_undecided, capture_failed_after_refund) and those a late refund fact or a void said of the payment (succeeded_after_failure, refund_outside_bridge, void_after_refund), each once, by gateway',
  ['gateway'],
);

/**
 * Capture `capture`, just found FAILED for good (not held for its PSP's retry), was counted in flight by the undecided
 * reading of late refund fact `undecidedBy` (an adjustment id, or a void's cancel id: `REFUNDS_UNDECIDED_FIELD`): its payment is read again
 * (`refundedBeyondCapturedReadingOf`, the same sums). What it finds is kept on the capture once
 * (`REFUNDS_REREAD_FIELD`: `fit`, `undecided` when another capture is still in flight, which carries the mark too, or the
 * figures): only the call that kept it says it, so a repeat of the outcome (a resent webhook, a job retried after a
 * crash past the move) raises no second alarm, and one that crashed before keeping it reads again. Refunds beyond:
 * an error line (`alert: refunded_beyond_captured`) and `pb_refunded_beyond_captured_total{cause="capture_failed_after_undecided"}`;
 * else an info line. The adjustment's own first reading stays `undecided` (what was known then). The capture's FAILED
 * event is recorded with its move, before this read, and carries no figures.
 */
export async function rereadAfterCaptureFailed(
  capture: OperationRecord,
  undecidedBy: string,
  deps: { ledger: Pick<Ledger, 'get' | 'authorizationByReference' | 'dependentsOf' | 'adjustmentsOfEach' | 'setFieldOnceAndGet' | 'fieldsOf'>; logger: Logger },
): Promise<void> {
  const { ledger, logger } = deps;
  const auth = await authorizationOf(capture, ledger);
  if (auth === null) return;
  // The PSP refunds the marking facts of refunds of ours named: each counted once, as their own readings did.
  const [[refs]] = await ledger.fieldsOf([capture.id], [REFUNDS_UNDECIDED_REFS_FIELD]);
  const reading = await refundedBeyondCapturedReadingOf(auth, ledger, referencesOf(refs));
  const value = reading.beyond !== null ? JSON.stringify(reading.beyond) : reading.undecided !== undefined ? 'undecided' : 'fit';
  const { set } = await ledger.setFieldOnceAndGet(capture.id, REFUNDS_REREAD_FIELD, value);
  // Kept by an earlier call, which said it.
  if (!set) return;
  const gateway = gatewayOf(capture);
  const fields = { operation_id: capture.id, command: capture.command, gateway, authorization_id: auth.id, undecided_adjustment_id: undecidedBy };
  if (reading.beyond === null) {
    logger.info(
      reading.undecided !== undefined
        ? 'capture in flight failed after an undecided refund reading: still undecided, another capture in flight could cover the refunds'
        : 'capture in flight failed after an undecided refund reading: the refunds fit what stands captured; no alarm',
      fields,
    );
    return;
  }
  refundedBeyondCapturedTotal.inc({ gateway, cause: 'capture_failed_after_undecided' });
  // Ids and amounts only: money given back twice is for a person to settle with the PSP.
  logger.error(
    'refunded beyond captured: a capture in flight that could have covered a late refund fact failed; the payment has more refunded at the PSP than stands captured; money given back twice, settle it with the PSP',
    {
      ...fields,
      alert: 'refunded_beyond_captured',
      operation_state: capture.state,
      captured_amount: reading.beyond.capturedAmount,
      refunded_amount: reading.beyond.refundedAmount,
      excess_amount: reading.beyond.excessAmount,
      order_currency: reading.beyond.currency,
    },
  );
}

/**
 * The fallback of {@link readBeforeVoidMove}, for a cancel whose success was recorded without its reading (that read
 * failed, or an earlier release moved it): the cancel's event went out without the figures, so only the error line,
 * the metric and `ops show` say them.
 * Cancel `cancel`, whose success is recorded (this outcome's move, or an earlier one: a repeat), voided capture or sale
 * `voided` (its `cancel_effect`; marked `undone_by` it before the move): what stands captured of the payment fell by it.
 * A late refund fact recorded while the void was in flight (sent before the fact: a refund counted before it is sent
 * refuses it, `CAPTURE_REFUNDED`) was read while the capture still stood and found the refunds fit; so the payment is
 * read again now (`refundedBeyondCapturedReadingOf`, the same sums), after the move. Only when the void's own mark undid
 * it: a capture or sale the PSP failed before the void's success (`capture_failed`, its own reading said it) was lowered
 * by that fact, not by the void, so nothing is read or kept (a repeat reads the voided record again, nothing more).
 *
 * What it finds is kept on the cancel once (`REFUNDS_REREAD_AFTER_VOID_FIELD`: `fit`, `undecided` or the figures), looked
 * up first: a repeat of the outcome (a resent webhook, a job retried) costs one field read and says nothing again, and one
 * that crashed before keeping it reads again. Refunds beyond: an error line (`alert: refunded_beyond_captured`, the
 * cancel, what it voided, the authorization, the three figures) and
 * `pb_refunded_beyond_captured_total{cause="void_after_refund"}`, unless a late fact's own reading said those refunds
 * beyond that captured standing already (`saidByFact`: it read after the void's mark, the worker killed before the move):
 * then an info line; undecided (a capture in flight could cover them): an info line. The cancel's event is recorded with its move, before this read, and carries no figures; `ops show` of the
 * cancel shows them (`refunded_beyond_after_void`). Only a void's success reads: no other outcome pays for it.
 */
export async function rereadAfterVoid(
  cancel: OperationRecord,
  voided: { id: string; command: 'capture' | 'sale' },
  deps: {
    ledger: Pick<
      Ledger,
      | 'get'
      | 'authorizationByReference'
      | 'dependentsOf'
      | 'adjustmentsOfEach'
      | 'setFieldOnceAndGet'
      | 'claimRefundedBeyond'
      | 'fieldsOf'
      | 'markRefundsUndecided'
    >;
    logger: Logger;
  },
): Promise<void> {
  const { ledger, logger } = deps;
  const [[kept]] = await ledger.fieldsOf([cancel.id], [REFUNDS_REREAD_AFTER_VOID_FIELD]);
  if (kept !== null && kept !== undefined) return;
  // Only the void that marked it undone lowered what stands captured: one undone already by another said its own.
  const auth = await paymentOf(voided.id, ledger, cancel.id);
  if (auth === null) return;
  const reading = await readMarkingInFlight(auth, cancel.id, ledger);
  const value = reading.beyond !== null ? JSON.stringify(reading.beyond) : reading.undecided !== undefined ? 'undecided' : 'fit';
  const { set } = await ledger.setFieldOnceAndGet(cancel.id, REFUNDS_REREAD_AFTER_VOID_FIELD, value);
  // Kept by an earlier call, which said it.
  if (!set) return;
  const said = reading.beyond !== null ? await claimRefundedBeyond(auth, reading.beyond, cancel.id, ledger) : undefined;
  sayVoidReading(cancel, voided, auth.id, reading, said, logger);
}

/**
 * Cancel `cancel`, SUCCEEDED by a move whose reading (`refundsRereadAfterVoid`, written with it) is what its event says,
 * whose void of capture or sale `voided` lowered what stands captured: the claims its payment holds under the cancel's id
 * for other figures are on no event. Each was taken by another reading of the same success whose move did not apply (a
 * webhook and an inquiry at once, a refund fact recorded between the two readings): the caller that read them, once its
 * move did not apply, or, killed between its claim and its move, the outcome heard again (its job retried, a webhook
 * resent) finds them here. A late fact finding such a claim said nothing, so each is said here: the error line and
 * `pb_refunded_beyond_captured_total{cause="void_after_refund"}` (`off_event`: the cancel's event does not carry them),
 * once (`claimSaidOffEventField`, set once on the cancel). Costs the payment's lookup and one read of its record, only
 * for a cancel that voided, one of whose readings marked it before claiming (`voidReadingClaims`: the caller checks it on
 * the record it holds), found SUCCEEDED by another move.
 */
export async function sayClaimsOffEvent(
  cancel: OperationRecord,
  voided: { id: string; command: 'capture' | 'sale' },
  deps: { ledger: Pick<Ledger, 'get' | 'authorizationByReference' | 'refundedBeyondClaims' | 'setFieldOnceAndGet'>; logger: Logger },
): Promise<void> {
  const { ledger, logger } = deps;
  const auth = await paymentOf(voided.id, ledger, cancel.id);
  if (auth === null) return;
  const kept = parseRereadAfterVoid(cancel.refundsRereadAfterVoid);
  // The figures the move's own reading kept were decided with it: said by its event, or by whoever `saidBy` names.
  const decided = typeof kept === 'object' ? refundedBeyondSaidField(kept.figures) : undefined;
  const claims = (await ledger.refundedBeyondClaims(auth.id)).filter((c) => c.by === cancel.id && c.field !== decided);
  for (const claim of claims) {
    const figures = figuresOfSaidField(claim.field);
    if (figures === undefined) continue;
    const { set } = await ledger.setFieldOnceAndGet(cancel.id, claimSaidOffEventField(claim.field), '1');
    // Said already by an earlier call.
    if (set) sayVoidReading(cancel, voided, auth.id, { beyond: figures }, undefined, logger, true);
  }
}

/**
 * What {@link readBeforeVoidMove} found of the payment a cancel's void lowered: `kept`, written with the cancel's move to
 * SUCCEEDED (`refundsRereadAfterVoid`), so its event says the figures unless `saidBy` another fact or move.
 */
export interface VoidReading {
  kept: string;
  authorizationId: string;
  voided: { id: string; command: 'capture' | 'sale' };
  reading: RefundedBeyondReading;
  /** Another fact (an adjustment id) that says these refunds beyond already. */
  saidBy?: string;
}

/**
 * Cancel `cancel`, whose void of capture or sale `voided` the PSP confirmed, that capture or sale marked `undone_by` it
 * (before the move): its payment is read now (`refundedBeyondCapturedReadingOf`, the same sums), after the mark and before
 * the move, so what it finds is written with the move (`refundsRereadAfterVoid`) and the cancel's own SUCCESS event says
 * refunded beyond captured, with the figures, as an adjustment's event does: recorded with the move, once, and
 * never after the event went out. A late refund fact recorded after this read reads after the mark and says it itself.
 * Undefined when the void's own mark did not undo it (a `capture_failed` first: that fact lowered it and said it).
 * Throws what the reads throw: the caller moves without it and reads after the move instead (`rereadAfterVoid`).
 */
export async function readBeforeVoidMove(
  cancel: OperationRecord,
  voided: { id: string; command: 'capture' | 'sale' },
  deps: {
    ledger: Pick<
      Ledger,
      | 'get'
      | 'authorizationByReference'
      | 'dependentsOf'
      | 'adjustmentsOfEach'
      | 'claimRefundedBeyond'
      | 'fieldsOf'
      | 'markRefundsUndecided'
      | 'setFieldOnceAndGet'
    >;
  },
): Promise<VoidReading | undefined> {
  const { ledger } = deps;
  const auth = await paymentOf(voided.id, ledger, cancel.id);
  if (auth === null) return undefined;
  const reading = await readMarkingInFlight(auth, cancel.id, ledger);
  // Marked on the cancel before the claim: a move of another reading may settle it, and only a cancel so marked looks
  // for claims of its id no event says (`sayClaimsOffEvent`). One write, only for a reading that finds refunds beyond.
  if (reading.beyond !== null && cancel.voidReadingClaims === undefined) await ledger.setFieldOnceAndGet(cancel.id, VOID_READING_CLAIMS_FIELD, '1');
  const saidBy = reading.beyond !== null ? await claimRefundedBeyond(auth, reading.beyond, cancel.id, ledger) : undefined;
  const kept =
    reading.beyond !== null
      ? JSON.stringify(saidBy !== undefined ? { ...reading.beyond, saidBy } : reading.beyond)
      : reading.undecided !== undefined
        ? 'undecided'
        : 'fit';
  return { kept, authorizationId: auth.id, voided, reading, ...(saidBy !== undefined ? { saidBy } : {}) };
}

/**
 * `found` ({@link readBeforeVoidMove}'s, about to be written with the cancel's move and said by its event) checked again
 * right before that move: a late refund fact recorded since the reading (after the void's mark) read more refunded of the
 * same captured standing and said it ({@link saidByFact}: it holds that claim), its event recorded, and so sequenced,
 * before the cancel's. The cancelled event, after it, must not tell the OMS the older, smaller figures: they are kept
 * with `saidBy` that fact, so the event says nothing of them and an info line names it (`noteVoidReading`). Unchanged
 * otherwise, and when the reading says nothing itself (fit, undecided, said by another already). Three reads (the
 * payment's dependents, their adjustments, its claims), only for a void whose event would say the figures. A fact
 * sequenced between this check and the move still goes first: not covered.
 */
export async function supersededBeforeMove(
  cancel: OperationRecord,
  found: VoidReading,
  deps: { ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach' | 'fieldsOf'> },
): Promise<VoidReading> {
  const { beyond } = found.reading;
  if (beyond === null || found.saidBy !== undefined) return found;
  const later = await saidByFact({ id: found.authorizationId }, beyond, deps.ledger, cancel.id);
  if (later === undefined) return found;
  return { ...found, kept: JSON.stringify({ ...beyond, saidBy: later }), saidBy: later };
}

/**
 * {@link refundedBeyondCapturedReadingOf} of payment `auth` for void `cancelId`; an undecided reading marks each capture it
 * counts in flight (`markRefundsUndecided`, naming the cancel), as a late refund fact's undecided reading does, so such a
 * capture failing for good reads the payment again (`rereadAfterCaptureFailed`); one settled since the read is read again
 * here, as settled.
 */
async function readMarkingInFlight(
  auth: OperationRecord,
  cancelId: string,
  ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach' | 'markRefundsUndecided'>,
): Promise<RefundedBeyondReading> {
  const reading = await refundedBeyondCapturedReadingOf(auth, ledger);
  if (reading.undecided === undefined) return reading;
  const marks = await Promise.all(reading.undecided.inFlight.map((c) => ledger.markRefundsUndecided(c.id, cancelId)));
  return marks.includes('settled') ? refundedBeyondCapturedReadingOf(auth, ledger) : reading;
}

/**
 * Says what {@link readBeforeVoidMove} found, once: by the recorder whose move of `cancel` to SUCCEEDED applied (the
 * reading written with it). Refunds beyond: the error line and `pb_refunded_beyond_captured_total{cause="void_after_refund"}`
 * (its event carries the figures), or an info line when another fact says them (`said_by`); undecided: an info line.
 */
export function noteVoidReading(cancel: OperationRecord, found: VoidReading, logger: Logger): void {
  sayVoidReading(cancel, found.voided, found.authorizationId, found.reading, found.saidBy, logger);
}

/** The lines and metric of a void's reading (before its move, or after it: `rereadAfterVoid`; `offEvent`: a claim no event says, `sayClaimsOffEvent`). */
function sayVoidReading(
  cancel: OperationRecord,
  voided: { id: string; command: 'capture' | 'sale' },
  authorizationId: string,
  reading: RefundedBeyondReading,
  said: string | undefined,
  logger: Logger,
  offEvent = false,
): void {
  const gateway = gatewayOf(cancel);
  const fields = {
    operation_id: cancel.id,
    command: cancel.command,
    gateway,
    authorization_id: authorizationId,
    voided_operation_id: voided.id,
    voided_command: voided.command,
  };
  if (reading.undecided !== undefined) {
    logger.info(
      'refunded beyond captured unless a capture in flight went through: a void recorded after refunds were counted lowered what stands captured; no alarm',
      {
        ...fields,
        captured_amount: reading.undecided.figures.capturedAmount,
        refunded_amount: reading.undecided.figures.refundedAmount,
        order_currency: reading.undecided.figures.currency,
        captures_in_flight: reading.undecided.inFlight.map((c) => `${c.id} ${c.state} ${c.amount}`),
      },
    );
    return;
  }
  if (reading.beyond === null) return;
  if (said !== undefined) {
    logger.info(
      'refunded beyond captured after a void: a late fact read after the void lowered what stands captured said these refunds beyond already; no second alarm',
      {
        ...fields,
        said_by: said,
        captured_amount: reading.beyond.capturedAmount,
        refunded_amount: reading.beyond.refundedAmount,
        excess_amount: reading.beyond.excessAmount,
        order_currency: reading.beyond.currency,
      },
    );
    return;
  }
  refundedBeyondCapturedTotal.inc({ gateway, cause: 'void_after_refund' });
  // Ids and amounts only: money given back twice is for a person to settle with the PSP.
  logger.error(
    'refunded beyond captured: a void recorded after a late refund fact lowered what stands captured; the payment has more refunded at the PSP than stands captured; money given back twice, settle it with the PSP',
    {
      ...fields,
      alert: 'refunded_beyond_captured',
      cause: 'void_after_refund',
      ...(offEvent ? { off_event: true } : {}),
      captured_amount: reading.beyond.capturedAmount,
      refunded_amount: reading.beyond.refundedAmount,
      excess_amount: reading.beyond.excessAmount,
      order_currency: reading.beyond.currency,
    },
  );
}

/**
 * Capture or sale `op`, which the PSP now says succeeded after all (`adjustment`, a `succeeded_after_failure` that made
 * it count as captured again: done after its recorded failure, or redone after a `capture_failed`), may leave alarms
 * that no longer hold: one raised when it failed (its FAILED re-read, `REFUNDS_REREAD_FIELD` holding figures,
 * `capture_failed_after_undecided`, or the reading of a `capture_failed` of it, `capture_failed_after_refund`), and
 * one a late refund fact or a void said of its payment (the claim it holds on the payment's record,
 * `refundedBeyondSaidField`: `succeeded_after_failure`, `refund_outside_bridge`, `void_after_refund`; or a refund fact
 * whose kept figures no claim names: said before claims were kept, an earlier release, and withdrawn the same way, so
 * its repeat takes no claim and it is no longer taken as having said them, `saidByFact`). The payment is read
 * again, and when the refunds are no longer beyond (`fit`, or `undecided`: a capture in flight could cover them) a warn
 * line says so with the new reading and the alarms withdrawn (`refunds_reread`, `capture_failed` adjustment ids, the
 * saying fact's adjustment id or the void's cancel id), `pb_refunded_beyond_captured_withdrawn_total` counts it, and
 * each alarm is kept withdrawn once (`REFUNDS_ALARM_WITHDRAWN_FIELD`, `Ledger.withdrawRefundAlarmsOnce`: the failure's on
 * the capture, the payment's on the payment, shown by `ops show`: `refunded_beyond_withdrawn`), so a repeat says nothing
 * again, while the alarm of a later failure (the PSP failed it again after a re-capture) is withdrawn by the success after
 * it; a payment's claim withdrawn is given up in that step, so the same figures found again later raise a new alarm.
 * Still beyond (other refunds since): an info line, nothing kept (the alarm holds). A capture with no alarm left to
 * withdraw costs six reads (its fields, its adjustments' kinds, its payment, the payment's record, its dependents and
 * their adjustments), no sums.
 */
export async function withdrawAfterLateCapture(
  op: OperationRecord,
  adjustment: { id: string; gateway: string },
  deps: {
    ledger: Pick<
      Ledger,
      'get' | 'authorizationByReference' | 'dependentsOf' | 'adjustmentsOfEach' | 'withdrawRefundAlarmsOnce' | 'fieldsOf' | 'refundedBeyondClaims'
    >;
    logger: Logger;
  },
  now = Date.now(),
): Promise<void> {
  const { ledger, logger } = deps;
  const [[[reread, kept]], adjustments, payment] = await Promise.all([
    ledger.fieldsOf([op.id], [REFUNDS_REREAD_FIELD, REFUNDS_ALARM_WITHDRAWN_FIELD]),
    ledger.adjustmentsOfEach([op.id], ['kind', REFUNDED_BEYOND_CAPTURED_FIELD]),
    paymentOf(op.id, ledger),
  ]);
  if (payment === null) return;
  // Each alarm is withdrawn once: one a later failure raised (the PSP failed it again after a re-capture) is not yet.
  const done = new Set(withdrawnOf(kept));
  const raised = [
    ...(reread && parseRefundedBeyond(reread) !== undefined ? ['refunds_reread'] : []),
    ...(adjustments.get(op.id) ?? [])
      .filter(({ fields: [kind, figures] }) => kind === 'capture_failed' && !!figures && parseRefundedBeyond(figures) !== undefined)
      .map(({ id }) => id),
  ].filter((alarm) => !done.has(alarm));
  // The alarms a late refund fact or a void said of the payment: the claims they hold on its record, and the refund facts
  // whose figures no claim names (said before claims were kept: an earlier release), kept withdrawn there.
  const [claims, [[paymentKept]], facts] = await Promise.all([
    ledger.refundedBeyondClaims(payment.id),
    ledger.fieldsOf([payment.id], [REFUNDS_ALARM_WITHDRAWN_FIELD]),
    refundFactReadings(payment, ledger),
  ]);
  const claimed = new Set(claims.map((c) => c.field));
  const paymentDone = new Set(withdrawnOf(paymentKept));
  // Figures no claim names, and no claim given up named (a fact that lost its claim to a sayer withdrawn since).
  const candidates = facts.filter((f) => !claimed.has(refundedBeyondSaidField(f.figures)) && !paymentDone.has(f.id));
  const [traces] =
    candidates.length > 0
      ? await ledger.fieldsOf(
          [payment.id],
          candidates.map((f) => givenUpClaimField(refundedBeyondSaidField(f.figures))),
        )
      : [[]];
  const unclaimed = candidates.filter((_, i) => traces[i] === null || traces[i] === undefined).map((f) => f.id);
  const said = [...new Set([...claims.map((c) => c.by), ...unclaimed])].filter((by) => !paymentDone.has(by) && !raised.includes(by));
  if (raised.length === 0 && said.length === 0) return;
  const reading = await refundedBeyondCapturedReadingOf(payment, ledger);
  const fields = {
    operation_id: op.id,
    command: op.command,
    gateway: adjustment.gateway,
    adjustment_id: adjustment.id,
    authorization_id: payment.id,
    withdrawn: [...raised, ...said],
  };
  if (reading.beyond !== null) {
    logger.info('capture done by the PSP after all, after a refunded-beyond alarm: the payment is still beyond; the alarm holds', {
      ...fields,
      captured_amount: reading.beyond.capturedAmount,
      refunded_amount: reading.beyond.refundedAmount,
      excess_amount: reading.beyond.excessAmount,
      order_currency: reading.beyond.currency,
    });
    return;
  }
  const read = reading.undecided !== undefined ? 'undecided' : 'fit';
  const entry = { by: adjustment.id, reading: read, at: now };
  const own = raised.length > 0 ? await ledger.withdrawRefundAlarmsOnce(op.id, { ...entry, alarms: raised }) : [];
  const ofPayment = said.length > 0 ? await ledger.withdrawRefundAlarmsOnce(payment.id, { ...entry, alarms: said, claims }) : [];
  const withdrawnNow = [...(own ?? []), ...(ofPayment ?? [])];
  // Withdrawn by an earlier call (a repeat racing this one), which said it.
  if (withdrawnNow.length === 0) return;
  fields.withdrawn = withdrawnNow;
  refundedBeyondWithdrawnTotal.inc({ gateway: adjustment.gateway });
  logger.warn(
    'refunded beyond captured no longer holds: the PSP says a capture the alarm counted as failed or gone succeeded after all; the payment read again has its refunds within what stands captured',
    {
      ...fields,
      reading: read,
      ...(reading.undecided !== undefined
        ? {
            captured_amount: reading.undecided.figures.capturedAmount,
            refunded_amount: reading.undecided.figures.refundedAmount,
            order_currency: reading.undecided.figures.currency,
            captures_in_flight: reading.undecided.inFlight.map((c) => `${c.id} ${c.state} ${c.amount}`),
          }
        : {}),
    },
  );
}

/**
 * Claims for `by` (a late refund fact's adjustment id, or a void's cancel id) saying that payment `auth` has refunds
 * `beyond` what stands captured: one atomic set-once on the payment's record keyed by the figures
 * ({@link refundedBeyondSaidField}), so a refund fact and a void racing, each reading after both writes, raise one alarm.
 * Idempotent: `by` asking again (a repeat, a retry after a crash) finds its own claim. A fact that says them without
 * a claim ({@link saidByFact}: one said before claims were kept, or one that kept them and claims next; for a refund fact
 * asking, only one recorded before it) is looked up
 * first, and then no claim is taken: the same answer on every call, and that fact's own claim, if it comes, is free. `alsoBy`: another id the claim
 * may hold for the same sayer (a cancel's late success, `by` its adjustment: the cancel's own reading before a move that
 * never applied claimed under the cancel's id). Returns who else says them (the
 * claim's holder, or a fact whose reading said them before claims were kept: {@link saidByFact}), undefined when `by`
 * says them; `withdrawn:<by>` when `by`'s alarm was withdrawn (a repeat heard after a capture done after all brought the
 * refunds back within what stands captured): it says nothing again and takes no claim back
 * (`Ledger.claimRefundedBeyond`), so the same figures found again later are said by whoever finds them.
 */
export async function claimRefundedBeyond(
  auth: OperationRecord,
  beyond: RefundedBeyondCaptured,
  by: string,
  ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach' | 'claimRefundedBeyond' | 'fieldsOf'>,
  alsoBy?: string,
): Promise<string | undefined> {
  // Looked up before claiming: a fact that said them before claims were kept holds no claim, and once `by` claimed the
  // figures that fact could no longer be told from one that lost the claim to `by` (and said nothing): both said twice.
  const fact = await saidByFact(auth, beyond, ledger, by);
  if (fact !== undefined) return fact;
  const claim = await ledger.claimRefundedBeyond(auth.id, refundedBeyondSaidField(beyond), by);
  // `by`'s alarm was withdrawn (a repeat heard after it): it says nothing again, and takes no claim back.
  if (claim === 'withdrawn') return `withdrawn:${by}`;
  if (claim !== null && claim.holder !== by && claim.holder !== alsoBy) return claim.holder;
  return undefined;
}

/**
 * The late refund fact of payment `auth` (its `refund_outside_bridge`, or a `succeeded_after_failure` of a refund of
 * ours) whose own reading said `beyond` already: refunds beyond the same captured standing, at least these refunded, so
 * read after what lowered it (recorded while a void's mark stood and its success was not recorded yet, or a
 * `capture_failed` was not read yet: a worker killed in between, the move heard again). Only refund facts: a
 * `capture_failed`'s alarm may have been withdrawn since (a re-capture), and a later failure is a new one. Undefined when
 * none did (`except`, the adjustment asking, left out). Read only when the payment is found beyond: its dependents and
 * their adjustments, one read each.
 */
export async function saidByFact(
  auth: Pick<OperationRecord, 'id'>,
  beyond: RefundedBeyondCaptured,
  ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach' | 'fieldsOf'>,
  except?: string,
): Promise<string | undefined> {
  const facts = await refundFactReadings(auth, ledger);
  // A refund fact asking (it kept its figures before it asks): a fact that holds no claim yet is taken as saying them
  // only when it was recorded before the asker, so two facts that kept the same figures, each asking before either
  // claims, do not each leave them to the other (the older says them; one recorded before claims were kept is older).
  const asker = facts.find((f) => f.id === except);
  const found = facts.filter(
    ({ id, figures: f }) =>
      id !== except && f.currency === beyond.currency && f.capturedAmount === beyond.capturedAmount && f.refundedAmount >= beyond.refundedAmount,
  );
  if (found.length === 0) return undefined;
  // A fact whose figures another holds the claim of said nothing (it lost a race): only one that holds them, or will
  // claim them (none yet: it kept them and has not claimed, or read before claims were kept), says them. One whose
  // alarm was withdrawn (its claim given up) says nothing any more: the same figures found again are a new alarm.
  // A claim given up by a withdrawal leaves its trace: a fact that kept those figures without the claim had lost it.
  const fields = found.map((f) => refundedBeyondSaidField(f.figures));
  const [[withdrawnField, ...held]] = await ledger.fieldsOf([auth.id], [REFUNDS_ALARM_WITHDRAWN_FIELD, ...fields, ...fields.map(givenUpClaimField)]);
  const withdrawn = new Set(withdrawnOf(withdrawnField));
  const free = (v: string | null | undefined): boolean => v === null || v === undefined;
  const before = (f: RefundFactReading): boolean =>
    asker === undefined || f.recordedAt < asker.recordedAt || (f.recordedAt === asker.recordedAt && f.id < asker.id);
  return found.find((f, i) => !withdrawn.has(f.id) && (held[i] === f.id || (free(held[i]) && free(held[found.length + i]) && before(f))))?.id;
}

/** A late refund fact's own reading that kept refunds beyond ({@link refundFactReadings}). */
interface RefundFactReading {
  id: string;
  figures: RefundedBeyondCaptured;
  /** When the adjustment was recorded (0 when unreadable: taken as the oldest). */
  recordedAt: number;
}

/**
 * The late refund facts of payment `auth` (its `refund_outside_bridge`s, the `succeeded_after_failure`s of its refunds)
 * whose own reading kept refunds beyond (`REFUNDED_BEYOND_CAPTURED_FIELD` holding figures): their adjustment ids,
 * figures and when each was recorded. Two reads: the payment's dependents, and their adjustments with its own.
 */
async function refundFactReadings(auth: Pick<OperationRecord, 'id'>, ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach'>): Promise<RefundFactReading[]> {
  const dependents = await ledger.dependentsOf(auth.id);
  const refunds = new Set(dependents.filter((d) => d.command === 'refund').map((d) => d.id));
  const read = await ledger.adjustmentsOfEach([auth.id, ...refunds], ['kind', REFUNDED_BEYOND_CAPTURED_FIELD, 'recorded_at']);
  const found: RefundFactReading[] = [];
  for (const [operationId, list] of read) {
    const kind = refunds.has(operationId) ? 'succeeded_after_failure' : 'refund_outside_bridge';
    for (const { id, fields } of list) {
      if (fields[0] !== kind || !fields[1]) continue;
      const figures = parseRefundedBeyond(fields[1]);
      const recordedAt = Number(fields[2]);
      if (figures) found.push({ id, figures, recordedAt: Number.isFinite(recordedAt) ? recordedAt : 0 });
    }
  }
  return found;
}

/** The alarms a stored {@link REFUNDS_ALARM_WITHDRAWN_FIELD} says were withdrawn already (none when absent or garbled). */
function withdrawnOf(stored: string | null | undefined): string[] {
  if (!stored) return [];
  try {
    const v = JSON.parse(stored) as unknown;
    const list = v !== null && typeof v === 'object' ? (v as { withdrawn?: unknown }).withdrawn : undefined;
    return Array.isArray(list) ? list.filter((w): w is string => typeof w === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * The payment capture or sale `id` belongs to, read now (after the mark or the fact that moved it): the sale itself (its
 * `undoneBy` as it stands then counted), or the authorization the capture acted on. Null when neither is found, or,
 * with `undoneBy`, when `id`'s undone mark is not that one's: what undid it first (a `capture_failed` before a void whose
 * request was in flight) lowered what stands captured and was read then; the later one lowered nothing.
 */
export async function paymentOf(id: string, ledger: Pick<Ledger, 'get' | 'authorizationByReference'>, undoneBy?: string): Promise<OperationRecord | null> {
  const undone = await ledger.get(id);
  if (undone === null) return null;
  if (undoneBy !== undefined && undone.undoneBy !== undoneBy) return null;
  if (undone.command === 'sale') return undone;
  return undone.command === 'capture' ? authorizationOf(undone, ledger) : null;
}

/** The authorization capture `capture` acted on: the one its attempt resolved, else the one its `gateway_key` names (our id or the PSP's reference). */
async function authorizationOf(capture: OperationRecord, ledger: Pick<Ledger, 'get' | 'authorizationByReference'>): Promise<OperationRecord | null> {
  const key = capture.authorizationId ?? capture.payment.gateway_key;
  const named = await ledger.get(key);
  if (named) return AUTHORIZING.has(named.command) ? named : null;
  const found = await ledger.authorizationByReference(gatewayOf(capture), key);
  return found?.authorization ? found.record : null;
}

/** The stored {@link REFUNDS_UNDECIDED_REFS_FIELD}: its strings; none when absent or unreadable (never throws). */
function referencesOf(stored: string | null | undefined): string[] {
  if (!stored) return [];
  try {
    const parsed = JSON.parse(stored) as unknown;
    return Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

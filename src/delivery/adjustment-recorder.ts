import { Config } from '../config/config';
import { OutcomeRecorder } from './outcome-recorder';
import { noteHoldAfterVoid } from './hold-after-void';
import { ownTransactionVoidOf } from './own-transaction-void';
import { CancelEffect } from '../ledger/cancel-effect';
import { adjustmentEvent } from '../events/adjustment-event';
import { AUTHORIZING } from '../ledger/authorization-by-reference';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { laterInPspTime } from '../gateways/psp-time';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { capturesUndone } from './authorization-metrics';
import { AdjustmentKind, AdjustmentRecord, RefundedBeyondCaptured, commandsUndoneBy, needsAttention, releasesHold } from '../adjustments/adjustment';
import { PSP_CANCEL_OR_REFUND_REASON, refundedBeyondCapturedReadingOf } from './operation-context';
import {
  LoweredCapturedCause,
  claimRefundedBeyond,
  paymentOf,
  refundedBeyondCapturedTotal,
  saidByFact,
  withdrawAfterLateCapture,
} from './refunded-beyond-alarm';
import { AdjustmentInput, AdjustmentStore, HeldRecapture, HoldRecaptureResult, RecordedAdjustment } from '../adjustments/adjustment-store';
import { readsTransactionSuccess } from '../adjustments/psp-transaction-fact';
import { sameAccountGateways } from '../gateways/gateway-vaults';

const adjustmentsTotal = counter(
  'pb_adjustments_total',
  'Adjustments recorded (late PSP facts: chargebacks, failed captures and refunds…), by gateway and kind',
  ['gateway', 'kind'],
);

const authorizationsReleased = counter(
  'pb_authorizations_released_total',
  'Authorizations taken out of the expiry and orphan indexes because the PSP no longer holds them (lapsed or cancelled; or captured or cancelled by a capture or cancel the bridge recorded FAILED: succeeded_after_failure), by gateway and adjustment kind',
  ['gateway', 'kind'],
);

const refundsUndone = counter(
  'pb_refunds_undone_total',
  'Refunds the ledger held SUCCEEDED that the PSP later said gave the shopper nothing (failed at the scheme or bank, or reversed): their amount is refundable again, by gateway and adjustment kind',
  ['gateway', 'kind'],
);

const undoneRedone = counter(
  'pb_undone_operations_redone_total',
  'Captures, sales, refunds and cancels that did not count as done that the PSP later said succeeded after all (succeeded_after_failure), by gateway, command and the state the ledger holds: succeeded (marked undone, an Adyen re-capture after CAPTURE_FAILED: the mark is cleared, the amount counts as captured or refunded again) or failed (recorded FAILED: marked succeeded_after_failure, a capture, sale or refund counts as captured or refunded at the amount the PSP confirmed, a cancel as done)',
  ['gateway', 'command', 'recorded'],
);

/**
 * Successes after failure (an Adyen re-capture) older than a failure of the same operation recorded already: the
 * PSP failed it again after that success, so the undone mark stays (naming the latest such failure) and the
 * success is reported as history (`failed_again_by`).
 */
const redosBeforeLaterFailure = counter(
  'pb_redos_before_later_failure_total',
  'Captures, sales and refunds marked undone whose succeeded_after_failure (an Adyen re-capture) is older than a failure of them recorded already: the PSP failed them again after it, so they stay undone (the mark names that later failure), by gateway and command',
  ['gateway', 'command'],
);

/**
 * A PSP's re-capture that arrived before the capture failure it follows (notifications come in any order): `held` on
 * the capture (nothing to redo yet; `later_held` when one as late was held already), then `reported` when that
 * failure came: recorded without marking the capture undone, and the re-capture reported after it. `recorded_first`:
 * the re-capture had cleared an earlier failure's mark and was reported already when that failure (older than
 * it) came: recorded without marking, `superseded_by` the re-capture, nothing else sent (a refund's success after
 * failure, the same way, counts here with its command).
 */
export const recapturesBeforeFailure = counter(
  'pb_recaptures_before_failure_total',
  'PSP re-captures (Adyen "Transaction Recaptured") that arrived before the capture failure they follow, by gateway, command and step: held (kept on the capture, nothing undone to redo), later_held (one as late was held already), reported (the earlier failure came: recorded without undoing the capture, then the re-capture reported after it), recorded_first (the re-capture had been recorded and reported already, after an earlier failure: the failure recorded without undoing the capture, superseded_by it)',
  ['gateway', 'command', 'step'],
);

/**
 * Late facts heard a second time, from the other source, and found recorded by the first: no second adjustment or
 * OMS event. `source` is the one that found it: `webhook` (reconciliation had recorded it from the PSP's line), or
 * `reconciliation` (a webhook recorded it after a run had read the operation's adjustments, found by the run's
 * record step; a webhook's adjustment found as the run reads the line is `pb_reconciliation_adjustment_ties_total`).
 */
export const adjustmentsFoundRecorded = counter(
  'pb_adjustments_found_recorded_total',
  'Late facts (chargebacks, reversals…) one source found already recorded by the other: no second adjustment or OMS event, by gateway, kind and the source that found it (webhook, reconciliation)',
  ['gateway', 'kind', 'source'],
);

/**
 * A PSP's notification whose fact was recorded already from the same notification under the id another release gave
 * it (an Adyen dated `CAPTURE_FAILED`: `<pspReference>:CAPTURE_FAILED:true` before its eventDate joined its id): a
 * resend after the upgrade, or the earlier release's job still queued, records nothing twice.
 */
export const adjustmentsFoundUnderOtherId = counter(
  'pb_adjustments_found_under_other_id_total',
  'PSP notifications of a late fact recorded already from the same notification under the id another release of the bridge gave it (an Adyen dated CAPTURE_FAILED: pspReference:CAPTURE_FAILED:true before its eventDate joined the id): a resend after an upgrade, or a job the earlier release queued; no second adjustment or OMS event, by gateway and kind',
  ['gateway', 'kind'],
);

/**
 * A second reading of one PSP transaction's fact: its success through another entry of its PSP account (two routing
 * candidates with one account's credentials), under the other kind (`duplicate_after_failover` at the entry failed
 * over from, `succeeded_after_failure` at the one the operation ended at); or its contradiction under the same kind
 * (`ONE_READING_KINDS`) from the other source (a webhook after the report line reconciliation recorded it from, or the
 * other way round): recorded in the history only, no second adjustment, OMS event or reversal; `kind` is the reading
 * not recorded, `recorded_kind` the one that stands.
 */
const duplicatePspFacts = counter(
  'pb_adjustments_duplicate_psp_facts_total',
  "Second readings of one PSP transaction's fact: its success through another gateway entry of the same PSP account under another adjustment kind (duplicate_after_failover, succeeded_after_failure), or its contradiction under the same kind from the other source (a webhook after the reconciliation line, or the reverse: succeeded_after_failure, duplicate_after_failover, capture_failed, refund_failed, failed_after_success): recorded in the history as a duplicate, no second adjustment, OMS event or reversal, by the gateway it came through, its kind and the kind recorded first",
  ['gateway', 'kind', 'recorded_kind'],
);

/** Commands whose success closes the authorization they act on, and whose success after failure then does too. */
const CLOSING_AFTER_FAILURE: ReadonlySet<string> = new Set(['capture', 'cancel']);

/**
 * Cancels recorded FAILED that the PSP did after all (`succeeded_after_failure`) at a PSP whose cancel can void what
 * was captured (Cybersource), by what the cancel did, recorded on it and said by the adjustment's event: voided (a
 * capture or sale, marked undone), released_hold, released_remainder (what partial captures left).
 */
const lateCancelEffects = counter(
  'pb_late_cancel_effects_total',
  'Cancels recorded FAILED that the PSP did after all (succeeded_after_failure) at a PSP whose cancel can void a capture (Cybersource), by gateway and what the cancel did, recorded on it and said by the adjustment event: voided (the capture or sale, marked undone), released_hold, released_remainder',
  ['gateway', 'effect'],
);

function effectLabel(effect: CancelEffect): string {
  if ('voided' in effect) return 'voided';
  return effect.released === 'hold' ? 'released_hold' : 'released_remainder';
}

/**
 * Whether an adjustment of `kind` on an operation of `command` releases an authorization (a cancel whose
 * success turned out failed leaves its authorization held, so only authorizing commands count).
 */
export function releasesAuthorization(kind: AdjustmentKind, command: string): boolean {
  return releasesHold(kind) && AUTHORIZING.has(command);
}

/**
 * The one way a late PSP fact becomes an adjustment and an OMS event, whoever found it (a webhook today,
 * reconciliation later): the adjustment is recorded (idempotent by gateway and PSP event id), then its
 * event is recorded in the outbox and sent in the payment's sequence (idempotent by event id). A repeat
 * records nothing new and sends nothing twice; a crash between the two steps is repaired by running the
 * same call again (the caller's job retry), which finds the adjustment and records the missing event.
 */
export class AdjustmentRecorder {
  constructor(
    private readonly deps: {
      config: Config;
      store: AdjustmentStore;
      recorder: OutcomeRecorder;
      /**
       * Where an authorization the fact says the PSP no longer holds leaves the expiry and orphan indexes, and where the
       * authorization a capture or cancel recorded FAILED acted on is found and closed by its success after failure.
       */
      ledger: Pick<
        Ledger,
        | 'releaseAuthorization'
        | 'closeAuthorization'
        | 'get'
        | 'authorizationByReference'
        | 'findByReference'
        | 'recordCancelEffectOnce'
        | 'unindexHeldForPspRetry'
        | 'dependentsOf'
        | 'adjustmentsOfEach'
        | 'markRefundsUndecided'
        | 'fieldsOf'
        | 'withdrawRefundAlarmsOnce'
        | 'claimRefundedBeyond'
        | 'refundedBeyondClaims'
      >;
      logger: Logger;
    },
  ) {}

  /**
   * Records `input` as an adjustment of `op` (whose state it never changes) and emits its event. An
   * authorization the fact says the PSP no longer holds (`authorization_expired`, `failed_after_success`)
   * leaves the expiry and orphan indexes: no `authorization_expiring` notice and no orphan void follow it.
   * A webhook's fact reconciliation recorded first is that adjustment (`sameFact`): counted, logged, its event
   * not sent again; so is a dated fact recorded from the same notification under the id another release gave it
   * (`recordedUnder`, `pb_adjustments_found_under_other_id_total`). A PSP transaction's success
   * (`duplicate_after_failover`, `succeeded_after_failure`) through an entry of a PSP account configured as more than one
   * entry (`sameAccountGateways`) that the operation records already under the other kind, through one of them, is a
   * second reading of that fact (`duplicateOf`): the first stands, this one is noted in the history only (no adjustment,
   * no event, nothing released; the caller asks for no reversal), counted (`pb_adjustments_duplicate_psp_facts_total`)
   * and logged at warn with both kinds, once. So is a contradiction (`ONE_READING_KINDS`) of a PSP transaction the
   * operation records already under the same kind from the other source (a webhook after the reconciliation line that
   * named the transaction, or the reverse). A fact that undoes a SUCCEEDED refund, capture or sale (`commandsUndoneBy`) marks it undone in
   * the same write: a refund's amount is refundable again (`pb_refunds_undone_total`, a warn line), a capture's or
   * sale's no longer counts as captured for its refunds (`pb_captures_undone_total`, a warn line). A
   * `succeeded_after_failure` of such an operation marked undone clears the mark in that write (`redoneAfter`): the
   * amount counts as captured, or refunded, again (`pb_undone_operations_redone_total`, a warn line).
   * A `succeeded_after_failure` of a capture, sale, refund or cancel the ledger holds FAILED marks it done by the PSP after
   * all in that write (`counted`, `SUCCEEDED_AFTER_FAILURE_FIELD`; `pb_undone_operations_redone_total{recorded="failed"}`,
   * a warn line): a capture, sale or refund counts as captured (or refunded) at the amount the fact confirms, for the
   * checks of the commands that follow, and a later failure of it marks it undone, and a later success redoes it, by the
   * same rules as a SUCCEEDED one; a cancel counts as done (`doneAtPsp`: a lifecycle sweep finds it as its
   * authorization's closer, as it finds a SUCCEEDED cancel). One of a capture or cancel recorded FAILED closes the authorization it acted on, as its success would have
   * (`closeAuthorization`: no `authorization_expiring` notice, no orphan void; `pb_authorizations_released_total`), on
   * every call, so a repeat after a crash completes it. A failure of
   * a capture or sale whose re-capture arrived first and is held on it (`AdjustmentStore.holdRecapture`), the
   * re-capture not older than the failure, marks nothing (`superseded`): the failure's event is sent, then the
   * re-capture is recorded as the `succeeded_after_failure` it would have been in order, and its event follows
   * (`pb_recaptures_before_failure_total{step="reported"}`, a warn line); a repeat after a crash completes it.
   * A dated `succeeded_after_failure` older than a failure of the operation recorded already clears nothing: the
   * PSP failed it again after, the mark stays on the latest such failure, and the event carries `failed_again_by`
   * (`pb_redos_before_later_failure_total`, a warn line). The other way round, a dated failure older than a
   * `succeeded_after_failure` of the operation recorded already (a re-capture that arrived first, after an earlier
   * failure) marks nothing: its event is sent with `superseded_by` that success, and nothing else
   * (`pb_recaptures_before_failure_total{step="recorded_first"}`, a warn line). A superseded failure's event names
   * the held re-capture the same way.
   * @returns whether the adjustment was new, and the adjustment as stored.
   * @throws OperationNotFoundError when `input.operationId` is not in the ledger.
   */
  async recordAdjustment(op: OperationRecord, input: Omit<AdjustmentInput, 'operationId'>, now = Date.now()): Promise<RecordedAdjustment> {
    const { store, recorder, config, logger } = this.deps;
    // Entries of one PSP account hear its facts alike: a transaction's success is looked for under the other reading.
    const accountGateways = readsTransactionSuccess(input.kind) ? sameAccountGateways(config.gateways, input.gateway) : undefined;
    const result = await store.recordAdjustment({ ...input, operationId: op.id, ...(accountGateways ? { accountGateways } : {}) }, now);
    const { adjustment, created } = result;
    if (result.duplicateOf !== undefined) {
      if (result.duplicateOf.noted) {
        duplicatePspFacts.inc({ gateway: input.gateway, kind: input.kind, recorded_kind: adjustment.kind });
        logger.warn(
          'adjustment: a second reading of one PSP fact (its success through another entry of the same PSP account, or its contradiction from the other source: a webhook after the reconciliation line, or the reverse); recorded as a duplicate, the first reading stands (no second event or reversal)',
          {
            operation_id: op.id,
            gateway: input.gateway,
            kind: input.kind,
            psp_event_id: input.pspEventId,
            psp_reference: input.pspReference ?? null,
            source: input.source,
            recorded_as: adjustment.id,
            recorded_kind: adjustment.kind,
            recorded_gateway: adjustment.gateway,
          },
        );
      }
      return result;
    }
    if (result.sameFact) {
      adjustmentsFoundRecorded.inc({ gateway: input.gateway, kind: input.kind, source: 'webhook' });
      logger.info('adjustment: a webhook reports a fact reconciliation already recorded from the PSP line; no second adjustment or event', {
        operation_id: op.id,
        gateway: input.gateway,
        kind: input.kind,
        psp_event_id: input.pspEventId,
        recorded_as: adjustment.id,
        recorded_kind: adjustment.kind,
      });
    }
    if (result.recordedUnder !== undefined) {
      adjustmentsFoundUnderOtherId.inc({ gateway: input.gateway, kind: input.kind });
      logger.info(
        'adjustment: a notification recorded already under the id another release gave it (a resend after an upgrade); no second adjustment or event',
        {
          operation_id: op.id,
          gateway: input.gateway,
          kind: input.kind,
          psp_event_id: input.pspEventId,
          recorded_under: result.recordedUnder,
          recorded_as: adjustment.id,
        },
      );
    }
    const releases = releasesAuthorization(adjustment.kind, op.command);
    if (created) {
      adjustmentsTotal.inc({ gateway: adjustment.gateway, kind: adjustment.kind });
      if (releases) authorizationsReleased.inc({ gateway: adjustment.gateway, kind: adjustment.kind });
      const fields = {
        ...adjustmentFields(op, adjustment),
        direction: adjustment.direction,
        reason: adjustment.reason ?? null,
        operation_state: op.state,
        // No authorization_expiring notice and no orphan void follow a hold the PSP released.
        authorization_released: releases,
        source: adjustment.source,
      };
      if (needsAttention(adjustment.kind)) logger.warn('adjustment: money moved back, or is disputed, on a settled payment', fields);
      else logger.info('adjustment recorded', fields);
    }
    if (result.undone || result.redoneAfter !== undefined || (created && adjustment.failedAgainBy !== undefined))
      noteUndoneMark(op, adjustment, result, logger);
    if (result.counted) noteCounted(op, adjustment, logger);
    if (result.superseded === 'recorded') noteSupersededByRecorded(op, adjustment, logger);
    // A cancel the PSP did after all: what it did (voided a capture, or released the hold) is recorded before its event, which says it.
    const reported =
      adjustment.kind === 'succeeded_after_failure' && op.state === 'FAILED' && op.command === 'cancel' ? await this.lateCancel(op, adjustment, now) : op;
    // What the fact left of the payment: refunded beyond captured is said on its event (read after the record, below).
    const beyond = await this.refundedBeyondCaptured(reported, adjustment, result);
    const said: AdjustmentRecord = beyond === undefined ? adjustment : { ...adjustment, refundedBeyondCaptured: beyond };
    await recorder.emit(adjustmentEvent(reported, said, config));
    // After the adjustment and on every call, so a repeat after a crash in between completes it.
    if (releases) await this.deps.ledger.releaseAuthorization(op.id);
    // A capture or refund held for the PSP's own retry that the PSP has now done: no longer held, no longer watched.
    if (adjustment.kind === 'succeeded_after_failure' && op.state === 'FAILED' && op.heldForPspRetry !== undefined) {
      await this.deps.ledger.unindexHeldForPspRetry(op.id);
    }
    if (adjustment.kind === 'succeeded_after_failure' && op.state === 'FAILED' && CLOSING_AFTER_FAILURE.has(op.command)) {
      await this.closeAfterFailure(op, adjustment, created);
    }
    if (commandsUndoneBy(adjustment.kind).includes(op.command)) await this.reportHeldRecapture(op, adjustment, result.superseded === 'held', now);
    // A capture or sale counting as captured again: a refunded-beyond alarm its failure raised may no longer hold.
    if (countsAsCapturedAgain(op, adjustment, result)) {
      await withdrawAfterLateCapture(op, adjustment, this.deps, now).catch((err: unknown) =>
        logger.error('reading the payment again after a capture done by the PSP after all failed; a refunded-beyond alarm it raised may no longer hold', {
          ...adjustmentFields(op, adjustment),
          command: op.command,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    }
    return said === adjustment ? result : { ...result, adjustment: said };
  }

  /**
   * Whether late refund fact `adjustment` of `op`, just recorded (`result`), left its payment with more refunded, as the
   * PSP confirmed, than stands captured (`refundedBeyondCapturedReadingOf`: the refund check's own sums): the figures,
   * kept on the adjustment once, before its event, as is a reading that found the refunds fit or undecided (above what
   * stands captured, within what captures still in flight would add: no alarm, an info line naming those captures)
   * (the first reading stands, so a repeat says what the first found, which the event said); on the first reading an
   * error line and `pb_refunded_beyond_captured_total`. The fact is recorded as the PSP said it whatever this finds: an
   * alarm, not a guard. Read only for a fact that counts as given back: a refund's `succeeded_after_failure` that
   * counted it (or counts it still, on a repeat), a payment's `refund_outside_bridge`; or for one that lowered what
   * stands captured after refunds were counted (`loweredCaptured`: a capture or sale the PSP failed, `capture_failed`;
   * a cancel recorded FAILED that the PSP did after all and whose void undid one, `op.cancelEffect`): the other order,
   * counted as `capture_failed_after_refund` and `void_after_refund`.
   *
   * Read after the record step, not in it: the sums span the authorization and every dependent of it, which may live in
   * other shards (docs/ARCHITECTURE.md, "Key layout"), and the record script reads only the operation's own record and
   * adjustments. The read comes after the fact is committed, so it always counts the fact (unless a later fact undid it:
   * then nothing is beyond any more), and every other write that moves the sums (a dependent's outcome, an undone or
   * redone mark, an adjustment) is atomic on its own: the read sees each whole, before or after. A fact that lands
   * between the record and the read is counted too: it is the payment as it stands after this fact that is said.
   */
  private async refundedBeyondCaptured(
    op: OperationRecord,
    adjustment: AdjustmentRecord,
    result: RecordedAdjustment,
  ): Promise<RefundedBeyondCaptured | undefined> {
    const basis = await this.readingBasis(op, adjustment, result);
    if (adjustment.refundedBeyondCaptured !== undefined) {
      // Kept by an earlier call (a repeat, a retry after a crash before the event): said on the event only by the claim's holder.
      if (basis === undefined || !claims(basis.lowered)) return adjustment.refundedBeyondCaptured;
      const other = await claimRefundedBeyond(basis.auth, adjustment.refundedBeyondCaptured, adjustment.id, this.deps.ledger, voidOf(op, basis.lowered));
      return other === undefined ? adjustment.refundedBeyondCaptured : undefined;
    }
    if (basis === undefined) return undefined;
    const { auth, lowered, factReference } = basis;
    const cause = lowered ?? adjustment.kind;
    let reading = await refundedBeyondCapturedReadingOf(auth, this.deps.ledger, factReference);
    if (reading.undecided !== undefined) {
      // Each capture it counts in flight is marked before the reading is kept: its move to FAILED reads the payment
      // again (refunded-beyond-alarm.ts). One settled since the read is past its move: read again here, as settled.
      const marks = await Promise.all(reading.undecided.inFlight.map((c) => this.deps.ledger.markRefundsUndecided(c.id, adjustment.id, factReference)));
      if (marks.includes('settled')) reading = await refundedBeyondCapturedReadingOf(auth, this.deps.ledger, factReference);
    }
    const { undecided } = reading;
    // Kept when the refunds fit too (or only captures in flight would cover them): a repeat after the event was sent
    // saying nothing must not say it later.
    const kept = await this.deps.store.recordRefundedBeyondCapturedOnce(op.id, adjustment.id, undecided !== undefined ? 'undecided' : reading.beyond);
    if (kept?.recorded === true && undecided !== undefined) {
      // No alarm: a capture in flight may have collected the money (the PSP refunding is a sign it did); an operator
      // sees which, and the capture's own outcome settles it (marked above: its move to FAILED reads the payment again).
      this.deps.logger.info(
        lowered !== undefined
          ? 'refunded beyond captured unless a capture in flight went through: a fact that lowered what stands captured leaves refunds above it, within what the captures in flight would add; no alarm'
          : 'refunded beyond captured unless a capture in flight went through: a late refund fact leaves refunds above what stands captured, within what the captures in flight would add; no alarm',
        {
          ...adjustmentFields(op, adjustment),
          command: op.command,
          authorization_id: auth.id,
          source: adjustment.source,
          captured_amount: undecided.figures.capturedAmount,
          refunded_amount: undecided.figures.refundedAmount,
          order_currency: undecided.figures.currency,
          captures_in_flight: undecided.inFlight.map((c) => `${c.id} ${c.state} ${c.amount}`),
          in_flight_amount: undecided.inFlight.reduce((total, c) => total + c.amount, 0),
        },
      );
    }
    if (kept?.held === undefined) return undefined;
    // A late refund fact and a void racing (each read after both writes, the same figures): the first to claim them says
    // them, the other only names it. A capture_failed read again after a crash: a late refund fact read since said it.
    const said = claims(lowered)
      ? await claimRefundedBeyond(auth, kept.held, adjustment.id, this.deps.ledger, voidOf(op, lowered))
      : kept.recorded
        ? await saidByFact(auth, kept.held, this.deps.ledger, adjustment.id)
        : undefined;
    if (said !== undefined && kept.recorded) {
      this.deps.logger.info(
        lowered === undefined
          ? 'refunded beyond captured: a void or another late fact, read at the same time, said these refunds beyond already; no second alarm, this event says nothing of it'
          : 'refunded beyond captured: a late fact read after this one lowered what stands captured said these refunds beyond already; no second alarm',
        {
          ...adjustmentFields(op, adjustment),
          cause,
          authorization_id: auth.id,
          said_by: said,
          captured_amount: kept.held.capturedAmount,
          refunded_amount: kept.held.refundedAmount,
          excess_amount: kept.held.excessAmount,
          order_currency: kept.held.currency,
        },
      );
    } else if (said === undefined && kept.recorded) {
      refundedBeyondCapturedTotal.inc({ gateway: adjustment.gateway, cause });
      // Ids and amounts only: money given back twice is for a person to settle with the PSP.
      this.deps.logger.error(lowered === undefined ? REFUND_FACT_ALARM : LOWERED_ALARMS[lowered], {
        ...adjustmentFields(op, adjustment),
        alert: 'refunded_beyond_captured',
        cause,
        command: op.command,
        operation_state: op.state,
        authorization_id: auth.id,
        source: adjustment.source,
        captured_amount: kept.held.capturedAmount,
        refunded_amount: kept.held.refundedAmount,
        excess_amount: kept.held.excessAmount,
        order_currency: kept.held.currency,
      });
    }
    // Claimed by another fact or void: its event says the figures; kept here for ops show. A capture_failed's still says them.
    return said !== undefined && claims(lowered) ? undefined : kept.held;
  }

  /**
   * What reading the payment after `adjustment` of `op` starts from: the payment (read after the record step where a
   * mark of it moved: a sale undone), the cause when the fact lowered what stands captured (else the fact's kind is), and
   * the PSP refund a late fact of a refund of ours names.
   * Undefined when the fact neither gives money back nor lowered what stands captured.
   */
  private async readingBasis(
    op: OperationRecord,
    adjustment: AdjustmentRecord,
    result: RecordedAdjustment,
  ): Promise<{ auth: OperationRecord; lowered?: LoweredCapturedCause; factReference?: string } | undefined> {
    if (givesBack(op, adjustment, result)) {
      const authId = AUTHORIZING.has(op.command) ? op.id : await this.authorizationActedOn(op);
      const auth = authId === null ? null : authId === op.id ? op : await this.deps.ledger.get(authId);
      if (auth === null) return undefined;
      // A refund's late fact names its PSP refund, which a refund_outside_bridge may have reported already: counted once.
      return { auth, factReference: op.command === 'refund' ? adjustment.pspReference : undefined };
    }
    const lowered = loweredCaptured(op, adjustment, result);
    if (lowered === undefined) return undefined;
    // A void read only when its own mark undid it: one undone already (by a capture_failed) was read by that fact.
    const auth = await paymentOf(lowered.undone, this.deps.ledger, lowered.cause === 'void_after_refund' ? op.id : undefined);
    return auth === null ? undefined : { auth, lowered: lowered.cause };
  }

  /**
   * Cancel `op`, recorded FAILED, that the PSP did after all (`adjustment`): what it did, read as its success would
   * have been (`OutcomeRecorder.lateCancelEffect`: a void marks the capture or sale undone and follows the hold it
   * left), recorded on it once (`cancel_effect`; a repeat finds it) and returned on the record its event is built
   * from, so the OMS hears whether the cancel voided a capture or released the hold, and which. Counted
   * (`pb_late_cancel_effects_total`) and logged when recorded. Unchanged at a PSP whose cancel only releases a hold.
   */
  private async lateCancel(op: OperationRecord, adjustment: AdjustmentRecord, now: number): Promise<OperationRecord> {
    if (op.cancelEffect !== undefined) return op;
    const gateway = gatewayOf(op);
    const source = adjustment.source;
    const late = await this.deps.recorder.lateCancelEffect(op, gateway, adjustment.reason, source, now);
    if (late.effect === undefined) return op;
    const { recorded, effect } = await this.deps.ledger.recordCancelEffectOnce(op.id, late.effect);
    if (recorded) {
      lateCancelEffects.inc({ gateway, effect: effectLabel(effect) });
      this.deps.logger.info('cancel recorded FAILED that the PSP did after all: what it did is recorded on it and said by its adjustment event', {
        ...adjustmentFields(op, adjustment),
        effect: effectLabel(effect),
        voided: 'voided' in effect ? effect.voided : null,
      });
      if (late.hold) noteHoldAfterVoid(this.deps.logger, op, late.hold, source);
    }
    return { ...op, cancelEffect: effect };
  }

  /**
   * Closes the authorization capture or cancel `op` acted on, the ledger holding `op` FAILED and the PSP saying it did
   * it after all (`adjustment`, a `succeeded_after_failure`): the PSP no longer holds that authorization as
   * uncaptured, so it leaves the expiry and orphan indexes and `op` is its `closed_by`, as `op`'s success would have
   * left it (no `authorization_expiring` notice, no orphan void of what was captured or cancelled). Idempotent;
   * counted (`pb_authorizations_released_total{kind="succeeded_after_failure"}`) and logged when `created`.
   */
  private async closeAfterFailure(op: OperationRecord, adjustment: AdjustmentRecord, created: boolean): Promise<void> {
    const authorizationId = await this.authorizationActedOn(op);
    if (authorizationId === null) return;
    await this.deps.ledger.closeAuthorization(authorizationId, op.id);
    if (!created) return;
    authorizationsReleased.inc({ gateway: adjustment.gateway, kind: adjustment.kind });
    this.deps.logger.info(`authorization closed by a ${op.command} recorded FAILED that the PSP did after all: no expiry notice or orphan void follows`, {
      ...adjustmentFields(op, adjustment),
      command: op.command,
      authorization_id: authorizationId,
    });
  }

  /**
   * The authorization of ours capture or cancel `op` acted on: the one its attempt resolved (`authorizationId`), else
   * the one its `gateway_key` names, by our id or by the PSP's reference at its gateway. Null when none of ours, and
   * for a cancel voiding one of our captures or refunds as its own transaction (`ownTransactionVoidOf`), whether it
   * names it by our id or by its own PSP reference (which the reference index would follow to its authorization).
   */
  async authorizationActedOn(op: OperationRecord): Promise<string | null> {
    if (op.authorizationId !== undefined) return op.authorizationId;
    const key = op.payment.gateway_key;
    if (key === op.id) return null;
    const { ledger } = this.deps;
    const named = await ledger.get(key);
    if (named) return AUTHORIZING.has(named.command) ? named.id : null;
    if (op.command === 'cancel' && (await ownTransactionVoidOf(op, this.deps.config, ledger)) !== null) return null;
    const found = await ledger.authorizationByReference(gatewayOf(op), key);
    return found?.authorization ? found.record.id : null;
  }

  /**
   * Holds on SUCCEEDED capture or sale `op`, not marked undone, the PSP's re-capture of it (`fact`, the
   * `succeeded_after_failure` it is reported as; `at`, when the PSP re-captured) that arrived before the capture
   * failure it follows: nothing to redo yet, and the OMS, told the capture succeeded, is told nothing until that
   * failure comes (then both, in the PSP's order: `recordAdjustment`). Counted (`pb_recaptures_before_failure_total`)
   * and logged.
   * A re-capture recorded already (an earlier delivery of it; reconciliation's adjustment from the PSP's line, which
   * cleared the mark) is not held: it is recorded as usual, which finds that adjustment (the same fact: counted and
   * logged, no second event).
   * @returns what the store did; `undone`: the failure was recorded meanwhile, the caller reports the re-capture as
   *   usual; `recorded`: recorded here, nothing left to do.
   */
  async holdRecapture(op: OperationRecord, held: HeldRecapture): Promise<HoldRecaptureResult> {
    const result = await this.deps.store.holdRecapture(op.id, held);
    if (result === 'recorded') await this.recordAdjustment(op, held.fact);
    if (result === 'held' || result === 'later_held') {
      recapturesBeforeFailure.inc({ gateway: held.fact.gateway, command: op.command, step: result });
      this.deps.logger.info('re-capture arrived before the capture failure it follows: held on the capture, reported after that failure when it comes', {
        operation_id: op.id,
        command: op.command,
        gateway: held.fact.gateway,
        recapture_event_id: held.fact.pspEventId,
        recaptured_at: isoOrNull(held.at),
        amount: held.fact.amount ?? null,
        currency: held.fact.currency ?? null,
        kept: result === 'held' ? 'this one' : 'one as late, held already',
      });
    }
    return result;
  }

  /**
   * After a capture failure of `op`: the PSP's re-capture held on it (it arrived first) that is not older than the
   * failure is what happened after it, recorded and reported now, in the order the PSP did them, and the capture
   * leaves the index of held re-captures. On every call, so a repeat after a crash between the two completes it (the
   * re-capture's adjustment is idempotent). One the failure is later than stays held: that failure marked the capture
   * undone, and the re-capture still waits for the failure it follows.
   */
  private async reportHeldRecapture(op: OperationRecord, failure: AdjustmentRecord, superseded: boolean, now: number): Promise<void> {
    const held = await this.deps.store.heldRecapture(op.id);
    if (held === null) return;
    if (laterInPspTime(failure.occurredAt, held.at)) return;
    const fields = {
      operation_id: op.id,
      command: op.command,
      gateway: failure.gateway,
      capture_failed_adjustment_id: failure.id,
      capture_failed_at: isoOrNull(failure.occurredAt),
      recaptured_at: isoOrNull(held.at),
      recapture_event_id: held.fact.pspEventId,
      amount: held.fact.amount ?? null,
      currency: held.fact.currency ?? null,
    };
    const { created, adjustment } = await this.recordAdjustment(op, held.fact, now);
    // Reported: no longer waiting for its failure (the recapture wait sweep would otherwise surface it). On every call.
    await this.deps.store.releaseHeldRecapture(op.id);
    if (!created && !superseded) return;
    recapturesBeforeFailure.inc({ gateway: failure.gateway, command: op.command, step: 'reported' });
    this.deps.logger.warn(
      adjustment.failedAgainBy === undefined
        ? 'capture failure reported after its re-capture arrived: the PSP captured again after this failure, so the capture is not undone; the OMS is told the failure, then the re-capture'
        : 'capture failure reported after its re-capture arrived: the PSP captured again after this failure, but failed it again later; the capture stays undone; the OMS is told the failure, then the re-capture',
      { ...fields, failed_again_by: adjustment.failedAgainBy ?? null },
    );
  }
}

/**
 * Counts and logs what the adjustment's step did to its operation's undone mark: set it (a refund that gave the
 * shopper nothing, a capture that collected nothing); cleared it, with `redoneAfter` (the adjustment that had marked
 * it: the PSP says it succeeded after all); or kept it, the adjustment's `failedAgainBy` (a success older than a
 * failure recorded first, at `failedAgainAt`: the PSP failed it again after). One warn line each, where an operator looks.
 */
function noteUndoneMark(
  op: OperationRecord,
  adjustment: AdjustmentRecord,
  { redoneAfter, failedAgainAt }: Pick<RecordedAdjustment, 'redoneAfter' | 'failedAgainAt'>,
  logger: Logger,
): void {
  const fields = {
    ...adjustmentFields(op, adjustment),
    command: op.command,
    authorization_id: op.command === 'sale' ? op.id : (op.authorizationId ?? op.payment.gateway_key),
  };
  const refund = op.command === 'refund';
  // A FAILED one is marked after the PSP did it after all (`succeededAfterFailure`): its own lines say so.
  const late = op.state === 'FAILED' ? { operation_state: op.state, succeeded_after_failure_by: op.succeededAfterFailure?.by ?? null } : {};
  if (adjustment.failedAgainBy !== undefined) {
    redosBeforeLaterFailure.inc({ gateway: adjustment.gateway, command: op.command });
    logger.warn(
      refund
        ? 'refund stays undone: the PSP says it succeeded after its failure, but a later failure of it came first; its amount still counts as not refunded'
        : 'capture stays undone: the PSP re-captured it, but a later failure of it came first; it still counts as not captured, refunds of it are refused',
      { ...fields, ...late, redone_at: isoOrNull(adjustment.occurredAt), undone_by: adjustment.failedAgainBy, failed_again_at: isoOrNull(failedAgainAt) },
    );
  } else if (redoneAfter !== undefined) {
    undoneRedone.inc({ gateway: adjustment.gateway, command: op.command, recorded: op.state === 'FAILED' ? 'failed' : 'succeeded' });
    logger.warn(
      refund
        ? 'refund redone: the PSP says a refund it had undone succeeded after all; its amount counts as refunded again'
        : 'capture redone: the PSP says a capture it had failed succeeded after all (re-captured); it counts as captured again, refunds of it are allowed',
      { ...fields, ...late, undone_by: redoneAfter },
    );
  } else if (refund) {
    refundsUndone.inc({ gateway: adjustment.gateway, kind: adjustment.kind });
    logger.warn('refund undone: the PSP says a refund it had accepted gave the shopper nothing; its amount can be refunded again', { ...fields, ...late });
  } else {
    capturesUndone().inc({ gateway: adjustment.gateway, command: op.command, by: adjustment.kind });
    logger.warn('capture undone: the PSP says a capture it had accepted collected nothing; refunds of the payment are no longer checked against it', {
      ...fields,
      ...late,
    });
  }
}

/**
 * Counts and logs a `succeeded_after_failure` that marked a capture, sale, refund or cancel the ledger holds FAILED as
 * done by the PSP after all (`RecordedAdjustment.counted`): a capture, sale or refund counts as captured (or refunded)
 * at the amount the PSP confirmed (the adjustment's, else what it asked), so the OMS, told so, can refund that money,
 * and no capture takes it again; a cancel counts as done, its authorization's closer. One warn line, where an
 * operator looks.
 */
function noteCounted(op: OperationRecord, adjustment: AdjustmentRecord, logger: Logger): void {
  undoneRedone.inc({ gateway: adjustment.gateway, command: op.command, recorded: 'failed' });
  if (op.command === 'cancel') {
    // No money to count: the mark says the authorization was cancelled at the PSP, by this cancel.
    logger.warn('cancel recorded FAILED counts as done: the PSP says it cancelled after all; it stands as what closed its authorization', {
      ...adjustmentFields(op, adjustment),
      command: op.command,
      operation_state: op.state,
      authorization_id: op.authorizationId ?? op.payment.gateway_key,
    });
    return;
  }
  const counted = adjustment.amount !== undefined && adjustment.currency !== undefined;
  logger.warn(
    op.command === 'refund'
      ? 'refund recorded FAILED counts as refunded: the PSP says it refunded after all; later refunds of the payment are checked against it'
      : `${op.command} recorded FAILED counts as captured: the PSP says it captured after all; refunds of it are allowed, captures over what is left refused`,
    {
      ...adjustmentFields(op, adjustment),
      command: op.command,
      operation_state: op.state,
      authorization_id: op.command === 'sale' ? op.id : (op.authorizationId ?? op.payment.gateway_key),
      counted_amount: counted ? adjustment.amount : op.payment.amount,
      counted_currency: counted ? adjustment.currency : op.payment.currency,
      asked_amount: op.payment.amount,
    },
  );
}

/**
 * Counts and logs a new failure of a capture, sale or refund that marked nothing: a success of it recorded (and
 * reported) already is later (a re-capture that arrived first and cleared an earlier failure's mark), so the
 * PSP's later word stands; the failure's event names that success (`superseded_by`) and nothing else is sent.
 */
function noteSupersededByRecorded(op: OperationRecord, adjustment: AdjustmentRecord, logger: Logger): void {
  recapturesBeforeFailure.inc({ gateway: adjustment.gateway, command: op.command, step: 'recorded_first' });
  logger.warn(
    op.command === 'refund'
      ? 'refund failure arrived after a later success of it was recorded: the PSP refunded after this failure, so the refund is not undone; the OMS is told the failure, superseded_by that success'
      : 'capture failure arrived after a later re-capture of it was recorded: the PSP captured again after this failure, so the capture is not undone; the OMS is told the failure, superseded_by that re-capture',
    {
      ...adjustmentFields(op, adjustment),
      command: op.command,
      failed_at: isoOrNull(adjustment.occurredAt),
      superseded_by: adjustment.supersededBy ?? null,
    },
  );
}

/**
 * Whether `adjustment` of `op` (`result`: what its record step did) counts as money given back to the shopper: a refund's
 * `succeeded_after_failure` that counted it as refunded (a FAILED one marked done after all, or on a repeat still marked
 * by it; a SUCCEEDED one undone, redone), or a payment's `refund_outside_bridge`.
 */
function givesBack(op: OperationRecord, adjustment: AdjustmentRecord, result: RecordedAdjustment): boolean {
  if (adjustment.kind === 'refund_outside_bridge') return AUTHORIZING.has(op.command);
  if (adjustment.kind !== 'succeeded_after_failure' || op.command !== 'refund') return false;
  return result.counted === true || result.redoneAfter !== undefined || (op.state === 'FAILED' && op.succeededAfterFailure?.by === adjustment.id);
}

/**
 * Whether `adjustment` of `op` (`result`: what its record step did) lowered what stands captured of its payment after its
 * refunds may have been counted, the other order than a late refund fact: the capture or sale it undid and the cause
 * counted. A `capture_failed` that marked the capture or sale undone (now, or on a repeat: the record names it), unless
 * it is a sale's cancel-or-refund by its PSP (that money went back by a refund: `saleUndoneByPspRefund`); a cancel's
 * `succeeded_after_failure` whose void undid a capture or sale (`cancelEffect`, recorded before this read). Pure.
 */
function loweredCaptured(
  op: OperationRecord,
  adjustment: AdjustmentRecord,
  result: RecordedAdjustment,
): { undone: string; cause: LoweredCapturedCause } | undefined {
  if (adjustment.kind === 'capture_failed' && (op.command === 'capture' || op.command === 'sale')) {
    if (result.undone !== true && op.undoneBy !== adjustment.id) return undefined;
    if (op.command === 'sale' && (adjustment.reason ?? '').toUpperCase() === PSP_CANCEL_OR_REFUND_REASON) return undefined;
    return { undone: op.id, cause: 'capture_failed_after_refund' };
  }
  if (adjustment.kind === 'succeeded_after_failure' && op.command === 'cancel' && op.state === 'FAILED') {
    const effect = op.cancelEffect;
    if (effect === undefined || !('voided' in effect) || effect.command === 'refund') return undefined;
    return { undone: effect.voided, cause: 'void_after_refund' };
  }
  return undefined;
}

/**
 * Whether `adjustment` of capture or sale `op` (`result`: what its record step did) makes it count as captured again: a
 * `succeeded_after_failure` that marked one recorded FAILED done after all (`counted`) or cleared its undone mark
 * (`redoneAfter`); on a repeat (nothing new recorded), whether it counts so now. Pure.
 */
function countsAsCapturedAgain(op: OperationRecord, adjustment: AdjustmentRecord, result: RecordedAdjustment): boolean {
  if (adjustment.kind !== 'succeeded_after_failure' || (op.command !== 'capture' && op.command !== 'sale')) return false;
  if (result.created) return result.counted === true || result.redoneAfter !== undefined;
  return op.undoneBy === undefined && (op.state === 'SUCCEEDED' || (op.state === 'FAILED' && op.succeededAfterFailure !== undefined));
}

/**
 * Whether a reading of this cause claims the figures it says (`claimRefundedBeyond`): a late refund fact's (no `lowered`)
 * and a void's, which can race each other; a `capture_failed`'s alarm may be withdrawn and raised again, so it does not.
 */
function claims(lowered: LoweredCapturedCause | undefined): boolean {
  return lowered === undefined || lowered === 'void_after_refund';
}

/**
 * The cancel whose claim a late cancel's reading may find as its own (`claimRefundedBeyond`'s `alsoBy`): its reading
 * before a move to SUCCEEDED that never applied (a worker killed, the cancel then recorded FAILED) claimed under its id.
 */
function voidOf(op: OperationRecord, lowered: LoweredCapturedCause | undefined): string | undefined {
  return lowered === 'void_after_refund' ? op.id : undefined;
}

/** The alarm's error line for a late refund fact. */
const REFUND_FACT_ALARM =
  'refunded beyond captured: a late refund fact leaves the payment with more refunded at the PSP than stands captured; money given back twice, settle it with the PSP';

/** The alarm's error line for a fact that lowered what stands captured after refunds were counted, by cause. */
const LOWERED_ALARMS: Record<LoweredCapturedCause, string> = {
  void_after_refund:
    'refunded beyond captured: a void recorded after a late refund fact (a cancel recorded FAILED that the PSP did after all) lowered what stands captured; the payment has more refunded at the PSP than stands captured; money given back twice, settle it with the PSP',
  capture_failed_after_refund:
    "refunded beyond captured: the PSP failed a capture after the payment's refunds were counted; the payment has more refunded at the PSP than stands captured; money given back twice, settle it with the PSP",
};

/** The log fields naming an adjustment and its money, shared by the recorder's lines. */
function adjustmentFields(op: OperationRecord, adjustment: AdjustmentRecord) {
  return {
    operation_id: op.id,
    adjustment_id: adjustment.id,
    gateway: adjustment.gateway,
    kind: adjustment.kind,
    amount: adjustment.amount ?? null,
    currency: adjustment.currency ?? null,
  };
}

/** An epoch-ms time as ISO 8601 for a log field, or null when there is none. */
function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

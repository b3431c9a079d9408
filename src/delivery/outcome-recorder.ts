import { Queue } from 'bullmq';
import { confirmReplicated, unreplicatedError } from '../ledger/replica-acks';
import { RoutingRecord, gatewayOf } from '../ledger/routing-record';
import { Config } from '../config/config';
import { bullJobId } from '../queueing/job-id';
import { EventStore, RecordResult } from '../events/event-store';
import { eventReplicaShortfall } from '../events/event-replicas';
import { OmsEventJobData } from '../events/oms-events-queue';
import { PaymentEvent, outcomeEvent, storedTokenEvent } from '../events/payment-event';
import { IssuedTokens } from '../ledger/issued-tokens';
import { NotificationSender, sendLeaseMs, sendLeasedEvent } from '../events/event-send';
import { AUTHORIZATION_EXPIRED_REASON, GatewayOutcome, OutcomeStatus } from '../gateways/gateway-adapter';
import { pspEpochMs } from '../gateways/psp-time';
import { withSafeReason } from '../gateways/outcome-text';
import { askedMoney, pspDiscrepancy } from '../events/psp-discrepancy';
import { inBusUnits } from '../events/bus-units';
import { toldReviewDeadline } from '../events/risk-review-event';
import { confirmsBalance } from '../contracts/stored-value';
import {
  authorizationExpiryStarts,
  capturesUndone,
  heldForPspRetry,
  networkTransactionIds,
  pspDiscrepancies,
  storedCardDiscrepancies,
} from './authorization-metrics';
import { NETWORK_TRANSACTION_ID_FIELD, PspNetworkTransactionId } from '../logging/network-transaction-id-field';
import { storedCardMismatches } from '../events/stored-card-report';
import { Interaction, Ledger, OperationRecord, PspReference, TransitionFields, dropsMethodData } from '../ledger/ledger';
import { afterTransition } from '../ledger/record-fields';
import { OperationState, isTerminal } from '../ledger/operation-state';
import { AuthorizationStart, authorizationStart, lifecycleFields } from '../lifecycle/authorization-validity';
import { Logger } from '../logging/logger';
import { Decline } from '../errors/decline';
import { declineOfFailure, declineOfOutcome, noteDecline } from './decline-recording';
import { alertUnresolved, noteUnresolvedSettled } from './unresolved-operations';
import { commandOutcome, noteOutcome } from '../metrics/outcome-metrics';
import { assertNever } from '../gateways/assert-never';
import { noteTrimmedAction, withBoundedAction } from '../gateways/action-trimming';
import { ActionDeadline, actionDeadline, actionWait, actionWaitMs, deadlineAfterUnresolved, noteActionDeadline, waitFromCreation } from './action-deadline';
import { wantsStoredToken } from '../contracts/payment-method';
import { markOperation } from '../metrics/stage-timing';
import { CancelReading, DEPENDENT, voidedByCancel } from './operation-context';
import { CancelEffect } from '../ledger/cancel-effect';
import {
  VoidReading,
  noteVoidReading,
  readBeforeVoidMove,
  rereadAfterCaptureFailed,
  rereadAfterVoid,
  sayClaimsOffEvent,
  supersededBeforeMove,
} from './refunded-beyond-alarm';
import { markOwnTransactionVoided, noteOwnTransactionVoidDeclined, ownTransactionVoidOf } from './own-transaction-void';
import { gatewayDefinition, voidRefusedAsCaptured } from '../gateways/gateway-registry';
import { ReleaseHeld, releaseHeldFunds } from './held-funds-release';
import { ReleaseExtraHold, releaseExtraHolds } from './extra-holds-release';
import { LapseRecorded, RecordLapse, failedOnRecordedLapse } from './authorization-lapse';
import { HoldNote, ReleaseAfterVoid, isHoldReversal, noteHoldAfterVoid, noteHoldReversalSettled } from './hold-after-void';
import type { ParkedOutcomes, ReleaseSource } from '../webhooks/parked-outcomes';

/** The ledger state a gateway outcome moves an operation to (the docs' fact tables are built from it). */
export function ledgerStateOf(status: OutcomeStatus): OperationState {
  switch (status) {
    case 'SUCCESS':
      return 'SUCCEEDED';
    case 'FAIL':
      return 'FAILED';
    case 'PENDING':
      return 'PENDING';
    case 'ACTION_REQUIRED':
      return 'ACTION_REQUIRED';
    default:
      return assertNever(status, 'outcome status');
  }
}

/**
 * The action fields of a move: entering ACTION_REQUIRED stores what the storefront needs and its deadline
 * (`actionDeadline`: the PSP's own plus the grace when it named one, else the action's fixed wait from now:
 * minutes for 3-D Secure, days for a bank transfer; from UNRESOLVED, counted from creation:
 * `deadlineAfterUnresolved`); a repeated notice keeps the deadline it has, unless it
 * is the first to bring the PSP's (a webhook reported the wait first, or the operation entered before the
 * bridge read PSP deadlines) or its action's fixed wait, counted from the operation's creation, ends later
 * (it entered before the waits by kind, with the 3-D Secure minutes). Leaving it keeps only the action's
 * kind (the client secret is not kept past its use). `deadline`: the one set, to note. `outcome.action` is
 * bounded already (`withBoundedAction`, in `apply`).
 */
function actionFields(
  op: OperationRecord,
  to: OperationState,
  outcome: GatewayOutcome,
  config: Config,
  now: number,
): { fields: TransitionFields; deadline?: ActionDeadline } {
  const auth = config.authentication;
  if (to === 'ACTION_REQUIRED') {
    if (op.state === 'ACTION_REQUIRED') {
      const psp = op.actionExpiresAt === undefined ? actionDeadline(outcome.actionExpiresAt, op, now, auth, outcome.action) : undefined;
      if (psp?.pspExpiresAt !== undefined) return { fields: { nextCheckAt: psp.at, actionExpiresAt: psp.pspExpiresAt, action: outcome.action }, deadline: psp };
      const longer = op.actionExpiresAt === undefined ? waitFromCreation(op, auth, outcome.action ?? op.action) : undefined;
      if (longer && op.nextCheckAt !== undefined && longer.at > op.nextCheckAt && longer.at > now) {
        return { fields: { nextCheckAt: longer.at, action: outcome.action }, deadline: longer };
      }
      return { fields: { nextCheckAt: op.nextCheckAt ?? now + actionWaitMs(actionWait(outcome.action ?? op.action), auth), action: outcome.action } };
    }
    // Back from UNRESOLVED (still waiting at a later check): the wait it had is not restarted.
    const deadline =
      op.state === 'UNRESOLVED'
        ? deadlineAfterUnresolved(outcome.actionExpiresAt, op, now, auth, outcome.action)
        : actionDeadline(outcome.actionExpiresAt, op, now, auth, outcome.action);
    const fields: TransitionFields = { nextCheckAt: deadline.at, pollStep: 0, action: outcome.action };
    if (deadline.pspExpiresAt !== undefined) fields.actionExpiresAt = deadline.pspExpiresAt;
    return { fields, deadline };
  }
  if (op.state === 'ACTION_REQUIRED' && op.action) return { fields: { action: { kind: op.action.kind } } };
  return { fields: {} };
}

/** How long after an authorization was made its success may be recorded before the recorder logs it (1 hour). */
const LATE_AUTHORIZATION_MS = 3600 * 1000;

/** The commands whose failure a PSP may retry itself (`GatewayOutcome.retriedByPsp`), so their amount stays held. */
const RETRIED_BY_PSP: ReadonlySet<string> = new Set(['capture', 'refund']);
/** The commands whose success is a payment of the card, with its own network transaction id. */
const NETWORK_ID_COMMANDS: ReadonlySet<string> = new Set(['authorize', 'sale']);

/** Where an outcome came from, kept in the operation's history. */
export type OutcomeSource = 'response' | 'webhook' | 'inquiry' | 'poller' | 'bridge' | 'reconciliation';

/** What a cancel recorded FAILED did at its PSP after all ({@link OutcomeRecorder.lateCancelEffect}), and the hold its void left. */
export interface LateCancelEffect {
  effect?: CancelEffect;
  hold?: HoldNote;
}

/**
 * The one way an outcome becomes ledger state and an OMS event, whoever found it (the gateway's answer,
 * a webhook, a status inquiry). Transitions only move forward; whether this call or a racing one moved
 * the state, the event for the resulting state is (re)recorded and queued, idempotently by event id.
 *
 * With a `notifier` (the worker's fast path) an event whose predecessors in its payment are all
 * delivered is sent inline right after it is recorded, instead of through the `oms-events` queue; the
 * queue still takes every event that must wait its turn or whose inline send fails, and the outbox's
 * unsent index lets the recovery sweep re-queue one whose sender died in between.
 */
export class OutcomeRecorder {
  /** Where a stored token that reads as a card number is noted as issued (see {@link indexIssuedToken}). */
  private readonly issuedTokens: IssuedTokens;

  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      events: EventStore;
      eventsQueue: Queue<OmsEventJobData>;
      logger: Logger;
      /** Sends events inline when their turn has come; without it every event goes through the queue. */
      notifier?: NotificationSender;
      /**
       * Called once an outcome moved an operation to FAILED (a webhook's or the poller's as well as the
       * gateway's answer): the orchestration gives back what it reserved (cap counters). Without it, nothing.
       */
      afterFailure?: (op: OperationRecord) => Promise<void>;
      /**
       * Called once an outcome found by anything but the delivering attempt's own answer (a webhook, an inquiry, the
       * poller, a reconciliation) moved an operation to SUCCEEDED: the orchestration gives back what only plans that can
       * never go on record now hold (a dead failover's cap reservation). Without it, nothing.
       */
      afterSuccess?: (op: OperationRecord) => Promise<void>;
      /**
       * Releases what the PSP still holds for an operation an outcome with `fundsHeld` just FAILED (orphan
       * reversal's void under the outcome's reason, `releasingHeldFunds`). Without it the failure is still counted and
       * logged as a hold left standing (`held-funds-release.ts`).
       */
      releaseHeld?: ReleaseHeld;
      /**
       * Voids an extra authorization an authorize's SUCCESS names (`GatewayOutcome.extraHolds`: a double authorization
       * its status inquiry found; orphan reversal's `requestExtraHold`), requested before the success is recorded
       * (`extra-holds-release.ts`). Without it such holds are left, said by a warn line.
       */
      releaseExtraHold?: ReleaseExtraHold;
      /**
       * Requests the reversal of the hold a cancel's void of a capture or sale left on its authorization, at a
       * gateway whose `reverse_after_void` is on (orphan reversal's `requestAfterVoid`). Without it such a hold is
       * left, said by the cancel's event (`hold: left`), a warn line and `pb_holds_after_void_total{release="not_requested"}`.
       */
      releaseAfterVoid?: ReleaseAfterVoid;
      /**
       * Webhook outcomes of a modification parked because they came before any operation held its PSP reference
       * (`webhooks/parked-outcomes.ts`): released when an answer leaves a capture, cancel or refund PENDING under
       * that reference (see `releaseParked`). Without it nothing is released here.
       */
      parked?: ParkedOutcomes;
      /**
       * Records the lapse a capture or cancel FAILED on (`GatewayOutcome.authorizationLapse`) as its authorization's
       * `authorization_expired` adjustment, once (`authorization-lapse.ts`). Without it the lapse is left to its webhook
       * and to reconciliation.
       */
      recordLapse?: RecordLapse;
      /**
       * How a capture's authorization was released before the capture was sent, when on record (`authorization-lapse.ts`):
       * such a capture FAILing fails `authorization_expired`, action `reauthorize`, after its lapse (Adyen: sent after the
       * authorization's EXPIRE), `authorization_cancelled` after its void after success. Without it a capture's failure
       * keeps the PSP's reason.
       */
      lapseRecorded?: LapseRecorded;
    },
  ) {
    this.issuedTokens = new IssuedTokens(this.deps.ledger, this.deps.config.serviceBus, this.deps.config.redis);
  }

  /** A capture's failure as `failedOnRecordedLapse` reads it when its authorization's release is recorded; else as it is. */
  private async onRecordedLapse(op: OperationRecord, outcome: GatewayOutcome, source: OutcomeSource): Promise<GatewayOutcome> {
    const { lapseRecorded, logger } = this.deps;
    if (!lapseRecorded) return outcome;
    try {
      const release = await lapseRecorded(op);
      return release === null ? outcome : failedOnRecordedLapse(op, outcome, source, logger, release);
    } catch (err) {
      // The failure itself is what matters: recorded with the PSP's reason rather than not at all.
      logger.warn("could not read whether a failed capture's authorization had lapsed: its failure keeps the PSP's reason", {
        operation_id: op.id,
        error: err instanceof Error ? err.message : String(err),
      });
      return outcome;
    }
  }

  /**
   * Notes `token` (a stored token of `gateway` the bridge is about to hand the OMS) in the issued-token index when it
   * reads as a card number (`ledger/issued-tokens.ts`); nothing for any other token, nor for none.
   */
  async indexIssuedToken(token: string | undefined, gateway: string): Promise<void> {
    if (token !== undefined && IssuedTokens.cardLike(token)) await this.issuedTokens.record(token, gateway);
  }

  /** Applies a gateway outcome to an operation; returns the record as it now stands. */
  async apply(op: OperationRecord, answer: GatewayOutcome, source: OutcomeSource, details: Record<string, unknown> = {}): Promise<OperationRecord> {
    // Whatever path it came by, the PSP's free text reaches the ledger and the OMS with card data masked,
    // and its customer action bounded (entering ACTION_REQUIRED or already there, by answer, inquiry or webhook).
    const bounded = withBoundedAction(withSafeReason(answer));
    const { trimmed } = bounded;
    let { outcome } = bounded;
    const to = ledgerStateOf(outcome.status);
    // A capture failing after its authorization lapsed (or was voided at the PSP) failed on that release, whatever the PSP's text (one read, failures only).
    if (to === 'FAILED' && op.command === 'capture' && !isTerminal(op.state) && outcome.reason !== AUTHORIZATION_EXPIRED_REASON) {
      outcome = await this.onRecordedLapse(op, outcome, source);
    }
    // The PSP reference is indexed under the gateway that holds it (where the operation was routed).
    const gateway = gatewayOf(op);
    if (trimmed) noteTrimmedAction(this.deps.logger, trimmed, { gateway, source, operationId: op.id, gatewayReference: outcome.gatewayReference });
    const firstCheck = this.deps.config.poller.scheduleMs[0];
    const now = Date.now();
    // Built by assignment, not as a literal of conditional spreads (each a copy through V8's slow path); the
    // later parts override the earlier ones as the spreads did.
    const fields: TransitionFields = {
      gatewayReference: outcome.gatewayReference,
      newGatewayKey: outcome.newGatewayKey,
      gatewayStatus: outcome.gatewayStatus,
      reason: outcome.reason,
      // What the PSP confirmed, kept beside what was asked: the event reports it (same transition, no extra call).
      confirmedAmount: outcome.amount,
      confirmedCurrency: outcome.currency?.toUpperCase(),
    };
    if (to === 'FAILED') fields.decline = this.decline(op, declineOfOutcome(op, outcome, this.deps.config));
    // A cancel the PSP refused because the payment is captured already (its gateway's rule): what it stated captured
    // goes on the record with the failure, so a refund of that capture is sized on the PSP's word (a split's rollback).
    if (to === 'FAILED' && op.command === 'cancel' && !isTerminal(op.state)) {
      const type = this.deps.config.gateways[gateway]?.type;
      const refused = type === undefined ? null : voidRefusedAsCaptured(type, outcome);
      if (refused) fields.capturedAtPsp = refused.captured ? { amount: refused.captured.amount, currency: refused.captured.currency } : {};
    }
    // The PSP refused a cancel's void of our capture or refund (settled already): it stands, counted and logged once.
    const declinedVoid =
      to === 'FAILED' && op.command === 'cancel' && !isTerminal(op.state) ? await ownTransactionVoidOf(op, this.deps.config, this.deps.ledger) : null;
    // A capture or refund the PSP retries itself may still be done: its amount stays held (never freed for a second one
    // that would move the money twice), its reason kept with the mark, in the FAILED transition itself.
    const heldForRetry = to === 'FAILED' && RETRIED_BY_PSP.has(op.command) && !isTerminal(op.state) && outcome.retriedByPsp === true;
    if (heldForRetry) fields.heldForPspRetry = outcome.reason ?? outcome.gatewayStatus;
    if (to === 'PENDING' && op.state !== 'PENDING') {
      fields.nextCheckAt = now + firstCheck;
      fields.pollStep = 0;
    }
    let deadline: ActionDeadline | undefined;
    if (to === 'ACTION_REQUIRED' || op.state === 'ACTION_REQUIRED') {
      const action = actionFields(op, to, outcome, this.deps.config, now);
      Object.assign(fields, action.fields);
      deadline = action.deadline;
    }
    // Token on first use: only when the command asked for it (a PSP may name a method stored otherwise).
    fields.storedToken = wantsStoredToken(op.payment) ? outcome.storedToken : undefined;
    // A token that reads as a card number is noted in the issued-token index before the record (and so the OMS) gets it:
    // the OMS sending it back in payment.gateway_key is then accepted (only such a token costs this one write).
    // Checked here first: the ordinary outcome (no token, or one that reads as no card number) makes no async call.
    if (fields.storedToken !== undefined && IssuedTokens.cardLike(fields.storedToken)) await this.indexIssuedToken(fields.storedToken, gateway);
    if (op.command === 'tokenize') await this.indexIssuedToken(fields.newGatewayKey, gateway);
    // The stored card as the PSP described it: for a command that stores one (the OMS is told what the token holds).
    fields.storedCard = op.command === 'tokenize' || wantsStoredToken(op.payment) ? outcome.storedCard : undefined;
    // The scheme's id of an authorize's or sale's success, as the PSP reported it (never one it did not name).
    const networkTransactionId = to === 'SUCCEEDED' && NETWORK_ID_COMMANDS.has(op.command) ? outcome.networkTransactionId : undefined;
    if (networkTransactionId !== undefined) fields.networkTransactionId = networkTransactionId;
    // One that reads as a card number (a Visa id may) is noted as reported before the record (and so the OMS) gets it:
    // the OMS quoting it back in payment.recurring.network_transaction_id is then accepted (`ledger/issued-tokens.ts`).
    if (networkTransactionId !== undefined && IssuedTokens.cardLike(networkTransactionId))
      await this.issuedTokens.recordNetworkId(networkTransactionId, gateway);
    // Expiry of an authorization, or the authorization a capture/cancel closes: same transition, no extra call.
    if (to === 'SUCCEEDED') Object.assign(fields, lifecycleFields(this.deps.config, op, true, now, outcome));
    // When the PSP says the success happened, written with the move to SUCCEEDED only (that state never moves
    // again): a failure of it the PSP dates earlier, however late it arrives, is then an older event, not an undo.
    const pspSucceededAt = to === 'SUCCEEDED' ? pspEpochMs(outcome.occurredAt) : undefined;
    if (pspSucceededAt !== undefined) fields.pspSucceededAt = pspSucceededAt;
    // The PSP's round trip of the call whose answer this is, for the event's `gateway_response_time` (not the
    // operation's age: queueing, retries and a webhook's wait are not the PSP's response time).
    const pspResponseMs = pspResponseMsOf(source, details);
    if (pspResponseMs !== undefined) fields.pspResponseMs = pspResponseMs;
    // A refused command on an earlier PSP object (a capture or cancel the PSP turned down) leaves that object
    // indexed to the operation holding it, so a later fact about it (a dispute) does not land on the refusal.
    // A validate only reads its authorization's object (Stripe answers with the PaymentIntent): it never takes it over either.
    const refusedDependent = (to === 'FAILED' && DEPENDENT.has(op.command)) || op.command === 'validate';
    const reference = outcome.gatewayReference ? { gateway, reference: outcome.gatewayReference, ...(refusedDependent ? { ifUnclaimed: true } : {}) } : null;
    const interaction = Object.assign({ event: 'outcome', source, gateway_status: outcome.gatewayStatus }, details);
    // Which time the authorization's expiry was counted from goes on its history (and a late one on the log).
    const start = fields.expiresAt !== undefined ? authorizationStart(op, now, outcome.authorizedAt) : undefined;
    if (start !== undefined) Object.assign(interaction, { expiry_from: start.from, authorized_at: new Date(start.at).toISOString() });
    if (pspSucceededAt !== undefined) Object.assign(interaction, { psp_succeeded_at: new Date(pspSucceededAt).toISOString() });
    // Kept whole by the history's redaction as the PSP's (logging/redact.ts), as on the event: a plain string of the
    // same name, a channel's, is scanned as ever.
    if (networkTransactionId !== undefined) Object.assign(interaction, { [NETWORK_TRANSACTION_ID_FIELD]: PspNetworkTransactionId.of(networkTransactionId) });
    // A cancel's void undid a capture or sale: marked undone before the success is recorded, so a crash in between
    // leaves the cancel unsettled, its outcome found again (retry, inquiry, webhook) and the mark, set once, kept.
    // What it did (voided, or released the hold or what partial captures left) is recorded with its success.
    // A void leaves the authorization's hold: its reversal is requested here too, before the success is recorded.
    let hold: HoldNote | undefined;
    let voidReading: VoidReading | undefined;
    if (to === 'SUCCEEDED' && op.command === 'cancel' && (op.state === 'SUCCEEDED' || !isTerminal(op.state))) {
      const read = await this.cancelEffect(op, gateway, outcome, source, now);
      if (read.effect) fields.cancelEffect = read.effect;
      // A void of our capture or refund as its own transaction acted on it, not on an authorization: it closes none
      // (by Cybersource id its key would reach the capture through the reference index and mark it closed).
      if (read.own) delete fields.closesAuthorization;
      hold = read.hold;
      // Its void lowered what stands captured: the payment read after the mark, before the move, so the cancel's event
      // says refunded beyond captured (refunded-beyond-alarm.ts). Not on a repeat: the first move wrote it.
      if (op.state !== 'SUCCEEDED') voidReading = await this.readBeforeVoidMove(op, read.effect);
      // Checked again last thing before the move: a refund fact said more since, its event sequenced before this one.
      if (voidReading) voidReading = await this.supersededBeforeMove(op, voidReading);
      if (voidReading) fields.refundsRereadAfterVoid = voidReading.kept;
    }
    // The other authorizations of a double authorization: their voids requested before the success makes it terminal.
    const extraVoided =
      to === 'SUCCEEDED' && outcome.extraHolds !== undefined && !isTerminal(op.state)
        ? await releaseExtraHolds({ ledger: this.deps.ledger, logger: this.deps.logger, release: this.deps.releaseExtraHold }, op, outcome, source)
        : [];
    // Noted by the recorder whose move applied: two applying one outcome at once (a webhook racing an inquiry) note it once.
    const after = await this.decide(op, to, interaction, fields, reference, (moved) => {
      if (hold && moved.state === 'SUCCEEDED' && op.state !== 'SUCCEEDED') noteHoldAfterVoid(this.deps.logger, moved, hold, source);
      if (voidReading && moved.state === 'SUCCEEDED' && op.state !== 'SUCCEEDED') {
        noteVoidReading(moved, voidReading, this.deps.logger);
      }
      this.noteHoldReversal(op, moved, source);
      if (start !== undefined && moved.state === 'SUCCEEDED' && op.state !== 'SUCCEEDED') this.noteExpiryStart(op, start, fields, now, source);
      if (op.state === 'UNRESOLVED' && moved.state !== 'UNRESOLVED') noteUnresolvedSettled(this.deps.logger, op, moved.state, source);
      if (moved.state !== op.state) this.noteDiscrepancy(op, outcome, source, fields.cancelEffect);
      if (heldForRetry && moved.state === 'FAILED' && moved.heldForPspRetry !== undefined) this.noteHeldForRetry(moved, gateway, source);
      if (declinedVoid && moved.state === 'FAILED') noteOwnTransactionVoidDeclined(op, declinedVoid, outcome, this.deps.logger, source);
    });
    // Another move than this call's settled the cancel with its reading (another recorder's move of the same success
    // applied first, the outcome heard twice at once; or an earlier one, a repeat): the move did not apply, and settling
    // the record it found says the claims of a reading whose move did not apply (`settleRecord`, `sayClaimsOffEvent`).
    // A void of a capture or sale recorded without its reading (that read failed, or an earlier release moved it): read
    // after the move, once per cancel (refunded-beyond-alarm.ts). No other outcome reads.
    if (op.command === 'cancel' && after.state === 'SUCCEEDED' && after.refundsRereadAfterVoid === undefined) {
      await this.rereadAfterVoid(after, after.cancelEffect ?? fields.cancelEffect);
    }
    // A move between the extra holds' request and this one recorded one of them as the operation's (a webhook): said;
    // its void waits unsent for the authorize to settle, then finds that hold on record and is refused (operation-context.ts).
    // The hold this outcome decided on is then the extra one, left to an operator.
    if (extraVoided.length > 0 && after.gatewayReference !== undefined && extraVoided.includes(after.gatewayReference)) {
      this.deps.logger.error(
        'an extra authorization whose void was requested is the one the operation recorded (another move settled it meanwhile): its void is refused unsent (EXTRA_AUTHORIZATION_RECORDED); the authorization this inquiry decided on is the extra one: reverse it at the PSP',
        {
          operation_id: op.id,
          gateway,
          gateway_reference: after.gatewayReference,
          ...(outcome.gatewayReference !== undefined ? { extra_reference: outcome.gatewayReference } : {}),
          source,
        },
      );
    }
    // The deadline this move set, once it is on the record (not a racing move's).
    if (deadline && after.state === 'ACTION_REQUIRED' && after.nextCheckAt === deadline.at) {
      const type = outcome.action?.psp_action?.type;
      noteActionDeadline(this.deps.logger, deadline, {
        id: op.id,
        gateway,
        orderId: op.payment.order_id,
        actionType: typeof type === 'string' ? type : undefined,
      });
    }
    if (after.state === 'SUCCEEDED' && op.state !== 'SUCCEEDED') this.noteStoredCard(after, source);
    // Whether the PSP named the payment's network id, counted once per success: a gateway that never does (Adyen
    // without the setting, a Stripe sale whose charge is not expanded) shows as `found="no"`.
    if (after.state === 'SUCCEEDED' && op.state !== 'SUCCEEDED' && NETWORK_ID_COMMANDS.has(op.command)) {
      networkTransactionIds().inc({ gateway, found: after.networkTransactionId !== undefined ? 'yes' : 'no' });
    }
    // Indexed on every reading of the failure, the record FAILED already included (a repeat after a crash between the
    // transition and this write completes it; `heldForRetry` holds only for the move), so its age is watched until the
    // PSP's retry comes (`pb_held_for_psp_retry_overdue`): nothing else would ever clear the amount it holds.
    const heldReading = to === 'FAILED' && RETRIED_BY_PSP.has(op.command) && outcome.retriedByPsp === true;
    if (heldReading && after.state === 'FAILED' && after.heldForPspRetry !== undefined && after.succeededAfterFailure === undefined) {
      await this.deps.ledger.indexHeldForPspRetry(after.id, now);
    }
    // Indexed just now (the transition above): a webhook that came before it may be parked under the reference.
    if (to === 'PENDING' && (op.state !== 'PENDING' || op.gatewayReference !== outcome.gatewayReference)) await this.releaseParked(after, 'answer');
    if (after.state === 'FAILED' && op.state !== 'FAILED' && this.deps.afterFailure) {
      // The state is recorded; a lost release only keeps a cap counter high until its day or month ends.
      await this.deps
        .afterFailure(after)
        .catch((err: Error) =>
          this.deps.logger.warn('could not give back what the orchestration reserved for a failed operation', { operation_id: op.id, error: err.message }),
        );
    }
    // Found by a webhook, an inquiry, the poller or a reconciliation: no pass of the delivery follows to reclaim what a
    // failover plan decided on the last attempt left (its worker died). Not for the delivering attempt's own answer: that
    // would cost every routed authorization a read (docs/LIMITS.md); a dead claim beside it is a second worker's, killed
    // mid-failover in that call's window, and stays counted until its bucket ends. A repeat of the success (a webhook
    // heard again, its job retried after the worker that moved it died before this) runs it again: idempotent, and what
    // reclaims it then (no Redis call for a route of one candidate or with no caps).
    if (after.state === 'SUCCEEDED' && source !== 'response' && this.deps.afterSuccess) {
      // The state is recorded; a lost release only keeps a cap counter high until its claim's TTL, then its day or month.
      await this.deps
        .afterSuccess(after)
        .catch((err: Error) =>
          this.deps.logger.warn('could not give back what dead plans reserved for a succeeded operation', { operation_id: op.id, error: err.message }),
        );
    }
    // Failed, yet the issuer's approval still holds the customer's funds: release them, once (this move's caller).
    if (outcome.fundsHeld !== undefined && after.state === 'FAILED' && op.state !== 'FAILED') {
      await releaseHeldFunds({ logger: this.deps.logger, release: this.deps.releaseHeld }, after, { ...outcome, fundsHeld: outcome.fundsHeld }, source);
    }
    // Failed because the PSP let the authorization lapse: the authorization's adjustment, on every call (a repeat finds
    // it), so one lost to a crash after the move is recorded by the next reading of the same answer.
    if (outcome.authorizationLapse !== undefined && after.state === 'FAILED' && this.deps.recordLapse) {
      await this.deps.recordLapse(after, outcome.authorizationLapse, source);
    }
    return after;
  }

  /**
   * `readBeforeVoidMove` for cancel `cancel` when its `effect` voided a capture or sale; undefined otherwise, or when the
   * read failed (an error line: the move goes on without it, and the payment is read after it, `rereadAfterVoid`).
   */
  private async readBeforeVoidMove(cancel: OperationRecord, effect: CancelEffect | undefined): Promise<VoidReading | undefined> {
    if (effect === undefined || !('voided' in effect) || effect.command === 'refund') return undefined;
    return readBeforeVoidMove(cancel, { id: effect.voided, command: effect.command }, this.deps).catch((err: unknown) => {
      this.deps.logger.error('reading the payment before a void is recorded failed; it is read again after the move, and the cancel event says nothing of it', {
        operation_id: cancel.id,
        command: cancel.command,
        gateway: gatewayOf(cancel),
        voided_operation_id: effect.voided,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    });
  }

  /**
   * `supersededBeforeMove` of cancel `cancel`'s reading `found`; `found` as it is when that read fails (a warn line: the
   * cancelled event may then carry figures older than a refund fact's event sequenced before it).
   */
  private async supersededBeforeMove(cancel: OperationRecord, found: VoidReading): Promise<VoidReading> {
    return supersededBeforeMove(cancel, found, this.deps).catch((err: unknown) => {
      this.deps.logger.warn("checking a void's reading again before its move failed; its cancelled event says the figures as read", {
        operation_id: cancel.id,
        command: cancel.command,
        gateway: gatewayOf(cancel),
        authorization_id: found.authorizationId,
        error: err instanceof Error ? err.message : String(err),
      });
      return found;
    });
  }

  /**
   * `sayClaimsOffEvent` for SUCCEEDED cancel `cancel` when its `effect` voided a capture or sale: an alarm, never the
   * outcome's undoing; a failed read is said, not retried into the outcome job (nothing was marked: the outcome heard
   * again reads again).
   */
  private async sayClaimsOffEvent(cancel: OperationRecord, effect: CancelEffect | undefined): Promise<void> {
    if (effect === undefined || !('voided' in effect) || effect.command === 'refund') return;
    await sayClaimsOffEvent(cancel, { id: effect.voided, command: effect.command }, this.deps).catch((err: unknown) =>
      this.deps.logger.error('reading the claims a void left on its payment failed; check its refunds against what stands captured', {
        operation_id: cancel.id,
        command: cancel.command,
        gateway: gatewayOf(cancel),
        voided_operation_id: effect.voided,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }

  /**
   * `rereadAfterVoid` for SUCCEEDED cancel `cancel` when its `effect` voided a capture or sale: an alarm, never the
   * outcome's undoing; a failed read is said, not retried into the outcome job (nothing was kept: the outcome heard again
   * reads again).
   */
  private async rereadAfterVoid(cancel: OperationRecord, effect: CancelEffect | undefined): Promise<void> {
    if (effect === undefined || !('voided' in effect) || effect.command === 'refund') return;
    await rereadAfterVoid(cancel, { id: effect.voided, command: effect.command }, this.deps).catch((err: unknown) =>
      this.deps.logger.error(
        'reading the payment again after a move lowered what stands captured (a void) failed; check its refunds against what stands captured',
        {
          operation_id: cancel.id,
          command: cancel.command,
          gateway: gatewayOf(cancel),
          voided_operation_id: effect.voided,
          error: err instanceof Error ? err.message : String(err),
        },
      ),
    );
  }

  /**
   * Counts and logs a capture or refund just recorded FAILED whose PSP retries it itself (`heldForPspRetry`): what an
   * operator reads when a later one of the payment is refused `amount_held_by_failed_capture` or
   * `amount_held_by_failed_refund`.
   */
  private noteHeldForRetry(op: OperationRecord, gateway: string, source: OutcomeSource): void {
    heldForPspRetry().inc({ gateway, command: op.command });
    this.deps.logger.warn(
      'capture or refund failed at the PSP, which retries it itself: its amount stays held, a second one of that amount is refused until the PSP has done it',
      {
        operation_id: op.id,
        command: op.command,
        gateway,
        source,
        authorization_id: op.authorizationId ?? op.payment.gateway_key,
        amount: op.payment.amount,
        currency: op.payment.currency,
        psp_reason: op.heldForPspRetry,
        gateway_reference: op.gatewayReference,
      },
    );
  }

  /**
   * Queues again the webhook outcomes parked under `op`'s PSP reference (`ParkedOutcomes`): those of its
   * modification that came before the reference was indexed to it. Only for a capture, cancel or refund… (a
   * command acting on an earlier PSP object) left PENDING, waiting for its webhook, and only with `parked`. A
   * failure is logged, never thrown: the state is recorded, and the poller's next check of the operation releases
   * them (`Poller`, webhook-only commands).
   * @returns how many were released.
   */
  async releaseParked(op: OperationRecord, source: ReleaseSource): Promise<number> {
    const parked = this.deps.parked;
    const reference = op.gatewayReference;
    if (!parked || reference === undefined || op.state !== 'PENDING' || !DEPENDENT.has(op.command)) return 0;
    try {
      return await parked.release(gatewayOf(op), reference, op.id, source);
    } catch (err) {
      this.deps.logger.warn('parked webhook outcomes not released now (the poller tries again at its next check)', {
        operation_id: op.id,
        gateway_reference: reference,
        error: (err as Error).message,
      });
      return 0;
    }
  }

  /**
   * Gives up expecting a final answer (the poll schedule ran out, or `delivery.max_age_ms` passed after an
   * attempt that may have reached the PSP): the operation becomes UNRESOLVED, not terminal. The OMS is
   * told UNRESOLVED, operators are alerted (`alert: payment_unresolved`), and the poller keeps asking
   * every `poller.unresolved_interval_ms` from `nextCheckAt` on, while a webhook may settle it any time.
   * @param nextCheckAt when the poller asks first, epoch ms. Default: now + `poller.unresolved_interval_ms`.
   * @param options.onlyFrom give up only if the operation is still in this state at `op`'s attempt count (the caller
   *   decided on `op`, a record read earlier: another worker's resend meanwhile, same state, one more attempt, counts as
   *   a move); otherwise it is left as it is and returned as it stands.
   * @param options.precededBy history entries written just before the UNRESOLVED one, only when it applies (the end of
   *   the attempt a held failover left: `TransitionFields.precededBy`).
   */
  async unresolve(
    op: OperationRecord,
    cause: string,
    source: OutcomeSource,
    details: Record<string, unknown> = {},
    nextCheckAt?: number,
    options: { onlyFrom?: OperationState; precededBy?: TransitionFields['precededBy'] } = {},
  ): Promise<OperationRecord> {
    const at = nextCheckAt ?? Date.now() + this.deps.config.poller.unresolvedIntervalMs;
    const fields: TransitionFields = options.onlyFrom ? { nextCheckAt: at, onlyFrom: options.onlyFrom, onlyAttempts: op.attempts } : { nextCheckAt: at };
    if (options.precededBy && options.precededBy.length > 0) fields.precededBy = options.precededBy;
    // Leaving ACTION_REQUIRED (an expiry whose inquiry keeps erring): the client secret is not kept past its use.
    if (op.state === 'ACTION_REQUIRED' && op.action) fields.action = { kind: op.action.kind };
    return this.decide(op, 'UNRESOLVED', { event: 'unresolved', source, cause, ...details }, fields, null, (moved) => {
      if (moved.state === 'UNRESOLVED' && op.state !== 'UNRESOLVED') alertUnresolved(this.deps.logger, op, cause, details);
    });
  }

  /**
   * Fails an operation for a reason of ours (no route, unsupported, UNRESPONSIVE, a terminal gateway error,
   * a refusal against its authorization).
   * @param options.details what the history entry records besides the reason.
   * @param options.decline the normalized decline when the caller has the PSP's (a terminal gateway error);
   *   default the bridge's decline of `reason` (see `src/errors/bridge-declines.ts`).
   * @param options.field the command field at fault (`payment.currency`), reported on the record and the event.
   * @param options.onlyFrom fail only if the operation is still in this state at `op`'s attempt count (the caller
   *   decided on `op`, a record read earlier: a refusal before the first attempt, which another worker may have sent
   *   meanwhile, or of one already sent, which another worker may have sent again: same state, one more attempt);
   *   otherwise it is left as it is and returned as it stands.
   * @param options.precededBy history entries written just before the FAIL's, only when it applies (the failovers that
   *   led to a refusal at the next gateway: `TransitionFields.precededBy`).
   */
  async fail(
    op: OperationRecord,
    reason: string,
    source: OutcomeSource,
    options: {
      details?: Record<string, unknown>;
      decline?: Decline;
      field?: string;
      routing?: RoutingRecord;
      onlyFrom?: OperationState;
      precededBy?: TransitionFields['precededBy'];
    } = {},
  ): Promise<OperationRecord> {
    const { details = {}, decline, field, routing, onlyFrom, precededBy } = options;
    const fields: TransitionFields = {
      reason,
      decline: this.decline(op, declineOfFailure(reason, decline)),
      ...(field ? { reasonField: field } : {}),
      // An orchestration refusal: its decisions go on the record (and so on the FAIL event).
      ...(routing ? { routing } : {}),
      // Leaving ACTION_REQUIRED: the client secret is not kept past its use.
      ...(op.state === 'ACTION_REQUIRED' && op.action ? { action: { kind: op.action.kind } } : {}),
      ...(onlyFrom ? { onlyFrom, onlyAttempts: op.attempts } : {}),
      ...(precededBy && precededBy.length > 0 ? { precededBy } : {}),
    };
    // A refusal the PSP answered (a terminal gateway error read from its answer, `elapsed_ms` in the details): its round
    // trip is the FAIL event's `gateway_response_time`, as an answer read as FAIL would say.
    const pspResponseMs = pspResponseMsOf(source, details);
    if (pspResponseMs !== undefined) fields.pspResponseMs = pspResponseMs;
    return this.decide(op, 'FAILED', { event: 'failed', source, reason, ...(field ? { field } : {}), ...details }, fields, null, (moved) =>
      this.noteHoldReversal(op, moved, source),
    );
  }

  /** A reversal of the hold a void left that this move settled: counted, and a failure (the hold left) said. */
  private noteHoldReversal(op: OperationRecord, after: OperationRecord, source: OutcomeSource): void {
    if (isHoldReversal(op) && !isTerminal(op.state) && isTerminal(after.state)) noteHoldReversalSettled(this.deps.logger, after, source);
  }

  /**
   * An authorization recorded as succeeded: `pb_authorization_expiry_starts_total`, and an info line when it
   * was made well before this record (a review accepted, an inquiry, a reconciliation, a late webhook), whose
   * expiry is then nearer than the record's age suggests.
   */
  private noteExpiryStart(op: OperationRecord, start: AuthorizationStart, fields: TransitionFields, now: number, source: OutcomeSource): void {
    const gateway = gatewayOf(op);
    authorizationExpiryStarts().inc({ gateway, from: start.from });
    if (now - start.at < LATE_AUTHORIZATION_MS) return;
    this.deps.logger.info('authorization recorded after it was made: its expiry counts from when it was made', {
      operation_id: op.id,
      gateway,
      source,
      expiry_from: start.from,
      authorized_at: new Date(start.at).toISOString(),
      recorded_late_ms: now - start.at,
      ...(fields.expiresAt !== undefined ? { expires_at: new Date(fields.expiresAt).toISOString() } : {}),
    });
  }

  /**
   * What cancel `op`'s successful `outcome` did at gateway `name`, for a PSP whose cancel can void what was
   * captured (`GatewayDefinition.cancelVoided`); undefined at any other. Read as its request was built
   * (`voidedByCancel`): captures that left part of the authorization were not voided, whatever the outcome's
   * status says (a status inquiry's may name no reversal), so none is marked; a void's sale or capture is
   * marked undone (`markVoided`), and the hold the void left on the authorization is followed (`holdAfterVoid`).
   * `own`: it voided one of our captures or refunds as its own transaction (`ownTransactionVoidOf`).
   */
  private async cancelEffect(
    op: OperationRecord,
    name: string,
    outcome: GatewayOutcome,
    source: OutcomeSource,
    now: number,
  ): Promise<{ effect?: CancelEffect; hold?: HoldNote; own?: true }> {
    // A cancel naming our capture or refund voided that transaction itself: it is marked undone, no hold is concerned.
    const own = await ownTransactionVoidOf(op, this.deps.config, this.deps.ledger);
    if (own) return { effect: await markOwnTransactionVoided(op, own, outcome, this.deps, source, now), own: true };
    const type = this.deps.config.gateways[name]?.type;
    const voids = type === undefined ? undefined : gatewayDefinition(type).cancelVoided;
    if (voids === undefined) return {};
    const read = await voidedByCancel(op, this.deps.ledger);
    if (read.kind === 'released') {
      if (op.state === 'SUCCEEDED') return { effect: { released: 'remainder', amount: read.remainder.amount, currency: read.remainder.currency } };
      this.deps.logger.info('cancel released what partial captures left of the authorization: no capture undone, they still count as captured', {
        operation_id: op.id,
        gateway: name,
        source,
        authorization_id: read.authorizationId,
        capture_ids: read.ids.join(','),
        released_amount: read.remainder.amount,
        released_currency: read.remainder.currency,
      });
      return { effect: { released: 'remainder', amount: read.remainder.amount, currency: read.remainder.currency } };
    }
    // A reversal (REVERSED, payments.reversals.*) voided nothing: a capture that succeeded while it was in flight was not undone by it.
    if (!voids(outcome)) return { effect: { released: 'hold' } };
    const voided = await this.markVoided(op, name, source, now, read);
    const effect = voided?.effect;
    if (!voided || !effect || !('voided' in effect) || effect.command === 'refund' || (read.kind !== 'capture' && read.kind !== 'sale')) return { effect };
    // Settled already (a repeated webhook): what it recorded stands, nothing requested again. A cancel recorded FAILED
    // that the PSP did after all (`lateCancelEffect`) is not: its void left the hold as any void does.
    if (op.state === 'SUCCEEDED') return { effect };
    return this.holdAfterVoid(op, name, { ...effect, command: effect.command }, read.authorizationId, voided.allMarked);
  }

  /**
   * What cancel `op`, recorded FAILED, did at gateway `gateway` after all: the PSP says it succeeded (a
   * `succeeded_after_failure` whose PSP status is `gatewayStatus`: a webhook's event type, an answer's status, a
   * reconciliation line's `psp_<service>`). Read as its success would have been read (`cancelEffect`): a void marks
   * the capture or sale it undid undone (refunds of it are then refused) and follows the hold it left
   * (`reverse_after_void`); a reversal released the hold, or what partial captures left of it. Undefined at a PSP
   * whose cancel only releases a hold, or when which capture was voided is not known.
   */
  async lateCancelEffect(
    op: OperationRecord,
    gateway: string,
    gatewayStatus: string | undefined,
    source: OutcomeSource,
    now = Date.now(),
  ): Promise<LateCancelEffect> {
    const read = await this.cancelEffect(op, gateway, { status: 'SUCCESS', gatewayStatus: gatewayStatus ?? '' }, source, now);
    return { ...(read.effect ? { effect: read.effect } : {}), ...(read.hold ? { hold: read.hold } : {}) };
  }

  /**
   * The hold cancel `op`'s void left on authorization `authorizationId` (a void undoes the capture or sale, not the
   * authorization): at a gateway whose `reverse_after_void` is on, its reversal is requested (`releaseAfterVoid`:
   * a cancel of its own, created before this cancel's success is recorded, so a crash in between loses nothing:
   * the outcome is found again and the request, idempotent, made again), once everything the void undid is marked
   * undone (so that reversal finds nothing captured standing and is never built as another void). The effect
   * records it (`hold: releasing`, the reversal's id) or says the hold is left; the note is for after the move.
   */
  private async holdAfterVoid(
    op: OperationRecord,
    gateway: string,
    effect: Extract<CancelEffect, { voided: string }> & { command: 'capture' | 'sale' },
    authorizationId: string,
    allMarked: boolean,
  ): Promise<{ effect: CancelEffect; hold: HoldNote }> {
    const note = { authorizationId, voided: effect.voided, command: effect.command };
    if (this.deps.config.gateways[gateway]?.reverseAfterVoid !== true) return { effect: { ...effect, hold: 'left' }, hold: { ...note, release: 'off' } };
    const why = !allMarked ? 'what the void undid is not marked undone' : !this.deps.releaseAfterVoid ? 'no orphan reversal in this process' : undefined;
    if (why !== undefined || !this.deps.releaseAfterVoid) return { effect: { ...effect, hold: 'left' }, hold: { ...note, release: 'not_requested', why } };
    const decision = await this.deps.releaseAfterVoid(op, authorizationId);
    if (decision.outcome === 'skipped') {
      return {
        effect: { ...effect, hold: 'left' },
        hold: { ...note, release: 'not_requested', why: `orphan reversal skipped it: ${decision.skipped ?? 'unknown'}` },
      };
    }
    return { effect: { ...effect, hold: 'releasing', reversal: decision.voidId }, hold: { ...note, release: 'requested', reversal: decision.voidId } };
  }

  /**
   * Marks what cancel `op`'s void undid (`read`: its sale, or its authorization's capture) undone by the cancel:
   * its amount no longer counts as captured, so a refund of it is refused as `amount_exceeds_captured`. Idempotent
   * (the mark is set once); counted in `pb_captures_undone_total{by=void}` with an info line when it marks. Returns
   * the effect to record: what was voided; the hold when nothing captured stood; none when which one is not known.
   */
  private async markVoided(
    op: OperationRecord,
    gateway: string,
    source: OutcomeSource,
    now: number,
    read: Exclude<CancelReading, { kind: 'released' }>,
  ): Promise<{ effect: CancelEffect; allMarked: boolean } | undefined> {
    const { ledger, logger } = this.deps;
    if (read.kind === 'ambiguous') {
      logger.warn('cancel voided a capture, but its authorization has several captures standing: none is marked undone; check which one the PSP voided', {
        operation_id: op.id,
        gateway,
        source,
        authorization_id: read.authorizationId ?? null,
        capture_ids: read.ids.join(','),
      });
      return undefined;
    }
    if (read.kind === 'none') return { effect: { released: 'hold' }, allMarked: true };
    let allMarked = true;
    for (const id of read.ids) {
      const marked = await ledger.markUndoneByVoid(id, op.id, now);
      if (marked.result === 'not_captured') allMarked = false;
      if (marked.result !== 'marked') continue;
      capturesUndone().inc({ gateway, command: read.kind, by: 'void' });
      logger.info('capture voided by a cancel: marked undone, no longer counted as captured; refunds of it are refused', {
        operation_id: id,
        command: read.kind,
        undone_by: op.id,
        authorization_id: read.authorizationId,
        gateway,
        source,
      });
    }
    return { effect: { voided: read.ids[0], command: read.kind }, allMarked };
  }

  /**
   * The PSP confirmed another amount or currency than asked: a warning and `pb_psp_discrepancies_total`.
   * `cancelEffect`: what this outcome's cancel did (a release of what partial captures left asked that remainder).
   */
  private noteDiscrepancy(op: OperationRecord, outcome: GatewayOutcome, source: OutcomeSource, cancelEffect?: CancelEffect): void {
    // A balance inquiry's confirmed amount is the card's balance, never a discrepancy.
    if (confirmsBalance(op.command)) return;
    // Compared with what the gateway was asked for (a converted payment's converted amount, a cancel's remainder).
    const asked = askedMoney(cancelEffect ? { ...op, cancelEffect } : op);
    const discrepancy = pspDiscrepancy({ amount: asked.amount, currency: asked.currency }, outcome);
    if (!discrepancy) return;
    const field = discrepancy === 'currency_mismatch' ? 'currency' : 'amount';
    // Under the PSP that confirmed it (where the operation was routed), not the gateway the command named.
    const gateway = gatewayOf(op);
    pspDiscrepancies().inc({ gateway, field });
    this.deps.logger.warn('PSP confirmed another amount or currency than the command asked; the event reports the PSP figure and flags it', {
      operation_id: op.id,
      command: op.command,
      gateway,
      source,
      discrepancy,
      requested_amount: op.payment.amount,
      requested_currency: op.payment.currency,
      // What the comparison was made with: the gateway's request (a converted amount where one was).
      asked_amount: asked.amount,
      asked_currency: asked.currency,
      confirmed_amount: outcome.amount,
      confirmed_currency: outcome.currency,
      status: outcome.status,
    });
  }

  /** The PSP stored another card than the command described: a warning and `pb_stored_card_discrepancies_total`. */
  private noteStoredCard(after: OperationRecord, source: OutcomeSource): void {
    if (!after.storedCard) return;
    const mismatched = storedCardMismatches(after.payment.method_details?.card, after.storedCard);
    if (mismatched.length === 0) return;
    const gateway = gatewayOf(after);
    for (const field of mismatched) storedCardDiscrepancies().inc({ gateway, field });
    // Last four digits and expiry only (never a card number): what both sides said, for the operator to compare.
    const sent = after.payment.method_details?.card;
    this.deps.logger.warn('PSP confirmed another stored card than the command described; the event reports the PSP figures and flags it', {
      operation_id: after.id,
      command: after.command,
      gateway,
      source,
      mismatched_fields: mismatched,
      requested_last_four_digits: sent?.last_four_digits,
      requested_expiration_month: sent?.expiration_month,
      requested_expiration_year: sent?.expiration_year,
      confirmed_last_four_digits: after.storedCard.lastFour,
      confirmed_expiration_month: after.storedCard.expiryMonth,
      confirmed_expiration_year: after.storedCard.expiryYear,
    });
  }

  /**
   * Counts (and, when no table knows its code, logs) a decline about to be recorded; not for an operation
   * already terminal (a repeated webhook, a racing worker), whose move will not apply.
   */
  private decline(op: OperationRecord, decline: Decline): Decline {
    if (!isTerminal(op.state)) noteDecline(op, decline, this.deps.config, this.deps.logger);
    return decline;
  }

  /**
   * Moves the operation to its outcome and records the outcome's event in one round trip: the
   * event is built from the record the move will leave, and the script records it only if the move applied
   * to exactly `op`. Otherwise (someone moved the operation meanwhile) the event of whatever state it is in
   * now is built from the record read back. Either way the settling mark covers a crash in between.
   */
  private async decide(
    op: OperationRecord,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    reference: PspReference | null,
    onMoved?: (after: OperationRecord) => void,
  ): Promise<OperationRecord> {
    const seen: { refundsUndecidedBy?: string } = {};
    const result = await this.move(op, to, interaction, fields, reference, seen, onMoved);
    // A capture an undecided refund reading counted in flight, now FAILED for good (the mark read with the move, whether
    // this call or an earlier one made it): its payment is read again, after the event, once (refunded-beyond-alarm.ts).
    // Nothing read for any other move.
    if (seen.refundsUndecidedBy !== undefined && op.command === 'capture' && result.state === 'FAILED' && result.heldForPspRetry === undefined) {
      // An alarm, never the outcome's undoing: the move and its event stand; a failed read is said, not retried into
      // the outcome job (nothing was kept: the outcome heard again reads again).
      await rereadAfterCaptureFailed(result, seen.refundsUndecidedBy, this.deps).catch((err: unknown) =>
        this.deps.logger.error(
          'reading the payment again after a capture failed, once an undecided refund reading counted it, failed; check its refunds against what stands captured',
          {
            operation_id: result.id,
            command: result.command,
            gateway: gatewayOf(result),
            undecided_adjustment_id: seen.refundsUndecidedBy,
            error: err instanceof Error ? err.message : String(err),
          },
        ),
      );
    }
    return result;
  }

  /** `decide`'s move; `seen` takes the undecided refund mark the transition read. */
  private async move(
    op: OperationRecord,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    reference: PspReference | null,
    seen: { refundsUndecidedBy?: string },
    onMoved?: (after: OperationRecord) => void,
  ): Promise<OperationRecord> {
    const { ledger, events, config } = this.deps;
    const now = Date.now();
    const after = afterTransition(op, to, fields, now);
    const built = outcomeEvent(after, config);
    const event = built && inBusUnits(built, config.serviceBus.amountUnits);
    // `onMoved` only when this call applied the move: two recorders applying one outcome note it once.
    const moved = (applied: boolean, result: OperationRecord): OperationRecord => {
      if (applied) onMoved?.(result);
      return result;
    };
    if (!event) {
      const { record, applied, from, waiters, refundsUndecidedBy } = await ledger.transitionAndGet(op.id, to, interaction, fields, {
        reference,
        markSettling: true,
        payment: op.payment,
        now,
        deferWake: true,
      });
      seen.refundsUndecidedBy = refundsUndecidedBy;
      if (applied) await confirmReplicated(ledger, config.redis, op.id, op.payment, 'outcome');
      if (applied) this.noteMove(op, from, to, interaction, record, now);
      if (waiters) await this.wakeWaiters(op, to, interaction);
      return moved(applied, await this.settleRecord(op.id, record));
    }
    const step = events.recordStep(event, now, this.leaseMs(), this.settles(op.id));
    const { record, recorded, applied, from, waiters, refundsUndecidedBy } = await ledger.transitionAndRecord(op, to, interaction, fields, step, {
      reference,
      now,
      after,
      deferWake: true,
    });
    seen.refundsUndecidedBy = refundsUndecidedBy;
    // The outcome and its event on the replicas before the OMS hears of it: one a demoted primary drops would be
    // told and then gone, and later commands judged against it (see confirmReplicated). The settling mark covers
    // an event recorded and not dispatched when this throws; the send lease taken with it is given back, so the
    // retry's send need not wait for it to expire.
    if (applied) await confirmReplicated(ledger, config.redis, op.id, op.payment, 'outcome').catch((err: unknown) => this.giveBack(event, recorded, err));
    markOperation(op.id, 'recorded');
    if (applied) this.noteMove(op, from, to, interaction, record, now);
    // Before the event goes out: the dependents run on other workers meanwhile (their events follow this one's in sequence).
    if (waiters) await this.wakeWaiters(op, to, interaction);
    if (!recorded) return moved(applied, await this.settleRecord(op.id, record));
    markOperation(op.id, 'notify_start');
    await this.dispatch(event, recorded);
    markOperation(op.id, 'notify_end');
    return moved(applied, record ?? after);
  }

  /**
   * The move of `op` to `to` that this call applied found dependents waiting for it (the transition reported the
   * record's flag): woken through the ledger's waker (`Ledger.wakeDependentsWith`), as every move is, only later
   * than the ledger would: once the outcome is on the replicas (`confirmReplicated`), so no dependent is judged
   * against an outcome a demoted primary could drop.
   */
  private async wakeWaiters(op: OperationRecord, to: OperationState, interaction: Omit<Interaction, 'at'>): Promise<void> {
    await this.deps.ledger.wakeWaiters({ id: op.id, payment: op.payment, to, source: String(interaction.source ?? '') });
  }

  /** A move this call applied: an outcome (not a reschedule) is counted and gets its info line. */
  private noteMove(
    op: OperationRecord,
    from: OperationState | null,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    record: OperationRecord | null,
    now: number,
  ): void {
    if (from === to) return;
    const outcome = commandOutcome(to, interaction);
    if (outcome) noteOutcome(this.deps.logger, op, record, outcome, now, dropsMethodData(to, op.payment));
  }

  /** Reloads the operation and makes sure the event of its current state is recorded and queued. */
  async settle(id: string): Promise<OperationRecord> {
    return this.settleRecord(id, await this.deps.ledger.get(id));
  }

  private async settleRecord(id: string, current: OperationRecord | null): Promise<OperationRecord> {
    if (!current) throw new Error(`operation ${id} vanished from the ledger`);
    const event = outcomeEvent(current, this.deps.config);
    // Recording the event clears the settling mark in the same step; with no event, clear it here.
    if (event) await this.emit(event, id);
    else await this.deps.ledger.markSettled(id);
    // A reading of a cancel's success whose move did not apply (another recorder's applied first) may have claimed
    // figures no event says (a refund fact landed between the two readings), and a fact finding that claim said nothing:
    // this call's own (`apply`, its move not applied, settles the record it found), or one killed between its claim and
    // its move, found by its outcome heard again or its delivery job retried. Said here, once each; only for a cancel a
    // reading marked before claiming (`voidReadingClaims`), so no other cancel's repeat reads anything more.
    if (
      current.command === 'cancel' &&
      current.state === 'SUCCEEDED' &&
      current.refundsRereadAfterVoid !== undefined &&
      current.voidReadingClaims !== undefined
    ) {
      await this.sayClaimsOffEvent(current, current.cancelEffect);
    }
    return current;
  }

  /**
   * Hands the OMS the token `op` (SUCCEEDED, holding `storedToken`) got after its SUCCESS event was recorded: sends
   * `storedTokenEvent` unless that SUCCESS event carries the token already (the token was on the record when it was
   * built). Idempotent by the event's id. Whether the OMS gets the token from that event (`sent`) or from the SUCCESS
   * event (`with_success`).
   */
  async reportStoredToken(op: OperationRecord): Promise<'sent' | 'with_success'> {
    const success = await this.deps.events.load(`${op.id}.SUCCEEDED`);
    const payment = success?.params.payment;
    const carried = payment !== null && typeof payment === 'object' && (payment as Record<string, unknown>).token === op.storedToken;
    if (carried) return 'with_success';
    const event = storedTokenEvent(op, this.deps.config);
    if (!event) return 'with_success';
    await this.emit(event);
    return 'sent';
  }

  /**
   * Records an event in the outbox, then sends it inline if it may go now (a notifier is set and every
   * earlier event of its payment is delivered), else queues it (idempotent by event id). An event already
   * delivered is left alone.
   * @param settledOperation the operation whose settling mark (see `Ledger.settlingBefore`) the recorded
   *   event clears, in the same step as the recording.
   */
  async emit(built: PaymentEvent, settledOperation?: string): Promise<void> {
    const settles = settledOperation === undefined ? undefined : this.settles(settledOperation);
    // Every event is recorded through here or `decide`: both put its money in the bus's units.
    const event = inBusUnits(built, this.deps.config.serviceBus.amountUnits);
    const recorded = await this.deps.events.recordAndCheck(event, Date.now(), this.leaseMs(), settles);
    await this.confirmEvent(event, recorded, settles);
    await this.dispatch(event, recorded);
  }

  /**
   * The deadline the event `eventId` on record (a review notice, `riskReviewEvent`) told the OMS, if it is on record:
   * one recorded by an earlier pass stands (events are idempotent by id), whatever a later pass built.
   */
  async toldReviewDeadline(eventId: string): Promise<number | undefined> {
    const told = await this.deps.events.load(eventId);
    return told ? toldReviewDeadline(told) : undefined;
  }

  /**
   * `emit`, only while operation `read` stands as the caller read it (its state and attempt count, checked in the script
   * that records the event: `Ledger.runAsRead`): for a notice decided on that read without moving the operation (a risk
   * hold's PENDING), which an operation another worker sent meanwhile must never get.
   * @returns whether the event is on record now (recorded by this call or before it); false: the operation moved, nothing
   *   was recorded or sent.
   */
  async emitAsRead(built: PaymentEvent, read: OperationRecord): Promise<boolean> {
    const event = inBusUnits(built, this.deps.config.serviceBus.amountUnits);
    const recorded = await this.deps.ledger.runAsRead(read, this.deps.events.recordStep(event, Date.now(), this.leaseMs()));
    if (recorded === null) return false;
    await this.confirmEvent(event, recorded);
    await this.dispatch(event, recorded);
    return true;
  }

  /**
   * With `redis.replica_acks`: the recorded event (and, with `settles`, the operation whose state it reports) on
   * its primary and acknowledged by that many replicas before it is sent or queued, as `decide` does for an
   * outcome's move: a primary demoted after a failover drops what it took meanwhile, and the OMS must not hear of
   * an outcome the ledger then loses. Here the move may have been made by another worker (or a `decide` whose own
   * wait fell short: its job's retry comes here), so the wait goes through a probe write of this connection's own
   * (`EventStore.replicaAcknowledged`). Without the setting, nothing (no round trip); nor for an event already
   * delivered. Falling short gives back the send lease the recording took and throws a Redis outage, counted in
   * `pb_ledger_writes_unreplicated_total{write="event"}`: the caller's job retries, its message is held.
   */
  private async confirmEvent(event: PaymentEvent, recorded: RecordResult, settles?: { operationId: string }): Promise<void> {
    if (recorded.sent >= recorded.sequence) return;
    const { events, config } = this.deps;
    const short = await eventReplicaShortfall(events, config.redis, event, 'event', settles);
    if (short) await this.giveBack(event, recorded, unreplicatedError('event', event.eventId, short));
  }

  /** Rethrows `err` once the send lease `recorded` took for `event`, if any, is given back (best effort: Redis may be away). */
  private async giveBack(event: PaymentEvent, recorded: RecordResult | null | undefined, err: unknown): Promise<never> {
    if (recorded?.claimed) await this.deps.events.release(event.eventId).catch(() => undefined);
    throw err;
  }

  /** The send lease to take when recording: only with an inline notifier, which then sends the event itself. */
  private leaseMs(): number | undefined {
    return this.deps.notifier ? sendLeaseMs(this.deps.config) : undefined;
  }

  /** The settling mark of `operationId`, which recording its event clears. */
  private settles(operationId: string): { operationId: string } {
    return { operationId };
  }

  /** After recording: sends the event inline when it holds the lease, queues it otherwise, or leaves it if delivered. */
  private async dispatch(event: PaymentEvent, { sequence, sent, claimed, raised }: RecordResult): Promise<void> {
    const { events, notifier, logger } = this.deps;
    if (raised)
      logger.warn("event sequence raised past its payment's sent watermark: a Redis failover lost the counter's last increments", {
        event_id: event.eventId,
        sequence,
        sent,
      });
    if (sent >= sequence) return;
    if (claimed && notifier) {
      try {
        await sendLeasedEvent(events, notifier, event, sequence);
      } catch {
        // The bus is not taking it now: the queue retries with backoff (and keeps the order).
        await this.queue(event.eventId);
      }
      return;
    }
    await this.queue(event.eventId);
  }

  /**
   * Queues the event's send. With `redis.replica_acks` every event the recorder queues was confirmed on the
   * replicas first (`decide`, `confirmEvent`): the job says so, and the sender does not wait for them again.
   */
  private async queue(eventId: string): Promise<void> {
    const data: OmsEventJobData = this.deps.config.redis.replicaAcks ? { eventId, replicated: true } : { eventId };
    await this.deps.eventsQueue.add('notify', data, { jobId: bullJobId(eventId) });
  }
}

/**
 * Sources whose history entry's `elapsed_ms` is the round trip of a call of ours the PSP answered: the request's
 * answer, delivery's status inquiry, and the poller's (PENDING/UNKNOWN/UNRESOLVED checks, action expiry), which asks
 * as delivery's does. A webhook's, a report's or the bridge's own outcome times no call.
 */
const TIMED_SOURCES: ReadonlySet<OutcomeSource> = new Set<OutcomeSource>(['response', 'inquiry', 'poller']);

/** The PSP's response time an outcome from `source` carries (whole ms), for the record's `pspResponseMs`; undefined when it times no call. */
function pspResponseMsOf(source: OutcomeSource, details: Record<string, unknown>): number | undefined {
  return TIMED_SOURCES.has(source) ? wholeMs(details.elapsed_ms) : undefined;
}

/** A measured duration (fractional ms, as the HTTP client times a call) as whole ms; undefined when it is none. */
function wholeMs(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

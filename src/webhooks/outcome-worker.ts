import { JOB_LOCK } from '../queueing/job-lock';
import { counter } from '../metrics/metrics-registry';
import { isTerminal } from '../ledger/operation-state';
import { routedPayment } from '../ledger/routing-record';
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import { OperationNotFoundError } from '../errors/operation-not-found-error';
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { bullPrefix } from '../queueing/bull-prefix';
import { countJobFault } from '../queueing/job-faults';
import { pbBackoffStrategy } from '../queueing/backoff-strategy';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { applyLateFact } from './late-fact';
import { holdEarlyRecapture } from './early-recapture';
import { isSuccessAfterFailure, reportContradiction } from './contradiction';
import { handleSuccessAfterFailure } from './success-after-failure';
import { ContradictionVerdict } from './psp-current-state';
import { OrphanReversal } from '../poller/orphan-reversal';
import { GATEWAY_OUTCOMES_QUEUE, GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { reportScopeMismatch, scopeMismatch } from './outcome-scope';
import { recordOutcomeNotForCommand, settlesCommand } from './outcome-for-command';
import { noteMatchedByReference, operationOfModification, operationOfOutcome } from './outcome-by-reference';
import { noteOpenModification, openModificationOf } from './open-modification';
import { ParkedOutcomes } from './parked-outcomes';
import { applyEarlierAttemptOutcome, earlierSameAccountAttempt, isEarlierAttemptGateway } from './earlier-attempt';
import { handleFailureAfterSuccess } from './failure-after-success';
import { withRevalidateKey } from './revalidate-key';
import { isStaleActionNotice, recordStaleAction } from './stale-action';
import { holdFailOfHeldDecline } from './held-decline-fail';
import { FailureNotConfirmedError } from '../errors/failure-not-confirmed-error';
import { SuccessNotConfirmedError } from '../errors/success-not-confirmed-error';
import { GatewayRouter } from '../routing/gateway-router';
import { recordReviewDecision } from './review-decision';
import { applyLateToken } from './late-token';
import { reversalAsFailure } from './psp-reversal';
import { isRefundOfAnotherPayment, outsideRefundFailure, refundedPaymentOf, withOutsideRefund } from './outside-refund';

const partialApprovals = counter(
  'pb_webhook_partial_approvals_total',
  'Webhook partial approvals applied to an open operation (settled with the lower amount the PSP approved, reported with the discrepancy), by gateway',
  ['gateway'],
);

/**
 * How many times one outcome job runs a webhook outcome whose handling throws a fault of the bridge (a
 * TypeError, a record that does not decode, a Redis error reply) before the job ends: the same fact meets
 * the same fault, and the queue's 20 attempts are there for an operation not matched yet, not for this.
 */
export const OUTCOME_FAULT_TRIES = 3;

const outcomeFaults = counter(
  'pb_webhook_outcome_faults_total',
  'Webhook outcomes whose handling threw a fault of the bridge (neither an operation not matched yet nor a dependency outage), by gateway and what was done: retried, or set_aside (the job ended, kept in the failed set)',
  ['gateway', 'outcome'],
);

/** What the outcome worker works with. */
export interface OutcomeWorkerDeps {
  ledger: Ledger;
  recorder: OutcomeRecorder;
  adjustments: AdjustmentRecorder;
  logger: Logger;
  orphans?: OrphanReversal;
  /**
   * Asks the PSP to confirm a failure reported for an operation that succeeded, or a success reported for one
   * that failed (its status inquiry).
   */
  router?: GatewayRouter;
  /**
   * Where a modification's outcome that came before any operation held its PSP reference is parked, for the
   * answer that indexes the reference later (`webhooks/parked-outcomes.ts`). Without it such an outcome is history
   * of the operation it named only.
   */
  parked?: ParkedOutcomes;
}

/**
 * Applies webhook outcomes to the ledger through the OutcomeRecorder: forward only, so a late, repeated
 * or out-of-order webhook never turns a terminal state back. Finds the operation by our echoed id or by
 * the PSP's reference; a modification's outcome naming its payment, by its modification's PSP reference
 * (see `operationOfModification`); a fact about the payment's own PSP object showing its capture or cancel done, by
 * the one open operation of that modification, or the one recorded FAILED, whose success then goes the
 * success-after-failure way below (see `openModificationOf`). An outcome from a gateway the operation failed over from is that earlier attempt's
 * (recorded, a success voided and reported: see `applyEarlierAttemptOutcome`). Late facts about money (chargebacks, captures or refunds failing after success)
 * become adjustments of the operation with their own OMS event (see `applyLateFact`), and so does a
 * success the PSP reports for an operation the OMS was told FAILED, once the PSP confirms it (see
 * `handleSuccessAfterFailure`: without `router`, on the webhook's word), and a failure of an operation the OMS
 * was told SUCCEEDED, once the PSP confirms it (see `handleFailureAfterSuccess`: without `router`, such a
 * failure is only logged). A customer action reported
 * for an operation the PSP already processes (PENDING) is an older event: recorded only (see `isStaleActionNotice`).
 */
export function startOutcomeWorker(config: Config, connection: RedisClient, deps: OutcomeWorkerDeps): Worker<GatewayOutcomeJobData> {
  const worker = new Worker<GatewayOutcomeJobData>(
    GATEWAY_OUTCOMES_QUEUE,
    async (job: Job<GatewayOutcomeJobData>, token?: string) => {
      try {
        return await applyOutcome(config, deps, job, token);
      } catch (err) {
        throw await afterFault(job, err, deps.logger);
      }
    },
    {
      connection,
      prefix: bullPrefix(config.redis.keyPrefix, GATEWAY_OUTCOMES_QUEUE),
      concurrency: 20,
      settings: { backoffStrategy: pbBackoffStrategy({ baseMs: config.delivery.backoffBaseMs, maxMs: config.delivery.backoffMaxMs }) },
      ...JOB_LOCK,
    },
  );
  worker.on('error', (err) => deps.logger.warn('outcome worker error', { error: err.message }));
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      const fields = { event_id: job.data.eventId, gateway: job.data.gateway, error_class: errorClassOf(err), error: err.message };
      if (err instanceof OperationNotFoundError) deps.logger.error('webhook outcome could not be matched to an operation; kept in the failed set', fields);
      else deps.logger.error('webhook outcome failed at its last attempt; kept in the failed set', fields);
    }
  });
  return worker;
}

/**
 * What a throw of the outcome job becomes. An operation not matched yet, a refusal, or a dependency outage:
 * as thrown (retried with backoff up to the queue's attempts, or failed at once). Any other error is a fault
 * of the bridge: counted on the job and retried until it has happened {@link OUTCOME_FAULT_TRIES} times,
 * then the job ends (an `UnrecoverableError`, the job kept in the failed set) with an error line.
 */
async function afterFault(job: Job<GatewayOutcomeJobData>, err: unknown, logger: Logger): Promise<Error> {
  if (
    err instanceof OperationNotFoundError ||
    err instanceof FailureNotConfirmedError ||
    err instanceof SuccessNotConfirmedError ||
    err instanceof DelayedError ||
    err instanceof UnrecoverableError ||
    (err instanceof Error && isDependencyOutage(err))
  ) {
    return err;
  }
  const errorClass = errorClassOf(err);
  const { faults, last } = await countJobFault(job, OUTCOME_FAULT_TRIES);
  const fields = {
    event_id: job.data.eventId,
    gateway: job.data.gateway,
    operation_id: job.data.operationId,
    error_class: errorClass,
    error: err instanceof Error ? err.message : String(err),
    faults,
    tries: OUTCOME_FAULT_TRIES,
  };
  // What BullMQ keeps of the failure in Redis is the error's class, never its message (it may quote the webhook).
  const kept = `outcome_fault: ${errorClass}`;
  if (last) {
    outcomeFaults.inc({ gateway: job.data.gateway, outcome: 'set_aside' });
    logger.error(
      'webhook outcome kept throwing a fault of the bridge (not an unmatched operation, not an outage); its job ends, kept in the failed set',
      fields,
    );
    return new UnrecoverableError(kept);
  }
  outcomeFaults.inc({ gateway: job.data.gateway, outcome: 'retried' });
  logger.warn('webhook outcome threw a fault of the bridge (not an unmatched operation, not an outage); retrying', fields);
  return new Error(kept);
}

/** Applies one webhook outcome job to its operation; the operation's state after it. */
async function applyOutcome(config: Config, deps: OutcomeWorkerDeps, job: Job<GatewayOutcomeJobData>, token: string | undefined): Promise<string> {
  const { gateway } = job.data;
  // Whose statuses bound the counters' `gateway_status` (the scope check refuses a gateway no longer configured).
  const gatewayType = config.gateways[gateway]?.type;
  let op = await operationOfOutcome(job.data, deps);
  if (!op && isRefundOfAnotherPayment(job.data, deps.logger)) return 'not_ours';
  if (!op) throw new OperationNotFoundError(`no operation for webhook ${job.data.eventId} yet`);
  const named = op;
  // A notice about the payment named (its manual review decided, the token it stored): never an outcome, never
  // another operation's; only of this gateway and account.
  if (job.data.reviewDecision !== undefined || job.data.storedToken !== undefined) {
    const check = scopeMismatch(op, job.data, config.gateways[gateway], false);
    if (check) {
      reportScopeMismatch(deps.logger, { gateway, check, op, eventId: job.data.eventId, arrived: job.data });
      throw new UnrecoverableError(`webhook_scope_mismatch: ${check}`);
    }
    return job.data.storedToken !== undefined ? applyLateToken(op, job.data, deps) : recordReviewDecision(op, job.data, deps);
  }
  // A late fact about the payment named that also ends one of its open modifications (Stripe: the authorization lapsed
  // while a cancel of it is open): that modification is settled first, then the fact goes on as an adjustment alone.
  if (job.data.adjustment !== undefined && job.data.modification !== undefined) await settleModificationOfLateFact(config, deps, named, job.data);
  // A fact about the payment's own PSP object that shows one of its modifications done (Stripe: the PaymentIntent
  // captured by our capture, or cancelled) settles that open capture or cancel, with what the PSP confirmed for it;
  // the authorization named is left as it is (it was not authorized again).
  // One the bridge recorded FAILED is a success after failure (below): reported, never applied; its report closes the
  // authorization named (the PSP no longer holds it: see AdjustmentRecorder).
  const modification = await openModificationOf(op, job.data, deps);
  const data = modification?.data ?? job.data;
  if (modification) op = modification.op;
  // Named by its payment's reference, a fact may be another command's outcome: that of the modification holding
  // its PSP reference (a capture the bridge sent, named by its authorization), else history only, never a move.
  let settles = settlesCommand(data.outcome, op.command);
  // No operation holds the modification's reference yet (its answer is not recorded): parked for the one that will.
  // A failure no operation holds yet is retried rather than parked until the queue's last attempt (see there).
  const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  // The failure or reversal of a refund the PSP made outside the bridge, reported as the payment's: no operation will
  // ever hold its reference, so it is not waited for as a modification's outcome.
  const outsideFailure = settles ? null : await outsideRefundFailure(op, data, deps, finalAttempt);
  // Nobody taking it, the PSP's own cancel of the payment is handled below as its reversal (never parked for nobody).
  const pspReversal = !settles && deps.router !== undefined && !data.adjustment && reversalAsFailure(op, data) !== null;
  const holder = settles || outsideFailure !== null ? null : await operationOfModification(op, data, deps, finalAttempt, pspReversal);
  if (holder) {
    op = holder;
    settles = true;
  }
  // Only an outcome of this gateway and account, for this amount, may touch the operation. Refused:
  // not applied, not retried; the job stays in the failed set for an operator to look at.
  const check = scopeMismatch(op, data, config.gateways[gateway], settles);
  if (check) {
    reportScopeMismatch(deps.logger, { gateway, check, op, eventId: data.eventId, arrived: data });
    throw new UnrecoverableError(`webhook_scope_mismatch: ${check}`);
  }
  if (outsideFailure === 'left') {
    await recordOutcomeNotForCommand(op, data, deps, gatewayType);
    return op.state;
  }
  if (holder) noteMatchedByReference(deps.logger, named, holder, data);
  if (modification) noteOpenModification(deps.logger, named, modification);
  let arrived = data;
  if (!settles) {
    // A cancel or refund the PSP made itself of a payment the OMS was told SUCCEEDED: that payment's failure after
    // success (reported once, never for a cancel of ours), then history as any outcome of another command.
    const reversal = deps.router && !data.adjustment ? reversalAsFailure(op, data) : null;
    if (reversal && deps.router) {
      const confirmAfterMs = config.delivery.lateFailureConfirmMs;
      await handled(await handleFailureAfterSuccess(op, reversal, job.timestamp, { ...deps, router: deps.router, confirmAfterMs, finalAttempt }), job, token);
    }
    // A refund of the payment that no refund of ours holds (the PSP's back office, the PSP itself): an adjustment of
    // the payment, once, never while a refund of ours that may be it is open.
    // Named by a capture of ours (a Cybersource credit of it), the refund gives money back from its authorization.
    const paid = reversal ? null : await refundedPaymentOf(op, data, deps);
    const outside = paid ? await withOutsideRefund(paid, data, deps, finalAttempt) : null;
    await recordOutcomeNotForCommand(op, data, deps, gatewayType);
    const fact = outside?.adjustment ?? data.adjustment;
    if (!fact) return op.state;
    if (outside && paid) op = paid;
    // A late fact about another command's operation (a capture failing, named by its authorization) is
    // an adjustment of the operation named, never its failure.
    arrived = { ...data, adjustment: { ...fact, failsOpenOperation: false } };
  }
  // From a gateway it failed over from: that attempt's fact, recorded and reported, never its outcome.
  if (isEarlierAttemptGateway(op, gateway)) return applyEarlierAttemptOutcome(op, arrived, deps);
  // Heard at the entry the operation ended at, a success of the attempt at an entry of the same PSP account it failed
  // over from (another PSP object than the attempt here holds): that attempt's, read as that entry's endpoint reads it,
  // the same adjustment (same entry and PSP event) whichever endpoint hears it first, never a success after failure.
  const attemptAt = arrived.adjustment ? null : earlierSameAccountAttempt(op, gateway, arrived.outcome, config.gateways);
  if (attemptAt !== null) {
    deps.logger.info('webhook success of the attempt at another entry of the same PSP account: read as that entry reads it', {
      operation_id: op.id,
      gateway,
      attempt_gateway: attemptAt,
      event_id: arrived.eventId,
    });
    return applyEarlierAttemptOutcome(op, { ...arrived, gateway: attemptAt }, deps);
  }
  // A capture's or refund's failure while it is open is its FAIL (below, `applyLateFact`): held as any other would be.
  if (arrived.adjustment?.failsOpenOperation === true && (await holdFailOfHeldDecline(op, arrived, { ...deps, config }))) return op.state;
  // A late fact (chargeback, a capture or refund failing after it was accepted…) is an adjustment.
  const late = await applyLateFact(op, arrived, deps);
  if (late !== null) return late;
  // A re-capture that arrived before the capture failure it follows: held until that failure comes. One recorded
  // already (by reconciliation, from the PSP's line) was recorded as that one.
  const early = await holdEarlyRecapture(op, arrived, deps);
  if (early === 'held' || early === 'later_held' || early === 'not_succeeded' || early === 'recorded') return op.state;
  // The failure was recorded meanwhile: the re-capture redoes it, as in order.
  if (early === 'undone') op = (await deps.ledger.get(op.id)) ?? op;
  if (deps.router) {
    const router = deps.router;
    // Success for what the OMS was told FAILED: reported as an adjustment (and an orphan to void) once the PSP
    // confirms it, never applied; a success the PSP no longer holds is an older event, recorded only.
    if (await handled(await handleSuccessAfterFailure(op, arrived, job.timestamp, { ...deps, router }), job, token)) return op.state;
    // Failure for what the OMS was told SUCCEEDED: reported once the PSP confirms it, never applied.
    const verdict = await handleFailureAfterSuccess(op, arrived, job.timestamp, {
      ...deps,
      router,
      confirmAfterMs: config.delivery.lateFailureConfirmMs,
      finalAttempt,
    });
    if (await handled(verdict, job, token)) return op.state;
  } else if (isSuccessAfterFailure(op, arrived)) {
    await reportContradiction(op, arrived, 'signed_webhook', deps);
    return op.state;
  }
  // The customer's action reported after the PSP began processing: an older fact, never a step back.
  if (isStaleActionNotice(op, arrived)) return recordStaleAction(op, arrived, deps, gatewayType);
  // A failure of an operation whose decline of a resend was held speaks for one of its transactions only: not applied.
  if (await holdFailOfHeldDecline(op, arrived, { ...deps, config })) return op.state;
  const before = op.state;
  if (arrived.outcome.partialApproval && !isTerminal(op.state)) {
    partialApprovals.inc({ gateway });
    deps.logger.info('webhook partial approval: the operation settles with the amount the PSP approved', {
      operation_id: op.id,
      gateway,
      approved_amount: arrived.outcome.amount,
      requested_amount: routedPayment(op).amount,
      event_id: job.data.eventId,
    });
  }
  // A revalidate's new key: the webhook does not say its PaymentIntent (authorization) was a revalidate's.
  const after = await deps.recorder.apply(op, withRevalidateKey(op.command, arrived.outcome), 'webhook', { provider_event_id: job.data.eventId });
  if (before === after.state && before !== 'PENDING') {
    deps.logger.info('webhook changed nothing (late or repeated)', { operation_id: op.id, state: before, webhook_status: arrived.outcome.status });
  }
  return after.state;
}

/**
 * Settles the one open modification of `named` that each of a late fact's modification readings is about (the reading
 * and its `others`, each through `openModificationOf` as if the fact were not there: Stripe's lapse of an authorization
 * is its `authorization_expired` adjustment and the FAIL of a cancel of it still open, which would otherwise be asked
 * about and sent again to a PaymentIntent Stripe cancelled, and of a capture of it still open, `authorization_expired`
 * as its status inquiry would read it). Only an open one, in the webhook's scope (a mismatch refuses the job, as the
 * rest would); a success after failure is no late fact's to report. Forward only: a repeat finds it settled and does
 * nothing.
 */
async function settleModificationOfLateFact(config: Config, deps: OutcomeWorkerDeps, named: OperationRecord, data: GatewayOutcomeJobData): Promise<void> {
  const { adjustment: _fact, modification, ...alone } = data;
  if (modification === undefined) return;
  const { others, ...first } = modification;
  for (const reading of [first, ...(others ?? [])]) {
    const found = await openModificationOf(named, { ...alone, modification: reading }, deps);
    if (found === null || found.kind !== 'open') continue;
    const check = scopeMismatch(found.op, found.data, config.gateways[data.gateway]);
    if (check) {
      reportScopeMismatch(deps.logger, { gateway: data.gateway, check, op: found.op, eventId: data.eventId, arrived: found.data });
      throw new UnrecoverableError(`webhook_scope_mismatch: ${check}`);
    }
    noteOpenModification(deps.logger, named, found);
    await deps.recorder.apply(found.op, found.data.outcome, 'webhook', { provider_event_id: data.eventId });
  }
}

/**
 * Whether a contradiction's verdict ends the job's work (`handled`); `wait` puts the job off until its time
 * (it throws the `DelayedError` BullMQ expects); `not_applicable` leaves the outcome to the rest.
 */
async function handled(verdict: ContradictionVerdict, job: Job<GatewayOutcomeJobData>, token: string | undefined): Promise<boolean> {
  if (verdict.kind === 'wait') {
    await job.moveToDelayed(verdict.at, token);
    throw new DelayedError();
  }
  return verdict.kind === 'handled';
}

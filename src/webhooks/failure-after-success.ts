import { failureAfterSuccess } from '../adjustments/adjustment';
import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { FailureNotConfirmedError } from '../errors/failure-not-confirmed-error';
import { GatewayOutcome } from '../gateways/gateway-adapter';
import { laterInPspTime, pspEpochMs } from '../gateways/psp-time';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { ledgerAmount, ledgerCurrency } from '../reconciliation/classifier';
import { GatewayRouter } from '../routing/gateway-router';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { ownClosing } from './own-closing';
import { ContradictionVerdict, believableAt, readPspState } from './psp-current-state';

const failuresAfterSuccess = counter(
  'pb_webhook_failures_after_success_total',
  "Webhooks reporting the failure of an operation the OMS was told succeeded, by gateway and what the bridge found: own_void (a void the bridge or the OMS asked for), stale (an out-of-order event: the PSP confirms success, or dates the failure before the success recorded), confirmed (the PSP confirms the failure: reported as an adjustment), webhook_only (no status inquiry for the command: reported on the signed webhook alone), waiting (asked again later), left (still not confirmed at the job's last attempt, a partial release say: not reported, an error line and a history entry, the job kept in the failed set)",
  ['gateway', 'outcome'],
);

/** What the caller does with a webhook's failure of a SUCCEEDED operation. */
export type FailureAfterSuccessVerdict = ContradictionVerdict;

export interface FailureAfterSuccessDeps {
  ledger: Ledger;
  router: GatewayRouter;
  adjustments: AdjustmentRecorder;
  logger: Logger;
  /** How long after the webhook arrived the PSP is asked, ms (`delivery.late_failure_confirm_ms`). */
  confirmAfterMs: number;
  now?: () => number;
  /** Whether this is the outcome job's last attempt: a failure still not confirmed is then left (`recordUnconfirmedFailure`). */
  finalAttempt?: boolean;
}

/**
 * A webhook says an operation the OMS was told SUCCEEDED failed (a `payment_intent.canceled`, an
 * authorisation refused after all). The state never moves back, and the webhook alone is not proof: PSPs
 * send events out of order (a stale `payment_failed` after `succeeded`), and a void the bridge or the OMS
 * asked for is the authorization's cancellation seen from the other side. So:
 * - a failure the PSP dates before the success recorded on the operation (its `pspSucceededAt`, see
 *   {@link olderThanRecordedSuccess}) is an older event delivered late: history only (`stale`), nothing asked;
 * - an authorization the bridge closed with a cancel or a revalidation (`closed_by`), that the bridge's own
 *   void targets, or that a succeeded cancel of its order names, is expected to read as cancelled: recorded
 *   in its history, nothing reported;
 * - while a cancel of it is still in flight (the OMS's, stuck UNKNOWN say), nothing is decided: the job is
 *   asked again ({@link FailureNotConfirmedError}) until that cancel settles, succeeded (expected) or failed;
 * - otherwise, once `confirmAfterMs` have passed since the webhook arrived (a void in flight has settled
 *   by then), the PSP is asked (status inquiry): it confirms the failure, which becomes an adjustment
 *   (`failed_after_success`, `capture_failed` or `refund_failed`, its own OMS event, idempotent by the PSP's
 *   event id), or confirms success (a stale event: history only); an inquiry that reads a search index may
 *   still show the success, so any answer but the failure is believed only once that lag has passed since the
 *   webhook arrived (`believableAt`: `wait` until then); an answer that decides nothing (pending, no trace, the
 *   PSP unreachable) throws {@link FailureNotConfirmedError}, asked again with backoff;
 * - a command the PSP cannot be asked about (webhook-only), or whose inquiry only replays the request (Adyen:
 *   it would answer what the request did, and could perform it again), is reported on the signed webhook alone.
 */
export async function handleFailureAfterSuccess(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  receivedAt: number,
  deps: FailureAfterSuccessDeps,
): Promise<FailureAfterSuccessVerdict> {
  try {
    return await decideFailureAfterSuccess(op, job, receivedAt, deps);
  } catch (err) {
    if (deps.finalAttempt === true && err instanceof FailureNotConfirmedError) await recordUnconfirmedFailure(op, job, err, deps);
    throw err;
  }
}

/**
 * A failure of SUCCEEDED `op` still not confirmed at the outcome job's last attempt (`why`: pending, a partial release
 * of a Cybersource authorization, no trace, unreachable, a cancel of it still open): a fact that contradicts the ledger,
 * never dropped silently. Not reported (the PSP never said what stands), but counted
 * (`pb_webhook_failures_after_success_total{outcome="left"}`), logged at error with the operation, and kept in its
 * history (`webhook_failure_unconfirmed`); the caller rethrows, so the job stays in the failed set for
 * `payment-bridge ops webhooks retry` (docs/RUNBOOK.md).
 */
async function recordUnconfirmedFailure(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  why: Error,
  deps: { ledger: Pick<Ledger, 'appendInteraction'>; logger: Logger },
): Promise<void> {
  failuresAfterSuccess.inc({ gateway: job.gateway, outcome: 'left' });
  await deps.ledger.appendInteraction(op.id, {
    event: 'webhook_failure_unconfirmed',
    psp_status: job.outcome.gatewayStatus,
    why: why.message,
    provider_event_id: job.eventId,
  });
  deps.logger.error(
    "webhook reports the failure of an operation the OMS was told succeeded, never confirmed by the PSP through the job's attempts: not reported; the job is kept in the failed set",
    {
      operation_id: op.id,
      gateway: job.gateway,
      command: op.command,
      webhook_status: job.outcome.gatewayStatus,
      why: why.message,
      event_id: job.eventId,
    },
  );
}

async function decideFailureAfterSuccess(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  receivedAt: number,
  deps: FailureAfterSuccessDeps,
): Promise<FailureAfterSuccessVerdict> {
  if (op.state !== 'SUCCEEDED' || job.outcome.status !== 'FAIL') return { kind: 'not_applicable' };
  // The PSP's own times say it: the failure happened before the success it reported later (a payment that failed,
  // then succeeded when the shopper tried again, its events delivered out of order). Nothing to ask, nothing to wait
  // for: no void of ours, which follows the success, can be that failure.
  if (olderThanRecordedSuccess(op, job.outcome.occurredAt)) {
    await recordOlderFailure(op, job, job.outcome.occurredAt, undefined, deps);
    return { kind: 'handled' };
  }
  const { ledger, logger } = deps;
  const gateway = job.gateway;
  const closing = await ownClosing(op, ledger);
  const expected = closing && !closing.inFlight ? closing.id : null;
  if (expected) {
    failuresAfterSuccess.inc({ gateway, outcome: 'own_void' });
    await ledger.appendInteraction(op.id, {
      event: 'webhook_failure_expected',
      closed_by: expected,
      psp_status: job.outcome.gatewayStatus,
      provider_event_id: job.eventId,
    });
    logger.info('webhook reports the cancellation of an authorization the bridge or the OMS voided: nothing to report', {
      operation_id: op.id,
      gateway,
      closed_by: expected,
      psp_status: job.outcome.gatewayStatus,
      event_id: job.eventId,
    });
    return { kind: 'handled' };
  }
  const now = deps.now ? deps.now() : Date.now();
  const due = receivedAt + deps.confirmAfterMs;
  if (now < due) return { kind: 'wait', at: due };
  if (closing?.inFlight) {
    // A cancel of it is still in flight (sent, unknown, pending): the PSP's cancellation is most likely that
    // cancel's effect, reported with the cancel's own outcome once it settles. Asked again until then.
    failuresAfterSuccess.inc({ gateway, outcome: 'waiting' });
    throw new FailureNotConfirmedError(`cancel ${closing.id} of operation ${op.id} has not settled (${closing.state})`);
  }

  const psp = await readPspState(op, deps);
  // Nothing to ask, or an inquiry that only replays the original answer (and could resend it): the PSP's
  // signed word is all there is.
  if (psp.kind === 'cannot_ask') {
    await report(op, job, job.outcome, 'webhook_only', deps);
    return { kind: 'handled' };
  }
  if (psp.kind === 'unanswered') {
    if (psp.unreachable) failuresAfterSuccess.inc({ gateway, outcome: 'waiting' });
    throw new FailureNotConfirmedError(psp.why, psp.unreachable ? { cause: psp.unreachable } : undefined);
  }
  const answer = psp.outcome;
  if (answer?.status === 'FAIL') {
    await report(op, job, answer, 'confirmed', deps);
    return { kind: 'handled' };
  }
  const believable = believableAt(psp, receivedAt, deps.now ? deps.now() : Date.now());
  if (believable !== null) {
    // A search index may still show the state before the failure (a cancelled authorization as requires_capture):
    // asked again once it has caught up, never called stale on a lagging read.
    failuresAfterSuccess.inc({ gateway, outcome: 'waiting' });
    return { kind: 'wait', at: believable };
  }
  if (answer?.status === 'SUCCESS') {
    failuresAfterSuccess.inc({ gateway, outcome: 'stale' });
    await ledger.appendInteraction(op.id, { event: 'webhook_failure_stale', psp_status: answer.gatewayStatus, provider_event_id: job.eventId });
    logger.info('webhook reports a failure the PSP does not confirm (an out-of-order event): the operation stands SUCCEEDED', {
      operation_id: op.id,
      gateway,
      webhook_status: job.outcome.gatewayStatus,
      psp_status: answer.gatewayStatus,
      event_id: job.eventId,
    });
    return { kind: 'handled' };
  }
  failuresAfterSuccess.inc({ gateway, outcome: 'waiting' });
  throw new FailureNotConfirmedError(`the PSP answers ${answer ? answer.status : 'that it has no trace of the operation'}`);
}

/**
 * Whether a failure the PSP dates `failedAt` (epoch ms) happened before the success recorded on SUCCEEDED `op`, by the
 * PSP's time of that success (`pspSucceededAt`): then it is an older event delivered late (PSPs do not deliver in
 * order), never an undo of the success. Strictly before (`laterInPspTime`: a failure in the success's second cannot be
 * told older). False when either time is missing (a success recorded from an answer, an inquiry, or before the time
 * was kept): the caller goes on as without it.
 */
export function olderThanRecordedSuccess(op: OperationRecord, failedAt: number | undefined): failedAt is number {
  const succeededAt = op.state === 'SUCCEEDED' ? op.pspSucceededAt : undefined;
  const at = pspEpochMs(failedAt);
  return laterInPspTime(succeededAt, at);
}

/**
 * A failure of SUCCEEDED `op` older than its recorded success (`olderThanRecordedSuccess`): history only (entry
 * `webhook_failure_stale`, `decided_by: psp_time`, with both times), `pb_webhook_failures_after_success_total{outcome=
 * "stale"}` and an info line; nothing is sent, nothing marked: the OMS was told the PSP's latest word. `kind`: the
 * adjustment the failure would have been (a capture's `capture_failed`), when it came as one.
 */
export async function recordOlderFailure(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  failedAt: number,
  kind: string | undefined,
  deps: { ledger: Pick<Ledger, 'appendInteraction'>; logger: Logger },
): Promise<void> {
  const succeededAt = op.pspSucceededAt === undefined ? null : new Date(op.pspSucceededAt).toISOString();
  await deps.ledger.appendInteraction(op.id, {
    event: 'webhook_failure_stale',
    decided_by: 'psp_time',
    psp_status: job.outcome.gatewayStatus,
    ...(kind !== undefined ? { kind } : {}),
    failed_at: new Date(failedAt).toISOString(),
    psp_succeeded_at: succeededAt,
    provider_event_id: job.eventId,
  });
  failuresAfterSuccess.inc({ gateway: job.gateway, outcome: 'stale' });
  deps.logger.info('webhook reports a failure the PSP dates before the success it reported (an out-of-order event): the operation stands SUCCEEDED', {
    operation_id: op.id,
    gateway: job.gateway,
    command: op.command,
    webhook_status: job.outcome.gatewayStatus,
    ...(kind !== undefined ? { kind } : {}),
    failed_at: new Date(failedAt).toISOString(),
    psp_succeeded_at: succeededAt,
    event_id: job.eventId,
  });
}

/**
 * Records the failure the PSP confirmed (or, webhook-only, signed) as an adjustment and its OMS event, dated
 * (`occurred_at`) by the PSP's time of it when the PSP says one.
 */
async function report(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  psp: GatewayOutcome,
  how: 'confirmed' | 'webhook_only',
  deps: FailureAfterSuccessDeps,
): Promise<void> {
  const { kind, direction } = failureAfterSuccess(op.command);
  // The amount the failure concerns: what the PSP names, else what the OMS was told succeeded.
  const amount = psp.amount ?? job.outcome.amount ?? ledgerAmount(op);
  const currency = psp.currency ?? job.outcome.currency ?? ledgerCurrency(op);
  const reference = job.outcome.gatewayReference ?? psp.gatewayReference;
  // When the PSP says it failed: the time of the transaction the PSP's answer found (a Cybersource void's
  // `submitTimeUtc`, a Stripe `canceled_at`), else the webhook's own date.
  const occurredAt = psp.occurredAt ?? job.outcome.occurredAt;
  const { created } = await deps.adjustments.recordAdjustment(op, {
    kind,
    direction,
    amount,
    currency,
    reason: job.outcome.reason ?? psp.reason ?? job.outcome.gatewayStatus,
    ...(reference !== undefined ? { pspReference: reference } : {}),
    ...(occurredAt !== undefined ? { occurredAt } : {}),
    gateway: job.gateway,
    pspEventId: job.eventId,
    source: 'webhook',
  });
  if (!created) return;
  failuresAfterSuccess.inc({ gateway: job.gateway, outcome: how });
  deps.logger.warn('PSP reports the failure of an operation the OMS was told succeeded: reported as an adjustment', {
    operation_id: op.id,
    gateway: job.gateway,
    command: op.command,
    kind,
    confirmed_by: how === 'confirmed' ? 'status_inquiry' : 'signed_webhook',
    psp_status: psp.gatewayStatus,
    event_id: job.eventId,
  });
}

import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { SuccessNotConfirmedError } from '../errors/success-not-confirmed-error';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { OrphanReversal } from '../poller/orphan-reversal';
import { GatewayRouter } from '../routing/gateway-router';
import { isSuccessAfterFailure, reportContradiction } from './contradiction';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { ContradictionVerdict, believableAt, readPspState } from './psp-current-state';

const successesAfterFailure = counter(
  'pb_webhook_successes_after_failure_total',
  'Webhooks reporting the success of an operation the OMS was told failed, by gateway and what the bridge found: stale (the PSP confirms the failure: an out-of-order event, history only), confirmed (the PSP confirms the success: reported as an adjustment), webhook_only (no status inquiry that reads the operation: reported on the signed webhook alone), waiting (asked again later)',
  ['gateway', 'outcome'],
);

export interface SuccessAfterFailureDeps {
  ledger: Ledger;
  router: GatewayRouter;
  adjustments: AdjustmentRecorder;
  orphans?: OrphanReversal;
  logger: Logger;
  now?: () => number;
}

/**
 * A webhook says an operation the OMS was told FAILED succeeded (or one the PSP undid after it succeeded: a
 * capture failed, a refund failed or reversed, `undoneBy`). PSPs deliver events out of order (Stripe: it
 * "doesn't guarantee the delivery of events in the order that they're generated"): a Stripe `refund.updated`
 * with `succeeded` may arrive after the `refund.failed` that followed it. A success after a failure is also
 * real at times (Adyen re-captures after `CAPTURE_FAILED`; a PaymentIntent that failed succeeds when the shopper
 * tries again), so no rule decides it: the PSP's current state does, read by its status inquiry.
 * - It confirms the success: the contradiction is reported (`reportContradiction`: a `succeeded_after_failure`
 *   adjustment, its OMS event, an authorization handed to orphan reversal).
 * - It still holds the failure: the webhook is the older fact. Recorded in the history
 *   (`webhook_success_stale`), counted and logged; the OMS, told FAILED, hears nothing.
 *   An inquiry that reads a search index (`lagMs`) may not show the success yet: its failure is believed only
 *   once that lag has passed since the webhook arrived (`wait` until then).
 * - It decides nothing (pending, no trace, the PSP unreachable): {@link SuccessNotConfirmedError}, the job is
 *   asked again with backoff rather than guessed.
 * - The PSP cannot be asked (webhook-only, or an inquiry that only replays the request: Adyen): reported on the
 *   signed webhook alone, as a success the OMS must not miss (money moved, or is held, that it does not know of).
 */
export async function handleSuccessAfterFailure(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  receivedAt: number,
  deps: SuccessAfterFailureDeps,
): Promise<ContradictionVerdict> {
  if (!isSuccessAfterFailure(op, job)) return { kind: 'not_applicable' };
  const gateway = job.gateway;
  const psp = await readPspState(op, deps);
  if (psp.kind === 'cannot_ask') {
    if (await reportContradiction(op, job, 'signed_webhook', deps)) successesAfterFailure.inc({ gateway, outcome: 'webhook_only' });
    return { kind: 'handled' };
  }
  if (psp.kind === 'unanswered') {
    successesAfterFailure.inc({ gateway, outcome: 'waiting' });
    throw new SuccessNotConfirmedError(psp.why, psp.unreachable ? { cause: psp.unreachable } : undefined);
  }
  const answer = psp.outcome;
  if (answer?.status === 'SUCCESS') {
    if (await reportContradiction(op, job, 'status_inquiry', deps)) successesAfterFailure.inc({ gateway, outcome: 'confirmed' });
    return { kind: 'handled' };
  }
  const believable = believableAt(psp, receivedAt, deps.now ? deps.now() : Date.now());
  if (believable !== null) {
    // A search index may still show the state before the success: asked again once it has caught up.
    successesAfterFailure.inc({ gateway, outcome: 'waiting' });
    return { kind: 'wait', at: believable };
  }
  if (answer?.status !== 'FAIL') {
    successesAfterFailure.inc({ gateway, outcome: 'waiting' });
    throw new SuccessNotConfirmedError(`the PSP answers ${answer ? answer.status : 'that it has no trace of the operation'}`);
  }
  successesAfterFailure.inc({ gateway, outcome: 'stale' });
  await deps.ledger.appendInteraction(op.id, {
    event: 'webhook_success_stale',
    webhook_status: job.outcome.gatewayStatus,
    psp_status: answer.gatewayStatus,
    provider_event_id: job.eventId,
  });
  deps.logger.info('webhook reports a success the PSP does not confirm (an out-of-order event): the operation stands as it is, nothing reported', {
    operation_id: op.id,
    gateway,
    command: op.command,
    state: op.state,
    undone_by: op.undoneBy ?? null,
    webhook_status: job.outcome.gatewayStatus,
    psp_status: answer.gatewayStatus,
    event_id: job.eventId,
  });
  return { kind: 'handled' };
}

import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { commandsUndoneBy } from '../adjustments/adjustment';
import { olderThanRecordedSuccess, recordOlderFailure } from './failure-after-success';

/**
 * What a webhook's late fact (`adjustment`) does to the operation it names; `null` when the webhook
 * carries none (an ordinary outcome, applied by the caller).
 *
 * The caller has checked that the fact belongs to the operation (gateway and account, see
 * `outcome-scope.ts`).
 * - A failure of the operation itself (`failsOpenOperation`: capture or refund failed) while the
 *   operation is still open: it is the operation's outcome (FAIL), applied forward-only as usual.
 * - The same on an operation already FAILED: nothing changes (the OMS already knows it failed), unless the PSP said it
 *   did that operation after all (`succeededAfterFailure`: the OMS was told so, and it counts as done): then the
 *   failure is the PSP's later word, an adjustment as on a SUCCEEDED one, which marks it undone by the same rules.
 * - A failure that undoes a SUCCEEDED operation's command (`commandsUndoneBy`) which the PSP dates before the success
 *   recorded on it (`olderThanRecordedSuccess`: its `pspSucceededAt`) is an older event delivered late: history only
 *   (`webhook_failure_stale`), no adjustment, nothing marked undone, nothing sent (`recordOlderFailure`).
 * - Otherwise (the operation SUCCEEDED, or a dispute whatever the state: the payment behind a dispute
 *   succeeded at the PSP): an adjustment linked to the operation, whose own state does not move, and
 *   its OMS event. Idempotent by gateway and PSP event id. An authorization's lapse (`authorization_expired`)
 *   also takes it out of the authorization indexes: the adjustment recorder does, and its log line says
 *   `authorization_released`.
 */
export async function applyLateFact(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { recorder: OutcomeRecorder; adjustments: AdjustmentRecorder; ledger: Pick<Ledger, 'capturedIn' | 'appendInteraction'>; logger: Logger },
): Promise<string | null> {
  const fact = job.adjustment;
  if (!fact) return null;
  if (fact.failsOpenOperation && !isTerminal(op.state)) {
    const after = await deps.recorder.apply(op, job.outcome, 'webhook', { provider_event_id: job.eventId });
    return after.state;
  }
  if (fact.failsOpenOperation && op.state === 'FAILED' && op.succeededAfterFailure === undefined) {
    deps.logger.info('late failure of an operation that already failed: nothing to adjust', { operation_id: op.id, kind: fact.kind, event_id: job.eventId });
    return op.state;
  }
  // A failure that would undo the success (a capture failed, a refund failed or reversed) the PSP dates before that
  // success, as recorded: an older event delivered late, not the PSP's latest word. History only, nothing reported.
  if (op.state === 'SUCCEEDED' && commandsUndoneBy(fact.kind).includes(op.command) && olderThanRecordedSuccess(op, fact.occurredAt)) {
    await recordOlderFailure(op, job, fact.occurredAt, fact.kind, deps);
    return op.state;
  }
  const { failsOpenOperation: _ignored, amountIncludesCaptured, ...adjustment } = fact;
  if (amountIncludesCaptured && adjustment.amount !== undefined) adjustment.amount = await uncaptured(op, adjustment.amount, adjustment.currency, job, deps);
  await deps.adjustments.recordAdjustment(op, {
    ...adjustment,
    gateway: job.gateway,
    pspEventId: job.eventId,
    ...(job.formerEventId !== undefined ? { formerPspEventId: job.formerEventId } : {}),
    source: 'webhook',
  });
  return op.state;
}

/**
 * What is left of `authorised` (the authorization's whole amount, as the PSP reports it with a lapse, in
 * `currency`) once its succeeded captures are taken off: what lapsed. The captures are counted in the PSP's
 * currency (a converted authorization's at what its PSP confirmed or was asked at the locked rate); when one
 * of them is known in no figure of that currency, the amount is left as reported, and a warn line says so.
 */
async function uncaptured(
  op: OperationRecord,
  authorised: number,
  currency: string | undefined,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'capturedIn'>; logger: Logger },
): Promise<number> {
  const meta = { operation_id: op.id, gateway: job.gateway, event_id: job.eventId, authorised_amount: authorised, currency: currency ?? op.payment.currency };
  const captured = await deps.ledger.capturedIn(op.id, currency ?? op.payment.currency);
  if (captured === null) {
    deps.logger.warn('authorization lapse: a capture of it is in another currency than the lapse; what lapsed is left as the PSP reported it', meta);
    return authorised;
  }
  const lapsed = Math.max(0, authorised - captured);
  if (captured > 0) {
    deps.logger.info('authorization lapse: what lapsed is the authorised amount less what its captures took', {
      ...meta,
      captured_amount: captured,
      lapsed_amount: lapsed,
    });
  }
  return lapsed;
}

import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { AUTHORIZING } from '../ledger/authorization-by-reference';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

/**
 * What a webhook's late fact (`adjustment`) does to the operation it names; `null` when the webhook
 * carries none (an ordinary outcome, applied by the caller).
 *
 * The caller has checked that the fact belongs to the operation (gateway and account, see
 * `outcome-scope.ts`).
 * - A failure of the operation itself (`failsOpenOperation`: capture or refund failed) while the
 *   operation is still open: it is the operation's outcome (FAIL), applied forward-only as usual.
 * - The same on an operation already FAILED: nothing changes (the OMS already knows it failed).
 * - Otherwise (the operation SUCCEEDED, or a dispute whatever the state: the payment behind a dispute
 *   succeeded at the PSP): an adjustment linked to the operation, whose own state does not move, and
 *   its OMS event. Idempotent by gateway and PSP event id. An authorization's lapse (`authorization_expired`)
 *   also takes it out of the authorization indexes (`closeLapsed`).
 */
export async function applyLateFact(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { recorder: OutcomeRecorder; adjustments: AdjustmentRecorder; ledger: Pick<Ledger, 'dropFromAuthorizationIndex'>; logger: Logger },
): Promise<string | null> {
  const fact = job.adjustment;
  if (!fact) return null;
  if (fact.failsOpenOperation && !isTerminal(op.state)) {
    const after = await deps.recorder.apply(op, job.outcome, 'webhook', { provider_event_id: job.eventId });
    return after.state;
  }
  if (fact.failsOpenOperation && op.state === 'FAILED') {
    deps.logger.info('late failure of an operation that already failed: nothing to adjust', { operation_id: op.id, kind: fact.kind, event_id: job.eventId });
    return op.state;
  }
  const { failsOpenOperation: _ignored, ...adjustment } = fact;
  await deps.adjustments.recordAdjustment(op, { ...adjustment, gateway: job.gateway, pspEventId: job.eventId, source: 'webhook' });
  if (fact.kind === 'authorization_expired' && AUTHORIZING.has(op.command)) await closeLapsed(op, job, deps);
  return op.state;
}

/**
 * An authorization the PSP let lapse holds nothing more: it leaves the expiry index (no `authorization_expiring`
 * notice after the fact) and the open index (no orphan void of what is no longer held). After the adjustment
 * is recorded, so a crash in between only repeats this (the job runs again; the adjustment is idempotent).
 */
async function closeLapsed(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'dropFromAuthorizationIndex'>; logger: Logger },
): Promise<void> {
  await releaseHeld(op.id, deps.ledger);
  deps.logger.info('the PSP reports the authorization expired: what it held uncaptured is released; no expiry notice or orphan void follows', {
    operation_id: op.id,
    gateway: job.gateway,
    state: op.state,
    event_id: job.eventId,
  });
}

/**
 * An authorization the PSP no longer holds (it lapsed, or the PSP cancelled it) leaves the expiry index (no
 * `authorization_expiring` notice of it) and the open index (no orphan void of it). Idempotent.
 */
export async function releaseHeld(id: string, ledger: Pick<Ledger, 'dropFromAuthorizationIndex'>): Promise<void> {
  await ledger.dropFromAuthorizationIndex('expiry', id);
  await ledger.dropFromAuthorizationIndex('open', id);
}

import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { commandsUndoneBy } from '../adjustments/adjustment';
import { HoldRecaptureResult } from '../adjustments/adjustment-store';
import { OperationRecord } from '../ledger/ledger';
import { successAfterFailureInput } from './contradiction';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

/**
 * A PSP's re-capture (`job.recapture`: Adyen "Transaction Recaptured") of a capture or sale that SUCCEEDED and is
 * not marked undone: the capture failure it follows has not arrived yet (Adyen does not guarantee the order of its
 * notifications). Applied as an outcome it would change nothing, and the failure coming after would then leave the
 * capture undone although the PSP captured it again after that failure. So it is held on the operation
 * (`AdjustmentRecorder.holdRecapture`) until that failure comes, which then marks nothing and is followed by it.
 * A re-capture recorded already (reconciliation found its capture line after the failure and cleared the mark; an
 * earlier delivery) is no early one: it is recorded, as the same fact, and nothing is held (`recorded`).
 * @returns `null` when the job is no such re-capture (the caller goes on); else what the hold did (`undone`: the
 * failure was recorded meanwhile, the caller reads the operation again and reports the re-capture as usual).
 */
export async function holdEarlyRecapture(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { adjustments: AdjustmentRecorder },
): Promise<HoldRecaptureResult | null> {
  if (!job.recapture || job.outcome.status !== 'SUCCESS' || op.state !== 'SUCCEEDED' || op.undoneBy !== undefined) return null;
  if (!commandsUndoneBy('capture_failed').includes(op.command)) return null;
  const at = job.recapture.occurredAt;
  return deps.adjustments.holdRecapture(op, { ...(at !== undefined ? { at } : {}), fact: successAfterFailureInput(op, job) });
}

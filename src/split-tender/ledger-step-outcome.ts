import { Ledger } from '../ledger/ledger';
import { StepOutcome } from './split-tender';

/** A split tender step's outcome as the ledger holds it: SUCCEEDED and FAILED are final, anything else is still open. */
export async function ledgerStepOutcome(ledger: Ledger, operationId: string): Promise<StepOutcome> {
  const op = await ledger.get(operationId);
  if (!op) return { state: 'OPEN' };
  if (op.state === 'SUCCEEDED') return { state: 'SUCCEEDED', ...(op.gatewayReference ? { gatewayReference: op.gatewayReference } : {}) };
  if (op.state === 'FAILED') return { state: 'FAILED', ...(op.reason ? { reason: op.reason } : {}) };
  return { state: 'OPEN' };
}

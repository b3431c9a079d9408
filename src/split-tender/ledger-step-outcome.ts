import { heldInOrderCurrency, fxLockOf } from '../fx/locked-rate';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { amountInCommandCurrency } from '../ledger/routing-record';
import { StepOutcome } from './split-tender-decision';

/**
 * What the PSP confirmed of a step, minor units of its command's currency (the order's): its confirmed
 * figure; a converted step's (in the PSP's currency) as the most of the order's currency it covers at the
 * locked rate. Undefined when the PSP named no amount. A figure in a currency that cannot be compared counts
 * as what was asked: the event reports the PSP's own figure and currency beside it. Pure.
 */
export function confirmedInOrderCurrency(op: Pick<OperationRecord, 'payment' | 'routing' | 'confirmedAmount' | 'confirmedCurrency'>): number | undefined {
  if (op.confirmedAmount === undefined) return undefined;
  const lock = fxLockOf(op);
  return lock ? heldInOrderCurrency(op, lock) : amountInCommandCurrency(op);
}

/** A step's outcome from its ledger record (null: never recorded): SUCCEEDED and FAILED are final, anything else is still open. Pure. */
export function stepOutcomeOf(op: OperationRecord | null | undefined): StepOutcome {
  if (!op) return { state: 'OPEN' };
  if (op.state === 'SUCCEEDED') {
    const confirmedAmount = confirmedInOrderCurrency(op);
    return {
      state: 'SUCCEEDED',
      ...(op.gatewayReference ? { gatewayReference: op.gatewayReference } : {}),
      ...(confirmedAmount !== undefined ? { confirmedAmount } : {}),
    };
  }
  if (op.state === 'FAILED') {
    // A void its PSP refused as captured: what it stated captured, when in the order's currency (else no amount).
    const stated = op.capturedAtPsp;
    const amount = stated?.amount !== undefined && stated.currency === op.payment.currency.toUpperCase() ? stated.amount : undefined;
    return {
      state: 'FAILED',
      ...(op.reason ? { reason: op.reason } : {}),
      ...(stated ? { capturedAtPsp: amount !== undefined ? { amount } : {} } : {}),
    };
  }
  return { state: 'OPEN' };
}

/** A split tender step's outcome as the ledger holds it (`stepOutcomeOf`). */
export async function ledgerStepOutcome(ledger: Ledger, operationId: string): Promise<StepOutcome> {
  return stepOutcomeOf(await ledger.get(operationId));
}

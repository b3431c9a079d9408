import { PaymentBridgeError } from './payment-bridge-error';

/**
 * A fact (a webhook outcome, a late fact's adjustment) names an operation the ledger does not hold yet, e.g.
 * a webhook that overtook the gateway's own answer. Retryable: the operation is usually recorded moments
 * later, so the job carrying the fact tries again with backoff.
 */
export class OperationNotFoundError extends PaymentBridgeError {
  readonly retryable = true;
  readonly code = 'OPERATION_NOT_FOUND';
}

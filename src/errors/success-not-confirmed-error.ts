import { PaymentBridgeError } from './payment-bridge-error';

/**
 * A PSP webhook says an operation the OMS was told FAILED succeeded, and the PSP cannot confirm or deny it
 * yet (its status inquiry answered pending, nothing, or not at all). Retryable: the job carrying the fact
 * asks again with backoff; nothing is reported to the OMS until the PSP has answered.
 */
export class SuccessNotConfirmedError extends PaymentBridgeError {
  readonly retryable = true;
  readonly code = 'SUCCESS_NOT_CONFIRMED';
}

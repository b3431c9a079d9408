import { PaymentBridgeError } from './payment-bridge-error';

/**
 * A job that must run again later (a retryable failure its handler already recorded): thrown to the queue,
 * whose backoff strategy waits at least `retryAfterMs` (the server's Retry-After, when it sent one).
 */
export class RetryLaterError extends PaymentBridgeError {
  readonly retryable = true;
  readonly code = 'RETRY_LATER';

  constructor(
    message: string,
    /** The wait the server asked for, milliseconds; 0 when it asked for none. */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

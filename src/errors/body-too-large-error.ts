import { PaymentBridgeError } from './payment-bridge-error';

/** A request body exceeded the configured limit: answer 413 and stop reading. Not retryable as sent. */
export class BodyTooLargeError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'BODY_TOO_LARGE';

  constructor(
    /** The limit, bytes (`http.body_limit_bytes`). */
    readonly limit: number,
  ) {
    super(`body exceeds ${limit} bytes`);
  }
}

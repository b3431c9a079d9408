import { PaymentBridgeError } from './payment-bridge-error';

/** A request body exceeded the configured limit: answer 413 and stop reading. Not retryable as sent. */
export class BodyTooLargeError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'BODY_TOO_LARGE';

  constructor(
    /** The limit, bytes (`http.body_limit_bytes`). */
    readonly limit: number,
    /**
     * The body's size as far as it is known, bytes: its declared Content-Length (`declared`), else how many
     * bytes had arrived when it crossed the limit (the body is at least that large). Undefined: not known.
     */
    readonly size?: { bytes: number; declared: boolean },
  ) {
    super(`body exceeds ${limit} bytes`);
  }
}

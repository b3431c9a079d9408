/**
 * Root of the one error taxonomy. Every error the bridge raises on purpose is one of these classes, so
 * handlers decide by class and by `retryable`, never by reading message text.
 */
export abstract class PaymentBridgeError extends Error {
  /** Whether trying the same thing again later can succeed. */
  abstract readonly retryable: boolean;
  /** Stable machine-readable code, used in dead-letter headers, event reasons and logs. */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

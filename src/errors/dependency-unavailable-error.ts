import { PaymentBridgeError } from './payment-bridge-error';

/** Redis, RabbitMQ or another dependency of ours did not answer. Always retryable: nothing was decided. */
export class DependencyUnavailableError extends PaymentBridgeError {
  readonly retryable = true;
  readonly code = 'DEPENDENCY_UNAVAILABLE';
  /**
   * The wait the dependency asked for (an HTTP peer's `Retry-After` on 429 or 503), milliseconds; 0 when it
   * asked for none. The queue's backoff waits at least this long, up to its ceiling.
   */
  readonly retryAfterMs: number;

  constructor(
    readonly dependency: 'redis' | 'rabbitmq' | 'bus' | 'oauth',
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(`${dependency}: ${message}`, options);
    this.retryAfterMs = options?.retryAfterMs ?? 0;
  }
}

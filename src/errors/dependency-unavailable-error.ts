import { PaymentBridgeError } from './payment-bridge-error';

/** Redis, RabbitMQ or another dependency of ours did not answer. Always retryable: nothing was decided. */
export class DependencyUnavailableError extends PaymentBridgeError {
  readonly retryable = true;
  readonly code = 'DEPENDENCY_UNAVAILABLE';

  constructor(
    readonly dependency: 'redis' | 'rabbitmq' | 'bus' | 'oauth',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency}: ${message}`, options);
  }
}

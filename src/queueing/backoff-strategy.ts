import { GatewayError } from '../errors/gateway-error';
import { BackoffPolicy, backoffDelay } from './backoff';

/** A retryable job failure; carries the server's Retry-After (ms) for the backoff strategy. */
export class RetryFloorError extends Error {
  constructor(
    message: string,
    readonly floorMs = 0,
  ) {
    super(message);
    this.name = 'RetryFloorError';
  }
}

/**
 * BullMQ backoff strategy shared by our workers (`backoff: { type: 'pb-backoff' }`): capped exponential
 * with jitter; BullMQ counts the attempts, we only say how long to wait.
 */
export function pbBackoffStrategy(policy: BackoffPolicy) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    const floor = err instanceof RetryFloorError ? err.floorMs : err instanceof GatewayError ? (err.details.retryAfterMs ?? 0) : 0;
    return backoffDelay(attemptsMade, policy, floor);
  };
}

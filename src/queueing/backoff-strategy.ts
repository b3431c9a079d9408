import { GatewayError } from '../errors/gateway-error';
import { RetryLaterError } from '../errors/retry-later-error';
import { BackoffPolicy, backoffDelay } from './backoff';

/**
 * BullMQ backoff strategy shared by our workers (`backoff: { type: 'pb-backoff' }`): capped exponential
 * with jitter; BullMQ counts the attempts, we only say how long to wait.
 */
export function pbBackoffStrategy(policy: BackoffPolicy) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    const retryAfterMs = err instanceof RetryLaterError ? err.retryAfterMs : err instanceof GatewayError ? (err.details.retryAfterMs ?? 0) : 0;
    return backoffDelay(attemptsMade, policy, retryAfterMs);
  };
}

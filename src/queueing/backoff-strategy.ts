import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { GatewayError } from '../errors/gateway-error';
import { RetryLaterError } from '../errors/retry-later-error';
import { BackoffPolicy, backoffDelay } from './backoff';

/**
 * BullMQ backoff strategy shared by our workers (`backoff: { type: 'pb-backoff' }`): capped exponential
 * with jitter; BullMQ counts the attempts, we only say how long to wait.
 */
export function pbBackoffStrategy(policy: BackoffPolicy) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    return backoffDelay(attemptsMade, policy, serverRetryAfterMs(err));
  };
}

/** The wait the server asked for (a PSP's or the bus's Retry-After), milliseconds; 0 when none. */
function serverRetryAfterMs(err: Error | undefined): number {
  if (err instanceof RetryLaterError || err instanceof DependencyUnavailableError) return err.retryAfterMs;
  if (err instanceof GatewayError) return err.details.retryAfterMs ?? 0;
  return 0;
}

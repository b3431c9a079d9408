/** Capped exponential backoff with "equal jitter": half the delay fixed, half random. */
export interface BackoffPolicy {
  /** Delay before the first retry, milliseconds. */
  baseMs: number;
  /** Largest delay, milliseconds. */
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry). A server's Retry-After (`floorMs`) is honoured
 * as a minimum. `random` is injectable so tests are deterministic.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, floorMs = 0, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  return Math.max(jittered, Math.min(floorMs, policy.maxMs));
}

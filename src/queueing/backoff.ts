/** Capped exponential backoff with "equal jitter": half the delay fixed, half random. */
export interface BackoffPolicy {
  /** Delay before the first retry, milliseconds. */
  baseMs: number;
  /** Largest delay of our own backoff, milliseconds. */
  maxMs: number;
  /**
   * Longest server `Retry-After` honoured, milliseconds; it may exceed `maxMs` (a server that asks us to
   * wait longer than our own backoff would is waited for, up to this ceiling). Default: `maxMs`.
   */
  retryAfterMaxMs?: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry). A server's Retry-After (`retryAfterMs`) is honoured
 * as a minimum, up to `policy.retryAfterMaxMs`. `random` is injectable so tests are deterministic.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, retryAfterMs = 0, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  return Math.max(jittered, Math.min(retryAfterMs, policy.retryAfterMaxMs ?? policy.maxMs));
}

/**
 * The wait before an item that faulted `faults` times in a row (1 = its first fault) is tried again, ms:
 * `firstMs`, then four times longer at each further fault, at most `maxMs`. No jitter: these are single
 * items set back behind the others, not a crowd retrying at once.
 */
export function faultWaitMs(faults: number, firstMs: number, maxMs: number): number {
  return Math.min(firstMs * 4 ** Math.max(faults - 1, 0), maxMs);
}

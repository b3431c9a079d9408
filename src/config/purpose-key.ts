import { createHmac } from 'node:crypto';

/**
 * A key for one purpose derived from a secret (`HMAC-SHA-256(secret, "payment-bridge <purpose>")`), never the
 * secret itself: what signs, stamps or digests with `service_bus.secret` for one use cannot be replayed for another,
 * and the secret never leaves its one place. The key stays in the process: never logged, stored or sent. Rotating
 * the secret changes every key derived from it.
 */
export function purposeKey(secret: string, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`payment-bridge ${purpose}`).digest();
}

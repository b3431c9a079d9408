import { createHash } from 'node:crypto';
import { GatewayRequest, OperationContext, idempotencyKeyOf } from '../gateway-adapter';

/**
 * Our operation id on Adyen's side. It is the `Idempotency-Key` (Adyen: at most 64 characters) and the
 * merchant `reference` of the payment or modification (at most 80 characters), so webhooks name the
 * operation back in `merchantReference`: a modification's own reference when Adyen passes it on, else the
 * payment's (Webhooks v1), so a modification's outcome may name its authorization and is then matched by
 * its pspReference (`webhooks/outcome-by-reference.ts`). Our ids may be up to 128 characters: a longer one
 * is replaced by a digest, the same every time, and webhooks then find the operation by Adyen's pspReference
 * instead.
 */

const MAX_IDEMPOTENCY_KEY = 64;
const MAX_REFERENCE = 80;
/** Marks a digested reference (never a valid start of one of our ids, which start alphanumeric). */
const DIGEST_PREFIX = 'pbh-';

function digest(operationId: string): string {
  return createHash('sha256').update(operationId).digest('hex');
}

/** `Idempotency-Key` for an attempt key (the operation id, or its failover key): itself, or its SHA-256 hex when longer than 64. */
export function idempotencyKeyFor(operationId: string): string {
  return operationId.length <= MAX_IDEMPOTENCY_KEY ? operationId : digest(operationId);
}

/** Merchant `reference` for the operation: the id itself, or `pbh-<sha256 hex>` when longer than 80. */
export function merchantReferenceFor(operationId: string): string {
  return operationId.length <= MAX_REFERENCE ? operationId : `${DIGEST_PREFIX}${digest(operationId)}`;
}

/** Our operation id from a notification's `merchantReference`; undefined when empty or digested. */
export function operationIdFromReference(reference: string | undefined): string | undefined {
  if (!reference || reference.startsWith(DIGEST_PREFIX)) return undefined;
  return reference;
}

/**
 * The JSON POST performing `ctx` at `path` (Checkout and Stored Value alike): `Idempotency-Key` is the
 * attempt's key (the operation id, or its failover key: `src/delivery/attempt-key.ts`), digested past 64
 * characters; the body's merchant `reference` is the operation id, so webhooks may name it back (see above).
 */
export function adyenPost(ctx: OperationContext, path: string, body: unknown): GatewayRequest {
  return {
    method: 'POST',
    path,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Idempotency-Key': idempotencyKeyFor(idempotencyKeyOf(ctx)) },
    body: JSON.stringify(body),
  };
}

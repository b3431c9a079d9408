import { CapturedPayment, StandingCapture } from '../gateways/gateway-adapter';

/**
 * What a cancel at a PSP whose cancel is built from the captures standing (`GatewayDefinition.cancelVoided`:
 * Cybersource) was built on at its first attempt: `captured`, what was captured of its authorization then
 * (`null`: nothing, the request released the hold), without the refunds (read for the first attempt only).
 * Kept on the cancel's record (`cancel_basis`), written with that attempt: its retries and status inquiries are
 * built on it and its outcome is read by it, so one idempotency key never carries two requests (a capture
 * that succeeded in between would otherwise turn a reversal of the hold into one of a remainder, or a void).
 */
export interface CancelBasis {
  captured: CapturedPayment | null;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function standingCapture(value: unknown): StandingCapture | undefined {
  const v = record(value);
  if (!v || typeof v.id !== 'string') return undefined;
  if (v.reference !== undefined && typeof v.reference !== 'string') return undefined;
  if (v.amount !== undefined && !Number.isSafeInteger(v.amount)) return undefined;
  return {
    id: v.id,
    ...(typeof v.reference === 'string' ? { reference: v.reference } : {}),
    ...(v.amount !== undefined ? { amount: v.amount as number } : {}),
  };
}

/** A stored cancel basis, checked; undefined when it is not one (the cancel is then read from the ledger, as before bases were kept). */
export function parseCancelBasis(value: unknown): CancelBasis | undefined {
  const v = record(value);
  if (!v || !('captured' in v)) return undefined;
  if (v.captured === null) return { captured: null };
  const c = record(v.captured);
  if (c?.by === 'sale') return { captured: { by: 'sale' } };
  const authorized = record(c?.authorized);
  if (c?.by !== 'capture' || !Array.isArray(c.captures) || !authorized) return undefined;
  if (!Number.isSafeInteger(authorized.amount) || typeof authorized.currency !== 'string') return undefined;
  const captures = c.captures.map(standingCapture);
  if (captures.some((s) => s === undefined)) return undefined;
  return {
    captured: {
      by: 'capture',
      captures: captures as StandingCapture[],
      authorized: { amount: authorized.amount as number, currency: authorized.currency },
    },
  };
}

/** The basis of a cancel built on `captured` (what its context carried): the refunds left out. */
export function cancelBasisOf(captured: CapturedPayment | undefined): CancelBasis {
  if (captured === undefined) return { captured: null };
  if (captured.by === 'sale') return { captured: { by: 'sale' } };
  return { captured: { by: 'capture', captures: captured.captures, authorized: captured.authorized } };
}

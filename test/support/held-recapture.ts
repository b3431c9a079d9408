import type { HeldRecapture } from '../../src/adjustments/adjustment-store';

/** Adyen's re-capture ("Transaction Recaptured") of capture `reference`, at `at` (epoch ms), as the outcome worker holds it. */
export function adyenRecapture(reference: string, at: number): HeldRecapture {
  return {
    at,
    fact: {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'EUR',
      reason: 'Transaction Recaptured',
      pspReference: reference,
      occurredAt: at,
      gateway: 'adyen',
      pspEventId: `${reference}:CAPTURE:true:recaptured:${new Date(at).toISOString()}`,
      source: 'webhook',
    },
  };
}

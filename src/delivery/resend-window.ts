import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { GatewayTransformer } from '../gateways/gateway-adapter';

/**
 * How long after an operation's creation its request may still be sent again under its idempotency key, ms:
 * 7 days. Within a key's validity the PSP answers a request it already performed with its first answer;
 * past it, the same request could be performed a second time. Adyen documents a key as valid for at least
 * 31 days (its older page said 7): the window keeps to the shorter, safe under either. The operation's
 * creation precedes its first attempt, so the window never outlives the key.
 */
export const IDEMPOTENT_RESEND_WINDOW_MS = 7 * 24 * 3600 * 1000;

/**
 * Whether asking the gateway about an operation created at `createdAt` (epoch ms) would send its request
 * again past `IDEMPOTENT_RESEND_WINDOW_MS`: the transformer's status inquiry replays the request
 * (`inquiryReplaysRequest`, Adyen). Such an inquiry is withheld: the operation waits for the PSP's webhook
 * or its reports (reconciliation). Pure.
 */
export function replayInquiryExpired(transformer: Pick<GatewayTransformer, 'inquiryReplaysRequest'>, createdAt: number, now: number): boolean {
  return transformer.inquiryReplaysRequest === true && now - createdAt > IDEMPOTENT_RESEND_WINDOW_MS;
}

/**
 * `pb_replay_inquiries_withheld_total{gateway,by}`: status inquiries not made because they would replay the
 * operation's request past its idempotency key's validity (`by`: delivery, poller, action_expiry). Each such
 * operation is UNRESOLVED and settles by webhook or reconciliation only.
 */
export function replayInquiriesWithheld(): Counter<'gateway' | 'by'> {
  return counter(
    'pb_replay_inquiries_withheld_total',
    "Status inquiries withheld because replaying the operation's request would outlive its idempotency key, by gateway and caller",
    ['gateway', 'by'],
  );
}

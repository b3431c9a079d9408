import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { GatewayTransformer } from '../gateways/gateway-adapter';
import type { CommandType } from '../contracts/payment-command';

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
 * Why a status inquiry that replays the request (`inquiryReplaysRequest`) is withheld:
 * - `key_validity`: the operation is older than `IDEMPOTENT_RESEND_WINDOW_MS`; the PSP may have dropped the
 *   key, and the replay would be performed a second time;
 * - `max_age`: `delivery.max_age_ms` has passed since the bridge received the command. The bridge has given up
 *   sending it (UNRESOLVED, the OMS told), and a replay is a send: Adyen performs a request under a key it never
 *   executed as a new one (its idempotency only returns "the response to the first attempt" for a request it
 *   already processed; "API idempotency"), so a payment, capture or refund that never landed would be performed
 *   now, hours after the OMS stopped expecting it.
 */
export type ReplayWithheldReason = 'key_validity' | 'max_age';

/**
 * Whether, and why, asking the gateway about `op` now (epoch ms) is withheld: only an inquiry that replays the
 * request (`inquiryReplaysRequest`: Adyen, Adyen Stored Value), past `IDEMPOTENT_RESEND_WINDOW_MS` after its
 * creation or past `maxAgeMs` (`delivery.max_age_ms`; 0: no bound) after its receipt, and never for a command whose
 * request the gateway declares performs nothing (`replayPerformsNothing`: Adyen Stored Value's balance inquiry). An
 * inquiry that reads the PSP's state (Stripe, Cybersource, the simulator) is never withheld. Pure.
 */
export function replayWithheldReason(
  transformer: Pick<GatewayTransformer, 'inquiryReplaysRequest' | 'replayPerformsNothing'>,
  op: { readonly command: CommandType; readonly createdAt: number; readonly receivedAt: number },
  now: number,
  maxAgeMs: number,
): ReplayWithheldReason | null {
  if (transformer.replayPerformsNothing?.includes(op.command) === true) return null;
  if (replayInquiryExpired(transformer, op.createdAt, now)) return 'key_validity';
  if (transformer.inquiryReplaysRequest === true && maxAgeMs > 0 && now - op.receivedAt > maxAgeMs) return 'max_age';
  return null;
}

/**
 * `pb_replay_inquiries_withheld_total{gateway,by,reason}`: status inquiries not made because they would replay the
 * operation's request past its idempotency key's validity (`reason="key_validity"`) or past `delivery.max_age_ms`
 * (`reason="max_age"`), `by`: delivery, poller, action_expiry. Each such operation settles by webhook or
 * reconciliation only (delivery makes an UNKNOWN one UNRESOLVED).
 */
export function replayInquiriesWithheld(): Counter<'gateway' | 'by' | 'reason'> {
  return counter(
    'pb_replay_inquiries_withheld_total',
    "Status inquiries withheld because replaying the operation's request would outlive its idempotency key (reason key_validity) or come after delivery.max_age_ms (reason max_age), by gateway and caller",
    ['gateway', 'by', 'reason'],
  );
}

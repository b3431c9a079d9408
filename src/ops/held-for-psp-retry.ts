import type { Ledger } from '../ledger/ledger';
import { redact } from '../logging/redact';
import { PSP_RETRY_WAIT_MS } from '../metrics/scrape-gauges';
import { gatewayOf } from '../ledger/routing-record';

/**
 * A capture or refund recorded FAILED whose PSP retries it itself (`held_for_psp_retry`: Adyen's technical
 * CAPTURE_FAILED or REFUND_FAILED), its amount still held, as an operator reads it: what it is, what it holds, Adyen's
 * reason, and how long it has been held. No card data: references are redacted.
 */
export interface HeldForPspRetryView {
  operation_id: string;
  order_id: string | null;
  /** `capture` or `refund`. */
  command: string;
  gateway: string;
  /** The authorization (or sale) it acts on. */
  authorization_id: string;
  /** The PSP's reference of the capture or refund (what to look up at the PSP), null when none was named. */
  psp_reference: string | null;
  /** What it holds, integer minor units of `currency`. */
  amount: number;
  currency: string;
  /** The PSP's reason, as kept on the record. */
  psp_reason: string;
  /** When it was first held (ISO 8601). */
  held_since: string;
  held_ms: number;
  /** Held for longer than the PSP's documented retry (10 days, Adyen's): a person must ask the PSP. */
  overdue: boolean;
}

/**
 * The captures and refunds held for their PSP's own retry (`Ledger.heldForPspRetrySince`), longest held first, at most
 * `limit`: those held past the PSP's retry (10 days), or with `all` every one. One the PSP has done since (or gone) is
 * taken out of the index, not listed. Where operators find what `pb_held_for_psp_retry_overdue` counts
 * (`payment-bridge ops held-retries list`).
 */
export async function heldForPspRetry(deps: { ledger: Ledger }, opts: { limit: number; all?: boolean }, now = Date.now()): Promise<HeldForPspRetryView[]> {
  const held = await deps.ledger.heldForPspRetrySince(opts.all ? Number.POSITIVE_INFINITY : now - PSP_RETRY_WAIT_MS, opts.limit);
  return held.map(({ record, heldSince }) => {
    const text = redact({
      operation_id: record.id,
      order_id: record.payment.order_id ?? null,
      command: record.command,
      gateway: gatewayOf(record),
      authorization_id: record.authorizationId ?? record.payment.gateway_key,
      psp_reference: record.gatewayReference ?? null,
      currency: record.payment.currency,
      psp_reason: record.heldForPspRetry ?? '',
    });
    return {
      ...text,
      amount: record.payment.amount,
      held_since: new Date(heldSince).toISOString(),
      held_ms: Math.max(0, now - heldSince),
      overdue: now - heldSince >= PSP_RETRY_WAIT_MS,
    };
  });
}

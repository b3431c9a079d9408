import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { Interaction } from '../ledger/ledger';
import type { CommandType } from '../contracts/payment-command';
import { GatewayTransformer, inquiryHorizonOf, inquiryLagOf } from '../gateways/gateway-adapter';
import { unprovenUnderCurrentKey } from './attempt-ends';

/**
 * What a status inquiry that found no trace of an operation proves, read from the operation's history:
 * - `no_trace`: the attempt never landed; it may be sent again, and the next gateway may take it.
 * - `psp_has_request`: the PSP answered an attempt that it already holds the request (Cybersource
 *   `DUPLICATE_REQUEST`): the miss is its index lagging; ask again, never resend.
 * - `index_lag`: the latest attempt is younger than the gateway's `inquiryLagMs`: the PSP's search may not
 *   show it yet. Proves nothing: no failover, and a resend only where the PSP replays a request it already
 *   performed under the same idempotency key (`resend`); else ask again.
 * - `beyond_horizon`: an attempt under the key asked about (since the last failover) not yet proven absent (by an
 *   earlier miss, its own error saying it never landed, or the failover that ended it: src/delivery/attempt-ends.ts)
 *   is older than what the gateway's inquiry searches
 *   (`inquiryHorizonMs`: Cybersource's transaction search covers the last 7 days): the miss cannot see it.
 *   Proves nothing, and nothing is resent (no idempotency key protects it): UNRESOLVED, for a webhook, the
 *   PSP's reports or an operator.
 */
export type InquiryMiss =
  | { readonly kind: 'no_trace' }
  | { readonly kind: 'psp_has_request' }
  | { readonly kind: 'beyond_horizon'; readonly attemptAgeMs: number; readonly horizonMs: number }
  | { readonly kind: 'index_lag'; readonly resend: boolean; readonly attemptAgeMs: number; readonly lagMs: number };

/** The gateway's side of reading a miss (`GatewayTransformer.inquiryLagMs`, `resendReplays`). */
export interface InquiryMissRules {
  /** How long after an attempt its inquiry may miss it, ms; 0: a miss is proof at once. */
  readonly lagMs: number;
  /** Whether a resend under the same idempotency key is answered with the first answer. */
  readonly resendReplays: boolean;
  /** How far back the inquiry searches, ms; 0 or absent: it sees every attempt, however old. */
  readonly horizonMs?: number;
}

/** The rules by which a miss of `transformer`'s status inquiry about `command` is read (its lag, replays, horizon). */
export function inquiryMissRules(transformer: GatewayTransformer, command: CommandType): InquiryMissRules {
  return { lagMs: inquiryLagOf(transformer, command), resendReplays: transformer.resendReplays === true, horizonMs: inquiryHorizonOf(transformer, command) };
}

/**
 * Reads a miss from the operation's history at `now` (epoch ms). The latest attempt's time is its history
 * entry's; an operation with no recorded attempt (none sent) has nothing to lag behind. Pure.
 */
export function readInquiryMiss(history: readonly Interaction[], rules: InquiryMissRules, now: number): InquiryMiss {
  if (history.some((h) => h.psp_has_request === true)) return { kind: 'psp_has_request' };
  const horizonMs = rules.horizonMs ?? 0;
  if (horizonMs > 0) {
    // The attempts under the key asked about not proven absent (src/delivery/attempt-ends.ts): an earlier miss proves
    // every one before it did nothing; an error that says the request never landed, or the failover that ended it, its
    // own. Those before the last failover were at another gateway: this search does not look for them.
    const oldest = unprovenUnderCurrentKey(history)[0]?.at;
    if (oldest !== undefined && now - oldest >= horizonMs) return { kind: 'beyond_horizon', attemptAgeMs: now - oldest, horizonMs };
  }
  if (rules.lagMs <= 0) return { kind: 'no_trace' };
  let lastAttemptAt: number | undefined;
  for (const entry of history) if (entry.event === 'attempt') lastAttemptAt = entry.at;
  if (lastAttemptAt === undefined) return { kind: 'no_trace' };
  const attemptAgeMs = now - lastAttemptAt;
  if (attemptAgeMs >= rules.lagMs) return { kind: 'no_trace' };
  return { kind: 'index_lag', resend: rules.resendReplays, attemptAgeMs, lagMs: rules.lagMs };
}

/**
 * `pb_inquiry_misses_total{gateway,meaning}`: status inquiries that found no trace of an operation, by what
 * the miss proved (`meaning`: no_trace, psp_has_request, index_lag, beyond_horizon). `index_lag` rising with no later
 * `no_trace` or outcome: the PSP's search is behind (an outage on its side); nothing is resent or failed over
 * on it. `beyond_horizon`: an operation whose attempt is older than the PSP's search reaches, made UNRESOLVED
 * and never resent: resolve it by hand (the PSP's console).
 */
export function inquiryMisses(): Counter<'gateway' | 'meaning'> {
  return counter('pb_inquiry_misses_total', 'Status inquiries that found no trace of the operation, by gateway and what the miss proved', [
    'gateway',
    'meaning',
  ]);
}

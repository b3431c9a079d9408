import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import { HistoryEntryRead, anyAttemptMayHaveLanded } from './attempt-ends';

/** The `reason` label of {@link failoversHeld}: an earlier attempt of the operation may be at the PSP. */
export const EARLIER_ATTEMPT_MAY_HAVE_LANDED = 'earlier_attempt_may_have_landed';

/**
 * Whether a failover on an attempt that was provably not sent must be held back: an earlier attempt may have reached
 * the PSP (`anyAttemptMayHaveLanded`, the check the breaker-open failover makes), the current one read as ended by
 * `notSent`, the entry its error writes (it proves only that attempt absent). A 5xx or a timeout under the same
 * idempotency key before it may be live at this gateway: sent elsewhere, the payment could be taken twice; retried
 * here under that key, the PSP answers for the earlier attempt. `history`: the operation's, the current attempt's
 * `attempt` entry last. Pure.
 */
export function notSentFailoverHeld(history: readonly HistoryEntryRead[], notSent: HistoryEntryRead): boolean {
  return anyAttemptMayHaveLanded([...history, notSent]);
}

/**
 * `pb_routing_failovers_held_total{gateway,reason}`: failovers not made on a not-sent attempt because an earlier
 * attempt may have reached the PSP (`reason`: {@link EARLIER_ATTEMPT_MAY_HAVE_LANDED}); the operation is retried at
 * `gateway`, the one it stays at, under the same key.
 */
export function failoversHeld(): Counter<'gateway' | 'reason'> {
  return counter(
    'pb_routing_failovers_held_total',
    'Failovers not made on a request provably not sent because an earlier attempt (a 5xx, a timeout under the same idempotency key) may have reached the PSP; retried at the gateway under that key, by gateway and reason',
    ['gateway', 'reason'],
  );
}

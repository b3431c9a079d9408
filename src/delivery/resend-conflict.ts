import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';

/**
 * `pb_idempotency_conflicts_on_resend_total{gateway}`: resends (or replaying inquiries) the PSP refused as an
 * idempotency conflict: it holds an earlier attempt under the operation's key, built otherwise (a release between
 * the two). Such an operation is UNKNOWN and asked about, never failed: the earlier attempt may have moved money.
 */
export function idempotencyConflictsOnResend(): Counter<'gateway'> {
  return counter(
    'pb_idempotency_conflicts_on_resend_total',
    'Resends or replaying inquiries refused as an idempotency conflict (an earlier attempt landed): asked about, never failed, by gateway',
    ['gateway'],
  );
}

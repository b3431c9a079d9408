import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';

/**
 * `pb_gateway_retry_after_capped_total{gateway}`: retryable gateway answers whose Retry-After asked for a
 * longer wait than `delivery.retry_after_max_ms`; the next attempt came at the ceiling instead.
 */
export function retryAfterCapped(): Counter<'gateway'> {
  return counter(
    'pb_gateway_retry_after_capped_total',
    'Gateway Retry-After values above delivery.retry_after_max_ms (the retry waited the ceiling instead), by gateway',
    ['gateway'],
  );
}

import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import { REFUSAL_LOST } from '../orchestration/orchestration-stage';

/**
 * `pb_max_age_give_ups_total{gateway,result}`: operations delivery gave up on past `delivery.max_age_ms`, by what the
 * give-up did: `unresolved` (an attempt may have reached the PSP), `failed` (FAIL `UNRESPONSIVE`: none can have), or
 * `refusal_lost` (the label value the orchestration stages count a refusal under that lost to another move): decided on
 * the record as read, it applied only at the state and attempt count read, and the operation had moved meanwhile (a
 * PSP fact such as a webhook's PENDING, another worker's move), so it stands as that move left it.
 */
export function maxAgeGiveUps(): Counter<'gateway' | 'result'> {
  return counter(
    'pb_max_age_give_ups_total',
    'Operations given up on past delivery.max_age_ms, by gateway and result (unresolved, failed as UNRESPONSIVE, refusal_lost: the operation moved between the read and the give-up, left as it stands)',
    ['gateway', 'result'],
  );
}

/** The `result` label of {@link maxAgeGiveUps} for a give-up to `to` that left the operation in `after`. */
export function maxAgeGiveUpResult(to: 'UNRESOLVED' | 'FAILED', after: string): string {
  if (after !== to) return REFUSAL_LOST;
  return to === 'UNRESOLVED' ? 'unresolved' : 'failed';
}

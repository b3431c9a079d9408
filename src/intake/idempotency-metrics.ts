import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';

/** `pb_idempotency_conflicts_total{channel}`: commands refused because their operation id was taken by a command with other money fields. */
export function idempotencyConflicts(): Counter<'channel'> {
  return counter('pb_idempotency_conflicts_total', 'Commands refused as idempotency conflicts (operation id reused with other money fields), by channel', [
    'channel',
  ]);
}

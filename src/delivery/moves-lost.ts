import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { OperationState } from '../ledger/operation-state';
import type { Logger } from '../logging/logger';
import { ReadRecord, logMovedMeanwhile } from './moved-meanwhile';

/**
 * `pb_delivery_moves_lost_total{gateway}`: moves to SENT (an attempt, a failover's attempt at the next gateway, the
 * resend after a status inquiry that found nothing) that did not apply because the operation left the state or attempt
 * count they were decided on: two workers on one operation (a redelivery, a lapsed job lock, the recovery sweep), or a
 * PSP fact meanwhile. `gateway`: where the lost move would have sent it. Nothing of a lost move is on record (no
 * attempt, no failover entry, no failover counted); the winner's move stands. A steady rate is workers racing.
 */
export function movesLost(): Counter<'gateway'> {
  return counter(
    'pb_delivery_moves_lost_total',
    'Moves to SENT (attempts, failover attempts, resends after an inquiry) not applied because another worker or a PSP fact moved the operation first, by gateway',
    ['gateway'],
  );
}

/**
 * Counts a lost move to SENT of `read` (the record it was decided on) toward `gateway` and says so at info (`what`: the
 * move, e.g. "attempt"; `fields`: what tells it apart, such as the failover it would have made).
 */
export function noteMoveLost(
  logger: Pick<Logger, 'info'>,
  what: string,
  read: ReadRecord,
  state: OperationState | null,
  gateway: string,
  fields: Readonly<Record<string, unknown>> = {},
): void {
  movesLost().inc({ gateway });
  logMovedMeanwhile(logger, what, read, state, { gateway, ...fields });
}

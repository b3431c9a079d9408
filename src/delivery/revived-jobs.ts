import { counter } from '../metrics/metrics-registry';
import { Logger } from '../logging/logger';
import { EnsureJobResult } from '../queueing/ensure-job';

/** Operations whose delivery job was gone or finished while they still needed one, re-queued, by state. */
const operationsRevived = counter(
  'pb_operations_revived_total',
  'Operations in RECEIVED/SENT/UNKNOWN found without a live delivery job (lost or finished) and queued again, by state.',
  ['state'],
);
/** Unsent events whose send job was gone or finished, re-queued. */
const eventsRevived = counter('pb_events_revived_total', 'Recorded, unsent events found without a live send job (lost or finished) and queued again.');

/**
 * Counts and logs (warn: a job was lost, e.g. a worker that lost its lock, or two handlers of one job)
 * an operation whose delivery job `ensureJob` had to add again. Nothing when the job was live.
 */
export function noteOperationRevival(
  logger: Logger | undefined,
  operationId: string,
  state: 'RECEIVED' | 'SENT' | 'UNKNOWN',
  result: EnsureJobResult,
  by: 'sweep' | 'poller',
): void {
  if (result.action !== 'revived') return;
  operationsRevived.inc({ state });
  logger?.warn('operation had no live delivery job (lost or finished); queued it again', { operation_id: operationId, state, job_state: result.found, by });
}

/** Same as `noteOperationRevival`, for an unsent event whose send job was gone or finished. */
export function noteEventRevival(logger: Logger | undefined, eventId: string, result: EnsureJobResult): void {
  if (result.action !== 'revived') return;
  eventsRevived.inc();
  logger?.warn('unsent event had no live send job (lost or finished); queued it again', { event_id: eventId, job_state: result.found });
}

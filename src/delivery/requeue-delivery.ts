import { Queue } from 'bullmq';
import { DeliveryJobData } from './delivery-queue';
import { EnsureJobResult, ensureJob } from '../queueing/ensure-job';
import { bullJobId } from '../queueing/job-id';

/**
 * Makes sure the delivery job of `operationId` runs now: a delayed one is promoted, a finished one (its
 * id would make a plain `add` a no-op) is removed and added again, a waiting or active one is left to run.
 * One job id per operation still: never two deliveries of it at once. Rare path (a released hold, an
 * UNKNOWN operation the PSP has no trace of, a dependent woken by its authorization's outcome).
 */
export async function requeueDelivery(queue: Queue<DeliveryJobData>, operationId: string): Promise<EnsureJobResult> {
  return ensureJob(queue, 'deliver', { operationId }, bullJobId(operationId), { promote: true });
}

/**
 * Makes sure the delivery job of `operationId` exists and will run, leaving a live one (waiting, active,
 * delayed in its backoff) as it is: for sweeps, which must not shorten a backoff.
 */
export async function ensureDelivery(queue: Queue<DeliveryJobData>, operationId: string, delay?: number): Promise<EnsureJobResult> {
  return ensureJob(queue, 'deliver', { operationId }, bullJobId(operationId), { delay });
}

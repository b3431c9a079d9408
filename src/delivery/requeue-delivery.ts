import { Queue } from 'bullmq';
import { DeliveryJobData } from './delivery-queue';
import { bullJobId } from './job-id';

/**
 * Makes sure the delivery job of `operationId` runs now: a delayed one is promoted, a finished one (its
 * id would make a plain `add` a no-op) is removed and added again, a waiting or active one is left to run.
 * One job id per operation still: never two deliveries of it at once. Rare path (a released hold).
 */
export async function requeueDelivery(queue: Queue<DeliveryJobData>, operationId: string): Promise<void> {
  const jobId = bullJobId(operationId);
  const job = await queue.getJob(jobId);
  if (job) {
    const state = await job.getState();
    if (state === 'delayed') {
      await job.promote().catch(() => undefined); // it may have started meanwhile: then it runs anyway
      return;
    }
    if (state === 'waiting' || state === 'active' || state === 'waiting-children' || state === 'prioritized') return;
    await job.remove().catch(() => undefined);
  }
  await queue.add('deliver', { operationId }, { jobId });
}

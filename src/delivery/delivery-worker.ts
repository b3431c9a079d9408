import { DelayedError, Job, Worker } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { JOB_LOCK } from '../queueing/job-lock';
import { RetryLaterError } from '../errors/retry-later-error';
import { pbBackoffStrategy } from '../queueing/backoff-strategy';
import { countJobFault } from '../queueing/job-faults';
import { bullPrefix } from '../queueing/bull-prefix';
import { DELIVERY_QUEUE, DeliveryJobData } from './delivery-queue';
import { DeliveryService, DeliveryStep, deliveryBackoff } from './delivery-service';
import { DELIVERY_FAULT_TRIES, countDeliveryFault } from './delivery-fault';
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';

/**
 * The `gateway-delivery` worker: runs DeliveryService for each job (jobId = operation id) and turns its
 * step into BullMQ control flow: done → complete; retry → throw (BullMQ retries with our backoff, no
 * attempt limit by default); wait → move to delayed without spending an attempt (a dependent waiting for its
 * authorization or for siblings then registers to be promoted when one of them moves: `DeliveryService.registerWait`). A fault of the bridge
 * (thrown, and neither a gateway answer nor a dependency outage) is retried the same way
 * until it has happened {@link DELIVERY_FAULT_TRIES} times, then the operation is set aside (`DeliveryService.setAside`).
 */
export function startDeliveryWorker(config: Config, connection: RedisClient, service: DeliveryService, logger: Logger): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(
    DELIVERY_QUEUE,
    async (job: Job<DeliveryJobData>, token?: string) => {
      let step: DeliveryStep;
      try {
        step = await service.deliver(job.data.operationId);
      } catch (err) {
        step = await afterFault(job, err, service, logger);
      }
      switch (step.kind) {
        case 'done':
          return step.state;
        case 'retry':
          throw new RetryLaterError(step.reason, step.retryAfterMs);
        case 'wait':
          await job.moveToDelayed(Date.now() + step.delayMs, token);
          // Registered once delayed, so a wake always finds the job delayed; what it waits for moved meanwhile: run now.
          if (step.waitsOn && !(await service.registerWait(job.data.operationId, step.waitsOn))) await job.promote().catch(() => undefined);
          throw new DelayedError();
      }
    },
    {
      connection,
      prefix: bullPrefix(config.redis.keyPrefix, DELIVERY_QUEUE),
      concurrency: config.delivery.concurrency,
      settings: { backoffStrategy: pbBackoffStrategy(deliveryBackoff(config)) },
      ...JOB_LOCK,
    },
  );
  worker.on('error', (err) => logger.warn('delivery worker error', { error: err.message }));
  return worker;
}

/**
 * A delivery that threw: a dependency outage is retried with backoff for as long as it lasts; any other
 * error is counted on the job and retried until it has happened {@link DELIVERY_FAULT_TRIES} times, then the operation is set aside.
 */
async function afterFault(job: Job<DeliveryJobData>, err: unknown, service: DeliveryService, logger: Logger): Promise<DeliveryStep> {
  if (isDependencyOutage(err)) throw err;
  const { faults, last } = await countJobFault(job, DELIVERY_FAULT_TRIES);
  if (last) return service.setAside(job.data.operationId, err);
  countDeliveryFault('retried');
  logger.warn('delivery threw a fault of the bridge (not a gateway answer, not an outage); retrying', {
    operation_id: job.data.operationId,
    error_class: errorClassOf(err),
    error: err instanceof Error ? err.message : String(err),
    faults,
    tries: DELIVERY_FAULT_TRIES,
  });
  // BullMQ keeps a failure's message and stack in Redis: its class only, never a message that may quote input.
  throw new Error(`delivery_fault: ${errorClassOf(err)}`);
}

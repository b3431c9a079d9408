import { DelayedError, Job, Worker } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { JOB_LOCK } from '../queueing/job-lock';
import { RetryLaterError } from '../errors/retry-later-error';
import { pbBackoffStrategy } from '../queueing/backoff-strategy';
import { bullPrefix } from '../queueing/bull-prefix';
import { DELIVERY_QUEUE, DeliveryJobData } from './delivery-queue';
import { DeliveryService, deliveryBackoff } from './delivery-service';

/**
 * The `gateway-delivery` worker: runs DeliveryService for each job (jobId = operation id) and turns its
 * step into BullMQ control flow: done → complete; retry → throw (BullMQ retries with our backoff, no
 * attempt limit by default); wait → move to delayed without spending an attempt.
 */
export function startDeliveryWorker(config: Config, connection: RedisClient, service: DeliveryService, logger: Logger): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(
    DELIVERY_QUEUE,
    async (job: Job<DeliveryJobData>, token?: string) => {
      const step = await service.deliver(job.data.operationId);
      switch (step.kind) {
        case 'done':
          return step.state;
        case 'retry':
          throw new RetryLaterError(step.reason, step.retryAfterMs);
        case 'wait':
          await job.moveToDelayed(Date.now() + step.delayMs, token);
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

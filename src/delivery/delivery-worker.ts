import { JOB_LOCK } from './job-lock';
import { DelayedError, Job, Worker } from 'bullmq';
import Redis from 'ioredis';
import { Config } from '../config/config';
import { GatewayError } from '../errors/gateway-error';
import { Logger } from '../logging/logger';
import { BackoffPolicy, backoffDelay } from './backoff';
import { DELIVERY_QUEUE, DeliveryJobData, bullPrefix } from './delivery-queue';
import { DeliveryService } from './delivery-service';

/** A retryable delivery failure; carries the server's Retry-After for the backoff strategy. */
export class DeliveryRetryError extends Error {
  constructor(
    message: string,
    readonly floorMs = 0,
  ) {
    super(message);
    this.name = 'DeliveryRetryError';
  }
}

/**
 * BullMQ backoff strategy shared by our workers (`backoff: { type: 'pb-backoff' }`): capped exponential
 * with jitter; BullMQ counts the attempts, we only say how long to wait.
 */
export function pbBackoffStrategy(policy: BackoffPolicy) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    const floor = err instanceof DeliveryRetryError ? err.floorMs : err instanceof GatewayError ? (err.details.retryAfterMs ?? 0) : 0;
    return backoffDelay(attemptsMade, policy, floor);
  };
}

/**
 * The `gateway-delivery` worker: runs DeliveryService for each job (jobId = operation id) and turns its
 * step into BullMQ control flow: done → complete; retry → throw (BullMQ retries with our backoff, no
 * attempt limit by default); wait → move to delayed without spending an attempt.
 */
export function startDeliveryWorker(config: Config, connection: Redis, service: DeliveryService, logger: Logger): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(
    DELIVERY_QUEUE,
    async (job: Job<DeliveryJobData>, token?: string) => {
      const step = await service.deliver(job.data.operationId);
      switch (step.kind) {
        case 'done':
          return step.state;
        case 'retry':
          throw new DeliveryRetryError(step.reason, step.floorMs);
        case 'wait':
          await job.moveToDelayed(Date.now() + step.delayMs, token);
          throw new DelayedError();
      }
    },
    {
      connection,
      prefix: bullPrefix(config.redis.keyPrefix),
      concurrency: config.delivery.concurrency,
      settings: { backoffStrategy: pbBackoffStrategy({ baseMs: config.delivery.backoffBaseMs, maxMs: config.delivery.backoffMaxMs }) },
      ...JOB_LOCK,
    },
  );
  worker.on('error', (err) => logger.warn('delivery worker error', { error: err.message }));
  return worker;
}

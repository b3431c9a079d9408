import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { bullPrefix } from '../queueing/bull-prefix';
import type { FaultCount } from '../queueing/job-faults';

/** Name of the BullMQ queue that carries operations to their gateway. */
export const DELIVERY_QUEUE = 'gateway-delivery';

/**
 * Job payload: the operation id (the payment itself lives in the ledger, never in the queue); `faults`: the
 * faults of the bridge it met (`src/delivery/delivery-fault.ts`).
 */
export interface DeliveryJobData extends FaultCount {
  operationId: string;
}

/** The producer side of `gateway-delivery`, shared by the consumer and the poller. */
export function createDeliveryQueue(connection: RedisClient, keyPrefix: string): Queue<DeliveryJobData> {
  return new Queue<DeliveryJobData>(DELIVERY_QUEUE, {
    connection,
    prefix: bullPrefix(keyPrefix, DELIVERY_QUEUE),
    defaultJobOptions: {
      // "Keep trying until delivered": BullMQ counts attempts; delivery.max_age_ms bounds them in time.
      attempts: Number.MAX_SAFE_INTEGER,
      backoff: { type: 'pb-backoff' },
      // The ledger is the record; completed jobs only need to live long enough to dedupe redeliveries.
      removeOnComplete: { age: 3600, count: 100000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
}

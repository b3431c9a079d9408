import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { bullPrefix } from '../queueing/bull-prefix';

/** Name of the BullMQ queue that carries operations to their gateway. */
export const DELIVERY_QUEUE = 'gateway-delivery';

/** Job payload: only the operation id. The payment itself lives in the ledger, never in the queue. */
export interface DeliveryJobData {
  operationId: string;
  /** Faults of the bridge this job has met so far (see `src/delivery/delivery-fault.ts`); absent: none. */
  faults?: number;
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

import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { bullPrefix } from '../queueing/bull-prefix';
import type { FaultCount } from '../queueing/job-faults';

/** The BullMQ queue of notifications waiting to reach the bus delegate URL. */
export const OMS_EVENTS_QUEUE = 'oms-events';

/**
 * Job payload: the event id; the event itself is in the outbox (EventStore). `faults`: the content refusals
 * of the bus (or unreadable records) it met (`event-rejection.ts`).
 */
export interface OmsEventJobData extends FaultCount {
  eventId: string;
  /** An operator's resend of a set-aside event: sent although the payment's watermark is already past it. */
  resend?: boolean;
  /**
   * The outcome recorder confirmed the event on `redis.replica_acks` replicas before queuing it: the sender does
   * not wait for them again. Absent (the recovery sweep's revivals, an operator's resend, any job without the
   * setting): with the setting, the sender confirms it before sending (`eventReplicaShortfall`).
   */
  replicated?: boolean;
}

export function createOmsEventsQueue(connection: RedisClient, keyPrefix: string): Queue<OmsEventJobData> {
  return new Queue<OmsEventJobData>(OMS_EVENTS_QUEUE, {
    connection,
    prefix: bullPrefix(keyPrefix, OMS_EVENTS_QUEUE),
    defaultJobOptions: {
      // Retried until delivered: the bus being down for a day must not lose an event.
      attempts: Number.MAX_SAFE_INTEGER,
      backoff: { type: 'pb-backoff' },
      removeOnComplete: { age: 24 * 3600, count: 200000 },
      removeOnFail: false,
    },
  });
}

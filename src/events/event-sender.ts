import { JOB_LOCK } from '../queueing/job-lock';
import { DelayedError, Job, Worker } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { pbBackoffStrategy } from '../queueing/backoff-strategy';
import { bullPrefix } from '../queueing/bull-prefix';
import { Logger } from '../logging/logger';
import { NotificationSender, sendLeaseMs, sendLeasedEvent } from './event-send';
import { EventStore } from './event-store';
import { OMS_EVENTS_QUEUE, OmsEventJobData } from './oms-events-queue';

/** How long an event waits for an earlier event of the same payment before it looks again, ms. */
const ORDER_WAIT_MS = 100;

/**
 * The `oms-events` worker: sends each recorded event to the bus, in sequence order per payment, retrying
 * with backoff until the bus has it. An event whose predecessor has not been delivered yet waits (without
 * spending an attempt); a repeat of an event already delivered is dropped. The notification carries its
 * `event_id` and `sequence`, so the OMS drops the rare duplicate (sent, then a crash before the ack).
 */
export function startEventSender(
  config: Config,
  connection: RedisClient,
  deps: { events: EventStore; sender: NotificationSender; logger: Logger },
): Worker<OmsEventJobData> {
  const worker = new Worker<OmsEventJobData>(
    OMS_EVENTS_QUEUE,
    async (job: Job<OmsEventJobData>, token?: string) => {
      const event = await deps.events.load(job.data.eventId);
      if (!event) {
        deps.logger.error('event job without a recorded event; dropping it', { event_id: job.data.eventId });
        return 'missing';
      }
      const sent = await deps.events.sentWatermark(event.paymentKey);
      if (sent >= event.sequence) {
        await deps.events.markSent(event.paymentKey, event.sequence, event.eventId);
        return 'already-sent';
      }
      if (sent < event.sequence - 1) {
        await job.moveToDelayed(Date.now() + ORDER_WAIT_MS, token);
        throw new DelayedError();
      }
      // Someone else (the inline fast path) is sending it right now: look again shortly.
      if (!(await deps.events.claim(event.eventId, sendLeaseMs(config)))) {
        await job.moveToDelayed(Date.now() + ORDER_WAIT_MS, token);
        throw new DelayedError();
      }
      await sendLeasedEvent(deps.events, deps.sender, event, event.sequence);
      return 'sent';
    },
    {
      connection,
      prefix: bullPrefix(config.redis.keyPrefix, OMS_EVENTS_QUEUE),
      concurrency: config.events.concurrency,
      settings: { backoffStrategy: pbBackoffStrategy({ baseMs: config.events.backoffBaseMs, maxMs: config.events.backoffMaxMs }) },
      ...JOB_LOCK,
    },
  );
  worker.on('error', (err) => deps.logger.warn('event sender error', { error: err.message }));
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade % 10 === 1)
      deps.logger.warn('event not delivered yet; retrying', { event_id: job.data.eventId, attempts: job.attemptsMade, error: err.message });
  });
  return worker;
}

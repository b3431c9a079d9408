import { Worker } from 'bullmq';
import { Config } from '../../../src/config/config';
import { NotificationSender, sendLeaseMs, sendLeasedEvent } from '../../../src/events/event-send';
import { startEventSender } from '../../../src/events/event-sender';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { PaymentEvent, shardOfEvent } from '../../../src/events/payment-event';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { bullJobId } from '../../../src/queueing/job-id';
import { testConfig } from '../../support/test-config';
import { captureLogger } from '../../support/capture-logger';

/**
 * The money-truth drill (seed 441, Redis Cluster primaries SIGSTOPped until replaced): a refund refused locally
 * (FAILED) never reached the bus. An event of its payment had been recorded on a primary that was then demoted
 * (its record and the counter's INCR dropped) after the bus got it and its sent mark reached the new primary. The
 * refund's event was then given the same sequence as the mark: the recorder saw it as delivered, the send job
 * completed as `already-sent`, and the OMS never heard of it. Here the dropped writes are deleted by hand.
 */
let config: Config;
let redis: RedisClient;
let events: EventStore;

beforeAll(() => {
  config = testConfig({ 'service_bus.timeout_ms': 2000 });
  redis = createRedis(config.redis, 'commands');
  events = new EventStore(redis, config.redis.keyPrefix);
});

afterAll(() => redis.disconnect());

const paymentKey = 'pay-lost-record';
function event(id: string): PaymentEvent {
  return { eventId: id, paymentKey, method: 'magento.payments.payments_management.failed', params: { payment: { operation_reference: id } } };
}

/** A primary demoted after a failover drops `e`'s recording (its hash and the counter's INCR), not the sent mark. */
async function dropRecording(e: PaymentEvent, sequence: number): Promise<void> {
  const keys = shardKeysOf(config.redis.keyPrefix)[shardOfEvent(e)];
  await redis.del(keys.event(e.eventId));
  await redis.zrem(keys.unsentEvents, e.eventId);
  await redis.set(keys.paymentSequence(paymentKey), String(sequence - 1));
}

it('an event recorded after a lost recording whose sent mark survived gets a sequence above the mark, and is sent', async () => {
  const sender: NotificationSender & { sent: string[] } = {
    sent: [],
    notify: async (_m, params) => void sender.sent.push(String((params.payment as { event_id: string }).event_id)),
  };
  const first = event('lost-record-1.SUCCEEDED');
  const one = await events.recordAndCheck(first, Date.now(), sendLeaseMs(config));
  await sendLeasedEvent(events, sender, first, one.sequence);
  const lost = event('lost-record-2.SUCCEEDED');
  const two = await events.recordAndCheck(lost, Date.now(), sendLeaseMs(config));
  await sendLeasedEvent(events, sender, lost, two.sequence);
  await dropRecording(lost, two.sequence);
  const before = await metricValue('pb_event_sequences_raised_total');

  const refund = event('lost-record-3.FAILED');
  const recorded = await events.recordAndCheck(refund, Date.now());
  expect(recorded.sequence).toBe(two.sequence + 1);
  expect(recorded.sent).toBe(two.sequence);
  expect(await metricValue('pb_event_sequences_raised_total')).toBe(before + 1);
  // Recorded again (a retry): the same sequence, no second raise.
  expect((await events.recordAndCheck(refund, Date.now())).sequence).toBe(recorded.sequence);
  expect(await metricValue('pb_event_sequences_raised_total')).toBe(before + 1);

  // The queued sender posts it (on the old counter it completed as already sent, posting nothing).
  const { logger } = captureLogger('info');
  const queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const blocking = createRedis(config.redis, 'blocking');
  let worker: Worker<OmsEventJobData> | undefined;
  try {
    const done = new Promise<unknown>((resolve, reject) => {
      worker = startEventSender(config, blocking, { events, sender, logger });
      worker.on('completed', (job, result) => job.data.eventId === refund.eventId && resolve(result));
      worker.on('failed', (_job, err) => reject(err));
    });
    await queue.add('notify', { eventId: refund.eventId }, { jobId: bullJobId(refund.eventId) });
    expect(await done).toBe('sent');
  } finally {
    await worker?.close();
    await queue.close();
    blocking.disconnect();
  }
  expect(sender.sent).toEqual([first.eventId, lost.eventId, refund.eventId]);
});

import { RedisClient } from '../../../src/redis/redis-connection';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { sweepOnce } from '../../../src/delivery/recovery-sweep';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { unlinkMatching } from '../../../src/redis/key-scan';

/** A digits-only operation reference must not stop the recovery sweep (BullMQ refuses integer job ids). */
describe('the recovery sweep with a digits-only operation reference', () => {
  const prefix = `${testNamespace()}:`;
  let redis: RedisClient;
  let ledger: Ledger;
  let events: EventStore;
  let deliveryQueue: ReturnType<typeof createDeliveryQueue>;
  let eventsQueue: ReturnType<typeof createOmsEventsQueue>;

  const command = (ref: string): PaymentCommand => ({
    version: 1,
    command: 'authorize',
    channel: 'web',
    received_at: '2024-06-01T10:00:00.000Z',
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'pm_card_visa',
      amount: 1000,
      currency: 'EUR',
      order_id: `o-${ref}`,
      operation_reference: ref,
    },
  });

  beforeAll(() => {
    redis = testRedis();
    ledger = new Ledger(redis, prefix);
    events = new EventStore(redis, prefix);
    deliveryQueue = createDeliveryQueue(redis, prefix);
    eventsQueue = createOmsEventsQueue(redis, prefix);
  });

  afterAll(async () => {
    await deliveryQueue.obliterate({ force: true });
    await eventsQueue.obliterate({ force: true });
    await deliveryQueue.close();
    await eventsQueue.close();
    await unlinkMatching(redis, `${prefix}*`);
    await redis.quit();
  });

  it('queues a stale digits-only operation (job id #<digits>) and the others of the same pass', async () => {
    const t0 = 1_000_000;
    await ledger.create('100000123', command('100000123'), t0);
    await ledger.create('sw-after-digits', command('sw-after-digits'), t0);
    const report = await sweepOnce({ ledger, events, deliveryQueue, eventsQueue }, 1000, t0 + 5000);
    expect(report.operations).toBe(2);
    expect(await deliveryQueue.getJob('#100000123')).toBeDefined();
    expect(await deliveryQueue.getJob('sw-after-digits')).toBeDefined();
  });
});

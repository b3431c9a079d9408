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

/**
 * The safety net under the worker's fast path, on a real Redis and real BullMQ queues: an
 * operation left in RECEIVED/SENT and an event left unsent by a dead worker are queued once they are
 * stale, and not again on the next pass while the queue has them.
 */
describe('the recovery sweep on a real Redis', () => {
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

  it('queues stale RECEIVED and SENT operations and unsent events once, and leaves fresh and finished ones alone', async () => {
    const t0 = 1_000_000;
    await ledger.create('sw-received', command('sw-received'), t0);
    await ledger.create('sw-sent', command('sw-sent'), t0);
    await ledger.transition('sw-sent', 'SENT', { event: 'attempt' }, { countAttempt: true }, t0);
    await ledger.create('sw-done', command('sw-done'), t0);
    await ledger.transition('sw-done', 'SENT', { event: 'attempt' }, { countAttempt: true }, t0);
    expect((await ledger.transition('sw-done', 'SUCCEEDED', { event: 'outcome' }, {}, t0)).applied).toBe(true);
    await ledger.create('sw-fresh', command('sw-fresh'), t0 + 50_000);
    const pending = { eventId: 'sw-sent.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-sw-sent', method: 'm', params: {} };
    const delivered = { eventId: 'sw-done.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-sw-done', method: 'm', params: {} };
    expect(await events.recordAndCheck(pending, t0)).toMatchObject({ sequence: 1, sent: 0 });
    const { sequence } = await events.recordAndCheck(delivered, t0);
    await events.markSent(delivered.paymentKey, sequence, delivered.eventId);

    const report = await sweepOnce({ ledger, events, deliveryQueue, eventsQueue }, 10_000, t0 + 20_000);
    expect(report).toEqual({ operations: 2, events: 1, settled: 0 });
    expect(await deliveryQueue.getJob('sw-received')).toBeDefined();
    expect(await deliveryQueue.getJob('sw-sent')).toBeDefined();
    expect(await deliveryQueue.getJob('sw-done')).toBeUndefined();
    expect(await deliveryQueue.getJob('sw-fresh')).toBeUndefined();
    expect(await eventsQueue.getJob('sw-sent.SUCCEEDED')).toBeDefined();

    // Their scores moved to the sweep time: the next pass leaves them to the queue.
    expect(await sweepOnce({ ledger, events, deliveryQueue, eventsQueue }, 10_000, t0 + 25_000)).toEqual({ operations: 0, events: 0, settled: 0 });
    expect(await ledger.get('sw-sent')).toMatchObject({ state: 'SENT', attempts: 1 });
  });

  it('rescores only ids still in the state or still unsent: one that moved on or was delivered meanwhile is not put back', async () => {
    const t0 = 3_000_000;
    await ledger.create('rs-stays', command('rs-stays'), t0);
    await ledger.create('rs-moves', command('rs-moves'), t0);
    await ledger.transition('rs-moves', 'SENT', { event: 'attempt' }, { countAttempt: true }, t0);
    await ledger.rescoreInState('RECEIVED', ['rs-stays', 'rs-moves'], t0 + 5);
    expect(await ledger.idsInState('RECEIVED', t0 + 5)).toEqual(expect.arrayContaining(['rs-stays']));
    expect(await ledger.idsInState('RECEIVED')).not.toContain('rs-moves');
    expect(await ledger.idsInState('RECEIVED', t0 + 4)).not.toContain('rs-stays');

    const unsent = { eventId: 'rs-unsent.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-rs', method: 'm', params: {} };
    const done = { eventId: 'rs-done.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-rs2', method: 'm', params: {} };
    await events.recordAndCheck(unsent, t0);
    await events.markSent(done.paymentKey, (await events.recordAndCheck(done, t0)).sequence, done.eventId);
    await events.rescoreUnsent([unsent.eventId, done.eventId], t0 + 5);
    expect(await events.unsentBefore(t0 + 4)).not.toContain(unsent.eventId);
    expect(await events.unsentBefore(t0 + 5)).toContain(unsent.eventId);
    expect(await events.unsentBefore(Number.MAX_SAFE_INTEGER)).not.toContain(done.eventId);
  });

  it('settles an operation decided in the ledger whose event was never recorded (a crash in between)', async () => {
    const t0 = 2_000_000;
    await ledger.create('st-lost', command('st-lost'), t0);
    await ledger.transition('st-lost', 'SENT', { event: 'attempt' }, { countAttempt: true }, t0);
    // The recorder marks the operation in its outcome transition; the worker dies before the outbox write.
    await ledger.transitionAndGet('st-lost', 'SUCCEEDED', { event: 'outcome' }, {}, { markSettling: true, now: t0 });
    await ledger.create('st-fresh', command('st-fresh'), t0);
    await ledger.transitionAndGet('st-fresh', 'SENT', { event: 'attempt' }, { countAttempt: true }, { markSettling: true, now: t0 + 50_000 });
    const settled: string[] = [];
    const settle = async (id: string) => {
      settled.push(id);
      await ledger.markSettled(id);
    };
    const report = await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, settle }, 10_000, t0 + 20_000);
    expect(report.settled).toBe(1);
    expect(settled).toEqual(['st-lost']);
    expect(await ledger.settlingBefore(t0 + 20_000)).toEqual([]);
    await ledger.markSettled('st-fresh');
  });

  it('records an event once and reports the watermark with it', async () => {
    const e1 = { eventId: 'wm-1.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-wm', method: 'm', params: { a: 1 } };
    const e2 = { eventId: 'wm-2.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-wm', method: 'm', params: { a: 2 } };
    expect(await events.recordAndCheck(e1)).toMatchObject({ sequence: 1, sent: 0 });
    expect(await events.recordAndCheck(e2)).toMatchObject({ sequence: 2, sent: 0 });
    await events.markSent(e1.paymentKey, 1, e1.eventId);
    expect(await events.recordAndCheck(e2)).toMatchObject({ sequence: 2, sent: 1 });
    expect(await events.unsentBefore(Number.MAX_SAFE_INTEGER)).toEqual(expect.arrayContaining(['wm-2.SUCCEEDED']));
    expect(await events.unsentBefore(Number.MAX_SAFE_INTEGER)).not.toContain('wm-1.SUCCEEDED');
  });

  it('lets one sender at a time hold an event, and only once its turn has come', async () => {
    const e1 = { eventId: 'ls-1.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-ls', method: 'm', params: {} };
    const e2 = { eventId: 'ls-2.SUCCEEDED', paymentKey: 'simulator:acme-eu:o-ls', method: 'm', params: {} };
    expect(await events.recordAndCheck(e1, Date.now(), 10_000)).toEqual({ sequence: 1, sent: 0, claimed: true });
    expect(await events.recordAndCheck(e2, Date.now(), 10_000)).toEqual({ sequence: 2, sent: 0, claimed: false });
    expect(await events.recordAndCheck(e1, Date.now(), 10_000)).toEqual({ sequence: 1, sent: 0, claimed: false });
    expect(await events.claim(e1.eventId, 10_000)).toBe(false);
    await events.release(e1.eventId);
    expect(await events.claim(e1.eventId, 10_000)).toBe(true);
  });
});

/**
 * The recovery sweep settles operations decided in the ledger whose event was never recorded, oldest mark
 * first. One whose settle faults (its record gone, or a record that does not decode) must not hold up the
 * marks behind it nor the event stages of the pass: it is set aside on its own, counted and logged. A
 * dependency outage still fails the pass.
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { sweepOnce } from '../../../src/delivery/recovery-sweep';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { bullJobId } from '../../../src/queueing/job-id';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ShardKeys } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const STALE_MS = 10_000;

let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let events: EventStore;
let deliveryQueue: Queue<DeliveryJobData>;
let eventsQueue: Queue<OmsEventJobData>;

beforeAll(() => {
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789' } },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await deliveryQueue.close();
  await eventsQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** An operation decided SUCCEEDED at `at` whose event was never recorded (the worker died in between). */
async function decidedUnrecorded(at: number): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command, at);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true }, at);
  await ledger.transitionAndGet(id, 'SUCCEEDED', { event: 'outcome' }, {}, { markSettling: true, now: at });
  return id;
}

async function opKey(id: string): Promise<string> {
  return new ShardKeys(config.redis.keyPrefix, (await ledger.shardOf(id)) ?? 0).op(id);
}

/** An operation created at `at` and left in RECEIVED (its worker died before its job ran). */
async function receivedAt(at: number): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command, at);
  return id;
}

/** A recorded event no worker sent (its sender died), recorded at `at`. */
async function unsentEvent(at: number): Promise<string> {
  // The time in base 36: 13 decimal digits pass the Luhn check one time in ten, and the log masks them as a card number.
  const eventId = `sf-${at.toString(36)}-${Math.random().toString(36).slice(2)}.SUCCEEDED`;
  await events.recordAndCheck({ eventId, paymentKey: `simulator:acme-eu:o-${eventId}`, method: 'm', params: {} }, at);
  return eventId;
}

describe('the recovery sweep meeting a settling mark it cannot settle', () => {
  it('drops the mark of a vanished record, postpones an undecodable one, still settles the marks behind them and revives unsent events', async () => {
    const logs = captureLogger('info');
    const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
    const t0 = Date.now() - 60_000;
    const now = t0 + 20_000;
    const gone = await decidedUnrecorded(t0);
    await redis.del(await opKey(gone));
    const garbled = await decidedUnrecorded(t0 + 1);
    await redis.hset(await opKey(garbled), 'payment', '{"amount":');
    const good = await decidedUnrecorded(t0 + 2);
    const eventId = await unsentEvent(t0);
    const dropped = await metricValue('pb_recovery_sweep_faults_total', { stage: 'settle', outcome: 'dropped' });
    const postponed = await metricValue('pb_recovery_sweep_faults_total', { stage: 'settle', outcome: 'postponed' });

    const report = await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, settle: (id) => recorder.settle(id), logger: logs.logger }, STALE_MS, now);

    expect(report.settled).toBe(1);
    expect(report.events).toBeGreaterThanOrEqual(1);
    expect(await eventsQueue.getJob(bullJobId(eventId))).toBeDefined();
    // The good one settled; the vanished one's mark is gone; the undecodable one waits behind the others.
    const marks = await ledger.settlingBefore(Number.MAX_SAFE_INTEGER);
    expect(marks).not.toContain(good);
    expect(marks).not.toContain(gone);
    expect(marks).toContain(garbled);
    expect(await ledger.settlingBefore(now - 1)).not.toContain(garbled);
    expect(await metricValue('pb_recovery_sweep_faults_total', { stage: 'settle', outcome: 'dropped' })).toBe(dropped + 1);
    expect(await metricValue('pb_recovery_sweep_faults_total', { stage: 'settle', outcome: 'postponed' })).toBe(postponed + 1);
    const errorLine = (id: string) => logs.lines.find((l) => l.includes('"level":"error"') && l.includes(id));
    expect(errorLine(gone)).toContain('"error_class":"Error"');
    expect(errorLine(garbled)).toContain('"error_class":"SyntaxError"');

    // The next pass within the stale time leaves the undecodable one alone; once stale again, it is tried again.
    expect((await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, settle: (id) => recorder.settle(id) }, STALE_MS, now + 5_000)).settled).toBe(0);
    expect(await metricValue('pb_recovery_sweep_faults_total', { stage: 'settle', outcome: 'postponed' })).toBe(postponed + 1);
    await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, settle: (id) => recorder.settle(id) }, STALE_MS, now + STALE_MS);
    expect(await metricValue('pb_recovery_sweep_faults_total', { stage: 'settle', outcome: 'postponed' })).toBe(postponed + 2);
    await ledger.markSettled(garbled);
  });

  it('fails the pass on a dependency outage while settling, after the event stage has revived unsent events, and keeps the mark', async () => {
    const t0 = Date.now() - 200_000;
    const id = await decidedUnrecorded(t0);
    const eventId = await unsentEvent(t0);
    const settle = async (): Promise<never> => {
      throw new DependencyUnavailableError('redis', 'connection is closed');
    };

    await expect(sweepOnce({ ledger, events, deliveryQueue, eventsQueue, settle }, STALE_MS, t0 + 20_000)).rejects.toThrow(DependencyUnavailableError);

    expect(await eventsQueue.getJob(bullJobId(eventId))).toBeDefined();
    expect(await ledger.settlingBefore(t0)).toContain(id);
    await ledger.markSettled(id);
  });
});

describe('the recovery sweep meeting a job record it cannot read', () => {
  it('replaces a job whose record does not decode, postpones one whose key holds another type, and still revives every other operation and event', async () => {
    const logs = captureLogger('info');
    const t0 = Date.now() - 400_000;
    const now = t0 + 20_000;
    const undecodable = await receivedAt(t0);
    const wrongType = await receivedAt(t0 + 1);
    const good = await receivedAt(t0 + 2);
    const undecodableEvent = await unsentEvent(t0);
    const wrongTypeEvent = await unsentEvent(t0 + 1);
    const goodEvent = await unsentEvent(t0 + 2);
    // A job hash whose data is cut short, and a job key that is not a hash at all.
    await redis.hset(deliveryQueue.toKey(bullJobId(undecodable)), 'name', 'deliver', 'data', '{"operationId":');
    await redis.set(deliveryQueue.toKey(bullJobId(wrongType)), 'x');
    await redis.hset(eventsQueue.toKey(bullJobId(undecodableEvent)), 'name', 'notify', 'data', '{"eventId":');
    await redis.set(eventsQueue.toKey(bullJobId(wrongTypeEvent)), 'x');
    const postponedOps = await metricValue('pb_recovery_sweep_faults_total', { stage: 'revive_operation', outcome: 'postponed' });
    const postponedEvents = await metricValue('pb_recovery_sweep_faults_total', { stage: 'revive_event', outcome: 'postponed' });

    await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, logger: logs.logger }, STALE_MS, now);

    expect((await deliveryQueue.getJob(bullJobId(good)))?.data).toEqual({ operationId: good });
    expect((await deliveryQueue.getJob(bullJobId(undecodable)))?.data).toEqual({ operationId: undecodable });
    expect((await eventsQueue.getJob(bullJobId(goodEvent)))?.data).toEqual({ eventId: goodEvent });
    expect((await eventsQueue.getJob(bullJobId(undecodableEvent)))?.data).toEqual({ eventId: undecodableEvent });
    expect(logs.lines.find((l) => l.includes(undecodable) && l.includes('queued it again'))).toContain('"job_state":"unreadable"');
    expect(await metricValue('pb_recovery_sweep_faults_total', { stage: 'revive_operation', outcome: 'postponed' })).toBe(postponedOps + 1);
    expect(await metricValue('pb_recovery_sweep_faults_total', { stage: 'revive_event', outcome: 'postponed' })).toBe(postponedEvents + 1);
    const errorLine = (id: string) => logs.lines.find((l) => l.includes('"level":"error"') && l.includes(id));
    expect(errorLine(wrongType)).toContain('"error_class":"ReplyError"');
    expect(errorLine(wrongTypeEvent)).toContain('"error_class":"ReplyError"');
    // Every one is rescored: the next pass within the stale time leaves them alone.
    expect(await ledger.idsInState('RECEIVED', now - 1)).not.toEqual(expect.arrayContaining([wrongType]));
    expect(await events.unsentBefore(now - 1)).not.toEqual(expect.arrayContaining([wrongTypeEvent]));
    await redis.del(deliveryQueue.toKey(bullJobId(wrongType)));
    await redis.del(eventsQueue.toKey(bullJobId(wrongTypeEvent)));
  });
});

import { RedisClient } from '../../../src/redis/redis-connection';
import { Job, Queue, Worker } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { bullPrefix } from '../../../src/queueing/bull-prefix';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { startDeliveryWorker } from '../../../src/delivery/delivery-worker';
import { bullJobId } from '../../../src/queueing/job-id';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { sweepOnce } from '../../../src/delivery/recovery-sweep';
import { startEventSender } from '../../../src/events/event-sender';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * A BullMQ job can be gone while its operation (or event) still needs it: a handler whose lock lapsed (a
 * loaded host) keeps running while BullMQ re-runs the job elsewhere; the re-run completes the job, then the
 * first handler moves the operation back to UNKNOWN and its own retry is refused (its lock is gone). A
 * completed job keeps its id for an hour, so a plain `add` with that id is a no-op. These tests leave an
 * operation/event with a completed (or no) job and check that the poller/sweep queues it again, and that
 * it is then delivered exactly once.
 */
const API_KEY = 'sim-lost-jobs-test-key-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let blocking: RedisClient;
let ledger: Ledger;
let events: EventStore;
let deliveryQueue: Queue<DeliveryJobData>;
let eventsQueue: Queue<OmsEventJobData>;
const workers: Worker[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    'poller.schedule_ms': [1, 60_000, 60_000],
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-lost-jobs-test-0123456789', timeout_ms: 2000 } },
  });
  redis = createRedis(config.redis, 'commands');
  blocking = createRedis(config.redis, 'blocking');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

afterAll(async () => {
  await deliveryQueue.close();
  await eventsQueue.close();
  redis.disconnect();
  blocking.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

function recorder(): OutcomeRecorder {
  return new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: captureLogger('info').logger });
}

/** Runs the real delivery worker on the test namespace. */
function runDeliveryWorker(): void {
  const logger = captureLogger('info').logger;
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder: recorder(), logger });
  workers.push(startDeliveryWorker(config, blocking, service, logger));
}

/** Puts a job with `jobId` on `queueName` and completes it, as a worker would: the id is now held by a finished job. */
async function completedJob(queueName: string, name: string, data: object, jobId: string): Promise<void> {
  const queue = new Queue(queueName, { connection: redis, prefix: bullPrefix(config.redis.keyPrefix, queueName) });
  await queue.add(name, data, { jobId, removeOnComplete: { age: 3600 } });
  const worker = new Worker(queueName, null, { connection: blocking.duplicate(), prefix: bullPrefix(config.redis.keyPrefix, queueName), autorun: false });
  const token = 'test-token';
  const job = (await worker.getNextJob(token)) as Job | undefined;
  expect(job?.id).toBe(jobId);
  await job!.moveToCompleted('SUCCEEDED', token, false);
  expect(await job!.getState()).toBe('completed');
  await worker.close();
  await queue.close();
}

// Each wait crosses BullMQ and the PSP simulator (a job picked up by a worker just started, its HTTP call): 8 s was
// within reach of a loaded CI machine.
async function until(what: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An authorization that never reached the PSP, left in UNKNOWN (its answer was lost) and due for a poll. */
async function unknownWithoutTrace(): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
  return id;
}

function poller(logger = captureLogger('info').logger): Poller {
  // A variable, not a literal: the deps type may predate `deliveryQueue`.
  const deps = { config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder: recorder(), logger, deliveryQueue };
  return new Poller(deps);
}

describe('operations and events whose job was lost', () => {
  it('an UNKNOWN operation the PSP has no trace of, whose delivery job completed, is resent by the next poll: settled, one money effect, counted and logged', async () => {
    const id = await unknownWithoutTrace();
    await completedJob('gateway-delivery', 'deliver', { operationId: id }, bullJobId(id));
    const revivedBefore = await metricValue('pb_operations_revived_total', { state: 'UNKNOWN' });
    const log = captureLogger('info');
    await poller(log.logger).runOnce();
    runDeliveryWorker();
    await until(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(sim.counters().effects[id]).toBe(1);
    expect(await metricValue('pb_operations_revived_total', { state: 'UNKNOWN' })).toBe(revivedBefore + 1);
    expect(log.lines.some((l) => l.includes('no live delivery job') && l.includes(id) && l.includes('"warn"'))).toBe(true);
  });

  it('an UNKNOWN operation whose delivery job is gone altogether (removed) is queued again by the next poll and settled once', async () => {
    const id = await unknownWithoutTrace();
    await poller().runOnce();
    runDeliveryWorker();
    await until(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(sim.counters().effects[id]).toBe(1);
  });

  it('an UNKNOWN operation with a live (delayed) delivery job keeps that one job: the poll promotes it, adds none, counts no revival', async () => {
    const id = await unknownWithoutTrace();
    await deliveryQueue.add('deliver', { operationId: id }, { jobId: bullJobId(id), delay: 600_000 });
    const revivedBefore = await metricValue('pb_operations_revived_total', { state: 'UNKNOWN' });
    await poller().runOnce();
    expect(await (await deliveryQueue.getJob(bullJobId(id)))?.getState()).toBe('waiting');
    expect(await metricValue('pb_operations_revived_total', { state: 'UNKNOWN' })).toBe(revivedBefore);
    runDeliveryWorker();
    await until(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
    expect(sim.counters().effects[id]).toBe(1);
  });

  it('a stale SENT operation whose delivery job completed is queued again by the recovery sweep and settled once', async () => {
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await completedJob('gateway-delivery', 'deliver', { operationId: id }, bullJobId(id));
    const revivedBefore = await metricValue('pb_operations_revived_total', { state: 'SENT' });
    const report = await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, logger: captureLogger('info').logger }, 0, Date.now() + 1000);
    expect(report.operations).toBeGreaterThanOrEqual(1);
    runDeliveryWorker();
    await until(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(sim.counters().effects[id]).toBe(1);
    expect(await metricValue('pb_operations_revived_total', { state: 'SENT' })).toBeGreaterThanOrEqual(revivedBefore + 1);
  });

  it('an unsent event whose send job completed is queued again by the recovery sweep and delivered once', async () => {
    await eventsQueue.drain(true); // the earlier tests' outcome events: not this test's concern
    const eventId = `lost-event-${Date.now()}.SUCCEEDED`;
    await events.record({ eventId, paymentKey: `pay-${eventId}`, method: 'captured', params: { payment: { status: 'SUCCESS' } } });
    await completedJob('oms-events', 'notify', { eventId }, bullJobId(eventId));
    const revivedBefore = await metricValue('pb_events_revived_total');
    await sweepOnce({ ledger, events, deliveryQueue, eventsQueue, logger: captureLogger('info').logger }, 0, Date.now() + 1000);
    const sent: string[] = [];
    const logger = captureLogger('info').logger;
    workers.push(
      startEventSender(config, blocking, {
        events,
        logger,
        sender: { notify: async (_m, params) => void sent.push(String((params.payment as Record<string, unknown>).event_id)) },
      }),
    );
    await until(async () => sent.includes(eventId));
    await new Promise((r) => setTimeout(r, 300));
    // Only this one is asserted: the earlier tests' events, unsent here (no bus), go out in the same pass.
    expect(sent.filter((e) => e === eventId)).toEqual([eventId]);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(eventId);
    expect(await metricValue('pb_events_revived_total')).toBeGreaterThanOrEqual(revivedBefore + 1);
  });
});

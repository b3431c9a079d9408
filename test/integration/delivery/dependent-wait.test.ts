import { Queue, Worker } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { startDeliveryWorker } from '../../../src/delivery/delivery-worker';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { buildOutcomeRecorder } from '../../../src/poller/outcome-recorder-wiring';
import { bullJobId } from '../../../src/queueing/job-id';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * A capture whose authorization is not decided (PENDING at the PSP: an asynchronous method) waits without
 * spending attempts. Its re-checks must back off as the wait grows (not every `delivery.backoff_base_ms`
 * forever), and the authorization's outcome must wake it at once, so the back-off adds nothing once it settles.
 * Real Redis, the real delivery worker (BullMQ) and the PSP simulator, in the test's own namespace.
 */
const API_KEY = 'sim-dependent-wait-test-key-0123456789';

let sim: PspSimulator;

interface Stack {
  config: Config;
  redis: RedisClient;
  blocking: RedisClient;
  ledger: Ledger;
  recorder: OutcomeRecorder;
  service: DeliveryService;
  deliveryQueue: Queue<DeliveryJobData>;
  eventsQueue: Queue<OmsEventJobData>;
  worker?: Worker<DeliveryJobData>;
  lines: string[];
  /** When each check of a capture read its authorization (`Ledger.authorizationView`), by authorization id. */
  checks: Map<string, number[]>;
}
const stacks: Stack[] = [];

beforeAll(async () => {
  // `pm_async` answers `pending`, then settles (authorized) at the PSP after 100 ms; no webhook is sent (no URL):
  // the bridge's authorization stays PENDING until the test records its outcome.
  sim = await startPspSimulator({ apiKey: API_KEY, asyncDelayMs: 100 });
});

afterAll(async () => {
  for (const s of stacks) {
    await s.worker?.close();
    await s.deliveryQueue.close();
    await s.eventsQueue.close();
    s.redis.disconnect();
    s.blocking.disconnect();
    await purgeNamespace(s.config).catch(() => undefined);
  }
  await sim.stop();
});

/** A delivery stack (worker included) with its own namespace and delivery back-off. */
function stack(baseMs: number, maxMs: number): Stack {
  const config = testConfig({
    'delivery.backoff_base_ms': baseMs,
    'delivery.backoff_max_ms': maxMs,
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-dependent-wait-0123456789', timeout_ms: 2000 } },
  });
  const redis = createRedis(config.redis, 'commands');
  const blocking = createRedis(config.redis, 'blocking');
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const { logger, lines } = captureLogger('info');
  // As a worker process builds it (outcome-recorder-wiring.ts): what wires the wake.
  const { recorder } = buildOutcomeRecorder({
    config,
    redis,
    ledger,
    events,
    eventsQueue,
    deliveryQueue,
    logger,
    pipeline: { releaseFailed: async () => undefined, releaseSucceeded: async () => undefined },
  });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  const checks = new Map<string, number[]>();
  const view = ledger.authorizationView.bind(ledger);
  jest.spyOn(ledger, 'authorizationView').mockImplementation(async (authId, dependentId) => {
    checks.set(authId, [...(checks.get(authId) ?? []), Date.now()]);
    return view(authId, dependentId);
  });
  const s: Stack = { config, redis, blocking, ledger, recorder, service, deliveryQueue, eventsQueue, lines, checks };
  stacks.push(s);
  return s;
}

function startWorker(s: Stack): void {
  s.worker = startDeliveryWorker(s.config, s.blocking, s.service, captureLogger('error').logger);
}

/** An authorization the PSP answered `pending` (asynchronous method): PENDING in the ledger, with its PSP reference. */
async function pendingAuthorization(s: Stack): Promise<{ id: string; orderId: string }> {
  const command = channelCommand('authorize', {}, { gateway_key: 'pm_async', amount: 5000 });
  const id = command.payment.operation_reference!;
  await s.ledger.create(id, command);
  expect(await s.service.deliver(id)).toEqual({ kind: 'done', state: 'PENDING' });
  return { id, orderId: command.payment.order_id! };
}

/** A capture of `authId` created `agoMs` ago, queued for the delivery worker. */
async function queuedCapture(s: Stack, auth: { id: string; orderId: string }, agoMs = 0): Promise<string> {
  const command = channelCommand('capture', {}, { gateway_key: auth.id, amount: 3000, order_id: auth.orderId });
  const id = command.payment.operation_reference!;
  await s.ledger.create(id, command, Date.now() - agoMs);
  await s.deliveryQueue.add('deliver', { operationId: id }, { jobId: bullJobId(id) });
  return id;
}

/** Records the authorization's outcome as a webhook or the poller would: SUCCEEDED, the PSP's reference kept. */
async function authorizationSucceeds(s: Stack, authId: string): Promise<void> {
  const auth = (await s.ledger.get(authId))!;
  await s.recorder.apply(auth, { status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: auth.gatewayReference }, 'webhook');
}

async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return what();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `S op:<id>:waiters` (key-layout.ts `ShardKeys.waiters`), spelled out. */
function waitersKey(keys: { op(id: string): string }, id: string): string {
  return `${keys.op(id)}:waiters`;
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]);
}

describe('a capture waiting for its authorization', () => {
  it('is checked again with a delay that grows with its wait, not every delivery.backoff_base_ms', async () => {
    const s = stack(50, 60_000);
    const fresh = await pendingAuthorization(s);
    const old = await pendingAuthorization(s);
    const waitsBefore = await metricValue('pb_delivery_dependent_waits_total', { reason: 'authorization_pending' });
    // One just received, one received 20 s ago (its authorization PENDING since: an asynchronous method).
    await queuedCapture(s, fresh);
    await queuedCapture(s, old, 20_000);
    startWorker(s);
    await sleep(3_000);
    // Stopped (its job in hand finished) before reading: a check is listed when it starts and counted once it
    // decides, so one running between the two reads made them differ.
    await s.worker!.close();
    const freshChecks = s.checks.get(fresh.id) ?? [];
    const oldChecks = s.checks.get(old.id) ?? [];
    // At a fixed delay each would have been checked about every 100 ms here (the base, plus what moving a delayed job takes): ~30 times in 3 s.
    expect(freshChecks.length).toBeGreaterThanOrEqual(10);
    expect(freshChecks.length).toBeLessThan(26);
    // The first half second at the base, then a tenth of the wait: ~300 ms apart at 3 s.
    expect(Math.max(...gaps(freshChecks).slice(-3))).toBeGreaterThanOrEqual(200);
    // Waiting 20 s already: 2 s and more between checks.
    expect(oldChecks.length).toBeGreaterThanOrEqual(1);
    expect(oldChecks.length).toBeLessThanOrEqual(3);
    for (const gap of gaps(oldChecks)) expect(gap).toBeGreaterThanOrEqual(1_800);
    expect(await metricValue('pb_delivery_dependent_waits_total', { reason: 'authorization_pending' })).toBe(
      waitsBefore + freshChecks.length + oldChecks.length,
    );
  });

  it("is delivered as soon as its authorization's outcome is recorded, well before its backed-off check", async () => {
    // A base of 5 s: without a wake the capture would next be checked 5 s after its first check.
    const s = stack(5_000, 60_000);
    const auth = await pendingAuthorization(s);
    const captureId = await queuedCapture(s, auth);
    const wokenBefore = await metricValue('pb_delivery_dependents_woken_total', { state: 'SUCCEEDED' });
    startWorker(s);
    expect(await until(async () => (s.checks.get(auth.id) ?? []).length >= 1, 5_000)).toBe(true);
    await sleep(300); // the capture's job delayed and registered; the PSP settled the authorization (100 ms)
    expect((await s.ledger.get(captureId))?.state).toBe('RECEIVED');
    const recordedAt = Date.now();
    await authorizationSucceeds(s, auth.id);
    expect(await until(async () => (await s.ledger.get(captureId))?.state === 'SUCCEEDED', 4_000)).toBe(true);
    const tookMs = Date.now() - recordedAt;
    // Without the wake: 5 s after its first check, at least 4.7 s after the outcome. A loaded machine adds its delays.
    expect(tookMs).toBeLessThan(3_000);
    expect(sim.counters().effects[captureId]).toBe(1);
    // Checked once before the outcome, once after the wake: nothing in between.
    expect(s.checks.get(auth.id)).toHaveLength(2);
    expect(await metricValue('pb_delivery_dependents_woken_total', { state: 'SUCCEEDED' })).toBe(wokenBefore + 1);
    expect(s.lines.some((l) => l.includes('dependents woken') && l.includes(auth.id) && l.includes(captureId))).toBe(true);
  });

  it('is woken by any move of its authorization made through the ledger, not only by the outcome recorder', async () => {
    // A base of 5 s: without a wake the capture would next be checked 5 s after its first check.
    const s = stack(5_000, 60_000);
    // An authorization whose answer was lost: UNKNOWN, asked about by its own delivery job (none here).
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 5000 });
    const auth = { id: command.payment.operation_reference!, orderId: command.payment.order_id! };
    await s.ledger.create(auth.id, command);
    await s.ledger.transition(auth.id, 'SENT', { event: 'attempt' });
    await s.ledger.transition(auth.id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' });
    const keys = s.ledger.keysFor(auth.id, command.payment);
    const captureId = await queuedCapture(s, auth);
    const wokenPending = await metricValue('pb_delivery_dependents_woken_total', { state: 'PENDING' });
    const wokenFailed = await metricValue('pb_delivery_dependents_woken_total', { state: 'FAILED' });
    startWorker(s);
    expect(await until(async () => (await s.redis.sismember(waitersKey(keys, auth.id), captureId)) === 1, 5_000)).toBe(true);
    expect(s.checks.get(auth.id)).toHaveLength(1);

    // The delivery's own move when the PSP says it holds the request (delivery-service.ts): UNKNOWN → PENDING,
    // no outcome recorded. Checked again at once, it still waits: registered again, on PENDING now.
    const pendingAt = Date.now();
    await s.ledger.transition(auth.id, 'PENDING', { event: 'awaiting_webhook', cause: 'psp_has_request' }, { nextCheckAt: pendingAt + 60_000, pollStep: 0 });
    expect(await until(async () => (s.checks.get(auth.id) ?? []).length >= 2, 4_000)).toBe(true);
    expect(s.checks.get(auth.id)![1] - pendingAt).toBeLessThan(3_000);
    expect(await until(async () => (await s.redis.sismember(waitersKey(keys, auth.id), captureId)) === 1, 2_000)).toBe(true);
    expect(await metricValue('pb_delivery_dependents_woken_total', { state: 'PENDING' })).toBe(wokenPending + 1);
    expect(s.lines.some((l) => l.includes('dependents woken') && l.includes(auth.id) && l.includes(captureId) && l.includes('awaiting_webhook'))).toBe(true);

    // Decided by a mover other than the outcome recorder: the capture runs at once and is refused, nothing sent.
    const failedAt = Date.now();
    await s.ledger.transition(auth.id, 'FAILED', { event: 'outcome', source: 'operator' }, { reason: 'declined' });
    expect(await until(async () => (await s.ledger.get(captureId))?.state === 'FAILED', 4_000)).toBe(true);
    expect(Date.now() - failedAt).toBeLessThan(3_000);
    expect(s.checks.get(auth.id)).toHaveLength(3);
    expect(sim.counters().effects[captureId]).toBeUndefined();
    expect(await metricValue('pb_delivery_dependents_woken_total', { state: 'FAILED' })).toBe(wokenFailed + 1);
  });

  it('leaves no waiters set or flag behind: none for a capture that never waits, none once a waiting one is woken', async () => {
    const s = stack(5_000, 60_000);
    // Never waits: its authorization succeeded before it came.
    const settledCommand = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 5000 });
    const settledId = settledCommand.payment.operation_reference!;
    await s.ledger.create(settledId, settledCommand);
    expect(await s.service.deliver(settledId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const direct = channelCommand('capture', {}, { gateway_key: settledId, amount: 3000, order_id: settledCommand.payment.order_id });
    await s.ledger.create(direct.payment.operation_reference!, direct);
    expect(await s.service.deliver(direct.payment.operation_reference!)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const settledKeys = s.ledger.keysFor(settledId, settledCommand.payment);
    expect(await s.redis.exists(waitersKey(settledKeys, settledId))).toBe(0);
    expect(await s.redis.hexists(settledKeys.op(settledId), 'dependents_waiting')).toBe(0);

    // Waits: listed (expiring) and flagged while it does, both gone once its authorization's outcome woke it.
    const auth = await pendingAuthorization(s);
    const authPayment = (await s.ledger.get(auth.id))!.payment;
    const keys = s.ledger.keysFor(auth.id, authPayment);
    const captureId = await queuedCapture(s, auth);
    startWorker(s);
    expect(await until(async () => (await s.redis.sismember(waitersKey(keys, auth.id), captureId)) === 1, 5_000)).toBe(true);
    expect(await s.redis.hget(keys.op(auth.id), 'dependents_waiting')).toBe('1');
    const ttl = await s.redis.ttl(waitersKey(keys, auth.id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
    await sleep(200);
    await authorizationSucceeds(s, auth.id);
    expect(await until(async () => (await s.ledger.get(captureId))?.state === 'SUCCEEDED', 4_000)).toBe(true);
    expect(await s.redis.exists(waitersKey(keys, auth.id))).toBe(0);
    expect(await s.redis.hexists(keys.op(auth.id), 'dependents_waiting')).toBe(0);
  });
});

describe('a capture waiting for a sibling ahead of it', () => {
  it('is delivered as soon as that sibling settles, well before its backed-off check', async () => {
    // A base of 5 s: without a wake the capture would next be checked 5 s after its first check.
    const s = stack(5_000, 60_000);
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 5000 });
    const auth = { id: command.payment.operation_reference!, orderId: command.payment.order_id! };
    await s.ledger.create(auth.id, command);
    expect(await s.service.deliver(auth.id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    // A capture of 4 000 registered first (as its first check does), then left in flight: its answer was lost.
    const first = channelCommand('capture', {}, { gateway_key: auth.id, amount: 4000, order_id: auth.orderId });
    const firstId = first.payment.operation_reference!;
    await s.ledger.create(firstId, first);
    await s.ledger.authorizationView(auth.id, firstId);
    await s.ledger.transition(firstId, 'SENT', { event: 'attempt' });
    await s.ledger.transition(firstId, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' });
    // A capture of 3 000 after it: both could take more than the 5 000 authorized, so it waits for the first.
    const captureId = await queuedCapture(s, auth);
    const firstKeys = s.ledger.keysFor(firstId, first.payment);
    const waiting = await metricValue('pb_dependents_waiting_total', { gateway: 'simulator', command: 'capture' });
    const woken = await metricValue('pb_delivery_dependents_woken_total', { state: 'FAILED' });
    startWorker(s);
    expect(await until(async () => (await s.redis.sismember(waitersKey(firstKeys, firstId), captureId)) === 1, 5_000)).toBe(true);
    expect(await s.redis.hget(firstKeys.op(firstId), 'dependents_waiting')).toBe('1');
    expect(await metricValue('pb_dependents_waiting_total', { gateway: 'simulator', command: 'capture' })).toBe(waiting + 1);
    expect((await s.ledger.get(captureId))?.state).toBe('RECEIVED');

    // The first capture fails (its webhook): the second, woken, now fits and goes at once.
    const failedAt = Date.now();
    await s.recorder.apply((await s.ledger.get(firstId))!, { status: 'FAIL', gatewayStatus: 'declined', reason: 'card_declined' }, 'webhook');
    expect(await until(async () => (await s.ledger.get(captureId))?.state === 'SUCCEEDED', 4_000)).toBe(true);
    expect(Date.now() - failedAt).toBeLessThan(3_000);
    expect(sim.counters().effects[captureId]).toBe(1);
    expect(await metricValue('pb_delivery_dependents_woken_total', { state: 'FAILED' })).toBe(woken + 1);
    expect(s.lines.some((l) => l.includes('dependents woken') && l.includes(firstId) && l.includes(captureId))).toBe(true);
    expect(await s.redis.exists(waitersKey(firstKeys, firstId))).toBe(0);
    expect(await s.redis.hexists(firstKeys.op(firstId), 'dependents_waiting')).toBe(0);
  });
});

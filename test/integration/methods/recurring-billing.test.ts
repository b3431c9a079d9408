import Redis from 'ioredis';
import { BusClient } from '../../../src/bus/bus-client';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { sweepOnce } from '../../../src/delivery/recovery-sweep';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { startEventSender } from '../../../src/events/event-sender';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RecurringManagement } from '../../../src/recurring/recurring-management';
import { RETRIES_EXHAUSTED, RecurringRunner } from '../../../src/recurring/recurring-runner';
import { ScheduleDefinition, cycleCommand } from '../../../src/recurring/recurring-schedule';
import { RecurringStore, recurringKeys } from '../../../src/recurring/recurring-store';
import { createRedis } from '../../../src/redis/redis-connection';
import { shardKeysOf, shardOfOrder } from '../../../src/redis/key-layout';
import { orderIndexKey } from '../../../src/ledger/order-index';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { afterFirstPipeline } from '../../support/first-pipeline';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { useSimulatorNamespaces } from '../../support/simulator-namespaces';
import { testConfig } from '../../support/test-config';

/**
 * The schedule runner on the real Redis and the real simulator: a cycle's merchant-initiated charge, a
 * soft decline retried and recovered, a hard decline and retries that run out ending in the final
 * failure event, and idempotency per cycle (a rerun never charges twice).
 */
const API_KEY = 'sim-recurring-test-key-0123456789';
const DAY = 86_400_000;
let redis: RedisClient;
const files = useSimulatorNamespaces(API_KEY, () => redis);
const { configs, closers } = files;
let sim: PspSimulator;
beforeAll(() => ({ sim } = files));
let n = 0;

const BUS_CLIENT_ID = 'recurring-test';
const BUS_CLIENT_SECRET = 'recurring-test-secret-4d2a9c81';

/**
 * `wrapLedger`, `wrapRecorder`: the runner's view of the ledger and of the outcome recorder (a test stages what
 * happens between the runner's steps there). `bus`: events are sent to that bus twin (inline and by the event
 * sender, as the worker does); without it they stay in the outbox and the events queue.
 */
function setup(
  wrapLedger: (ledger: Ledger) => Ledger = (l) => l,
  wrapRecorder: (recorder: OutcomeRecorder) => OutcomeRecorder = (r) => r,
  logger: Logger = silentLogger(),
  bus?: BusTwin,
) {
  const config = testConfig({
    'recurring.retry_schedule_ms': [DAY, 3 * DAY],
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-recurring-test-0123456789', timeout_ms: 2000 } },
    ...(bus
      ? {
          'service_bus.url': bus.url,
          'mom_client.oauth_server_url': bus.url,
          'mom_client.client_id': BUS_CLIENT_ID,
          'mom_client.client_secret': BUS_CLIENT_SECRET,
          'service_bus.timeout_ms': 2000,
          'events.backoff_base_ms': 20,
          'events.backoff_max_ms': 200,
        }
      : {}),
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  closers.push(
    () => eventsQueue.close(),
    () => deliveryQueue.close(),
  );
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const notifier = bus ? new BusClient(config, new OAuthTokenProvider(config)) : undefined;
  if (notifier) {
    const blocking = createRedis(config.redis, 'blocking');
    const sender = startEventSender(config, blocking, { events, sender: notifier, logger: silentLogger() });
    closers.unshift(
      () => sender.close(),
      async () => blocking.disconnect(),
    );
  }
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger, ...(notifier ? { notifier } : {}) });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  const store = new RecurringStore(redis, config.redis.keyPrefix);
  let offset = 0;
  const runner = new RecurringRunner({
    config,
    store,
    ledger: wrapLedger(ledger),
    recorder: wrapRecorder(recorder),
    deliveryQueue,
    logger,
    now: () => Date.now() + offset,
  });
  /** One runner pass at `at` ms from now, then delivery of every charge it started (as the worker would). */
  const pass = async (at: number) => {
    offset = at;
    const report = await runner.runOnce();
    for (const job of await deliveryQueue.getJobs(['waiting', 'delayed', 'prioritized'])) {
      await service.deliver(job.data.operationId);
      await job.remove().catch(() => undefined);
    }
    return report;
  };
  return { config, ledger, events, store, pass, eventsQueue, deliveryQueue, redis, recorder, service };
}

/** `ledger` with `hook` run once before the first call of `method` whose first argument `matches` (then the call itself). */
function hookedLedger(ledger: Ledger, method: 'get' | 'create', matches: (arg: unknown) => boolean, hook: () => Promise<unknown>): Ledger {
  let fired = false;
  return new Proxy(ledger, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop !== method) return fn.bind(target);
      return async (...args: unknown[]) => {
        if (!fired && matches(args[0])) {
          fired = true;
          await hook();
        }
        return fn.apply(target, args);
      };
    },
  });
}

/** `recorder` with `hook` run once before its first `emit` (then the emit itself). */
function hookedRecorder(recorder: OutcomeRecorder, hook: () => Promise<unknown>): OutcomeRecorder {
  let fired = false;
  return new Proxy(recorder, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop !== 'emit') return fn.bind(target);
      return async (...args: unknown[]) => {
        if (!fired) {
          fired = true;
          await hook();
        }
        return fn.apply(target, args);
      };
    },
  });
}

/** The bus's and the CLI's schedule management over `s`'s store. */
function management(s: { config: Config; store: RecurringStore }): RecurringManagement {
  return new RecurringManagement({ config: s.config, store: s.store, logger: silentLogger() });
}

function definition(gatewayKey: string, extra: Partial<ScheduleDefinition> = {}): ScheduleDefinition {
  n += 1;
  return {
    id: `sub-${process.pid}-${Date.now().toString(36)}-${n}`,
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: gatewayKey,
    amount: 1500,
    currency: 'EUR',
    order_id: `SUB-ORDER-${n}`,
    start_at: new Date(Date.now() - 1000).toISOString(),
    interval: { unit: 'month', count: 1 },
    ...extra,
  };
}

/**
 * A schedule of `definition(gatewayKey)`, added, on a `setup()` whose runner's ledger cancels it at the first `method`
 * call on the schedule's first cycle operation (`_<id>.c1`), before that call runs: if `armCancel()` was called by
 * then; otherwise that first call passes and no cancel follows.
 */
async function scheduleCancelledAtCycleOneCall(
  method: 'get' | 'create',
  gatewayKey: string,
): Promise<{ s: ReturnType<typeof setup>; d: ScheduleDefinition; armCancel: () => void }> {
  let cancel = async (): Promise<unknown> => undefined;
  const s = setup((ledger) =>
    hookedLedger(
      ledger,
      method,
      (id) => id === `_${d.id}.c1`,
      () => cancel(),
    ),
  );
  const d = definition(gatewayKey);
  await s.store.add(d);
  return {
    s,
    d,
    armCancel: () => {
      cancel = () => s.store.cancel(d.id);
    },
  };
}

describe('recurring billing', () => {
  it('charges a due cycle once, merchant-initiated, and moves to the next cycle; a rerun charges nothing twice', async () => {
    const s = setup();
    const d = definition('pm_card_visa', { max_cycles: 2 });
    await s.store.add(d);
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 1 });
    const op = await s.ledger.get(`_${d.id}.c1`);
    expect(op).toMatchObject({
      state: 'SUCCEEDED',
      channel: 'bridge',
      command: 'sale',
      payment: { recurring: { model: 'subscription', schedule_id: d.id, cycle: 1 } },
    });
    // The runner looks again after its check interval: the cycle is paid, the next one is a month on.
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    const after = await s.store.get(d.id);
    expect(after).toMatchObject({ cycle: 2, attempt: 0, phase: 'due', state: 'active' });
    expect(after!.nextAt).toBeGreaterThan(Date.now() + 27 * DAY);
    // Nothing is due before then: no second charge of cycle 1, whatever reruns.
    expect(await s.pass(60_000)).toMatchObject({ due: 0 });
    expect((await s.events.load(`_${d.id}.c1.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS', recurring: { cycle: 1 } });
  });

  it('a channel command sent with the reference <schedule>.c1 is not taken for the cycle: the cycle is charged under its own id', async () => {
    const s = setup();
    const d = definition('pm_card_visa', { max_cycles: 1 });
    await s.store.add(d);
    // Another command under the cycle's earlier name, already succeeded (1 cent): it must not pay the cycle.
    const squatter = channelCommand('sale', {}, { gateway_key: 'pm_card_visa', amount: 1, operation_reference: `${d.id}.c1` });
    await s.ledger.create(`${d.id}.c1`, squatter);
    await s.ledger.transition(`${d.id}.c1`, 'SUCCEEDED', { event: 'outcome' });
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 1 });
    expect(await s.ledger.get(`_${d.id}.c1`)).toMatchObject({ state: 'SUCCEEDED', channel: 'bridge', payment: { amount: 1500 } });
    expect(sim.counters().effects[`_${d.id}.c1`]).toBe(1);
    // A schedule stored mid-charge under the earlier name, pointing at that command, follows its own charge: never the command, never a second charge.
    await s.store.save({ ...(await s.store.get(d.id))!, phase: 'charging', cycle: 1, attempt: 0, operation: `${d.id}.c1`, nextAt: 0, state: 'active' });
    await s.pass(60_000);
    expect(sim.counters().effects[`_${d.id}.c1`]).toBe(1);
  });

  it('retries a soft decline after the dunning wait and recovers the cycle', async () => {
    const s = setup();
    const d = definition(`pm_insufficient_funds_once_${process.pid.toString(36)}x${Date.now().toString(36)}`);
    await s.store.add(d);
    await s.pass(0);
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('FAILED');
    expect(await s.pass(60_000)).toMatchObject({ retried: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ attempt: 1, phase: 'due', lastReason: 'insufficient_funds' });
    // Not before the first retry wait (1 day).
    expect(await s.pass(DAY / 2)).toMatchObject({ due: 0 });
    expect(await s.pass(DAY + 70_000)).toMatchObject({ started: 1 });
    expect((await s.ledger.get(`_${d.id}.c1.r1`))?.state).toBe('SUCCEEDED');
    expect(await s.pass(DAY + 140_000)).toMatchObject({ succeeded: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 2, attempt: 0, state: 'active' });
    expect(await s.events.load(`${d.id}.c1.failed`)).toBeNull();
  });

  it('after the last retry of a soft decline, fails the schedule and sends the final failure event once', async () => {
    const s = setup();
    const d = definition('pm_insufficient_funds');
    await s.store.add(d);
    await s.pass(0);
    await s.pass(60_000); // retry 1 scheduled
    await s.pass(DAY + 70_000);
    await s.pass(DAY + 140_000); // retry 2 scheduled, 3 days on
    await s.pass(4 * DAY + 150_000);
    expect(await s.pass(4 * DAY + 220_000)).toMatchObject({ failed: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'failed', attempt: 2 });
    const event = await s.events.load(`${d.id}.c1.failed`);
    expect(event?.method).toBe(s.config.serviceBus.methods.notifications.recurring_failed);
    expect(event?.params).toMatchObject({
      schedule: { id: d.id, cycle: 1, attempts: 3, state: 'failed' },
      payment: {
        status: 'FAIL',
        reason: RETRIES_EXHAUSTED,
        last_reason: 'insufficient_funds',
        operation_reference: `_${d.id}.c1.r2`,
        decline: { category: 'insufficient_funds' },
      },
    });
    expect(await s.pass(10 * DAY)).toMatchObject({ due: 0 });
  });

  it('a cycle failed for good whose final failure event cannot be recorded stays due: the next pass records it, then the schedule leaves the due index', async () => {
    const s = setup();
    const d = definition('pm_expired_card');
    await s.store.add(d);
    await s.pass(0);
    // The outbox's Redis goes away between the runner's two writes (a crash there leaves the same state): a
    // client that never connected and queues nothing fails every call at once, on a single Redis or a cluster.
    const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const broken = new RecurringRunner({
      config: s.config,
      store: s.store,
      ledger: s.ledger,
      recorder: new OutcomeRecorder({
        config: s.config,
        ledger: s.ledger,
        events: new EventStore(down, s.config.redis.keyPrefix),
        eventsQueue: s.eventsQueue,
        logger: silentLogger(),
      }),
      deliveryQueue: s.deliveryQueue,
      logger: silentLogger(),
      now: () => Date.now() + 60_000,
    });
    await broken.runOnce().catch(() => undefined);
    expect(await s.events.load(`${d.id}.c1.failed`)).toBeNull();
    // Failed (a cancel now finds it so), still due: the next pass records the event, then takes it off the due index.
    expect(await s.store.get(d.id)).toMatchObject({ state: 'failed' });
    expect(await s.store.dueIds(Date.now() + 70_000, 1000)).toContain(d.id);
    expect(await s.pass(70_000)).toMatchObject({ failed: 1 });
    expect((await s.events.load(`${d.id}.c1.failed`))?.params.payment).toMatchObject({ reason: 'expired_card' });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'failed' });
    expect(await s.pass(80_000)).toMatchObject({ due: 0 });
  });

  it('a hard decline fails the cycle at once, without retries', async () => {
    const s = setup();
    const d = definition('pm_expired_card');
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ failed: 1, retried: 0 });
    expect((await s.events.load(`${d.id}.c1.failed`))?.params.payment).toMatchObject({ reason: 'expired_card', decline: { category: 'expired_card' } });
  });

  it('refuses a schedule that could never charge, naming the field, and another definition under a known id', async () => {
    const s = setup();
    await expect(s.store.add({ ...definition('pm_card_visa'), currency: 'XXY' })).rejects.toMatchObject({ field: 'schedule.currency' });
    const d = definition('pm_card_visa');
    await s.store.add(d);
    expect((await s.store.add(d)).created).toBe(false);
    await expect(s.store.add({ ...d, amount: 999 })).rejects.toBeInstanceOf(CommandValidationError);
  });

  it('a cancel that lands after a pass read the schedule, before its charge, is kept: no charge starts', async () => {
    let cancel = async (): Promise<unknown> => undefined;
    const s = setup((ledger) =>
      hookedLedger(
        ledger,
        'get',
        (id) => typeof id === 'string' && id.endsWith('.c1'),
        () => cancel(),
      ),
    );
    const d = definition('pm_card_visa');
    await s.store.add(d);
    cancel = () => s.store.cancel(d.id);
    const stopped = await metricValue('pb_recurring_cycles_total', { gateway: 'simulator', outcome: 'stopped' });
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 0, stopped: 1 });
    expect(await metricValue('pb_recurring_cycles_total', { gateway: 'simulator', outcome: 'stopped' })).toBe(stopped + 1);
    expect(await s.store.get(d.id)).toMatchObject({ state: 'cancelled' });
    expect(await s.ledger.get(`_${d.id}.c1`)).toBeNull();
    expect(sim.counters().effects[`_${d.id}.c1`]).toBeUndefined();
    expect(await s.pass(40 * DAY)).toMatchObject({ due: 0 });
  });

  it('a cancel that lands while a cycle is being charged is kept: that charge settles, no later cycle starts', async () => {
    const { s, d, armCancel } = await scheduleCancelledAtCycleOneCall('create', 'pm_card_visa');
    armCancel();
    await s.pass(0);
    // The charge was out when the cancel came (docs/PAYMENT-METHODS.md: "a charge already out still settles").
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('SUCCEEDED');
    expect(await s.store.get(d.id)).toMatchObject({ state: 'cancelled' });
    expect(await s.pass(60_000)).toMatchObject({ due: 0 });
    expect(await s.pass(40 * DAY)).toMatchObject({ due: 0 });
    expect(await s.ledger.get(`_${d.id}.c2`)).toBeNull();
  });

  it('a cancel keeps the cycle the runner last wrote: a pass that runs during the cancel is never written back over', async () => {
    const s = setup();
    const d = definition('pm_card_visa');
    await s.store.add(d);
    await s.pass(0);
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 1, phase: 'charging' });
    // A pass (cycle 1 paid: the runner would move to cycle 2) runs right after the cancel's first Redis round trip.
    let pass: Promise<Awaited<ReturnType<typeof s.pass>>> | null = null;
    const slowRedis = new Proxy(s.redis, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        const fn = (value as (...args: unknown[]) => unknown).bind(target);
        return (...args: unknown[]) => {
          const result = fn(...args);
          if (pass !== null || !(result instanceof Promise)) return result;
          pass = result.then(() => s.pass(60_000));
          return pass.then(() => result);
        };
      },
    });
    const cancelled = (await new RecurringStore(slowRedis, s.config.redis.keyPrefix).cancel(d.id))?.schedule;
    const report = await pass!;
    // Whatever the pass did (before the fix it paid cycle 1 and wrote cycle 2; now it finds the schedule cancelled), the cancel wrote nothing but its state.
    const reached = report.succeeded === 1 ? { cycle: 2, phase: 'due' } : { cycle: 1, phase: 'charging' };
    expect(cancelled).toMatchObject({ state: 'cancelled', ...reached });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'cancelled', ...reached });
  });

  it('a creation cut short after its definition was written is finished by the next create: the schedule is due and charged', async () => {
    const s = setup();
    const d = definition('pm_card_visa', { max_cycles: 1 });
    // What a crash right after the definition's write left (before the state and the due index were written).
    await s.redis.hset(recurringKeys(s.config.redis.keyPrefix).schedule(d.id), 'definition', JSON.stringify(d));
    const again = await s.store.add(d);
    expect(again).toMatchObject({ created: true, schedule: { state: 'active', cycle: 1, phase: 'due' } });
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 1 });
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('SUCCEEDED');
    expect((await s.store.add(d)).created).toBe(false);
    expect(await s.store.ids(100_000)).toContain(d.id);
  });
});

describe('recurring billing: a cancel and a cycle failed for good, a half-written schedule, cancels at once', () => {
  it('a cancel that lands after a pass read a hard-declined cycle, before it failed the schedule, stands: no recurring_failed event', async () => {
    const { s, d, armCancel } = await scheduleCancelledAtCycleOneCall('get', 'pm_expired_card');
    await s.pass(0);
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('FAILED');
    armCancel();
    expect(await s.pass(60_000)).toMatchObject({ failed: 0, stopped: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'cancelled' });
    // The OMS was told cancelled: true; it must not be told the schedule failed (its cycle's own FAIL event was sent).
    expect(await s.events.load(`${d.id}.c1.failed`)).toBeNull();
    expect(await s.pass(40 * DAY)).toMatchObject({ due: 0 });
  });

  it('a cancel that lands once a cycle failed for good, before its recurring_failed event, answers cancelled: false, state failed', async () => {
    let cancelled: unknown = null;
    const s = setup(undefined, (recorder) =>
      hookedRecorder(recorder, async () => {
        cancelled = await management(s).cancel({ id: d.id }, 'test');
      }),
    );
    const d = definition('pm_expired_card');
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ failed: 1 });
    expect(cancelled).toMatchObject({ cancelled: false, schedule: { state: 'failed' } });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'failed' });
    expect((await s.events.load(`${d.id}.c1.failed`))?.params.schedule).toMatchObject({ state: 'failed' });
  });

  it('a cancel of a schedule whose creation was cut short (a definition without a state) cancels it: a later create does not revive it', async () => {
    const s = setup();
    const d = definition('pm_card_visa');
    await s.redis.hset(recurringKeys(s.config.redis.keyPrefix).schedule(d.id), 'definition', JSON.stringify(d));
    expect(await management(s).cancel({ id: d.id }, 'test')).toMatchObject({ cancelled: true, schedule: { state: 'cancelled' } });
    expect(await s.store.add(d)).toMatchObject({ created: false, schedule: { state: 'cancelled' } });
    expect(await s.pass(0)).toMatchObject({ due: 0 });
    expect(await s.ledger.get(`_${d.id}.c1`)).toBeNull();
  });

  it('two cancels at once: one answers cancelled: true, the other false', async () => {
    const s = setup();
    const d = definition('pm_card_visa');
    await s.store.add(d);
    const m = management(s);
    const answers = await Promise.all([m.cancel({ id: d.id }, 'a'), m.cancel({ id: d.id }, 'b')]);
    expect(answers.map((a) => a.cancelled).sort()).toEqual([false, true]);
    expect(answers.map((a) => a.schedule.state)).toEqual(['cancelled', 'cancelled']);
  });
});

describe('recurring billing: a crash between the runner steps', () => {
  it('a crash after the charge was claimed, before its operation was written: the next look writes and charges it, once', async () => {
    const s = setup();
    const d = definition('pm_card_visa', { max_cycles: 1 });
    await s.store.add(d);
    const claimed = { ...(await s.store.get(d.id))!, phase: 'charging' as const, operation: `_${d.id}.c1`, nextAt: Date.now() - 1 };
    expect(await s.store.updateActive(claimed)).toBe(true);
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 1 });
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('SUCCEEDED');
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'completed' });
    expect(sim.counters().effects[`_${d.id}.c1`]).toBe(1);
  });

  it('a crash after the operation was written, before its delivery job: the runner waits, the recovery sweep queues it, the cycle is paid', async () => {
    const s = setup();
    const d = definition('pm_card_visa', { max_cycles: 1 });
    await s.store.add(d);
    const at = Date.now() - 1000;
    const claimed = { ...(await s.store.get(d.id))!, phase: 'charging' as const, operation: `_${d.id}.c1`, nextAt: at };
    expect(await s.store.updateActive(claimed)).toBe(true);
    await s.ledger.create(`_${d.id}.c1`, cycleCommand(d, 1, 0, at), at);
    expect(await s.pass(0)).toMatchObject({ due: 1, waiting: 1 });
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('RECEIVED');
    expect(await sweepOnce({ ledger: s.ledger, events: s.events, deliveryQueue: s.deliveryQueue, eventsQueue: s.eventsQueue }, 0)).toMatchObject({
      operations: 1,
    });
    expect(await s.pass(60_000)).toMatchObject({ waiting: 1 });
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('SUCCEEDED');
    expect(await s.pass(120_000)).toMatchObject({ succeeded: 1 });
    expect(sim.counters().effects[`_${d.id}.c1`]).toBe(1);
  });
});

/** `months` calendar months (UTC) and `days` days before now, ISO 8601. */
function monthsAgo(months: number, days = 0): string {
  const at = new Date(Date.now() - days * DAY);
  at.setUTCMonth(at.getUTCMonth() - months);
  return at.toISOString();
}

/** The simulator's charges of schedule `id`'s cycles, by operation id. */
function chargesOf(id: string): Record<string, number> {
  return Object.fromEntries(Object.entries(sim.counters().effects).filter(([op]) => op.startsWith(`_${id}.`)));
}

/**
 * Runner B of a race on one due schedule: on `s`'s store, ledger, recorder and delivery queue, its clock a month
 * (31 days) ahead; `before` runs once before B's first ledger read (after B read the schedule), e.g. runner A's whole pass.
 */
function runnerAMonthAhead(s: ReturnType<typeof setup>, before: () => Promise<unknown>): RecurringRunner {
  return new RecurringRunner({
    config: s.config,
    store: s.store,
    ledger: hookedLedger(s.ledger, 'get', () => true, before),
    recorder: s.recorder,
    deliveryQueue: s.deliveryQueue,
    logger: silentLogger(),
    now: () => Date.now() + 31 * DAY,
  });
}

describe('recurring billing: missed cycles are skipped, never charged back to back', () => {
  it('a schedule starting in the past charges the cycle due now, once; the older ones are skipped, recorded, counted and logged', async () => {
    const captured = captureLogger('info');
    const s = setup(undefined, undefined, captured.logger);
    // Cycles 1 to 5 are due (the 5th ten days ago), the 6th in about twenty days.
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    const skipped = await metricValue('pb_recurring_cycles_skipped_total', { gateway: 'simulator' });
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 1 });
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    expect(await s.pass(120_000)).toMatchObject({ due: 0 });
    expect(chargesOf(d.id)).toEqual({ [`_${d.id}.c5`]: 1 });
    const after = await s.store.get(d.id);
    expect(after).toMatchObject({ state: 'active', cycle: 6, attempt: 0, phase: 'due', skippedCycles: 4, lastSkip: { from: 1, through: 4 } });
    expect(after!.nextAt).toBeGreaterThan(Date.now() + 15 * DAY);
    expect(await metricValue('pb_recurring_cycles_skipped_total', { gateway: 'simulator' })).toBe(skipped + 4);
    const line = captured.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.schedule_id === d.id && l.level === 'warn');
    expect(line).toMatchObject({ skipped: 4, from_cycle: 1, through_cycle: 4, cycle: 5 });
    expect(await management(s).list({})).toMatchObject({
      schedules: expect.arrayContaining([
        expect.objectContaining({ id: d.id, skipped_cycles: 4, last_skip: expect.objectContaining({ from_cycle: 1, through_cycle: 4 }) }),
      ]),
    });
  });

  it('after an outage of the runner, the cycle due now is charged once and the cycles missed meanwhile are skipped', async () => {
    const s = setup();
    const d = definition('pm_card_visa');
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    // Down 95 days: cycles 2, 3 and 4 came due meanwhile (the 5th is about 120 days on).
    expect(await s.pass(95 * DAY)).toMatchObject({ due: 1, started: 1 });
    expect(await s.pass(95 * DAY + 60_000)).toMatchObject({ succeeded: 1 });
    expect(await s.pass(95 * DAY + 120_000)).toMatchObject({ due: 0 });
    expect(chargesOf(d.id)).toEqual({ [`_${d.id}.c1`]: 1, [`_${d.id}.c4`]: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 5, skippedCycles: 2, lastSkip: { from: 2, through: 3 } });
  });

  it('a cycle being retried by dunning is not missed: its retry runs, then only the cycle due now is charged', async () => {
    const s = setup();
    const d = definition(`pm_insufficient_funds_once_${process.pid.toString(36)}y${Date.now().toString(36)}`);
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ retried: 1 });
    // Down 70 days: the retry of cycle 1 (due after a day) runs; cycle 2 (a month on) is missed, cycle 3 is due.
    expect(await s.pass(70 * DAY)).toMatchObject({ started: 1 });
    expect((await s.ledger.get(`_${d.id}.c1.r1`))?.state).toBe('SUCCEEDED');
    expect(await s.pass(70 * DAY + 60_000)).toMatchObject({ succeeded: 1 });
    expect(await s.pass(70 * DAY + 120_000)).toMatchObject({ started: 1 });
    expect(await s.pass(70 * DAY + 180_000)).toMatchObject({ succeeded: 1 });
    expect(await s.pass(70 * DAY + 240_000)).toMatchObject({ due: 0 });
    expect(chargesOf(d.id)).toEqual({ [`_${d.id}.c1`]: 1, [`_${d.id}.c1.r1`]: 1, [`_${d.id}.c3`]: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 4, skippedCycles: 1, lastSkip: { from: 2, through: 2 } });
  });

  it('two runners on one due schedule, their clocks a cycle apart, charge it once: the later claim finds the schedule moved on', async () => {
    let first = async (): Promise<unknown> => undefined;
    const s = setup();
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    // Runner B reads the schedule, then runner A's whole pass runs before B claims; B's clock is a month ahead.
    const b = runnerAMonthAhead(s, () => first());
    first = () => s.pass(0);
    expect(await b.runOnce()).toMatchObject({ due: 1, started: 0 });
    for (const job of await s.deliveryQueue.getJobs(['waiting', 'delayed', 'prioritized'])) {
      await s.service.deliver(job.data.operationId);
      await job.remove().catch(() => undefined);
    }
    expect(chargesOf(d.id)).toEqual({ [`_${d.id}.c5`]: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 5, phase: 'charging', operation: `_${d.id}.c5` });
  });
});

describe('recurring billing: retention of ended schedules', () => {
  it('a cancelled, a completed and a failed schedule are deleted recurring.ended_retention_days after they ended, with their order index entries; active ones stay', async () => {
    const s = setup();
    const keys = recurringKeys(s.config.redis.keyPrefix);
    const cancelled = definition('pm_card_visa', { start_at: new Date(Date.now() + 1000 * DAY).toISOString() });
    // One order, two schedules: one cancelled, one active for years yet.
    const active = definition('pm_card_visa', { order_id: cancelled.order_id, start_at: new Date(Date.now() + 1000 * DAY).toISOString() });
    const completed = definition('pm_card_visa', { max_cycles: 1 });
    const failed = definition('pm_expired_card');
    for (const d of [cancelled, active, completed, failed]) await s.store.add(d);
    await management(s).cancel({ id: cancelled.id }, 'test');
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1, failed: 1 });
    for (const d of [cancelled, completed, failed]) expect((await s.store.get(d.id))?.endedAt).toBeGreaterThan(Date.now() - 60_000);
    expect((await s.store.get(active.id))?.endedAt).toBeUndefined();
    expect(s.config.recurring.endedRetentionDays).toBe(400);
    // Kept while the retention runs.
    expect(await s.pass(399 * DAY)).toMatchObject({ expired: 0 });
    for (const d of [cancelled, completed, failed, active]) expect(await s.store.get(d.id)).not.toBeNull();
    expect(await s.pass(401 * DAY)).toMatchObject({ expired: 3 });
    for (const d of [cancelled, completed, failed]) {
      expect(await s.store.get(d.id)).toBeNull();
      expect(await s.store.ids(100_000)).not.toContain(d.id);
    }
    expect(await s.redis.exists(keys.order(completed.order_id!), keys.order(failed.order_id!))).toBe(0);
    expect(await s.store.idsOfOrder(cancelled.order_id!)).toEqual([active.id]);
    expect(await s.store.get(active.id)).toMatchObject({ state: 'active' });
    expect(await s.redis.pttl(keys.schedule(active.id))).toBe(-1);
    expect(await s.pass(402 * DAY)).toMatchObject({ expired: 0 });
  });

  it('a schedule an earlier release ended (not in the ended index) is indexed by the runner walk, then deleted after the retention; an id whose schedule is gone leaves the list', async () => {
    const s = setup();
    const keys = recurringKeys(s.config.redis.keyPrefix);
    const d = definition('pm_card_visa', { start_at: new Date(Date.now() + 1000 * DAY).toISOString() });
    await s.store.add(d);
    await s.store.cancel(d.id);
    // As an earlier release's cancel left it: cancelled, in no ended index, no ended_at.
    await s.redis.zrem(keys.ended, d.id);
    await s.redis.hdel(keys.schedule(d.id), 'ended_at');
    await s.redis.zadd(keys.all, Date.now(), 'ghost-schedule');
    expect(await s.pass(0)).toMatchObject({ expired: 0 });
    expect((await s.store.get(d.id))?.endedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(await s.store.ids(100_000)).not.toContain('ghost-schedule');
    expect(await s.pass(401 * DAY)).toMatchObject({ expired: 1 });
    expect(await s.store.get(d.id)).toBeNull();
    expect(await s.redis.exists(keys.order(d.order_id!))).toBe(0);
  });
});

describe('recurring billing: review of the catch-up and the retention', () => {
  it('an id whose schedule was deleted by the retention is never created again: its old cycle operations would pass for the new schedule cycles', async () => {
    const s = setup();
    const d = definition('pm_card_visa', { max_cycles: 1 });
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    const expired = await metricValue('pb_recurring_schedules_expired_total', {});
    expect(await s.pass(401 * DAY)).toMatchObject({ expired: 1 });
    expect(await metricValue('pb_recurring_schedules_expired_total', {})).toBe(expired + 1);
    expect(await s.store.get(d.id)).toBeNull();
    // The ledger still holds `_<id>.c1`, SUCCEEDED: a new schedule under the id would count it as its first cycle paid.
    expect((await s.ledger.get(`_${d.id}.c1`))?.state).toBe('SUCCEEDED');
    const refused = await metricValue('pb_recurring_schedule_requests_total', { action: 'create', result: 'refused' });
    await expect(management(s).create({ schedule: { ...d } }, 'test')).rejects.toMatchObject({ field: 'schedule.id' });
    await expect(s.store.add({ ...d, amount: 9900 })).rejects.toBeInstanceOf(CommandValidationError);
    expect(await metricValue('pb_recurring_schedule_requests_total', { action: 'create', result: 'refused' })).toBe(refused + 1);
    expect(await s.store.get(d.id)).toBeNull();
  });

  it('a schedule whose whole term has passed (the last cycle s period is over) is charged nothing: completed, every cycle skipped, recorded and counted', async () => {
    const s = setup();
    // Three monthly cycles from four months and ten days ago: the third's month ended about forty days ago.
    const d = definition('pm_card_visa', { max_cycles: 3, start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    const skipped = await metricValue('pb_recurring_cycles_skipped_total', { gateway: 'simulator' });
    expect(await s.pass(0)).toMatchObject({ due: 1, started: 0, lapsed: 1 });
    expect(chargesOf(d.id)).toEqual({});
    const after = await s.store.get(d.id);
    expect(after).toMatchObject({ state: 'completed', skippedCycles: 3, lastSkip: { from: 1, through: 3 } });
    expect(after!.endedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(await metricValue('pb_recurring_cycles_skipped_total', { gateway: 'simulator' })).toBe(skipped + 3);
    expect(await s.pass(60_000)).toMatchObject({ due: 0 });
    // The last cycle's period still running: it is charged (once), as the cycle due now.
    const current = definition('pm_card_visa', { max_cycles: 3, start_at: monthsAgo(2, 10) });
    await s.store.add(current);
    expect(await s.pass(120_000)).toMatchObject({ started: 1 });
    expect(chargesOf(current.id)).toEqual({ [`_${current.id}.c3`]: 1 });
  });

  it('a claim another runner left without its operation (stalled, not dead) is restarted as claimed, never skipped for a later cycle: one charge', async () => {
    let stalled = async (): Promise<unknown> => undefined;
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    // Runner A claims cycle 5 and stalls before writing its operation; runner B, past the claim's check-again time
    // and past cycle 6's due time, looks at it meanwhile. Then A writes cycle 5's operation and queues it.
    const s = setup((l) =>
      hookedLedger(
        l,
        'create',
        (id) => id === `_${d.id}.c5`,
        () => stalled(),
      ),
    );
    await s.store.add(d);
    const b = new RecurringRunner({
      config: s.config,
      store: s.store,
      ledger: s.ledger,
      recorder: s.recorder,
      deliveryQueue: s.deliveryQueue,
      logger: silentLogger(),
      now: () => Date.now() + 31 * DAY,
    });
    stalled = () => b.runOnce();
    expect(await s.pass(0)).toMatchObject({ started: 1 });
    expect(chargesOf(d.id)).toEqual({ [`_${d.id}.c5`]: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 5, operation: `_${d.id}.c5`, skippedCycles: 4, lastSkip: { from: 1, through: 4 } });
  });
});

describe("recurring billing: an order's schedule index names no deleted schedule", () => {
  it("after the retention's walk, the order's index holds no deleted id, even when an order index catch-up read the schedule just before the walk deleted it", async () => {
    const s = setup();
    const keys = recurringKeys(s.config.redis.keyPrefix);
    const d = definition('pm_card_visa', { max_cycles: 1 });
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    // The catch-up (an erasure's) reads the page's definitions; the poller's walk deletes the schedule before its write.
    let report: unknown;
    const catchUp = new RecurringStore(
      afterFirstPipeline(s.redis, async () => {
        report = await s.pass(401 * DAY);
      }),
      s.config.redis.keyPrefix,
    );
    await catchUp.catchUpOrderIndex();
    expect(report).toMatchObject({ expired: 1 });
    expect(await s.store.get(d.id)).toBeNull();
    expect(await s.redis.smembers(keys.order(d.order_id!))).toEqual([]);
  });

  it("a schedule moved from its pre-cluster name put in its order's index (indexOrderOf) that the retention deletes between the read and the write stays out of the index", async () => {
    const s = setup();
    const keys = recurringKeys(s.config.redis.keyPrefix);
    const d = definition('pm_card_visa', { max_cycles: 1 });
    await s.store.add(d);
    await s.pass(0);
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    // The move reads the schedule's definition; the poller's walk deletes the schedule before the move's write.
    let report: unknown;
    let fired = false;
    const client = new Proxy(s.redis, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        const bound = (value as (...args: unknown[]) => unknown).bind(target);
        if (prop !== 'hget') return bound;
        return async (...args: unknown[]) => {
          const read = await bound(...args);
          if (!fired) {
            fired = true;
            report = await s.pass(401 * DAY);
          }
          return read;
        };
      },
    });
    await new RecurringStore(client, s.config.redis.keyPrefix).indexOrderOf(d.id);
    expect(report).toMatchObject({ expired: 1 });
    expect(await s.store.get(d.id)).toBeNull();
    expect(await s.redis.smembers(keys.order(d.order_id!))).toEqual([]);
  });

  it("listing an order's schedules skips an id whose schedule is gone (an entry a deletion left behind) and takes it out of the index, counted", async () => {
    const s = setup();
    const keys = recurringKeys(s.config.redis.keyPrefix);
    const kept = definition('pm_card_visa', { start_at: new Date(Date.now() + 1000 * DAY).toISOString() });
    const gone = definition('pm_card_visa', { order_id: kept.order_id, start_at: new Date(Date.now() + 1000 * DAY).toISOString() });
    for (const d of [kept, gone]) await s.store.add(d);
    // As a deletion that left its order's entry behind wrote it: the schedule and its other entries gone, the order's entry left.
    await s.redis.del(keys.schedule(gone.id));
    await s.redis.zrem(keys.all, gone.id);
    await s.redis.zrem(keys.due, gone.id);
    const dropped = (await metricValue('pb_recurring_order_index_entries_dropped_total', {})) ?? 0;
    expect(await s.store.idsOfOrder(kept.order_id!)).toEqual([kept.id]);
    expect(await s.redis.smembers(keys.order(kept.order_id!))).toEqual([kept.id]);
    expect(await metricValue('pb_recurring_order_index_entries_dropped_total', {})).toBe(dropped + 1);
    expect(await s.store.idsOfOrder(kept.order_id!)).toEqual([kept.id]);
    expect(await metricValue('pb_recurring_order_index_entries_dropped_total', {})).toBe(dropped + 1);
  });
});

describe('recurring billing: the walk for schedules an earlier release ended', () => {
  it('once it finished it starts again a day later (an older process of a rolling upgrade may end one after it), not before', async () => {
    const s = setup();
    const keys = recurringKeys(s.config.redis.keyPrefix);
    expect(await s.pass(0)).toMatchObject({ expired: 0 });
    expect(await s.redis.get(keys.endedWalk)).toMatch(/^done \d+$/);
    // An older process ends one after the walk finished: cancelled, in no ended index.
    const d = definition('pm_card_visa', { start_at: new Date(Date.now() + 1000 * DAY).toISOString() });
    await s.store.add(d);
    await s.redis.hset(keys.schedule(d.id), 'state', 'cancelled');
    await s.redis.zrem(keys.due, d.id);
    await s.pass(DAY - 60_000);
    expect(await s.redis.zscore(keys.ended, d.id)).toBeNull();
    await s.pass(DAY + 60_000);
    expect(Number(await s.redis.zscore(keys.ended, d.id))).toBeGreaterThan(Date.now() + DAY);
    expect((await s.store.get(d.id))?.endedAt).toBeGreaterThan(Date.now() + DAY);
  });
});

describe("a schedule's merchant-initiated charges quote the first payment's network transaction id", () => {
  /** 15 digits passing the Luhn check, as a Visa Transaction Identifier may be (the bridge reported it: accepted as such). */
  const RECORDED = '483719265038415';

  /**
   * The customer-initiated first payment of `orderId` through the bridge: a one-time card stored with the payment (token
   * on first use, for a subscription), SUCCEEDED with the token `storedToken` and the scheme's id `networkId`, as the
   * outcome recorder writes any PSP's answer.
   */
  async function firstPayment(s: ReturnType<typeof setup>, orderId: string, storedToken: string, networkId?: string): Promise<string> {
    const command = channelCommand(
      'sale',
      {},
      {
        gateway: 'simulator',
        order_id: orderId,
        gateway_key: 'pm_one_time',
        payment_method: { type: 'card', store: true },
        recurring: { model: 'subscription' },
      },
    );
    const { record } = await s.ledger.create(command.payment.operation_reference!, command, Date.now() - 60_000, { event: 'attempt' });
    const after = await s.recorder.apply(
      record!,
      {
        status: 'SUCCESS',
        gatewayStatus: 'ok',
        gatewayReference: `ch_${orderId}`,
        storedToken,
        ...(networkId !== undefined ? { networkTransactionId: networkId } : {}),
      },
      'response',
    );
    expect(after).toMatchObject({ state: 'SUCCEEDED', storedToken });
    expect(after.networkTransactionId).toBe(networkId);
    return after.id;
  }

  it('one the OMS did not give: the id recorded for the payment of the order that stored the credential; an id from the OMS wins', async () => {
    const s = setup();
    const orderId = `SUB-ORDER-NTI-${process.pid.toString(36)}x${Date.now().toString(36)}`;
    await firstPayment(s, orderId, 'pm_card_visa', RECORDED);
    const recorded = definition('pm_card_visa', { order_id: orderId, max_cycles: 1 });
    const explicit = definition('pm_card_visa', { order_id: orderId, max_cycles: 1, network_transaction_id: 'MCC0TRACE0ID' });
    await s.store.add(recorded);
    await s.store.add(explicit);
    const fromFirst = await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'first_payment' });
    const fromSchedule = await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'schedule' });
    expect(await s.pass(0)).toMatchObject({ due: 2, started: 2 });

    const cycle = await s.ledger.get(`_${recorded.id}.c1`);
    expect(cycle).toMatchObject({
      state: 'SUCCEEDED',
      channel: 'bridge',
      payment: { recurring: { schedule_id: recorded.id, network_transaction_id: RECORDED } },
    });
    expect((await s.ledger.get(`_${explicit.id}.c1`))?.payment.recurring?.network_transaction_id).toBe('MCC0TRACE0ID');
    expect(await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'first_payment' })).toBe(fromFirst + 1);
    expect(await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'schedule' })).toBe(fromSchedule + 1);
    // Its own cycles on the order (bridge, merchant-initiated, each with the id) never stand in for the first payment: the
    // next cycle still quotes the first payment's id.
    const second = definition('pm_card_visa', { order_id: orderId, max_cycles: 1 });
    await s.store.add(second);
    await s.pass(0);
    expect((await s.ledger.get(`_${second.id}.c1`))?.payment.recurring?.network_transaction_id).toBe(RECORDED);
  });

  it("a later cycle carries the id its earlier cycle quoted: the first payment's record expired by retention since (retention.expire_after_days) still counts", async () => {
    const s = setup();
    const orderId = `SUB-ORDER-NTI-KEPT-${process.pid.toString(36)}x${Date.now().toString(36)}`;
    const first = await firstPayment(s, orderId, 'pm_card_visa', RECORDED);
    const d = definition('pm_card_visa', { order_id: orderId, max_cycles: 2 });
    await s.store.add(d);
    expect(await s.pass(0)).toMatchObject({ started: 1 });
    expect((await s.ledger.get(`_${d.id}.c1`))?.payment.recurring?.network_transaction_id).toBe(RECORDED);
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    // Retention archives and expires the first payment (a terminal sale, 400 days on by default): its record and its
    // entry in the order index are gone when a monthly subscription's fourteenth cycle starts.
    const shard = shardKeysOf(s.config.redis.keyPrefix)[shardOfOrder(orderId)];
    await s.redis.zrem(orderIndexKey(s.config.redis.keyPrefix, orderId), first);
    await s.redis.del(shard.op(first));
    expect(await s.ledger.get(first)).toBeNull();
    const fromFirst = await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'first_payment' });
    expect(await s.pass(32 * DAY)).toMatchObject({ started: 1 });
    expect((await s.ledger.get(`_${d.id}.c2`))?.payment.recurring?.network_transaction_id).toBe(RECORDED);
    expect(await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'first_payment' })).toBe(fromFirst + 1);
  });

  it('none when the order has no such payment: no order, a first payment that stored another credential, or one without a recorded id', async () => {
    const s = setup();
    const stamp = `${process.pid.toString(36)}x${Date.now().toString(36)}`;
    await firstPayment(s, `SUB-ORDER-OTHER-${stamp}`, 'pm_other_card', RECORDED);
    await firstPayment(s, `SUB-ORDER-NO-ID-${stamp}`, 'pm_card_visa');
    const none = await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'none' });
    const schedules = [
      definition('pm_card_visa', { order_id: undefined, max_cycles: 1 }),
      definition('pm_card_visa', { order_id: `SUB-ORDER-OTHER-${stamp}`, max_cycles: 1 }),
      definition('pm_card_visa', { order_id: `SUB-ORDER-NO-ID-${stamp}`, max_cycles: 1 }),
    ];
    for (const d of schedules) await s.store.add(d);
    expect(await s.pass(0)).toMatchObject({ started: 3 });
    for (const d of schedules) {
      const cycle = await s.ledger.get(`_${d.id}.c1`);
      expect(cycle?.state).toBe('SUCCEEDED');
      expect(cycle?.payment.recurring).not.toHaveProperty('network_transaction_id');
    }
    expect(await metricValue('pb_recurring_network_transaction_ids_total', { gateway: 'simulator', source: 'none' })).toBe(none + 3);
  });
});

describe('recurring billing: the OMS is told of skipped cycles (recurring_cycles_skipped)', () => {
  const SKIPPED = 'magento.payments.payments_management.recurring_cycles_skipped';
  let bus: BusTwin;

  beforeAll(async () => {
    bus = await startBusTwin({ clientId: BUS_CLIENT_ID, clientSecret: BUS_CLIENT_SECRET });
  });

  afterAll(async () => {
    await bus?.stop();
  });

  /** The skipped-cycles notices the bus twin got for schedule `id`. */
  const noticesOf = (id: string) => bus.notifications.filter((n) => n.method === SKIPPED && (n.params.schedule as { id?: unknown } | undefined)?.id === id);

  /** Waits for `count` notices of schedule `id` at the bus twin, then a little longer for any extra one to show. */
  async function settledNotices(id: string, count: number) {
    await eventually(async () => noticesOf(id).length >= count, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    return noticesOf(id);
  }

  it('a schedule started with start_at four periods in the past: one notice of cycles 1 to 4, not completed; later passes send none', async () => {
    const s = setup(undefined, undefined, undefined, bus);
    // Cycles 1 to 5 are due (the 5th ten days ago): 1 to 4 are skipped, the 5th charged.
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    expect(await s.pass(0)).toMatchObject({ started: 1 });
    const [notice, ...more] = await settledNotices(d.id, 1);
    expect(more).toEqual([]);
    expect(notice.params).toMatchObject({
      schedule: { id: d.id, completed: false, skipped: { first_cycle: 1, last_cycle: 4, count: 4 } },
      payment: { gateway: 'simulator', order_id: d.order_id, amount: 1500, currency: 'EUR', status: 'SKIPPED', event_id: `${d.id}.skipped.1-4` },
    });
    const decided = (notice.params.schedule as { skipped: { decided_at: string } }).skipped.decided_at;
    expect(decided).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(decided) - Date.now())).toBeLessThan(60_000);
    // The stored credential is no part of it.
    expect(JSON.stringify(notice.params)).not.toContain('pm_card_visa');
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 1 });
    expect(await s.pass(120_000)).toMatchObject({ due: 0 });
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
  });

  it('a schedule whose whole term passed: one notice of every cycle, completed; a second pass sends none', async () => {
    const s = setup(undefined, undefined, undefined, bus);
    const d = definition('pm_card_visa', { max_cycles: 3, start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    expect(await s.pass(0)).toMatchObject({ lapsed: 1 });
    const notices = await settledNotices(d.id, 1);
    expect(notices).toHaveLength(1);
    expect(notices[0].params).toMatchObject({
      schedule: { id: d.id, completed: true, skipped: { first_cycle: 1, last_cycle: 3, count: 3 } },
      payment: { status: 'SKIPPED', amount: 1500, currency: 'EUR', event_id: `${d.id}.skipped.1-3` },
    });
    expect(await s.store.get(d.id)).toMatchObject({ state: 'completed' });
    expect(await s.pass(60_000)).toMatchObject({ due: 0 });
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
  });

  it('two runners on one due schedule: one notice, the one of the runner whose skip was written', async () => {
    let first = async (): Promise<unknown> => undefined;
    const s = setup(undefined, undefined, undefined, bus);
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    // Runner B reads the schedule, then runner A's whole pass runs before B writes its skip; B's clock is a month ahead.
    const b = runnerAMonthAhead(s, () => first());
    first = () => s.pass(0);
    await b.runOnce();
    const notices = await settledNotices(d.id, 1);
    expect(notices.map((n) => (n.params.payment as { event_id: string }).event_id)).toEqual([`${d.id}.skipped.1-4`]);
  });

  it('a notice recorded again (its sent mark lost, as a step redone after a crash) is the same event: the bus gets it once', async () => {
    const s = setup(undefined, undefined, undefined, bus);
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    await s.pass(0);
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
    await s.redis.hset(recurringKeys(s.config.redis.keyPrefix).schedule(d.id), 'last_skip_notice', 'pending');
    expect(await s.pass(60_000)).toMatchObject({ noticesCaughtUp: 1, succeeded: 1 });
    expect((await s.store.get(d.id))?.lastSkip).toMatchObject({ from: 1, through: 4, notice: 'sent' });
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
  });

  it('a runner copy read before the notice was marked sent never marks it pending again', async () => {
    const s = setup(undefined, undefined, undefined, bus);
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    await s.pass(0);
    const after = (await s.store.get(d.id))!;
    expect(after.lastSkip).toMatchObject({ notice: 'sent' });
    expect(await s.store.updateFrom(after, { ...after, lastSkip: { ...after.lastSkip!, notice: 'pending' }, nextAt: after.nextAt + 1 })).toBe('written');
    expect((await s.store.get(d.id))?.lastSkip?.notice).toBe('sent');
  });

  it('a cancel after a skip whose notice a crash left unrecorded: the schedule stays due for it; the next pass sends it, once, and drops it', async () => {
    const crash = async (): Promise<unknown> => {
      throw new Error('Connection is closed.');
    };
    const s = setup(undefined, (r) => hookedRecorder(r, crash), undefined, bus);
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    await s.pass(0).catch(() => undefined);
    expect((await management(s).cancel({ id: d.id }, 'test')).cancelled).toBe(true);
    expect(await s.store.dueIds(Date.now() + 60_000, 100_000)).toContain(d.id);
    expect(await s.pass(60_000)).toMatchObject({ noticesCaughtUp: 1, started: 0 });
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
    expect(await s.store.get(d.id)).toMatchObject({ state: 'cancelled', lastSkip: { notice: 'sent' } });
    expect(await s.store.dueIds(Date.now() + 120_000, 100_000)).not.toContain(d.id);
    expect(chargesOf(d.id)).toEqual({});
  });

  it('a crash between the skip written on the schedule and its notice: the next pass sends it, once, and charges the claimed cycle', async () => {
    const crash = async (): Promise<unknown> => {
      throw new Error('Connection is closed.');
    };
    const s = setup(undefined, (r) => hookedRecorder(r, crash), undefined, bus);
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    await s.pass(0).catch(() => undefined);
    // The skip is on the schedule, the cycle due now claimed; the OMS has heard nothing yet.
    expect(await s.store.get(d.id)).toMatchObject({ cycle: 5, phase: 'charging', lastSkip: { from: 1, through: 4 } });
    expect(await s.events.load(`${d.id}.skipped.1-4`)).toBeNull();
    expect(await s.pass(60_000)).toMatchObject({ started: 1 });
    const notices = await settledNotices(d.id, 1);
    expect(notices).toHaveLength(1);
    expect(notices[0].params).toMatchObject({ schedule: { completed: false, skipped: { first_cycle: 1, last_cycle: 4, count: 4 } } });
    expect(await s.pass(120_000)).toMatchObject({ succeeded: 1 });
    expect(chargesOf(d.id)).toEqual({ [`_${d.id}.c5`]: 1 });
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
  });

  it('a bus that does not know the method (-32601): the notice is set aside at once, the charge of the cycle due now still reaches the OMS', async () => {
    const unknown = await startBusTwin({ clientId: BUS_CLIENT_ID, clientSecret: BUS_CLIENT_SECRET, unknownMethods: [SKIPPED] });
    closers.unshift(() => unknown.stop());
    const s = setup(undefined, undefined, undefined, unknown);
    const before = await metricValue('pb_recurring_skip_notices_set_aside_total', { reason: 'rpc_-32601' });
    const d = definition('pm_card_visa', { start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    expect(await s.pass(0)).toMatchObject({ started: 1 });
    // The notice is next before the cycle's own outcome in the order's sequence: held for ever, it would hold that back.
    const charged = `_${d.id}.c5.SUCCEEDED`;
    await eventually(async () => unknown.notifications.some((n) => (n.params.payment as { event_id?: unknown } | undefined)?.event_id === charged), 10_000);
    expect(unknown.refused.map((n) => (n.params.payment as { event_id?: unknown }).event_id)).toContain(`${d.id}.skipped.1-4`);
    expect((await s.events.rejected()).find((e) => e.eventId === `${d.id}.skipped.1-4`)?.reason).toBe('rpc_-32601');
    expect(await metricValue('pb_recurring_skip_notices_set_aside_total', { reason: 'rpc_-32601' })).toBe(before + 1);
    // The schedule's own mark says recorded: the outbox holds it, set aside for an operator (resend or dismiss).
    expect((await s.store.get(d.id))?.lastSkip?.notice).toBe('sent');
  });

  it('a crash between a lapsed schedule completed and its notice: it stays due, the next pass sends the notice once and drops it', async () => {
    const crash = async (): Promise<unknown> => {
      throw new Error('Connection is closed.');
    };
    const s = setup(undefined, (r) => hookedRecorder(r, crash), undefined, bus);
    const d = definition('pm_card_visa', { max_cycles: 3, start_at: monthsAgo(4, 10) });
    await s.store.add(d);
    await s.pass(0).catch(() => undefined);
    expect(await s.store.get(d.id)).toMatchObject({ state: 'completed', lastSkip: { from: 1, through: 3 } });
    expect(await s.events.load(`${d.id}.skipped.1-3`)).toBeNull();
    expect(await s.store.dueIds(Date.now() + 60_000, 100_000)).toContain(d.id);
    await s.pass(60_000);
    const notices = await settledNotices(d.id, 1);
    expect(notices).toHaveLength(1);
    expect(notices[0].params).toMatchObject({ schedule: { completed: true, skipped: { first_cycle: 1, last_cycle: 3, count: 3 } } });
    expect(await s.store.dueIds(Date.now() + 120_000, 100_000)).not.toContain(d.id);
    expect(await s.pass(120_000)).toMatchObject({ due: 0 });
    expect(await settledNotices(d.id, 1)).toHaveLength(1);
  });
});

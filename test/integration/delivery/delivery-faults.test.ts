/**
 * A delivery that throws a fault of the bridge (neither a gateway answer nor a dependency outage) meets the
 * same fault every time: after DELIVERY_FAULT_TRIES tries its job ends and the operation is set aside where
 * an operator sees it. Never sent: parked as a replayable dead letter (the OMS hears nothing). Maybe sent:
 * UNRESOLVED, never sent again, settled from the PSP by the poller.
 */
import { Config } from '../../../src/config/config';
import { DELIVERY_FAULT_TRIES, DeliveryFaults } from '../../../src/delivery/delivery-fault';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { ShardKeys } from '../../../src/redis/key-layout';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { redisText } from '../../support/redis-text';
import { Note, notedWorker, statusesOf, useSimulatorWorkers } from '../../support/noted-worker';

jest.setTimeout(60_000);

const API_KEY = 'sim-delivery-faults-key-0123456789';
const VISA = '4111111111111111';

const stack = useSimulatorWorkers(API_KEY);
const { configs, workers } = stack;

function faultConfig(): Config {
  const config = testConfig({
    'delivery.backoff_base_ms': 50,
    'delivery.backoff_max_ms': 200,
    'poller.schedule_ms': [1],
    gateways: { simulator: { type: 'simulator', base_url: stack.sim.url, api_key: API_KEY, timeout_ms: 2000 } },
  });
  configs.push(config);
  return config;
}

async function worker(config: Config, notes: Note[], routes: ReadonlyMap<string, GatewayRoute>, logger?: Logger): Promise<WorkerProcess> {
  const w = await notedWorker(config, notes, { routes, logger });
  workers.push(w);
  return w;
}

/** The gateway's routes with a transformer that cannot read any answer (a bug met after the request left). */
function unreadableAnswers(config: Config): ReadonlyMap<string, GatewayRoute> {
  const routes = new Map(createGatewayClients(config));
  const route = routes.get('simulator')!;
  const transformer = Object.create(route.transformer, {
    parseResponse: {
      value: () => {
        // A message that quotes input, as a JSON parse error's does: it must reach no store.
        throw new TypeError(`Cannot read properties of undefined (reading 'status') in "${VISA}"`);
      },
    },
  }) as GatewayRoute['transformer'];
  routes.set('simulator', { ...route, transformer });
  return routes;
}

describe('a delivery that keeps throwing a fault of the bridge', () => {
  it(`after the request was sent: UNRESOLVED after ${DELIVERY_FAULT_TRIES} tries, sent once only, an alert, no outcome told; the poller then settles it from the PSP`, async () => {
    const config = faultConfig();
    const notes: Note[] = [];
    const logs = captureLogger('info');
    const retriedBefore = await metricValue('pb_delivery_faults_total', { outcome: 'retried' });
    const unresolvedBefore = await metricValue('pb_delivery_faults_total', { outcome: 'unresolved' });
    const w = await worker(config, notes, unreadableAnswers(config), logs.logger);
    const client = await amqpClient(config);
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' });
    const id = command.payment.operation_reference!;
    await client.publish('web.payment.authorize', command);

    // The state is written before the fault is counted and logged: wait for the log line, the last of the three.
    const alerted = (): boolean => logs.lines.some((l) => l.includes('"level":"error"') && l.includes('delivery_fault') && l.includes(id));
    await eventually(async () => (await w.ledger.get(id))?.state === 'UNRESOLVED' && alerted(), 20_000);
    const history = await w.ledger.interactions(id);
    expect(history.filter((h) => h.event === 'unresolved').map((h) => [h.cause, h.error_class])).toEqual([['delivery_fault', 'TypeError']]);
    // Every try re-sent the same request under its idempotency key: the PSP acted once.
    expect(stack.sim.counters().effects[id]).toBe(1);
    expect(await metricValue('pb_delivery_faults_total', { outcome: 'retried' })).toBe(retriedBefore + DELIVERY_FAULT_TRIES - 1);
    expect(await metricValue('pb_delivery_faults_total', { outcome: 'unresolved' })).toBe(unresolvedBefore + 1);
    // The fault's message quoted a card number: not in the logs, not in the jobs' failure records, nowhere in Redis.
    expect(logs.lines.join('\n')).not.toContain(VISA);
    const store = createRedis(config.redis, 'commands');
    expect(await redisText(store, config.redis.keyPrefix)).not.toContain(VISA);
    store.disconnect();
    // The job ended: no more tries.
    const attempts = (await w.ledger.get(id))!.attempts;
    await new Promise((r) => setTimeout(r, 600));
    expect((await w.ledger.get(id))!.attempts).toBe(attempts);
    expect(statusesOf(notes, id).filter((s) => s === 'SUCCESS' || s === 'FAIL')).toEqual([]);

    // The poller asks the PSP with a transformer that reads its answer: what the PSP did is what is told.
    const redis = createRedis(config.redis, 'commands');
    const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    try {
      const ledger = new Ledger(redis, config.redis.keyPrefix);
      const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: silentLogger() });
      const poller = new Poller({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: silentLogger() });
      await poller.runOnce();
      expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
      expect(stack.sim.counters().effects[id]).toBe(1);
      await eventually(async () => statusesOf(notes, id).includes('SUCCESS'));
    } finally {
      await eventsQueue.close();
      redis.disconnect();
    }
    await client.deleteNamespace();
    await client.close();
  });

  it('before anything was sent: parked as a replayable dead letter (DELIVERY_FAULT), the OMS told nothing; replayed after the repair, it is delivered once', async () => {
    const config = faultConfig();
    const notes: Note[] = [];
    const parkedBefore = await metricValue('pb_operations_parked_total', { reason: 'delivery_fault' });
    const w = await worker(config, notes, createGatewayClients(config));
    const client = await amqpClient(config);
    const auth = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' });
    const authId = auth.payment.operation_reference!;
    await client.publish('web.payment.authorize', auth);
    await eventually(async () => (await w.ledger.get(authId))?.state === 'SUCCEEDED', 15_000);

    // The authorization's record no longer decodes: every capture delivery that reads it throws a SyntaxError.
    const redis = createRedis(config.redis, 'commands');
    const key = new ShardKeys(config.redis.keyPrefix, (await w.ledger.shardOf(authId)) ?? 0).op(authId);
    const payment = (await redis.hget(key, 'payment'))!;
    await redis.hset(key, 'payment', '{"amount":');
    const capture = channelCommand('capture', {}, { gateway: 'simulator', gateway_key: authId, order_id: auth.payment.order_id, amount: auth.payment.amount });
    const id = capture.payment.operation_reference!;
    await client.publish('web.payment.capture', capture);

    let dead: Awaited<ReturnType<typeof client.drainDeadLetters>> = [];
    await eventually(async () => (dead = dead.concat(await client.drainDeadLetters())).length > 0, 20_000);
    expect(dead).toHaveLength(1);
    const headers = dead[0].properties.headers as Record<string, unknown>;
    expect(headers['x-pb-code']).toBe('DELIVERY_FAULT');
    expect(String(headers['x-pb-reason'])).toContain('SyntaxError');
    expect(headers['x-pb-replayable']).toBe('true');
    expect(headers['x-pb-operation-id']).toBe(id);
    expect((await w.ledger.get(id))?.state).toBe('RECEIVED');
    expect(stack.sim.counters().effects[id]).toBeUndefined();
    // Counted once the park's mark is written, just after its dead letter.
    await eventually(async () => (await metricValue('pb_operations_parked_total', { reason: 'delivery_fault' })) === parkedBefore + 1);
    expect(statusesOf(notes, id)).toEqual([]);

    // Repaired, then replayed: delivered once, through its one operation id.
    await redis.hset(key, 'payment', payment);
    redis.disconnect();
    await client.publish(String(headers['x-pb-routing-key']), dead[0].content);
    await eventually(async () => (await w.ledger.get(id))?.state === 'SUCCEEDED', 15_000);
    expect(stack.sim.counters().effects[id]).toBe(1);
    await eventually(async () => statusesOf(notes, id).includes('SUCCESS'));
    expect(statusesOf(notes, id)).not.toContain('FAIL');
    await client.deleteNamespace();
    await client.close();
  });
});

describe('a delivery fault set aside on a stale read', () => {
  it('a PSP fact recorded between the read and the set-aside (a webhook PENDING) stands: not UNRESOLVED, counted settled', async () => {
    const config = faultConfig();
    const redis = createRedis(config.redis, 'commands');
    const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    try {
      const ledger = new Ledger(redis, config.redis.keyPrefix);
      const events = new EventStore(redis, config.redis.keyPrefix);
      const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: silentLogger() });
      const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', currency: 'EUR' });
      const id = command.payment.operation_reference!;
      await ledger.create(id, command);
      await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
      // The read the set-aside decides on is SENT; the webhook's PENDING lands right after it.
      const stale: Ledger = Object.assign(Object.create(ledger) as Ledger, {
        get: async (opId: string) => {
          const read = await ledger.get(opId);
          await ledger.transition(opId, 'PENDING', { event: 'outcome', source: 'webhook' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
          return read;
        },
      });
      const settled = (await metricValue('pb_delivery_faults_total', { outcome: 'settled' })) ?? 0;
      const step = await new DeliveryFaults({ config, ledger: stale, recorder, logger: silentLogger() }).setAside(id, new TypeError('a bug'));
      expect(step).toEqual({ kind: 'done', state: 'PENDING' });
      expect((await ledger.get(id))?.state).toBe('PENDING');
      expect(await metricValue('pb_delivery_faults_total', { outcome: 'settled' })).toBe(settled + 1);
    } finally {
      await eventsQueue.close();
      redis.disconnect();
    }
  });
});

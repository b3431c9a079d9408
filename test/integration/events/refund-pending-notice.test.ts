import { Queue, Worker } from 'bullmq';
import { BusClient } from '../../../src/bus/bus-client';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { startEventSender } from '../../../src/events/event-sender';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

/**
 * The refund pre-notice (`magento.postsales.refund_management.updated` PENDINGRELEASE, docs/EVENTS.md) goes
 * before the refund's outcome in its payment's sequence. A bus that refuses it for good (a JSON-RPC error: -32601
 * method not found) must not hold the refund's own `…refunded` notification behind it for ever: the pre-notice
 * is set aside at once (counted, a warn line naming the method and the error) and the outcome is delivered. A
 * transient failure (the delegate answering 503) is retried, and the two arrive in order.
 */
jest.setTimeout(30_000);

const CLIENT_ID = 'refund-notice-test';
const CLIENT_SECRET = 'refund-notice-secret-5c1e92b7';
const API_KEY = 'sim-refund-notice-key-0123456789';
const PRE_NOTICE = 'magento.postsales.refund_management.updated';
const REFUNDED = 'magento.payments.payments_management.refunded';

let sim: PspSimulator;
const twins: BusTwin[] = [];
const configs: Config[] = [];
const workers: Worker[] = [];
const queues: Queue[] = [];
const conns: RedisClient[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
  for (const q of queues.splice(0)) await q.close();
  for (const c of conns.splice(0)) c.disconnect();
  for (const t of twins.splice(0)) await t.stop();
});

afterAll(async () => {
  await sim.stop();
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

/** The worker's wiring on real Redis, the simulator and a bus twin: delivery, the inline send, the event sender. */
async function stack(twinOptions: { unknownMethods?: string[] } = {}) {
  const twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...twinOptions });
  twins.push(twin);
  const config = testConfig({
    'service_bus.url': twin.url,
    'mom_client.oauth_server_url': twin.url,
    'mom_client.client_id': CLIENT_ID,
    'mom_client.client_secret': CLIENT_SECRET,
    'service_bus.timeout_ms': 2000,
    'events.backoff_base_ms': 20,
    'events.backoff_max_ms': 200,
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-refund-notice-0123456789', timeout_ms: 1000 } },
  });
  configs.push(config);
  const redis = createRedis(config.redis, 'commands');
  const blocking = createRedis(config.redis, 'blocking');
  conns.push(redis, blocking);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  queues.push(eventsQueue);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const notifier = new BusClient(config, new OAuthTokenProvider(config));
  const logs = captureLogger('info');
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: silentLogger(), notifier });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: silentLogger() });
  workers.push(startEventSender(config, blocking, { events, sender: notifier, logger: logs.logger }));
  /** A sale, then a refund of part of it, both delivered; the refund's operation id. */
  const saleThenRefund = async (label: string): Promise<string> => {
    const name = `${label}-${Date.now().toString(36)}`;
    const sale = channelCommand('sale', {}, { gateway_key: 'pm_card_visa', amount: 4000, operation_reference: `${name}-sale`, order_id: `ORD-${name}` });
    await ledger.create(`${name}-sale`, sale);
    expect(await service.deliver(`${name}-sale`)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refund = channelCommand('refund', {}, { gateway_key: `${name}-sale`, amount: 1000, operation_reference: `${name}-refund`, order_id: `ORD-${name}` });
    await ledger.create(`${name}-refund`, refund);
    expect(await service.deliver(`${name}-refund`)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    return `${name}-refund`;
  };
  return { twin, config, events, logs, saleThenRefund };
}

const about = (refundId: string) => (n: { params: Record<string, unknown> }) => JSON.stringify(n.params).includes(refundId);

describe('the refund pre-notice', () => {
  it('is sent by default, before the refund outcome', async () => {
    const { twin, config, saleThenRefund } = await stack();
    expect(config.serviceBus.refundPendingNotice).toBe(true);
    const refundId = await saleThenRefund('notice-default');
    await eventually(async () => twin.notifications.some((n) => n.method === REFUNDED && about(refundId)(n)), 15_000);
    expect(twin.notifications.filter(about(refundId)).map((n) => n.method)).toEqual([PRE_NOTICE, REFUNDED]);
  });

  it('refused by the bus with -32601 (method not found) is set aside at once: the refunded notification still arrives', async () => {
    const { twin, events, logs, saleThenRefund } = await stack({ unknownMethods: [PRE_NOTICE] });
    const before = await metricValue('pb_refund_notices_set_aside_total', { reason: 'rpc_-32601' });
    const refundId = await saleThenRefund('notice-32601');
    await eventually(async () => twin.notifications.some((n) => n.method === REFUNDED && about(refundId)(n)), 15_000);
    expect(twin.notifications.filter(about(refundId)).map((n) => n.method)).toEqual([REFUNDED]);
    // Tried inline, then once by the queue: set aside at its first refusal there, never retried for ever.
    expect(twin.refused.filter(about(refundId)).map((n) => n.method)).toEqual([PRE_NOTICE, PRE_NOTICE]);
    expect(await metricValue('pb_refund_notices_set_aside_total', { reason: 'rpc_-32601' })).toBe(before + 1);
    const line = logs.lines.find((l) => l.includes('"level":"warn"') && l.includes(`${refundId}.refund-pending`));
    expect(line).toContain(PRE_NOTICE);
    expect(line).toContain('-32601');
    expect((await events.rejected()).find((e) => e.eventId === `${refundId}.refund-pending`)?.reason).toBe('rpc_-32601');
  });

  it('is retried through a transient failure (503), and arrives before the refund outcome', async () => {
    const { twin, saleThenRefund } = await stack();
    const before = await metricValue('pb_refund_notices_set_aside_total', { reason: 'rpc_-32601' });
    twin.setDelegateDown(true);
    const refundId = await saleThenRefund('notice-503');
    await new Promise((r) => setTimeout(r, 1000));
    twin.setDelegateDown(false);
    await eventually(async () => twin.notifications.some((n) => n.method === REFUNDED && about(refundId)(n)), 15_000);
    expect(twin.notifications.filter(about(refundId)).map((n) => n.method)).toEqual([PRE_NOTICE, REFUNDED]);
    expect(await metricValue('pb_refund_notices_set_aside_total', { reason: 'rpc_-32601' })).toBe(before);
  });
});

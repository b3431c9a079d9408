/**
 * A reconciliation run that settles an open authorization as FAILED gives back the cap reservation it held,
 * as the same failure found by a webhook or a status inquiry does: `reconcile()` wires its outcome recorder
 * with the orchestration's release (`buildOutcomeRecorder`), so a reservation is never left standing until
 * its day or month ends.
 */
import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { buildOrchestrationPipeline } from '../../../src/orchestration/orchestration-stages';
import { createRedis } from '../../../src/redis/redis-connection';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-recon-caps-key-0123456789';
let sim: PspSimulator;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let config: Config;
let service: DeliveryService;
let ledger: Ledger;

beforeAll(async () => {
  // No webhook URL: the simulator's asynchronous decline reaches the bridge only through its report.
  sim = await startPspSimulator({ apiKey: API_KEY, asyncDelayMs: 20 });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-recon-caps-0123456789', timeout_ms: 30000 } },
    // One authorization a day for this merchant: a reservation not given back blocks the next one.
    'caps.rules': [{ scope: 'merchant', name: 'one-a-day', currency: 'EUR', daily_count: 1 }],
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  const routes = createGatewayClients(config);
  const logger = captureLogger('error').logger;
  const pipeline = buildOrchestrationPipeline({ config, logger, redis, routes });
  // Delivery's own recorder leaves PENDING as it is: only the reconciliation run settles the failure here.
  const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger });
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(routes), recorder, logger, redis, routes, pipeline });
}, 60_000);

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

async function authorization(): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway_account: 'one-a-day', gateway_key: 'pm_async_declined', amount: 1000 });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

test('reconciliation settling a capped authorization as FAILED releases its reservation, so the next one fits under the cap', async () => {
  const from = Date.now() - 1000;
  const first = await authorization();
  // The PSP answers pending and declines later: the reservation stands meanwhile, and blocks the next one.
  expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'PENDING' });
  const blocked = await authorization();
  expect(await service.deliver(blocked)).toEqual({ kind: 'done', state: 'FAILED' });
  expect((await ledger.get(blocked))?.reason).toBe('CAP_EXCEEDED');
  await sim.webhooksIdle();

  const released = await metricValue('pb_caps_releases_total', { gateway: 'simulator', why: 'failed' });
  const logs = captureLogger('info');
  const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger: logs.logger, redis });
  expect(summary.settled).toBe(1);
  expect((await ledger.get(first))?.state).toBe('FAILED');

  const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'cap reservation released');
  expect(lines).toEqual([expect.objectContaining({ operation_id: first, why: 'failed' })]);
  expect(await metricValue('pb_caps_releases_total', { gateway: 'simulator', why: 'failed' })).toBe(released + 1);
  const next = await authorization();
  expect(await service.deliver(next)).toEqual({ kind: 'done', state: 'PENDING' });
}, 60_000);

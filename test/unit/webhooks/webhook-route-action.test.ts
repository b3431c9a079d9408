import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { GatewayTransformer, WebhookEvent } from '../../../src/gateways/gateway-adapter';
import { MAX_ACTION_BYTES } from '../../../src/gateways/customer-action';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { WebhookRoute } from '../../../src/webhooks/webhook-route';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

/**
 * A webhook whose item brings a customer action (no shipped gateway's does today; one may): the action is
 * bounded before the outcome job is queued, counted and logged. The gateway is a stand-in: signature
 * accepted, the body's one item read as it is.
 */
const queued: GatewayOutcomeJobData[] = [];
const { logger, lines } = captureLogger('warn');
let server: Server;
let url = '';

beforeAll(async () => {
  const config = testConfig({
    gateways: {
      simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789', webhook_secret: 'whsec-route-action-0123456789' },
    },
  });
  const transformer = {
    verifyWebhook: () => true,
    parseWebhook: (raw: Buffer): WebhookEvent[] => [JSON.parse(raw.toString('utf8')) as WebhookEvent],
    webhookAck: () => ({ status: 200, contentType: 'text/plain', body: 'ok' }),
  } as unknown as GatewayTransformer;
  const route = new WebhookRoute({
    config,
    transformers: new Map([['simulator', { gateway: config.gateways.simulator, transformer }]]),
    queue: { add: async (_name: string, data: GatewayOutcomeJobData) => void queued.push(data) } as unknown as Queue<GatewayOutcomeJobData>,
    seen: async () => false,
    replicated: async () => ({ present: true, acks: 0 }),
    operations: { hasOperation: async () => false, operationOfReference: async () => null },
    logger,
  });
  server = createServer((req, res) => void route.handle(req, res, req.url ?? '/'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/simulator`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

it('queues an outcome whose action is above the cap without its PSP object and its huge url, counted and logged', async () => {
  const item: WebhookEvent = {
    eventId: 'evt_action_1',
    gatewayReference: 'auth_action_1',
    outcome: {
      status: 'ACTION_REQUIRED',
      gatewayStatus: 'requires_action',
      gatewayReference: 'auth_action_1',
      action: { kind: 'redirect', url: `https://psp.example/${'w'.repeat(20_000)}`, client_secret: 'cs_ok', psp_action: { blob: 'b'.repeat(50_000) } },
    },
  };
  const before = await metricValue('pb_customer_actions_trimmed_total', { gateway: 'simulator', part: 'psp_action' });
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(item), headers: { 'content-type': 'application/json' } });
  expect(res.status).toBe(200);
  expect(queued).toHaveLength(1);
  expect(queued[0].outcome.action).toEqual({ kind: 'redirect', url: item.outcome.action!.url, client_secret: 'cs_ok' });
  expect(Buffer.byteLength(JSON.stringify(queued[0].outcome.action))).toBeLessThanOrEqual(MAX_ACTION_BYTES);
  expect(await metricValue('pb_customer_actions_trimmed_total', { gateway: 'simulator', part: 'psp_action' })).toBe(before + 1);
  const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('customer action above'));
  expect(warn).toMatchObject({
    gateway: 'simulator',
    source: 'webhook',
    gateway_reference: 'auth_action_1',
    event_id: 'evt_action_1',
    dropped: ['psp_action'],
  });
});

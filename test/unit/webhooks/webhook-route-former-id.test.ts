import { createHash } from 'node:crypto';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { GatewayTransformer, WebhookEvent } from '../../../src/gateways/gateway-adapter';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { webhookDigestKeys, webhookEventIdOf } from '../../../src/webhooks/webhook-event-key';
import { WebhookRoute } from '../../../src/webhooks/webhook-route';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

/**
 * A notification told apart by a value written nowhere (`WebhookEvent.eventIdSecret`: an Adyen RECURRING_CONTRACT's
 * token) that an earlier release queued under its former id: the route queues nothing again, and, with
 * `redis.replica_acks`, answers 2xx only once that job is confirmed on its primary and its replicas, as it does for
 * a repeat whose job it holds under the id itself. The gateway is a stand-in: signature accepted, the body's item
 * read as it is.
 */
const TOKEN = 'M5N7TQ4TG5PFWR50';
const UNKEYED = createHash('sha256').update(TOKEN).digest('hex').slice(0, 16);
const EVENT: WebhookEvent = {
  eventId: 'QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true',
  eventIdSecret: TOKEN,
  formerEventId: `QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true:${UNKEYED}`,
  gatewayReference: 'QFQTPCQ8HXSKGK82',
  outcome: { status: 'PENDING', gatewayStatus: 'RECURRING_CONTRACT', gatewayReference: 'QFQTPCQ8HXSKGK82', settles: [] },
};
const FORMER_JOB = bullJobId(`wh.simulator.${EVENT.formerEventId}`);

const added: string[] = [];
const asked: string[][] = [];
let replicated = { present: true, acks: 1 };
const { logger, lines } = captureLogger('info');
let server: Server;
let url = '';
let keyedId = '';

beforeAll(async () => {
  const config = testConfig({
    'redis.replica_acks': 1,
    'redis.replica_ack_timeout_ms': 50,
    gateways: {
      simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789', webhook_secret: 'whsec-route-former-0123456789' },
    },
  });
  keyedId = webhookEventIdOf(webhookDigestKeys(config.serviceBus.secret), EVENT);
  const transformer = {
    verifyWebhook: () => true,
    parseWebhook: (raw: Buffer): WebhookEvent[] => [JSON.parse(raw.toString('utf8')) as WebhookEvent],
    webhookAck: () => ({ status: 200, contentType: 'text/plain', body: 'ok' }),
  } as unknown as GatewayTransformer;
  const queue = {
    add: async (_name: string, _data: GatewayOutcomeJobData, opts: { jobId: string }) => void added.push(opts.jobId),
    // The earlier release's job, held under the former id.
    getJob: async (id: string) => (id === FORMER_JOB ? { id } : undefined),
  } as unknown as Queue<GatewayOutcomeJobData>;
  const route = new WebhookRoute({
    config,
    transformers: new Map([['simulator', { gateway: config.gateways.simulator, transformer }]]),
    queue,
    seen: async () => false,
    replicated: async (jobIds) => {
      asked.push([...jobIds]);
      return replicated;
    },
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

const post = () => fetch(url, { method: 'POST', body: JSON.stringify(EVENT), headers: { 'content-type': 'application/json' } });
const held = () => metricValue('pb_webhook_items_held_under_former_id_total', { gateway: 'simulator' });
const heldLines = () => lines.filter((l) => l.includes('under its former event id'));

it("answers 503 while the earlier release's job it finds under the former id is not on its replicas, and counts nothing yet", async () => {
  replicated = { present: false, acks: 0 };
  const before = await held();
  expect((await post()).status).toBe(503);
  // The job found, not one queued, is what had to be confirmed.
  expect(asked).toEqual([[FORMER_JOB]]);
  expect(added).toEqual([]);
  expect(await held()).toBe(before);
  expect(heldLines()).toEqual([]);
});

it('answers 200 once that job is confirmed: counted, an info line naming the keyed id, neither the token nor its unkeyed digest logged', async () => {
  replicated = { present: true, acks: 1 };
  asked.length = 0;
  const before = await held();
  expect((await post()).status).toBe(200);
  expect(asked).toEqual([[FORMER_JOB]]);
  expect(added).toEqual([]);
  expect(await held()).toBe(before + 1);
  expect(heldLines().map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
    expect.objectContaining({ level: 'info', gateway: 'simulator', event_id: keyedId }),
  ]);
  expect(keyedId).toMatch(/^QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true:[0-9a-f]{16}$/);
  expect(lines.join('\n')).not.toContain(TOKEN);
  expect(lines.join('\n')).not.toContain(UNKEYED);
});

import { randomBytes } from 'node:crypto';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { stepReferences } from '../../../src/split-tender/split-tender-plan';
import { freePort, purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

/**
 * A split tender's gift card authorization is captured AT THE PSP (an operator in its dashboard, an account capturing
 * automatically: the simulator's own capture API, under a reference that is none of ours) while the card part is pending;
 * the card part then declines and the split rolls back. The ledger holds no capture of the redemption, so its reversal is
 * a void; the simulator refuses it (422 `authorization_captured`, the authorization in the error with its
 * `amount_captured`), as Stripe refuses the cancel of a `succeeded` PaymentIntent. Before, the split ended
 * REVERSAL_FAILED, the gift card left charged for an order the OMS was told failed; now the void's refusal records what
 * the PSP captured, the reversal is re-decided as a refund of it under its own id, and the split ends ROLLED_BACK. Real
 * processes (web: the webhooks; worker: commands, split sweep, delivery) on the real RabbitMQ and Redis.
 */

jest.setTimeout(120_000);

const API_KEY = `sim-pspcap-${randomBytes(6).toString('hex')}`;
const SECRET = 'whsec-split-psp-capture-0123456789';
const RUN = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.replace(/[^a-z0-9]/g, '');
/** How long the simulator keeps the card part pending: the window in which the gift card is captured at the PSP. */
const ASYNC_DELAY_MS = 3000;
let sim: PspSimulator;
let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
let client: Awaited<ReturnType<typeof amqpClient>>;
const logs = captureLogger('info');

beforeAll(async () => {
  const webPort = await freePort();
  sim = await startPspSimulator({
    apiKey: API_KEY,
    webhookUrl: `http://127.0.0.1:${webPort}/webhooks/sim`,
    webhookSecret: SECRET,
    webhookRetryBaseMs: 50,
    asyncDelayMs: ASYNC_DELAY_MS,
  });
  config = testConfig({
    'http.port': webPort,
    'split_tender.sweep_interval_ms': 100,
    'delivery.backoff_base_ms': 50,
    'delivery.backoff_max_ms': 500,
    gateways: { sim: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: SECRET, timeout_ms: 3000 } },
  });
  const routes = createGatewayClients(config);
  web = await startWebProcess(config, silentLogger(), { webhooks: routes });
  worker = await startWorkerProcess(config, logs.logger, { routes, monitoringPort: 0, notifier: { notify: async () => undefined } });
  client = await amqpClient(config);
});

afterAll(async () => {
  await client?.deleteNamespace().catch(() => undefined);
  await client?.close();
  await worker?.stop().catch(() => undefined);
  await web?.stop().catch(() => undefined);
  await sim?.stop();
  await purgeNamespace(config).catch(() => undefined);
});

function split(id: string, card: string, giftCard: string): PaymentCommand {
  return {
    version: 1,
    command: 'authorize',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: card,
      amount: 10000,
      currency: 'EUR',
      order_id: `ORD-${id}`,
      operation_reference: id,
      tenders: [
        { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: giftCard, amount: 3000 },
        { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: card },
      ],
    },
  };
}

/** The simulator's stored result of our operation `reference`: null when it never reached the PSP. */
async function atPsp(reference: string): Promise<Record<string, unknown> | null> {
  const res = await fetch(`${sim.url}/v1/operations/${encodeURIComponent(reference)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return res.status === 404 ? null : ((await res.json()) as Record<string, unknown>);
}

/** Captures `amount` of PSP authorization `authId` at the simulator as its dashboard would: none of our references. */
async function captureAtPsp(authId: string, amount: number): Promise<void> {
  const reference = `dashboard-${randomBytes(4).toString('hex')}`;
  const res = await fetch(`${sim.url}/v1/authorizations/${encodeURIComponent(authId)}/captures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': reference },
    body: JSON.stringify({ amount, reference }),
  });
  expect(res.status).toBe(201);
}

/** Starts a split whose card part declines after `ASYNC_DELAY_MS`, and captures `captured` of its redemption at the PSP meanwhile. */
async function rollbackAfterPspCapture(tag: string, captured: number): Promise<{ id: string; refs: ReturnType<typeof stepReferences> }> {
  const id = `pspcap-${tag}-${RUN}`;
  const refs = stepReferences({ id, step_ids: 'namespaced' });
  await client.publish('web.payment.authorize', split(id, 'pm_async_declined', `gc_pspcap_${tag}_${RUN}_5000`));
  await eventually(
    async () => (await worker.ledger.get(refs.giftCard))?.state === 'SUCCEEDED' && (await worker.ledger.get(refs.card))?.state === 'PENDING',
    30_000,
  );
  const authId = (await worker.ledger.get(refs.giftCard))?.gatewayReference;
  expect(authId).toBeDefined();
  await captureAtPsp(authId ?? '', captured);
  return { id, refs };
}

describe('split tender: a tender captured at the PSP is refunded on rollback, not left REVERSAL_FAILED', () => {
  it('the void refused as captured records what the PSP captured; the redemption is refunded under its own id and the split ends ROLLED_BACK', async () => {
    const before = (await metricValue('pb_split_tender_voids_refused_captured_total', { gateway: 'sim', outcome: 'refunded' })) ?? 0;
    const { id, refs } = await rollbackAfterPspCapture('full', 3000);
    await eventually(async () => ['ROLLED_BACK', 'REVERSAL_FAILED'].includes((await worker.splitTender.coordinator.state(id)) ?? ''), 60_000);
    expect(await worker.splitTender.coordinator.state(id)).toBe('ROLLED_BACK');
    // The void was sent and refused: the PSP's word of what it captured is on its record.
    expect(await worker.ledger.get(refs.giftCardVoid)).toMatchObject({
      state: 'FAILED',
      reason: 'authorization_captured',
      capturedAtPsp: { amount: 3000, currency: 'EUR' },
    });
    expect(await worker.ledger.get(refs.giftCardRefund)).toMatchObject({ state: 'SUCCEEDED', command: 'refund' });
    expect((await worker.ledger.get(refs.giftCardRefund))?.payment.amount).toBe(3000);
    expect(await atPsp(refs.giftCardRefund)).toMatchObject({ object: 'refund', status: 'refunded', amount: 3000 });
    expect(await metricValue('pb_split_tender_voids_refused_captured_total', { gateway: 'sim', outcome: 'refunded' })).toBe(before + 1);
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => typeof l.message === 'string' && l.message.includes('captured at the PSP; refunding') && l.split === id);
    expect(line).toMatchObject({ level: 'warn', tender: 'gift_card', gateway: 'sim', captured: 3000, refund_operation_id: refs.giftCardRefund });
  });

  it('a partial capture at the PSP is refunded for what was captured, never the whole authorization', async () => {
    const { id, refs } = await rollbackAfterPspCapture('part', 1200);
    await eventually(async () => ['ROLLED_BACK', 'REVERSAL_FAILED'].includes((await worker.splitTender.coordinator.state(id)) ?? ''), 60_000);
    expect(await worker.splitTender.coordinator.state(id)).toBe('ROLLED_BACK');
    expect(await worker.ledger.get(refs.giftCardVoid)).toMatchObject({ state: 'FAILED', capturedAtPsp: { amount: 1200, currency: 'EUR' } });
    expect(await atPsp(refs.giftCardRefund)).toMatchObject({ object: 'refund', status: 'refunded', amount: 1200 });
  });
});

import { PassThrough } from 'node:stream';
import { opsFailedWebhooks, opsRetryWebhooks } from '../../../src/cli/webhook-commands';
import { FailedWebhook } from '../../../src/ops/failed-webhooks';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { SIMULATOR_SIGNATURE_HEADER, signSimulatorPayload } from '../../../harness/twins/psp-simulator/simulator-signature';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

/**
 * `ops webhooks failed` / `retry`: a webhook acknowledged to the PSP whose outcome the worker gave up on (here
 * an operation it never found) is listed for the operator and, once the cause is fixed, applied again.
 */

const SECRET = 'whsec-webhook-ops-test-0123456789';

let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
let ctx: OpsContext;
const audit = new PassThrough();
let audited = '';
audit.on('data', (c: Buffer) => (audited += c.toString()));

beforeAll(async () => {
  config = testConfig({
    // The outcome job's 20 attempts pass in well under a second.
    'delivery.backoff_base_ms': 5,
    'delivery.backoff_max_ms': 10,
    gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789', webhook_secret: SECRET } },
  });
  const routes = createGatewayClients(config);
  web = await startWebProcess(config, silentLogger(), { webhooks: routes });
  worker = await startWorkerProcess(config, silentLogger(), { routes, notifier: { notify: async () => undefined } });
  ctx = openOps(config, silentLogger(), { service: 'ops', auditStream: audit });
});

afterAll(async () => {
  await ctx.close();
  await web.stop();
  await worker.stop();
  await purgeNamespace(config).catch(() => undefined);
});

function output(): { out: PassThrough; actor: string; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out, actor: 'operator@test', text: () => text };
}

async function failedList(): Promise<FailedWebhook[]> {
  const io = output();
  expect(await opsFailedWebhooks(ctx, io, { gateway: 'simulator', json: true })).toBe(0);
  return JSON.parse(io.text()) as FailedWebhook[];
}

describe('ops webhooks', () => {
  it('lists a webhook outcome that never found its operation, and a retry after the operation exists applies it once', async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    const eventId = `evt_ops_${id}`;
    const body = JSON.stringify({
      id: eventId,
      type: 'authorization.succeeded',
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: `auth_${id}`, object: 'authorization', status: 'authorized', amount: 1999, currency: 'EUR', reference: id } },
    });
    const signature = signSimulatorPayload(SECRET, body, Math.floor(Date.now() / 1000));
    const res = await fetch(`${web.server.url}/webhooks/simulator`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', [SIMULATOR_SIGNATURE_HEADER.toLowerCase()]: signature },
    });
    expect(res.status).toBe(200);
    await eventually(async () => (await failedList()).some((w) => w.event_id === eventId), 15_000);
    const listed = (await failedList()).find((w) => w.event_id === eventId)!;
    expect(listed).toMatchObject({ gateway: 'simulator', operation_id: id, outcome: 'SUCCESS authorized', attempts: 20 });
    expect(listed.reason).toContain('no operation for webhook');
    const text = output();
    await opsFailedWebhooks(ctx, text, {});
    expect(text.text()).toContain(eventId);

    // The operation the webhook is about, waiting for its outcome (as after a lost answer).
    await worker.ledger.create(id, command);
    await worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { nextCheckAt: Date.now() + 600_000, pollStep: 0 });
    const before = await metricValue('pb_webhook_outcomes_retried_total', { gateway: 'simulator' });
    const io = output();
    expect(await opsRetryWebhooks(ctx, io, { gateway: 'simulator', ids: [eventId, 'evt_not_failed'] })).toBe(1);
    expect(io.text()).toContain(`simulator ${eventId}: retried`);
    expect(io.text()).toContain('simulator evt_not_failed: not failed');
    await eventually(async () => (await worker.ledger.get(id))?.state === 'SUCCEEDED', 15_000);
    expect((await failedList()).map((w) => w.event_id)).not.toContain(eventId);
    expect(await metricValue('pb_webhook_outcomes_retried_total', { gateway: 'simulator' })).toBe(before + 1);
    // A second retry finds nothing failed: nothing is applied twice.
    expect(await opsRetryWebhooks(ctx, output(), { gateway: 'simulator', ids: [eventId] })).toBe(1);
    await eventually(() => audited.includes('"webhook.retry"') && audited.includes('"ops.failed_webhooks"'));
  });

  it('refuses a --limit out of range, naming it', async () => {
    await expect(opsFailedWebhooks(ctx, output(), { limit: '0' })).rejects.toThrow('--limit');
    await expect(opsFailedWebhooks(ctx, output(), { limit: 'many' })).rejects.toThrow('--limit');
  });
});

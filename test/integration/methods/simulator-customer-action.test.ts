/**
 * The customer-action hand-off end to end on the PSP simulator, with the real processes in this one: a
 * 3-D Secure test card (`pm_card_3ds`) answers `requires_action`; the OMS gets ACTION_REQUIRED with the
 * challenge URL; the customer completes the challenge at the simulator, whose signed webhook reaches the web
 * process and settles the operation (SUCCESS, or FAIL `authentication_failed`); one left alone expires in
 * the worker's in-process poller (FAIL `ACTION_EXPIRED`) and what the simulator holds is voided.
 */
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { ACTION_EXPIRED } from '../../../src/poller/action-expiry';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { freePort, purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { ChannelPublisher } from '../../../harness/workload/channel-publisher';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(120_000);

const API_KEY = 'sim-3ds-test-key-0123456789';
const SECRET = 'whsec-sim-3ds-test-0123456789';
let sim: PspSimulator;
let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
let publisher: ChannelPublisher;
let ledger: Ledger;
const notes: Array<{ method: string; payment: Record<string, unknown> }> = [];

beforeAll(async () => {
  const webPort = await freePort();
  sim = await startPspSimulator({ apiKey: API_KEY, webhookUrl: `http://127.0.0.1:${webPort}/webhooks/simulator`, webhookSecret: SECRET });
  config = testConfig({
    'http.port': webPort,
    'poller.in_process_interval_ms': 300,
    'authentication.action_timeout_ms': 4000,
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: SECRET, timeout_ms: 3000 } },
  });
  const routes = createGatewayClients(config);
  web = await startWebProcess(config, silentLogger(), { webhooks: routes });
  worker = await startWorkerProcess(config, silentLogger(), {
    routes,
    monitoringPort: 0,
    notifier: {
      notify: async (method, params) => {
        notes.push({ method, payment: params.payment as Record<string, unknown> });
      },
    },
  });
  publisher = await ChannelPublisher.open(config);
  ledger = worker.ledger;
});

afterAll(async () => {
  await publisher?.close();
  await worker?.stop().catch(() => undefined);
  await web?.stop().catch(() => undefined);
  await sim?.stop();
  await purgeNamespace(config).catch(() => undefined);
});

function eventsOf(id: string): Array<Record<string, unknown>> {
  return notes.filter((n) => n.payment?.operation_reference === id).map((n) => n.payment);
}

async function authorize3ds(tag: string): Promise<string> {
  const id = `sim3ds-${tag}-${process.pid.toString(36)}${Date.now().toString(36)}`;
  await publisher.publish(channelCommand('authorize', {}, { operation_reference: id, order_id: `O-${id}`, gateway_key: 'pm_card_3ds' }));
  await eventually(() => eventsOf(id).some((p) => p.status === 'ACTION_REQUIRED'), 30_000);
  return id;
}

/** The challenge URL the ACTION_REQUIRED event handed the storefront. */
function challengeUrl(id: string): string {
  const action = eventsOf(id).find((p) => p.status === 'ACTION_REQUIRED')?.action as Record<string, unknown>;
  expect(action).toMatchObject({ kind: 'three_ds', psp_action: { type: 'three_ds_challenge' } });
  expect(String(action.url)).toMatch(new RegExp(`^${sim.url}/3ds/auth_`));
  return String(action.url);
}

test('a 3-D Secure card: ACTION_REQUIRED with the challenge URL, the customer authenticates, the webhook settles it SUCCESS', async () => {
  const id = await authorize3ds('ok');
  expect((await ledger.get(id))?.state).toBe('ACTION_REQUIRED');
  const url = challengeUrl(id);
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ result: 'authenticated' }) });
  expect(answer.status).toBe(200);
  await eventually(async () => (await ledger.get(id))?.state === 'SUCCEEDED', 30_000);
  await eventually(() => eventsOf(id).some((p) => p.status === 'SUCCESS'), 30_000);
  expect(eventsOf(id).map((p) => p.status)).toEqual(['ACTION_REQUIRED', 'SUCCESS']);
  // The action is not kept once the operation moved on; a second completion is refused by the simulator.
  expect((await ledger.get(id))?.action).toEqual({ kind: 'three_ds' });
  expect((await sim.completeChallenge(url.split('/').pop()!, 'authenticated')).status).toBe(409);
});

test('a failed challenge ends FAIL authentication_failed', async () => {
  const id = await authorize3ds('fail');
  const authId = challengeUrl(id).split('/').pop()!;
  expect((await sim.completeChallenge(authId, 'failed')).status).toBe(200);
  await eventually(async () => (await ledger.get(id))?.state === 'FAILED', 30_000);
  expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'authentication_failed' });
  await eventually(() => eventsOf(id).some((p) => p.status === 'FAIL'), 30_000);
});

test('a challenge nobody completes expires in the in-process poller: FAIL ACTION_EXPIRED and the authorization voided at the simulator', async () => {
  const id = await authorize3ds('expire');
  const authId = challengeUrl(id).split('/').pop()!;
  await eventually(async () => (await ledger.get(id))?.state === 'FAILED', 60_000);
  expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
  await eventually(async () => (await ledger.get(voidOperationId(id)))?.state === 'SUCCEEDED', 60_000);
  const auth = await fetch(`${sim.url}/v1/authorizations/${authId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(((await auth.json()) as Record<string, unknown>).status).toBe('cancelled');
  // Completing it now is refused: nothing can be charged for the order the OMS gave up on.
  expect((await sim.completeChallenge(authId, 'authenticated')).status).toBe(409);
  await eventually(() => eventsOf(id).some((p) => p.status === 'FAIL' && p.reason === ACTION_EXPIRED), 30_000);
});

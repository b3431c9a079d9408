import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { CommandType } from '../../../src/contracts/payment-command';
import { GatewayError } from '../../../src/errors/gateway-error';
import { GatewayClient } from '../../../src/gateways/gateway-client';
import { GatewayOutcome, GatewayRequest, GatewayResponse, OperationContext } from '../../../src/gateways/gateway-adapter';
import { simulatorTransformer as t } from '../../../src/gateways/simulator';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { signSimulatorPayload } from '../../../harness/twins/psp-simulator/simulator-signature';
import { rejectionOf } from '../../support/thrown';

/**
 * The adapter against the real simulator on loopback, through a plain outbound client: every command,
 * the status inquiry, business refusals, injected faults and a signed webhook.
 */

const API_KEY = `sk_test_${randomBytes(6).toString('hex')}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(8).toString('hex')}`;

interface ReceivedWebhook {
  rawBody: Buffer;
  headers: Record<string, string>;
}

let sim: Awaited<ReturnType<typeof startPspSimulator>>;
let hooks: http.Server;
let httpClient: AxiosInstance;
let gateway: GatewayConfig;
const received: ReceivedWebhook[] = [];
const waiting: Array<(hook: ReceivedWebhook) => void> = [];

/** Resolves with the first webhook (received or to come) whose body mentions `reference`. */
function webhookFor(reference: string): Promise<ReceivedWebhook> {
  const matches = (h: ReceivedWebhook): boolean => h.rawBody.toString('utf8').includes(`"${reference}"`);
  const found = received.find(matches);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => {
    const check = (h: ReceivedWebhook): void => {
      if (matches(h)) resolve(h);
      else waiting.push(check);
    };
    waiting.push(check);
  });
}

beforeAll(async () => {
  hooks = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hook: ReceivedWebhook = { rawBody: Buffer.concat(chunks), headers: {} };
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') hook.headers[k] = v;
      received.push(hook);
      for (const notify of waiting.splice(0)) notify(hook);
      const ack = t.webhookAck();
      res.writeHead(ack.status, { 'content-type': ack.contentType });
      res.end(ack.body);
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/webhooks/simulator`;
  sim = await startPspSimulator({ port: 0, host: '127.0.0.1', apiKey: API_KEY, webhookUrl, webhookSecret: WEBHOOK_SECRET, seed: 7 });
  gateway = {
    name: 'sim-it',
    type: 'simulator',
    baseUrl: sim.url,
    apiKey: API_KEY,
    webhookSecret: WEBHOOK_SECRET,
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 5000,
    maxSockets: 8,
  };
  httpClient = createOutboundHttp({ baseURL: sim.url, timeoutMs: 5000, maxSockets: 8 });
});

afterAll(async () => {
  await sim?.stop();
  await new Promise<void>((resolve) => (hooks ? hooks.close(() => resolve()) : resolve()));
});

afterEach(() => {
  sim.setFaults({});
});

let seq = 0;
function ctx(command: CommandType, gatewayKey: string, amount = 1000, currency = 'EUR'): OperationContext {
  seq += 1;
  return {
    operationId: `op-it-${command}-${seq}-${randomBytes(3).toString('hex')}`,
    command,
    payment: { gateway: gateway.name, gateway_account: 'default', gateway_key: gatewayKey, amount, currency },
  };
}

/** Sends an authenticated request exactly as built, returning the response whatever its status. */
async function send(request: GatewayRequest, key = gateway): Promise<GatewayResponse> {
  const signed = t.authenticate(request, key, new Date());
  const res = await httpClient.request<string>({
    method: signed.method,
    url: signed.path,
    headers: signed.headers,
    data: signed.body,
    transformRequest: [(d: unknown) => d],
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers as Record<string, unknown>)) if (typeof v === 'string') headers[k] = v;
  return { status: res.status, headers, body: typeof res.data === 'string' ? res.data : '', elapsedMs: 0 };
}

async function run(c: OperationContext): Promise<GatewayOutcome> {
  return t.parseResponse(c, await send(t.buildRequest(c, gateway)), gateway);
}

async function inquire(c: OperationContext): Promise<GatewayOutcome | null> {
  return t.parseStatusResponse(c, await send(t.buildStatusRequest(c, gateway)), gateway);
}

async function authorized(amount = 1000): Promise<string> {
  const outcome = await run(ctx('authorize', 'pm_card_visa', amount));
  expect(outcome.status).toBe('SUCCESS');
  return outcome.gatewayReference ?? '';
}

const gatewayErrorOf = (promise: Promise<unknown>): Promise<GatewayError> => rejectionOf(promise, GatewayError);

describe('simulator adapter against the simulator', () => {
  it('authorizes, captures in part, refunds in part and reports each step as SUCCESS', async () => {
    const auth = await run(ctx('authorize', 'pm_card_visa', 2500));
    expect(auth).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'authorized', amount: 2500 });
    expect(auth.gatewayReference).toMatch(/^auth_/);
    const key = auth.gatewayReference ?? '';
    expect(await run(ctx('capture', key, 1500))).toMatchObject({ status: 'SUCCESS' });
    expect(await run(ctx('refund', key, 500))).toMatchObject({ status: 'SUCCESS' });
  });

  it('sells in one step', async () => {
    expect(await run(ctx('sale', 'pm_card_visa', 700))).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'captured' });
  });

  it('reports a declined card as FAIL with the decline code', async () => {
    expect(await run(ctx('authorize', 'pm_card_declined'))).toMatchObject({ status: 'FAIL', reason: 'card_declined' });
    expect(await run(ctx('authorize', 'pm_insufficient_funds'))).toMatchObject({ status: 'FAIL', reason: 'insufficient_funds' });
  });

  it('reports a capture above the authorized amount as FAIL amount_exceeds_authorized', async () => {
    const key = await authorized(1000);
    expect(await run(ctx('capture', key, 1001))).toMatchObject({ status: 'FAIL', reason: 'amount_exceeds_authorized' });
  });

  it('reports a refund above the captured amount as FAIL amount_exceeds_captured', async () => {
    const key = await authorized(1000);
    await run(ctx('capture', key, 600));
    expect(await run(ctx('refund', key, 601))).toMatchObject({ status: 'FAIL', reason: 'amount_exceeds_captured' });
  });

  it('validates an authorization, cancels it, and then no longer validates it', async () => {
    const key = await authorized();
    expect(await run(ctx('validate', key))).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: key });
    expect(await run(ctx('cancel', key))).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'cancelled' });
    expect(await run(ctx('validate', key))).toMatchObject({ status: 'FAIL', reason: 'authorization_cancelled' });
  });

  it('refuses to cancel a captured authorization with a FAIL outcome', async () => {
    const key = await authorized();
    await run(ctx('capture', key, 1000));
    const outcome = await run(ctx('cancel', key));
    expect(outcome.status).toBe('FAIL');
    expect(outcome.reason).toBeTruthy();
  });

  it('revalidates into a new authorization key and cancels the old one', async () => {
    const key = await authorized();
    const outcome = await run(ctx('revalidate', key, 1200));
    expect(outcome.status).toBe('SUCCESS');
    expect(outcome.newGatewayKey).toMatch(/^auth_/);
    expect(outcome.newGatewayKey).not.toBe(key);
    expect(await run(ctx('validate', key))).toMatchObject({ status: 'FAIL' });
    expect(await run(ctx('validate', outcome.newGatewayKey ?? ''))).toMatchObject({ status: 'SUCCESS' });
  });

  it('tokenizes into a token key', async () => {
    const outcome = await run(ctx('tokenize', 'pm_card_visa'));
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'active' });
    expect(outcome.newGatewayKey).toMatch(/^tok_/);
  });

  it('replays the same operation without a second money effect', async () => {
    const c = ctx('authorize', 'pm_card_visa', 900);
    const first = await run(c);
    const response = await send(t.buildRequest(c, gateway));
    expect(response.headers['idempotent-replayed']).toBe('true');
    expect(t.parseResponse(c, response, gateway)).toEqual(first);
    const counters = sim.counters();
    expect(counters.effects[c.operationId]).toBe(1);
  });

  it('answers a status inquiry with the stored outcome, and null for an operation that never landed', async () => {
    const c = ctx('authorize', 'pm_card_visa', 400);
    const outcome = await run(c);
    expect(await inquire(c)).toEqual(outcome);
    expect(await inquire(ctx('capture', outcome.gatewayReference ?? ''))).toBeNull();
  });

  it('classifies a wrong api key as an authentication error', async () => {
    const c = ctx('authorize', 'pm_card_visa');
    const response = await send(t.buildRequest(c, gateway), { ...gateway, apiKey: 'sk_wrong' });
    expect(() => t.parseResponse(c, response, gateway)).toThrow(expect.objectContaining({ kind: 'authentication' }) as unknown as Error);
  });

  it('classifies an unknown authorization as not_found', async () => {
    expect((await gatewayErrorOf(run(ctx('capture', 'auth_does_not_exist')))).kind).toBe('not_found');
  });

  it('classifies injected 503s and 429s as retryable, with nothing charged', async () => {
    sim.setFaults({ error5xxRate: 1 });
    const failing = ctx('authorize', 'pm_card_visa');
    expect((await gatewayErrorOf(run(failing))).kind).toBe('server_error');
    sim.setFaults({ rateLimitRate: 1 });
    const limited = await gatewayErrorOf(run(failing));
    expect(limited).toMatchObject({ kind: 'rate_limited', retryable: true });
    expect(limited.details.retryAfterMs).toBe(1000);
    sim.setFaults({});
    expect(await inquire(failing)).toBeNull();
    expect(await run(failing)).toMatchObject({ status: 'SUCCESS' });
    expect(sim.counters().effects[failing.operationId]).toBe(1);
  });

  it('finds by status inquiry an operation whose answer was lost after the effect', async () => {
    const key = await authorized(1000);
    const c = ctx('capture', key, 1000);
    sim.setFaults({ commitThenTimeoutRate: 1 });
    const quick = createOutboundHttp({ baseURL: sim.url, timeoutMs: 1000, maxSockets: 2 });
    const signed = t.authenticate(t.buildRequest(c, gateway), gateway, new Date());
    await expect(quick.request({ method: signed.method, url: signed.path, headers: signed.headers, data: signed.body })).rejects.toThrow();
    sim.setFaults({});
    expect(await inquire(c)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'captured' });
    expect(sim.counters().effects[c.operationId]).toBe(1);
  });

  it('through the shared gateway client, a reset is outcome_unknown and the inquiry says it never landed', async () => {
    const client = new GatewayClient(gateway, t, { proxy: { host: '', port: 0 } });
    const c = ctx('authorize', 'pm_card_visa', 800);
    sim.setFaults({ resetRate: 1 });
    const lost = await gatewayErrorOf(client.send(t.buildRequest(c, gateway)));
    expect(lost.kind).toBe('outcome_unknown');
    sim.setFaults({});
    expect(t.parseStatusResponse(c, await client.send(t.buildStatusRequest(c, gateway)), gateway)).toBeNull();
    expect(t.parseResponse(c, await client.send(t.buildRequest(c, gateway)), gateway).status).toBe('SUCCESS');
    expect(sim.counters().effects[c.operationId]).toBe(1);
  });

  it('receives a signed webhook for an async authorization, verifies and parses it', async () => {
    const c = ctx('authorize', 'pm_async', 1500);
    const outcome = await run(c);
    expect(outcome.status).toBe('PENDING');
    const hook = await webhookFor(c.operationId);
    expect(t.verifyWebhook(hook.rawBody, hook.headers, gateway, new Date())).toBe(true);
    expect(t.verifyWebhook(hook.rawBody, hook.headers, { ...gateway, webhookSecret: 'whsec_other' }, new Date())).toBe(false);
    const [event] = t.parseWebhook(hook.rawBody, gateway);
    expect(event.eventId).toMatch(/^evt_/);
    expect(event.operationId).toBe(c.operationId);
    expect(event.gatewayReference).toBe(outcome.gatewayReference);
    expect(event.outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'authorized' });
    expect(await inquire(c)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'authorized' });
  });

  it('receives a signed webhook for an async decline and maps it to FAIL with the decline code', async () => {
    const c = ctx('authorize', 'pm_async_declined', 1500);
    expect((await run(c)).status).toBe('PENDING');
    const hook = await webhookFor(c.operationId);
    expect(t.verifyWebhook(hook.rawBody, hook.headers, gateway, new Date())).toBe(true);
    const [event] = t.parseWebhook(hook.rawBody, gateway);
    expect(event.operationId).toBe(c.operationId);
    expect(event.outcome.status).toBe('FAIL');
    expect(event.outcome.reason).toBeTruthy();
  });

  it('verifies a webhook signed by the simulator signing helper, and refuses it tampered', () => {
    const rawBody = Buffer.from(
      JSON.stringify({ id: 'evt_x', type: 'authorization.succeeded', created: 1, data: { object: { id: 'auth_x', status: 'authorized', reference: 'op-x' } } }),
    );
    const header = signSimulatorPayload(WEBHOOK_SECRET, rawBody, Math.floor(Date.now() / 1000));
    expect(t.verifyWebhook(rawBody, { 'Simulator-Signature': header }, gateway, new Date())).toBe(true);
    expect(t.verifyWebhook(Buffer.concat([rawBody, Buffer.from(' ')]), { 'Simulator-Signature': header }, gateway, new Date())).toBe(false);
  });
});

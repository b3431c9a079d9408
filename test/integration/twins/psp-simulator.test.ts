import http from 'node:http';
import { AddressInfo } from 'node:net';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';

/**
 * The PSP simulator on a real port: every endpoint, idempotency, money arithmetic, fault injection,
 * signed webhooks to a real local receiver, counters and outages.
 */

const API_KEY = `sk_test_${randomUUID()}`;
const WEBHOOK_SECRET = `whsec_${randomUUID()}`;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // Test-side view of a JSON answer.
  json: Record<string, any>;
}

interface Received {
  rawBody: Buffer;
  headers: http.IncomingHttpHeaders;
  event: { id: string; type: string; created: number; data: { object: Record<string, unknown> } };
}

let sim: PspSimulator;
let hooks: http.Server;
const received: Received[] = [];
let failNextWebhooks = 0;

function call(
  method: string,
  path: string,
  body?: unknown,
  options: { key?: string | null; auth?: string | null; timeoutMs?: number; base?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const auth = options.auth === undefined ? `Bearer ${API_KEY}` : options.auth;
  if (auth !== null) headers.authorization = auth;
  if (method === 'POST' && options.key !== null) headers['idempotency-key'] = options.key ?? randomUUID();
  const raw = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  if (raw) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(`${options.base ?? sim.url}${path}`, { method, headers, agent: false, timeout: options.timeoutMs ?? 5000 });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: text ? (JSON.parse(text) as Reply['json']) : {} });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(raw);
  });
}

function ref(prefix = 'op'): string {
  return `${prefix}-${randomUUID()}`;
}

async function authorize(extra: Record<string, unknown> = {}, key?: string): Promise<Reply> {
  return call('POST', '/v1/authorizations', { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: key ?? ref(), ...extra }, { key });
}

async function waitFor<T>(find: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 500; i += 1) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function hooksFor(reference: string): Received[] {
  return received.filter((r) => r.event.data.object.reference === reference);
}

function effectsOf(key: string): number | undefined {
  return sim.counters().effects[key];
}

beforeAll(async () => {
  hooks = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failNextWebhooks > 0) {
        failNextWebhooks -= 1;
        res.writeHead(500).end();
        return;
      }
      const rawBody = Buffer.concat(chunks);
      received.push({ rawBody, headers: req.headers, event: JSON.parse(rawBody.toString('utf8')) as Received['event'] });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/webhooks/simulator`;
  sim = await startPspSimulator({ apiKey: API_KEY, webhookUrl, webhookSecret: WEBHOOK_SECRET, seed: 7, asyncDelayMs: 20, webhookRetryBaseMs: 20 });
});

afterEach(() => {
  sim.setFaults({});
  sim.setDown(false);
  failNextWebhooks = 0;
});

afterAll(async () => {
  await sim.stop();
  hooks.closeAllConnections();
  await new Promise<void>((resolve) => hooks.close(() => resolve()));
});

describe('PSP simulator API', () => {
  it('listens on 127.0.0.1 on a free port', () => {
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses calls without the right bearer api key with 401', async () => {
    expect((await authorize()).status).toBe(201);
    const none = await call('GET', '/v1/authorizations/auth_x', undefined, { auth: null });
    expect(none).toMatchObject({ status: 401, json: { error: { code: 'unauthorized' } } });
    expect((await call('POST', '/v1/tokens', { payment_method: 'pm_card_visa', reference: ref() }, { auth: 'Bearer wrong' })).status).toBe(401);
  });

  it('refuses a POST without an Idempotency-Key with 400 and applies nothing', async () => {
    const before = sim.counters().totalEffects;
    const reply = await call('POST', '/v1/authorizations', { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: ref() }, { key: null });
    expect(reply).toMatchObject({ status: 400, json: { error: { code: 'idempotency_key_required' } } });
    expect(sim.counters().totalEffects).toBe(before);
  });

  it('refuses a malformed body with 400 naming the parameter, and unknown routes with 404', async () => {
    expect(await authorize({ amount: 10.5 })).toMatchObject({ status: 400, json: { error: { code: 'invalid_request', param: 'amount' } } });
    expect(await call('POST', '/v1/authorizations', '{not json')).toMatchObject({ status: 400, json: { error: { code: 'invalid_json' } } });
    expect(await call('GET', '/v1/nothing')).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
  });

  it('authorizes, captures in part, refunds in part and shows the arithmetic on the authorization', async () => {
    const auth = await authorize({ amount: 2500 });
    expect(auth.status).toBe(201);
    expect(auth.json).toMatchObject({ object: 'authorization', status: 'authorized', amount: 2500, amount_captured: 0, amount_refunded: 0, currency: 'EUR' });
    expect(auth.json.id).toMatch(/^auth_/);
    const id = auth.json.id as string;
    const capture = await call('POST', `/v1/authorizations/${id}/captures`, { amount: 1500, reference: ref() });
    expect(capture).toMatchObject({ status: 201, json: { object: 'capture', status: 'captured', amount: 1500, authorization: id } });
    expect(capture.json.id).toMatch(/^cap_/);
    const refund = await call('POST', `/v1/authorizations/${id}/refunds`, { amount: 500, reference: ref() });
    expect(refund).toMatchObject({ status: 201, json: { object: 'refund', status: 'refunded', amount: 500 } });
    expect(refund.json.id).toMatch(/^re_/);
    const now = await call('GET', `/v1/authorizations/${id}`);
    expect(now).toMatchObject({ status: 200, json: { status: 'captured', amount: 2500, amount_captured: 1500, amount_refunded: 500 } });
  });

  it('refuses a capture above the authorized amount not yet captured with 422 amount_exceeds_authorized', async () => {
    const id = (await authorize({ amount: 1000 })).json.id as string;
    expect(await call('POST', `/v1/authorizations/${id}/captures`, { amount: 1001, reference: ref() })).toMatchObject({
      status: 422,
      json: { error: { code: 'amount_exceeds_authorized' } },
    });
    expect((await call('POST', `/v1/authorizations/${id}/captures`, { amount: 600, reference: ref() })).status).toBe(201);
    expect((await call('POST', `/v1/authorizations/${id}/captures`, { amount: 401, reference: ref() })).json).toMatchObject({
      error: { code: 'amount_exceeds_authorized' },
    });
    expect((await call('POST', `/v1/authorizations/${id}/captures`, { amount: 400, reference: ref() })).status).toBe(201);
  });

  it('refuses a refund above the captured amount not yet refunded with 422 amount_exceeds_captured', async () => {
    const id = (await authorize({ amount: 1000 })).json.id as string;
    expect((await call('POST', `/v1/authorizations/${id}/refunds`, { amount: 1, reference: ref() })).json).toMatchObject({
      error: { code: 'amount_exceeds_captured' },
    });
    await call('POST', `/v1/authorizations/${id}/captures`, { amount: 600, reference: ref() });
    expect((await call('POST', `/v1/authorizations/${id}/refunds`, { amount: 601, reference: ref() })).status).toBe(422);
    expect((await call('POST', `/v1/authorizations/${id}/refunds`, { amount: 600, reference: ref() })).status).toBe(201);
    expect((await call('POST', `/v1/authorizations/${id}/refunds`, { amount: 1, reference: ref() })).json).toMatchObject({
      error: { code: 'amount_exceeds_captured' },
    });
  });

  it('sells in one step and marks the authorization refunded once all of it is refunded', async () => {
    const sale = await authorize({ amount: 700, capture: true });
    expect(sale.json).toMatchObject({ status: 'captured', amount_captured: 700 });
    await call('POST', `/v1/authorizations/${sale.json.id as string}/refunds`, { amount: 700, reference: ref() });
    expect((await call('GET', `/v1/authorizations/${sale.json.id as string}`)).json).toMatchObject({ status: 'refunded', amount_refunded: 700 });
  });

  it('declines the magic payment methods with their decline codes', async () => {
    expect((await authorize({ payment_method: 'pm_card_declined' })).json).toMatchObject({ status: 'declined', decline_code: 'card_declined' });
    expect((await authorize({ payment_method: 'pm_insufficient_funds' })).json).toMatchObject({ status: 'declined', decline_code: 'insufficient_funds' });
  });

  it('cancels an uncaptured authorization and refuses to cancel a captured one', async () => {
    const id = (await authorize()).json.id as string;
    const reference = ref();
    expect(await call('POST', `/v1/authorizations/${id}/cancel`, { reference })).toMatchObject({
      status: 201,
      json: { object: 'cancellation', status: 'cancelled', amount: 1000, reference, authorization: id },
    });
    expect((await call('GET', `/v1/authorizations/${id}`)).json.status).toBe('cancelled');
    const captured = (await authorize({ capture: true })).json.id as string;
    expect(await call('POST', `/v1/authorizations/${captured}/cancel`, { reference: ref() })).toMatchObject({
      status: 422,
      json: { error: { code: 'authorization_captured' } },
    });
  });

  it('reauthorizes into a new authorization and cancels the old one', async () => {
    const old = (await authorize()).json.id as string;
    const fresh = await call('POST', `/v1/authorizations/${old}/reauthorize`, { amount: 1200, reference: ref() });
    expect(fresh).toMatchObject({ status: 201, json: { object: 'authorization', status: 'authorized', amount: 1200 } });
    expect(fresh.json.id).not.toBe(old);
    expect((await call('GET', `/v1/authorizations/${old}`)).json.status).toBe('cancelled');
  });

  it('tokenizes a payment method into an active token usable for authorizations', async () => {
    const token = await call('POST', '/v1/tokens', { payment_method: 'pm_card_visa', reference: ref() });
    expect(token).toMatchObject({ status: 201, json: { object: 'token', status: 'active' } });
    expect(token.json.id).toMatch(/^tok_/);
    expect((await authorize({ payment_method: token.json.id as string })).json.status).toBe('authorized');
  });

  it('answers 404 for an unknown authorization', async () => {
    expect(await call('GET', '/v1/authorizations/auth_nope')).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
    expect((await call('POST', '/v1/authorizations/auth_nope/captures', { amount: 1, reference: ref() })).status).toBe(404);
  });

  it('answers a status inquiry with the stored result or refusal, and 404 for an operation that never landed', async () => {
    const reference = ref();
    const auth = await authorize({}, reference);
    const inquiry = await call('GET', `/v1/operations/${reference}`);
    expect(inquiry).toMatchObject({ status: 200 });
    expect(inquiry.json).toEqual(auth.json);
    const refused = ref();
    await call('POST', `/v1/authorizations/${auth.json.id as string}/captures`, { amount: 5000, reference: refused }, { key: refused });
    expect((await call('GET', `/v1/operations/${refused}`)).json).toMatchObject({ error: { code: 'amount_exceeds_authorized' } });
    expect(await call('GET', `/v1/operations/${ref()}`)).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
  });
});

describe('PSP simulator idempotency', () => {
  it('replays the same key and parameters with the same body, Idempotent-Replayed: true and no new effect', async () => {
    const key = ref();
    const body = { amount: 900, currency: 'EUR', payment_method: 'pm_card_visa', reference: key };
    const first = await call('POST', '/v1/authorizations', body, { key });
    const replaysBefore = sim.counters().replays;
    // The same parameters in another key order are the same parameters.
    const again = await call('POST', '/v1/authorizations', { reference: key, payment_method: 'pm_card_visa', currency: 'EUR', amount: 900 }, { key });
    expect(again.status).toBe(first.status);
    expect(again.text).toBe(first.text);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(effectsOf(key)).toBe(1);
    expect(sim.counters().replays).toBe(replaysBefore + 1);
  });

  it('replays a stored refusal rather than running it again', async () => {
    const id = (await authorize({ amount: 100 })).json.id as string;
    const key = ref();
    const first = await call('POST', `/v1/authorizations/${id}/captures`, { amount: 101, reference: key }, { key });
    const again = await call('POST', `/v1/authorizations/${id}/captures`, { amount: 101, reference: key }, { key });
    expect(again).toMatchObject({ status: 422, text: first.text });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(effectsOf(key)).toBeUndefined();
  });

  it('answers 422 idempotency_conflict for the same key with other parameters, with no effect', async () => {
    const key = ref();
    await authorize({ amount: 900 }, key);
    const conflict = await authorize({ amount: 901 }, key);
    expect(conflict).toMatchObject({ status: 422, json: { error: { code: 'idempotency_conflict' } } });
    const otherPath = await call('POST', '/v1/tokens', { payment_method: 'pm_card_visa', reference: key }, { key });
    expect(otherPath.json).toMatchObject({ error: { code: 'idempotency_conflict' } });
    expect(effectsOf(key)).toBe(1);
  });

  it('answers 409 to a request whose key is still in flight', async () => {
    // In flight for a second: the second request must arrive meanwhile, a loaded machine's round trip included.
    sim.setFaults({ latencyMs: { min: 1000, max: 1000 } });
    const key = ref();
    // The file's simulator counts every test's requests: wait for this one's, not for any (the earlier tests' are).
    const requests = sim.counters().requests;
    const first = authorize({}, key);
    // Counted as its key is marked in flight; it then sleeps in its injected latency.
    await waitFor(() => (sim.counters().requests > requests ? true : undefined), 'the first request');
    const second = await authorize({}, key);
    expect(second).toMatchObject({ status: 409, json: { error: { code: 'idempotency_in_flight' } } });
    expect((await first).status).toBe(201);
    expect(effectsOf(key)).toBe(1);
  });
});

describe('PSP simulator faults', () => {
  it('answers 503 before any effect; the same key then succeeds once', async () => {
    sim.setFaults({ error5xxRate: 1 });
    const key = ref();
    expect(await authorize({}, key)).toMatchObject({ status: 503, json: { error: { code: 'service_unavailable' } } });
    expect(effectsOf(key)).toBeUndefined();
    expect((await call('GET', `/v1/operations/${key}`)).status).toBe(503);
    sim.setFaults({});
    expect((await call('GET', `/v1/operations/${key}`)).status).toBe(404);
    expect((await authorize({}, key)).status).toBe(201);
    expect(effectsOf(key)).toBe(1);
  });

  it('answers 429 with Retry-After: 1 before any effect', async () => {
    sim.setFaults({ rateLimitRate: 1 });
    const key = ref();
    const reply = await authorize({}, key);
    expect(reply).toMatchObject({ status: 429, json: { error: { code: 'rate_limited' } } });
    expect(reply.headers['retry-after']).toBe('1');
    expect(effectsOf(key)).toBeUndefined();
  });

  it('destroys the socket before any effect on a reset', async () => {
    sim.setFaults({ resetRate: 1 });
    const key = ref();
    await expect(authorize({}, key)).rejects.toThrow();
    sim.setFaults({});
    expect(effectsOf(key)).toBeUndefined();
    expect((await call('GET', `/v1/operations/${key}`)).status).toBe(404);
  });

  it('holds the request without an answer or an effect on a timeout', async () => {
    sim.setFaults({ timeoutRate: 1 });
    const key = ref();
    const body = { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: key };
    await expect(call('POST', '/v1/authorizations', body, { key, timeoutMs: 300 })).rejects.toThrow('client timeout');
    sim.setFaults({});
    expect(effectsOf(key)).toBeUndefined();
    expect((await call('GET', `/v1/operations/${key}`)).status).toBe(404);
    expect((await call('POST', '/v1/authorizations', body, { key })).status).toBe(201);
    expect(effectsOf(key)).toBe(1);
  });

  it('applies the effect once and never answers on commit-then-timeout; the status inquiry finds the result', async () => {
    sim.setFaults({ commitThenTimeoutRate: 1 });
    const key = ref();
    const body = { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: key, capture: true };
    await expect(call('POST', '/v1/authorizations', body, { key, timeoutMs: 300 })).rejects.toThrow('client timeout');
    sim.setFaults({});
    expect(effectsOf(key)).toBe(1);
    const inquiry = await call('GET', `/v1/operations/${key}`);
    expect(inquiry).toMatchObject({ status: 200, json: { status: 'captured', amount: 1000, reference: key } });
    const retried = await call('POST', '/v1/authorizations', body, { key });
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json).toEqual(inquiry.json);
    expect(effectsOf(key)).toBe(1);
  });

  it('still answers correctly with injected latency', async () => {
    sim.setFaults({ latencyMs: { min: 5, max: 20 } });
    expect((await authorize()).json.status).toBe('authorized');
  });

  it('refuses bad fault settings on the control API and accepts good ones', async () => {
    expect(await call('POST', '/_control/faults', { error5xxRate: 2 })).toMatchObject({ status: 400, json: { error: { code: 'invalid_request' } } });
    expect(await call('POST', '/_control/faults', { rateLimitRate: 1 })).toMatchObject({ status: 200, json: { rateLimitRate: 1 } });
    expect((await authorize()).status).toBe(429);
    expect((await call('POST', '/_control/faults', {})).status).toBe(200);
    expect((await authorize()).status).toBe(201);
  });

  it('replays the same fault sequence from the same seed', async () => {
    const faults = { error5xxRate: 0.3, rateLimitRate: 0.3 };
    const run = async (): Promise<number[]> => {
      const other = await startPspSimulator({ apiKey: API_KEY, seed: 42, faults });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 12; i += 1) statuses.push((await call('GET', '/v1/operations/x', undefined, { base: other.url })).status);
        return statuses;
      } finally {
        await other.stop();
      }
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(1);
  });
});

describe('PSP simulator webhooks', () => {
  function verify(hook: Received): boolean {
    const header = String(hook.headers['simulator-signature']);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    if (!match) return false;
    const expected = createHmac('sha256', WEBHOOK_SECRET)
      .update(Buffer.concat([Buffer.from(`${match[1]}.`), hook.rawBody]))
      .digest();
    return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
  }

  it('answers pending for an async authorization, then sends a signed authorization.succeeded webhook', async () => {
    const reference = ref();
    const pending = await authorize({ payment_method: 'pm_async' }, reference);
    expect(pending).toMatchObject({ status: 201, json: { status: 'pending' } });
    const hook = await waitFor(() => hooksFor(reference)[0], 'the webhook');
    expect(verify(hook)).toBe(true);
    expect(hook.event.id).toMatch(/^evt_/);
    expect(hook.event).toMatchObject({ type: 'authorization.succeeded', data: { object: { id: pending.json.id, status: 'authorized', reference } } });
    expect(Math.abs(hook.event.created - Date.now() / 1000)).toBeLessThan(60);
    expect((await call('GET', `/v1/operations/${reference}`)).json.status).toBe('authorized');
    expect(effectsOf(reference)).toBe(1);
  });

  it('settles async:true and pm_async_declined too, the latter as authorization.failed', async () => {
    const sale = ref();
    await authorize({ async: true, capture: true }, sale);
    const declined = ref();
    await authorize({ payment_method: 'pm_async_declined' }, declined);
    expect((await waitFor(() => hooksFor(sale)[0], 'the sale webhook')).event).toMatchObject({
      type: 'authorization.succeeded',
      data: { object: { status: 'captured' } },
    });
    expect((await waitFor(() => hooksFor(declined)[0], 'the decline webhook')).event).toMatchObject({
      type: 'authorization.failed',
      data: { object: { status: 'declined', decline_code: 'card_declined' } },
    });
  });

  it('retries a webhook the receiver failed, with backoff, until it is accepted', async () => {
    failNextWebhooks = 2;
    const reference = ref();
    await authorize({ payment_method: 'pm_async' }, reference);
    const hook = await waitFor(() => hooksFor(reference)[0], 'the retried webhook');
    expect(verify(hook)).toBe(true);
    expect(failNextWebhooks).toBe(0);
  });

  it('sends a webhook twice under duplicateWebhookRate, with the same event id', async () => {
    sim.setFaults({ duplicateWebhookRate: 1 });
    const reference = ref();
    await authorize({ payment_method: 'pm_async' }, reference);
    const [a, b] = await waitFor(() => (hooksFor(reference).length >= 2 ? hooksFor(reference) : undefined), 'two deliveries');
    expect(a.event.id).toBe(b.event.id);
    expect(effectsOf(reference)).toBe(1);
  });

  it('delivers a later event before an earlier one under outOfOrderWebhooks', async () => {
    sim.setFaults({ outOfOrderWebhooks: true });
    const earlier = ref();
    const later = ref();
    await authorize({ payment_method: 'pm_async' }, earlier);
    await authorize({ payment_method: 'pm_async' }, later);
    await waitFor(() => (hooksFor(earlier).length > 0 && hooksFor(later).length > 0 ? true : undefined), 'both webhooks');
    const order = received.filter((r) => [earlier, later].includes(String(r.event.data.object.reference))).map((r) => r.event.data.object.reference);
    expect(order).toEqual([later, earlier]);
  });

  it('sends webhooks for synchronous operations when syncWebhooks is on', async () => {
    const webhookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/webhooks/simulator`;
    const other = await startPspSimulator({ apiKey: API_KEY, webhookUrl, webhookSecret: WEBHOOK_SECRET, syncWebhooks: true });
    try {
      const reference = ref();
      const auth = await call('POST', '/v1/authorizations', { amount: 300, currency: 'USD', payment_method: 'pm_card_visa', reference }, { base: other.url });
      const capture = ref();
      await call('POST', `/v1/authorizations/${auth.json.id as string}/captures`, { amount: 300, reference: capture }, { base: other.url });
      expect((await waitFor(() => hooksFor(reference)[0], 'the authorization webhook')).event.type).toBe('authorization.succeeded');
      const hook = await waitFor(() => hooksFor(capture)[0], 'the capture webhook');
      expect(hook.event).toMatchObject({ type: 'capture.succeeded', data: { object: { object: 'capture', amount: 300 } } });
      expect(verify(hook)).toBe(true);
      await other.webhooksIdle();
      expect(other.counters().webhooksSent).toBe(2);
    } finally {
      await other.stop();
    }
  });
});

describe('PSP simulator control', () => {
  it('holds every answer about a held reference (it still lands), then answers again and sends its webhook on release', async () => {
    const key = ref('held');
    const body = { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: key };
    expect((await call('POST', '/_control/hold', { reference: key }, { key: null, auth: null })).json).toEqual({ reference: key, held: true });
    await expect(call('POST', '/v1/authorizations', body, { key, timeoutMs: 300 })).rejects.toThrow('client timeout');
    expect(effectsOf(key)).toBe(1);
    // Neither the status inquiry nor a replay answer while it is held.
    await expect(call('GET', `/v1/operations/${key}`, undefined, { timeoutMs: 300 })).rejects.toThrow('client timeout');
    await expect(call('POST', '/v1/authorizations', body, { key, timeoutMs: 300 })).rejects.toThrow('client timeout');
    expect(hooksFor(key)).toHaveLength(0);
    expect((await call('POST', '/_control/release', { reference: key }, { key: null, auth: null })).json).toEqual({ reference: key, held: false });
    const hook = await waitFor(() => hooksFor(key)[0], 'the webhook after release');
    expect(hook.event).toMatchObject({ type: 'authorization.succeeded', data: { object: { status: 'authorized', reference: key } } });
    expect((await call('GET', `/v1/operations/${key}`)).json).toMatchObject({ status: 'authorized', reference: key });
    expect(effectsOf(key)).toBe(1);
  });

  it('reports counters over HTTP as the handle does, with effects per idempotency key', async () => {
    const key = ref();
    await authorize({}, key);
    await authorize({}, key);
    const over = await call('GET', '/_control/counters', undefined, { auth: null });
    expect(over.status).toBe(200);
    expect(over.json.effects[key]).toBe(1);
    expect(over.json.maxEffectsPerKey).toBe(1);
    expect(over.json).toMatchObject({
      totalEffects: expect.any(Number),
      requests: expect.any(Number),
      replays: expect.any(Number),
      webhooksSent: expect.any(Number),
    });
    expect(over.json.totalEffects).toBe(sim.counters().totalEffects);
  });

  it('answers 503 to every call in down mode 503, and works again once up', async () => {
    sim.setDown('503');
    expect(await authorize()).toMatchObject({ status: 503, json: { error: { code: 'service_unavailable' } } });
    expect((await call('GET', `/v1/operations/${ref()}`)).status).toBe(503);
    sim.setDown(false);
    expect((await authorize()).status).toBe(201);
  });

  it('drops every connection in down mode reset, set through the control API', async () => {
    expect(await call('POST', '/_control/down', { mode: 'reset' })).toMatchObject({ status: 200, json: { mode: 'reset' } });
    const key = ref();
    await expect(authorize({}, key)).rejects.toThrow();
    expect((await call('POST', '/_control/down', { mode: 'sideways' })).status).toBe(400);
    expect((await call('POST', '/_control/down', { mode: false })).status).toBe(200);
    expect(effectsOf(key)).toBeUndefined();
    expect((await authorize({}, key)).status).toBe(201);
  });

  it('forgets state, idempotency keys and counters on reset', async () => {
    const other = await startPspSimulator({ apiKey: API_KEY });
    try {
      const key = ref();
      const body = { amount: 100, currency: 'EUR', payment_method: 'pm_card_visa', reference: key };
      const auth = await call('POST', '/v1/authorizations', body, { key, base: other.url });
      expect(other.counters().totalEffects).toBe(1);
      expect((await call('POST', '/_control/reset', {}, { base: other.url })).status).toBe(200);
      expect(other.counters()).toMatchObject({ effects: {}, totalEffects: 0, maxEffectsPerKey: 0, requests: 0, replays: 0 });
      expect((await call('GET', `/v1/authorizations/${auth.json.id as string}`, undefined, { base: other.url })).status).toBe(404);
      const again = await call('POST', '/v1/authorizations', body, { key, base: other.url });
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      other.reset();
      expect(other.counters().totalEffects).toBe(0);
    } finally {
      await other.stop();
    }
  });
});

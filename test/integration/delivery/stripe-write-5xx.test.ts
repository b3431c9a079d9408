import http from 'node:http';
import { AddressInfo } from 'node:net';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';

/**
 * A Stripe write answered 500: Stripe saves a POST's result under its Idempotency-Key once the endpoint began,
 * 500 included, and replays it to every request under that key ("Subsequent requests with the same key return the
 * same result, including 500 errors", API reference, idempotent requests; "the idempotency-cached response to a 500
 * won't change", Advanced error handling), marking the replay `Idempotent-Replayed: true`. A local stand-in plays
 * it for a capture: its POST answers 500 api_error, every resend the same 500 replayed, and the PaymentIntent stays
 * `requires_capture` (Stripe has not reconciled yet). Resending after each miss would spin (a resend and an inquiry
 * every poll, the poll schedule restarted at each, for as long as Stripe keeps the key); the replay is Stripe
 * saying it holds the request: asked about, never sent again, so the poll schedule bounds it (UNRESOLVED).
 */
const PI = 'pi_3NwriteFiveHundred01';
const psp = { captures: 0, reads: 0, keys: [] as string[] };
/**
 * The same, its replays without `Idempotent-Replayed` (a proxy that strips headers): the PaymentIntent of an order
 * whose id starts with `ORD-WS-`.
 */
const STRIPPED_PI = 'pi_3NwriteFiveHundred02';
const stripped = { captures: 0, reads: 0 };
/**
 * A capture that never reaches Stripe: a proxy in between answers 502 with a page of its own each time (nothing saved
 * under the key), while reads get through: the PaymentIntent of an order whose id starts with `ORD-WP-`.
 */
const PROXIED_PI = 'pi_3NwriteFiveHundred03';
const proxied = { captures: 0 };
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

function intent(status: string, operationId: string, id = PI): Record<string, unknown> {
  return {
    id,
    object: 'payment_intent',
    status,
    amount: 1000,
    amount_capturable: status === 'requires_capture' ? 1000 : 0,
    amount_received: 0,
    currency: 'eur',
    capture_method: 'manual',
    metadata: { operation_id: operationId },
  };
}

beforeAll(async () => {
  let authorization = '';
  let strippedAuthorization = '';
  let proxiedAuthorization = '';
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      if (req.method === 'POST' && req.url === '/v1/payment_intents') {
        const form = new URLSearchParams(body);
        if (form.get('metadata[order_id]')?.startsWith('ORD-WP-')) {
          proxiedAuthorization = form.get('metadata[operation_id]') ?? '';
          return json(200, intent('requires_capture', proxiedAuthorization, PROXIED_PI));
        }
        if (form.get('metadata[order_id]')?.startsWith('ORD-WS-')) {
          strippedAuthorization = form.get('metadata[operation_id]') ?? '';
          return json(200, intent('requires_capture', strippedAuthorization, STRIPPED_PI));
        }
        authorization = form.get('metadata[operation_id]') ?? '';
        return json(200, intent('requires_capture', authorization));
      }
      if (req.method === 'POST' && req.url === `/v1/payment_intents/${PROXIED_PI}/capture`) {
        proxied.captures += 1;
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      }
      if (req.method === 'GET' && req.url?.startsWith(`/v1/payment_intents/${PROXIED_PI}`)) {
        return json(200, intent('requires_capture', proxiedAuthorization, PROXIED_PI));
      }
      if (req.method === 'POST' && req.url === `/v1/payment_intents/${STRIPPED_PI}/capture`) {
        stripped.captures += 1;
        // Stripe's saved 500, replayed to every resend, its Idempotent-Replayed header stripped on the way.
        return json(500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
      }
      if (req.method === 'GET' && req.url?.startsWith(`/v1/payment_intents/${STRIPPED_PI}`)) {
        stripped.reads += 1;
        return json(200, intent('requires_capture', strippedAuthorization, STRIPPED_PI));
      }
      if (req.method === 'POST' && req.url === `/v1/payment_intents/${PI}/capture`) {
        psp.captures += 1;
        psp.keys.push(String(req.headers['idempotency-key']));
        const error = { error: { type: 'api_error', message: 'An unknown error occurred' } };
        // The first answer is the endpoint's own 500; every later one under the key is its replay.
        return json(500, error, psp.captures === 1 ? {} : { 'Idempotent-Replayed': 'true' });
      }
      if (req.method === 'GET' && req.url?.startsWith(`/v1/payment_intents/${PI}`)) {
        psp.reads += 1;
        return json(200, intent('requires_capture', authorization));
      }
      json(404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('Stripe: a capture answered 500 that every resend gets replayed', () => {
  it('is sent again once after a miss, then, its 500 replayed, only asked about: never resent again, never failed', async () => {
    const { service, ledger, events, recorder, config } = stacks.build(
      testConfig({
        gateways: { stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_write_500_0123456789', webhook_secret: 'whsec_write_500_0123456789' } },
      }),
    );
    const money = { gateway: 'stri', currency: 'EUR', order_id: `ORD-W5-${Date.now()}` };
    const auth = channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa', amount: 1000 });
    const authId = auth.payment.operation_reference!;
    await ledger.create(authId, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    const capture = channelCommand('capture', {}, { ...money, gateway_key: authId, amount: 1000 });
    const id = capture.payment.operation_reference!;
    await ledger.create(id, capture);
    const missesBefore = await metricValue('pb_inquiry_misses_total', { gateway: 'stri', meaning: 'psp_has_request' });

    expect((await service.deliver(id)).kind).toBe('retry'); // the 500: UNKNOWN
    const unknown = await ledger.get(id);
    expect(unknown?.state).toBe('UNKNOWN');
    expect((await service.deliver(id)).kind).toBe('retry'); // no trace: resent, the 500 replayed
    expect(psp.keys).toEqual([id, id]);
    // The replayed answer keeps the poll schedule the first UNKNOWN began: a restart at each resend never ends.
    expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', pollStep: unknown?.pollStep, nextCheckAt: unknown?.nextCheckAt });
    const history = await ledger.interactions(id);
    expect(history.filter((h) => h.event === 'send_error').at(-1)).toMatchObject({ kind: 'outcome_unknown', http_status: 500, psp_has_request: true });

    // Asked about at every step from now on, never sent again: Stripe would only replay the same 500.
    for (let step = 0; step < 3; step += 1) expect((await service.deliver(id)).kind).toBe('retry');
    expect(psp.captures).toBe(2);
    expect(psp.reads).toBe(4);
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await metricValue('pb_inquiry_misses_total', { gateway: 'stri', meaning: 'psp_has_request' })).toBe(missesBefore + 3);

    // Bounded: each poll asks, finds nothing and takes its step; past the schedule the operation is UNRESOLVED
    // (the OMS hears UNRESOLVED, never FAILED), and nothing was sent meanwhile.
    let clock = Date.now();
    const poller = new Poller({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: silentLogger(),
      now: () => clock,
    });
    for (let step = 0; step < config.poller.scheduleMs.length && (await ledger.get(id))?.state === 'UNKNOWN'; step += 1) {
      clock = ((await ledger.get(id))?.nextCheckAt ?? clock) + 1;
      await poller.runOnce();
    }
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(psp.captures).toBe(2);
    expect(await events.load(`${id}.FAILED`)).toBeNull();
  });
});

describe('Stripe: a capture answered 500 that every resend gets replayed without Idempotent-Replayed', () => {
  it('is read as Stripe holding the request once the same 500 answered the key three times in a row: asked about, never resent, its schedule kept', async () => {
    const { service, ledger, events, recorder, config } = stacks.build(
      testConfig({
        gateways: {
          stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_write_500_stripped_abcdef', webhook_secret: 'whsec_write_500_stripped_abcdef' },
        },
      }),
    );
    const money = { gateway: 'stri', currency: 'EUR', order_id: `ORD-WS-${Date.now()}` };
    const auth = channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa', amount: 1000 });
    const authId = auth.payment.operation_reference!;
    await ledger.create(authId, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    const capture = channelCommand('capture', {}, { ...money, gateway_key: authId, amount: 1000 });
    const id = capture.payment.operation_reference!;
    await ledger.create(id, capture);
    const heldBefore = await metricValue('pb_same_answer_held_total', { gateway: 'stri' });
    let clock = Date.now();
    const poller = new Poller({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: silentLogger(),
      now: () => clock,
    });

    expect((await service.deliver(id)).kind).toBe('retry'); // the 500: UNKNOWN
    expect((await service.deliver(id)).kind).toBe('retry'); // no trace: resent, the same 500 (unmarked)
    expect(stripped.captures).toBe(2);
    // A poll takes the schedule's first step meanwhile.
    clock = ((await ledger.get(id))?.nextCheckAt ?? clock) + 1;
    await poller.runOnce();
    const before = await ledger.get(id);
    expect(before).toMatchObject({ state: 'UNKNOWN', pollStep: 1 });

    expect((await service.deliver(id)).kind).toBe('retry'); // no trace: resent, the same 500 a third time
    expect(stripped.captures).toBe(3);
    const history = await ledger.interactions(id);
    expect(history.filter((h) => h.event === 'send_error').at(-1)).toMatchObject({
      kind: 'outcome_unknown',
      http_status: 500,
      psp_has_request: true,
      same_answer_in_a_row: 3,
    });
    expect(await metricValue('pb_same_answer_held_total', { gateway: 'stri' })).toBe(heldBefore + 1);
    // The schedule is the one the first UNKNOWN began, not restarted by the resend.
    expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', pollStep: before?.pollStep, nextCheckAt: before?.nextCheckAt });

    // Asked about from now on, never sent again; the poll schedule ends it UNRESOLVED, never FAILED.
    for (let step = 0; step < 3; step += 1) expect((await service.deliver(id)).kind).toBe('retry');
    expect(stripped.captures).toBe(3);
    for (let step = 0; step < config.poller.scheduleMs.length && (await ledger.get(id))?.state === 'UNKNOWN'; step += 1) {
      clock = ((await ledger.get(id))?.nextCheckAt ?? clock) + 1;
      await poller.runOnce();
    }
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(stripped.captures).toBe(3);
    expect(await events.load(`${id}.FAILED`)).toBeNull();
  });
});

describe('Stripe: a capture a proxy answers 502 of its own each time (it never reached Stripe)', () => {
  it('is no saved answer, however often it repeats: each miss is still followed by a resend under the same key', async () => {
    const { service, ledger, config } = stacks.build(
      testConfig({
        gateways: {
          stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_write_502_proxy_abcdef', webhook_secret: 'whsec_write_502_proxy_abcdef' },
        },
      }),
    );
    expect(config.delivery.maxAgeMs).toBe(0);
    const money = { gateway: 'stri', currency: 'EUR', order_id: `ORD-WP-${Date.now()}` };
    const auth = channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa', amount: 1000 });
    const authId = auth.payment.operation_reference!;
    await ledger.create(authId, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    const capture = channelCommand('capture', {}, { ...money, gateway_key: authId, amount: 1000 });
    const id = capture.payment.operation_reference!;
    await ledger.create(id, capture);
    const heldBefore = await metricValue('pb_same_answer_held_total', { gateway: 'stri' });

    expect((await service.deliver(id)).kind).toBe('retry'); // the proxy's 502: UNKNOWN
    for (let resend = 2; resend <= 4; resend += 1) {
      expect((await service.deliver(id)).kind).toBe('retry'); // no trace: resent, the proxy's 502 again
      expect(proxied.captures).toBe(resend);
    }
    const history = await ledger.interactions(id);
    expect(history.filter((h) => h.event === 'send_error').every((h) => h.psp_has_request === undefined)).toBe(true);
    expect(await metricValue('pb_same_answer_held_total', { gateway: 'stri' })).toBe(heldBefore);
  });
});

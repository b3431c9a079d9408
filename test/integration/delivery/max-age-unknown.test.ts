import http from 'node:http';
import { AddressInfo } from 'node:net';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';
import { Poller } from '../../../src/poller/poller';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';

/**
 * `delivery.max_age_ms` bounds an attempt that may have reached the PSP (a 5xx, a timeout) by making it UNRESOLVED
 * (docs/UNRESOLVED-AND-WEBHOOK-ONLY.md). An UNKNOWN operation's delivery job asks the PSP, and, on a miss, sends the
 * request again: past `max_age_ms` it still asks (an answer settles it), but is never sent again; what the inquiry
 * does not settle is UNRESOLVED, never FAILED (its last answer was a 5xx: the PSP may yet act on it). A local Stripe
 * stand-in plays a capture whose POST answers 500 (no Idempotent-Replayed), and a PaymentIntent read that shows it
 * still `requires_capture` (a miss), `succeeded`, or fails (500).
 */
const MAX_AGE_MS = 60_000;
const PI = 'pi_3NmaxAgeUnknownCap01';
const psp = { captures: 0, reads: 0, intent: 'requires_capture', readFails: false, authorization: '' };
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

function intent(status: string): Record<string, unknown> {
  const received = status === 'succeeded' ? 1000 : 0;
  return {
    id: PI,
    object: 'payment_intent',
    status,
    amount: 1000,
    amount_capturable: status === 'requires_capture' ? 1000 : 0,
    amount_received: received,
    currency: 'eur',
    capture_method: 'manual',
    metadata: { operation_id: psp.authorization },
  };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const apiError = { error: { type: 'api_error', message: 'An unknown error occurred' } };
      if (req.method === 'POST' && req.url === '/v1/payment_intents') {
        psp.authorization = new URLSearchParams(body).get('metadata[operation_id]') ?? '';
        return json(200, intent('requires_capture'));
      }
      if (req.method === 'POST' && req.url === `/v1/payment_intents/${PI}/capture`) {
        psp.captures += 1;
        return json(500, apiError);
      }
      if (req.method === 'GET' && req.url?.startsWith(`/v1/payment_intents/${PI}`)) {
        psp.reads += 1;
        return psp.readFails ? json(500, apiError) : json(200, intent(psp.intent));
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

/** An authorization of the stand-in, and a capture of it answered 500: UNKNOWN, with the service's clock to move. */
async function unknownCapture(tag: string): Promise<{ id: string; clock: { now: number } } & ReturnType<typeof stacks.build>> {
  psp.intent = 'requires_capture';
  psp.readFails = false;
  const clock = { now: Date.now() };
  const stack = stacks.build(
    testConfig({
      'delivery.max_age_ms': MAX_AGE_MS,
      gateways: { stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_max_age_unknown_abcdef', webhook_secret: 'whsec_max_age_unknown_abcdef' } },
    }),
    { now: () => clock.now },
  );
  const money = { gateway: 'stri', currency: 'EUR', order_id: `ORD-MA-${tag}-${Date.now()}` };
  const auth = channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa', amount: 1000 });
  const authId = auth.payment.operation_reference!;
  await stack.ledger.create(authId, auth);
  expect(await stack.service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const capture = channelCommand('capture', {}, { ...money, gateway_key: authId, amount: 1000 });
  const id = capture.payment.operation_reference!;
  await stack.ledger.create(id, capture);
  expect((await stack.service.deliver(id)).kind).toBe('retry'); // the 500: UNKNOWN
  expect((await stack.ledger.get(id))?.state).toBe('UNKNOWN');
  return { ...stack, id, clock };
}

describe('delivery.max_age_ms on the UNKNOWN path (status inquiry, then resend)', () => {
  it('past it, a miss is never followed by a resend: UNRESOLVED (never FAILED), the OMS told so', async () => {
    const { service, ledger, events, id, clock } = await unknownCapture('miss');
    const captures = psp.captures;
    clock.now += MAX_AGE_MS + 1_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.captures).toBe(captures);
    const history = await ledger.interactions(id);
    expect(history.at(-1)).toMatchObject({ event: 'unresolved', cause: 'delivery.max_age_ms passed', inquiry: 'no_trace' });
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    // Its job, run again, sends nothing: UNRESOLVED is never sent again.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.captures).toBe(captures);
  });

  it('made UNRESOLVED past it, is still asked by the poller, and settled when the PSP shows the outcome', async () => {
    const { service, ledger, events, recorder, config, id, clock } = await unknownCapture('later');
    const captures = psp.captures;
    clock.now += MAX_AGE_MS + 1_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    const poller = new Poller({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: silentLogger(),
      now: () => clock.now,
    });
    // A poll that still finds nothing keeps it UNRESOLVED and sends nothing; it did ask (a read, not a replay).
    const reads = psp.reads;
    clock.now = ((await ledger.get(id))?.nextCheckAt ?? clock.now) + 1;
    await poller.runOnce();
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(psp.reads).toBe(reads + 1);
    // Stripe reconciles the capture: the next poll settles it, and the OMS hears it.
    psp.intent = 'succeeded';
    clock.now = ((await ledger.get(id))?.nextCheckAt ?? clock.now) + 1;
    await poller.runOnce();
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(psp.captures).toBe(captures);
  });

  it('past it, an inquiry that fails is not asked again and again: UNRESOLVED', async () => {
    const { service, ledger, id, clock } = await unknownCapture('fails');
    const captures = psp.captures;
    psp.readFails = true;
    clock.now += MAX_AGE_MS + 1_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.captures).toBe(captures);
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({ event: 'unresolved', inquiry: 'inquiry_error' });
  });

  it('past it, an inquiry that finds the outcome still settles it', async () => {
    const { service, id, clock } = await unknownCapture('found');
    const captures = psp.captures;
    const reads = psp.reads;
    psp.intent = 'succeeded';
    clock.now += MAX_AGE_MS + 1_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.captures).toBe(captures);
    // Stripe's inquiry reads (GET), it never replays the capture: not withheld past max age as Adyen's is.
    expect(psp.reads).toBe(reads + 1);
  });

  it('within it, a miss is still sent again under the same key', async () => {
    const { service, id } = await unknownCapture('within');
    const captures = psp.captures;
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(psp.captures).toBe(captures + 1);
  });
});

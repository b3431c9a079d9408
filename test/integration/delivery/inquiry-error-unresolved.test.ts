import http from 'node:http';
import { AddressInfo } from 'node:net';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';

/**
 * An error answering a status inquiry is about the question, not the operation: an UNKNOWN operation whose inquiry
 * is refused for good (a 400 to the status read, a 404 where the gateway reads it as `not_found`) may still be at
 * the PSP, so it is made UNRESOLVED (alert, event, the poller asks on), never FAILED
 * (docs/UNRESOLVED-AND-WEBHOOK-ONLY.md). A local Stripe stand-in plays a capture whose POST answers 500 (UNKNOWN) and
 * a PaymentIntent read that answers 400, a card error, or the PaymentIntent.
 */
const PI = 'pi_3NinquiryErrorCapture';
/** The Adyen stand-in's answer to `/payments` (the authorization and its replaying inquiry). */
const adyen = { answer: 'refused' as 'refused' | 'merchant_invalid', payments: 0 };
let adyenServer: http.Server;
let adyenUrl: string;
const psp = {
  captures: 0,
  reads: 0,
  read: 'invalid' as 'invalid' | 'card_error' | 'requires_capture' | 'succeeded',
  authorization: '',
  /** Run once before the next status read is answered (another worker acting meanwhile). */
  beforeRead: undefined as (() => Promise<void>) | undefined,
};
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

function intent(status: string): Record<string, unknown> {
  return {
    id: PI,
    object: 'payment_intent',
    status,
    amount: 1000,
    amount_capturable: status === 'requires_capture' ? 1000 : 0,
    amount_received: status === 'succeeded' ? 1000 : 0,
    currency: 'eur',
    capture_method: 'manual',
    metadata: { operation_id: psp.authorization },
  };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', async () => {
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (req.method === 'POST' && req.url === '/v1/payment_intents') {
        psp.authorization = new URLSearchParams(body).get('metadata[operation_id]') ?? '';
        return json(200, intent('requires_capture'));
      }
      if (req.method === 'POST' && req.url === `/v1/payment_intents/${PI}/capture`) {
        psp.captures += 1;
        return json(500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
      }
      if (req.method === 'GET' && req.url?.startsWith(`/v1/payment_intents/${PI}`)) {
        psp.reads += 1;
        const before = psp.beforeRead;
        psp.beforeRead = undefined;
        if (before) await before();
        if (psp.read === 'invalid') return json(400, { error: { type: 'invalid_request_error', code: 'parameter_unknown', param: 'expand' } });
        if (psp.read === 'card_error') return json(402, { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' } });
        return json(200, intent(psp.read));
      }
      json(404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  adyenServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== 'POST' || req.url !== '/v71/payments')
        return json(404, { status: 404, errorCode: '000', message: 'not found', errorType: 'validation' });
      adyen.payments += 1;
      // A configuration refusal of the replay (the merchant account renamed since the first attempt): about the question.
      if (adyen.answer === 'merchant_invalid') return json(422, { status: 422, errorCode: '901', message: 'Invalid Merchant Account', errorType: 'security' });
      const reference = (JSON.parse(body) as { reference?: string }).reference ?? '';
      json(200, { pspReference: 'PSPINQERR0000001', resultCode: 'Refused', refusalReason: 'Refused', refusalReasonCode: '2', merchantReference: reference });
    });
  });
  await new Promise<void>((resolve) => adyenServer.listen(0, '127.0.0.1', resolve));
  adyenUrl = `http://127.0.0.1:${(adyenServer.address() as AddressInfo).port}/v71`;
});

afterAll(async () => {
  server.closeAllConnections();
  adyenServer.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve) => adyenServer.close(() => resolve()));
});

/** An authorization of the stand-in, and a capture of it answered 500: UNKNOWN, with the service's clock to move. */
async function unknownCapture(tag: string, logger = silentLogger()) {
  psp.read = 'requires_capture';
  const clock = { now: Date.now() };
  const stack = stacks.build(
    testConfig({
      gateways: { stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_inquiry_error_abcdef', webhook_secret: 'whsec_inquiry_error_abcdef' } },
    }),
    { now: () => clock.now, logger },
  );
  const money = { gateway: 'stri', currency: 'EUR', order_id: `ORD-IE-${tag}-${Date.now()}` };
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

describe('an UNKNOWN operation whose status inquiry is refused for good', () => {
  it('a 400 to the status read: UNRESOLVED (never FAILED, no FAIL event), counted and logged, nothing sent again', async () => {
    const { logger, lines } = captureLogger('info');
    const { service, ledger, events, id } = await unknownCapture('badread', logger);
    const captures = psp.captures;
    psp.read = 'invalid';
    const before = await metricValue('pb_inquiry_errors_unresolved_total', { gateway: 'stri', kind: 'invalid_request' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.captures).toBe(captures);
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({
      event: 'unresolved',
      inquiry: 'inquiry_error',
      kind: 'invalid_request',
      http_status: 400,
      gateway_code: 'parameter_unknown',
    });
    expect(await metricValue('pb_inquiry_errors_unresolved_total', { gateway: 'stri', kind: 'invalid_request' })).toBe(before + 1);
    const warn = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.operation_id === id && l.level === 'warn' && /status inquiry refused for good/.test(String(l.message)));
    expect(warn).toMatchObject({ gateway: 'stri', kind: 'invalid_request', gateway_code: 'parameter_unknown', http_status: 400 });
    // Its job, run again, sends nothing and fails nothing.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.captures).toBe(captures);
  });

  it('the poller then keeps asking at its UNRESOLVED interval, and settles it SUCCEEDED when the read shows it', async () => {
    const { service, ledger, events, recorder, config, id, clock } = await unknownCapture('later');
    const captures = psp.captures;
    psp.read = 'invalid';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    const unresolvedAt = clock.now;
    expect((await ledger.get(id))?.nextCheckAt).toBe(unresolvedAt + config.poller.unresolvedIntervalMs);
    const poller = new Poller({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: silentLogger(),
      now: () => clock.now,
    });
    // Still refused: still UNRESOLVED, never FAILED.
    clock.now = ((await ledger.get(id))?.nextCheckAt ?? clock.now) + 1;
    await poller.runOnce();
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    // The read answers again: the capture went through.
    psp.read = 'succeeded';
    clock.now = ((await ledger.get(id))?.nextCheckAt ?? clock.now) + 1;
    await poller.runOnce();
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(psp.captures).toBe(captures);
  });

  it('only from the state and attempt count read: one another worker sent again during the inquiry is left as that one left it', async () => {
    const { service, ledger, events, id } = await unknownCapture('raced');
    psp.read = 'invalid';
    // Another worker's resend while this inquiry is on the wire: SENT, one more attempt.
    psp.beforeRead = async () => {
      await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    };
    const before = await metricValue('pb_inquiry_errors_unresolved_total', { gateway: 'stri', kind: 'invalid_request' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    expect((await ledger.get(id))?.attempts).toBe(2);
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await metricValue('pb_inquiry_errors_unresolved_total', { gateway: 'stri', kind: 'invalid_request' })).toBe(before);
  });

  it('a decline code answering a status read (not a replay of the request) is no answer about the operation: UNRESOLVED', async () => {
    const { service, events, id } = await unknownCapture('cardread');
    psp.read = 'card_error';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
  });
});

/**
 * Adyen's inquiry sends the authorization's own request again under its Idempotency-Key (`inquiryReplaysRequest`):
 * its answer is the request's. A refusal read from it (resultCode Refused) is the operation's decline: FAILED, as
 * before. A ServiceError to the replay (here Adyen refusing the merchant account) is no decline: UNRESOLVED.
 */
describe('an UNKNOWN Adyen authorization asked by replaying its request', () => {
  async function lostAuthorization() {
    const stack = stacks.build(
      testConfig({
        gateways: { ady: { type: 'adyen', base_url: adyenUrl, api_key: 'adyen-inquiry-error-key-0123456789', merchant_account: 'AcmeEU', timeout_ms: 2000 } },
      }),
    );
    const command = channelCommand('authorize', {}, { gateway: 'ady', gateway_key: 'shopper-inquiry-error:8415718415718415', currency: 'EUR', amount: 1000 });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await stack.ledger.transition(id, 'UNKNOWN', { event: 'test', error: 'timeout' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
    adyen.payments = 0;
    return { ...stack, id };
  }

  it('a real decline answering the replay still FAILs it (unchanged)', async () => {
    const { service, events, id } = await lostAuthorization();
    adyen.answer = 'refused';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(adyen.payments).toBe(1);
    expect(await events.load(`${id}.FAILED`)).not.toBeNull();
  });

  it('a ServiceError refusing the replay (a configuration refusal) is no answer about the authorization: UNRESOLVED', async () => {
    const { service, events, ledger, id } = await lostAuthorization();
    adyen.answer = 'merchant_invalid';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({ event: 'unresolved', inquiry: 'inquiry_error', kind: 'invalid_request', http_status: 422 });
  });
});

import http from 'node:http';
import { AddressInfo } from 'node:net';
import { IDEMPOTENT_RESEND_WINDOW_MS } from '../../../src/delivery/resend-window';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';

/**
 * Adyen's status inquiry sends the operation's own request again under its Idempotency-Key: Adyen answers a
 * key it holds with its first answer, but keeps a key for a limited time ("valid for a minimum period of 31
 * days after first submission"). Past the bridge's window an UNKNOWN authorization is never asked that way:
 * the replay could authorize the shopper's card a second time. A local Adyen stand-in counts what reaches it.
 */
const psp = { payments: 0, keys: [] as string[], captureKeys: [] as string[] };
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v71/payments') {
        psp.payments += 1;
        psp.keys.push(String(req.headers['idempotency-key']));
        const reference = (JSON.parse(body) as { reference?: string }).reference ?? '';
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({
            pspReference: 'PSPREPLAY00000001',
            resultCode: 'Authorised',
            merchantReference: reference,
            amount: { currency: 'EUR', value: 1000 },
          }),
        );
      }
      if (req.method === 'POST' && /^\/v71\/payments\/[A-Z0-9]+\/captures$/.test(req.url ?? '')) {
        // Adyen holds a capture under this key built with other parameters: errorCode 704, not transient.
        psp.captureKeys.push(String(req.headers['idempotency-key']));
        res.writeHead(422, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ status: 422, errorCode: '704', message: 'request already processed or in progress', errorType: 'validation' }));
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 404, errorCode: '000', message: 'not found', errorType: 'validation' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v71`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}, 60_000);

function config(extra: Record<string, unknown> = {}) {
  return testConfig({
    ...extra,
    gateways: {
      ady: { type: 'adyen', base_url: baseUrl, api_key: 'adyen-replay-window-key-0123456789', merchant_account: 'AcmeEU', timeout_ms: 2000 },
    },
  });
}

/** An Adyen authorization sent once whose answer was lost (UNKNOWN), delivered again `ageMs` after its creation. */
async function lostAuthorization(ageMs: number, logger = captureLogger('info').logger, maxAgeMs = 0) {
  const now = () => Date.now() + ageMs;
  const stack = stacks.build(config({ 'delivery.max_age_ms': maxAgeMs }), { logger, now });
  const command = channelCommand('authorize', {}, { gateway: 'ady', gateway_key: 'shopper-replay-window:8415718415718415', currency: 'EUR', amount: 1000 });
  const id = command.payment.operation_reference!;
  await stack.ledger.create(id, command);
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await stack.ledger.transition(id, 'UNKNOWN', { event: 'test', error: 'timeout' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
  psp.payments = 0;
  psp.keys = [];
  return { ...stack, id };
}

describe('Adyen: an UNKNOWN operation whose inquiry replays its request', () => {
  it('is asked by replaying the request under its own Idempotency-Key within the window', async () => {
    const { service, ledger, id } = await lostAuthorization(IDEMPOTENT_RESEND_WINDOW_MS - 3600_000);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.keys).toEqual([id]);
    expect((await ledger.get(id))?.gatewayReference).toBe('PSPREPLAY00000001');
  });

  it('past the window is never sent to Adyen again: UNRESOLVED with its cause, counted and logged', async () => {
    const { logger, lines } = captureLogger('info');
    const before = await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'ady', by: 'delivery' });
    const { service, ledger, events, id } = await lostAuthorization(IDEMPOTENT_RESEND_WINDOW_MS + 3600_000, logger);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.payments).toBe(0);
    expect(await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'ady', by: 'delivery' })).toBe(before + 1);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === id && l.level === 'warn');
    expect(String(warn?.message)).toMatch(/status inquiry withheld/);
    const unresolved = await events.load(`${id}.UNRESOLVED`);
    expect(unresolved).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
  });
});

describe('Adyen: an UNKNOWN operation past delivery.max_age_ms (within the key window)', () => {
  const MAX_AGE_MS = 3600_000;

  it('is never asked by replaying its request (a replay of a request Adyen never had performs it now): UNRESOLVED with its cause, counted and logged', async () => {
    const { logger, lines } = captureLogger('info');
    const before = await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'ady', by: 'delivery', reason: 'max_age' });
    const givenUp = () => metricValue('pb_max_age_give_ups_total', { gateway: 'ady', result: 'unresolved' });
    const givenUpBefore = await givenUp();
    const { service, ledger, events, id } = await lostAuthorization(2 * MAX_AGE_MS, logger, MAX_AGE_MS);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.payments).toBe(0);
    expect(await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'ady', by: 'delivery', reason: 'max_age' })).toBe(before + 1);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === id && l.level === 'warn');
    expect(String(warn?.message)).toMatch(/status inquiry withheld/);
    expect(warn?.reason).toBe('max_age');
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({ event: 'unresolved', cause: 'delivery.max_age_ms passed', inquiry: 'replay_withheld' });
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    // A give-up past delivery.max_age_ms as every other one: counted once in pb_max_age_give_ups_total.
    expect(await givenUp()).toBe(givenUpBefore + 1);
    // Its job, run again, sends nothing: UNRESOLVED is never sent again (nor counted again).
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.payments).toBe(0);
    expect(await givenUp()).toBe(givenUpBefore + 1);
  });

  it('within it, is still asked by replaying its request', async () => {
    const { service, id } = await lostAuthorization(MAX_AGE_MS / 2, undefined, MAX_AGE_MS);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.keys).toEqual([id]);
  });
});

describe('Adyen: a capture (settled by webhook only) whose resend is refused as an idempotency conflict', () => {
  it('is never failed: UNKNOWN with the PSP holding it, then PENDING for its CAPTURE webhook, never sent a third time', async () => {
    const stack = stacks.build(config());
    const command = channelCommand('capture', {}, { gateway: 'ady', gateway_key: 'PSPCAPTUREAUTH001', currency: 'EUR', amount: 1000 });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    // The first attempt's answer was lost (it landed, built otherwise by an earlier release).
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await stack.ledger.transition(id, 'UNKNOWN', { event: 'test', error: 'timeout' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
    psp.captureKeys = [];

    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect(psp.captureKeys).toEqual([id]);
    expect((await stack.ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await stack.events.load(`${id}.FAILED`)).toBeNull();

    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'PENDING' });
    expect(psp.captureKeys).toEqual([id]);
    expect((await stack.ledger.interactions(id)).find((h) => h.event === 'awaiting_webhook')).toMatchObject({ cause: 'psp_has_request' });
  });
});

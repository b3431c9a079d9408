import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CommandType } from '../../../src/contracts/payment-command';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { captureLogger } from '../../support/capture-logger';
import { redisText } from '../../support/redis-text';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';

/**
 * An Adyen Stored Value operation whose answer was lost (UNKNOWN) is resolved by sending its request again
 * under its Idempotency-Key (the Stored Value API has no lookup). Adyen's Stored Value spec declares no such
 * key, so a refusal of the replay is the first attempt's answer only when Adyen echoes the key: otherwise it
 * may be a second void refused because the first one landed. A local Adyen stand-in answers as told and counts
 * what reaches it.
 */
const psp = {
  echo: false,
  resultCode: 'Refused',
  /** HTTP statuses to answer first, one per call (Adyen's ServiceError, `internal` unless named), before the `resultCode` answers. */
  failures: [] as Array<number | { status: number; errorType: string; message?: string; transient?: boolean }>,
  /** Fields the 200 answers carry beyond pspReference, resultCode and currentBalance (an issued card's paymentMethod). */
  extra: {} as Record<string, unknown>,
  calls: [] as Array<{ path: string; key: string }>,
  /** The request bodies, in order (what a void names as `originalReference`). */
  bodies: [] as Array<Record<string, unknown>>,
};
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      psp.calls.push({ path: req.url ?? '', key });
      psp.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>);
      const shifted = psp.failures.shift();
      if (shifted !== undefined) {
        const failure = typeof shifted === 'number' ? { status: shifted, errorType: 'internal' } : shifted;
        res.writeHead(failure.status, {
          'content-type': 'application/json',
          ...('transient' in failure && failure.transient ? { 'transient-error': 'true' } : {}),
        });
        const message = failure.message ?? 'Payment details are not supported';
        res.end(JSON.stringify({ status: failure.status, errorCode: '905', message, errorType: failure.errorType }));
        return;
      }
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(psp.echo ? { 'idempotency-key': key } : {}) };
      res.writeHead(200, headers);
      res.end(JSON.stringify({ pspReference: 'SVREPLAY00000001', resultCode: psp.resultCode, currentBalance: { currency: 'EUR', value: 5000 }, ...psp.extra }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pal/servlet/StoredValue/v46`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}, 60_000);

function config(extra: Record<string, unknown> = {}) {
  return testConfig({
    ...extra,
    gateways: {
      gc: { type: 'adyen-stored-value', base_url: baseUrl, api_key: 'adyen-sv-replay-key-0123456789', merchant_account: 'AcmeEU', timeout_ms: 2000 },
    },
  });
}

/**
 * A Stored Value `command` sent once whose answer was lost (UNKNOWN). `pastMaxAge`: delivered (and polled) two hours
 * after its receipt, with `delivery.max_age_ms` one hour.
 */
async function lost(command: CommandType, gatewayKey: string, logger = captureLogger('info').logger, pastMaxAge = false) {
  const stack = pastMaxAge
    ? stacks.build(config({ 'delivery.max_age_ms': 3600_000 }), { logger, now: () => Date.now() + 2 * 3600_000 })
    : stacks.build(config(), { logger });
  const cmd = channelCommand(
    command,
    {},
    { gateway: 'gc', gateway_key: gatewayKey, currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } },
  );
  const id = cmd.payment.operation_reference!;
  await stack.ledger.create(id, cmd);
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await stack.ledger.transition(id, 'UNKNOWN', { event: 'test', error: 'timeout' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
  psp.calls = [];
  return { ...stack, id };
}

describe('Adyen Stored Value: an UNKNOWN operation resolved by replaying its request', () => {
  it('a void whose replay is refused without Adyen confirming it as the replay stays UNKNOWN (never FAILED), counted and logged', async () => {
    const { logger, lines } = captureLogger('info');
    const { service, ledger, events, id } = await lost('cancel', 'QFQTPCQ8HXSKGK82', logger);
    psp.echo = false;
    psp.resultCode = 'Refused';
    const before = await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: 'gc', result: 'refused' });
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(psp.calls).toEqual([{ path: '/pal/servlet/StoredValue/v46/voidTransaction', key: id }]);
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect((await ledger.interactions(id)).find((h) => h.event === 'inquiry_error')).toMatchObject({
      kind: 'outcome_unknown',
      gateway_code: 'ADYEN_SV_REPLAY_UNCONFIRMED',
    });
    expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: 'gc', result: 'refused' })).toBe(before + 1);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === id && l.level === 'warn');
    expect(String(warn?.error)).toMatch(/without echoing its Idempotency-Key/);
  });

  it("a void whose replay Adyen confirms (its key echoed) takes the refusal as the first attempt's: FAILED", async () => {
    const { service, events, id } = await lost('cancel', 'QFQTPCQ8HXSKGK83');
    psp.echo = true;
    psp.resultCode = 'Refused';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toHaveLength(1);
    expect(await events.load(`${id}.FAILED`)).not.toBeNull();
  });

  it('a reload whose replay succeeds is SUCCEEDED either way; unconfirmed, it is counted (it may have been loaded twice)', async () => {
    const { service, ledger, id } = await lost('reload', 'shopper-0042:8316039902646531');
    psp.echo = false;
    psp.resultCode = 'Success';
    const before = await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: 'gc', result: 'success' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.calls).toEqual([{ path: '/pal/servlet/StoredValue/v46/load', key: id }]);
    expect((await ledger.get(id))?.gatewayReference).toBe('SVREPLAY00000001');
    expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: 'gc', result: 'success' })).toBe(before + 1);
  });

  it('the poller too: a void whose replay is refused unconfirmed stays UNKNOWN, its history naming why', async () => {
    const { config: cfg, ledger, recorder, events, id } = await lost('cancel', 'QFQTPCQ8HXSKGK84');
    psp.echo = false;
    psp.resultCode = 'Refused';
    const poller = new Poller({
      config: cfg,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(cfg)),
      recorder,
      logger: captureLogger('info').logger,
    });
    await poller.runOnce();
    expect(psp.calls.map((c) => c.key)).toContain(id);
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect((await ledger.interactions(id)).find((h) => h.event === 'poll_error')).toMatchObject({
      kind: 'outcome_unknown',
      gateway_code: 'ADYEN_SV_REPLAY_UNCONFIRMED',
    });
  });

  it('a void answered HTTP 500 is UNKNOWN and asked about by replay, never resent and failed on a refusal Adyen did not confirm as the replay', async () => {
    const stack = stacks.build(config());
    const cmd = channelCommand(
      'cancel',
      {},
      { gateway: 'gc', gateway_key: 'QFQTPCQ8HXSKGK85', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } },
    );
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    psp.calls = [];
    // The void may have been done before the 500; a second void is then refused, and Adyen does not echo the key.
    psp.failures = [500];
    psp.echo = false;
    psp.resultCode = 'Refused';
    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect((await stack.ledger.get(id))?.state).toBe('UNKNOWN');
    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect(psp.calls).toEqual([
      { path: '/pal/servlet/StoredValue/v46/voidTransaction', key: id },
      { path: '/pal/servlet/StoredValue/v46/voidTransaction', key: id },
    ]);
    expect((await stack.ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await stack.events.load(`${id}.FAILED`)).toBeNull();
    expect((await stack.ledger.interactions(id)).find((h) => h.event === 'send_error')).toMatchObject({ kind: 'outcome_unknown', http_status: 500 });
  });

  it('a void answered HTTP 500 whose replay Adyen refuses with a ServiceError (422 validation) without the key stays UNKNOWN, never FAILED', async () => {
    const stack = stacks.build(config());
    const cmd = channelCommand(
      'cancel',
      {},
      { gateway: 'gc', gateway_key: 'QFQTPCQ8HXSKGK86', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } },
    );
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    psp.calls = [];
    // The void may have been done before the 500; the second one is refused as a request Adyen will not perform.
    psp.failures = [500, { status: 422, errorType: 'validation' }];
    psp.echo = false;
    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect(psp.calls).toHaveLength(2);
    expect((await stack.ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await stack.events.load(`${id}.FAILED`)).toBeNull();
    expect((await stack.ledger.interactions(id)).find((h) => h.event === 'inquiry_error')).toMatchObject({
      kind: 'outcome_unknown',
      gateway_code: 'ADYEN_SV_REPLAY_UNCONFIRMED',
    });
  });
});

describe('Adyen Stored Value: an UNKNOWN operation past delivery.max_age_ms (within the key window)', () => {
  it('a reload is never asked by replaying its request (it would load the card now): UNRESOLVED, nothing sent', async () => {
    const { service, ledger, id } = await lost('reload', 'shopper-0043:8316039902646531', undefined, true);
    psp.echo = true;
    psp.resultCode = 'Success';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.calls).toEqual([]);
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({ event: 'unresolved', cause: 'delivery.max_age_ms passed', inquiry: 'replay_withheld' });
  });

  it('a balance inquiry is asked (its replay reads the balance, it moves nothing) and settles: no UNRESOLVED that nothing would ever settle', async () => {
    const { service, ledger, events, id } = await lost('balance_inquiry', 'shopper-0044:8316039902646531', undefined, true);
    psp.echo = false;
    psp.resultCode = 'Success';
    const before = await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'gc', by: 'delivery', reason: 'max_age' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.calls).toEqual([{ path: '/pal/servlet/StoredValue/v46/checkBalance', key: id }]);
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'gc', by: 'delivery', reason: 'max_age' })).toBe(before);
  });

  it('the poller asks an UNRESOLVED balance inquiry too, and settles it', async () => {
    const { config: cfg, ledger, recorder, id } = await lost('balance_inquiry', 'shopper-0045:8316039902646531', undefined, true);
    await ledger.transition(id, 'UNRESOLVED', { event: 'test' }, { nextCheckAt: Date.now() - 1 });
    psp.echo = false;
    psp.resultCode = 'Success';
    const poller = new Poller({
      config: cfg,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(cfg)),
      recorder,
      logger: captureLogger('info').logger,
      now: () => Date.now() + 2 * 3600_000,
    });
    await poller.runOnce();
    expect(psp.calls.map((c) => c.key)).toContain(id);
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
  });
});

describe('Adyen Stored Value: a void naming one of our Stored Value operations by our operation id', () => {
  const card = { gateway: 'gc', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } };

  it("voids the transaction Adyen did (originalReference: that operation's pspReference), never our id", async () => {
    const stack = stacks.build(config());
    const reload = channelCommand('reload', {}, { ...card, gateway_key: 'shopper-0042:8316039902646531' });
    const reloadId = reload.payment.operation_reference!;
    await stack.ledger.create(reloadId, reload);
    psp.failures = [];
    psp.echo = true;
    psp.resultCode = 'Success';
    expect(await stack.service.deliver(reloadId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const cancel = channelCommand('cancel', {}, { ...card, gateway_key: reloadId, order_id: reload.payment.order_id });
    const cancelId = cancel.payment.operation_reference!;
    await stack.ledger.create(cancelId, cancel);
    psp.calls = [];
    psp.bodies = [];
    expect(await stack.service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.calls).toEqual([{ path: '/pal/servlet/StoredValue/v46/voidTransaction', key: cancelId }]);
    expect(psp.bodies[0]).toMatchObject({ merchantAccount: 'AcmeEU', originalReference: 'SVREPLAY00000001' });
  });

  it('waits while that operation is undecided, and refuses it unsent once it failed (nothing to void)', async () => {
    const stack = stacks.build(config());
    const reload = channelCommand('reload', {}, { ...card, gateway_key: 'shopper-0042:8316039902646531' });
    const reloadId = reload.payment.operation_reference!;
    await stack.ledger.create(reloadId, reload);
    const cancel = channelCommand('cancel', {}, { ...card, gateway_key: reloadId, order_id: reload.payment.order_id });
    const cancelId = cancel.payment.operation_reference!;
    await stack.ledger.create(cancelId, cancel);
    psp.calls = [];
    expect((await stack.service.deliver(cancelId)).kind).toBe('wait');
    expect(psp.calls).toEqual([]);
    psp.failures = [];
    psp.echo = true;
    psp.resultCode = 'Refused';
    expect(await stack.service.deliver(reloadId)).toEqual({ kind: 'done', state: 'FAILED' });
    psp.calls = [];
    expect(await stack.service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toEqual([]);
  });
});

describe('Adyen Stored Value: a void naming by our operation id what no Stored Value void undoes', () => {
  const card = { gateway: 'gc', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'svs' } };

  /** `command` on the card, answered Success by Adyen (pspReference SVREPLAY00000001); its id. */
  async function succeeded(stack: ReturnType<typeof stacks.build>, command: CommandType, gatewayKey = 'shopper-0042:8316039902646531'): Promise<string> {
    const cmd = channelCommand(command, {}, { ...card, gateway_key: gatewayKey });
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    psp.failures = [];
    psp.echo = true;
    psp.resultCode = 'Success';
    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    return id;
  }

  async function cancelOf(stack: ReturnType<typeof stacks.build>, namedId: string) {
    const named = (await stack.ledger.get(namedId))!;
    const cancel = channelCommand('cancel', {}, { ...card, gateway_key: namedId, order_id: named.payment.order_id });
    const cancelId = cancel.payment.operation_reference!;
    await stack.ledger.create(cancelId, cancel);
    psp.calls = [];
    psp.bodies = [];
    return { cancelId, step: await stack.service.deliver(cancelId) };
  }

  it.each(['balance_inquiry', 'deactivate'] as const)('refuses a void of a %s unsent (UNSUPPORTED_COMMAND on payment.gateway_key)', async (command) => {
    const stack = stacks.build(config());
    const namedId = await succeeded(stack, command);
    const { cancelId, step } = await cancelOf(stack, namedId);
    expect(step).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toEqual([]);
    expect(await stack.ledger.get(cancelId)).toMatchObject({ reason: 'UNSUPPORTED_COMMAND', reasonField: 'payment.gateway_key' });
  });

  it('refuses a void of a refund of a gift card payment (a payment refund) unsent, and voids a refund to the card by its pspReference', async () => {
    const stack = stacks.build(config());
    const refund = channelCommand('refund', {}, { ...card, gateway_key: 'op-redemption-0001' });
    const refundId = refund.payment.operation_reference!;
    await stack.ledger.create(refundId, refund);
    await stack.ledger.transition(refundId, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const sent = (await stack.ledger.get(refundId))!;
    const outcome = { status: 'SUCCESS' as const, gatewayStatus: 'refunded', gatewayReference: 'QFQTPCQ8HXSKGK99', amount: 1000, currency: 'EUR' };
    expect((await stack.recorder.apply(sent, outcome, 'response')).state).toBe('SUCCEEDED');
    const refused = await cancelOf(stack, refundId);
    expect(refused.step).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toEqual([]);
    expect(await stack.ledger.get(refused.cancelId)).toMatchObject({ reason: 'UNSUPPORTED_COMMAND', reasonField: 'payment.gateway_key' });

    const toCard = await succeeded(stack, 'refund');
    const voided = await cancelOf(stack, toCard);
    expect(voided.step).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.bodies).toEqual([expect.objectContaining({ originalReference: 'SVREPLAY00000001' })]);
  });
});

describe('Adyen Stored Value: a gift card refund naming a long digit run that is none of our operations', () => {
  it('is refused unsent (CARD_DATA_REJECTED on payment.gateway_key): a record intake took before it refused such keys', async () => {
    const stack = stacks.build(config());
    const refund = channelCommand(
      'refund',
      {},
      { gateway: 'gc', gateway_key: '603628672882001915092', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'svs' } },
    );
    const id = refund.payment.operation_reference!;
    await stack.ledger.create(id, refund);
    psp.calls = [];
    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toEqual([]);
    expect(await stack.ledger.get(id)).toMatchObject({ reason: 'CARD_DATA_REJECTED', reasonField: 'payment.gateway_key' });
  });
});

describe('Adyen Stored Value: a void naming by our operation id an operation that is no Stored Value transaction of this gateway', () => {
  /** Alphanumeric, as an OMS's ids may be: such an id passes for an Adyen pspReference, so it would be sent as one. */
  let n = 0;
  const alnumId = (prefix: string) => `${prefix}${process.pid.toString(36)}x${Date.now().toString(36)}x${++n}`;

  function cardsConfig() {
    return testConfig({
      gateways: {
        gc: { type: 'adyen-stored-value', base_url: baseUrl, api_key: 'adyen-sv-replay-key-0123456789', merchant_account: 'AcmeEU', timeout_ms: 2000 },
        // The card gateway the captures and refunds below were made at: never called here.
        cards: {
          type: 'adyen',
          base_url: 'http://127.0.0.1:1/v71',
          api_key: 'adyen-cards-replay-key-0123456789',
          merchant_account: 'AcmeEU',
          timeout_ms: 2000,
        },
      },
    });
  }

  /** A card `command` of ours at gateway `cards`, SUCCEEDED with Adyen's pspReference; its id. */
  async function cardOperation(stack: ReturnType<typeof stacks.build>, command: 'capture' | 'refund'): Promise<string> {
    const id = alnumId(command);
    const cmd = channelCommand(command, {}, { gateway: 'cards', gateway_key: 'QFQTPCQ8HXSKGK10', currency: 'EUR', amount: 1000, operation_reference: id });
    await stack.ledger.create(id, cmd);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const outcome = { status: 'SUCCESS' as const, gatewayStatus: 'received', gatewayReference: 'QFQTPCQ8HXSKGK11', amount: 1000, currency: 'EUR' };
    expect((await stack.recorder.apply((await stack.ledger.get(id))!, outcome, 'response')).state).toBe('SUCCEEDED');
    return id;
  }

  it.each(['capture', 'refund'] as const)(
    'refuses a gift card void naming our card %s unsent (authorization_scope_mismatch on payment.gateway)',
    async (command) => {
      const stack = stacks.build(cardsConfig());
      const namedId = await cardOperation(stack, command);
      const named = (await stack.ledger.get(namedId))!;
      const cancel = channelCommand(
        'cancel',
        {},
        {
          gateway: 'gc',
          gateway_key: namedId,
          currency: 'EUR',
          amount: 1000,
          order_id: named.payment.order_id,
          method_details: { method: 'giftcard', submethod: 'givex' },
        },
      );
      const cancelId = cancel.payment.operation_reference!;
      await stack.ledger.create(cancelId, cancel);
      psp.calls = [];
      expect(await stack.service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(psp.calls).toEqual([]);
      expect(await stack.ledger.get(cancelId)).toMatchObject({ reason: 'authorization_scope_mismatch', reasonField: 'payment.gateway' });
    },
  );

  it("refuses a void naming by our id one of this gateway's own operations that is no Stored Value transaction (a void) unsent: UNSUPPORTED_COMMAND on payment.gateway_key", async () => {
    const stack = stacks.build(cardsConfig());
    const card = { gateway: 'gc', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } };
    const voidId = alnumId('void');
    await stack.ledger.create(voidId, channelCommand('cancel', {}, { ...card, gateway_key: 'QFQTPCQ8HXSKGK12', operation_reference: voidId }));
    psp.failures = [];
    psp.echo = true;
    psp.resultCode = 'Success';
    expect(await stack.service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const named = (await stack.ledger.get(voidId))!;
    const cancel = channelCommand('cancel', {}, { ...card, gateway_key: voidId, order_id: named.payment.order_id });
    const cancelId = cancel.payment.operation_reference!;
    await stack.ledger.create(cancelId, cancel);
    psp.calls = [];
    expect(await stack.service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toEqual([]);
    expect(await stack.ledger.get(cancelId)).toMatchObject({ reason: 'UNSUPPORTED_COMMAND', reasonField: 'payment.gateway_key' });
  });
});

describe("Adyen Stored Value: a void past Adyen's 24-hour window", () => {
  const DAY_MS = 86_400_000;
  const card = { gateway: 'gc', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } };

  /** A reload answered Success (pspReference SVREPLAY00000001), on `cfg`'s ledger; its id. */
  async function reloaded(cfg: ReturnType<typeof config>): Promise<string> {
    const stack = stacks.build(cfg);
    const reload = channelCommand('reload', {}, { ...card, gateway_key: 'shopper-0042:8316039902646531' });
    const id = reload.payment.operation_reference!;
    await stack.ledger.create(id, reload);
    psp.failures = [];
    psp.echo = true;
    psp.resultCode = 'Success';
    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    return id;
  }

  /** A cancel of `gatewayKey` delivered `laterMs` after now, on `cfg`'s ledger. */
  async function cancelLater(cfg: ReturnType<typeof config>, gatewayKey: string, orderId: string | undefined, laterMs: number) {
    const { logger, lines } = captureLogger('info');
    const stack = stacks.build(cfg, { logger, now: () => Date.now() + laterMs });
    const cancel = channelCommand('cancel', {}, { ...card, gateway_key: gatewayKey, order_id: orderId });
    const cancelId = cancel.payment.operation_reference!;
    await stack.ledger.create(cancelId, cancel);
    psp.calls = [];
    psp.bodies = [];
    const step = await stack.service.deliver(cancelId);
    return { step, cancelId, stack, lines };
  }

  it.each([
    ['our operation id', false],
    ['its pspReference', true],
  ] as const)(
    'refuses unsent a void naming a reload done over 24 hours ago by %s: VOID_WINDOW_PASSED on payment.gateway_key, action reverse_with_new_transaction, counted and logged',
    async (_, byReference) => {
      const cfg = config();
      const reloadId = await reloaded(cfg);
      const reload = (await stacks.build(cfg).ledger.get(reloadId))!;
      const before = await metricValue('pb_authorization_refusals_total', { gateway: 'gc', reason: 'VOID_WINDOW_PASSED' });
      const { step, cancelId, stack, lines } = await cancelLater(cfg, byReference ? 'SVREPLAY00000001' : reloadId, reload.payment.order_id, DAY_MS + 60_000);
      expect(step).toEqual({ kind: 'done', state: 'FAILED' });
      expect(psp.calls).toEqual([]);
      expect(await stack.ledger.get(cancelId)).toMatchObject({
        reason: 'VOID_WINDOW_PASSED',
        reasonField: 'payment.gateway_key',
        decline: { category: 'operation_not_permitted', gateway_code: 'VOID_WINDOW_PASSED', suggested_action: 'reverse_with_new_transaction' },
      });
      expect(await metricValue('pb_authorization_refusals_total', { gateway: 'gc', reason: 'VOID_WINDOW_PASSED' })).toBe(before + 1);
      const warn = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.level === 'warn' && l.operation_id === cancelId && l.reason === 'VOID_WINDOW_PASSED');
      expect(warn).toMatchObject({
        field: 'payment.gateway_key',
        command: 'cancel',
        named_operation_id: reloadId,
        named_command: 'reload',
        void_window_ms: DAY_MS,
      });
      expect(String(warn?.why)).toMatch(/within 24 h/);
    },
  );

  it('still sends a void within the 24 hours', async () => {
    const cfg = config();
    const reloadId = await reloaded(cfg);
    const reload = (await stacks.build(cfg).ledger.get(reloadId))!;
    const { step } = await cancelLater(cfg, reloadId, reload.payment.order_id, DAY_MS - 60_000);
    expect(step).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.bodies).toEqual([expect.objectContaining({ originalReference: 'SVREPLAY00000001' })]);
  });
});

describe('Adyen Stored Value: a 5xx of errorType validation is the incorrect request Adyen says it is', () => {
  // Adyen's "HTTP status codes" page: a 500 "also when the request is incorrect, for example because of a missing or
  // not filled in mandatory field" (errorType validation); the Stored Value v46 spec documents no 422.
  it('a reload answered HTTP 500 of errorType validation on its first send is FAILED for good, sent once, never replayed', async () => {
    const stack = stacks.build(config());
    const cmd = channelCommand(
      'reload',
      {},
      {
        gateway: 'gc',
        gateway_key: 'shopper-0046:8316039902646531',
        currency: 'EUR',
        amount: 1000,
        method_details: { method: 'giftcard', submethod: 'givex' },
      },
    );
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    psp.calls = [];
    psp.failures = [{ status: 500, errorType: 'validation' }];
    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toHaveLength(1);
    expect(await stack.events.load(`${id}.FAILED`)).not.toBeNull();
    expect((await stack.ledger.interactions(id)).find((h) => h.event === 'send_error')).toMatchObject({
      kind: 'invalid_request',
      http_status: 500,
      gateway_code: '905',
    });
  });
});

describe('Adyen Stored Value: a resend after an attempt with no recorded end (a worker killed mid-call) is read as the replay it is', () => {
  async function unfinished(command: CommandType, gatewayKey: string) {
    const stack = stacks.build(config());
    const cmd = channelCommand(
      command,
      {},
      { gateway: 'gc', gateway_key: gatewayKey, currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } },
    );
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    // The attempt is on record before the request leaves; the worker died before its answer was.
    await stack.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1, gateway: 'gc' }, { countAttempt: true });
    psp.calls = [];
    psp.failures = [];
    return { ...stack, id };
  }

  it('a void refused on the resend without the key echoed (the first void may have landed) is UNKNOWN, never FAILED, counted', async () => {
    const { service, ledger, events, id } = await unfinished('cancel', 'QFQTPCQ8HXSKGK91');
    psp.echo = false;
    psp.resultCode = 'Refused';
    const before = await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: 'gc', result: 'refused' });
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(psp.calls).toEqual([{ path: '/pal/servlet/StoredValue/v46/voidTransaction', key: id }]);
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const history = await ledger.interactions(id);
    expect(history.filter((h) => h.event === 'attempt').pop()).toMatchObject({ attempt: 2, read_as_replay: true });
    expect(history.find((h) => h.event === 'send_error')).toMatchObject({ kind: 'outcome_unknown', gateway_code: 'ADYEN_SV_REPLAY_UNCONFIRMED' });
    expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: 'gc', result: 'refused' })).toBe(before + 1);
  });

  it("a refusal Adyen confirms as the replay (its key echoed) is the first attempt's: FAILED", async () => {
    const { service, events, id } = await unfinished('cancel', 'QFQTPCQ8HXSKGK92');
    psp.echo = true;
    psp.resultCode = 'Refused';
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toHaveLength(1);
    expect(await events.load(`${id}.FAILED`)).not.toBeNull();
  });

  it('a resend after an answer on record (a 5xx Adyen marked Transient-Error: not processed) is read as the request it is: refused, FAILED', async () => {
    const stack = stacks.build(config());
    const cmd = channelCommand(
      'cancel',
      {},
      { gateway: 'gc', gateway_key: 'QFQTPCQ8HXSKGK93', currency: 'EUR', amount: 1000, method_details: { method: 'giftcard', submethod: 'givex' } },
    );
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    psp.calls = [];
    psp.failures = [{ status: 503, errorType: 'internal', transient: true }];
    psp.echo = false;
    psp.resultCode = 'Refused';
    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect((await stack.ledger.interactions(id)).find((h) => h.event === 'send_error')).toMatchObject({ kind: 'server_error', http_status: 503 });
    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(psp.calls).toHaveLength(2);
    expect((await stack.ledger.interactions(id)).filter((h) => h.event === 'attempt').pop()).not.toHaveProperty('read_as_replay');
  });
});

describe('Adyen Stored Value: a gift card number and PIN in no sink', () => {
  // Adyen's /issue answers with the new card in paymentMethod (number, securityCode): card data, never kept.
  const cardNumber = '6036280000000917351';
  const pin = '86420975';

  it("an issue answered with the new card's number and PIN, after a ServiceError echoing them: neither in a log line, Redis (record, history, events, queued jobs) or the event", async () => {
    const { logger, lines } = captureLogger('debug');
    const stack = stacks.build(config(), { logger });
    const cmd = channelCommand('issue', {}, { gateway: 'gc', currency: 'EUR', amount: 5000, method_details: { method: 'giftcard', submethod: 'givex' } });
    const id = cmd.payment.operation_reference!;
    await stack.ledger.create(id, cmd);
    psp.calls = [];
    psp.echo = true;
    psp.resultCode = 'Success';
    psp.failures = [{ status: 500, errorType: 'internal', message: `card ${cardNumber} pin ${pin} not processed` }];
    psp.extra = { paymentMethod: { type: 'givex', number: cardNumber, securityCode: pin, expiryMonth: '12', expiryYear: '2030' } };
    try {
      expect((await stack.service.deliver(id)).kind).toBe('retry');
      expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    } finally {
      psp.extra = {};
    }
    expect(psp.calls).toHaveLength(2);
    const event = await stack.events.load(`${id}.SUCCEEDED`);
    expect(event).not.toBeNull();
    const everything = [
      lines.join('\n'),
      JSON.stringify(event),
      JSON.stringify(await stack.ledger.interactions(id)),
      await redisText(stack.redis, stack.config.redis.keyPrefix),
    ].join('\n');
    expect(everything).toContain(id);
    expect(everything).not.toContain(cardNumber);
    expect(everything).not.toContain(pin);
  });
});

import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { captureLogger } from '../../support/capture-logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ACTION_EXPIRED, ActionExpiry } from '../../../src/poller/action-expiry';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { GatewayRouter, UNKNOWN_GATEWAY } from '../../../src/routing/gateway-router';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Poller } from '../../../src/poller/poller';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * The customer-action hand-off end to end on the real Redis, with a local HTTP peer answering as Stripe's
 * API documents (PaymentIntents in `requires_action` with `next_action` and `client_secret`, search,
 * cancel): ACTION_REQUIRED and its event, completion by webhook outcome, and the poller's expiry with its void.
 */
interface StripeIntent {
  id: string;
  object: 'payment_intent';
  status: string;
  amount: number;
  amount_capturable: number;
  amount_received: number;
  currency: string;
  capture_method: string;
  client_secret: string;
  next_action: Record<string, unknown> | null;
  setup_future_usage: string | null;
  payment_method: string;
  metadata: Record<string, string>;
  cancellation_reason: string | null;
}

let stripe: Server;
let stripeUrl = '';
const intents = new Map<string, StripeIntent>();
const cancels: string[] = [];
let counter = 0;
/** The `expires_at` (Unix seconds) the fake gives a Boleto voucher it creates; null: none yet, as the spec allows. */
let boletoExpiresAt: number | null = null;
/** An HTTP status the fake answers every search with (a status inquiry that errs), with Stripe's error body; null: answers. */
let searchFailsWith: number | null = null;
/** Whether the fake's search leaves every PaymentIntent out (its index behind, as Stripe documents during an outage). */
let searchMisses = false;
const DAY_MS = 24 * 3600 * 1000;
let redis: RedisClient;
const configs: Config[] = [];
const closers: Array<() => Promise<unknown>> = [];

function form(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST' && url.pathname === '/v1/payment_intents') {
    const f = form(body);
    const id = `pi_action_${++counter}`;
    const intent: StripeIntent = {
      id,
      object: 'payment_intent',
      status: 'requires_action',
      amount: Number(f.amount),
      amount_capturable: 0,
      amount_received: 0,
      currency: f.currency,
      capture_method: f.capture_method,
      client_secret: `${id}_secret_test${counter}`,
      // A Boleto PaymentMethod answers with its voucher (`boleto_display_details`), a customer balance with its bank
      // transfer instructions (no expiry: it waits for the transfer), any other with a 3-D Secure challenge.
      next_action: f.payment_method?.startsWith('pm_customer_balance')
        ? {
            type: 'display_bank_transfer_instructions',
            display_bank_transfer_instructions: {
              type: 'eu_bank_transfer',
              amount_remaining: Number(f.amount),
              currency: f.currency,
              reference: `REF${counter}`,
              hosted_instructions_url: `https://payments.stripe.com/bank_transfers/instructions/${id}`,
              financial_addresses: [
                { type: 'iban', iban: { iban: 'DE00123456789012345678', bic: 'SOGEDEFFXXX', country: 'DE', account_holder_name: 'Stripe' } },
              ],
            },
          }
        : f.payment_method?.startsWith('pm_boleto')
          ? {
              type: 'boleto_display_details',
              boleto_display_details: {
                number: '23790.00009 90000.000000',
                hosted_voucher_url: `https://payments.stripe.com/boleto/voucher/${id}`,
                expires_at: boletoExpiresAt,
              },
            }
          : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: 'https://hooks.stripe.com/3d_secure_2/hosted' } },
      setup_future_usage: f.setup_future_usage ?? null,
      payment_method: f.payment_method,
      metadata: { operation_id: f['metadata[operation_id]'] },
      cancellation_reason: null,
    };
    intents.set(id, intent);
    return answer(res, 200, intent);
  }
  if (req.method === 'GET' && url.pathname === '/v1/payment_intents/search') {
    if (searchFailsWith !== null)
      return answer(res, searchFailsWith, {
        error:
          searchFailsWith >= 500 ? { type: 'api_error', message: 'An unknown error occurred' } : { type: 'invalid_request_error', code: 'parameter_invalid' },
      });
    const op = /metadata\['operation_id'\]:'(.+)'/.exec(url.searchParams.get('query') ?? '')?.[1];
    const found = searchMisses ? [] : [...intents.values()].filter((i) => i.metadata.operation_id === op);
    return answer(res, 200, { object: 'search_result', data: found, has_more: false });
  }
  const cancel = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)\/cancel$/.exec(url.pathname);
  if (req.method === 'POST' && cancel) {
    const intent = intents.get(cancel[1]);
    if (!intent) return answer(res, 404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
    cancels.push(intent.id);
    Object.assign(intent, { status: 'canceled', next_action: null, cancellation_reason: 'requested_by_customer' });
    return answer(res, 200, intent);
  }
  answer(res, 404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
}

beforeAll(async () => {
  stripe = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => stripe.listen(0, '127.0.0.1', resolve));
  stripeUrl = `http://127.0.0.1:${(stripe.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  redis?.disconnect();
  await new Promise((resolve) => stripe.close(resolve));
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

function setup(
  logger: Logger = silentLogger(),
  waits: Record<string, number | number[]> = { 'authentication.action_timeout_ms': 60_000, 'authentication.voucher_timeout_ms': 60_000 },
) {
  const config = testConfig({
    ...waits,
    gateways: {
      stripe: {
        type: 'stripe',
        base_url: stripeUrl,
        api_key: 'sk_test_action_0123456789',
        webhook_secret: 'whsec_action_0123456789',
        store_payment_methods: true,
      },
    },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  closers.push(
    () => eventsQueue.close(),
    () => deliveryQueue.close(),
  );
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const router = new ConfiguredGatewayRouter(createGatewayClients(config));
  const service = new DeliveryService({ config, ledger, router, recorder, logger });
  const expiry = (offsetMs: number) => new ActionExpiry({ config, redis, ledger, router, recorder, deliveryQueue, logger, now: () => Date.now() + offsetMs });
  return { config, ledger, events, recorder, service, expiry, deliveryQueue };
}

function threeDsAuthorize(store = false) {
  return channelCommand(
    'authorize',
    {},
    {
      gateway: 'stripe',
      gateway_key: 'pm_card_threeDSecure2Required',
      custom_attributes: { stripe_customer: 'cus_action_1' },
      payment_method: { type: 'card', store },
    },
  );
}

function boletoSale() {
  return channelCommand('sale', {}, { gateway: 'stripe', gateway_key: 'pm_boleto_1', currency: 'BRL', payment_method: { type: 'card' } });
}

describe('3-D Secure hand-off (Stripe requires_action)', () => {
  it('reports ACTION_REQUIRED with the client secret and next_action, then completes SUCCESS with the stored token on the webhook outcome', async () => {
    const s = setup();
    const command = threeDsAuthorize(true);
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);

    const op = await s.ledger.get(id);
    expect(op?.state).toBe('ACTION_REQUIRED');
    // The expiry is the index score: the poller's expiry pass finds it then, not before.
    expect(op?.nextCheckAt).toBeGreaterThan(Date.now() + 50_000);
    const waiting = (await s.events.load(`${id}.ACTION_REQUIRED`))?.params.payment as Record<string, unknown>;
    expect(waiting).toMatchObject({
      status: 'ACTION_REQUIRED',
      operation_reference: id,
      action: { kind: 'three_ds', client_secret: `${op!.gatewayReference}_secret_test${counter}`, psp_action: { type: 'use_stripe_sdk' } },
      gateway_response: { status: 'requires_action', reference: op!.gatewayReference },
    });

    // The PaymentIntent succeeds after the challenge; Stripe's webhook carries it (no client secret).
    const after = await s.recorder.apply(
      op!,
      {
        status: 'SUCCESS',
        gatewayStatus: 'requires_capture',
        gatewayReference: op!.gatewayReference,
        storedToken: 'pm_saved_after_3ds',
        amount: 2599,
        currency: 'EUR',
      },
      'webhook',
    );
    expect(after.state).toBe('SUCCEEDED');
    // The client secret is not kept past the action.
    expect(after.action).toEqual({ kind: 'three_ds' });
    const done = (await s.events.load(`${id}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(done).toMatchObject({ status: 'SUCCESS', token: 'pm_saved_after_3ds' });
    expect(done.action).toBeUndefined();
  });

  it('expires an action nobody completed: asks Stripe once more, fails it ACTION_EXPIRED and voids the PaymentIntent', async () => {
    const s = setup();
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    expect((await s.ledger.get(id))?.state).toBe('ACTION_REQUIRED');

    // Not due yet: nothing happens.
    expect((await s.expiry(0).runOnce()).due).toBe(0);
    const before = await metricValue('pb_customer_actions_expired_total', { gateway: 'stripe', voided: 'yes' });
    const report = await s.expiry(61_000).runOnce();
    expect(report).toMatchObject({ due: 1, settled: 0, expired: 1, voided: 1 });
    expect(await metricValue('pb_customer_actions_expired_total', { gateway: 'stripe', voided: 'yes' })).toBe(before + 1);

    const op = await s.ledger.get(id);
    expect(op).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED, action: { kind: 'three_ds' } });
    expect((await s.events.load(`${id}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: ACTION_EXPIRED,
      decline: { category: 'authentication_required', suggested_action: 'authenticate' },
    });

    // The void is an operation of its own, naming the PaymentIntent; delivered, Stripe cancels it.
    const voidId = voidOperationId(id);
    const voidOp = await s.ledger.get(voidId);
    expect(voidOp).toMatchObject({ command: 'cancel', channel: 'bridge', payment: { gateway_key: op!.gatewayReference, orphan_reversal: 'action_expired' } });
    expect(await s.deliveryQueue.getJob(voidId)).toBeTruthy();
    await s.service.deliver(voidId);
    expect((await s.ledger.get(voidId))?.state).toBe('SUCCEEDED');
    expect(cancels).toContain(op!.gatewayReference);

    // A second pass finds nothing more to do.
    expect((await s.expiry(61_000).runOnce()).due).toBe(0);
    expect(await redis.hlen(s.expiry(0).voidIntentsKey)).toBe(0);
  });

  it('a pass that stopped between failing an expired action and queueing its void leaves the intent: the next pass queues the void, once', async () => {
    const s = setup();
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const op = (await s.ledger.get(id))!;
    expect(op.state).toBe('ACTION_REQUIRED');
    // What the pass wrote before it died: the intent, then the failure (off the ACTION_REQUIRED index).
    const expiry = s.expiry(61_000);
    await redis.hset(expiry.voidIntentsKey, id, op.gatewayReference!);
    await s.recorder.fail(op, ACTION_EXPIRED, 'poller', { details: { waited_ms: 61_000 } });
    const resumed = await metricValue('pb_customer_action_voids_resumed_total');

    const report = await expiry.runOnce();

    expect(report).toMatchObject({ due: 0, voided: 1 });
    expect(await s.ledger.get(voidOperationId(id))).toMatchObject({
      command: 'cancel',
      payment: { gateway_key: op.gatewayReference, orphan_reversal: 'action_expired' },
    });
    expect(await s.deliveryQueue.getJob(voidOperationId(id))).toBeTruthy();
    expect(await metricValue('pb_customer_action_voids_resumed_total')).toBe(resumed + 1);
    expect(await redis.hlen(expiry.voidIntentsKey)).toBe(0);
    expect((await s.expiry(61_000).runOnce()).voided).toBe(0);
  });
});

describe('an expiry racing a PSP fact', () => {
  it('never fails ACTION_EXPIRED an operation a webhook moved on after the pass read it (the customer finished: PENDING at the PSP): left as it is, no FAIL event, no void', async () => {
    const s = setup();
    const logs = captureLogger();
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    expect((await s.ledger.get(id))?.state).toBe('ACTION_REQUIRED');
    // The pass reads ACTION_REQUIRED; right after, Stripe's webhook says the PaymentIntent is processing.
    const raced = Object.create(s.ledger) as Ledger;
    raced.get = async (opId: string) => {
      const read = await s.ledger.get(opId);
      if (opId === id && read?.state === 'ACTION_REQUIRED')
        await s.recorder.apply(read, { status: 'PENDING', gatewayStatus: 'processing', gatewayReference: read.gatewayReference }, 'webhook');
      return read;
    };
    const router = new ConfiguredGatewayRouter(createGatewayClients(s.config));
    const expiry = new ActionExpiry({
      config: s.config,
      redis,
      ledger: raced,
      router,
      recorder: s.recorder,
      deliveryQueue: s.deliveryQueue,
      logger: logs.logger,
      now: () => Date.now() + 61_000,
    });

    const report = await expiry.runOnce();

    expect(report).toMatchObject({ due: 1, expired: 0, voided: 0 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'PENDING' });
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    expect(await redis.hlen(expiry.voidIntentsKey)).toBe(0);
    const line = logs.lines.find((l) => l.includes('customer action expiry not recorded: the operation moved meanwhile') && l.includes(id));
    expect(line).toContain('"read_state":"ACTION_REQUIRED"');
    expect(line).toContain('"state":"PENDING"');
  });
});

describe("an expiry whose status inquiry errs (Stripe's search answers 5xx, or refuses the read)", () => {
  afterEach(() => {
    searchFailsWith = null;
  });

  const waits = {
    'authentication.action_timeout_ms': 60_000,
    'authentication.voucher_timeout_ms': 60_000,
    'poller.schedule_ms': [60_000, 300_000],
    'poller.action_expiry_inquiry_max_ms': 600_000,
  };

  it('stays ACTION_REQUIRED on a 5xx (no FAIL event, no void), asked again along the poll schedule; past poller.action_expiry_inquiry_max_ms UNRESOLVED, no void; then settled SUCCEEDED when Stripe shows the customer completed', async () => {
    const logs = captureLogger();
    const s = setup(logs.logger, waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const waiting = (await s.ledger.get(id))!;
    expect(waiting.state).toBe('ACTION_REQUIRED');
    const retried = await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'retried' });
    const unresolved = await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'unresolved' });
    const noFailure = async (): Promise<void> => {
      expect(await s.events.load(`${id}.FAILED`)).toBeNull();
      expect(await s.ledger.get(voidOperationId(id))).toBeNull();
      expect(await s.deliveryQueue.getJob(voidOperationId(id))).toBeUndefined();
      expect(await redis.hlen(s.expiry(0).voidIntentsKey)).toBe(0);
      expect(cancels).not.toContain(waiting.gatewayReference);
    };

    searchFailsWith = 500;
    const first = Date.now();
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 1, unresolved: 0 });
    const deferred = (await s.ledger.get(id))!;
    expect(deferred).toMatchObject({ state: 'ACTION_REQUIRED', attempts: waiting.attempts });
    // Asked again after the schedule's first step, not at the next pass: no hot loop.
    expect(deferred.nextCheckAt).toBeGreaterThanOrEqual(first + 61_000 + 60_000);
    await noFailure();
    expect(await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'retried' })).toBe(retried + 1);
    expect(logs.lines.find((l) => l.includes('customer action expiry deferred') && l.includes(id))).toContain('"kind":"server_error"');
    expect((await s.expiry(61_000).runOnce()).due).toBe(0);

    // Still erring at the next step: deferred again, the next check no later than the bound.
    expect(await s.expiry(125_000).runOnce()).toMatchObject({ due: 1, deferred: 1 });
    expect((await s.ledger.get(id))!.nextCheckAt).toBeLessThanOrEqual(Date.now() + 61_000 + 600_000);
    expect(await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'retried' })).toBe(retried + 2);
    await noFailure();

    // Erring past the bound: UNRESOLVED (its event), nothing voided.
    expect(await s.expiry(700_000).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect((await s.events.load(`${id}.UNRESOLVED`))?.params.payment).toMatchObject({ status: 'UNRESOLVED' });
    expect(await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'unresolved' })).toBe(unresolved + 1);
    await noFailure();
    expect((await s.expiry(700_000).runOnce()).due).toBe(0);

    // The customer had completed: the poller's UNRESOLVED check finds the authorization and settles it.
    searchFailsWith = null;
    Object.assign(intents.get(waiting.gatewayReference!)!, { status: 'requires_capture', amount_capturable: waiting.payment.amount, next_action: null });
    const poller = new Poller({
      config: s.config,
      ledger: s.ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(s.config)),
      recorder: s.recorder,
      logger: silentLogger(),
      now: () => Date.now() + 700_000 + s.config.poller.unresolvedIntervalMs + 1_000,
    });
    await poller.runOnce();
    expect(await s.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED' });
    expect((await s.events.load(`${id}.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS' });
    await noFailure();
  });

  it('a repeated ACTION_REQUIRED notice (a webhook) between two erring inquiries does not restart the bound: UNRESOLVED once the errors have lasted poller.action_expiry_inquiry_max_ms', async () => {
    const s = setup(silentLogger(), waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const waiting = (await s.ledger.get(id))!;
    expect(waiting.state).toBe('ACTION_REQUIRED');
    const notice = async (): Promise<void> => {
      const read = (await s.ledger.get(id))!;
      const after = await s.recorder.apply(
        read,
        { status: 'ACTION_REQUIRED', gatewayStatus: 'requires_action', gatewayReference: read.gatewayReference, action: waiting.action },
        'webhook',
      );
      expect(after.state).toBe('ACTION_REQUIRED');
    };

    searchFailsWith = 500;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ due: 1, deferred: 1 });
    await notice();
    expect(await s.expiry(125_000).runOnce()).toMatchObject({ due: 1, deferred: 1 });
    const second = (await s.ledger.interactions(id)).filter((h) => h.event === 'action_expiry_deferred');
    expect(second.map((h) => h.failures)).toEqual([1, 2]);
    expect(second[1].failing_since).toBe(second[0].failing_since);
    await notice();
    // 700 s after the deadline, past the 600 s bound counted from the first error: given up, not deferred anew.
    expect(await s.expiry(700_000).runOnce()).toMatchObject({ due: 1, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
  });

  it("a notice naming a later deadline of the PSP's between two erring inquiries starts a new run: at that deadline an erring inquiry defers it again, not UNRESOLVED at once", async () => {
    const s = setup(silentLogger(), waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const waiting = (await s.ledger.get(id))!;

    searchFailsWith = 500;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ due: 1, deferred: 1 });
    // A webhook names the PSP's deadline, a day ahead: the operation waits for it.
    const read = (await s.ledger.get(id))!;
    const pspDeadline = Date.now() + DAY_MS;
    const extended = await s.recorder.apply(
      read,
      {
        status: 'ACTION_REQUIRED',
        gatewayStatus: 'requires_action',
        gatewayReference: read.gatewayReference,
        action: waiting.action,
        actionExpiresAt: pspDeadline,
      },
      'webhook',
    );
    expect(extended.nextCheckAt).toBeGreaterThan(pspDeadline);
    const offset = extended.nextCheckAt! - Date.now() + 1_000;
    // At that deadline the inquiry errs again: a new run (its first error), deferred, not given up on an old run.
    expect(await s.expiry(offset).runOnce()).toMatchObject({ due: 1, deferred: 1, unresolved: 0 });
    const deferrals = (await s.ledger.interactions(id)).filter((h) => h.event === 'action_expiry_deferred');
    expect(deferrals.map((h) => h.failures)).toEqual([1, 1]);
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
  });

  it("drops the action's client secret from the record when it is given up as UNRESOLVED (kept only while ACTION_REQUIRED)", async () => {
    const s = setup(silentLogger(), waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    expect((await s.ledger.get(id))?.action?.client_secret).toEqual(expect.any(String));

    searchFailsWith = 400;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ unresolved: 1 });
    const after = (await s.ledger.get(id))!;
    expect(after.state).toBe('UNRESOLVED');
    expect(after.action).toEqual({ kind: 'three_ds' });
  });

  it("UNRESOLVED, then Stripe still waiting at the poller's check: ACTION_REQUIRED again with no second event; erring again, UNRESOLVED again with no second event; answered still waiting at its expiry, FAILED ACTION_EXPIRED and voided", async () => {
    const s = setup(silentLogger(), waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const poller = new Poller({
      config: s.config,
      ledger: s.ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(s.config)),
      recorder: s.recorder,
      logger: silentLogger(),
      now: () => Date.now() + s.config.poller.unresolvedIntervalMs + 1_000,
    });
    const sequences = async (): Promise<(number | undefined)[]> =>
      Promise.all(['ACTION_REQUIRED', 'UNRESOLVED'].map(async (state) => (await s.events.load(`${id}.${state}`))?.sequence));

    searchFailsWith = 400;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ unresolved: 1 });
    const told = await sequences();
    expect(told.every((n) => typeof n === 'number')).toBe(true);

    // The poller's check is answered: the PSP still waits for the customer.
    searchFailsWith = null;
    await poller.runOnce();
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    // Its expiry errs again: UNRESOLVED again. The OMS heard each state once: no event repeated, nothing failed.
    searchFailsWith = 400;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect(await sequences()).toEqual(told);
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();

    // Back to ACTION_REQUIRED, and this time its expiry's inquiry is answered still waiting: FAILED, voided.
    searchFailsWith = null;
    await poller.runOnce();
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ expired: 1, voided: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
    expect(await s.ledger.get(voidOperationId(id))).toMatchObject({ command: 'cancel' });
    expect(await sequences()).toEqual(told);
  });

  it("UNRESOLVED, then Stripe still waiting at the poller's check: the wait is not restarted (counted from creation, over), so the next expiry pass asks once more and fails it ACTION_EXPIRED with its void", async () => {
    const logs = captureLogger();
    const s = setup(logs.logger, waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    // Created half an hour ago: its 60 s wait, counted from then, is long over.
    const createdAt = Date.now() - 1_800_000;
    await s.ledger.create(id, command, createdAt);
    await s.service.deliver(id);
    const since = await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'since_creation' });

    searchFailsWith = 400;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ unresolved: 1 });
    searchFailsWith = null;
    await new Poller({
      config: s.config,
      ledger: s.ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(s.config)),
      recorder: s.recorder,
      logger: silentLogger(),
      now: () => Date.now() + s.config.poller.unresolvedIntervalMs + 1_000,
    }).runOnce();
    const back = (await s.ledger.get(id))!;
    expect(back.state).toBe('ACTION_REQUIRED');
    expect(back.nextCheckAt).toBe(createdAt + 60_000);
    expect(await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'since_creation' })).toBe(since + 1);
    expect(logs.lines.find((l) => l.includes('customer action waiting again after UNRESOLVED') && l.includes(id))).toBeDefined();

    // Due now, not after a fresh wait: asked once more, still waiting, so FAILED and voided.
    expect(await s.expiry(0).runOnce()).toMatchObject({ due: 1, expired: 1, voided: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
    expect(await s.ledger.get(voidOperationId(id))).toMatchObject({ command: 'cancel' });
  });

  it('an inquiry refused for good (a 400: no answer about the operation) makes it UNRESOLVED at once, with no FAIL event and no void', async () => {
    const s = setup(silentLogger(), waits);
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const waiting = (await s.ledger.get(id))!;
    const unresolved = await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'unresolved' });

    searchFailsWith = 400;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect(await s.events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    expect(cancels).not.toContain(waiting.gatewayReference);
    expect(await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'unresolved' })).toBe(unresolved + 1);
  });
});

describe('an erring expiry inquiry racing a PSP fact', () => {
  afterEach(() => {
    searchFailsWith = null;
  });

  it.each([
    [500, 'deferred'],
    [400, 'unresolved'],
  ])(
    'an inquiry answering %i leaves an operation a webhook moved on after the pass read it as that left it: not %s, no event of ours, not counted',
    async (status) => {
      const s = setup(silentLogger(), { 'authentication.action_timeout_ms': 60_000, 'poller.action_expiry_inquiry_max_ms': 600_000 });
      const logs = captureLogger();
      const command = threeDsAuthorize();
      const id = command.payment.operation_reference!;
      await s.ledger.create(id, command);
      await s.service.deliver(id);
      expect((await s.ledger.get(id))?.state).toBe('ACTION_REQUIRED');
      const raced = Object.create(s.ledger) as Ledger;
      raced.get = async (opId: string) => {
        const read = await s.ledger.get(opId);
        if (opId === id && read?.state === 'ACTION_REQUIRED')
          await s.recorder.apply(read, { status: 'PENDING', gatewayStatus: 'processing', gatewayReference: read.gatewayReference }, 'webhook');
        return read;
      };
      const expiry = new ActionExpiry({
        config: s.config,
        redis,
        ledger: raced,
        router: new ConfiguredGatewayRouter(createGatewayClients(s.config)),
        recorder: s.recorder,
        deliveryQueue: s.deliveryQueue,
        logger: logs.logger,
        now: () => Date.now() + 61_000,
      });
      const counted = async (): Promise<number> =>
        (await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'retried' })) +
        (await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'unresolved' }));
      const before = await counted();

      searchFailsWith = status;
      expect(await expiry.runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 0, unresolved: 0 });

      expect(await s.ledger.get(id)).toMatchObject({ state: 'PENDING' });
      expect(await s.events.load(`${id}.UNRESOLVED`)).toBeNull();
      expect(await s.events.load(`${id}.FAILED`)).toBeNull();
      expect(await s.ledger.get(voidOperationId(id))).toBeNull();
      expect((await s.ledger.interactions(id)).some((h) => h.event === 'action_expiry_deferred' || h.event === 'unresolved')).toBe(false);
      expect(await counted()).toBe(before);
      expect(logs.lines.find((l) => l.includes('customer action expiry not recorded: the operation moved meanwhile') && l.includes(id))).toContain(
        '"state":"PENDING"',
      );
    },
  );
});

describe('a voucher the customer pays later (Stripe Boleto, next_action.boleto_display_details.expires_at)', () => {
  it('keeps a Boleto voucher waiting past the fixed timeout until the deadline Stripe gave plus the grace, then fails it and voids the PaymentIntent', async () => {
    const s = setup();
    const grace = s.config.authentication.actionDeadlineGraceMs;
    boletoExpiresAt = Math.floor((Date.now() + 2 * DAY_MS) / 1000);
    const deadline = boletoExpiresAt * 1000;
    const command = boletoSale();
    const id = command.payment.operation_reference!;
    const fromPsp = await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'psp' });
    await s.ledger.create(id, command);
    await s.service.deliver(id);

    const op = await s.ledger.get(id);
    expect(op).toMatchObject({ state: 'ACTION_REQUIRED', action: { kind: 'voucher' }, actionExpiresAt: deadline, nextCheckAt: deadline + grace });
    expect(await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'psp' })).toBe(fromPsp + 1);
    // The OMS is told until when the customer may pay.
    expect((await s.events.load(`${id}.ACTION_REQUIRED`))?.params.payment).toMatchObject({
      status: 'ACTION_REQUIRED',
      action_expires_at: new Date(deadline).toISOString(),
    });

    // Past authentication.action_timeout_ms (1 min here), a day later, and just past Stripe's deadline: the
    // customer still holds a valid voucher (or paid it at the last minute), so nothing is cancelled.
    for (const offset of [61_000, DAY_MS, deadline - Date.now() + 60_000]) {
      expect(await s.expiry(offset).runOnce()).toMatchObject({ due: 0, expired: 0, voided: 0 });
    }
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect(cancels).not.toContain(op!.gatewayReference);

    // Past the deadline and its grace, Stripe still waiting: expired, and the PaymentIntent voided.
    const report = await s.expiry(deadline + grace - Date.now() + 1_000).runOnce();
    expect(report).toMatchObject({ due: 1, expired: 1, voided: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
    const voidId = voidOperationId(id);
    expect(await s.ledger.get(voidId)).toMatchObject({ command: 'cancel', payment: { gateway_key: op!.gatewayReference, orphan_reversal: 'action_expired' } });
    await s.service.deliver(voidId);
    expect(cancels).toContain(op!.gatewayReference);
  });

  it('an operation that entered with the fixed timeout (no deadline named yet) waits for the deadline Stripe names when the poller asks at that timeout', async () => {
    const s = setup();
    boletoExpiresAt = null;
    const command = boletoSale();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const op = (await s.ledger.get(id))!;
    expect(op).toMatchObject({ state: 'ACTION_REQUIRED', actionExpiresAt: undefined });
    expect(op.nextCheckAt).toBeLessThan(Date.now() + 61_000);

    // Stripe names the voucher's expiry when the poller asks at the fixed timeout.
    const deadline = Math.floor((Date.now() + 2 * DAY_MS) / 1000) * 1000;
    const intent = intents.get(op.gatewayReference!)!;
    (intent.next_action!.boleto_display_details as Record<string, unknown>).expires_at = deadline / 1000;

    expect(await s.expiry(61_000).runOnce()).toMatchObject({ due: 1, extended: 1, expired: 0, voided: 0 });
    const after = await s.ledger.get(id);
    expect(after).toMatchObject({ state: 'ACTION_REQUIRED', actionExpiresAt: deadline, nextCheckAt: deadline + s.config.authentication.actionDeadlineGraceMs });
    expect(cancels).not.toContain(op.gatewayReference);
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
  });

  it('a Boleto whose expires_at is already past (before the operation was even created) waits authentication.voucher_timeout_ms instead, with a warn line and pb_action_deadlines_total{from="config_fallback"}', async () => {
    const { logger, lines } = captureLogger();
    const s = setup(logger);
    boletoExpiresAt = Math.floor((Date.now() - 3_600_000) / 1000);
    const command = boletoSale();
    const id = command.payment.operation_reference!;
    const fallbacks = await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'config_fallback' });
    await s.ledger.create(id, command);
    await s.service.deliver(id);

    const op = (await s.ledger.get(id))!;
    expect(op).toMatchObject({ state: 'ACTION_REQUIRED', actionExpiresAt: undefined });
    expect(op.nextCheckAt).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'config_fallback' })).toBe(fallbacks + 1);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn' && l.operation_id === id);
    expect(warn).toMatchObject({ deadline_from: 'config_fallback', refused: 'before_creation', psp_gave: new Date(boletoExpiresAt * 1000).toISOString() });
    expect((await s.events.load(`${id}.ACTION_REQUIRED`))?.params.payment).not.toHaveProperty('action_expires_at');
  });
});

describe('a bank transfer the customer makes later (Stripe customer_balance, next_action.display_bank_transfer_instructions)', () => {
  const MIN_MS = 60_000;
  /** The defaults: 15 minutes for 3-D Secure, 14 days for a bank transfer. */
  const defaults = { 'authentication.action_timeout_ms': 15 * MIN_MS, 'authentication.bank_transfer_timeout_ms': 14 * DAY_MS };

  function bankTransferSale() {
    return channelCommand('sale', {}, { gateway: 'stripe', gateway_key: 'pm_customer_balance_1', currency: 'EUR', payment_method: { type: 'card' } });
  }

  it('is not cancelled at authentication.action_timeout_ms (15 min) but only after authentication.bank_transfer_timeout_ms, then fails ACTION_EXPIRED and voids the PaymentIntent', async () => {
    const { logger, lines } = captureLogger();
    const s = setup(logger, defaults);
    const command = bankTransferSale();
    const id = command.payment.operation_reference!;
    const byWait = await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'config', wait: 'bank_transfer' });
    await s.ledger.create(id, command);
    await s.service.deliver(id);

    const op = (await s.ledger.get(id))!;
    expect(op).toMatchObject({ state: 'ACTION_REQUIRED', action: { kind: 'voucher', psp_action: { type: 'display_bank_transfer_instructions' } } });
    expect(op.actionExpiresAt).toBeUndefined();
    expect(op.nextCheckAt).toBeGreaterThan(Date.now() + 14 * DAY_MS - MIN_MS);
    expect(await metricValue('pb_action_deadlines_total', { gateway: 'stripe', from: 'config', wait: 'bank_transfer' })).toBe(byWait + 1);
    const info = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.level === 'info' && l.operation_id === id && l.wait === 'bank_transfer');
    expect(info).toMatchObject({ deadline_from: 'config', action_type: 'display_bank_transfer_instructions' });

    // Past the 15 minutes a 3-D Secure challenge gets, and on day 2 (the transfer may be on its way): nothing is due.
    for (const offset of [15 * MIN_MS + 1_000, 2 * DAY_MS]) {
      expect(await s.expiry(offset).runOnce()).toMatchObject({ due: 0, expired: 0, voided: 0 });
    }
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect(cancels).not.toContain(op.gatewayReference);

    // Past its wait, Stripe still waiting for the transfer: expired, and the PaymentIntent voided.
    const report = await s.expiry(op.nextCheckAt! - Date.now() + 1_000).runOnce();
    expect(report).toMatchObject({ due: 1, expired: 1, voided: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
    const voidId = voidOperationId(id);
    expect(await s.ledger.get(voidId)).toMatchObject({ command: 'cancel', payment: { gateway_key: op.gatewayReference, orphan_reversal: 'action_expired' } });
    await s.service.deliver(voidId);
    expect(cancels).toContain(op.gatewayReference);
  });

  it('one that entered with the 15 minutes (before the waits by kind) is not cancelled when the poller asks then: it waits the bank transfer wait counted from its creation', async () => {
    // Entered as every action did before the waits by kind: with the 3-D Secure minutes.
    const s = setup(silentLogger(), { 'authentication.action_timeout_ms': 15 * MIN_MS, 'authentication.bank_transfer_timeout_ms': 15 * MIN_MS });
    const command = bankTransferSale();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    const entered = (await s.ledger.get(id))!;
    expect(entered.nextCheckAt).toBeLessThanOrEqual(Date.now() + 15 * MIN_MS);
    // The poller of the release with the waits by kind (the default 14 days), on the same ledger.
    const config = { ...s.config, authentication: { ...s.config.authentication, bankTransferTimeoutMs: 14 * DAY_MS } };
    const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    closers.push(() => eventsQueue.close());
    const recorder = new OutcomeRecorder({ config, ledger: s.ledger, events: s.events, eventsQueue, logger: silentLogger() });
    const router = new ConfiguredGatewayRouter(createGatewayClients(config));
    const expiry = (offsetMs: number) =>
      new ActionExpiry({
        config,
        redis,
        ledger: s.ledger,
        router,
        recorder,
        deliveryQueue: s.deliveryQueue,
        logger: silentLogger(),
        now: () => Date.now() + offsetMs,
      });

    expect(await expiry(15 * MIN_MS + 1_000).runOnce()).toMatchObject({ due: 1, extended: 1, expired: 0, voided: 0 });
    const after = (await s.ledger.get(id))!;
    expect(after).toMatchObject({ state: 'ACTION_REQUIRED', nextCheckAt: entered.createdAt + 14 * DAY_MS });
    expect(cancels).not.toContain(entered.gatewayReference);
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    // Its wait over, the next pass expires it (no second extension).
    expect(await expiry(entered.createdAt + 14 * DAY_MS - Date.now() + 1_000).runOnce()).toMatchObject({ due: 1, extended: 0, expired: 1, voided: 1 });
  });
});

describe('an expiry where the PSP is not asked (the route refused, a webhook-only command, a replay withheld)', () => {
  const waits = {
    'authentication.action_timeout_ms': 60_000,
    'poller.schedule_ms': [60_000, 300_000],
    'poller.action_expiry_inquiry_max_ms': 600_000,
  };

  /** An expiry whose router answers `route` for every operation (a refusal, or the real route with its transformer altered). */
  function expiryWith(s: ReturnType<typeof setup>, offsetMs: number, route: (real: GatewayRoute) => GatewayRoute | { refused: string }) {
    const real = new ConfiguredGatewayRouter(createGatewayClients(s.config));
    const router: GatewayRouter = {
      route: (op) => {
        const found = real.route(op);
        return 'refused' in found ? found : route(found);
      },
    };
    return new ActionExpiry({
      config: s.config,
      redis,
      ledger: s.ledger,
      router,
      recorder: s.recorder,
      deliveryQueue: s.deliveryQueue,
      logger: silentLogger(),
      now: () => Date.now() + offsetMs,
    });
  }

  function altered(real: GatewayRoute, fields: Partial<GatewayRoute['transformer']>): GatewayRoute {
    return { ...real, transformer: Object.assign(Object.create(real.transformer) as GatewayRoute['transformer'], fields) };
  }

  async function waiting(s: ReturnType<typeof setup>): Promise<string> {
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    expect((await s.ledger.get(id))?.state).toBe('ACTION_REQUIRED');
    return id;
  }

  async function noFailure(s: ReturnType<typeof setup>, id: string): Promise<void> {
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    expect(await redis.hlen(s.expiry(0).voidIntentsKey)).toBe(0);
  }

  const count = (result: string, cause: string) => metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result, cause });

  it("a refused route (the gateway missing from this process's configuration) is no answer: deferred along the poll schedule, UNRESOLVED past poller.action_expiry_inquiry_max_ms, never FAILED nor voided", async () => {
    const s = setup(silentLogger(), waits);
    const id = await waiting(s);
    const retried = await count('retried', 'route_refused');
    const unresolved = await count('unresolved', 'route_refused');
    // The one refusal the configured router answers (src/routing/configured-gateway-router.ts).
    const refused = () => ({ refused: UNKNOWN_GATEWAY });

    expect(await expiryWith(s, 61_000, refused).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 1, unresolved: 0 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'action_expiry_deferred')).toMatchObject({
      cause: 'route_refused',
      refused: UNKNOWN_GATEWAY,
    });
    expect(await count('retried', 'route_refused')).toBe(retried + 1);
    await noFailure(s, id);

    expect(await expiryWith(s, 700_000, refused).runOnce()).toMatchObject({ due: 1, expired: 0, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    // Its cause (the alert line's) says what an operator can act on: the gateway is not configured here.
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'unresolved')).toMatchObject({
      cause: "customer action expiry: gateway missing from this process's configuration past the bound",
      no_answer: 'route_refused',
      refused: UNKNOWN_GATEWAY,
    });
    expect(await count('unresolved', 'route_refused')).toBe(unresolved + 1);
    await noFailure(s, id);
  });

  it("a context that cannot be resolved (a validate naming another account's authorization) is no answer: deferred, never FAILED nor voided", async () => {
    const s = setup(silentLogger(), waits);
    const auth = channelCommand('authorize', {}, { gateway: 'stripe', gateway_account: 'other-account' });
    const authId = auth.payment.operation_reference!;
    await s.ledger.create(authId, auth);
    await s.ledger.transition(authId, 'SENT', { event: 'attempt' }, {});
    await s.ledger.transition(authId, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: 'pi_other_account' });
    const command = channelCommand('validate', {}, { gateway: 'stripe', gateway_key: authId });
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.ledger.transition(id, 'SENT', { event: 'attempt' }, {});
    await s.ledger.transition(id, 'ACTION_REQUIRED', { event: 'outcome' }, { nextCheckAt: Date.now() - 1_000, action: { kind: 'three_ds' } });
    const retried = await count('retried', 'context_unresolved');

    expect(await expiryWith(s, 0, (real) => real).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 1, unresolved: 0 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    // Why the request could not be built is on record, as the poller's poll_skipped says it.
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'action_expiry_deferred')).toMatchObject({
      cause: 'context_unresolved',
      reason: 'authorization_scope_mismatch',
    });
    expect(await count('retried', 'context_unresolved')).toBe(retried + 1);
    await noFailure(s, id);
  });

  it('a webhook-only command (the PSP cannot be asked) is UNRESOLVED at once with its cause, never FAILED nor voided', async () => {
    const s = setup(silentLogger(), waits);
    const id = await waiting(s);
    const unresolved = await count('unresolved', 'not_askable');

    const report = await expiryWith(s, 61_000, (real) => altered(real, { inquiry: () => 'webhook-only' })).runOnce();

    expect(report).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'unresolved')).toMatchObject({
      cause: 'customer action expiry: the PSP cannot be asked about this command (webhook only)',
    });
    expect(await count('unresolved', 'not_askable')).toBe(unresolved + 1);
    await noFailure(s, id);
  });

  it('an inquiry withheld for replaying the request past its key (older than the resend window) is UNRESOLVED at once, never FAILED nor voided', async () => {
    const s = setup(silentLogger(), waits);
    const id = await waiting(s);
    const unresolved = await count('unresolved', 'replay_withheld');
    const withheld = { gateway: 'stripe', by: 'action_expiry', reason: 'key_validity' };
    const withheldBefore = await metricValue('pb_replay_inquiries_withheld_total', withheld);

    const report = await expiryWith(s, 8 * DAY_MS, (real) => altered(real, { inquiryReplaysRequest: true })).runOnce();

    expect(report).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'unresolved')).toMatchObject({
      cause: 'customer action expiry: status inquiry withheld (idempotency key too old to ask by replaying the request)',
      no_answer: 'replay_withheld',
      withheld: 'key_validity',
    });
    expect(await count('unresolved', 'replay_withheld')).toBe(unresolved + 1);
    expect(await metricValue('pb_replay_inquiries_withheld_total', withheld)).toBe(withheldBefore + 1);
    await noFailure(s, id);
  });

  it("a miss beyond the PSP's search horizon (the attempt older than it reaches) proves nothing, and never will: UNRESOLVED at once, never FAILED nor voided", async () => {
    const s = setup(silentLogger(), waits);
    const id = await waiting(s);
    const beyond = await metricValue('pb_inquiry_misses_total', { gateway: 'stripe', meaning: 'beyond_horizon' });
    const unresolved = await count('unresolved', 'beyond_horizon');
    searchMisses = true;
    try {
      const report = await expiryWith(s, 61_000, (real) => altered(real, { inquiryHorizonMs: () => 60_000 })).runOnce();
      expect(report).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 0, unresolved: 1 });
    } finally {
      searchMisses = false;
    }
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'unresolved')).toMatchObject({
      cause: "customer action expiry: attempt older than the PSP's status search reaches",
      no_answer: 'beyond_horizon',
      horizon_ms: 60_000,
    });
    expect(await metricValue('pb_inquiry_misses_total', { gateway: 'stripe', meaning: 'beyond_horizon' })).toBe(beyond + 1);
    expect(await count('unresolved', 'beyond_horizon')).toBe(unresolved + 1);
    await noFailure(s, id);
  });

  it('a miss where the PSP said it holds the request (its index lagging) proves nothing past the search lag too: deferred, never FAILED nor voided', async () => {
    const s = setup(silentLogger(), waits);
    const id = await waiting(s);
    await s.ledger.appendInteraction(id, { event: 'send_error', kind: 'outcome_unknown', psp_has_request: true });
    const retried = await count('retried', 'search_lag');
    searchMisses = true;
    try {
      expect(await expiryWith(s, 3_700_000, (real) => real).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 1, unresolved: 0 });
    } finally {
      searchMisses = false;
    }
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'action_expiry_deferred')).toMatchObject({ cause: 'search_lag', miss: 'psp_has_request' });
    expect(await count('retried', 'search_lag')).toBe(retried + 1);
    await noFailure(s, id);
  });
});

describe("an expiry whose inquiry finds no trace (Stripe's search: searchable within a minute, up to an hour behind during outages)", () => {
  afterEach(() => {
    searchMisses = false;
  });

  const waits = {
    'authentication.action_timeout_ms': 60_000,
    'poller.schedule_ms': [60_000, 300_000],
    'poller.action_expiry_inquiry_max_ms': 600_000,
  };

  async function waiting(s: ReturnType<typeof setup>): Promise<string> {
    const command = threeDsAuthorize();
    const id = command.payment.operation_reference!;
    await s.ledger.create(id, command);
    await s.service.deliver(id);
    expect((await s.ledger.get(id))?.state).toBe('ACTION_REQUIRED');
    return id;
  }

  it('a miss younger than the search lag proves nothing: deferred (cause search_lag), never FAILED nor voided; past the bound still lagging, UNRESOLVED', async () => {
    const logs = captureLogger();
    const s = setup(logs.logger, waits);
    const id = await waiting(s);
    const lagging = await metricValue('pb_inquiry_misses_total', { gateway: 'stripe', meaning: 'index_lag' });
    const retried = await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'retried', cause: 'search_lag' });

    searchMisses = true;
    expect(await s.expiry(61_000).runOnce()).toMatchObject({ due: 1, expired: 0, voided: 0, deferred: 1, unresolved: 0 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect((await s.ledger.interactions(id)).find((h) => h.event === 'action_expiry_deferred')).toMatchObject({ cause: 'search_lag', miss: 'index_lag' });
    expect(await metricValue('pb_inquiry_misses_total', { gateway: 'stripe', meaning: 'index_lag' })).toBe(lagging + 1);
    expect(await metricValue('pb_action_expiry_inquiry_failures_total', { gateway: 'stripe', result: 'retried', cause: 'search_lag' })).toBe(retried + 1);
    expect(logs.lines.find((l) => l.includes('customer action expiry deferred') && l.includes(id))).toContain('"cause":"search_lag"');
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();

    // Still within the hour, past poller.action_expiry_inquiry_max_ms (600 s): an operator decides.
    expect(await s.expiry(700_000).runOnce()).toMatchObject({ due: 1, expired: 0, deferred: 0, unresolved: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect(await s.events.load(`${id}.FAILED`)).toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
  });

  it('a miss older than the search lag is the PSP saying nothing happened: FAILED ACTION_EXPIRED, its line saying psp_answer no_trace', async () => {
    const logs = captureLogger();
    const s = setup(logs.logger, waits);
    const id = await waiting(s);

    searchMisses = true;
    expect(await s.expiry(3_700_000).runOnce()).toMatchObject({ due: 1, expired: 1, deferred: 0, unresolved: 0 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
    expect(logs.lines.find((l) => l.includes('customer action expired') && l.includes(id))).toContain('"psp_answer":"no_trace"');
  });
});

import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { GatewayRouter } from '../../../src/routing/gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RiskReviewExpiry } from '../../../src/poller/risk-review-expiry';
import { ReviewStore } from '../../../src/risk/review-store';
import { CapReservations } from '../../../src/caps/cap-reservations';
import { OrchestrationPipeline } from '../../../src/orchestration/orchestration-pipeline';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-limits-key-0123456789';
let sim: PspSimulator;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let config: Config;
let service: DeliveryService;
let ledger: Ledger;
let events: EventStore;
let recorder: OutcomeRecorder;
const logs = captureLogger();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-limits-0123456789', timeout_ms: 30000 } },
    // Caps only for the caps account; conversion only for the fx account; risk only in CHF: the tests do not meet each other's limits.
    'caps.rules': [
      { scope: 'merchant', name: 'capped', currency: 'EUR', daily_count: 100 },
      { scope: 'merchant', name: 'capped-waits', currency: 'EUR', daily_count: 100 },
    ],
    'fx.settlement_currencies': { 'simulator:fx-shop': ['EUR'] },
    'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
    'risk.rules': [{ name: 'big-chf', when: ['high_amount'], action: 'hold' }],
    'risk.amount_thresholds': { CHF: 100000 },
    'risk.review_window_ms': 60000,
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
  const routes = createGatewayClients(config);
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(routes), recorder, logger: logs.logger, redis, routes });
}, 60_000);

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

async function record(command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

test('a plan decided again on each delivery behind an open breaker counts its caps and risk decisions once, when its attempt goes out', async () => {
  const within = () => metricValue('pb_caps_decisions_total', { gateway: 'simulator', result: 'within', limit: 'none' });
  const allowed = () => metricValue('pb_risk_decisions_total', { action: 'allow', rule: 'none' });
  const breaker = service.breaker('simulator');
  for (let i = 0; i < config.delivery.breakerFailureThreshold; i++) breaker.failure();
  try {
    const before = [await within(), await allowed()];
    const id = await record(channelCommand('authorize', {}, { gateway_account: 'capped-waits', gateway_key: 'pm_card_visa', amount: 1000 }));
    for (let i = 0; i < 3; i++) expect((await service.deliver(id)).kind).toBe('wait');
    expect([await within(), await allowed()]).toEqual(before);
    breaker.success();
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect([await within(), await allowed()]).toEqual([before[0] + 1, before[1] + 1]);
  } finally {
    breaker.success();
  }
});

test('1,000 concurrent authorizations against a cap of 100 let exactly 100 through; the others fail CAP_EXCEEDED naming the cap, unsent', async () => {
  const ids = await Promise.all(
    Array.from({ length: 1000 }, () => record(channelCommand('authorize', {}, { gateway_account: 'capped', gateway_key: 'pm_card_visa', amount: 1000 }))),
  );
  const requestsBefore = sim.counters().requests;
  const steps = await Promise.all(ids.map((id) => service.deliver(id)));
  const states = steps.map((s) => (s.kind === 'done' ? s.state : s.kind));
  // Exactly 100 went to the PSP (succeeded, or still in flight when the loaded twin answered late); 900 refused unsent.
  expect(states.filter((s) => s !== 'FAILED')).toHaveLength(100);
  expect(states.filter((s) => s === 'FAILED')).toHaveLength(900);
  expect(sim.counters().requests - requestsBefore).toBe(100);
  const failed = await Promise.all(ids.filter((_, i) => states[i] === 'FAILED').map((id) => ledger.get(id)));
  expect(failed.every((op) => op?.reason === 'CAP_EXCEEDED' && op.attempts === 0)).toBe(true);
  const refused = ids[states.indexOf('FAILED')];
  const event = await events.load(`${refused}.FAILED`);
  expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'CAP_EXCEEDED', decline: { category: 'limit_exceeded' } });
  expect(JSON.stringify(event?.params.payment)).toContain('cap_exceeded:merchant:capped:EUR:daily_count');
}, 240_000);

test('a converted payment: USD authorized in EUR at the locked rate, and refunded at that same rate', async () => {
  const sale = channelCommand('sale', {}, { gateway_account: 'fx-shop', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' } as Partial<Payment>);
  const saleId = await record(sale);
  expect(await service.deliver(saleId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const op = await ledger.get(saleId);
  // 123.45 USD × 0.9137 = 112.795965 → 112.80 EUR (half-even)
  expect(op?.routing).toMatchObject({ amount: 11280, currency: 'EUR' });
  const fx = op?.routing?.decisions.find((d) => d.stage === 'fx');
  expect(fx?.details).toMatchObject({
    fx_rate: '0.9137',
    fx_source: 'configured',
    from_amount: 12345,
    from_currency: 'USD',
    to_amount: 11280,
    to_currency: 'EUR',
  });
  const saleEvent = await events.load(`${saleId}.SUCCEEDED`);
  expect(saleEvent?.params.payment).toMatchObject({ amount: 11280, currency: 'EUR' });
  expect((saleEvent?.params.payment as Record<string, unknown>).discrepancy).toBeUndefined();

  const refund = channelCommand('refund', {}, {
    gateway_account: 'fx-shop',
    gateway_key: saleId,
    order_id: sale.payment.order_id,
    amount: 5000,
    currency: 'USD',
  } as Partial<Payment>);
  const refundId = await record(refund);
  expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const refunded = await ledger.get(refundId);
  // 50.00 USD at the locked 0.9137 = 45.685 → 45.68 EUR (half-even), whatever today's rate.
  expect(refunded?.routing).toMatchObject({ amount: 4568, currency: 'EUR' });
  expect(refunded?.confirmedCurrency ?? 'EUR').toBe('EUR');
  const lock = refunded?.routing?.decisions.find((d) => d.stage === 'fx' && d.outcome === 'changed');
  expect(lock).toMatchObject({ reasons: ['locked_rate_of_authorization'], details: { fx_rate: '0.9137', from_amount: 5000, to_amount: 4568 } });

  // What is left to refund is counted in the order's currency (73.45 USD), not from the EUR the PSP confirmed.
  const more = (amount: number) =>
    record(
      channelCommand('refund', {}, {
        gateway_account: 'fx-shop',
        gateway_key: saleId,
        order_id: sale.payment.order_id,
        amount,
        currency: 'USD',
      } as Partial<Payment>),
    );
  const tooMuch = await more(7346);
  expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
  expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_captured');
  const rest = await more(7345);
  expect(await service.deliver(rest)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  // The rest of the sale gives back the rest of what the PSP took: EUR 112.80 − 45.68 = 67.12, not 73.45 USD
  // converted on its own (67.11: a cent of the sale never refunded); the parts add up to the converted sale.
  expect((await ledger.get(rest))?.routing).toMatchObject({ amount: 6712, currency: 'EUR' });
}, 60_000);

test('a capture naming a converted authorization by its PSP reference goes out at the locked rate, in the currency the PSP holds', async () => {
  const auth = channelCommand('authorize', {}, { gateway_account: 'fx-shop', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const authorized = await ledger.get(authId);
  expect(authorized?.routing).toMatchObject({ amount: 11280, currency: 'EUR' });
  const reference = authorized?.gatewayReference;
  expect(reference).toBeDefined();

  // The OMS names the authorization as its SUCCESS event did: by the PSP's reference, at the gateway it went to.
  const capture = channelCommand('capture', {}, {
    gateway_account: 'fx-shop',
    gateway_key: reference,
    order_id: auth.payment.order_id,
    amount: 12345,
    currency: 'USD',
  } as Partial<Payment>);
  const captureId = await record(capture);
  // Unconverted, the PSP was asked for 12345 of the EUR authorization's 11280 and refused it.
  expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const captured = await ledger.get(captureId);
  // The whole authorization: exactly the converted authorization, in EUR, never USD 123.45 labelled as asked.
  expect(captured?.routing).toMatchObject({ amount: 11280, currency: 'EUR' });
  const lock = captured?.routing?.decisions.find((d) => d.stage === 'fx' && d.outcome === 'changed');
  expect(lock).toMatchObject({ reasons: ['locked_rate_of_authorization'], details: { fx_rate: '0.9137', from_amount: 12345, to_amount: 11280 } });
  const event = await events.load(`${captureId}.SUCCEEDED`);
  expect(event?.params.payment).toMatchObject({ amount: 11280, currency: 'EUR', requested_amount: 12345, requested_currency: 'USD' });
}, 60_000);

test("a capture at its authorization's locked rate whose lines cannot be converted counts and logs their omission once, when its attempt goes out: not for each delivery behind an open breaker", async () => {
  // 823 × 1.5 USD: converted, no unit price in whole euro cents adds up to the EUR 112.80 (11280 / 823): sent without lines.
  const lines = [{ item_sku: 'A', unit_price_gross: 15, quantity: 823 }];
  const auth = channelCommand('authorize', {}, {
    gateway_account: 'fx-shop',
    gateway_key: 'pm_card_visa',
    amount: 12345,
    currency: 'USD',
    lines,
  } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const omitted = () => metricValue('pb_fx_lines_omitted_total', { gateway: 'simulator', command: 'capture' });
  const capture = channelCommand('capture', {}, {
    gateway_account: 'fx-shop',
    gateway_key: (await ledger.get(authId))?.gatewayReference,
    order_id: auth.payment.order_id,
    amount: 12345,
    currency: 'USD',
    lines,
  } as Partial<Payment>);
  const captureId = await record(capture);
  const lineOf = () => logs.lines.filter((l) => l.includes('converted payment sent without its lines') && l.includes(captureId));
  const before = await omitted();
  const breaker = service.breaker('simulator');
  for (let i = 0; i < config.delivery.breakerFailureThreshold; i++) breaker.failure();
  try {
    for (let i = 0; i < 3; i++) expect((await service.deliver(captureId)).kind).toBe('wait');
    expect([await omitted(), lineOf().length]).toEqual([before, 0]);
  } finally {
    breaker.success();
  }
  expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(captureId))?.routing).toMatchObject({ amount: 11280, currency: 'EUR' });
  expect([await omitted(), lineOf().length]).toEqual([before + 1, 1]);
}, 60_000);

test('captures of a converted authorization after one in flight failed: the parts sent add up to the EUR 112.80 held, and the last one is taken', async () => {
  const auth = channelCommand('authorize', {}, { gateway_account: 'fx-shop', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(authId))?.routing).toMatchObject({ amount: 11280, currency: 'EUR' });
  const capture = (amount: number) =>
    record(
      channelCommand('capture', {}, {
        gateway_account: 'fx-shop',
        gateway_key: authId,
        order_id: auth.payment.order_id,
        amount,
        currency: 'USD',
      } as Partial<Payment>),
    );

  // A (USD 0.06) resolved and registered as delivery's first check does, its attempt on record at EUR 0.05; its answer lost.
  const a = await capture(6);
  const resolvedA = await resolveOperationContext((await ledger.get(a))!, ledger, { checkAmounts: true });
  expect('context' in resolvedA && resolvedA.context.payment).toMatchObject({ amount: 5, currency: 'EUR' });
  const routing = { gateway: 'simulator', requested: 'simulator', candidates: ['simulator'], index: 0, decisions: [], amount: 5, currency: 'EUR' };
  await ledger.transition(a, 'SENT', { event: 'attempt' }, { countAttempt: true, routing });

  // B (USD 0.06) counts A in flight: f(0.12) − f(0.06) = EUR 0.11 − 0.05 = 0.06.
  const b = await capture(6);
  expect(await service.deliver(b)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(b))?.routing).toMatchObject({ amount: 6, currency: 'EUR' });
  await ledger.transition(a, 'FAILED', { event: 'outcome', source: 'response' }, { reason: 'declined' });

  // C, the rest (USD 123.39): EUR 112.80 less the EUR 0.06 B was sent for. Converted as f(123.45) − f(0.06), it
  // was EUR 112.75, 112.81 in all of the 112.80 the PSP holds, and the PSP refused it.
  const c = await capture(12339);
  expect(await service.deliver(c)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(c))?.routing).toMatchObject({ amount: 11274, currency: 'EUR' });
  expect(sim.counters().effects[c]).toBe(1);
}, 60_000);

test('a refund of a converted authorization that its captures bound says so once, when its attempt goes out: the line names the converted amounts asked and sent, and is counted', async () => {
  const auth = channelCommand('authorize', {}, { gateway_account: 'fx-shop', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const part = (command: 'capture' | 'refund', amount: number) =>
    record(
      channelCommand(command, {}, {
        gateway_account: 'fx-shop',
        gateway_key: authId,
        order_id: auth.payment.order_id,
        amount,
        currency: 'USD',
      } as Partial<Payment>),
    );
  // Capture A (USD 0.05) on record at EUR 0.05, its answer lost; B (USD 0.05) counts it: f(0.10) − 0.05 = EUR 0.04; A fails.
  const a = await part('capture', 5);
  const resolvedA = await resolveOperationContext((await ledger.get(a))!, ledger, { checkAmounts: true });
  expect('context' in resolvedA && resolvedA.context.payment).toMatchObject({ amount: 5, currency: 'EUR' });
  const routing = { gateway: 'simulator', requested: 'simulator', candidates: ['simulator'], index: 0, decisions: [], amount: 5, currency: 'EUR' };
  await ledger.transition(a, 'SENT', { event: 'attempt' }, { countAttempt: true, routing });
  const b = await part('capture', 5);
  expect(await service.deliver(b)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(b))?.routing).toMatchObject({ amount: 4, currency: 'EUR' });
  await ledger.transition(a, 'FAILED', { event: 'outcome', source: 'response' }, { reason: 'declined' });

  // A refund of B's USD 0.05 gives back the EUR 0.04 B took, not its own f(0.05) = EUR 0.05.
  const bounded = () => metricValue('pb_fx_refunds_bounded_total', { gateway: 'simulator', direction: 'less' });
  const before = await bounded();
  const refund = await part('refund', 5);
  const lineOf = () => logs.lines.filter((l) => l.includes('converted refund sent for what the captures took') && l.includes(refund));
  const breaker = service.breaker('simulator');
  for (let i = 0; i < config.delivery.breakerFailureThreshold; i++) breaker.failure();
  try {
    for (let i = 0; i < 3; i++) expect((await service.deliver(refund)).kind).toBe('wait');
    expect([await bounded(), lineOf().length]).toEqual([before, 0]);
  } finally {
    breaker.success();
  }
  expect(await service.deliver(refund)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(refund))?.routing).toMatchObject({ amount: 4, currency: 'EUR' });
  expect([await bounded(), lineOf().length]).toEqual([before + 1, 1]);
  expect(JSON.parse(lineOf()[0])).toMatchObject({
    level: 'info',
    operation_id: refund,
    command: 'refund',
    gateway: 'simulator',
    amount: 5,
    currency: 'USD',
    converted_asked: 5,
    converted_sent: 4,
    converted_currency: 'EUR',
    taken_converted: 4,
  });
}, 60_000);

test('a capture of a converted authorization that converts to nothing after the ones before it is refused naming payment.amount, unsent, and counted', async () => {
  const auth = channelCommand('authorize', {}, { gateway_account: 'fx-shop', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const capture = (amount: number) =>
    record(
      channelCommand('capture', {}, {
        gateway_account: 'fx-shop',
        gateway_key: authId,
        order_id: auth.payment.order_id,
        amount,
        currency: 'USD',
      } as Partial<Payment>),
    );
  const first = await capture(5);
  expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect((await ledger.get(first))?.routing).toMatchObject({ amount: 5, currency: 'EUR' });

  const refusals = () => metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'amount_too_small_to_convert' });
  const counted = await refusals();
  // USD 0.01 more: f(0.06) − EUR 0.05 sent = EUR 0.05 − 0.05 = 0. Never a capture of EUR 0.
  const nothing = await capture(1);
  const requests = sim.counters().requests;
  expect(await service.deliver(nothing)).toEqual({ kind: 'done', state: 'FAILED' });
  expect(sim.counters().requests).toBe(requests);
  expect(await ledger.get(nothing)).toMatchObject({ reason: 'amount_too_small_to_convert', attempts: 0 });
  const event = await events.load(`${nothing}.FAILED`);
  expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'amount_too_small_to_convert', field: 'payment.amount' });
  expect(await refusals()).toBe(counted + 1);
  expect(logs.lines.find((l) => l.includes('amount_too_small_to_convert') && l.includes(nothing))).toBeDefined();
}, 60_000);

/**
 * A USD 123.45 authorization of the converting account the simulator approves in half (a partial approval):
 * EUR 56.40 held of the EUR 112.80 asked at the locked rate.
 */
async function convertedPartialApproval(): Promise<{ auth: PaymentCommand; authId: string }> {
  const auth = channelCommand('authorize', {}, {
    gateway_account: 'fx-shop',
    gateway_key: 'pm_card_partial_half',
    amount: 12345,
    currency: 'USD',
  } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect(await ledger.get(authId)).toMatchObject({ routing: { amount: 11280, currency: 'EUR' }, confirmedAmount: 5640, confirmedCurrency: 'EUR' });
  return { auth, authId };
}

test('a converted authorization the PSP approved in part: the whole order is refused by the bridge, unsent; what the PSP holds, converted back, is captured', async () => {
  const { auth, authId } = await convertedPartialApproval();

  const capture = (amount: number) =>
    record(
      channelCommand('capture', {}, {
        gateway_account: 'fx-shop',
        gateway_key: authId,
        order_id: auth.payment.order_id,
        amount,
        currency: 'USD',
      } as Partial<Payment>),
    );
  const refusals = () => metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'amount_exceeds_authorized' });
  const counted = await refusals();

  // The whole order (EUR 112.80 at the locked rate) is more than the PSP holds: refused here, never sent.
  const whole = await capture(12345);
  const requests = sim.counters().requests;
  expect(await service.deliver(whole)).toEqual({ kind: 'done', state: 'FAILED' });
  expect(sim.counters().requests).toBe(requests);
  expect((await ledger.get(whole))?.reason).toBe('amount_exceeds_authorized');
  const event = await events.load(`${whole}.FAILED`);
  expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'amount_exceeds_authorized', field: 'payment.amount' });
  expect(await refusals()).toBe(counted + 1);
  const line = logs.lines.find((l) => l.includes('amount_exceeds_authorized') && l.includes(whole));
  expect(line).toBeDefined();
  expect(line).toContain('6173');

  // USD 61.73 converts at the locked rate to EUR 56.40 (61.73 × 0.9137 = 56.4025…): all the PSP holds, no more.
  const held = await capture(6173);
  expect(await service.deliver(held)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect(sim.counters().effects[held]).toBe(1);
  expect((await ledger.get(held))?.routing).toMatchObject({ amount: 5640, currency: 'EUR' });
}, 60_000);

test('a cancel of a converted authorization the PSP approved in part asks to reverse exactly what the PSP holds, never the whole order converted', async () => {
  const { auth, authId } = await convertedPartialApproval();
  const cancel = await record(
    channelCommand('cancel', {}, {
      gateway_account: 'fx-shop',
      gateway_key: authId,
      order_id: auth.payment.order_id,
      amount: 12345,
      currency: 'USD',
    } as Partial<Payment>),
  );
  expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  // The whole order converts to EUR 112.80; the PSP holds EUR 56.40, and that is what the reversal names.
  expect((await ledger.get(cancel))?.routing).toMatchObject({ amount: 5640, currency: 'EUR' });
}, 60_000);

test('a cancel of an authorization the PSP approved in part, unconverted, asks to reverse what the PSP holds', async () => {
  const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_partial_half', amount: 10000, currency: 'EUR' } as Partial<Payment>);
  const authId = await record(auth);
  expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect(await ledger.get(authId)).toMatchObject({ confirmedAmount: 5000, confirmedCurrency: 'EUR' });
  expect((await ledger.get(authId))?.routing?.currency ?? 'EUR').toBe('EUR');
  const cancel = await record(
    channelCommand('cancel', {}, { gateway_key: authId, order_id: auth.payment.order_id, amount: 10000, currency: 'EUR' } as Partial<Payment>),
  );
  // What the gateway is asked (the simulator itself voids the whole authorization whatever the amount).
  const resolved = await resolveOperationContext((await ledger.get(cancel))!, ledger);
  expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 5000, currency: 'EUR' });
  expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
}, 60_000);

test('risk hold: held before sending with an OMS event and deadline; one released by an operator goes through, one past its deadline is voided', async () => {
  const reviews = new ReviewStore(redis, config.redis.keyPrefix);
  const big = () => channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 150000, currency: 'CHF' } as Partial<Payment>);
  const releasedId = await record(big());
  const requests = sim.counters().requests;
  const step = await service.deliver(releasedId);
  expect(step.kind).toBe('wait');
  expect(sim.counters().requests).toBe(requests);
  const held = await events.load(`${releasedId}.risk-review`);
  expect(held?.params.payment).toMatchObject({
    status: 'PENDING',
    reason: 'RISK_REVIEW',
    review: { status: 'held', rule: 'big-chf', signals: ['high_amount'] },
  });
  expect(await reviews.release(releasedId, 'tester@host')).toBe('held');
  expect(await service.deliver(releasedId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const released = await ledger.get(releasedId);
  expect(released?.routing?.decisions.find((d) => d.stage === 'risk')).toMatchObject({ outcome: 'allowed', reasons: ['review_released', 'rule:big-chf'] });

  const expiredId = await record(big());
  expect((await service.deliver(expiredId)).kind).toBe('wait');
  const expiry = new RiskReviewExpiry({ config, redis, ledger, recorder, logger: logs.logger });
  expect(await expiry.runOnce(Date.now() + 61_000)).toBeGreaterThanOrEqual(1);
  const voided = await ledger.get(expiredId);
  expect(voided).toMatchObject({ state: 'FAILED', reason: 'RISK_REVIEW_EXPIRED' });
  expect(sim.counters().effects[expiredId]).toBeUndefined();
  const failEvent = await events.load(`${expiredId}.FAILED`);
  expect(failEvent?.params.payment).toMatchObject({ status: 'FAIL', reason: 'RISK_REVIEW_EXPIRED', decline: { category: 'cancelled' } });
}, 60_000);

test('risk hold declined by an operator: refused before sending with RISK_DECLINED, the decider on the risk decision; a second decision finds it decided', async () => {
  const reviews = new ReviewStore(redis, config.redis.keyPrefix);
  const id = await record(channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 150000, currency: 'CHF' } as Partial<Payment>));
  expect((await service.deliver(id)).kind).toBe('wait');
  expect(await reviews.decline(id, 'analyst@host')).toBe('held');
  expect(await reviews.get(id)).toMatchObject({ state: 'declined', declinedBy: 'analyst@host' });
  expect(await reviews.held()).not.toContain(id);
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
  expect(logs.lines.filter((l) => l.includes('review hold declined by an operator') && l.includes(id))).toHaveLength(1);
  const declined = await ledger.get(id);
  expect(declined).toMatchObject({ state: 'FAILED', reason: 'RISK_DECLINED' });
  expect(declined?.routing?.decisions.find((d) => d.stage === 'risk')).toMatchObject({
    outcome: 'refused',
    reasons: ['review_declined', 'rule:big-chf'],
    details: { declined_by: 'analyst@host' },
  });
  expect(sim.counters().effects[id]).toBeUndefined();
  expect((await events.load(`${id}.FAILED`))?.params.payment).toMatchObject({
    status: 'FAIL',
    reason: 'RISK_DECLINED',
    decline: { category: 'suspected_fraud' },
  });
  // Decided once: neither a release nor a second decline moves it.
  expect(await reviews.release(id, 'other@host')).toBe('declined');
  expect(await reviews.decline(id, 'other@host')).toBe('declined');
}, 60_000);

test('an orchestration refusal never fails a command another worker moved to SENT after this one read it (it may be at the PSP): left as it is, no FAIL event, not counted', async () => {
  const reviews = new ReviewStore(redis, config.redis.keyPrefix);
  const id = await record(channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 150000, currency: 'CHF' } as Partial<Payment>));
  expect((await service.deliver(id)).kind).toBe('wait');
  expect(await reviews.decline(id, 'analyst@host')).toBe('held');
  // Read RECEIVED, never attempted, declined; meanwhile another worker (a stalled job run again) sends it.
  const read = (await ledger.get(id))!;
  expect((await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true })).applied).toBe(true);
  const refused = await metricValue('pb_routing_decisions_total', { stage: 'risk', outcome: 'refused' });
  expect(await service.deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
  expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1 });
  expect(await events.load(`${id}.FAILED`)).toBeNull();
  expect(await metricValue('pb_routing_decisions_total', { stage: 'risk', outcome: 'refused' })).toBe(refused);
  const line = logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(id));
  expect(line).toContain('"reason":"RISK_DECLINED"');
  expect(line).toContain('"read_state":"RECEIVED"');
  expect(line).toContain('"state":"SENT"');
  // The operator's decline is logged only once a refusal is on record: not for this one, which lost.
  expect(logs.lines.filter((l) => l.includes('review hold declined by an operator') && l.includes(id))).toEqual([]);
}, 60_000);

test('a review expiry never fails a held authorization another worker sent after the pass read it (one whose risk rules no longer hold it, in a rolling deploy): left as it is, no FAIL event, not counted', async () => {
  const id = await record(channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 150000, currency: 'CHF' } as Partial<Payment>));
  expect((await service.deliver(id)).kind).toBe('wait');
  // The pass reads RECEIVED; right after, another worker records its attempt (it may be at the PSP).
  const raced = Object.create(ledger) as Ledger;
  raced.get = async (opId: string) => {
    const read = await ledger.get(opId);
    if (opId === id && read?.state === 'RECEIVED') await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    return read;
  };
  const expired = await metricValue('pb_risk_reviews_total', { result: 'expired' });
  const expiry = new RiskReviewExpiry({ config, redis, ledger: raced, recorder, logger: logs.logger });
  await expiry.runOnce(Date.now() + 61_000);
  expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1 });
  expect(await events.load(`${id}.FAILED`)).toBeNull();
  expect(await metricValue('pb_risk_reviews_total', { result: 'expired' })).toBe(expired);
  const line = logs.lines.find((l) => l.includes('review expiry not recorded: the operation moved meanwhile') && l.includes(id));
  expect(line).toContain('"read_state":"RECEIVED"');
  expect(line).toContain('"state":"SENT"');
}, 60_000);

/** A CHF account capped at one authorization a day; with `hold`, big CHF authorizations are held for review too. */
function oneADayConfig(hold: boolean, prefix?: string): Config {
  return testConfig(oneADayParams(hold, prefix));
}

/** The parameters of `oneADayConfig`, for a test that adds its own. */
function oneADayParams(hold: boolean, prefix?: string): Record<string, unknown> {
  return {
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-limits-0123456789', timeout_ms: 30000 } },
    'caps.rules': [{ scope: 'merchant', name: 'one-a-day', currency: 'CHF', daily_count: 1 }],
    ...(hold
      ? {
          'risk.rules': [{ name: 'big-chf', when: ['high_amount'], action: 'hold' }],
          'risk.amount_thresholds': { CHF: 100000 },
          'risk.review_window_ms': 60000,
        }
      : {}),
    ...(prefix ? { 'redis.key_prefix': prefix } : {}),
  };
}

/** A delivery service of `c` over the one ledger and event store a namespace's releases share (`router`: in place of the configured one). */
function deliveryOf(c: Config, shared: Ledger, sharedEvents: EventStore, router?: (real: GatewayRouter) => GatewayRouter): DeliveryService {
  const routes = createGatewayClients(c);
  const rec = new OutcomeRecorder({ config: c, ledger: shared, events: sharedEvents, eventsQueue, logger: logs.logger });
  const real = new ConfiguredGatewayRouter(routes);
  return new DeliveryService({ config: c, ledger: shared, router: router ? router(real) : real, recorder: rec, logger: logs.logger, redis, routes });
}

const bigChf = { gateway_account: 'one-a-day', gateway_key: 'pm_card_visa', amount: 150000, currency: 'CHF' } as Partial<Payment>;

/** Creates an authorization of `payment` RECEIVED; its operation id. */
async function created(shared: Ledger, payment: Partial<Payment>): Promise<string> {
  const command = channelCommand('authorize', {}, payment);
  await shared.create(command.payment.operation_reference!, command);
  return command.payment.operation_reference!;
}

const refusedReleases = () => metricValue('pb_caps_releases_total', { gateway: 'simulator', why: 'refused' });

/** Reserves the day's one authorization for `id`, as a release without the hold rule that stopped before its attempt. */
async function reservedFor(c: Config, id: string): Promise<void> {
  const caps = new CapReservations(redis, c.redis.keyPrefix, c.limits.caps.rules);
  expect((await caps.reserve(id, [{ index: 0, gateway: 'simulator', account: 'one-a-day', amount: 150000, currency: 'CHF' }])).kind).toBe('reserved');
}

/**
 * One namespace, two releases in a rolling deploy: the old one holds big CHF authorizations for review, the new one
 * has no such rule. Both cap the account at one authorization a day.
 */
function rollingDeploy(): { oldConfig: Config; shared: Ledger; oldRelease: DeliveryService; newRelease: DeliveryService } {
  const oldConfig = oneADayConfig(true);
  const shared = new Ledger(redis, oldConfig.redis.keyPrefix);
  const sharedEvents = new EventStore(redis, oldConfig.redis.keyPrefix);
  const newRelease = deliveryOf(oneADayConfig(false, oldConfig.redis.keyPrefix), shared, sharedEvents);
  return { oldConfig, shared, oldRelease: deliveryOf(oldConfig, shared, sharedEvents), newRelease };
}

/** The day's one authorization is still counted: the next one is refused unsent. */
async function nextRefusedUnsent(shared: Ledger, release: DeliveryService): Promise<void> {
  const nextId = await created(shared, { ...bigChf, amount: 5000 });
  expect(await release.deliver(nextId)).toEqual({ kind: 'done', state: 'FAILED' });
  expect((await shared.get(nextId))?.reason).toBe('CAP_EXCEEDED');
  expect(sim.counters().effects[nextId]).toBeUndefined();
}

test("a refusal that loses to another worker's send never gives back the cap reservation that send holds: the cap still counts it", async () => {
  const { oldConfig, shared, oldRelease, newRelease } = rollingDeploy();
  try {
    const id = await created(shared, bigChf);
    expect((await oldRelease.deliver(id)).kind).toBe('wait');
    expect(await new ReviewStore(redis, oldConfig.redis.keyPrefix).decline(id, 'analyst@host')).toBe('held');
    // The old release reads it RECEIVED (declined); meanwhile the new one reserves the day's one authorization and sends it.
    const read = (await shared.get(id))!;
    expect(await newRelease.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const released = await refusedReleases();
    expect(await oldRelease.deliver(read)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await refusedReleases()).toBe(released);
    await nextRefusedUnsent(shared, newRelease);
  } finally {
    await purgeNamespace(oldConfig).catch(() => undefined);
  }
}, 60_000);

test('a refusal on record still gives back what was reserved for the operation (a worker that reserved, then stopped before its attempt)', async () => {
  const held = oneADayConfig(true);
  const shared = new Ledger(redis, held.redis.keyPrefix);
  const svc = deliveryOf(held, shared, new EventStore(redis, held.redis.keyPrefix));
  try {
    const id = await created(shared, bigChf);
    expect((await svc.deliver(id)).kind).toBe('wait');
    await reservedFor(held, id);
    expect(await new ReviewStore(redis, held.redis.keyPrefix).decline(id, 'analyst@host')).toBe('held');
    const released = await refusedReleases();
    expect(await svc.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await refusedReleases()).toBe(released + 1);
    // Given back: the day's one authorization goes to the next one.
    expect(await svc.deliver(await created(shared, { ...bigChf, amount: 5000 }))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  } finally {
    await purgeNamespace(held).catch(() => undefined);
  }
}, 60_000);

test("a stale hold that loses to another worker's send never gives back the cap reservation that send holds", async () => {
  const { oldConfig, shared, oldRelease, newRelease } = rollingDeploy();
  try {
    const id = await created(shared, bigChf);
    expect((await oldRelease.deliver(id)).kind).toBe('wait');
    // The old release reads it RECEIVED (still held); meanwhile the new one reserves the day's one authorization and sends it.
    const read = (await shared.get(id))!;
    expect(await newRelease.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const released = await refusedReleases();
    expect((await oldRelease.deliver(read)).kind).toBe('wait');
    expect(await refusedReleases()).toBe(released);
    await nextRefusedUnsent(shared, newRelease);
  } finally {
    await purgeNamespace(oldConfig).catch(() => undefined);
  }
}, 60_000);

test('a hold decided on a stale read never tells the OMS PENDING RISK_REVIEW for an operation another worker sent meanwhile', async () => {
  const { oldConfig, shared, oldRelease, newRelease } = rollingDeploy();
  const sharedEvents = new EventStore(redis, oldConfig.redis.keyPrefix);
  try {
    const id = await created(shared, bigChf);
    // The old release reads it RECEIVED; meanwhile the new one (no hold rule) sends it and records its outcome.
    const read = (await shared.get(id))!;
    expect(await newRelease.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const withheld = (await metricValue('pb_risk_review_notices_withheld_total')) ?? 0;
    // Its risk rules hold it on what it read: a hold of its own, but no notice of it.
    expect((await oldRelease.deliver(read)).kind).toBe('wait');
    expect(await sharedEvents.load(`${id}.risk-review`)).toBeNull();
    expect(await sharedEvents.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(await shared.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect(await metricValue('pb_risk_review_notices_withheld_total')).toBe(withheld + 1);
    const line = logs.lines.find((l) => l.includes('risk review notice not sent: another worker moved the operation meanwhile') && l.includes(id));
    expect(line).toContain('"read_state":"RECEIVED"');
  } finally {
    await purgeNamespace(oldConfig).catch(() => undefined);
  }
}, 60_000);

test('a hold decided on a stale read writes no review record, history entry or hold count for an operation another worker sent meanwhile', async () => {
  const { oldConfig, shared, oldRelease, newRelease } = rollingDeploy();
  const reviews = new ReviewStore(redis, oldConfig.redis.keyPrefix);
  const holds = () => metricValue('pb_risk_decisions_total', { action: 'hold', rule: 'big-chf' });
  const riskHeld = () => metricValue('pb_routing_decisions_total', { stage: 'risk', outcome: 'held' });
  try {
    const id = await created(shared, bigChf);
    // The old release reads it RECEIVED; meanwhile the new one (no hold rule) sends it and records its outcome.
    const read = (await shared.get(id))!;
    expect(await newRelease.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const [holdsBefore, heldBefore] = [await holds(), await riskHeld()];
    expect((await oldRelease.deliver(read)).kind).toBe('wait');
    // Nothing of the hold: an operator listing the holds (ops risk-reviews) would be asked to release a sent payment.
    expect(await reviews.get(id)).toBeNull();
    expect(await reviews.held()).not.toContain(id);
    expect((await shared.interactions(id)).filter((h) => h.event === 'orchestration')).toEqual([]);
    expect(await holds()).toBe(holdsBefore);
    expect(await riskHeld()).toBe(heldBefore);
    expect(logs.lines.some((l) => l.includes('authorization held for review by the risk rules') && l.includes(id))).toBe(false);
    // A hold that applies still writes all of it.
    const heldId = await created(shared, bigChf);
    expect((await oldRelease.deliver(heldId)).kind).toBe('wait');
    expect(await reviews.get(heldId)).toMatchObject({ state: 'held', rule: 'big-chf' });
    expect((await shared.interactions(heldId)).filter((h) => h.event === 'orchestration')).toHaveLength(1);
    expect(await holds()).toBe(holdsBefore + 1);
  } finally {
    await purgeNamespace(oldConfig).catch(() => undefined);
  }
}, 60_000);

test('a hold whose notice is on record but whose review record a failure kept it from writing keeps, at its next pass, the deadline the OMS was told', async () => {
  const c = oneADayConfig(true);
  const shared = new Ledger(redis, c.redis.keyPrefix);
  const events = new EventStore(redis, c.redis.keyPrefix);
  const reviews = new ReviewStore(redis, c.redis.keyPrefix);
  let clock = Date.now();
  const routes = createGatewayClients(c);
  const rec = new OutcomeRecorder({ config: c, ledger: shared, events, eventsQueue, logger: logs.logger });
  const svc = new DeliveryService({
    config: c,
    ledger: shared,
    router: new ConfiguredGatewayRouter(routes),
    recorder: rec,
    logger: logs.logger,
    redis,
    routes,
    now: () => clock,
  });
  try {
    const id = await created(shared, bigChf);
    // The notice goes out; then Redis fails before the hold's own writes (its history entry, its review record).
    const failing = jest.spyOn(shared, 'appendInteraction').mockRejectedValueOnce(new Error('redis: connection lost'));
    try {
      await expect(svc.deliver(id)).rejects.toThrow('connection lost');
    } finally {
      failing.mockRestore();
    }
    const notice = await events.load(`${id}.risk-review`);
    const told = Date.parse(String((notice?.params.payment as { review: { deadline: string } }).review.deadline));
    expect(await reviews.get(id)).toBeNull();
    // The job's retry, 20 s later: the hold decided again writes its record with the deadline the OMS holds, not its own.
    clock += 20_000;
    expect((await svc.deliver(id)).kind).toBe('wait');
    expect(await reviews.get(id)).toMatchObject({ state: 'held', deadline: told });
  } finally {
    await purgeNamespace(c).catch(() => undefined);
  }
}, 60_000);

test("pb_caps_decisions_total counts a cap refusal as refused once on record; one that lost to another worker's send as refusal_lost", async () => {
  const c = oneADayConfig(false);
  const shared = new Ledger(redis, c.redis.keyPrefix);
  const svc = deliveryOf(c, shared, new EventStore(redis, c.redis.keyPrefix));
  const count = (result: string) => metricValue('pb_caps_decisions_total', { gateway: 'simulator', result, limit: 'daily_count' });
  try {
    expect(await svc.deliver(await created(shared, bigChf))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const [refused, lost] = [await count('refused'), await count('refusal_lost')];
    // Over the day's one, on record.
    const capLines = (opId: string) => logs.lines.filter((l) => l.includes('transaction cap exceeded on every candidate') && l.includes(opId));
    const onRecord = await created(shared, bigChf);
    expect(await svc.deliver(onRecord)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await count('refused')).toBe(refused + 1);
    expect(capLines(onRecord)).toHaveLength(1);
    // Over the day's one, read RECEIVED; meanwhile another worker (a stalled job run again) sends it.
    const id = await created(shared, bigChf);
    const read = (await shared.get(id))!;
    expect((await shared.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
    expect(await svc.deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
    expect(await count('refused')).toBe(refused + 1);
    expect(await count('refusal_lost')).toBe(lost + 1);
    // Its line is logged only for a refusal on record: the lost one says so in delivery's own line instead.
    expect(capLines(id)).toEqual([]);
  } finally {
    await purgeNamespace(c).catch(() => undefined);
  }
}, 60_000);

test('a refusal on record whose release was lost (a crash between the two) gives the reservation back when its job runs again', async () => {
  const held = oneADayConfig(true);
  const shared = new Ledger(redis, held.redis.keyPrefix);
  const svc = deliveryOf(held, shared, new EventStore(redis, held.redis.keyPrefix));
  const crash = jest.spyOn(OrchestrationPipeline.prototype, 'releaseRefused').mockRejectedValueOnce(new Error('worker killed'));
  try {
    const id = await created(shared, bigChf);
    expect((await svc.deliver(id)).kind).toBe('wait');
    await reservedFor(held, id);
    expect(await new ReviewStore(redis, held.redis.keyPrefix).decline(id, 'analyst@host')).toBe('held');
    await expect(svc.deliver(id)).rejects.toThrow('worker killed');
    expect((await shared.get(id))?.state).toBe('FAILED');
    // The job runs again (redelivered after the crash): the FAILED operation gives back what it still holds.
    expect(await svc.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await svc.deliver(await created(shared, { ...bigChf, amount: 5000 }))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  } finally {
    crash.mockRestore();
    await purgeNamespace(held).catch(() => undefined);
  }
}, 60_000);

test('an authorization failed UNRESPONSIVE unsent, past delivery.max_age_ms at its first delivery, gives back the cap reservation its plan made', async () => {
  const c = testConfig({ ...oneADayParams(false), 'delivery.max_age_ms': 60_000 });
  const shared = new Ledger(redis, c.redis.keyPrefix);
  const svc = deliveryOf(c, shared, new EventStore(redis, c.redis.keyPrefix));
  try {
    // Received before a backlog drained: its first delivery plans it (reserving the day's one authorization), then gives up.
    const command = channelCommand('authorize', { received_at: new Date(Date.now() - 120_000).toISOString() }, bigChf);
    const id = command.payment.operation_reference!;
    await shared.create(id, command);
    expect(await svc.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await shared.get(id))?.reason).toBe('UNRESPONSIVE');
    expect(sim.counters().effects[id]).toBeUndefined();
    // Never sent: the day's one authorization goes to the next one.
    expect(await svc.deliver(await created(shared, { ...bigChf, amount: 5000 }))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  } finally {
    await purgeNamespace(c).catch(() => undefined);
  }
}, 60_000);

test('an UNRESPONSIVE refusal on record whose release was lost (a crash between the two) gives the reservation back when its job runs again', async () => {
  const c = testConfig({ ...oneADayParams(false), 'delivery.max_age_ms': 60_000 });
  const shared = new Ledger(redis, c.redis.keyPrefix);
  const svc = deliveryOf(c, shared, new EventStore(redis, c.redis.keyPrefix));
  const released = () => metricValue('pb_caps_releases_total', { gateway: 'simulator', why: 'failed' });
  const crash = jest.spyOn(OrchestrationPipeline.prototype, 'release').mockRejectedValueOnce(new Error('worker killed'));
  try {
    const command = channelCommand('authorize', { received_at: new Date(Date.now() - 120_000).toISOString() }, bigChf);
    const id = command.payment.operation_reference!;
    await shared.create(id, command);
    await expect(svc.deliver(id)).rejects.toThrow('worker killed');
    // The FAIL names the plan that reserved: what a later run gives back.
    expect(await shared.get(id)).toMatchObject({ state: 'FAILED', reason: 'UNRESPONSIVE', routing: { gateway: 'simulator' } });
    const before = await released();
    // The job runs again (redelivered after the crash): the FAILED operation gives back what it still holds.
    expect(await svc.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await released()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('cap reservation released') && l.includes(id))).toBe(true);
    expect(await svc.deliver(await created(shared, { ...bigChf, amount: 5000 }))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  } finally {
    crash.mockRestore();
    await purgeNamespace(c).catch(() => undefined);
  }
}, 60_000);

/**
 * The day's one authorization, reserved by a plan whose delivery then refuses it unsent for its route (`refusal`):
 * given back once the FAIL is on record (counted `failed`, logged), so the next one goes.
 */
async function refusedByRouteGivesBack(router: (real: GatewayRouter) => GatewayRouter, reason: string): Promise<void> {
  const c = oneADayConfig(false);
  const shared = new Ledger(redis, c.redis.keyPrefix);
  const refusing = deliveryOf(c, shared, new EventStore(redis, c.redis.keyPrefix), router);
  const released = () => metricValue('pb_caps_releases_total', { gateway: 'simulator', why: 'failed' });
  try {
    const id = await created(shared, bigChf);
    const before = await released();
    expect(await refusing.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await shared.get(id)).toMatchObject({ state: 'FAILED', reason, attempts: 0, routing: { gateway: 'simulator' } });
    expect(sim.counters().effects[id]).toBeUndefined();
    expect(await released()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('cap reservation released') && l.includes(id))).toBe(true);
    // Never sent: the day's one authorization goes to the next one (through the configured router).
    expect(await deliveryOf(c, shared, new EventStore(redis, c.redis.keyPrefix)).deliver(await created(shared, { ...bigChf, amount: 5000 }))).toEqual({
      kind: 'done',
      state: 'SUCCEEDED',
    });
  } finally {
    await purgeNamespace(c).catch(() => undefined);
  }
}

test("an authorization its route refuses after the plan (the router's own refusal) gives back the cap reservation its plan made", async () => {
  await refusedByRouteGivesBack(() => ({ route: () => ({ refused: 'ROUTE_REFUSED_FOR_TEST' }) }), 'ROUTE_REFUSED_FOR_TEST');
}, 60_000);

test('an authorization its gateway does not take (UNSUPPORTED_COMMAND) after the plan gives back the cap reservation its plan made', async () => {
  await refusedByRouteGivesBack(
    (real) => ({
      route: (op) => {
        const route = real.route(op);
        if ('refused' in route) return route;
        // The same transformer, but one that takes no command: what a gateway that does not support authorize looks like.
        return { ...route, transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, { supports: [] }) };
      },
    }),
    'UNSUPPORTED_COMMAND',
  );
}, 60_000);

test('a plan decided again after a wait that comes out in another currency gives back what the first plan reserved in its own, once its attempt is on record', async () => {
  // Both cap the account at one authorization a day in each currency; the first converts its USD into EUR.
  const params = {
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-limits-0123456789', timeout_ms: 30000 } },
    'caps.rules': [
      { scope: 'merchant', name: 'two-cur', currency: 'EUR', daily_count: 1 },
      { scope: 'merchant', name: 'two-cur', currency: 'USD', daily_count: 1 },
    ],
  };
  const converting = testConfig({
    ...params,
    'fx.settlement_currencies': { 'simulator:two-cur': ['EUR'] },
    'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
  });
  // A configuration reload that stopped converting this account's payments (another account's still are).
  const plain = testConfig({
    ...params,
    'redis.key_prefix': converting.redis.keyPrefix,
    'fx.settlement_currencies': { 'simulator:elsewhere': ['EUR'] },
    'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
  });
  const shared = new Ledger(redis, converting.redis.keyPrefix);
  const sharedEvents = new EventStore(redis, converting.redis.keyPrefix);
  const first = deliveryOf(converting, shared, sharedEvents);
  const second = deliveryOf(plain, shared, sharedEvents);
  const usd = { gateway_account: 'two-cur', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' } as Partial<Payment>;
  const replanned = () => metricValue('pb_caps_releases_total', { gateway: 'simulator', why: 'replanned' });
  try {
    const id = await created(shared, usd);
    // The first plan reserves the day's EUR authorization, then waits behind an open breaker (nothing on record).
    for (let i = 0; i < converting.delivery.breakerFailureThreshold; i++) first.breaker('simulator').failure();
    expect((await first.deliver(id)).kind).toBe('wait');
    const before = await replanned();
    // Decided again by the release that does not convert: USD reserved and sent.
    expect(await second.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await shared.get(id))?.routing?.currency).toBeUndefined();
    expect(await replanned()).toBe(before + 1);
    // The EUR one was given back: the next converted authorization takes it.
    first.breaker('simulator').success();
    expect(await first.deliver(await created(shared, usd))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  } finally {
    await purgeNamespace(converting).catch(() => undefined);
  }
}, 60_000);

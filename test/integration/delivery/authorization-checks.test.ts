import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Interaction, Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { AUTHORIZATION_REFUSALS, resolveOperationContext } from '../../../src/delivery/operation-context';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import type { AdjustmentKind } from '../../../src/adjustments/adjustment';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-authz-checks-key-0123456789';
const ACCOUNTS = ['acme-eu', 'other-merchant'];

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
    gateways: {
      simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-authz-checks-0123456789', timeout_ms: 1000 },
      // A second gateway on the same PSP twin: a command naming it must not resolve the first one's authorization.
      'simulator-b': { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-authz-checks-b-0123456789', timeout_ms: 1000 },
    },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: logs.logger });
});

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

/** An authorization of ours that succeeded at the PSP, for `amount` minor units. */
async function authorized(payment: Partial<Payment> = {}, command: PaymentCommand['command'] = 'authorize'): Promise<PaymentCommand> {
  const auth = channelCommand(command, {}, { gateway_key: 'pm_card_visa', amount: 5000, ...payment });
  const id = await record(auth);
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  return auth;
}

/** A command that acts on `auth` (our operation id as its gateway_key), same order unless overridden. */
function dependent(command: PaymentCommand['command'], auth: PaymentCommand, payment: Partial<Payment> = {}): PaymentCommand {
  return channelCommand(command, {}, { gateway_key: auth.payment.operation_reference!, order_id: auth.payment.order_id, amount: 1000, ...payment });
}

describe('whose authorization: a dependent command resolves only an authorization of its own gateway, account and order', () => {
  it('refuses a capture for another gateway_account than its authorization, without calling the PSP, and says why', async () => {
    const auth = await authorized({ gateway_account: ACCOUNTS[0] });
    const before = await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'authorization_scope_mismatch' });
    const captureId = await record(dependent('capture', auth, { gateway_account: ACCOUNTS[1] }));
    const requests = sim.counters().requests;
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(captureId))?.reason).toBe('authorization_scope_mismatch');
    const event = await events.load(`${captureId}.FAILED`);
    expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'authorization_scope_mismatch', field: 'payment.gateway_account' });
    const line = logs.lines.find((l) => l.includes('authorization_scope_mismatch') && l.includes(captureId));
    expect(line).toBeDefined();
    expect(line).toContain(ACCOUNTS[0]);
    expect(line).toContain(ACCOUNTS[1]);
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'authorization_scope_mismatch' })).toBe(before + 1);
  });

  it('refuses a refund for another order than its authorization', async () => {
    const auth = await authorized({}, 'sale');
    const refundId = await record(dependent('refund', auth, { order_id: 'ORD-someone-else' }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('authorization_scope_mismatch');
    expect(sim.counters().effects[refundId]).toBeUndefined();
  });

  it('refuses a cancel naming an authorization of another gateway', async () => {
    const auth = await authorized();
    const cancelId = await record(dependent('cancel', auth, { gateway: 'simulator-b' }));
    const requests = sim.counters().requests;
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(cancelId))?.reason).toBe('authorization_scope_mismatch');
  });

  it('still captures within the same scope (an order_id missing on either side does not refuse it)', async () => {
    const auth = await authorized();
    const captureId = await record(dependent('capture', auth, { order_id: undefined }));
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[captureId]).toBe(1);
  });
});

describe('currency and amount: a dependent command is checked against what our authorization holds', () => {
  it('refuses a capture in another currency than its authorization, naming payment.currency, without calling the PSP', async () => {
    const auth = await authorized({ currency: 'EUR' });
    const captureId = await record(dependent('capture', auth, { currency: 'USD' }));
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().effects[captureId]).toBeUndefined();
    expect((await ledger.get(captureId))?.reason).toBe('currency_mismatch');
    const event = await events.load(`${captureId}.FAILED`);
    expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'currency_mismatch', field: 'payment.currency' });
    expect(logs.lines.some((l) => l.includes('currency_mismatch') && l.includes(captureId) && l.includes('payment.currency'))).toBe(true);
  });

  it('refuses a refund or a cancel in another currency than its authorization', async () => {
    const sale = await authorized({ currency: 'EUR' }, 'sale');
    const refundId = await record(dependent('refund', sale, { currency: 'GBP' }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('currency_mismatch');
    const auth = await authorized({ currency: 'EUR' });
    const cancelId = await record(dependent('cancel', auth, { currency: 'USD' }));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(cancelId))?.reason).toBe('currency_mismatch');
  });

  it('refuses a capture above the authorized amount remaining after earlier successful captures', async () => {
    const auth = await authorized({ amount: 5000 });
    const first = await record(dependent('capture', auth, { amount: 3000 }));
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const tooMuch = await record(dependent('capture', auth, { amount: 2500 }));
    const requests = sim.counters().requests;
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_authorized');
    expect(sim.counters().effects[tooMuch]).toBeUndefined();
    expect((await events.load(`${tooMuch}.FAILED`))?.params.payment).toMatchObject({ field: 'payment.amount' });
    const rest = await record(dependent('capture', auth, { amount: 2000 }));
    expect(await service.deliver(rest)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    // A partial capture the PSP confirmed as asked: reported as is, no discrepancy.
    const event = (await events.load(`${first}.SUCCEEDED`))!.params.payment;
    expect(event).toMatchObject({ amount: 3000, currency: 'EUR', requested_amount: 3000, requested_currency: 'EUR' });
    expect(event).not.toHaveProperty('discrepancy');
  });

  it('two captures delivered at the same moment that together exceed the authorization: one goes, the other waits for it and is then refused, unsent', async () => {
    const auth = await authorized({ amount: 5000 });
    const a = await record(dependent('capture', auth, { amount: 3000 }));
    const b = await record(dependent('capture', auth, { amount: 3000 }));
    const waits = await metricValue('pb_dependents_waiting_total', { gateway: 'simulator', command: 'capture' });
    const steps = await Promise.all([service.deliver(a), service.deliver(b)]);
    const kinds = steps.map((step) => (step.kind === 'done' ? step.state : step.kind)).sort();
    expect(kinds).toEqual(['SUCCEEDED', 'wait']);
    // Whichever registered first went; the other is `second`.
    const [first, second] = steps[0].kind === 'wait' ? [b, a] : [a, b];
    expect(await metricValue('pb_dependents_waiting_total', { gateway: 'simulator', command: 'capture' })).toBe(waits + 1);
    expect((await ledger.interactions(second)).map((i) => i.event)).toContain('waiting_for_siblings');
    expect(sim.counters().effects[second]).toBeUndefined();
    // Its sibling settled: checked again on what that one took, 2000 left, refused before any PSP call.
    expect((await ledger.get(first))?.state).toBe('SUCCEEDED');
    expect(await service.deliver(second)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(second))?.reason).toBe('amount_exceeds_authorized');
    expect(sim.counters().effects[second]).toBeUndefined();
    expect(sim.counters().effects[first]).toBe(1);
  });

  it('a capture waiting for a sibling that then fails goes once the sibling failed', async () => {
    const auth = await authorized({ amount: 5000 });
    const a = await record(dependent('capture', auth, { amount: 4000 }));
    // Registered first (as delivery's first check does), then left in flight: the PSP's answer is lost.
    await ledger.authorizationView(auth.payment.operation_reference!, a);
    await ledger.transition(a, 'SENT', { event: 'attempt' });
    const b = await record(dependent('capture', auth, { amount: 3000 }));
    expect((await service.deliver(b)).kind).toBe('wait');
    await ledger.transition(a, 'FAILED', { event: 'outcome', source: 'response' }, { reason: 'declined' });
    expect(await service.deliver(b)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  /** Delivery as at `offset` ms from now (the same ledger and PSP). */
  const at = (offset: number) =>
    new DeliveryService({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: logs.logger,
      now: () => Date.now() + offset,
    });

  /** `id` refused unsent with `reason` (a bounded wait run out, `awaiting`): the record, its FAIL event, the metric, the warn line naming `waitedOn`. */
  async function refusedUnsent(id: string, offset: number, reason: string, awaiting: string, waitedOn: string): Promise<void> {
    const expired = await metricValue('pb_void_waits_expired_total', { gateway: 'simulator', awaiting });
    expect(await at(offset).deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().effects[id]).toBeUndefined();
    expect(await ledger.get(id)).toMatchObject({ reason, reasonField: 'payment.gateway_key' });
    expect((await events.load(`${id}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason,
      decline: { category: 'bridge_refused', suggested_action: 'contact_support' },
    });
    expect(await metricValue('pb_void_waits_expired_total', { gateway: 'simulator', awaiting })).toBe(expired + 1);
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(id) && l.includes(reason));
    expect(line).toContain(`"awaiting":"${awaiting}"`);
    expect(line).toContain(`"siblings":"${waitedOn}"`);
  }

  it('a capture waiting for an authorization that stays undecided (UNRESOLVED settles only by a later PSP fact) waits no longer than delivery.authorization_wait_max_ms from its creation: refused unsent, WAIT_FOR_AUTH_EXPIRED', async () => {
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 5000 });
    const authId = await record(auth);
    await ledger.transition(authId, 'SENT', { event: 'attempt' });
    await ledger.transition(authId, 'UNRESOLVED', { event: 'unresolved' });
    const captureId = await record(dependent('capture', auth, { amount: 3000 }));
    expect(await service.deliver(captureId)).toMatchObject({ kind: 'wait' });
    expect(await at(config.delivery.authorizationWaitMaxMs - 60_000).deliver(captureId)).toMatchObject({ kind: 'wait' });
    await refusedUnsent(captureId, config.delivery.authorizationWaitMaxMs + 60_000, 'WAIT_FOR_AUTH_EXPIRED', 'authorization', authId);
    // The authorization is left as it is: only what waited on it was refused.
    expect((await ledger.get(authId))?.state).toBe('UNRESOLVED');
  });

  it.each(['ACTION_REQUIRED', 'PENDING'] as const)(
    'a capture waiting for an authorization of an asynchronous method (%s: a voucher, a bank transfer the customer pays days later) is not refused after delivery.void_wait_max_ms: the authorization has its own bound, delivery.authorization_wait_max_ms',
    async (state) => {
      const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 5000 });
      const authId = await record(auth);
      await ledger.transition(authId, 'SENT', { event: 'attempt' });
      await ledger.transition(authId, state, { event: 'outcome' });
      const captureId = await record(dependent('capture', auth, { amount: 3000 }));
      // Three days on (a Boleto's or Konbini's default expiry), the customer may still pay: the capture waits.
      expect(await at(3 * config.delivery.voidWaitMaxMs).deliver(captureId)).toMatchObject({ kind: 'wait' });
      expect((await ledger.get(captureId))?.state).toBe('RECEIVED');
      expect(await at(config.delivery.authorizationWaitMaxMs - 60_000).deliver(captureId)).toMatchObject({ kind: 'wait' });
      await refusedUnsent(captureId, config.delivery.authorizationWaitMaxMs + 60_000, 'WAIT_FOR_AUTH_EXPIRED', 'authorization', authId);
    },
  );

  it('a capture waiting for a sibling ahead of it that stays undecided waits no longer than delivery.void_wait_max_ms from its first wait: refused unsent, WAIT_FOR_SIBLINGS_EXPIRED; the sibling goes on', async () => {
    const auth = await authorized({ amount: 5000 });
    const a = await record(dependent('capture', auth, { amount: 4000 }));
    await ledger.authorizationView(auth.payment.operation_reference!, a);
    await ledger.transition(a, 'SENT', { event: 'attempt' });
    await ledger.transition(a, 'UNRESOLVED', { event: 'unresolved' });
    const b = await record(dependent('capture', auth, { amount: 3000 }));
    // Its first wait an hour after its creation: the bound counts from there.
    expect(await at(3_600_000).deliver(b)).toMatchObject({ kind: 'wait' });
    expect(await at(config.delivery.voidWaitMaxMs + 60_000).deliver(b)).toMatchObject({ kind: 'wait' });
    await refusedUnsent(b, 3_600_000 + config.delivery.voidWaitMaxMs + 60_000, 'WAIT_FOR_SIBLINGS_EXPIRED', 'siblings', a);
    expect((await ledger.get(a))?.state).toBe('UNRESOLVED');
  });

  it('refuses a refund above what was captured (less what was refunded)', async () => {
    const sale = await authorized({ amount: 4000 }, 'sale');
    const part = await record(dependent('refund', sale, { amount: 3000 }));
    expect(await service.deliver(part)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const tooMuch = await record(dependent('refund', sale, { amount: 1500 }));
    const requests = sim.counters().requests;
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_captured');
    expect(sim.counters().effects[tooMuch]).toBeUndefined();
  });

  it('a refund the PSP failed (or reversed) after it succeeded gives its amount back to refund: the next refund is sent, and an operator is told', async () => {
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const sale = await authorized({ amount: 4000 }, 'sale');
    const first = await record(dependent('refund', sale, { amount: 3000 }));
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refund = (await ledger.get(first))!;
    const before = await metricValue('pb_refunds_undone_total', { gateway: 'simulator', kind: 'refund_failed' });
    // The PSP fails the refund (its own books give the 3000 back), and says so: the adjustment of the refund.
    const failed = await fetch(`${sim.url}/_control/refund-failure`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reference: first }),
    });
    expect(failed.status).toBe(200);
    await adjustments.recordAdjustment(refund, {
      kind: 'refund_failed',
      direction: 'credit',
      amount: 3000,
      currency: refund.payment.currency,
      gateway: 'simulator',
      pspEventId: `evt_refund_failed_${first}`,
      source: 'webhook',
    });
    expect((await ledger.get(first))?.state).toBe('SUCCEEDED');
    expect(await metricValue('pb_refunds_undone_total', { gateway: 'simulator', kind: 'refund_failed' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('refund undone') && l.includes(first))).toBe(true);
    // 3000 of the 4000 never reached the shopper: all 4000 can be refunded, no more.
    const again = await record(dependent('refund', sale, { amount: 4000 }));
    expect(await service.deliver(again)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[again]).toBe(1);
    const tooMuch = await record(dependent('refund', sale, { amount: 1 }));
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_captured');
  });

  it('what the PSP refunded outside the bridge (refund_outside_bridge) is not refunded again: a refund of ours above what is left is refused without calling the PSP, by our id or by PSP reference; once that refund fails, its amount is refundable again', async () => {
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const sale = await authorized({ amount: 4000 }, 'sale');
    const saleRecord = (await ledger.get(sale.payment.operation_reference!))!;
    const outside = { gateway: 'simulator', source: 'webhook' as const, currency: saleRecord.payment.currency, pspReference: `re_outside_${saleRecord.id}` };
    // 1500 refunded in the PSP's back office, reported as the sale's adjustment.
    await adjustments.recordAdjustment(saleRecord, {
      ...outside,
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 1500,
      pspEventId: `${outside.pspReference}:succeeded`,
    });
    const first = await record(dependent('refund', sale, { amount: 1000 }));
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    // 4000 − 1000 ours − 1500 outside: 1500 left.
    const requests = sim.counters().requests;
    const counted = await metricValue('pb_refunds_refused_for_outside_refunds_total', { gateway: 'simulator' });
    const tooMuch = await record(dependent('refund', sale, { amount: 1501 }));
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_captured');
    const byReference = await record(dependent('refund', sale, { amount: 1501, gateway_key: saleRecord.gatewayReference! }));
    expect(await service.deliver(byReference)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(byReference))?.reason).toBe('amount_exceeds_captured');
    expect(sim.counters().requests).toBe(requests);
    expect(await metricValue('pb_refunds_refused_for_outside_refunds_total', { gateway: 'simulator' })).toBe(counted + 2);
    expect(logs.lines.some((l) => l.includes('refused against its authorization') && l.includes('"refunded_outside_bridge":1500'))).toBe(true);
    // What the refusal says (the refused refund is terminal: asked again, it is refused the same way).
    const resolved = await resolveOperationContext((await ledger.get(tooMuch))!, ledger, { checkAmounts: true });
    expect(resolved).toMatchObject({
      fail: 'amount_exceeds_captured',
      field: 'payment.amount',
      detail: { refunded: 1000, refunded_outside_bridge: 1500, refundable: 1500 },
    });
    // The PSP failed its back-office refund after all: those 1500 never reached the shopper, and can be given back by us.
    await adjustments.recordAdjustment(saleRecord, {
      ...outside,
      kind: 'refund_failed',
      direction: 'credit',
      amount: 1500,
      pspEventId: `${outside.pspReference}:failed`,
    });
    const again = await record(dependent('refund', sale, { amount: 3000 }));
    expect(await service.deliver(again)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[again]).toBe(1);
  });

  it('a capture the PSP failed after it succeeded (capture_failed) collected nothing: a refund of its amount is refused without calling the PSP, the capture check still counts it, and an operator is told', async () => {
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const auth = await authorized({ amount: 4000 });
    const failing = await record(dependent('capture', auth, { amount: 3000 }));
    expect(await service.deliver(failing)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const kept = await record(dependent('capture', auth, { amount: 1000 }));
    expect(await service.deliver(kept)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const capture = (await ledger.get(failing))!;
    const before = await metricValue('pb_captures_undone_total', { gateway: 'simulator', command: 'capture' });
    // The scheme rejects the 3000 capture after the PSP accepted it (Adyen CAPTURE_FAILED): the adjustment of the capture.
    await adjustments.recordAdjustment(capture, {
      kind: 'capture_failed',
      direction: 'debit',
      amount: 3000,
      currency: capture.payment.currency,
      gateway: 'simulator',
      pspEventId: `evt_capture_failed_${failing}`,
      source: 'webhook',
    });
    expect((await ledger.get(failing))?.state).toBe('SUCCEEDED');
    expect(await metricValue('pb_captures_undone_total', { gateway: 'simulator', command: 'capture' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('capture undone') && l.includes(failing))).toBe(true);
    // Only the 1000 reached the merchant: no more can be given back.
    const tooMuch = await record(dependent('refund', auth, { amount: 1001 }));
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_captured');
    expect(sim.counters().effects[tooMuch]).toBeUndefined();
    const refund = await record(dependent('refund', auth, { amount: 1000 }));
    expect(await service.deliver(refund)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    // The PSP may capture the 3000 again itself (Adyen re-captures): a capture of ours is not sent for it, and the
    // refusal says why (the amount held by that failed capture, a person's to settle with the PSP), not a wrong amount.
    const again = await record(dependent('capture', auth, { amount: 3000 }));
    expect(await service.deliver(again)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(again)).toMatchObject({
      reason: 'amount_held_by_failed_capture',
      decline: { category: 'operation_not_permitted', gateway_code: 'amount_held_by_failed_capture', suggested_action: 'contact_support' },
    });
    expect(logs.lines.some((l) => l.includes('amount_held_by_failed_capture') && l.includes(again) && l.includes(failing))).toBe(true);
    expect(sim.counters().effects[again]).toBeUndefined();
  });

  it('a sale whose capture the PSP failed after it succeeded collected nothing: no refund of it is sent', async () => {
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const sale = await authorized({ amount: 4000 }, 'sale');
    const saleRecord = (await ledger.get(sale.payment.operation_reference!))!;
    const before = await metricValue('pb_captures_undone_total', { gateway: 'simulator', command: 'sale' });
    await adjustments.recordAdjustment(saleRecord, {
      kind: 'capture_failed',
      direction: 'debit',
      amount: 4000,
      currency: saleRecord.payment.currency,
      gateway: 'simulator',
      pspEventId: `evt_capture_failed_${saleRecord.id}`,
      source: 'webhook',
    });
    expect(await metricValue('pb_captures_undone_total', { gateway: 'simulator', command: 'sale' })).toBe(before + 1);
    expect((await ledger.get(saleRecord.id))?.state).toBe('SUCCEEDED');
    const refund = await record(dependent('refund', sale, { amount: 1 }));
    expect(await service.deliver(refund)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refund))?.reason).toBe('amount_exceeds_captured');
    expect(sim.counters().effects[refund]).toBeUndefined();
  });

  it('refuses a refund on an authorization nothing was captured from', async () => {
    const auth = await authorized({ amount: 4000 });
    const refundId = await record(dependent('refund', auth, { amount: 100 }));
    const requests = sim.counters().requests;
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
  });
});

describe("a cancel of an authorization whose capture FAILED for a reason its PSP retries itself (held for Adyen's re-capture)", () => {
  /** Records Adyen's "Transaction Recaptured" for `capture` as the webhook path does (a success after its failure). */
  async function recapturedByPsp(capture: string): Promise<void> {
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const captureRecord = (await ledger.get(capture))!;
    await adjustments.recordAdjustment(captureRecord, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: captureRecord.payment.amount,
      currency: captureRecord.payment.currency,
      gateway: 'simulator',
      reason: 'Transaction Recaptured',
      pspEventId: `evt_recaptured_${capture}`,
      source: 'webhook',
    });
  }

  /** An authorization of 4000 with a capture (3000 unless `amount`) recorded FAILED as the recorder leaves it, held for the PSP's retry or not. */
  async function withFailedCapture(held: boolean, amount = 3000): Promise<{ auth: PaymentCommand; capture: string }> {
    const auth = await authorized({ amount: 4000 });
    const capture = await record(dependent('capture', auth, { amount }));
    // Registered on its authorization as delivery registers it, then sent and failed (Adyen's technical CAPTURE_FAILED).
    expect(await ledger.authorizationView(auth.payment.operation_reference!, capture)).not.toBeNull();
    await ledger.transition(capture, 'SENT', { event: 'attempt' });
    const reason = 'Capture rejected by card scheme because of a technical issue.';
    await ledger.transition(capture, 'FAILED', { event: 'outcome' }, { reason, ...(held ? { heldForPspRetry: reason } : {}) });
    return { auth, capture };
  }

  it('is refused unsent, naming the held capture, by our id or by PSP reference: the OMS never hears "cancelled" while the PSP may still capture', async () => {
    const { auth, capture } = await withFailedCapture(true);
    const reference = (await ledger.get(auth.payment.operation_reference!))!.gatewayReference!;
    const before = await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'capture_held_for_psp_retry' });
    for (const gatewayKey of [auth.payment.operation_reference!, reference]) {
      const cancel = await record(dependent('cancel', auth, { gateway_key: gatewayKey, amount: 4000 }));
      const requests = sim.counters().requests;
      expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sim.counters().requests).toBe(requests);
      expect(await ledger.get(cancel)).toMatchObject({
        reason: 'capture_held_for_psp_retry',
        decline: { category: 'operation_not_permitted', gateway_code: 'capture_held_for_psp_retry', suggested_action: 'contact_support' },
      });
      expect((await events.load(`${cancel}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'capture_held_for_psp_retry' });
      expect(logs.lines.some((l) => l.includes('capture_held_for_psp_retry') && l.includes(cancel) && l.includes(capture))).toBe(true);
    }
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'capture_held_for_psp_retry' })).toBe(before + 2);
    // The authorization stays open: nothing was released at the PSP.
    expect((await ledger.get(auth.payment.operation_reference!))?.closedBy).toBeUndefined();
  });

  it('once the PSP re-captured it (Adyen\'s "Transaction Recaptured") and it took the whole hold, a cancel by our id or by PSP reference is refused unsent captured_by_psp_retry, naming the capture, action refund_instead', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    const before = await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'captured_by_psp_retry' });
    const reference = (await ledger.get(auth.payment.operation_reference!))!.gatewayReference!;
    for (const gatewayKey of [auth.payment.operation_reference!, reference]) {
      const cancel = await record(dependent('cancel', auth, { gateway_key: gatewayKey, amount: 4000 }));
      const requests = sim.counters().requests;
      expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sim.counters().requests).toBe(requests);
      expect(sim.counters().effects[cancel]).toBeUndefined();
      expect(await ledger.get(cancel)).toMatchObject({
        reason: 'captured_by_psp_retry',
        decline: { category: 'operation_not_permitted', gateway_code: 'captured_by_psp_retry', suggested_action: 'refund_instead' },
      });
      expect((await events.load(`${cancel}.FAILED`))?.params.payment).toMatchObject({
        status: 'FAIL',
        reason: 'captured_by_psp_retry',
        field: 'payment.gateway_key',
        decline: { suggested_action: 'refund_instead' },
      });
      expect(logs.lines.some((l) => l.includes('captured_by_psp_retry') && l.includes(cancel) && l.includes(capture))).toBe(true);
    }
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'captured_by_psp_retry' })).toBe(before + 2);
  });

  it('an operator released the hold, then the PSP re-captured after all: a cancel is still refused unsent captured_by_psp_retry, action refund_instead', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    expect(await ledger.releaseHeldForPspRetry(capture, { reason: 'Adyen Support: no retry', by: 'ops@test' })).toMatchObject({ result: 'released' });
    await recapturedByPsp(capture);
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    const requests = sim.counters().requests;
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'refund_instead' } });
  });

  it('an operator released the hold and no re-capture came: the amount is free again and a cancel is sent', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    expect(await ledger.releaseHeldForPspRetry(capture, { reason: 'Adyen Support: no retry', by: 'ops@test' })).toMatchObject({ result: 'released' });
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[cancel]).toBe(1);
  });

  /**
   * A refund of `auth` for `amount`, registered as delivery registers it and recorded in `state` (SUCCEEDED, FAILED held
   * for the PSP's retry, SENT: in flight, not yet decided, RECEIVED: registered, not sent, or UNRESOLVED).
   */
  async function refunded(auth: PaymentCommand, amount: number, state: 'SUCCEEDED' | 'HELD' | 'SENT' | 'RECEIVED' | 'UNRESOLVED'): Promise<string> {
    const refund = await record(dependent('refund', auth, { amount }));
    expect(await ledger.authorizationView(auth.payment.operation_reference!, refund)).not.toBeNull();
    if (state === 'RECEIVED') return refund;
    await ledger.transition(refund, 'SENT', { event: 'attempt' });
    if (state === 'SENT') return refund;
    if (state === 'UNRESOLVED') {
      await ledger.transition(refund, 'UNRESOLVED', { event: 'unresolved' });
      return refund;
    }
    const reason = 'Refund rejected by card scheme because of a technical issue.';
    if (state === 'SUCCEEDED') await ledger.transition(refund, 'SUCCEEDED', { event: 'outcome' });
    else await ledger.transition(refund, 'FAILED', { event: 'outcome' }, { reason, heldForPspRetry: reason });
    return refund;
  }

  it('the re-captured amount refunded already: a cancel is still refused captured_by_psp_retry, with action none (a refund would exceed what was captured), on the record and the event', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 4000, 'SUCCEEDED');
    const reference = (await ledger.get(auth.payment.operation_reference!))!.gatewayReference!;
    for (const gatewayKey of [auth.payment.operation_reference!, reference]) {
      const cancel = await record(dependent('cancel', auth, { gateway_key: gatewayKey, amount: 4000 }));
      const requests = sim.counters().requests;
      expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sim.counters().requests).toBe(requests);
      expect(await ledger.get(cancel)).toMatchObject({
        reason: 'captured_by_psp_retry',
        decline: { category: 'operation_not_permitted', gateway_code: 'captured_by_psp_retry', suggested_action: 'none' },
      });
      expect((await events.load(`${cancel}.FAILED`))?.params.payment).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'none' } });
    }
  });

  /** The details the cancel's FAILED history entry (what `ops show` prints) and its warn line carry. */
  async function refusalDetails(cancel: string): Promise<{ entry: Interaction | undefined; line: unknown }> {
    const entry = (await ledger.interactions(cancel)).find((i) => i.event === 'failed');
    const line = logs.lines.find((l) => l.includes('refused against its authorization') && l.includes(cancel));
    return { entry, line: line === undefined ? undefined : JSON.parse(line) };
  }

  it('a refund of the whole re-captured amount still in flight (sent, not decided): action none, not refund_instead, with 0 refunded confirmed and 4000 in flight in the details', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    const refund = await refunded(auth, 4000, 'SENT');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    const requests = sim.counters().requests;
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'none' } });
    expect((await events.load(`${cancel}.FAILED`))?.params.payment).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'none' } });
    const expected = { refunded_amount: 0, refunds_in_flight_amount: 4000, refund_in_flight_ids: refund, left_to_refund: 0 };
    const { entry, line } = await refusalDetails(cancel);
    expect(entry).toMatchObject(expected);
    expect(line).toMatchObject(expected);
  });

  it('1000 refunded confirmed and a refund of the other 3000 in flight: action none, the details saying 1000 refunded and 3000 in flight', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 1000, 'SUCCEEDED');
    const refund = await refunded(auth, 3000, 'SENT');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'none' } });
    const { entry } = await refusalDetails(cancel);
    expect(entry).toMatchObject({ refunded_amount: 1000, refunds_in_flight_amount: 3000, refund_in_flight_ids: refund, left_to_refund: 0 });
  });

  it('1000 refunded confirmed and 2000 in flight: action refund_instead for the 1000 left after both (left_to_refund 1000, not 3000)', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 1000, 'SUCCEEDED');
    await refunded(auth, 2000, 'SENT');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'refund_instead' } });
    const { entry } = await refusalDetails(cancel);
    expect(entry).toMatchObject({ refunded_amount: 1000, refunds_in_flight_amount: 2000, left_to_refund: 1000 });
  });

  it('a refund of 3000 in flight and a second of 3000 waiting behind it, of 4000 re-captured: action refund_instead for the 1000 the first leaves (the second will be refused amount_exceeds_captured), never none', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    const first = await refunded(auth, 3000, 'SENT');
    const second = await refunded(auth, 3000, 'RECEIVED');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'refund_instead' } });
    const { entry } = await refusalDetails(cancel);
    expect(entry).toMatchObject({ refunds_in_flight_amount: 6000, refund_in_flight_ids: `${first},${second}`, left_to_refund: 1000 });
  });

  it('a refund of the whole 4000 UNRESOLVED (it may never have reached the PSP, and no FAIL event will say so): action contact_support, not none', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 4000, 'UNRESOLVED');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'contact_support' } });
    const { entry } = await refusalDetails(cancel);
    expect(entry).toMatchObject({ refunds_in_flight_amount: 4000, left_to_refund: 4000, unsettled_refunds_amount: 4000 });
  });

  it('a refund of 4000 UNRESOLVED and a second of 4000 waiting behind it (the gate holds it while the first is unfinished): contact_support, not none', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 4000, 'UNRESOLVED');
    await refunded(auth, 4000, 'RECEIVED');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'contact_support' } });
    const { entry } = await refusalDetails(cancel);
    expect(entry).toMatchObject({ refunds_in_flight_amount: 8000, left_to_refund: 4000, unsettled_refunds_amount: 8000 });
  });

  it("the re-captured amount refunded partly by us, the rest in the PSP's back office (refund_outside_bridge): action none", async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 1000, 'SUCCEEDED');
    const authRecord = (await ledger.get(auth.payment.operation_reference!))!;
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    await adjustments.recordAdjustment(authRecord, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 3000,
      currency: authRecord.payment.currency,
      gateway: 'simulator',
      source: 'webhook',
      pspReference: `re_outside_${authRecord.id}`,
      pspEventId: `re_outside_${authRecord.id}:succeeded`,
    });
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'none' } });
  });

  it('the re-captured amount partly refunded: a refund of the rest still gives it back, so the action stays refund_instead', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 1000, 'SUCCEEDED');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'refund_instead' } });
  });

  it('what is left of the re-captured amount held by a refund the PSP retries itself: the action is contact_support (a refund would be refused amount_held_by_failed_refund)', async () => {
    const { auth, capture } = await withFailedCapture(true, 4000);
    await recapturedByPsp(capture);
    await refunded(auth, 1000, 'SUCCEEDED');
    await refunded(auth, 3000, 'HELD');
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(cancel)).toMatchObject({ reason: 'captured_by_psp_retry', decline: { suggested_action: 'contact_support' } });
  });

  it('once the PSP re-captured a capture that took part of the hold (3000 of 4000), a cancel is sent as after any partial capture: it releases the rest', async () => {
    const { auth, capture } = await withFailedCapture(true, 3000);
    await recapturedByPsp(capture);
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    const requests = sim.counters().requests;
    await service.deliver(cancel);
    expect(sim.counters().requests).toBeGreaterThan(requests);
    expect((await ledger.get(cancel))?.reason).not.toBe('captured_by_psp_retry');
  });

  it('a capture that simply FAILED (a reason the PSP does not retry) holds nothing: the cancel is sent', async () => {
    const { auth } = await withFailedCapture(false);
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[cancel]).toBe(1);
  });
});

describe('events report what the PSP confirmed, and flag any difference with what was asked', () => {
  async function sentCapture(amount: number): Promise<string> {
    const id = await record(channelCommand('capture', {}, { gateway_key: 'pi_not_ours', amount, currency: 'EUR' }));
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    return id;
  }

  it('reports the PSP-confirmed amount with requested_amount and discrepancy amount_mismatch, keeps it on the record, warns and counts', async () => {
    const id = await sentCapture(2000);
    const before = await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'amount' });
    await recorder.apply(
      (await ledger.get(id))!,
      { status: 'SUCCESS', gatewayStatus: 'captured', gatewayReference: `ch_${id}`, amount: 1000, currency: 'EUR' },
      'response',
    );
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', confirmedAmount: 1000, confirmedCurrency: 'EUR' });
    const event = (await events.load(`${id}.SUCCEEDED`))!.params.payment;
    expect(event).toMatchObject({
      status: 'SUCCESS',
      amount: 1000,
      currency: 'EUR',
      requested_amount: 2000,
      requested_currency: 'EUR',
      discrepancy: 'amount_mismatch',
      reason: 'amount_mismatch',
    });
    expect(await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'amount' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('"warn"') && l.includes(id) && l.includes('amount_mismatch'))).toBe(true);
  });

  it('flags the difference once when two recorders apply the same outcome at once (a webhook racing a status inquiry)', async () => {
    const id = await sentCapture(2000);
    const before = await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'amount' });
    // Both read the capture before either recorded its outcome.
    const stale = (await ledger.get(id))!;
    const outcome = { status: 'SUCCESS' as const, gatewayStatus: 'captured', gatewayReference: `ch_${id}`, amount: 1000, currency: 'EUR' };
    await recorder.apply(stale, outcome, 'webhook');
    await recorder.apply(stale, outcome, 'inquiry');
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', confirmedAmount: 1000 });
    expect(await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'amount' })).toBe(before + 1);
    expect(logs.lines.filter((l) => l.includes('PSP confirmed another amount') && l.includes(id))).toHaveLength(1);
  });

  it('reports the PSP-confirmed currency with discrepancy currency_mismatch', async () => {
    const id = await sentCapture(2000);
    const before = await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'currency' });
    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'captured', amount: 2000, currency: 'usd' }, 'webhook');
    const event = (await events.load(`${id}.SUCCEEDED`))!.params.payment;
    expect(event).toMatchObject({
      amount: 2000,
      currency: 'USD',
      requested_amount: 2000,
      requested_currency: 'EUR',
      discrepancy: 'currency_mismatch',
      reason: 'currency_mismatch',
    });
    expect(await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'currency' })).toBe(before + 1);
  });

  it('keeps the decline reason of a FAIL and still flags the difference', async () => {
    const id = await sentCapture(2000);
    await recorder.apply((await ledger.get(id))!, { status: 'FAIL', gatewayStatus: 'failed', reason: 'card_declined', amount: 1500 }, 'response');
    const event = (await events.load(`${id}.FAILED`))!.params.payment;
    expect(event).toMatchObject({ status: 'FAIL', reason: 'card_declined', amount: 1500, requested_amount: 2000, discrepancy: 'amount_mismatch' });
  });

  it('counts and logs a difference under the gateway the operation was routed to, against what that gateway was asked (a converted amount)', async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 10000, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    const routing = {
      gateway: 'simulator-b',
      requested: 'simulator',
      candidates: ['simulator', 'simulator-b'],
      index: 1,
      decisions: [],
      amount: 11000,
      currency: 'USD',
    };
    await ledger.create(id, command, Date.now(), undefined, { routing });
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const routed = await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator-b', field: 'amount' });
    const named = await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'amount' });
    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 10500, currency: 'USD' }, 'response');
    expect((await events.load(`${id}.SUCCEEDED`))!.params.payment).toMatchObject({ amount: 10500, currency: 'USD', discrepancy: 'amount_mismatch' });
    expect(await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator-b', field: 'amount' })).toBe(routed + 1);
    expect(await metricValue('pb_psp_discrepancies_total', { gateway: 'simulator', field: 'amount' })).toBe(named);
    const line = logs.lines.find((l) => l.includes(id) && l.includes('PSP confirmed another amount'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({
      gateway: 'simulator-b',
      asked_amount: 11000,
      asked_currency: 'USD',
      confirmed_amount: 10500,
      requested_amount: 10000,
    });
  });

  it('reports what was asked when the PSP states no amount or currency, without a discrepancy', async () => {
    const id = await sentCapture(2000);
    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'captured' }, 'response');
    const event = (await events.load(`${id}.SUCCEEDED`))!.params.payment;
    expect(event).toMatchObject({ amount: 2000, currency: 'EUR', requested_amount: 2000, requested_currency: 'EUR' });
    expect(event).not.toHaveProperty('discrepancy');
    expect(event).toHaveProperty('reason', null);
  });
});

describe("by the PSP's reference: a dependent command naming our authorization by the reference our SUCCESS returned is checked the same", () => {
  /** The PSP's reference of `auth` (what its SUCCESS event's `gateway_response.reference` told the OMS). */
  async function pspReference(auth: PaymentCommand): Promise<string> {
    const ref = (await ledger.get(auth.payment.operation_reference!))?.gatewayReference;
    expect(ref).toEqual(expect.stringMatching(/^auth_/));
    return ref!;
  }

  /** A command naming `auth` by its PSP reference, same order unless overridden. */
  async function byReference(command: PaymentCommand['command'], auth: PaymentCommand, payment: Partial<Payment> = {}): Promise<string> {
    return record(channelCommand(command, {}, { gateway_key: await pspReference(auth), order_id: auth.payment.order_id, amount: 1000, ...payment }));
  }

  it('refuses a capture in another currency than the authorization its PSP reference names, before any PSP call', async () => {
    const auth = await authorized({ currency: 'EUR' });
    const captureId = await byReference('capture', auth, { currency: 'USD' });
    const requests = sim.counters().requests;
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(captureId))?.reason).toBe('currency_mismatch');
    expect((await events.load(`${captureId}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'currency_mismatch',
      field: 'payment.currency',
    });
  });

  it("refuses a capture of another gateway_account naming this account's PSP reference (the index is per gateway, the account is still checked)", async () => {
    const auth = await authorized({ gateway_account: ACCOUNTS[0] });
    const before = await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'authorization_scope_mismatch' });
    const captureId = await byReference('capture', auth, { gateway_account: ACCOUNTS[1] });
    const requests = sim.counters().requests;
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(captureId))?.reason).toBe('authorization_scope_mismatch');
    expect((await events.load(`${captureId}.FAILED`))?.params.payment).toMatchObject({ field: 'payment.gateway_account' });
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'authorization_scope_mismatch' })).toBe(before + 1);
  });

  it('refuses a capture by PSP reference above what the authorization has left, and still sends one within it once, with the key as given', async () => {
    const auth = await authorized({ amount: 5000 });
    const ref = await pspReference(auth);
    const first = await byReference('capture', auth, { amount: 3000 });
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[first]).toBe(1);
    expect((await ledger.get(first))?.payment.gateway_key).toBe(ref);
    const tooMuch = await byReference('capture', auth, { amount: 2500 });
    const requests = sim.counters().requests;
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_authorized');
    const rest = await byReference('capture', auth, { amount: 2000 });
    expect(await service.deliver(rest)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[rest]).toBe(1);
  });

  it('sends a PSP reference we never saw as given (the PSP decides)', async () => {
    const captureId = await record(channelCommand('capture', {}, { gateway_key: 'auth_never_seen_by_us', amount: 1000, currency: 'EUR' }));
    const requests = sim.counters().requests;
    const unknown = await metricValue('pb_authorization_reference_lookups_total', { gateway: 'simulator', result: 'unknown' });
    await service.deliver(captureId);
    expect(sim.counters().requests).toBeGreaterThan(requests);
    expect(await metricValue('pb_authorization_reference_lookups_total', { gateway: 'simulator', result: 'unknown' })).toBe(unknown + 1);
    const reason = (await ledger.get(captureId))?.reason;
    expect(Object.values(AUTHORIZATION_REFUSALS)).not.toContain(reason);
  });

  it('follows a reference the capture took over (as a Stripe capture answers with the PaymentIntent id) back to the authorization', async () => {
    const auth = await authorized({ amount: 5000, currency: 'EUR' });
    const ref = await pspReference(auth);
    const capture = await byReference('capture', auth, { amount: 3000 });
    // Sent as delivery sends it (registered among the authorization's dependents), and its outcome holds the
    // reference, as on Stripe (its answer names the PaymentIntent).
    expect(await ledger.authorizationByReference('simulator', ref, capture)).toMatchObject({ authorization: true, record: { command: 'authorize' } });
    await ledger.transition(capture, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const captured = await ledger.get(capture);
    expect((await recorder.apply(captured!, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: ref }, 'response')).state).toBe('SUCCEEDED');
    expect(await ledger.findByReference('simulator', ref)).toBe(capture);
    const otherCurrency = await byReference('refund', auth, { amount: 100, currency: 'USD' });
    expect(await service.deliver(otherCurrency)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(otherCurrency))?.reason).toBe('currency_mismatch');
    const requests = sim.counters().requests;
    const overRefund = await byReference('refund', auth, { amount: 3500 });
    expect(await service.deliver(overRefund)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await ledger.get(overRefund))?.reason).toBe('amount_exceeds_captured');
  });
});

describe('a cancel naming an authorization the ledger holds FAILED (by PSP reference, or by our id after a late success): what the PSP holds, never the figure its refusal carried', () => {
  /** An authorization (or sale) of 5000 the PSP refused with a figure of 0, its reference indexed as the refusal named it. */
  async function refused(command: 'authorize' | 'sale' = 'authorize'): Promise<{ op: OperationRecord; reference: string }> {
    const cmd = channelCommand(command, {}, { gateway_key: 'pm_card_visa', amount: 5000, currency: 'EUR' });
    const id = await record(cmd);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const reference = `auth_refused_${id}`;
    const outcome = { status: 'FAIL' as const, gatewayStatus: 'declined', reason: 'do_not_honor', gatewayReference: reference, amount: 0, currency: 'EUR' };
    const op = await recorder.apply((await ledger.get(id))!, outcome, 'response');
    expect(op).toMatchObject({ state: 'FAILED', confirmedAmount: 0 });
    expect(await ledger.findByReference('simulator', reference)).toBe(id);
    return { op, reference };
  }

  /**
   * The PSP did it after all, for `amount` (a late success: a succeeded_after_failure adjustment, as the webhook records
   * it), at `occurredAt` (epoch ms) when given.
   */
  async function lateSuccess(op: OperationRecord, amount: number, occurredAt?: number): Promise<void> {
    await fact(op, 'succeeded_after_failure', `evt_late_${op.id}`, amount, occurredAt);
  }

  /** The PSP released it (`kind`: its lapse, or its cancellation), at `occurredAt` (epoch ms) when given. */
  async function release(op: OperationRecord, kind: 'authorization_expired' | 'failed_after_success', occurredAt?: number): Promise<void> {
    await fact(op, kind, `evt_release_${op.id}`, 5000, occurredAt);
  }

  async function fact(op: OperationRecord, kind: AdjustmentKind, pspEventId: string, amount: number, occurredAt?: number): Promise<void> {
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const recorded = await adjustments.recordAdjustment(op, {
      kind,
      direction: op.command === 'sale' && kind === 'succeeded_after_failure' ? 'credit' : 'none',
      amount,
      currency: 'EUR',
      gateway: 'simulator',
      pspEventId,
      source: 'webhook',
      ...(occurredAt !== undefined ? { occurredAt } : {}),
    });
    expect(recorded.created).toBe(true);
    // Recorded in separate milliseconds: the recording order is the order of the calls.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  async function cancelOf(op: OperationRecord, reference: string): Promise<string> {
    return record(channelCommand('cancel', {}, { gateway_key: reference, order_id: op.payment.order_id, amount: 5000, currency: 'EUR' }));
  }

  it('authorised after all for 3000 of the 5000 (its late success recorded): the cancel asks 3000, counted and said', async () => {
    const { op, reference } = await refused();
    await lateSuccess(op, 3000);
    const cancel = await cancelOf(op, reference);
    const resolved = await resolveOperationContext((await ledger.get(cancel))!, ledger, { checkAmounts: true });
    expect(resolved).toMatchObject({
      context: { payment: { amount: 3000, currency: 'EUR', gateway_key: reference } },
      authorizationId: op.id,
      failedAuthorization: { authorizationId: op.id, held: 'late_success', amount: 3000, currency: 'EUR' },
    });
    const before = (await metricValue('pb_cancels_of_failed_authorizations_total', { gateway: 'simulator', held: 'late_success' })) ?? 0;
    const requests = sim.counters().requests;
    await service.deliver(cancel);
    // Sent: the PSP holds it, whatever the ledger's refusal said.
    expect(sim.counters().requests).toBeGreaterThan(requests);
    expect(await metricValue('pb_cancels_of_failed_authorizations_total', { gateway: 'simulator', held: 'late_success' })).toBe(before + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === cancel && l.held === 'late_success');
    expect(line).toMatchObject({ level: 'info', authorization_id: op.id, amount: 3000, currency: 'EUR', held_amount: 3000, held_currency: 'EUR' });
  });

  it("nothing on record says the PSP holds anything: sent for the cancel's own amount (the PSP decides), never cut to the refusal's 0; a warning", async () => {
    const { op, reference } = await refused();
    const cancel = await cancelOf(op, reference);
    const resolved = await resolveOperationContext((await ledger.get(cancel))!, ledger, { checkAmounts: true });
    expect(resolved).toMatchObject({
      context: { payment: { amount: 5000, currency: 'EUR', gateway_key: reference } },
      failedAuthorization: { authorizationId: op.id, held: 'unknown' },
    });
    const before = (await metricValue('pb_cancels_of_failed_authorizations_total', { gateway: 'simulator', held: 'unknown' })) ?? 0;
    await service.deliver(cancel);
    expect(await metricValue('pb_cancels_of_failed_authorizations_total', { gateway: 'simulator', held: 'unknown' })).toBe(before + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === cancel && l.held === 'unknown');
    expect(line).toMatchObject({ level: 'warn', authorization_id: op.id, amount: 5000, currency: 'EUR' });
  });

  /** A cancel of `op` by our operation id (the usual way), for its 5000. */
  async function cancelById(op: OperationRecord): Promise<string> {
    return record(channelCommand('cancel', {}, { gateway_key: op.id, order_id: op.payment.order_id, amount: 5000, currency: 'EUR' }));
  }

  it('named by our operation id, authorised after all for 3000 (its late success recorded): sent as by PSP reference, for 3000, counted and said', async () => {
    const { op, reference } = await refused();
    await lateSuccess(op, 3000);
    const cancel = await cancelById(op);
    const resolved = await resolveOperationContext((await ledger.get(cancel))!, ledger, { checkAmounts: true });
    expect(resolved).toMatchObject({
      context: { payment: { amount: 3000, currency: 'EUR', gateway: 'simulator', gateway_key: reference } },
      failedAuthorization: { authorizationId: op.id, held: 'late_success', amount: 3000, currency: 'EUR' },
    });
    const before = (await metricValue('pb_cancels_of_failed_authorizations_total', { gateway: 'simulator', held: 'late_success' })) ?? 0;
    const requests = sim.counters().requests;
    await service.deliver(cancel);
    expect((await ledger.get(cancel))?.reason).not.toBe('AUTHORIZATION_FAILED');
    expect(sim.counters().requests).toBeGreaterThan(requests);
    expect(await metricValue('pb_cancels_of_failed_authorizations_total', { gateway: 'simulator', held: 'late_success' })).toBe(before + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === cancel && l.held === 'late_success');
    expect(line).toMatchObject({ level: 'info', authorization_id: op.id, amount: 3000, currency: 'EUR', held_amount: 3000, held_currency: 'EUR' });
  });

  it('named by our operation id, nothing on record says the PSP holds it: refused AUTHORIZATION_FAILED, never sent', async () => {
    const { op } = await refused();
    const cancel = await cancelById(op);
    const requests = sim.counters().requests;
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(cancel))?.reason).toBe('AUTHORIZATION_FAILED');
    expect(sim.counters().requests).toBe(requests);
  });

  it.each(['by PSP reference', 'by our operation id'] as const)(
    'released after its late success (an expiry recorded after it, undated): refused AUTHORIZATION_RELEASED %s, never sent',
    async (how) => {
      const { op, reference } = await refused();
      await lateSuccess(op, 3000);
      await release(op, 'authorization_expired');
      const cancel = how === 'by PSP reference' ? await cancelOf(op, reference) : await cancelById(op);
      const before = (await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'AUTHORIZATION_RELEASED' })) ?? 0;
      const requests = sim.counters().requests;
      expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'FAILED' });
      expect((await ledger.get(cancel))?.reason).toBe('AUTHORIZATION_RELEASED');
      expect(sim.counters().requests).toBe(requests);
      expect(await metricValue('pb_authorization_refusals_total', { gateway: 'simulator', reason: 'AUTHORIZATION_RELEASED' })).toBe(before + 1);
      const line = logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.reason === 'AUTHORIZATION_RELEASED' && l.operation_id === cancel);
      expect(line).toMatchObject({ authorization_id: op.id, released_by: 'authorization_expired' });
    },
  );

  it("by the PSP's times: a cancellation dated after the late success releases it though recorded first; one dated before does not", async () => {
    const t = Date.now() - 60_000;
    const a = await refused();
    await release(a.op, 'failed_after_success', t + 2000);
    await lateSuccess(a.op, 3000, t + 1000);
    const released = await resolveOperationContext((await ledger.get(await cancelById(a.op)))!, ledger, { checkAmounts: true });
    expect(released).toMatchObject({ fail: 'AUTHORIZATION_RELEASED', detail: { released_by: 'failed_after_success' } });

    const b = await refused();
    await lateSuccess(b.op, 3000, t + 2000);
    await release(b.op, 'authorization_expired', t + 1000);
    const held = await resolveOperationContext((await ledger.get(await cancelOf(b.op, b.reference)))!, ledger, { checkAmounts: true });
    expect(held).toMatchObject({ context: { payment: { amount: 3000 } }, failedAuthorization: { held: 'late_success', amount: 3000 } });
  });

  it('a sale the PSP charged after all (its succeeded_after_failure mark: 800): the cancel asks 800, as of a SUCCEEDED sale', async () => {
    const { op, reference } = await refused('sale');
    await lateSuccess(op, 800);
    expect((await ledger.get(op.id))?.succeededAfterFailure).toMatchObject({ amount: 800, currency: 'EUR' });
    const cancel = await cancelOf(op, reference);
    const resolved = await resolveOperationContext((await ledger.get(cancel))!, ledger, { checkAmounts: true });
    expect(resolved).toMatchObject({ context: { payment: { amount: 800, currency: 'EUR' } } });
    expect(resolved).not.toHaveProperty('failedAuthorization');
  });
});

describe('validate: its context names what the authorization holds at the PSP, whatever amount the command names', () => {
  /** The `held` of the context delivery would give the transformer for operation `id`. */
  async function heldOf(id: string): Promise<unknown> {
    const resolved = await resolveOperationContext((await ledger.get(id))!, ledger);
    if (!('context' in resolved)) throw new Error(`no context: ${JSON.stringify(resolved)}`);
    return resolved.context.held;
  }

  it('by our operation id and by the PSP reference of our authorization: the 5000 it holds, for a validate of 0', async () => {
    const auth = await authorized({ amount: 5000, currency: 'EUR' });
    expect(await heldOf(await record(dependent('validate', auth, { amount: 0, currency: 'EUR' })))).toEqual({ amount: 5000, currency: 'EUR' });
    const reference = (await ledger.get(auth.payment.operation_reference!))?.gatewayReference;
    const byReference = channelCommand('validate', {}, { gateway_key: reference, order_id: auth.payment.order_id, amount: 0, currency: 'EUR' });
    expect(await heldOf(await record(byReference))).toEqual({ amount: 5000, currency: 'EUR' });
  });

  it('names nothing for another command (a capture sends its own amount) nor for an authorization that is not ours', async () => {
    const auth = await authorized({ amount: 5000, currency: 'EUR' });
    expect(await heldOf(await record(dependent('capture', auth, { amount: 1000, currency: 'EUR' })))).toBeUndefined();
    expect(await heldOf(await record(channelCommand('validate', {}, { gateway_key: 'auth_never_seen_by_us', amount: 0, currency: 'EUR' })))).toBeUndefined();
  });
});

import { Queue } from 'bullmq';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { PaymentEvent } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient } from '../../../src/redis/redis-connection';
import { SplitStepLookup } from '../../../src/split-tender/split-step-lookup';
import { SplitTenderService } from '../../../src/split-tender/split-tender-service';
import { memberOf } from '../../../src/split-tender/split-tender-store';
import { SplitTenderPlan, cardAmount, refundReferences, stepCommand, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * What the bridge checks of a split refund's command before it reserves or sends anything: it must name the split
 * within its scope (a gateway and account of the split's tenders, its order) and in its currency; a refusal's FAIL
 * `refunded` event names the field at fault. What each tender may give back: of an `authorize` split, what the OMS
 * captured of it.
 */

let config: Config;
let redis: RedisClient;
let queue: Queue<DeliveryJobData>;
let ledger: Ledger;

beforeAll(() => {
  config = testConfig();
  redis = testRedis(config);
  queue = createDeliveryQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** A service whose events are kept, and its log lines. */
function service(): { service: SplitTenderService; events: PaymentEvent[]; lines: string[] } {
  const events: PaymentEvent[] = [];
  const { logger, lines } = captureLogger();
  const emit = async (event: PaymentEvent) => {
    events.push(event);
  };
  return { service: new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit, logger }), events, lines };
}

function plan(id: string, capture = true): SplitTenderPlan {
  return {
    id,
    channel: 'web',
    order_id: `O-${id}`,
    currency: 'EUR',
    total: 10000,
    capture,
    gift_card: { gateway: 'sim', gateway_account: 'acme-gifts', gateway_key: 'gc_tok', amount: 3000 },
    card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
    step_ids: 'namespaced',
  };
}

function refund(p: SplitTenderPlan, refundId: string, amount: number, payment: Partial<PaymentCommand['payment']> = {}): PaymentCommand {
  return {
    version: 1,
    command: 'refund',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: p.card.gateway,
      gateway_account: p.card.gateway_account,
      gateway_key: p.id,
      amount,
      currency: p.currency,
      order_id: p.order_id,
      operation_reference: refundId,
      split_tender: true,
      ...payment,
    },
  };
}

/** A split recorded and moved to DONE (its steps are not read by the refusals before the reservation). */
async function doneSplit(s: SplitTenderService, p: SplitTenderPlan): Promise<void> {
  await s.coordinator.begin(p);
  await s.coordinator.store.move(p.id, 'REDEEMING', 'DONE');
  await s.coordinator.store.close({ kind: 'split', id: p.id });
}

describe('split refund checks before anything is reserved', () => {
  it("a refund naming another merchant account, gateway or order than the split's is refused authorization_scope_mismatch naming the field: nothing reserved or sent, counted, logged", async () => {
    const { service: s, events, lines } = service();
    const p = plan(`scope-${testNamespace()}`);
    await doneSplit(s, p);
    const before = (await metricValue('pb_authorization_refusals_total', { gateway: 'sim', reason: 'authorization_scope_mismatch' })) ?? 0;
    const cases: Array<[Partial<PaymentCommand['payment']>, string]> = [
      [{ gateway_account: 'other-merchant' }, 'payment.gateway_account'],
      [{ gateway: 'other' }, 'payment.gateway'],
      [{ order_id: 'O-someone-else' }, 'payment.order_id'],
      // The gift card's gateway with the card's account: no tender of the split is paid there.
      [{ gateway_account: 'acme-gifts-x' }, 'payment.gateway_account'],
    ];
    for (const [i, [payment, field]] of cases.entries()) {
      const refundId = `${p.id}.r${String.fromCharCode(97 + i)}`;
      expect(await s.startRefund(refundId, refund(p, refundId, 1000, payment))).toEqual({ refused: 'authorization_scope_mismatch' });
      const event = events.find((e) => e.eventId.startsWith(`${refundId}.split-refund.refused.`));
      expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'authorization_scope_mismatch', field, operation_reference: refundId });
      expect(await s.coordinator.store.refund(p.id, refundId)).toBeNull();
      expect(lines.some((l) => l.includes('split tender refund refused') && l.includes(refundId) && l.includes(field))).toBe(true);
    }
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'sim', reason: 'authorization_scope_mismatch' })).toBe(before + cases.length);
    // Nothing was reserved: the whole order is still refundable.
    expect(await redis.hget(s.coordinator.store.key(p.id), 'refunded_card')).toBeNull();
    expect(await redis.hget(s.coordinator.store.key(p.id), 'refunded_gift_card')).toBeNull();
  });

  it("a refund naming the gift card tender's gateway and account, or no order, is in scope", async () => {
    const { service: s } = service();
    const p = plan(`inscope-${testNamespace()}`);
    await doneSplit(s, p);
    expect(await s.startRefund(`${p.id}.ra`, refund(p, `${p.id}.ra`, 1000, { gateway_account: 'acme-gifts' }))).toEqual({});
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 1000, { order_id: undefined }))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.ra`)).toMatchObject({ card: 1000, gift_card: 0 });
  });

  it("a refund naming the gateway the card part was routed to (as its step's event reported it) is in scope", async () => {
    const { service: s } = service();
    const p = plan(`routed-${testNamespace()}`);
    await doneSplit(s, p);
    const card = stepReferences(p).card;
    const routing = { gateway: 'sim-b', requested: 'sim', candidates: ['sim', 'sim-b'], index: 1, decisions: [] };
    await ledger.create(card, stepCommand(p, 'sale', card, 'card', cardAmount(p)), Date.now(), undefined, { routing });
    expect(await s.startRefund(`${p.id}.ra`, refund(p, `${p.id}.ra`, 1000, { gateway: 'sim-b' }))).toEqual({});
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 1000, { gateway: 'sim-c' }))).toEqual({ refused: 'authorization_scope_mismatch' });
  });

  it("a corrected refund under the same id refused again is told so: its FAIL event is its own, not the first refusal's (the outbox keeps one event per id); a redelivery is one event", async () => {
    // The outbox records an event once per id and leaves one on record alone (`OutcomeRecorder.emit`).
    const told = new Map<string, PaymentEvent>();
    const { logger } = captureLogger();
    const emit = async (event: PaymentEvent) => {
      if (!told.has(event.eventId)) told.set(event.eventId, event);
    };
    const s = new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit, logger });
    const p = plan(`again-${testNamespace()}`);
    await doneSplit(s, p);
    const refundId = `${p.id}.r`;
    // Another merchant account: refused; redelivered, the same refusal.
    const wrongAccount = refund(p, refundId, 20000, { gateway_account: 'other-merchant' });
    expect(await s.startRefund(refundId, wrongAccount)).toEqual({ refused: 'authorization_scope_mismatch' });
    expect(await s.startRefund(refundId, wrongAccount)).toEqual({ refused: 'authorization_scope_mismatch' });
    expect(told.size).toBe(1);
    // Corrected account, the amount still above the order: refused again, and the OMS hears of it.
    expect(await s.startRefund(refundId, refund(p, refundId, 20000))).toEqual({ refused: 'amount_exceeds_refundable' });
    const fails = [...told.values()].map((e) => e.params.payment as Record<string, unknown>);
    expect(fails.map((f) => [f.reason, f.field, f.operation_reference, f.event_id])).toEqual([
      ['authorization_scope_mismatch', 'payment.gateway_account', refundId, [...told.keys()][0]],
      ['amount_exceeds_refundable', 'payment.amount', refundId, [...told.keys()][1]],
    ]);
  });

  it('a refusal counted once when recording its FAIL event failed and the consumer retried the command', async () => {
    let outage = true;
    const { logger } = captureLogger();
    const emit = async () => {
      if (outage) {
        outage = false;
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      }
    };
    const s = new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit, logger });
    const p = plan(`retry-${testNamespace()}`);
    await doneSplit(s, p);
    const refundId = `${p.id}.r`;
    const scope = { gateway: 'sim', reason: 'authorization_scope_mismatch' };
    const before = (await metricValue('pb_authorization_refusals_total', scope)) ?? 0;
    const command = refund(p, refundId, 1000, { gateway_account: 'other-merchant' });
    await expect(s.startRefund(refundId, command)).rejects.toThrow('ECONNREFUSED');
    expect(await s.startRefund(refundId, command)).toEqual({ refused: 'authorization_scope_mismatch' });
    expect(await metricValue('pb_authorization_refusals_total', scope)).toBe(before + 1);
    // So is one above what the OMS captured of an authorize split (its card part's delivery would have refused it).
    const q = plan(`retry-capt-${testNamespace()}`, false);
    await doneSplit(s, q);
    await succeededStep(q, 'gift_card', 3000);
    await captured(q, await succeededStep(q, 'card', 7000), `${q.id}-cap-card`, 5000);
    const captures = { gateway: 'sim', reason: 'amount_exceeds_captured' };
    const capturedBefore = (await metricValue('pb_authorization_refusals_total', captures)) ?? 0;
    outage = true;
    await expect(s.startRefund(`${q.id}.r`, refund(q, `${q.id}.r`, 6000))).rejects.toThrow('ECONNREFUSED');
    expect(await s.startRefund(`${q.id}.r`, refund(q, `${q.id}.r`, 6000))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(await metricValue('pb_authorization_refusals_total', captures)).toBe(capturedBefore + 1);
  });

  it('a refund in another currency than the split is refused currency_mismatch naming payment.currency', async () => {
    const { service: s, events } = service();
    const p = plan(`cur-${testNamespace()}`);
    await doneSplit(s, p);
    const refundId = `${p.id}.r`;
    expect(await s.startRefund(refundId, refund(p, refundId, 1000, { currency: 'USD' }))).toEqual({ refused: 'currency_mismatch' });
    expect(events.find((e) => e.eventId.startsWith(`${refundId}.split-refund.refused.`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'currency_mismatch',
      field: 'payment.currency',
    });
  });
});

/** A step of `p` recorded SUCCEEDED in the ledger for `confirmed` (the PSP's figure). */
async function succeededStep(p: SplitTenderPlan, part: 'gift_card' | 'card', confirmed: number): Promise<string> {
  const refs = stepReferences(p);
  const id = part === 'card' ? refs.card : refs.giftCard;
  const asked = part === 'card' ? cardAmount(p) : p.gift_card.amount;
  await ledger.create(id, stepCommand(p, p.capture === true ? 'sale' : 'authorize', id, part, asked), Date.now(), { event: 'attempt', gateway: 'sim' });
  await ledger.transitionAndGet(
    id,
    'SUCCEEDED',
    { event: 'outcome', status: 'SUCCESS' },
    { gatewayReference: `psp_${id}`, confirmedAmount: confirmed, confirmedCurrency: p.currency },
    { reference: { gateway: 'sim', reference: `psp_${id}` } },
  );
  return id;
}

/** A capture (or refund) of `amount` of step `authId` (named by our id, as the OMS does), recorded SUCCEEDED. */
async function captured(p: SplitTenderPlan, authId: string, captureId: string, amount: number, type: 'capture' | 'refund' = 'capture'): Promise<void> {
  const part = authId === stepReferences(p).card ? 'card' : 'gift_card';
  const command: PaymentCommand = { ...stepCommand(p, type, captureId, part, amount, { key: authId }) };
  await ledger.create(captureId, command, Date.now(), { event: 'attempt' });
  await ledger.authorizationView(authId, captureId);
  const closes = type === 'capture' ? { closesAuthorization: { gateway: 'sim', key: authId } } : {};
  await ledger.transition(captureId, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${captureId}`, ...closes });
}

/** The PSP's word that FAILED refund `id` was done after all, for `amount` (a `succeeded_after_failure` adjustment, as a webhook records it). */
async function doneAfterAll(id: string, amount: number): Promise<void> {
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  try {
    const { logger } = captureLogger();
    const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger });
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger });
    await adjustments.recordAdjustment((await ledger.get(id))!, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount,
      currency: 'EUR',
      gateway: 'sim',
      pspEventId: `evt_done_${id}`,
      source: 'webhook',
    });
  } finally {
    await eventsQueue.close();
  }
  expect((await ledger.get(id))?.succeededAfterFailure).toMatchObject({ amount });
}

describe('what a refund of an authorize split may give back per tender', () => {
  it('is what the OMS captured of each authorization, not what it holds: the card captured in part, the rest goes to the gift card', async () => {
    const { service: s, lines } = service();
    const p = plan(`capt-${testNamespace()}`, false);
    await doneSplit(s, p);
    const gc = await succeededStep(p, 'gift_card', 3000);
    const card = await succeededStep(p, 'card', 7000);
    // The OMS shipped part of the order: 5000 of the card's 7000 captured, the gift card's 3000 in full.
    await captured(p, card, `${p.id}-cap-card`, 5000);
    await captured(p, gc, `${p.id}-cap-gc`, 3000);
    // 8000 is all that was collected: card first takes the card's 5000, the gift card the rest.
    const before = (await metricValue('pb_authorization_refusals_total', { gateway: 'sim', reason: 'amount_exceeds_captured' })) ?? 0;
    expect(await s.startRefund(`${p.id}.ra`, refund(p, `${p.id}.ra`, 8001))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'sim', reason: 'amount_exceeds_captured' })).toBe(before + 1);
    expect(lines.some((l) => l.includes('more than was captured of its tenders') && l.includes('"card_refundable":5000'))).toBe(true);
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 8000))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.rb`)).toMatchObject({ card: 5000, gift_card: 3000 });
  });

  it('nothing captured yet: a refund is refused amount_exceeds_refundable, nothing reserved or sent (an authorization is cancelled, not refunded)', async () => {
    const { service: s, events } = service();
    const p = plan(`uncapt-${testNamespace()}`, false);
    await doneSplit(s, p);
    await succeededStep(p, 'gift_card', 3000);
    await succeededStep(p, 'card', 7000);
    const refundId = `${p.id}.r`;
    expect(await s.startRefund(refundId, refund(p, refundId, 1000))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(events.find((e) => e.eventId.startsWith(`${refundId}.split-refund.refused.`))?.params.payment).toMatchObject({ field: 'payment.amount' });
    expect(await s.coordinator.store.refund(p.id, refundId)).toBeNull();
  });

  it("less what refunds of a tender's own operation gave back outside the split's refunds (an OMS refund of `_<id>.card`); the split's own refund parts are counted once", async () => {
    const { service: s } = service();
    const p = plan(`ord-${testNamespace()}`, true);
    await doneSplit(s, p);
    await succeededStep(p, 'gift_card', 3000);
    const card = await succeededStep(p, 'card', 7000);
    // The OMS refunded 2000 of the card part by an ordinary refund naming the step.
    await captured(p, card, `${p.id}-refund-card`, 2000, 'refund');
    // A split refund of 1000, its card part done.
    const r1 = `${p.id}.ra`;
    expect('refund' in (await s.coordinator.beginRefund(p, r1, 1000, 'card_first', null))).toBe(true);
    await captured(p, card, refundReferences({ refundId: r1, stepIds: 'namespaced' }).card, 1000, 'refund');
    await s.coordinator.store.finishRefund(p.id, r1, 'REFUNDED', { card: 0, gift_card: 0 });
    // Left: the card's 7000 less 2000 and 1000, the gift card's 3000.
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 7001))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(await s.startRefund(`${p.id}.rc`, refund(p, `${p.id}.rc`, 7000))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.rc`)).toMatchObject({ card: 4000, gift_card: 3000 });
  });

  it("less what refunds of a tender's operation recorded FAILED that its PSP retries itself may still give back (held_for_psp_retry), the split's own failed parts too: their delivery refuses a part needing it (amount_held_by_failed_refund)", async () => {
    const { service: s } = service();
    const p = plan(`held-${testNamespace()}`, true);
    await doneSplit(s, p);
    await succeededStep(p, 'gift_card', 3000);
    const card = await succeededStep(p, 'card', 7000);
    /** A refund of the card part recorded FAILED for a technical issue Adyen retries itself. */
    const heldRefund = async (id: string, amount: number) => {
      await ledger.create(id, stepCommand(p, 'refund', id, 'card', amount, { key: card }), Date.now(), { event: 'attempt' });
      await ledger.authorizationView(card, id);
      await ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: 'technical', heldForPspRetry: 'technical' });
    };
    // An OMS refund of 2000 of the card part, held for the PSP's retry.
    await heldRefund(`${p.id}-refund-card`, 2000);
    // A split refund of 1000 whose card part failed the same way: the refund failed, its reservation released.
    const r1 = `${p.id}.ra`;
    expect('refund' in (await s.coordinator.beginRefund(p, r1, 1000, 'card_first', null))).toBe(true);
    await heldRefund(refundReferences({ refundId: r1, stepIds: 'namespaced' }).card, 1000);
    await s.coordinator.store.finishRefund(p.id, r1, 'REFUND_FAILED', { card: 1000, gift_card: 0 });
    // Left: the card's 7000 less the 3000 its PSP may still give back, the gift card's 3000.
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 7001))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(await s.startRefund(`${p.id}.rc`, refund(p, `${p.id}.rc`, 7000))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.rc`)).toMatchObject({ card: 4000, gift_card: 3000 });
  });

  it('a refund part its PSP confirmed for less than asked keeps only what was confirmed reserved: the rest is released for a later refund, logged, counted', async () => {
    const { service: s, events, lines } = service();
    const p = plan(`short-${testNamespace()}`, true);
    await doneSplit(s, p);
    await succeededStep(p, 'gift_card', 3000);
    await succeededStep(p, 'card', 7000);
    const r1 = `${p.id}.ra`;
    expect('refund' in (await s.coordinator.beginRefund(p, r1, 5000, 'card_first', refund(p, r1, 5000)))).toBe(true);
    expect(await s.coordinator.store.refund(p.id, r1)).toMatchObject({ card: 5000, gift_card: 0 });
    // Its card part sent, its delivery played here: the PSP refunds 3000 of the 5000 asked.
    expect((await s.coordinator.advanceRefund(p, r1))?.state).toBe('REFUNDING');
    const part = refundReferences({ refundId: r1, stepIds: 'namespaced' }).card;
    expect(await ledger.get(part)).toMatchObject({ command: 'refund', payment: { amount: 5000 } });
    await ledger.transition(part, 'SENT', { event: 'attempt' });
    await ledger.transition(part, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${part}`, confirmedAmount: 3000, confirmedCurrency: 'EUR' });
    const before = (await metricValue('pb_split_tender_refund_parts_short_total', { tender: 'card' })) ?? 0;
    expect((await s.coordinator.advanceRefund(p, r1))?.state).toBe('REFUNDED');
    // Given back: 3000 of the card's 7000. Left: the card's 4000 and the gift card's 3000.
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 7001))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(await s.startRefund(`${p.id}.rc`, refund(p, `${p.id}.rc`, 7000))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.rc`)).toMatchObject({ card: 4000, gift_card: 3000 });
    expect(events.find((e) => e.eventId === `${r1}.split-refund.REFUNDED`)?.params.payment).toMatchObject({ amount: 3000, requested_amount: 5000 });
    expect(await metricValue('pb_split_tender_refund_parts_short_total', { tender: 'card' })).toBe(before + 1);
    expect(lines.filter((l) => l.includes('confirmed for less than asked: the remainder is released') && l.includes('"released":2000'))).toHaveLength(1);
  });

  it('a refund part that failed, then the PSP reported it succeeded for less than asked, counts as refunded at what the PSP confirmed', async () => {
    const { service: s, lines } = service();
    const p = plan(`late-short-${testNamespace()}`, true);
    await doneSplit(s, p);
    await succeededStep(p, 'gift_card', 3000);
    await succeededStep(p, 'card', 7000);
    const r1 = `${p.id}.ra`;
    expect('refund' in (await s.coordinator.beginRefund(p, r1, 5000, 'card_first', refund(p, r1, 5000)))).toBe(true);
    // Its card part sent and recorded FAILED: the refund fails, its 5000 released.
    expect((await s.coordinator.advanceRefund(p, r1))?.state).toBe('REFUNDING');
    const part = refundReferences({ refundId: r1, stepIds: 'namespaced' }).card;
    await ledger.transition(part, 'SENT', { event: 'attempt' });
    await ledger.transition(part, 'FAILED', { event: 'outcome' }, { reason: 'declined' });
    expect((await s.coordinator.advanceRefund(p, r1))?.state).toBe('REFUND_FAILED');
    // Then the PSP says it refunded 3000 of it after all.
    await doneAfterAll(part, 3000);
    // Given back: 3000 of the card's 7000. Left: the card's 4000 and the gift card's 3000.
    expect(await s.startRefund(`${p.id}.rb`, refund(p, `${p.id}.rb`, 7001))).toEqual({ refused: 'amount_exceeds_refundable' });
    expect(await s.startRefund(`${p.id}.rc`, refund(p, `${p.id}.rc`, 7000))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.rc`)).toMatchObject({ card: 4000, gift_card: 3000 });
    expect(lines.some((l) => l.includes('then the PSP reported it succeeded') && l.includes('"amount":3000') && l.includes('"asked":5000'))).toBe(true);
  });

  it('a sale split gives back what its PSPs confirmed, as before', async () => {
    const { service: s } = service();
    const p = plan(`sale-${testNamespace()}`, true);
    await doneSplit(s, p);
    await succeededStep(p, 'gift_card', 3000);
    await succeededStep(p, 'card', 7000);
    expect(await s.startRefund(`${p.id}.r`, refund(p, `${p.id}.r`, 10000))).toEqual({});
    expect(await s.coordinator.store.refund(p.id, `${p.id}.r`)).toMatchObject({ card: 7000, gift_card: 3000 });
  });
});

describe("a rolling back authorize split's reversals, by what the ledger holds of each tender", () => {
  it('sends nothing for a redemption the OMS captured and refunded in full, and refunds the captured card part instead of voiding it: once each, logged, counted, reported', async () => {
    const { service: s, events, lines } = service();
    const p = plan(`rbk-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await s.coordinator.begin(p);
    // The redemption captured and refunded in full by the OMS; the card part approved for half and captured in part.
    await succeededStep(p, 'gift_card', 3000);
    await captured(p, refs.giftCard, `${p.id}-gccap`, 3000);
    await captured(p, refs.giftCard, `${p.id}-gcref`, 3000, 'refund');
    await succeededStep(p, 'card', 3500);
    await captured(p, refs.card, `${p.id}-cardcap`, 2000);
    expect(await s.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    const nothing = await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'nothing_left' });
    const refunded = await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'card', outcome: 'refunded' });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('none:3000');
    expect(await s.coordinator.store.reversal(p.id, 'card')).toBe('refund:2000');
    // Nothing sent for the gift card; the card's captured 20.00 refunded under its fixed id, naming the card part.
    expect(await ledger.get(refs.giftCardVoid)).toBeNull();
    expect(await ledger.get(refs.giftCardRefund)).toBeNull();
    expect(await ledger.get(refs.cardVoid)).toBeNull();
    expect(await ledger.get(refs.cardRefund)).toMatchObject({ command: 'refund', payment: { amount: 2000, gateway_key: refs.card } });
    // Its delivery, played here: sent, then the PSP's success.
    await ledger.transition(refs.cardRefund, 'SENT', { event: 'attempt' });
    await ledger.transition(refs.cardRefund, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${refs.cardRefund}` });
    expect(await s.coordinator.advance(p)).toBe('ROLLED_BACK');
    expect(await s.coordinator.advance(p)).toBe('ROLLED_BACK');
    const settled = events.find((e) => e.eventId === `${p.id}.split-tender.ROLLED_BACK`)?.params.payment as {
      status: string;
      reason: string;
      split_tender: { tenders: Array<Record<string, unknown>>; refunded_before_rollback?: Record<string, number> };
    };
    expect(settled).toMatchObject({ status: 'FAIL', reason: 'card_part_short_rolled_back' });
    expect(settled.split_tender.refunded_before_rollback).toEqual({ gift_card: 3000 });
    expect(settled.split_tender.tenders.find((t) => t.role === 'release')).toMatchObject({ operation_reference: refs.cardRefund, status: 'SUCCESS' });
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'nothing_left' })).toBe(nothing + 1);
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'card', outcome: 'refunded' })).toBe(refunded + 1);
    expect(lines.filter((l) => l.includes('refunded in full by the OMS already') && l.includes(p.id))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('the card part was captured before the rollback') && l.includes(p.id))).toHaveLength(1);
  });
});

describe("a rolling back authorize split's tender with a refund of the OMS held for its PSP's retry", () => {
  it('counts nothing of it as given back: the reversal waits for its outcome (the other tender is released meanwhile), then refunds what the PSP did not give back', async () => {
    const { service: s, events, lines } = service();
    const p = plan(`rbh-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await s.coordinator.begin(p);
    // The redemption captured in full by the OMS, then refunded by it: that refund failed for a technical issue its PSP
    // retries itself, so it is neither confirmed given back nor confirmed kept. The card part approved for half.
    await succeededStep(p, 'gift_card', 3000);
    await captured(p, refs.giftCard, `${p.id}-gccap`, 3000);
    const omsRefund = `${p.id}-gcref`;
    await ledger.create(omsRefund, stepCommand(p, 'refund', omsRefund, 'gift_card', 3000, { key: refs.giftCard }), Date.now(), { event: 'attempt' });
    await ledger.authorizationView(refs.giftCard, omsRefund);
    await ledger.transition(omsRefund, 'FAILED', { event: 'outcome' }, { reason: 'technical', heldForPspRetry: 'technical' });
    await succeededStep(p, 'card', 3500);
    expect(await s.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    const waits = (await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'held_for_psp_retry' })) ?? 0;
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    // Not decided, nothing sent for the gift card; the card part's void goes.
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
    expect(await ledger.get(refs.giftCardVoid)).toBeNull();
    expect(await ledger.get(refs.giftCardRefund)).toBeNull();
    expect(await ledger.get(refs.cardVoid)).toMatchObject({ command: 'cancel', payment: { amount: 3500, gateway_key: refs.card } });
    await ledger.transition(refs.cardVoid, 'SENT', { event: 'attempt' });
    await ledger.transition(refs.cardVoid, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${refs.cardVoid}` });
    // Still waiting (pending, not given back), said once.
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(events.some((e) => e.eventId.startsWith(`${p.id}.split-tender.`))).toBe(false);
    expect(lines.filter((l) => l.includes("held for their PSP's retry, not confirmed") && l.includes('"held_by_refunds":3000'))).toHaveLength(1);
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'held_for_psp_retry' })).toBe(waits + 1);
    // Its outcome arrives: no retry will come (an operator released the hold after Adyen said so). The 3000 is the
    // shopper's still: refunded by the rollback.
    expect(await ledger.releaseHeldForPspRetry(omsRefund, { reason: 'Adyen support: no retry', by: 'test' })).toMatchObject({ result: 'released' });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('refund:3000');
    expect(await ledger.get(refs.giftCardRefund)).toMatchObject({ command: 'refund', payment: { amount: 3000, gateway_key: refs.giftCard } });
    await ledger.transition(refs.giftCardRefund, 'SENT', { event: 'attempt' });
    await ledger.transition(refs.giftCardRefund, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${refs.giftCardRefund}` });
    expect(await s.coordinator.advance(p)).toBe('ROLLED_BACK');
    const settled = events.find((e) => e.eventId === `${p.id}.split-tender.ROLLED_BACK`)?.params.payment as {
      split_tender: { tenders: Array<Record<string, unknown>>; refunded_before_rollback?: Record<string, number> };
    };
    expect(settled.split_tender.refunded_before_rollback).toBeUndefined();
    expect(settled.split_tender.tenders.find((t) => t.role === 'reverse')).toMatchObject({ operation_reference: refs.giftCardRefund, status: 'SUCCESS' });
  });
});

describe("a rolling back authorize split's tender whose held refund's outcome arrives", () => {
  /** A rolling back split whose redemption the OMS captured in full, then refunded `refunded` of: that refund held for its PSP's retry. */
  async function heldRollback(name: string, refunded: number) {
    const ctx = service();
    const p = plan(`${name}-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await ctx.service.coordinator.begin(p);
    await succeededStep(p, 'gift_card', 3000);
    await captured(p, refs.giftCard, `${p.id}-gccap`, 3000);
    const omsRefund = `${p.id}-gcref`;
    await ledger.create(omsRefund, stepCommand(p, 'refund', omsRefund, 'gift_card', refunded, { key: refs.giftCard }), Date.now(), { event: 'attempt' });
    await ledger.authorizationView(refs.giftCard, omsRefund);
    await ledger.transition(omsRefund, 'FAILED', { event: 'outcome' }, { reason: 'technical', heldForPspRetry: 'technical' });
    await succeededStep(p, 'card', 3500);
    expect(await ctx.service.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    return { ...ctx, p, refs, omsRefund };
  }

  /** The card part's void, played here: sent, then the PSP's success. */
  async function cardVoided(refs: ReturnType<typeof stepReferences>): Promise<void> {
    await ledger.transition(refs.cardVoid, 'SENT', { event: 'attempt' });
    await ledger.transition(refs.cardVoid, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${refs.cardVoid}` });
  }

  it("the PSP's retry recorded done: the refund counts as given back at what the PSP confirmed; nothing sent when it gave all back, the rest refunded otherwise", async () => {
    // All of the captured 3000 held, then given back by the retry: nothing sent, the split ROLLED_BACK saying so.
    // Played by the sweep's own pass: while it waits the split stays open, due again after the sweep interval.
    const all = await heldRollback('rbd', 3000);
    const member = { kind: 'split' as const, id: all.p.id };
    const { store } = all.service.coordinator;
    const dueAt = async () => Number(await redis.zscore(store.openKey, memberOf(member)));
    await all.service.advanceMember(member);
    await cardVoided(all.refs);
    const before = Date.now();
    await all.service.advanceMember(member);
    expect(await store.state(all.p.id)).toBe('ROLLING_BACK');
    expect(await store.reversal(all.p.id, 'gift_card')).toBeNull();
    expect(await dueAt()).toBeGreaterThanOrEqual(before + config.splitTender.sweepIntervalMs);
    await doneAfterAll(all.omsRefund, 3000);
    await all.service.advanceMember(member);
    expect(await store.state(all.p.id)).toBe('ROLLED_BACK');
    expect(await redis.zscore(store.openKey, memberOf(member))).toBeNull();
    expect(await all.service.coordinator.store.reversal(all.p.id, 'gift_card')).toBe('none:3000');
    expect(await ledger.get(all.refs.giftCardRefund)).toBeNull();
    expect(await ledger.get(all.refs.giftCardVoid)).toBeNull();
    const settled = all.events.find((e) => e.eventId === `${all.p.id}.split-tender.ROLLED_BACK`)?.params.payment as {
      split_tender: { refunded_before_rollback?: Record<string, number> };
    };
    expect(settled.split_tender.refunded_before_rollback).toEqual({ gift_card: 3000 });

    // 2000 of it held, the retry done: the 1000 the OMS did not refund is refunded by the rollback.
    const part = await heldRollback('rbp', 2000);
    expect(await part.service.coordinator.advance(part.p)).toBe('ROLLING_BACK');
    await cardVoided(part.refs);
    await doneAfterAll(part.omsRefund, 2000);
    expect(await part.service.coordinator.advance(part.p)).toBe('ROLLING_BACK');
    expect(await part.service.coordinator.store.reversal(part.p.id, 'gift_card')).toBe('refund:1000');
    expect(await ledger.get(part.refs.giftCardRefund)).toMatchObject({ command: 'refund', payment: { amount: 1000, gateway_key: part.refs.giftCard } });
  });

  it("the card part's held refund makes the card part's reversal wait the same way (card_reversal_waiting), the redemption's void going meanwhile", async () => {
    const { service: s, lines } = service();
    const p = plan(`rbc-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await s.coordinator.begin(p);
    await succeededStep(p, 'gift_card', 3000);
    // The card part approved for half, 2000 of it captured by the OMS, then refunded by it: held for its PSP's retry.
    await succeededStep(p, 'card', 3500);
    await captured(p, refs.card, `${p.id}-cardcap`, 2000);
    const omsRefund = `${p.id}-cardref`;
    await ledger.create(omsRefund, stepCommand(p, 'refund', omsRefund, 'card', 2000, { key: refs.card }), Date.now(), { event: 'attempt' });
    await ledger.authorizationView(refs.card, omsRefund);
    await ledger.transition(omsRefund, 'FAILED', { event: 'outcome' }, { reason: 'technical', heldForPspRetry: 'technical' });
    expect(await s.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'card')).toBeNull();
    expect(Number(await redis.hget(s.coordinator.store.key(p.id), 'card_reversal_waiting'))).toBeGreaterThan(0);
    expect(await ledger.get(refs.cardVoid)).toBeNull();
    expect(await ledger.get(refs.cardRefund)).toBeNull();
    expect(await ledger.get(refs.giftCardVoid)).toMatchObject({ command: 'cancel', payment: { amount: 3000, gateway_key: refs.giftCard } });
    expect(lines.filter((l) => l.includes("held for their PSP's retry, not confirmed") && l.includes('"tender":"card"'))).toHaveLength(1);
    await ledger.releaseHeldForPspRetry(omsRefund, { reason: 'Adyen support: no retry', by: 'test' });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'card')).toBe('refund:2000');
    expect(await ledger.get(refs.cardRefund)).toMatchObject({ command: 'refund', payment: { amount: 2000, gateway_key: refs.card } });
  });

  it("an operator's release landing while the reversal is decided never makes the tender 'refunded in full': nothing was given back, the rollback refunds it", async () => {
    const { service: s, p, refs, omsRefund } = await heldRollback('rbr', 3000);
    // The first read of the redemption's refunds sees the refund held; the release lands right after it (another process).
    const original = ledger.dependentsOf.bind(ledger);
    const read = jest.spyOn(ledger, 'dependentsOf').mockImplementationOnce(async (id) => {
      const seen = await original(id);
      expect(await ledger.releaseHeldForPspRetry(omsRefund, { reason: 'Adyen support: no retry', by: 'test' })).toMatchObject({ result: 'released' });
      return seen;
    });
    try {
      expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    } finally {
      read.mockRestore();
    }
    expect((await s.coordinator.store.reversal(p.id, 'gift_card')) ?? '').not.toMatch(/^none:/);
    await cardVoided(refs);
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('refund:3000');
    expect(await ledger.get(refs.giftCardRefund)).toMatchObject({ command: 'refund', payment: { amount: 3000, gateway_key: refs.giftCard } });
  });
});

describe("a rolling back authorize split's tender with a refund of the OMS still in flight", () => {
  /** A rolling back split whose redemption the OMS captured in full, then refunded 3000 of: that refund sent (recorded with its attempt), no outcome yet. */
  async function inFlightRollback(name: string) {
    const ctx = service();
    const p = plan(`${name}-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await ctx.service.coordinator.begin(p);
    await succeededStep(p, 'gift_card', 3000);
    await captured(p, refs.giftCard, `${p.id}-gccap`, 3000);
    const omsRefund = `${p.id}-gcref`;
    await ledger.create(omsRefund, stepCommand(p, 'refund', omsRefund, 'gift_card', 3000, { key: refs.giftCard }), Date.now(), { event: 'attempt' });
    await ledger.authorizationView(refs.giftCard, omsRefund);
    expect(await ledger.get(omsRefund)).toMatchObject({ state: 'SENT' });
    await succeededStep(p, 'card', 3500);
    expect(await ctx.service.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    return { ...ctx, p, refs, omsRefund };
  }

  /** Operation `id` played to SUCCEEDED by its PSP (for `confirmed` when given: a refund confirmed for less than asked). */
  async function succeeded(id: string, confirmed?: number): Promise<void> {
    if ((await ledger.get(id))?.state === 'RECEIVED') await ledger.transition(id, 'SENT', { event: 'attempt' });
    const amounts = confirmed === undefined ? {} : { confirmedAmount: confirmed, confirmedCurrency: 'EUR' };
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${id}`, ...amounts });
  }

  it('waits for its outcome as for a held one (reversal_waiting, refund_in_flight, said once); the PSP confirming part of it, only the rest is refunded: ROLLED_BACK, never REVERSAL_FAILED', async () => {
    const { service: s, p, refs, omsRefund, events, lines } = await inFlightRollback('rbf');
    const waits = (await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'refund_in_flight' })) ?? 0;
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    // Not decided, nothing sent for the gift card; the card part's void goes.
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
    expect(Number(await redis.hget(s.coordinator.store.key(p.id), 'reversal_waiting'))).toBeGreaterThan(0);
    expect(await ledger.get(refs.giftCardRefund)).toBeNull();
    expect(await ledger.get(refs.giftCardVoid)).toBeNull();
    expect(await ledger.get(refs.cardVoid)).toMatchObject({ command: 'cancel', payment: { amount: 3500, gateway_key: refs.card } });
    await succeeded(refs.cardVoid);
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
    expect(lines.filter((l) => l.includes('refunds of the OMS still in flight') && l.includes('"in_flight_refunds":3000'))).toHaveLength(1);
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'refund_in_flight' })).toBe(waits + 1);
    // The PSP confirms 2000 of the 3000 asked: the 1000 it did not give back is the rollback's to refund.
    await succeeded(omsRefund, 2000);
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('refund:1000');
    const rollbackRefund = await ledger.get(refs.giftCardRefund);
    expect(rollbackRefund).toMatchObject({ command: 'refund', payment: { amount: 1000, gateway_key: refs.giftCard } });
    // Delivery's check before its first attempt lets it go (3000 captured, 2000 refunded): not refused amount_exceeds_captured.
    const checked = await resolveOperationContext(rollbackRefund!, ledger, { checkAmounts: true, splitTenders: new SplitStepLookup(s.coordinator.store) });
    expect(checked).not.toHaveProperty('fail');
    expect(checked).not.toHaveProperty('wait');
    await succeeded(refs.giftCardRefund);
    expect(await s.coordinator.advance(p)).toBe('ROLLED_BACK');
    expect(events.some((e) => e.eventId === `${p.id}.split-tender.REVERSAL_FAILED`)).toBe(false);
    const settled = events.find((e) => e.eventId === `${p.id}.split-tender.ROLLED_BACK`)?.params.payment as {
      split_tender: { tenders: Array<Record<string, unknown>> };
    };
    expect(settled.split_tender.tenders.find((t) => t.role === 'reverse')).toMatchObject({ operation_reference: refs.giftCardRefund, status: 'SUCCESS' });
  });

  it('the refund failing instead: nothing was given back, the rollback refunds all that was captured', async () => {
    const { service: s, p, omsRefund } = await inFlightRollback('rbx');
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
    await ledger.transition(omsRefund, 'FAILED', { event: 'outcome' }, { reason: 'declined' });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('refund:3000');
  });

  it('an UNRESOLVED refund no PSP fact settles holds the reversal no longer than delivery.void_wait_max_ms: then it is decided on what the PSP confirmed (the refund not counted given back), said once', async () => {
    const { service: s, p, refs, omsRefund, lines } = await inFlightRollback('rbu');
    await ledger.transition(omsRefund, 'UNRESOLVED', { event: 'unresolved' });
    const expired = (await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'refund_in_flight_expired' })) ?? 0;
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
    // Within the bound it still waits.
    const key = s.coordinator.store.key(p.id);
    await redis.hset(key, 'reversal_waiting', String(Date.now() - config.delivery.voidWaitMaxMs + 60_000));
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
    // Past it: decided, the UNRESOLVED refund counted as not given back (what the PSP confirmed).
    await redis.hset(key, 'reversal_waiting', String(Date.now() - config.delivery.voidWaitMaxMs - 1));
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('refund:3000');
    expect(await ledger.get(refs.giftCardRefund)).toMatchObject({ command: 'refund', payment: { amount: 3000, gateway_key: refs.giftCard } });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(lines.filter((l) => l.includes('waited past delivery.void_wait_max_ms') && l.includes('"in_flight_refunds":3000'))).toHaveLength(1);
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'refund_in_flight_expired' })).toBe(expired + 1);
  });

  it("a refund held for its PSP's retry is still waited for past the bound (an operator releases it)", async () => {
    const { service: s, p, omsRefund } = await inFlightRollback('rbh');
    await ledger.transition(omsRefund, 'FAILED', { event: 'outcome' }, { reason: 'technical', heldForPspRetry: 'technical' });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    await redis.hset(s.coordinator.store.key(p.id), 'reversal_waiting', String(Date.now() - config.delivery.voidWaitMaxMs - 1));
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBeNull();
  });

  it('a refund sent and confirmed between the reads of one pass is never refunded again: that reading is not decided on, the next one (the PSP having confirmed it all) sends nothing', async () => {
    const { service: s } = service();
    const q = plan(`rbn-${testNamespace()}`, false);
    const r = stepReferences(q);
    await s.coordinator.begin(q);
    await succeededStep(q, 'gift_card', 3000);
    await captured(q, r.giftCard, `${q.id}-gccap`, 3000);
    await succeededStep(q, 'card', 3500);
    expect(await s.coordinator.store.move(q.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    // Another process: the OMS refund (sent before refunds waited for their split) is recorded and sent right after the
    // pass's first read of the redemption's refunds, and the PSP's success lands right after the second (what was
    // collected: it saw the refund in flight, nothing given back), before the third.
    const omsRefund = `${q.id}-gcref`;
    const original = ledger.dependentsOf.bind(ledger);
    const read = jest
      .spyOn(ledger, 'dependentsOf')
      .mockImplementationOnce(async (id) => {
        const seen = await original(id);
        await ledger.create(omsRefund, stepCommand(q, 'refund', omsRefund, 'gift_card', 3000, { key: r.giftCard }), Date.now(), { event: 'attempt' });
        await ledger.authorizationView(r.giftCard, omsRefund);
        return seen;
      })
      .mockImplementationOnce(async (id) => {
        const seen = await original(id);
        await ledger.transition(omsRefund, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${omsRefund}` });
        return seen;
      });
    try {
      expect(await s.coordinator.advance(q)).toBe('ROLLING_BACK');
    } finally {
      read.mockRestore();
    }
    // The same pass read again after sending the card part's void: the refund given back in full, nothing to send.
    expect(await s.coordinator.store.reversal(q.id, 'gift_card')).toBe('none:3000');
    expect(await ledger.get(r.giftCardRefund)).toBeNull();
    await ledger.transition(r.cardVoid, 'SENT', { event: 'attempt' });
    await ledger.transition(r.cardVoid, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${r.cardVoid}` });
    expect(await s.coordinator.advance(q)).toBe('ROLLED_BACK');
  });

  it('a refund of the OMS waiting for the split (recorded, never sent) holds nothing: it cannot go before the split, so the reversal is decided at once', async () => {
    const { service: s } = service();
    const p = plan(`rbw-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await s.coordinator.begin(p);
    await succeededStep(p, 'gift_card', 3000);
    await captured(p, refs.giftCard, `${p.id}-gccap`, 3000);
    const omsRefund = `${p.id}-gcref`;
    await ledger.create(omsRefund, stepCommand(p, 'refund', omsRefund, 'gift_card', 3000, { key: refs.giftCard }));
    await ledger.authorizationView(refs.giftCard, omsRefund);
    expect(await ledger.get(omsRefund)).toMatchObject({ state: 'RECEIVED' });
    await succeededStep(p, 'card', 3500);
    expect(await s.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('refund:3000');
    expect(await redis.hget(s.coordinator.store.key(p.id), 'reversal_waiting')).toBeNull();
  });
});

describe('a split rolling back across the upgrade, its card void sent by the release before', () => {
  it("keeps the void on record as the card part's reversal, captured or not: never a refund beside it (two reversals of one tender), with a warn line", async () => {
    const { service: s, lines } = service();
    const p = plan(`upg-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await s.coordinator.begin(p);
    // The card part approved for half and captured in part by the OMS before the rollback; the release before decided
    // the gift card's reversal (a void: no `card_reversal` field then) and sent the card part's void.
    await succeededStep(p, 'gift_card', 3000);
    await succeededStep(p, 'card', 3500);
    await captured(p, refs.card, `${p.id}-cardcap`, 2000);
    expect(await s.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    expect(await s.coordinator.store.move(p.id, 'CHARGING_CARD', 'ROLLING_BACK')).toBe(true);
    expect((await s.coordinator.store.decideReversal(p.id, 'void', 'gift_card')).decided).toBe(true);
    await ledger.create(refs.cardVoid, stepCommand(p, 'cancel', refs.cardVoid, 'card', 3500, { key: refs.card }), Date.now(), { event: 'attempt' });
    await ledger.transition(refs.cardVoid, 'SENT', { event: 'attempt' });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'card')).toBe('void');
    expect(await ledger.get(refs.cardRefund)).toBeNull();
    expect(lines.filter((l) => l.includes('had its void sent already') && l.includes(p.id))).toHaveLength(1);
    // The void's outcome settles the card's release; the gift card is voided as decided.
    await ledger.transition(refs.cardVoid, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${refs.cardVoid}` });
    await ledger.transition(refs.giftCardVoid, 'SENT', { event: 'attempt' });
    await ledger.transition(refs.giftCardVoid, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp_${refs.giftCardVoid}` });
    expect(await s.coordinator.advance(p)).toBe('ROLLED_BACK');
    expect(await ledger.get(refs.cardRefund)).toBeNull();
  });
});

describe('a split rolling back across the upgrade, its redemption void sent before its reversal was decided', () => {
  it("keeps the void on record as the gift card's reversal though the redemption was captured: no refund beside it", async () => {
    const { service: s, lines } = service();
    const p = plan(`upgc-${testNamespace()}`, false);
    const refs = stepReferences(p);
    await s.coordinator.begin(p);
    await succeededStep(p, 'gift_card', 3000);
    await captured(p, refs.giftCard, `${p.id}-gccap`, 3000);
    expect(await s.coordinator.store.move(p.id, 'REDEEMING', 'CHARGING_CARD')).toBe(true);
    expect(await s.coordinator.store.move(p.id, 'CHARGING_CARD', 'ROLLING_BACK')).toBe(true);
    await ledger.create(refs.giftCardVoid, stepCommand(p, 'cancel', refs.giftCardVoid, 'gift_card', 3000, { key: refs.giftCard }), Date.now(), {
      event: 'attempt',
    });
    expect(await s.coordinator.advance(p)).toBe('ROLLING_BACK');
    expect(await s.coordinator.store.reversal(p.id, 'gift_card')).toBe('void');
    expect(await ledger.get(refs.giftCardRefund)).toBeNull();
    expect(lines.filter((l) => l.includes('had its void sent already') && l.includes(p.id))).toHaveLength(1);
  });
});

import { metricValue } from '../../../src/metrics/metrics-registry';
import { randomBytes } from 'node:crypto';
import { AxiosInstance } from 'axios';
import { RedisClient } from '../../../src/redis/redis-connection';
import { GatewayConfig } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { OperationContext } from '../../../src/gateways/gateway-adapter';
import { simulatorTransformer as t } from '../../../src/gateways/simulator';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { silentLogger } from '../../../src/logging/logger';
import { SplitTenderCoordinator, SplitTenderPlan, StepOutcome, stepReferences } from '../../../src/split-tender/split-tender';
import { refundReferences } from '../../../src/split-tender/split-tender-plan';
import { startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { testRedis } from '../../support/test-redis';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { Ledger } from '../../../src/ledger/ledger';
import { idClaimKeyOf, shardOfAnchor } from '../../../src/redis/key-layout';

/**
 * The split tender coordinator on the real Redis (its state) and the real simulator (the money). The
 * bridge's worker is played by `execute`: each submitted command is sent once through the simulator adapter
 * and its outcome kept by reference, as the ledger would (a repeat under the same reference is dropped).
 */

const API_KEY = `sk_test_${randomBytes(6).toString('hex')}`;
let sim: Awaited<ReturnType<typeof startPspSimulator>>;
let http: AxiosInstance;
let redis: RedisClient;
let gateway: GatewayConfig;
const prefix = `pbtest:split:${randomBytes(4).toString('hex')}:`;
const outcomes = new Map<string, StepOutcome>();
const submitted: PaymentCommand[] = [];

async function execute(command: PaymentCommand): Promise<void> {
  const reference = command.payment.operation_reference ?? '';
  submitted.push(command);
  if (outcomes.has(reference)) return; // the ledger drops a duplicate
  // A cancel or refund names our operation by its id: the worker resolves it to the PSP reference.
  const key = outcomes.get(command.payment.gateway_key);
  const payment = { ...command.payment, gateway_key: key?.state === 'SUCCEEDED' && key.gatewayReference ? key.gatewayReference : command.payment.gateway_key };
  const ctx: OperationContext = { operationId: reference, command: command.command, payment };
  const request = t.authenticate(t.buildRequest(ctx, gateway), gateway, new Date());
  const res = await http.request<string>({
    method: request.method,
    url: request.path,
    headers: request.headers,
    data: request.body,
    transformRequest: [(d: unknown) => d],
  });
  const outcome = t.parseResponse(ctx, { status: res.status, headers: {}, body: res.data, elapsedMs: 0 }, gateway);
  outcomes.set(
    reference,
    outcome.status === 'SUCCESS'
      ? { state: 'SUCCEEDED', gatewayReference: outcome.gatewayReference }
      : outcome.status === 'FAIL'
        ? { state: 'FAILED', reason: outcome.reason }
        : { state: 'OPEN' },
  );
}

/** Refund parts the PSP reported succeeded after the ledger held them FAILED (a `succeeded_after_failure` adjustment). */
const succeededLater = new Set<string>();
/** What the PSP refunded of a part's operation outside the bridge and still stands (its `refund_outside_bridge`). */
const refundedOutside = new Map<string, number>();

function coordinator(submit: (c: PaymentCommand) => Promise<void> = execute): SplitTenderCoordinator {
  return new SplitTenderCoordinator({
    submit,
    outcome: async (id) => outcomes.get(id) ?? { state: 'OPEN' },
    succeededLater: async (id) => succeededLater.has(id),
    refundedOutside: async (id) => refundedOutside.get(id) ?? 0,
    redis,
    keyPrefix: prefix,
    logger: silentLogger(),
    stepTimeoutMs: 5000,
    pollMs: 20,
  });
}

async function balance(card: string): Promise<number | undefined> {
  const ctx: OperationContext = {
    operationId: `op-bal-${randomBytes(4).toString('hex')}`,
    command: 'balance_inquiry',
    payment: { gateway: 'sim', gateway_account: 'acme', gateway_key: card, amount: 0, currency: 'EUR' },
  };
  const request = t.authenticate(t.buildRequest(ctx, gateway), gateway, new Date());
  const res = await http.request<string>({
    method: request.method,
    url: request.path,
    headers: request.headers,
    data: request.body,
    transformRequest: [(d: unknown) => d],
  });
  return t.parseResponse(ctx, { status: res.status, headers: {}, body: res.data, elapsedMs: 0 }, gateway).amount;
}

function plan(id: string, card: string, cardKey: string, capture = false): SplitTenderPlan {
  return {
    id,
    channel: 'web',
    order_id: `ORD-${id}`,
    currency: 'EUR',
    total: 10000,
    capture,
    gift_card: { gateway: 'sim', gateway_account: 'acme', gateway_key: card, amount: 3000 },
    card: { gateway: 'sim', gateway_account: 'acme', gateway_key: cardKey },
    step_ids: 'namespaced',
  };
}

beforeAll(async () => {
  sim = await startPspSimulator({
    port: 0,
    host: '127.0.0.1',
    apiKey: API_KEY,
    webhookUrl: 'http://127.0.0.1:9/none',
    webhookSecret: 'whsec_split_tender_01',
    seed: 5,
  });
  gateway = {
    name: 'sim',
    type: 'simulator',
    baseUrl: sim.url,
    apiKey: API_KEY,
    webhookSecret: 'whsec_split_tender_01',
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 5000,
    maxSockets: 8,
  };
  http = createOutboundHttp({ baseURL: sim.url, timeoutMs: 5000, maxSockets: 8 });
  redis = testRedis();
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
  await sim?.stop();
});

describe('split tender (gift card plus card)', () => {
  it('redeems the gift card part, then authorizes the card for the remainder only', async () => {
    const id = `st-ok-${randomBytes(3).toString('hex')}`;
    expect(await coordinator().run(plan(id, 'gc_split_5000', 'pm_card_visa'))).toBe('DONE');
    const card = submitted.find((c) => c.payment.operation_reference === stepReferences({ id, step_ids: 'namespaced' }).card);
    expect(card?.payment.amount).toBe(7000);
    expect(await balance('gc_split_5000')).toBe(2000);
  });

  it('voids the redemption when the card part is declined: the gift card holds its whole balance again', async () => {
    const id = `st-rb-${randomBytes(3).toString('hex')}`;
    expect(await coordinator().run(plan(id, 'gc_rollback_4000', 'pm_card_declined'))).toBe('ROLLED_BACK');
    expect(outcomes.get(stepReferences({ id, step_ids: 'namespaced' }).giftCardVoid)?.state).toBe('SUCCEEDED');
    expect(await balance('gc_rollback_4000')).toBe(4000);
  });

  it('refunds a captured redemption in full when the card part of a sale is declined', async () => {
    const id = `st-sale-${randomBytes(3).toString('hex')}`;
    expect(await coordinator().run(plan(id, 'gc_salerb_3000', 'pm_insufficient_funds', true))).toBe('ROLLED_BACK');
    expect(await balance('gc_salerb_3000')).toBe(3000);
  });

  it('refunds, not voids, a redemption whose capture succeeded before the rollback: once, what was captured, under its fixed id', async () => {
    const id = `st-cap-${randomBytes(3).toString('hex')}`;
    const refs = stepReferences({ id, step_ids: 'namespaced' });
    // What the ledger holds captured of the redemption (`collectedForRefund` less other refunds of it, as the worker's port
    // reads it): the capture below; nothing once the rollback's refund gave it back.
    let captured = 0;
    const captures: PaymentCommand[] = [];
    const c = new SplitTenderCoordinator({
      submit: async (command) => {
        // The redemption is captured at the PSP (by its own capture operation) while the card part is on its way.
        if (command.payment.operation_reference === refs.card) {
          const capture: PaymentCommand = {
            ...command,
            command: 'capture',
            payment: { ...command.payment, gateway_key: refs.giftCard, amount: 3000, operation_reference: `op-cap-${id}` },
          };
          captures.push(capture);
          await execute(capture);
          expect(outcomes.get(`op-cap-${id}`)?.state).toBe('SUCCEEDED');
          captured = 3000;
        }
        if (command.payment.operation_reference === refs.giftCardRefund) captured = 0;
        await execute(command);
      },
      outcome: async (ref) => outcomes.get(ref) ?? { state: 'OPEN' },
      collected: async (ref) => (ref === refs.giftCard ? captured : null),
      redis,
      keyPrefix: prefix,
      logger: silentLogger(),
      stepTimeoutMs: 5000,
      pollMs: 20,
    });
    const refundsBefore = (await metricValue('pb_split_tender_reversals_by_refund_total', {})) ?? 0;
    expect(await c.run(plan(id, 'gc_captured_4000', 'pm_card_declined'))).toBe('ROLLED_BACK');
    expect(captures).toHaveLength(1);
    // Refunded what was captured, under `_<id>.gc-refund`, once; never voided (a void of a captured authorization fails).
    const reversals = submitted.filter((x) => x.payment.operation_reference === refs.giftCardRefund || x.payment.operation_reference === refs.giftCardVoid);
    expect(reversals.map((x) => [x.command, x.payment.operation_reference, x.payment.gateway_key, x.payment.amount])).toEqual([
      ['refund', refs.giftCardRefund, refs.giftCard, 3000],
    ]);
    expect(outcomes.get(refs.giftCardRefund)?.state).toBe('SUCCEEDED');
    expect(await balance('gc_captured_4000')).toBe(4000);
    // The decision stands (one id, one amount) whatever a later pass reads: nothing captured is left to read now.
    expect(await c.store.reversal(id)).toBe('refund:3000');
    expect(await c.advance(plan(id, 'gc_captured_4000', 'pm_card_declined'))).toBe('ROLLED_BACK');
    expect(submitted.filter((x) => x.payment.operation_reference === refs.giftCardVoid)).toHaveLength(0);
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', {})).toBe(refundsBefore + 1);
  });

  it('refunds, not voids, a card part captured before a card_part_short rollback: once, what was captured, under its fixed id', async () => {
    const id = `st-cardcap-${randomBytes(3).toString('hex')}`;
    const refs = stepReferences({ id, step_ids: 'namespaced' });
    // The card part is approved for half (`pm_card_partial_half`: 35.00 of 70.00), and captured at once by the OMS (a
    // capture sent before captures waited for the split): the rollback must release a captured authorization.
    let cardCaptured = 0;
    const c = new SplitTenderCoordinator({
      submit: async (command) => {
        await execute(command);
        if (command.payment.operation_reference === refs.card && outcomes.get(refs.card)?.state === 'SUCCEEDED') {
          outcomes.set(refs.card, { ...outcomes.get(refs.card)!, confirmedAmount: 3500 } as StepOutcome);
          const capture: PaymentCommand = {
            ...command,
            command: 'capture',
            payment: { ...command.payment, gateway_key: refs.card, amount: 3500, operation_reference: `op-cap-${id}` },
          };
          await execute(capture);
          expect(outcomes.get(`op-cap-${id}`)?.state).toBe('SUCCEEDED');
          cardCaptured = 3500;
        }
        if (command.payment.operation_reference === refs.cardRefund) cardCaptured = 0;
      },
      outcome: async (ref) => outcomes.get(ref) ?? { state: 'OPEN' },
      collected: async (ref) => (ref === refs.card ? cardCaptured : null),
      captured: async (ref) => (ref === refs.card ? 3500 : null),
      redis,
      keyPrefix: prefix,
      logger: silentLogger(),
      stepTimeoutMs: 5000,
      pollMs: 20,
    });
    const before = await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'card', outcome: 'refunded' });
    const p = plan(id, 'gc_cardcap_5000', 'pm_card_partial_half');
    expect(await c.run(p)).toBe('ROLLED_BACK');
    const releases = submitted.filter((x) => x.payment.operation_reference === refs.cardRefund || x.payment.operation_reference === refs.cardVoid);
    expect(releases.map((x) => [x.command, x.payment.operation_reference, x.payment.gateway_key, x.payment.amount])).toEqual([
      ['refund', refs.cardRefund, refs.card, 3500],
    ]);
    expect(outcomes.get(refs.cardRefund)?.state).toBe('SUCCEEDED');
    // The gift card was not captured: voided as ever, its balance whole again.
    expect(outcomes.get(refs.giftCardVoid)?.state).toBe('SUCCEEDED');
    expect(await balance('gc_cardcap_5000')).toBe(5000);
    // Decided once, beside the gift card's: a later pass sends nothing more.
    expect(await c.store.reversal(id, 'card')).toBe('refund:3500');
    expect(await c.store.reversal(id, 'gift_card')).toBe('void');
    expect(await c.advance(p)).toBe('ROLLED_BACK');
    expect(submitted.filter((x) => x.payment.operation_reference === refs.cardRefund)).toHaveLength(1);
    expect(submitted.filter((x) => x.payment.operation_reference === refs.cardVoid)).toHaveLength(0);
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'card', outcome: 'refunded' })).toBe(before + 1);
  });

  it('sends nothing to reverse a redemption the OMS captured and refunded in full before the rollback, and settles it reversed', async () => {
    const id = `st-omsref-${randomBytes(3).toString('hex')}`;
    const refs = stepReferences({ id, step_ids: 'namespaced' });
    // The OMS captured the redemption (30.00) and refunded all of it while the card part was on its way.
    let left: number | null = null;
    const c = new SplitTenderCoordinator({
      submit: async (command) => {
        if (command.payment.operation_reference === refs.card) {
          const base = { ...command.payment, gateway_key: refs.giftCard, amount: 3000 };
          await execute({ ...command, command: 'capture', payment: { ...base, operation_reference: `op-cap-${id}` } });
          await execute({ ...command, command: 'refund', payment: { ...base, operation_reference: `op-ref-${id}` } });
          expect(outcomes.get(`op-ref-${id}`)?.state).toBe('SUCCEEDED');
          left = 0;
        }
        await execute(command);
      },
      outcome: async (ref) => outcomes.get(ref) ?? { state: 'OPEN' },
      collected: async (ref) => (ref === refs.giftCard ? left : null),
      captured: async (ref) => (ref === refs.giftCard && left !== null ? 3000 : null),
      redis,
      keyPrefix: prefix,
      logger: silentLogger(),
      stepTimeoutMs: 5000,
      pollMs: 20,
    });
    const before = await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'nothing_left' });
    const p = plan(id, 'gc_omsref_5000', 'pm_card_declined');
    expect(await c.run(p)).toBe('ROLLED_BACK');
    expect(submitted.filter((x) => x.payment.operation_reference === refs.giftCardVoid || x.payment.operation_reference === refs.giftCardRefund)).toHaveLength(
      0,
    );
    expect(await c.store.reversal(id)).toBe('none:3000');
    expect(await balance('gc_omsref_5000')).toBe(5000);
    expect(await c.advance(p)).toBe('ROLLED_BACK');
    expect(await metricValue('pb_split_tender_reversals_by_refund_total', { tender: 'gift_card', outcome: 'nothing_left' })).toBe(before + 1);
  });

  it('charges no card when the redemption is declined (FAILED)', async () => {
    const id = `st-fail-${randomBytes(3).toString('hex')}`;
    expect(await coordinator().run(plan(id, 'gc_poor_100', 'pm_card_visa'))).toBe('FAILED');
    expect(submitted.some((c) => c.payment.operation_reference === stepReferences({ id, step_ids: 'namespaced' }).card)).toBe(false);
  });

  it('resumes after a crash between steps from the state in Redis, without redeeming twice', async () => {
    const id = `st-crash-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_crash_6000', 'pm_card_declined');
    // The first process dies while submitting the card part: the redemption landed, the state says CHARGING_CARD.
    const crashing = coordinator(async (c) => {
      if (c.payment.operation_reference === stepReferences({ id, step_ids: 'namespaced' }).card) throw new Error('crash');
      await execute(c);
    });
    await expect(crashing.run(p)).rejects.toThrow('crash');
    expect(await crashing.state(id)).toBe('CHARGING_CARD');
    expect(await balance('gc_crash_6000')).toBe(3000);
    // A new process runs the same split: it goes on from the card part, and rolls the redemption back.
    expect(await coordinator().run(p)).toBe('ROLLED_BACK');
    expect(submitted.filter((c) => c.payment.operation_reference === stepReferences({ id, step_ids: 'namespaced' }).giftCard)).toHaveLength(1);
    expect(await balance('gc_crash_6000')).toBe(6000);
  });

  it('refunds card first, then the gift card, each part under its own reference', async () => {
    const id = `st-ref-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_refund_3000', 'pm_card_visa', true);
    expect(await coordinator().run(p)).toBe('DONE');
    expect(await balance('gc_refund_3000')).toBe(0);
    const refunded = await coordinator().refundOrder(p, 8000, `${id}.r1`);
    expect(refunded).toEqual({ card: 7000, gift_card: 1000, failed: [], state: 'REFUNDED' });
    expect(await balance('gc_refund_3000')).toBe(1000);
  });
  it('caps a refund of a split at what the PSPs confirmed of each part, not at the plan', async () => {
    // A split that went DONE with a card part approved for less (as a release before partial approvals
    // rolled back could leave it): the card holds 35.00 of its planned 70.00.
    const id = `st-cap-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_cap_3000', 'pm_card_visa', true);
    const refs = stepReferences({ id, step_ids: 'namespaced' });
    const c = coordinator();
    await c.begin(p);
    expect(await c.store.move(id, 'REDEEMING', 'DONE')).toBe(true);
    outcomes.set(refs.giftCard, { state: 'SUCCEEDED', gatewayReference: 'psp-gc', confirmedAmount: 3000 });
    outcomes.set(refs.card, { state: 'SUCCEEDED', gatewayReference: 'psp-card', confirmedAmount: 3500 });
    expect(await c.beginRefund(p, `${id}.r1`, 10_000, 'card_first', null)).toEqual({ refused: 'amount_exceeds_refundable', detail: '6500' });
    const begun = await c.beginRefund(p, `${id}.r2`, 6500, 'card_first', null);
    expect('refund' in begun && [begun.refund.card, begun.refund.gift_card]).toEqual([3500, 3000]);
  });

  it('counts what the PSP refunded of the card part outside the bridge as given back, as a refund of that payment does: refused above it, counted', async () => {
    const id = `st-outside-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_outside_3000', 'pm_card_visa', true);
    const c = coordinator();
    expect(await c.run(p)).toBe('DONE');
    // A Customer Area refund of 2000 of the card part (7000): 5000 of it and the gift card's 3000 are left.
    refundedOutside.set(stepReferences({ id, step_ids: 'namespaced' }).card, 2000);
    const before = await metricValue('pb_refunds_refused_for_outside_refunds_total', { gateway: p.card.gateway });
    expect(await c.beginRefund(p, `${id}.r1`, 10_000, 'card_first', null)).toEqual({ refused: 'amount_exceeds_refundable', detail: '8000' });
    expect(await metricValue('pb_refunds_refused_for_outside_refunds_total', { gateway: p.card.gateway })).toBe(before + 1);
    const begun = await c.beginRefund(p, `${id}.r2`, 8000, 'card_first', null);
    expect('refund' in begun && [begun.refund.card, begun.refund.gift_card]).toEqual([5000, 3000]);
  });

  it('a refund part that failed and that the PSP later reported succeeded stays counted as refunded: its money cannot be refunded again', async () => {
    const id = `st-late-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_late_3000', 'pm_card_visa', true);
    const c = coordinator();
    expect(await c.run(p)).toBe('DONE');
    // 8000 card first: the card's 7000 is declined (nothing sent after it), its reservation released.
    const failing = coordinator(async (command) => {
      outcomes.set(command.payment.operation_reference ?? '', { state: 'FAILED', reason: 'processing_error' });
    });
    const first = await failing.refundOrder(p, 8000, `${id}.r1`);
    expect(first.state).toBe('REFUND_FAILED');
    expect(await c.beginRefund(p, `${id}.probe`, 10_001, 'card_first', null)).toMatchObject({ detail: '10000' });
    // Reconciliation then finds the card part's refund at the PSP.
    succeededLater.add(refundReferences({ refundId: `${id}.r1`, stepIds: 'namespaced' }).card);
    expect(await c.beginRefund(p, `${id}.r2`, 3001, 'card_first', null)).toEqual({ refused: 'amount_exceeds_refundable', detail: '3000' });
    const begun = await c.beginRefund(p, `${id}.r3`, 3000, 'card_first', null);
    expect('refund' in begun && [begun.refund.card, begun.refund.gift_card]).toEqual([0, 3000]);
  });

  it('a refund the bridge refused leaves its id free for a corrected one; one recorded before refund ids were claimed still refuses other money', async () => {
    const id = `st-claim-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_claim_3000', 'pm_card_visa', true);
    const c = coordinator();
    expect(await c.run(p)).toBe('DONE');
    // 10001 is more than the split took: refused, nothing recorded, the id not held.
    expect(await c.beginRefund(p, `${id}.r1`, 10_001, 'card_first', null)).toEqual({ refused: 'amount_exceeds_refundable', detail: '10000' });
    expect(await redis.get(c.store.refundClaimKey(`${id}.r1`))).toBeNull();
    const begun = await c.beginRefund(p, `${id}.r1`, 4000, 'card_first', null);
    expect('refund' in begun && begun.refund.card).toBe(4000);
    expect(await redis.get(c.store.refundClaimKey(`${id}.r1`))).toBe(`${id}:4000`);
    // As if recorded before the claim existed: the record alone still tells a repeat from other money.
    await redis.del(c.store.refundClaimKey(`${id}.r1`));
    expect(await c.beginRefund(p, `${id}.r1`, 4500, 'card_first', null)).toEqual({ conflict: `${id}:4000,0,card_first` });
    expect(await redis.get(c.store.refundClaimKey(`${id}.r1`))).toBeNull();
    // Its reference claim names the right split whatever the amount: it stays.
    expect(await redis.get(idClaimKeyOf(prefix, `${id}.r1`))).toBe(`split-refund:${id}`);
    expect('refund' in (await c.beginRefund(p, `${id}.r1`, 4000, 'card_first', null))).toBe(true);
  });

  it("claims a split's id and its refunds' ids among the ledger's id claims: the ledger's creation refuses an ordinary operation under them; a split or refund under an operation's id is refused", async () => {
    const id = `st-ref-${randomBytes(3).toString('hex')}`;
    const p = plan(id, 'gc_ref_3000', 'pm_card_visa', true);
    const c = coordinator();
    const ledger = new Ledger(redis, prefix);
    const ordinary = (reference: string): PaymentCommand => ({
      version: 1,
      command: 'authorize',
      channel: 'web',
      received_at: new Date().toISOString(),
      payment: {
        gateway: 'sim',
        gateway_account: 'acme',
        gateway_key: 'pm_card_visa',
        amount: 500,
        currency: 'EUR',
        order_id: `ORD-${id}`,
        operation_reference: reference,
      },
    });
    expect(await c.run(p)).toBe('DONE');
    expect(await redis.get(idClaimKeyOf(prefix, id))).toBe(`split:${id}`);
    // The fast path's creation (with its first attempt): refused, and the record it wrote removed with its index entries.
    expect(await ledger.create(id, ordinary(id), Date.now(), { event: 'attempt' })).toMatchObject({
      created: false,
      conflict: true,
      state: null,
      heldBy: `split:${id}`,
    });
    expect(await ledger.get(id)).toBeNull();
    expect(await ledger.idsInState('SENT')).not.toContain(id);
    expect(await redis.get(idClaimKeyOf(prefix, id))).toBe(`split:${id}`);
    // A repeat of the split itself is no conflict.
    expect(await c.begin(p)).toEqual({ created: false, conflict: false, state: 'DONE' });

    const refundId = `${id}.r1`;
    expect('refund' in (await c.beginRefund(p, refundId, 4000, 'card_first', null))).toBe(true);
    expect(await redis.get(idClaimKeyOf(prefix, refundId))).toBe(`split-refund:${id}`);
    expect(await ledger.create(refundId, ordinary(refundId))).toMatchObject({ created: false, conflict: true, state: null, heldBy: `split-refund:${id}` });
    expect(await ledger.get(refundId)).toBeNull();
    expect(await ledger.idsInState('RECEIVED')).not.toContain(refundId);
    // A refund the bridge refused leaves its reference free too.
    expect(await c.beginRefund(p, `${id}.r2`, 10_001, 'card_first', null)).toMatchObject({ refused: 'amount_exceeds_refundable' });
    expect(await redis.get(idClaimKeyOf(prefix, `${id}.r2`))).toBeNull();

    // The other way round: an operation holds the id (one created since the consumer looked at the ledger).
    const taken = `${id}-op`;
    expect((await ledger.create(taken, ordinary(taken))).created).toBe(true);
    expect(await c.begin(plan(taken, 'gc_ref_3000', 'pm_card_visa', true))).toEqual({ created: false, conflict: true, state: null });
    expect(await c.store.plan(taken)).toBeNull();
    expect(await c.beginRefund(p, taken, 1000, 'card_first', null)).toEqual({ operation: shardOfAnchor(`ORD-${id}`) });
    expect(await redis.get(c.store.refundClaimKey(taken))).toBeNull();
    expect(await redis.get(idClaimKeyOf(prefix, taken))).toBe(String(shardOfAnchor(`ORD-${id}`)));
    expect(await c.store.refund(id, taken)).toBeNull();
  });
});

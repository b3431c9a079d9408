import { randomBytes } from 'node:crypto';
import { GetMessage } from 'amqplib';
import { BusClient } from '../../../src/bus/bus-client';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { bullJobId } from '../../../src/queueing/job-id';
import { silentLogger } from '../../../src/logging/logger';
import { captureLogger } from '../../support/capture-logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { ledgerStepOutcome } from '../../../src/split-tender/ledger-step-outcome';
import { SplitTenderCoordinator } from '../../../src/split-tender/split-tender';
import { memberOf } from '../../../src/split-tender/split-tender-store';
import { planOf, refundReferences, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { deadLettersUntil, holding } from '../../support/amqp-helpers';
import { SplitTenderStack, splitTenderCommand, useSplitTenderStack } from '../../support/split-tender-stack';
import { eventually } from '../../support/tcp-proxy';
import { channelCommand } from '../../support/fixtures';

/**
 * Split tender through the running worker: a channel publishes an order paid by a gift card and a card
 * (`web.order_created.v1` with `gift_card`, or the canonical command with `payment.tenders`); the consumer
 * records the split, the sweep carries out each tender as an operation of its own against the simulator,
 * and the OMS (the bus twin) gets each tender's event and the order's overall result.
 */

jest.setTimeout(180_000);
// A split here settles in well under a second; twice in CI (never in 40 runs here, alone, under load or in
// CI's order) one did not within 60 s while the tests around it passed. Until the diagnosis `settledEvent`
// now prints says why, a test gets one more try; the failed try's errors are printed, so the stall is seen.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

const API_KEY = `sk_test_${randomBytes(6).toString('hex')}`;
const CLIENT_ID = 'split-tender-test';
const CLIENT_SECRET = 'split-tender-test-client-secret-0123';
const RUN = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
let n = 0;
const run = () => `${RUN}-${(n += 1)}`;

let twin: BusTwin;
/** The worker's warnings and errors, for the conflicts' log lines. */
const logs = captureLogger('warn');

beforeAll(async () => {
  twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
});
const stack = useSplitTenderStack({
  apiKey: API_KEY,
  webhookSecret: 'whsec_split_flow_0123456789',
  logger: logs.logger,
  webhooks: false,
  simulator: { port: 0, host: '127.0.0.1', seed: 7 },
  config: () => ({
    'service_bus.url': twin.url,
    'mom_client.oauth_server_url': twin.url,
    'mom_client.client_id': CLIENT_ID,
    'mom_client.client_secret': CLIENT_SECRET,
  }),
  notifier: (config) => new BusClient(config, new OAuthTokenProvider(config)),
});
// After the stack's own tear-down: the worker sends its events to the twin until it stops.
afterAll(async () => {
  await twin?.stop();
});
let sim: PspSimulator;
let config: Config;
let worker: WorkerProcess;
let client: SplitTenderStack['client'];
beforeAll(() => ({ sim, config, worker, client } = stack));

interface Notified {
  method: string;
  payment: Record<string, unknown> & { status?: string; reason?: string; operation_reference?: string; custom_attributes?: Record<string, unknown> };
}

function notifications(): Notified[] {
  return twin.notifications.map((x) => ({ method: x.method, payment: (x.params as { payment?: Notified['payment'] }).payment ?? {} }));
}

async function settledEvent(splitId: string): Promise<Notified> {
  const method = config.serviceBus.methods.notifications.split_tender_settled;
  const logsBefore = logs.lines.length;
  let found: Notified | undefined;
  try {
    await eventually(async () => {
      found = notifications().find((x) => x.method === method && x.payment.operation_reference === splitId);
      return found !== undefined;
    }, 60_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${await splitDiagnosis(splitId, logsBefore)}`, { cause: err });
  }
  return found!;
}

/**
 * Where a split that did not settle stands, for the failure message (a split normally settles in well under a
 * second): its stored state and place on the open index, each step's ledger state and delivery job, the
 * events the bus twin got for it, and the worker's warnings and errors since the wait began.
 */
async function splitDiagnosis(splitId: string, logsFrom: number): Promise<string> {
  const { store } = worker.splitTender.coordinator;
  const steps: Record<string, unknown> = {};
  for (const [step, reference] of Object.entries(stepReferences({ id: splitId, step_ids: 'namespaced' }))) {
    const op = await worker.ledger.get(reference);
    if (!op) continue;
    const job = await worker.deliveryQueue.getJob(bullJobId(reference));
    steps[step] = {
      state: op.state,
      updated_ms_ago: Date.now() - op.updatedAt,
      job: job ? { state: await job.getState(), attempts: job.attemptsMade, failed: job.failedReason } : null,
    };
  }
  return JSON.stringify({
    split: splitId,
    state: await store.state(splitId),
    due_in_ms: await worker.redis.zscore(store.openKey, memberOf({ kind: 'split', id: splitId })).then((at) => (at === null ? null : Number(at) - Date.now())),
    steps,
    events: notifications()
      .filter((x) => JSON.stringify(x.payment).includes(splitId))
      .map((x) => `${x.method} ${x.payment.operation_reference} ${x.payment.status}`),
    worker_warnings: logs.lines.slice(logsFrom, logsFrom + 20),
  });
}

async function balance(card: string): Promise<number> {
  const res = await fetch(`${sim.url}/v1/gift_cards/${card}/balance`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': `bal-${randomBytes(6).toString('hex')}` },
    body: JSON.stringify({ currency: 'EUR', reference: `bal-${randomBytes(4).toString('hex')}` }),
  });
  const body = (await res.json()) as { balance: number };
  return body.balance;
}

function order(id: string, card: string, giftCard: string, giftAmount: number, total = 10000, capture: 'manual' | 'automatic' = 'manual') {
  return {
    contract: 'web.order_created.v1',
    event_id: `evt-${id}`,
    occurred_at: '2026-11-29T19:00:00Z',
    capture_method: capture,
    order: { order_id: `WEB-${id}`, currency: 'EUR', total_amount: total },
    payment_method: { type: 'card', gateway: 'sim', gateway_account: 'acme', token: card },
    gift_card: { gateway: 'sim', gateway_account: 'acme', token: giftCard, brand: 'givex', amount: giftAmount },
  };
}

function splitSale(id: string, card: string, giftCard: string, giftAmount: number, total: number): PaymentCommand {
  return splitTenderCommand('sale', { id, card, giftCard, giftAmount, amount: total, reference: `split-${id}` });
}

function splitRefund(splitId: string, refundId: string, amount: number): PaymentCommand {
  return {
    version: 1,
    command: 'refund',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: { gateway: 'sim', gateway_account: 'acme', gateway_key: splitId, amount, currency: 'EUR', operation_reference: refundId, split_tender: true },
  };
}

/** Refunds `amount` of split `splitId` under `refundId` and waits for its SUCCESS `refunded` event. */
async function refundedOk(splitId: string, refundId: string, amount: number): Promise<void> {
  await client.publish('web.payment.refund', splitRefund(splitId, refundId, amount));
  await eventually(
    async () =>
      notifications().some(
        (x) => x.method === config.serviceBus.methods.notifications.refunded && x.payment.operation_reference === refundId && x.payment.status === 'SUCCESS',
      ),
    60_000,
  );
}

async function settledSale(id: string, gc: string): Promise<string> {
  const sale = splitSale(id, 'pm_card_visa', gc, 3000, 10000);
  await client.publish('web.payment.sale', sale);
  const splitId = sale.payment.operation_reference!;
  expect((await settledEvent(splitId)).payment.status).toBe('SUCCESS');
  return splitId;
}

describe('split tender through the worker', () => {
  it('web.order_created with a gift card: redeems the gift card part, authorizes the card for the remainder, reports each tender and the order', async () => {
    const id = run();
    const gc = `gc_ok${id.replace(/-/g, '')}_5000`;
    const started = (await metricValue('pb_split_tenders_started_total', {})) ?? 0;
    await client.publish('web.order_created', order(id, 'pm_card_visa', gc, 3000));
    const splitId = `web-order.WEB-${id}`;
    const event = await settledEvent(splitId);
    expect(event.payment.status).toBe('SUCCESS');
    const split = event.payment.split_tender as {
      state: string;
      tenders: Array<{ tender: string; status: string; amount: number; gateway_reference: string | null }>;
    };
    expect(split.state).toBe('DONE');
    expect(split.tenders.map((t) => [t.tender, t.status, t.amount])).toEqual([
      ['gift_card', 'SUCCESS', 3000],
      ['card', 'SUCCESS', 7000],
    ]);
    expect(split.tenders.every((t) => t.gateway_reference)).toBe(true);
    // The card was authorized for the remainder only, and the gift card holds the rest of its balance.
    const card = await worker.ledger.get(stepReferences({ id: splitId, step_ids: 'namespaced' }).card);
    expect(card?.payment.amount).toBe(7000);
    expect(await balance(gc)).toBe(2000);
    // Each tender's own event reached the OMS, linked to the split.
    const authorized = notifications().filter(
      (x) => x.method === config.serviceBus.methods.notifications.authorized && x.payment.custom_attributes?.split_tender_id === splitId,
    );
    expect(authorized.map((x) => x.payment.custom_attributes?.tender).sort()).toEqual(['card', 'gift_card']);
    expect(await metricValue('pb_split_tenders_started_total', {})).toBe(started + 1);
  });

  it('card part declined: the gift card redemption is voided and the order reported FAIL with what the PSP confirmed', async () => {
    const id = run();
    const gc = `gc_rb${id.replace(/-/g, '')}_4000`;
    await client.publish('web.order_created', order(id, 'pm_card_declined', gc, 2500));
    const splitId = `web-order.WEB-${id}`;
    const event = await settledEvent(splitId);
    expect(event.payment.status).toBe('FAIL');
    expect(event.payment.reason).toBe('card_part_failed_gift_card_reversed');
    const split = event.payment.split_tender as { state: string; tenders: Array<{ role: string; status: string }> };
    expect(split.state).toBe('ROLLED_BACK');
    expect(split.tenders.map((t) => [t.role, t.status])).toEqual([
      ['redeem', 'SUCCESS'],
      ['charge', 'FAIL'],
      ['reverse', 'SUCCESS'],
    ]);
    expect(await balance(gc)).toBe(4000);
    expect((await worker.ledger.get(stepReferences({ id: splitId, step_ids: 'namespaced' }).giftCardVoid))?.state).toBe('SUCCEEDED');
  });

  it('card part of a sale approved for less than asked: the split is rolled back (card part refunded at what was approved, redemption reversed) and reported FAIL with the confirmed figures', async () => {
    const id = run();
    const gc = `gc_short${id.replace(/-/g, '')}_3000`;
    // 100.00 with 30.00 on the gift card: the simulator approves half of the card's 70.00.
    const sale = splitSale(id, 'pm_card_partial_half', gc, 3000, 10000);
    const splitId = sale.payment.operation_reference!;
    const refs = stepReferences({ id: splitId, step_ids: 'namespaced' });
    const before = (await metricValue('pb_split_tenders_total', { state: 'ROLLED_BACK', reason: 'card_part_short_rolled_back' })) ?? 0;
    await client.publish('web.payment.sale', sale);
    const event = await settledEvent(splitId);
    expect(event.payment).toMatchObject({
      status: 'FAIL',
      reason: 'card_part_short_rolled_back',
      amount: 6500,
      requested_amount: 10000,
      discrepancy: 'amount_mismatch',
    });
    const split = event.payment.split_tender as {
      state: string;
      gift_card_amount: number;
      card_amount: number;
      tenders: Array<{ tender: string; role: string; status: string; amount: number }>;
    };
    expect(split).toMatchObject({ state: 'ROLLED_BACK', gift_card_amount: 3000, card_amount: 3500 });
    expect(split.tenders.map((t) => [t.tender, t.role, t.status, t.amount])).toEqual([
      ['gift_card', 'redeem', 'SUCCESS', 3000],
      ['card', 'charge', 'SUCCESS', 3500],
      ['card', 'release', 'SUCCESS', 3500],
      ['gift_card', 'reverse', 'SUCCESS', 3000],
    ]);
    // The card part went back at what the PSP took, and the gift card holds its whole balance again.
    const release = await worker.ledger.get(refs.cardRefund);
    expect(release).toMatchObject({ state: 'SUCCEEDED', command: 'refund' });
    expect(release!.payment.amount).toBe(3500);
    expect(await balance(gc)).toBe(3000);
    expect(await worker.splitTender.coordinator.state(splitId)).toBe('ROLLED_BACK');
    expect(await metricValue('pb_split_tenders_total', { state: 'ROLLED_BACK', reason: 'card_part_short_rolled_back' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('card part approved for less than asked') && l.includes(splitId) && l.includes('"card_confirmed":3500'))).toBe(
      true,
    );
    // Nothing of it is left to refund.
    const refundId = `refund-short-${id}`;
    await client.publish('web.payment.refund', splitRefund(splitId, refundId, 1000));
    await eventually(async () =>
      notifications().some((x) => x.payment.operation_reference === refundId && x.payment.status === 'FAIL' && x.payment.reason === 'split_tender_not_settled'),
    );
  });

  it('card part of an authorization approved for less than asked: the card authorization and the redemption are voided, the order reported FAIL', async () => {
    const id = run();
    const gc = `gc_shortauth${id.replace(/-/g, '')}_4000`;
    await client.publish('web.order_created', order(id, 'pm_card_partial_half', gc, 3000));
    const splitId = `web-order.WEB-${id}`;
    const refs = stepReferences({ id: splitId, step_ids: 'namespaced' });
    const event = await settledEvent(splitId);
    expect(event.payment).toMatchObject({ status: 'FAIL', reason: 'card_part_short_rolled_back', amount: 6500, requested_amount: 10000 });
    const split = event.payment.split_tender as { tenders: Array<{ role: string; status: string; amount: number }> };
    expect(split.tenders.map((t) => [t.role, t.status, t.amount])).toEqual([
      ['redeem', 'SUCCESS', 3000],
      ['charge', 'SUCCESS', 3500],
      ['release', 'SUCCESS', 3500],
      ['reverse', 'SUCCESS', 3000],
    ]);
    expect(await worker.ledger.get(refs.cardVoid)).toMatchObject({ state: 'SUCCEEDED', command: 'cancel' });
    expect(await balance(gc)).toBe(4000);
  });

  it('a worker that dies between the redemption and the card charge: the sweep resumes the split, redeeming once', async () => {
    const id = run();
    const gc = `gc_crash${id.replace(/-/g, '')}_6000`;
    const command = splitSale(id, 'pm_card_visa', gc, 2000, 9000);
    const splitId = command.payment.operation_reference!;
    const refs = stepReferences({ id: splitId, step_ids: 'namespaced' });
    // The first process: records the split, redeems, and dies as it submits the card part.
    worker.splitTender.stopSweep();
    const submit = async (c: PaymentCommand): Promise<void> => {
      const opId = c.payment.operation_reference!;
      if (opId === refs.card) throw new Error('worker killed');
      const { created } = await worker.ledger.create(opId, c, Date.now());
      if (created) await worker.deliveryQueue.add('deliver', { operationId: opId }, { jobId: bullJobId(opId) });
    };
    const dying = new SplitTenderCoordinator({
      submit,
      outcome: (opId) => ledgerStepOutcome(worker.ledger, opId),
      redis: worker.redis,
      keyPrefix: config.redis.keyPrefix,
      logger: silentLogger(),
    });
    const plan = planOf(splitId, command);
    await dying.begin(plan);
    await eventually(async () => {
      await dying.advance(plan).catch(() => undefined);
      return (await dying.state(splitId)) === 'CHARGING_CARD';
    }, 30_000);
    await expect(dying.advance(plan)).rejects.toThrow('worker killed');
    expect(await balance(gc)).toBe(4000);
    expect(await worker.ledger.get(refs.card)).toBeNull();
    // Another worker's sweep finds it on the open index and carries it on from the card part.
    worker.splitTender.startSweep();
    const event = await settledEvent(splitId);
    expect(event.payment.status).toBe('SUCCESS');
    expect((await worker.ledger.get(refs.card))?.payment.amount).toBe(7000);
    expect(await balance(gc)).toBe(4000);
  });

  it('refunds a split tender sale card first, then the gift card, and reports each part', async () => {
    const id = run();
    const gc = `gc_refund${id.replace(/-/g, '')}_3000`;
    const sale = splitSale(id, 'pm_card_visa', gc, 3000, 10000);
    const splitId = sale.payment.operation_reference!;
    await client.publish('web.payment.sale', sale);
    // Cut short by this sale's own dead letter only: another test's, confirmed late, is no news of this one.
    await eventually(
      async () => (await client.drainDeadLetters()).some(holding(splitId)) || (await worker.splitTender.coordinator.state(splitId)) !== null,
      20_000,
    );
    expect(await worker.splitTender.coordinator.state(splitId)).not.toBeNull();
    expect((await settledEvent(splitId)).payment.status).toBe('SUCCESS');
    expect(await balance(gc)).toBe(0);
    const refundId = `refund-${id}`;
    const refund: PaymentCommand = {
      version: 1,
      command: 'refund',
      channel: 'web',
      received_at: new Date().toISOString(),
      payment: {
        gateway: 'sim',
        gateway_account: 'acme',
        gateway_key: splitId,
        amount: 8000,
        currency: 'EUR',
        operation_reference: refundId,
        split_tender: true,
      },
    };
    await client.publish('web.payment.refund', refund);
    let refunded: Notified | undefined;
    await eventually(async () => {
      refunded = notifications().find((x) => x.method === config.serviceBus.methods.notifications.refunded && x.payment.operation_reference === refundId);
      return refunded !== undefined;
    }, 60_000);
    expect(refunded!.payment.status).toBe('SUCCESS');
    const parts = (refunded!.payment.split_tender_refund as { parts: Array<{ tender: string; amount: number; status: string }> }).parts;
    expect(parts.map((p) => [p.tender, p.amount, p.status])).toEqual([
      ['card', 7000, 'SUCCESS'],
      ['gift_card', 1000, 'SUCCESS'],
    ]);
    expect(await balance(gc)).toBe(1000);
    // The card part went back first: its refund was recorded before the gift card's.
    const refundParts = refundReferences({ refundId, stepIds: 'namespaced' });
    const cardRefund = await worker.ledger.get(refundParts.card);
    const gcRefund = await worker.ledger.get(refundParts.gift_card);
    expect(cardRefund!.createdAt).toBeLessThanOrEqual(gcRefund!.createdAt);
    expect(gcRefund!.createdAt).toBeGreaterThanOrEqual(cardRefund!.updatedAt);
    // What is left to refund is 2000 (all on the gift card): more is refused with its FAIL event.
    const tooMuch = `refund2-${id}`;
    await client.publish('web.payment.refund', { ...refund, payment: { ...refund.payment, amount: 2001, operation_reference: tooMuch } });
    await eventually(async () =>
      notifications().some((x) => x.payment.operation_reference === tooMuch && x.payment.status === 'FAIL' && x.payment.reason === 'amount_exceeds_refundable'),
    );
  });
  it('a split refund under the reference of an ordinary operation is refused as an IDEMPOTENCY_CONFLICT, nothing refunded', async () => {
    const id = run();
    const gc = `gc_taken${id.replace(/-/g, '')}_3000`;
    const splitId = await settledSale(`${id}t`, gc);
    await client.drainDeadLetters();
    // An ordinary authorization the channel sent under the reference it now reuses for the split refund.
    const reference = `auth-taken-${id}`;
    await client.publish(
      'web.payment.authorize',
      channelCommand(
        'authorize',
        {},
        { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa', amount: 500, order_id: `ORD-${id}`, operation_reference: reference },
      ),
    );
    await eventually(async () => (await worker.ledger.get(reference))?.state === 'SUCCEEDED', 30_000);

    await client.publish('web.payment.refund', splitRefund(splitId, reference, 1000));
    await eventually(
      async () => notifications().some((x) => x.payment.operation_reference === reference && x.payment.reason === 'idempotency_conflict'),
      30_000,
    );
    // The event and the dead letter travel apart (bus, broker): the letter is waited for, not read once.
    const dead = (await deadLettersUntil(client, (seen) => seen.some(holding(reference)))).filter(holding(reference));
    expect(dead.map((m) => m.properties.headers?.['x-pb-code'])).toEqual(['IDEMPOTENCY_CONFLICT']);
    expect(await worker.splitTender.coordinator.store.refund(splitId, reference)).toBeNull();
    expect(await balance(gc)).toBe(0);
  });

  /**
   * Publishes an ordinary authorization under `reference` (a split's or split refund's id) and checks it was
   * refused as an idempotency conflict: its dead letter, its FAIL event, the metric, the log line, and no
   * operation in the ledger.
   */
  async function expectOrdinaryRefused(reference: string, orderId: string): Promise<void> {
    await client.drainDeadLetters();
    const before = (await metricValue('pb_idempotency_conflicts_total', { channel: 'web' })) ?? 0;
    await client.publish(
      'web.payment.authorize',
      channelCommand(
        'authorize',
        {},
        { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa', amount: 500, order_id: orderId, operation_reference: reference },
      ),
    );
    let conflict: Notified | undefined;
    await eventually(async () => {
      conflict = notifications().find((x) => x.payment.operation_reference === reference && x.payment.reason === 'idempotency_conflict');
      return conflict !== undefined;
    }, 30_000);
    expect(conflict!.method).toBe(config.serviceBus.methods.notifications.authorized);
    expect(conflict!.payment).toMatchObject({ status: 'FAIL', amount: 500, field: 'payment.operation_reference' });
    // Its own letter: another test's, confirmed late in this file's namespace, may come first.
    const dead = (await deadLettersUntil(client, (seen) => seen.some(holding(reference)))).filter(holding(reference));
    expect(dead).toHaveLength(1);
    expect(dead[0].properties.headers?.['x-pb-code']).toBe('IDEMPOTENCY_CONFLICT');
    expect(dead[0].properties.headers?.['x-pb-field']).toBe('payment.operation_reference');
    expect(dead[0].properties.headers?.['x-pb-reason']).toMatch(/^idempotency_conflict/);
    expect((JSON.parse(dead[0].content.toString()) as PaymentCommand).command).toBe('authorize');
    expect(await metricValue('pb_idempotency_conflicts_total', { channel: 'web' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('idempotency conflict') && l.includes(reference) && l.includes('"warn"'))).toBe(true);
    // Nothing was created under the reference, in any shard: the split's events stay the only ones under it.
    expect(await worker.ledger.get(reference)).toBeNull();
    expect(await worker.ledger.shardOf(reference, true)).toBeNull();
  }

  it("an ordinary authorization under a split's reference is refused as an IDEMPOTENCY_CONFLICT; a repeat of the split stays a duplicate", async () => {
    const id = run();
    const gc = `gc_ref${id.replace(/-/g, '')}_3000`;
    const sale = splitSale(id, 'pm_card_visa', gc, 3000, 10000);
    const splitId = await settledSale(id, gc);
    await expectOrdinaryRefused(splitId, `ORD-${id}`);
    // The split is as it was: settled, its steps untouched.
    expect(await worker.splitTender.coordinator.state(splitId)).toBe('DONE');
    expect((await worker.ledger.get(stepReferences({ id: splitId, step_ids: 'namespaced' }).card))?.state).toBe('SUCCEEDED');

    // The same split sent again (same id, same money): no conflict, nothing redeemed or reported again.
    const duplicates = worker.consumer.stats.duplicates + worker.consumer.stats.accepted;
    await client.publish('web.payment.sale', { ...sale, received_at: new Date(Date.now() + 1000).toISOString() });
    await eventually(() => worker.consumer.stats.duplicates + worker.consumer.stats.accepted > duplicates);
    await new Promise((r) => setTimeout(r, 500));
    expect((await client.drainDeadLetters()).filter(holding(splitId))).toHaveLength(0);
    expect(notifications().filter((x) => x.payment.operation_reference === splitId && x.payment.reason === 'idempotency_conflict')).toHaveLength(1);
    expect(
      notifications().filter((x) => x.method === config.serviceBus.methods.notifications.split_tender_settled && x.payment.operation_reference === splitId),
    ).toHaveLength(1);
    expect(await balance(gc)).toBe(0);
  });

  it("an ordinary authorization under a split refund's reference is refused as an IDEMPOTENCY_CONFLICT", async () => {
    const id = run();
    const gc = `gc_refref${id.replace(/-/g, '')}_3000`;
    const splitId = await settledSale(id, gc);
    const refundId = `refund-ref-${id}`;
    await refundedOk(splitId, refundId, 1000);
    await expectOrdinaryRefused(refundId, `ORD-${id}`);
    expect((await worker.splitTender.coordinator.store.refund(splitId, refundId))?.state).toBe('REFUNDED');
  });

  it("a split sale under a split refund's id is refused as an IDEMPOTENCY_CONFLICT naming that refund, nothing redeemed", async () => {
    const id = run();
    const splitId = await settledSale(id, `gc_refsale${id.replace(/-/g, '')}_3000`);
    const refundId = `refund-then-sale-${id}`;
    await refundedOk(splitId, refundId, 1000);
    await client.drainDeadLetters();
    const gc = `gc_refsale2${id.replace(/-/g, '')}_3000`;
    const sale = splitSale(`${id}x`, 'pm_card_visa', gc, 3000, 10000);
    await client.publish('web.payment.sale', { ...sale, payment: { ...sale.payment, operation_reference: refundId } });
    await eventually(
      async () => notifications().some((x) => x.payment.operation_reference === refundId && x.payment.reason === 'idempotency_conflict'),
      30_000,
    );
    const dead = (await deadLettersUntil(client, (seen) => seen.some(holding(refundId)))).filter(holding(refundId));
    expect(dead.map((m) => m.properties.headers?.['x-pb-code'])).toEqual(['IDEMPOTENCY_CONFLICT']);
    expect(logs.lines.some((l) => l.includes(refundId) && l.includes(`split refund of ${splitId}`))).toBe(true);
    expect(await worker.splitTender.coordinator.store.plan(refundId)).toBeNull();
    expect(await balance(gc)).toBe(3000);
  });

  it("a split refund under another split's id is refused as an IDEMPOTENCY_CONFLICT naming that split, nothing refunded", async () => {
    const id = run();
    const splitA = await settledSale(`${id}a`, `gc_splitid_a${id.replace(/-/g, '')}_3000`);
    const splitB = await settledSale(`${id}b`, `gc_splitid_b${id.replace(/-/g, '')}_3000`);
    await client.drainDeadLetters();
    await client.publish('web.payment.refund', splitRefund(splitA, splitB, 1000));
    await eventually(
      async () =>
        notifications().some(
          (x) =>
            x.method === config.serviceBus.methods.notifications.refunded &&
            x.payment.operation_reference === splitB &&
            x.payment.reason === 'idempotency_conflict',
        ),
      30_000,
    );
    // The refund under split B's id names split A: its body holds both.
    const mine = (l: GetMessage) => holding(splitA)(l) && holding(splitB)(l);
    const dead = (await deadLettersUntil(client, (seen) => seen.some(mine))).filter(mine);
    expect(dead.map((m) => m.properties.headers?.['x-pb-code'])).toEqual(['IDEMPOTENCY_CONFLICT']);
    expect(logs.lines.some((l) => l.includes(splitB) && l.includes(`split tender ${splitB}`))).toBe(true);
    expect(await worker.splitTender.coordinator.store.refund(splitA, splitB)).toBeNull();
    // Split B is as it was.
    expect(await worker.splitTender.coordinator.state(splitB)).toBe('DONE');
  });

  it('a refund id already used on one split is refused on another, and on the same split with other money: IDEMPOTENCY_CONFLICT, nothing refunded twice', async () => {
    const id = run();
    const gcA = `gc_dupa${id.replace(/-/g, '')}_3000`;
    const gcB = `gc_dupb${id.replace(/-/g, '')}_3000`;
    const splitA = await settledSale(`${id}a`, gcA);
    const splitB = await settledSale(`${id}b`, gcB);
    await client.drainDeadLetters();
    const refundId = `refund-dup-${id}`;
    const refunded = () =>
      notifications().filter((x) => x.method === config.serviceBus.methods.notifications.refunded && x.payment.operation_reference === refundId);
    // 5000 card first: 5000 of the card's 7000, the gift card untouched.
    await client.publish('web.payment.refund', splitRefund(splitA, refundId, 5000));
    await eventually(async () => refunded().some((x) => x.payment.status === 'SUCCESS'), 60_000);

    // The same refund id on split B: refused as a conflict, and B's tenders are not refunded.
    await client.publish('web.payment.refund', splitRefund(splitB, refundId, 5000));
    await eventually(async () => refunded().some((x) => x.payment.reason === 'idempotency_conflict'), 30_000);
    const dead = (await deadLettersUntil(client, (seen) => seen.some(holding(refundId)))).filter(holding(refundId));
    expect(dead.map((m) => (JSON.parse(m.content.toString()) as { payment: { gateway_key: string } }).payment.gateway_key)).toEqual([splitB]);
    expect(dead[0].properties.headers?.['x-pb-code']).toBe('IDEMPOTENCY_CONFLICT');
    expect(dead[0].properties.headers?.['x-pb-field']).toBe('payment.operation_reference');
    expect(await worker.splitTender.coordinator.store.refund(splitB, refundId)).toBeNull();

    // The same id on split A with other money: a conflict too; the recorded refund keeps its 5000.
    await client.publish('web.payment.refund', splitRefund(splitA, refundId, 6000));
    await eventually(async () => refunded().filter((x) => x.payment.reason === 'idempotency_conflict').length === 2, 30_000);
    const recorded = await worker.splitTender.coordinator.store.refund(splitA, refundId);
    expect(recorded!.card + recorded!.gift_card).toBe(5000);

    // A true repeat (same split, same money) is no conflict: nothing more is refunded, no further event.
    await client.publish('web.payment.refund', splitRefund(splitA, refundId, 5000));
    await new Promise((r) => setTimeout(r, 1000));
    expect(refunded().filter((x) => x.payment.status === 'SUCCESS')).toHaveLength(1);
    expect(refunded()).toHaveLength(3);
    expect(await balance(gcA)).toBe(0);
    expect(await balance(gcB)).toBe(0);
  });
});

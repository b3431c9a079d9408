import { randomBytes } from 'node:crypto';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OrphanReversal, orphanRefundOperationId, reverseSuccessAfterFailure, voidOperationId } from '../../../src/poller/orphan-reversal';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { stepReferences } from '../../../src/split-tender/split-tender-plan';
import { bullJobId } from '../../../src/queueing/job-id';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { deadLettersUntil, ofOrder } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { SplitTenderStack, splitTenderCommand, useSplitTenderStack } from '../../support/split-tender-stack';
import { eventually } from '../../support/tcp-proxy';

/**
 * A split tender whose card part was declined (the split rolled back, the gift card reversed, the OMS told the
 * order FAIL), then approved by the PSP after all: a success after the failure. Nothing will capture that card
 * payment, so it is an orphan the bridge reverses (an authorization voided, a sale refunded), and the OMS hears
 * the adjustment and the reversal's own event. Real processes (web: the simulator's signed webhooks; worker:
 * commands, split sweep, delivery, outcomes) on the real RabbitMQ and Redis, with the PSP simulator.
 */

jest.setTimeout(120_000);

const API_KEY = `sim-late-${randomBytes(6).toString('hex')}`;
const SECRET = 'whsec-split-late-success-0123456789';
const RUN = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
const logs = captureLogger('warn');
const notes: Array<{ method: string; payment: Record<string, unknown>; adjustment?: Record<string, unknown> }> = [];
const stack = useSplitTenderStack({
  apiKey: API_KEY,
  webhookSecret: SECRET,
  logger: logs.logger,
  gatewayTimeoutMs: 3000,
  config: { 'authorizations.orphan_reversal': 'on', 'delivery.backoff_base_ms': 50, 'delivery.backoff_max_ms': 500 },
  notifier: {
    notify: async (method, params) => {
      notes.push({ method, payment: params.payment as Record<string, unknown>, adjustment: params.adjustment as Record<string, unknown> | undefined });
    },
  },
});
let sim: PspSimulator;
let config: Config;
let worker: WorkerProcess;
let client: SplitTenderStack['client'];
beforeAll(() => ({ sim, config, worker, client } = stack));

function eventsOf(id: string): typeof notes {
  return notes.filter((n) => n.payment?.operation_reference === id);
}

/** A split of `command` whose card part the PSP declines. */
function split(command: 'authorize' | 'sale', id: string, giftCard: string): PaymentCommand {
  return splitTenderCommand(command, { id, card: 'pm_card_declined', giftCard });
}

async function simAuthorization(operationReference: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${sim.url}/v1/operations/${encodeURIComponent(operationReference)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  const stored = (await res.json()) as Record<string, unknown>;
  const authId = stored.object === 'authorization' ? stored.id : stored.authorization;
  const auth = await fetch(`${sim.url}/v1/authorizations/${String(authId)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return (await auth.json()) as Record<string, unknown>;
}

/** Runs the split to its rolled-back end: the card declined, the gift card reversed, the OMS told FAIL. */
async function rolledBack(command: 'authorize' | 'sale', tag: string): Promise<{ id: string; card: string }> {
  const id = `late-${tag}-${RUN}`;
  await client.publish(`web.payment.${command}`, split(command, id, `gc_late_${tag}_${RUN.replace(/[^a-z0-9]/g, '')}_5000`));
  await eventually(
    () =>
      eventsOf(id).some(
        (n) => n.method === config.serviceBus.methods.notifications.split_tender_settled && n.payment.reason === 'card_part_failed_gift_card_reversed',
      ),
    60_000,
  );
  const card = stepReferences({ id, step_ids: 'namespaced' }).card;
  expect(await worker.ledger.get(card)).toMatchObject({ state: 'FAILED' });
  return { id, card };
}

/** The PSP approves the declined card part after all (for `amount` only: a partial approval), and says so by its signed webhook. */
async function approvedLate(card: string, amount?: number): Promise<void> {
  const res = await fetch(`${sim.url}/_control/late-approval`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reference: card, ...(amount !== undefined ? { amount } : {}) }),
  });
  expect(res.status).toBe(200);
}

/**
 * The card part of a rolled-back split sale (EUR 70.00), charged late by the PSP, and a refund of `amount` of it the
 * OMS sent after hearing so, recorded before the late success: a dependent in flight, so the reversal the success asks
 * for waits (its log line seen). The refund is not delivered. The card part and the refund's id.
 */
async function lateSuccessWithRefundRecorded(tag: string, amount: number): Promise<{ card: string; refundId: string }> {
  const { card } = await rolledBack('sale', tag);
  const failed = (await worker.ledger.get(card))!;
  const refundId = `refund-${tag}-${RUN}`;
  await worker.ledger.create(refundId, {
    version: 1,
    command: 'refund',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: card,
      amount,
      currency: 'EUR',
      order_id: failed.payment.order_id,
      operation_reference: refundId,
    },
  });
  await approvedLate(card);
  await eventually(async () => (await worker.ledger.get(card))?.succeededAfterFailure !== undefined, 30_000);
  await eventually(() => logs.lines.some((l) => l.includes('it is not being reversed') && l.includes(card) && l.includes('dependent_in_flight')), 30_000);
  return { card, refundId };
}

describe('split tender: the card part declined, then approved by the PSP after the split rolled back', () => {
  it('an authorization: voided at the PSP as an orphan; the OMS gets the adjustment and the cancelled event', async () => {
    const before = await metricValue('pb_orphan_reversals_total', { gateway: 'sim', mode: 'on', reason: 'oms_told_failed' });
    const splitBefore = await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'authorize', release: 'voided' });
    const { id, card } = await rolledBack('authorize', 'auth');
    await approvedLate(card);
    const voidId = voidOperationId(card);
    await eventually(async () => (await worker.ledger.get(voidId))?.state === 'SUCCEEDED', 60_000);
    expect(await worker.ledger.get(voidId)).toMatchObject({
      command: 'cancel',
      channel: 'bridge',
      payment: { orphan_reversal: 'oms_told_failed', amount: 7000 },
    });
    expect(await simAuthorization(card)).toMatchObject({ status: 'cancelled', amount: 7000 });
    await eventually(() => eventsOf(voidId).some((n) => n.payment.status === 'SUCCESS'), 30_000);
    const adjusted = eventsOf(card).filter((n) => n.method === config.serviceBus.methods.notifications.adjusted);
    expect(adjusted).toHaveLength(1);
    expect(adjusted[0].adjustment).toMatchObject({ kind: 'succeeded_after_failure' });
    const cancelled = eventsOf(voidId).find((n) => n.payment.status === 'SUCCESS');
    expect(cancelled).toMatchObject({ method: config.serviceBus.methods.notifications.cancelled, payment: { orphan_reversal: 'oms_told_failed' } });
    expect(await metricValue('pb_orphan_reversals_total', { gateway: 'sim', mode: 'on', reason: 'oms_told_failed' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('orphan reversal: voiding an authorization nothing will capture') && l.includes(card))).toBe(true);
    expect(await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'authorize', release: 'voided' })).toBe(splitBefore + 1);
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'split tender: a part of a failed split was approved by the PSP after its failure; reversing it' && l.operation_id === card);
    expect(line).toMatchObject({ split: id, tender: 'card', release: 'voided', reversal_operation_id: voidId, source: 'webhook' });
  });

  it('asked again for an authorization voided already (a reconciliation re-run, a retried job): nothing new, counted and warned of once', async () => {
    const { card } = await rolledBack('authorize', 'again');
    await approvedLate(card);
    const voidId = voidOperationId(card);
    await eventually(async () => (await worker.ledger.get(voidId))?.state === 'SUCCEEDED', 60_000);
    const op = (await worker.ledger.get(card))!;
    const labels = (release: string) => ({ tender: 'card', command: 'authorize', release });
    const voided = await metricValue('pb_split_tender_late_successes_total', labels('voided'));
    const already = await metricValue('pb_split_tender_late_successes_total', labels('already_requested'));
    const warned = () =>
      logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => typeof l.message === 'string' && l.message.startsWith('split tender: a part of a failed split') && l.operation_id === card).length;
    const warnedBefore = warned();
    const orphans = new OrphanReversal({
      config,
      redis: worker.redis,
      ledger: worker.ledger,
      deliveryQueue: worker.deliveryQueue,
      logger: logs.logger,
      mode: 'on',
    });
    for (let run = 0; run < 2; run += 1) {
      const decision = await reverseSuccessAfterFailure(orphans, logs.logger, op, op.gatewayReference, 'reconciliation', {}, { repeat: true });
      expect(decision).toMatchObject({ outcome: 'already_requested', voidId });
    }
    expect(await metricValue('pb_split_tender_late_successes_total', labels('voided'))).toBe(voided);
    expect(await metricValue('pb_split_tender_late_successes_total', labels('already_requested'))).toBe(already);
    expect(warned()).toBe(warnedBefore);
  });

  it('a sale: refunded at the PSP as an orphan; the OMS gets the adjustment and the refunded event', async () => {
    const { card } = await rolledBack('sale', 'sale');
    await approvedLate(card);
    // The refund's id of the bridge's own (orphanRefundOperationId): `_<sale id>.refund`.
    const refundId = `_${card}.refund`;
    await eventually(async () => (await worker.ledger.get(refundId))?.state === 'SUCCEEDED', 60_000);
    expect(await worker.ledger.get(refundId)).toMatchObject({
      command: 'refund',
      channel: 'bridge',
      payment: { orphan_reversal: 'oms_told_failed', amount: 7000 },
    });
    expect(await simAuthorization(card)).toMatchObject({ status: 'refunded', amount_captured: 7000, amount_refunded: 7000 });
    await eventually(() => eventsOf(refundId).some((n) => n.payment.status === 'SUCCESS'), 30_000);
    expect(eventsOf(refundId).find((n) => n.payment.status === 'SUCCESS')).toMatchObject({
      method: config.serviceBus.methods.notifications.refunded,
      payment: { orphan_reversal: 'oms_told_failed' },
    });
    const adjusted = eventsOf(card).filter((n) => n.method === config.serviceBus.methods.notifications.adjusted);
    expect(adjusted).toHaveLength(1);
    expect(adjusted[0].adjustment).toMatchObject({ kind: 'succeeded_after_failure' });
    expect(logs.lines.some((l) => l.includes('orphan reversal: refunding a charge nothing will keep') && l.includes(card))).toBe(true);
  });

  it('a sale charged late for less than was asked: refunded for what the PSP charged, which the PSP accepts; the OMS hears that amount', async () => {
    const { card } = await rolledBack('sale', 'salepart');
    // The card part asked 7000; the PSP charges 2500 of it after all.
    await approvedLate(card, 2500);
    const refundId = orphanRefundOperationId(card);
    await eventually(async () => ['SUCCEEDED', 'FAILED'].includes((await worker.ledger.get(refundId))?.state ?? ''), 60_000);
    expect(await worker.ledger.get(refundId)).toMatchObject({
      command: 'refund',
      state: 'SUCCEEDED',
      payment: { orphan_reversal: 'oms_told_failed', amount: 2500 },
    });
    expect(await simAuthorization(card)).toMatchObject({ status: 'refunded', amount: 2500, amount_captured: 2500, amount_refunded: 2500 });
    await eventually(() => eventsOf(refundId).some((n) => n.payment.status !== undefined), 30_000);
    expect(eventsOf(refundId).map((n) => n.payment)).toEqual([
      expect.objectContaining({ status: 'SUCCESS', amount: 2500, orphan_reversal: 'oms_told_failed' }),
    ]);
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.message === 'orphan reversal: refunding a charge nothing will keep' && l.operation_id === card)).toMatchObject({
      amount: 2500,
      amount_basis: 'confirmed',
    });
    expect(
      lines.find(
        (l) => l.message === 'split tender: a part of a failed split was approved by the PSP after its failure; reversing it' && l.operation_id === card,
      ),
    ).toMatchObject({ amount: 2500, amount_basis: 'confirmed' });
  });

  it('an authorization approved late for less than was asked: voided for what the PSP holds; the OMS hears that amount', async () => {
    const { card } = await rolledBack('authorize', 'authpart');
    await approvedLate(card, 4000);
    const voidId = voidOperationId(card);
    await eventually(async () => ['SUCCEEDED', 'FAILED'].includes((await worker.ledger.get(voidId))?.state ?? ''), 60_000);
    expect(await worker.ledger.get(voidId)).toMatchObject({
      command: 'cancel',
      state: 'SUCCEEDED',
      payment: { orphan_reversal: 'oms_told_failed', amount: 4000 },
    });
    expect(await simAuthorization(card)).toMatchObject({ status: 'cancelled', amount: 4000 });
    await eventually(() => eventsOf(voidId).some((n) => n.payment.status === 'SUCCESS'), 30_000);
    expect(eventsOf(voidId).find((n) => n.payment.status === 'SUCCESS')?.payment).toMatchObject({ amount: 4000, orphan_reversal: 'oms_told_failed' });
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'orphan reversal: voiding an authorization nothing will capture' && l.operation_id === card);
    expect(line).toMatchObject({ amount: 4000, amount_basis: 'confirmed' });
  });

  it('in dry run nothing is refunded: the charge is reported as what would be refunded, counted once, and left for a person', async () => {
    const { card } = await rolledBack('sale', 'dry');
    const op = (await worker.ledger.get(card))!;
    const dryRun = new OrphanReversal({
      config,
      redis: worker.redis,
      ledger: worker.ledger,
      deliveryQueue: worker.deliveryQueue,
      logger: logs.logger,
      mode: 'dry_run',
    });
    const before = await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'sale', release: 'would_refund' });
    const decision = await reverseSuccessAfterFailure(dryRun, logs.logger, op, op.gatewayReference, 'reconciliation', {});
    expect(decision).toMatchObject({ outcome: 'would_void', reversal: 'refund', voidId: orphanRefundOperationId(card), splitTender: { tender: 'card' } });
    expect(await worker.ledger.get(orphanRefundOperationId(card))).toBeNull();
    expect(await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'sale', release: 'would_refund' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('orphan reversal (dry run): would refund this charge') && l.includes(card))).toBe(true);
    expect(logs.lines.some((l) => l.includes('and it is not being reversed: reverse it at the PSP') && l.includes(card))).toBe(true);
  });
});

describe('a split tender sale charged late and partly refunded before its reversal', () => {
  /**
   * The card part of a rolled-back split sale (EUR 70.00), charged late by the PSP, and a refund of `amount` of it the
   * OMS sent after hearing so: recorded before the late success (a dependent in flight, so the reversal the success
   * asks for waits), delivered after it. The card part and its PSP reference.
   */
  async function partlyRefunded(tag: string, amount: number): Promise<{ card: string; reference: string }> {
    const { card, refundId } = await lateSuccessWithRefundRecorded(tag, amount);
    await worker.deliveryQueue.add('deliver', { operationId: refundId }, { jobId: bullJobId(refundId) });
    await eventually(async () => ['SUCCEEDED', 'FAILED'].includes((await worker.ledger.get(refundId))?.state ?? ''), 30_000);
    expect((await worker.ledger.get(refundId))?.state).toBe('SUCCEEDED');
    const reference = String((await simAuthorization(card)).id);
    return { card, reference };
  }

  function orphansOn(): OrphanReversal {
    return new OrphanReversal({ config, redis: worker.redis, ledger: worker.ledger, deliveryQueue: worker.deliveryQueue, logger: logs.logger, mode: 'on' });
  }

  it('is refunded for what is left of the charge, which the PSP accepts; the decision, log line and history say so', async () => {
    const { card, reference } = await partlyRefunded('leftover', 2000);
    const op = (await worker.ledger.get(card))!;
    const decision = await reverseSuccessAfterFailure(orphansOn(), logs.logger, op, reference, 'reconciliation', {});
    expect(decision).toMatchObject({ outcome: 'voided', reversal: 'refund', amount: 5000, currency: 'EUR', amountBasis: 'confirmed', refunded: 2000 });
    const refundId = orphanRefundOperationId(card);
    await eventually(async () => ['SUCCEEDED', 'FAILED'].includes((await worker.ledger.get(refundId))?.state ?? ''), 60_000);
    expect(await worker.ledger.get(refundId)).toMatchObject({ state: 'SUCCEEDED', payment: { amount: 5000, orphan_reversal: 'oms_told_failed' } });
    expect(await simAuthorization(card)).toMatchObject({ status: 'refunded', amount_captured: 7000, amount_refunded: 7000 });
    expect(await worker.ledger.interactions(card)).toContainEqual(
      expect.objectContaining({
        event: 'orphan_reversal',
        outcome: 'voided',
        reversal: 'refund',
        amount: 5000,
        currency: 'EUR',
        amount_basis: 'confirmed',
        refunded: 2000,
      }),
    );
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'orphan reversal: refunding a charge nothing will keep' && l.operation_id === card);
    expect(line).toMatchObject({ amount: 5000, currency: 'EUR', refunded: 2000 });
  });

  it('refunded in full already: nothing left, nothing sent; said once, with its own metric and a history entry', async () => {
    const { card, reference } = await partlyRefunded('gone', 7000);
    const op = (await worker.ledger.get(card))!;
    const before = await metricValue('pb_orphan_reversals_nothing_left_total', { gateway: 'sim', mode: 'on', reason: 'oms_told_failed' });
    const splitBefore = await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'sale', release: 'nothing_left' });
    const orphans = orphansOn();
    const first = await reverseSuccessAfterFailure(orphans, logs.logger, op, reference, 'reconciliation', {});
    const again = await reverseSuccessAfterFailure(orphans, logs.logger, op, reference, 'webhook', {});
    for (const decision of [first, again]) expect(decision).toMatchObject({ outcome: 'skipped', skipped: 'nothing_left', amount: 0, refunded: 7000 });
    expect(await worker.ledger.get(orphanRefundOperationId(card))).toBeNull();
    expect(await simAuthorization(card)).toMatchObject({ status: 'refunded', amount_refunded: 7000 });
    expect(await metricValue('pb_orphan_reversals_nothing_left_total', { gateway: 'sim', mode: 'on', reason: 'oms_told_failed' })).toBe(before + 1);
    expect(await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'sale', release: 'nothing_left' })).toBe(splitBefore + 2);
    expect((await worker.ledger.interactions(card)).filter((i) => i.event === 'orphan_reversal')).toEqual([
      expect.objectContaining({ outcome: 'nothing_left', reversal: 'refund', amount: 0, refunded: 7000, currency: 'EUR' }),
    ]);
    expect(logs.lines.some((l) => l.includes('and it is not being reversed: reverse it at the PSP') && l.includes(card) && l.includes('nothing_left'))).toBe(
      false,
    );
  });
});

describe("a split tender sale charged late, a refund of which FAILED for a reason the PSP retries itself (held for Adyen's retry)", () => {
  /**
   * The card part of a rolled-back split sale (EUR 70.00), charged late by the PSP, and a refund of `amount` of it the
   * OMS sent after hearing so, which the PSP failed for a reason it retries itself (Adyen's technical REFUND_FAILED: the
   * refund's `held_for_psp_retry`), as the recorder leaves it. The card part and its PSP reference.
   */
  async function heldRefund(tag: string, amount: number): Promise<{ card: string; reference: string; refundId: string }> {
    const { card, refundId } = await lateSuccessWithRefundRecorded(tag, amount);
    // Registered on the sale as delivery registers it, sent, and failed for the technical issue Adyen retries itself.
    expect(await worker.ledger.authorizationView(card, refundId)).not.toBeNull();
    await worker.ledger.transition(refundId, 'SENT', { event: 'attempt' });
    const reason = 'Capture rejected by card scheme because of a technical issue.';
    await worker.ledger.transition(refundId, 'FAILED', { event: 'outcome' }, { reason, heldForPspRetry: reason });
    expect((await worker.ledger.dependentsOf(card)).find((d) => d.id === refundId)).toMatchObject({ state: 'FAILED', heldForPspRetry: true });
    const reference = String((await simAuthorization(card)).id);
    return { card, reference, refundId };
  }

  function orphansOn(): OrphanReversal {
    return new OrphanReversal({ config, redis: worker.redis, ledger: worker.ledger, deliveryQueue: worker.deliveryQueue, logger: logs.logger, mode: 'on' });
  }

  it('is refunded only for what the held refund leaves, which the PSP accepts: never the held amount a second time', async () => {
    const { card, reference } = await heldRefund('heldpart', 2000);
    const op = (await worker.ledger.get(card))!;
    const decision = await reverseSuccessAfterFailure(orphansOn(), logs.logger, op, reference, 'reconciliation', {});
    expect(decision).toMatchObject({ outcome: 'voided', reversal: 'refund', amount: 5000, currency: 'EUR', refunded: 0, heldByFailedRefunds: 2000 });
    const refundId = orphanRefundOperationId(card);
    await eventually(async () => ['SUCCEEDED', 'FAILED'].includes((await worker.ledger.get(refundId))?.state ?? ''), 60_000);
    // Sent and done: the bridge's own refund check (amount_held_by_failed_refund) would refuse the whole charge unsent.
    expect(await worker.ledger.get(refundId)).toMatchObject({ state: 'SUCCEEDED', payment: { amount: 5000, orphan_reversal: 'oms_told_failed' } });
    expect(await simAuthorization(card)).toMatchObject({ amount_captured: 7000, amount_refunded: 5000 });
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'orphan reversal: refunding a charge nothing will keep' && l.operation_id === card);
    expect(line).toMatchObject({ amount: 5000, currency: 'EUR', held_by_failed_refunds: 2000 });
  });

  it('held for all that is left: nothing sent, skipped refund_held_for_psp_retry, the split line says to wait for the retry', async () => {
    const { card, reference } = await heldRefund('heldall', 7000);
    const op = (await worker.ledger.get(card))!;
    const before = await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'sale', release: 'held_for_psp_retry' });
    const decision = await reverseSuccessAfterFailure(orphansOn(), logs.logger, op, reference, 'webhook', {});
    expect(decision).toMatchObject({ outcome: 'skipped', skipped: 'refund_held_for_psp_retry', amount: 0, refunded: 0, heldByFailedRefunds: 7000 });
    expect(await worker.ledger.get(orphanRefundOperationId(card))).toBeNull();
    expect(await metricValue('pb_split_tender_late_successes_total', { tender: 'card', command: 'sale', release: 'held_for_psp_retry' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('held by refunds the PSP failed and retries itself') && l.includes(card))).toBe(true);
  });
});

describe('split tender intake: a field the split cannot carry to the PSP is refused, never dropped', () => {
  it.each([
    ['payment_method', { type: 'card', token: 'adyenjs_0_1_25$opaque' }],
    ['three_ds', 'required'],
  ])('payment.%s on a split: dead-lettered INVALID_PARAMS naming the field, no split started', async (field, value) => {
    const id = `late-field-${field}-${RUN}`;
    const command = split('authorize', id, 'gc_late_field_5000');
    const payment = { ...command.payment, [field]: value } as PaymentCommand['payment'];
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.authorize', { ...command, payment });
    await eventually(() => worker.consumer.stats.deadLettered > before, 30_000);
    const mine = (await deadLettersUntil(client, (seen) => seen.some(ofOrder(command.payment.order_id)), 30_000)).filter(ofOrder(command.payment.order_id));
    expect(mine).toHaveLength(1);
    expect(mine[0].properties.headers).toMatchObject({ 'x-pb-code': 'INVALID_PARAMS', 'x-pb-field': `payment.${field}` });
    expect(String(mine[0].properties.headers?.['x-pb-reason'])).toMatch(/^is not carried by a split tender/);
    expect(await worker.splitTender.coordinator.state(id)).toBeNull();
  });
});

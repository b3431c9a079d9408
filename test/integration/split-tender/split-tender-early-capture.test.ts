import { randomBytes } from 'node:crypto';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { stepReferences } from '../../../src/split-tender/split-tender-plan';
import { captureLogger } from '../../support/capture-logger';
import { SplitTenderStack, operationAtPsp, splitTenderCommand, useSplitTenderStack } from '../../support/split-tender-stack';
import { eventually } from '../../support/tcp-proxy';

/**
 * The OMS captures a split tender's gift card step (`_<id>.gc`, the reference its `authorized` event reports) while the
 * card part is still pending (`pm_async`: the simulator settles it by its signed webhook after `asyncDelayMs`). The
 * capture waits for the split: sent once the split is DONE; refused, nothing sent, once it rolled back (the card part
 * declined, the redemption voided). Before, it was sent at once, and the rollback's void of a captured authorization
 * failed (`REVERSAL_FAILED`), the gift card left charged for an order that has no payment. Real processes (web: the
 * webhooks; worker: commands, split sweep, delivery) on the real RabbitMQ and Redis, with the PSP simulator.
 */

jest.setTimeout(120_000);

const API_KEY = `sim-early-${randomBytes(6).toString('hex')}`;
const SECRET = 'whsec-split-early-capture-0123456789';
const RUN = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.replace(/[^a-z0-9]/g, '');
/** How long the simulator keeps the card part pending: the window in which the capture is seen waiting. */
const ASYNC_DELAY_MS = 4000;
const logs = captureLogger('info');
const notes: Array<{ method: string; payment: Record<string, unknown> }> = [];
const stack = useSplitTenderStack({
  apiKey: API_KEY,
  webhookSecret: SECRET,
  logger: logs.logger,
  simulator: { asyncDelayMs: ASYNC_DELAY_MS },
  gatewayTimeoutMs: 3000,
  config: { 'delivery.backoff_base_ms': 50, 'delivery.backoff_max_ms': 500 },
  notifier: {
    notify: async (method, params) => {
      notes.push({ method, payment: params.payment as Record<string, unknown> });
    },
  },
});
let worker: WorkerProcess;
let client: SplitTenderStack['client'];
beforeAll(() => ({ worker, client } = stack));
const atPsp = (reference: string) => operationAtPsp(stack, reference);

function eventsOf(id: string): typeof notes {
  return notes.filter((n) => n.payment?.operation_reference === id);
}

function capture(id: string, key: string, reference: string): PaymentCommand {
  return {
    version: 1,
    command: 'capture',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: key,
      amount: 3000,
      currency: 'EUR',
      order_id: `ORD-${id}`,
      operation_reference: reference,
    },
  };
}

/**
 * Starts a split whose card part stays pending at the simulator, waits until its gift card part is authorized (the
 * OMS has its `authorized` event) and the card part pending, then captures the gift card step, and returns once that
 * capture is seen waiting for the split (its history's `waiting_for_siblings`, `awaiting: split_tender`), unsent.
 */
async function earlyCapture(tag: string, card: string): Promise<{ id: string; captureId: string }> {
  const id = `early-${tag}-${RUN}`;
  const refs = stepReferences({ id, step_ids: 'namespaced' });
  await client.publish('web.payment.authorize', splitTenderCommand('authorize', { id, card, giftCard: `gc_early_${tag}_${RUN}_5000` }));
  await eventually(
    async () => (await worker.ledger.get(refs.giftCard))?.state === 'SUCCEEDED' && (await worker.ledger.get(refs.card))?.state === 'PENDING',
    30_000,
  );
  expect(await worker.splitTender.coordinator.state(id)).toBe('CHARGING_CARD');
  const captureId = `cap-${tag}-${RUN}`;
  const waitsBefore = (await metricValue('pb_delivery_dependent_waits_total', { reason: 'split_tender' })) ?? 0;
  await client.publish('web.payment.capture', capture(id, refs.giftCard, captureId));
  await eventually(
    async () => (await worker.ledger.interactions(captureId)).some((e) => e.event === 'waiting_for_siblings' && e.awaiting === 'split_tender'),
    ASYNC_DELAY_MS - 1000,
  );
  // Still waiting, nothing sent, while the card part is pending.
  expect(await worker.ledger.get(captureId)).toMatchObject({ state: 'RECEIVED', attempts: 0 });
  expect(await worker.ledger.get(refs.card)).toMatchObject({ state: 'PENDING' });
  expect(await atPsp(captureId)).toBeNull();
  expect(await metricValue('pb_delivery_dependent_waits_total', { reason: 'split_tender' })).toBeGreaterThan(waitsBefore);
  const line = logs.lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => typeof l.message === 'string' && l.message.startsWith('split tender step: capture, cancel or refund waits') && l.operation_id === captureId);
  expect(line).toMatchObject({ command: 'capture' });
  return { id, captureId };
}

describe('split tender: the OMS captures the gift card step before the split settles', () => {
  it('the capture waits for the split, then goes on once the split is DONE', async () => {
    const { id, captureId } = await earlyCapture('ok', 'pm_async');
    await eventually(async () => (await worker.ledger.get(captureId))?.state === 'SUCCEEDED', 60_000);
    expect(await worker.splitTender.coordinator.state(id)).toBe('DONE');
    expect(await atPsp(captureId)).toMatchObject({ object: 'capture', status: 'captured', amount: 3000 });
    await eventually(() => eventsOf(captureId).some((n) => n.payment.status === 'SUCCESS'), 30_000);
  });

  it('the capture is refused once the split rolled back (card part declined, redemption voided): FAIL naming the reason and field, nothing sent', async () => {
    const refusedBefore = (await metricValue('pb_authorization_refusals_total', { gateway: 'sim', reason: 'SPLIT_TENDER_ROLLED_BACK' })) ?? 0;
    const { id, captureId } = await earlyCapture('rb', 'pm_async_declined');
    await eventually(async () => (await worker.ledger.get(captureId))?.state === 'FAILED', 60_000);
    // The rollback voided the redemption (nothing captured it): the split ROLLED_BACK, not REVERSAL_FAILED.
    expect(await worker.splitTender.coordinator.state(id)).toBe('ROLLED_BACK');
    expect(await worker.ledger.get(stepReferences({ id, step_ids: 'namespaced' }).giftCardVoid)).toMatchObject({ state: 'SUCCEEDED' });
    expect(await worker.ledger.get(captureId)).toMatchObject({
      state: 'FAILED',
      attempts: 0,
      reason: 'SPLIT_TENDER_ROLLED_BACK',
      reasonField: 'payment.gateway_key',
    });
    expect(await atPsp(captureId)).toBeNull();
    await eventually(() => eventsOf(captureId).some((n) => n.payment.status === 'FAIL'), 30_000);
    expect(eventsOf(captureId).find((n) => n.payment.status === 'FAIL')?.payment).toMatchObject({
      reason: 'SPLIT_TENDER_ROLLED_BACK',
      field: 'payment.gateway_key',
    });
    expect(await metricValue('pb_authorization_refusals_total', { gateway: 'sim', reason: 'SPLIT_TENDER_ROLLED_BACK' })).toBe(refusedBefore + 1);
  });
});

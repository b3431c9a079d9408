import { randomBytes } from 'node:crypto';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { stepReferences } from '../../../src/split-tender/split-tender-plan';
import { captureLogger } from '../../support/capture-logger';
import { SplitTenderStack, captureAtPsp, operationAtPsp, splitTenderCommand, useSplitTenderStack } from '../../support/split-tender-stack';
import { eventually } from '../../support/tcp-proxy';

/**
 * A split tender's gift card authorization is captured AT THE PSP (an operator in its dashboard, an account capturing
 * automatically: the simulator's own capture API, under a reference that is none of ours) while the card part is pending;
 * the card part then declines and the split rolls back. The ledger holds no capture of the redemption, so its reversal is
 * a void; the simulator refuses it (422 `authorization_captured`, the authorization in the error with its
 * `amount_captured`), as Stripe refuses the cancel of a `succeeded` PaymentIntent. Before, the split ended
 * REVERSAL_FAILED, the gift card left charged for an order the OMS was told failed; now the void's refusal records what
 * the PSP captured, the reversal is re-decided as a refund of it under its own id, and the split ends ROLLED_BACK. Real
 * processes (web: the webhooks; worker: commands, split sweep, delivery) on the real RabbitMQ and Redis.
 */

jest.setTimeout(120_000);

const API_KEY = `sim-pspcap-${randomBytes(6).toString('hex')}`;
const SECRET = 'whsec-split-psp-capture-0123456789';
const RUN = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.replace(/[^a-z0-9]/g, '');
/** How long the simulator keeps the card part pending: the window in which the gift card is captured at the PSP. */
const ASYNC_DELAY_MS = 3000;
const logs = captureLogger('info');
const stack = useSplitTenderStack({
  apiKey: API_KEY,
  webhookSecret: SECRET,
  logger: logs.logger,
  simulator: { asyncDelayMs: ASYNC_DELAY_MS },
  gatewayTimeoutMs: 3000,
  config: { 'delivery.backoff_base_ms': 50, 'delivery.backoff_max_ms': 500 },
});
let worker: WorkerProcess;
let client: SplitTenderStack['client'];
beforeAll(() => ({ worker, client } = stack));
const atPsp = (reference: string) => operationAtPsp(stack, reference);

/** Starts a split whose card part declines after `ASYNC_DELAY_MS`, and captures `captured` of its redemption at the PSP meanwhile. */
async function rollbackAfterPspCapture(tag: string, captured: number): Promise<{ id: string; refs: ReturnType<typeof stepReferences> }> {
  const id = `pspcap-${tag}-${RUN}`;
  const refs = stepReferences({ id, step_ids: 'namespaced' });
  await client.publish('web.payment.authorize', splitTenderCommand('authorize', { id, card: 'pm_async_declined', giftCard: `gc_pspcap_${tag}_${RUN}_5000` }));
  await eventually(
    async () => (await worker.ledger.get(refs.giftCard))?.state === 'SUCCEEDED' && (await worker.ledger.get(refs.card))?.state === 'PENDING',
    30_000,
  );
  const authId = (await worker.ledger.get(refs.giftCard))?.gatewayReference;
  expect(authId).toBeDefined();
  await captureAtPsp(stack, authId ?? '', captured);
  return { id, refs };
}

describe('split tender: a tender captured at the PSP is refunded on rollback, not left REVERSAL_FAILED', () => {
  it('the void refused as captured records what the PSP captured; the redemption is refunded under its own id and the split ends ROLLED_BACK', async () => {
    const before = (await metricValue('pb_split_tender_voids_refused_captured_total', { gateway: 'sim', outcome: 'refunded' })) ?? 0;
    const { id, refs } = await rollbackAfterPspCapture('full', 3000);
    await eventually(async () => ['ROLLED_BACK', 'REVERSAL_FAILED'].includes((await worker.splitTender.coordinator.state(id)) ?? ''), 60_000);
    expect(await worker.splitTender.coordinator.state(id)).toBe('ROLLED_BACK');
    // The void was sent and refused: the PSP's word of what it captured is on its record.
    expect(await worker.ledger.get(refs.giftCardVoid)).toMatchObject({
      state: 'FAILED',
      reason: 'authorization_captured',
      capturedAtPsp: { amount: 3000, currency: 'EUR' },
    });
    expect(await worker.ledger.get(refs.giftCardRefund)).toMatchObject({ state: 'SUCCEEDED', command: 'refund' });
    expect((await worker.ledger.get(refs.giftCardRefund))?.payment.amount).toBe(3000);
    expect(await atPsp(refs.giftCardRefund)).toMatchObject({ object: 'refund', status: 'refunded', amount: 3000 });
    expect(await metricValue('pb_split_tender_voids_refused_captured_total', { gateway: 'sim', outcome: 'refunded' })).toBe(before + 1);
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => typeof l.message === 'string' && l.message.includes('captured at the PSP; refunding') && l.split === id);
    expect(line).toMatchObject({ level: 'warn', tender: 'gift_card', gateway: 'sim', captured: 3000, refund_operation_id: refs.giftCardRefund });
  });

  it('a partial capture at the PSP is refunded for what was captured, never the whole authorization', async () => {
    const { id, refs } = await rollbackAfterPspCapture('part', 1200);
    await eventually(async () => ['ROLLED_BACK', 'REVERSAL_FAILED'].includes((await worker.splitTender.coordinator.state(id)) ?? ''), 60_000);
    expect(await worker.splitTender.coordinator.state(id)).toBe('ROLLED_BACK');
    expect(await worker.ledger.get(refs.giftCardVoid)).toMatchObject({ state: 'FAILED', capturedAtPsp: { amount: 1200, currency: 'EUR' } });
    expect(await atPsp(refs.giftCardRefund)).toMatchObject({ object: 'refund', status: 'refunded', amount: 1200 });
  });
});

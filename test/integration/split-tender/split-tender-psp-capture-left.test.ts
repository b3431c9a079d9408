import { randomBytes } from 'node:crypto';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { SplitTenderCoordinator, SplitTenderPlan, StepOutcome, stepReferences } from '../../../src/split-tender/split-tender';
import { StepRefunds } from '../../../src/split-tender/split-tender-decision';
import { testRedis } from '../../support/test-redis';

/**
 * A redemption captured at the PSP only (its dashboard), whose void the PSP refuses stating what it captured: the
 * PSP's figure is gross (Stripe's `amount_received`, the simulator's `amount_captured`: a refund of the payment leaves
 * them as they were). What was refunded of that payment meanwhile, at the PSP (`refund_outside_bridge`, the bridge told
 * by its webhook) or by a refund of the OMS that the PSP confirmed, is given back already: the rollback's refund asks
 * only the rest (asked whole, it is refused `amount_exceeds_captured` at delivery or by the PSP and the split ends
 * REVERSAL_FAILED though a refund of the rest would give the money back), and nothing when nothing is left.
 * The coordinator on the real Redis; the ledger and the PSP played by the ports.
 */

let redis: RedisClient;
const prefix = `pbtest:splitleft:${randomBytes(4).toString('hex')}:`;

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
});

function plan(id: string): SplitTenderPlan {
  return {
    id,
    channel: 'web',
    order_id: `ORD-${id}`,
    currency: 'EUR',
    total: 10000,
    capture: false,
    gift_card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_tok', amount: 3000 },
    card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_declined' },
    step_ids: 'namespaced',
  };
}

/**
 * Runs an `authorize` split whose card part declines and whose redemption (3000) was captured at the PSP for `stated`:
 * its void is refused as captured, stating `stated`. `outside`: what the PSP refunded of it outside the bridge;
 * `givenBack`: what refunds of the OMS of it gave back, as the PSP confirmed (both known once the void failed).
 */
async function rollback(tag: string, stated: number, outside: number, givenBack: number) {
  const id = `left-${tag}-${randomBytes(3).toString('hex')}`;
  const refs = stepReferences({ id, step_ids: 'namespaced' });
  const outcomes = new Map<string, StepOutcome>();
  const sent: PaymentCommand[] = [];
  const voidFailed = () => outcomes.get(refs.giftCardVoid)?.state === 'FAILED';
  const c = new SplitTenderCoordinator({
    submit: async (command) => {
      const ref = command.payment.operation_reference ?? '';
      sent.push(command);
      if (outcomes.has(ref)) return;
      if (ref === refs.giftCard) outcomes.set(ref, { state: 'SUCCEEDED', gatewayReference: `auth_${id}`, confirmedAmount: 3000 });
      else if (ref === refs.card) outcomes.set(ref, { state: 'FAILED', reason: 'card_declined' });
      else if (command.command === 'cancel') outcomes.set(ref, { state: 'FAILED', reason: 'authorization_captured', capturedAtPsp: { amount: stated } });
      else outcomes.set(ref, { state: 'SUCCEEDED', confirmedAmount: command.payment.amount });
    },
    outcome: async (ref) => outcomes.get(ref) ?? { state: 'OPEN' },
    // The ledger: no capture of ours; once the void failed, what the PSP stated less the OMS's refunds given back.
    collected: async (ref) => (ref === refs.giftCard ? (voidFailed() ? stated - givenBack : 0) : null),
    refundsOf: async (ref): Promise<StepRefunds> => ({ givenBack: ref === refs.giftCard && voidFailed() ? givenBack : 0, held: 0, inFlight: 0 }),
    refundedOutside: async (ref) => (ref === refs.giftCard && voidFailed() ? outside : 0),
    redis,
    keyPrefix: prefix,
    logger: silentLogger(),
    stepTimeoutMs: 5000,
    pollMs: 20,
  });
  const state = await c.run(plan(id));
  const reversals = sent.filter((x) => x.payment.operation_reference === refs.giftCardVoid || x.payment.operation_reference === refs.giftCardRefund);
  return { state, reversal: await c.store.reversal(id), sent: reversals.map((x) => [x.command, x.payment.amount]) };
}

describe('a redemption captured at the PSP, refunded in part meanwhile: the rollback refunds what is left of what the PSP stated', () => {
  it('less what the PSP refunded of it outside the bridge', async () => {
    expect(await rollback('outside', 3000, 1000, 0)).toEqual({
      state: 'ROLLED_BACK',
      reversal: 'refund:2000',
      sent: [
        ['cancel', 3000],
        ['refund', 2000],
      ],
    });
  });

  it('less what refunds of the OMS of it gave back', async () => {
    expect(await rollback('oms', 3000, 0, 1200)).toEqual({
      state: 'ROLLED_BACK',
      reversal: 'refund:1800',
      sent: [
        ['cancel', 3000],
        ['refund', 1800],
      ],
    });
  });

  it('nothing left (refunded in full at the PSP): nothing sent beside the refused void, the tender reversed, counted', async () => {
    const before = (await metricValue('pb_split_tender_voids_refused_captured_total', { gateway: 'sim', outcome: 'nothing_left' })) ?? 0;
    expect(await rollback('none', 3000, 3000, 0)).toEqual({ state: 'ROLLED_BACK', reversal: 'none:3000', sent: [['cancel', 3000]] });
    expect(await metricValue('pb_split_tender_voids_refused_captured_total', { gateway: 'sim', outcome: 'nothing_left' })).toBe(before + 1);
  });

  it('none refunded: the whole of what the PSP stated', async () => {
    expect(await rollback('whole', 2500, 0, 0)).toEqual({
      state: 'ROLLED_BACK',
      reversal: 'refund:2500',
      sent: [
        ['cancel', 3000],
        ['refund', 2500],
      ],
    });
  });
});

describe("a tender's reversal re-decided after its void was refused as captured (SplitTenderStore.redecideReversal)", () => {
  it('only while the split is rolling back: one ended meanwhile (another process moved it, a worker of before this change) keeps its void, no refund decided', async () => {
    const c = new SplitTenderCoordinator({
      submit: async () => undefined,
      outcome: async () => ({ state: 'OPEN' }),
      redis,
      keyPrefix: prefix,
      logger: silentLogger(),
    });
    const open = plan(`redecide-open-${randomBytes(3).toString('hex')}`);
    await c.begin(open);
    expect(await c.store.move(open.id, 'REDEEMING', 'ROLLING_BACK')).toBe(true);
    expect((await c.store.decideReversal(open.id, 'void', 'gift_card')).decided).toBe(true);
    expect(await c.store.redecideReversal(open.id, 'gift_card', 'void', 'refund:3000')).toBe(true);
    expect(await c.store.reversal(open.id, 'gift_card')).toBe('refund:3000');
    // Once only: it is no void any more.
    expect(await c.store.redecideReversal(open.id, 'gift_card', 'void', 'refund:2000')).toBe(false);

    const ended = plan(`redecide-ended-${randomBytes(3).toString('hex')}`);
    await c.begin(ended);
    expect(await c.store.move(ended.id, 'REDEEMING', 'ROLLING_BACK')).toBe(true);
    expect((await c.store.decideReversal(ended.id, 'void', 'gift_card')).decided).toBe(true);
    expect(await c.store.move(ended.id, 'ROLLING_BACK', 'REVERSAL_FAILED')).toBe(true);
    expect(await c.store.redecideReversal(ended.id, 'gift_card', 'void', 'refund:3000')).toBe(false);
    expect(await c.store.reversal(ended.id, 'gift_card')).toBe('void');
  });
});

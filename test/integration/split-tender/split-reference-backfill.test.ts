/**
 * The one-off backfill of split tender id claims: splits and split refunds recorded before they claimed their
 * ids among the ledger's id claims get that claim (found through their steps and the open index), so an
 * ordinary command under one of their references is refused; ids an operation already holds are reported and
 * left; the run is marked done.
 */
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { ID_CLAIM_TTL_S, Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { idClaimKeyOf, shardOfAnchor } from '../../../src/redis/key-layout';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { backfillSplitReferenceClaims, splitReferenceBackfillMarker } from '../../../src/split-tender/split-reference-backfill';
import { SplitTenderPlan, planDigest, refundReferences, stepCommand, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { SplitTenderStore } from '../../../src/split-tender/split-tender-store';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { channelCommand } from '../../support/fixtures';

const DAY_MS = 86_400_000;
const prefix = `${testNamespace()}:`;
let redis: RedisClient;
let ledger: Ledger;
let store: SplitTenderStore;

function plan(id: string): SplitTenderPlan {
  return {
    id,
    channel: 'web',
    order_id: `ORD-${id}`,
    currency: 'EUR',
    total: 5000,
    gift_card: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'gc_tok_1', amount: 2000 },
    card: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'card_tok_1' },
    step_ids: 'namespaced',
  };
}

function ordinary(id: string): PaymentCommand {
  return channelCommand(
    'authorize',
    {},
    { gateway: 'simulator', gateway_account: 'acme-eu', amount: 500, currency: 'EUR', order_id: `ORD-x-${id}`, operation_reference: id },
  );
}

/** A split begun `daysAgo` days before `now` as an earlier release left it (no claim among the ledger's), with its redemption step unless `noStep`. */
async function unclaimedSplit(id: string, now: number, daysAgo: number, noStep = false): Promise<SplitTenderPlan> {
  const p = plan(id);
  const at = now - daysAgo * DAY_MS;
  await store.begin(p, planDigest(p), at);
  await redis.del(idClaimKeyOf(prefix, id));
  if (!noStep) await ledger.create(stepReferences(p).giftCard, stepCommand(p, 'authorize', stepReferences(p).giftCard, 'gift_card', 2000), at);
  return p;
}

beforeAll(() => {
  redis = testRedis();
  ledger = new Ledger(redis, prefix);
  store = new SplitTenderStore(redis, prefix);
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
});

describe('the split tender id claim backfill', () => {
  it("claims the splits and refunds a claim made at their start would still cover among the ledger's id claims, expiring as claims made then would; older ones are left; an ordinary command under one is then refused", async () => {
    const now = Date.now();
    const recent = await unclaimedSplit('bf-split-recent', now, 30);
    const old = await unclaimedSplit('bf-split-old', now, ID_CLAIM_TTL_S / 86_400 + 1);
    // Still open, its first step not created yet: found through the open index.
    const stepless = await unclaimedSplit('bf-split-stepless', now, 1, true);
    // A refund of the recent split, with its refund id claim and its card part, without the reference claim.
    await store.move(recent.id, 'REDEEMING', 'DONE');
    const refundId = 'bf-refund-1';
    expect('refund' in (await store.beginRefund(recent.id, refundId, 1000, { card: 3000, gift_card: 2000 }, 'card_first', '{}'))).toBe(true);
    await redis.del(idClaimKeyOf(prefix, refundId));
    const part = refundReferences({ refundId, stepIds: 'namespaced' }).card;
    await ledger.create(part, stepCommand(recent, 'refund', part, 'card', 1000, { key: stepReferences(recent).card }), now - DAY_MS);
    // An ordinary operation whose reference looks like a step (`<id>.gc`), and no split of that id.
    await ledger.create('bf-lookalike.gc', ordinary('bf-lookalike.gc'), now - DAY_MS);
    const claimedBefore = (await metricValue('pb_split_reference_claims_backfilled_total', { kind: 'split', outcome: 'claimed' })) ?? 0;

    const report = await backfillSplitReferenceClaims(redis, prefix, now);

    expect(report).toMatchObject({ alreadyDone: false, claimed: 3, operationCount: 0 });
    expect(await metricValue('pb_split_reference_claims_backfilled_total', { kind: 'split', outcome: 'claimed' })).toBe(claimedBefore + 2);
    expect(await redis.get(idClaimKeyOf(prefix, recent.id))).toBe(`split:${recent.id}`);
    expect(await redis.get(idClaimKeyOf(prefix, stepless.id))).toBe(`split:${stepless.id}`);
    expect(await redis.get(idClaimKeyOf(prefix, refundId))).toBe(`split-refund:${recent.id}`);
    expect(await redis.get(idClaimKeyOf(prefix, old.id))).toBeNull();
    expect(await redis.get(idClaimKeyOf(prefix, 'bf-lookalike'))).toBeNull();
    // The split's claim expires when one made at its start would have (30 days short of a new one's); the refund's with its refund id claim.
    const ttl = await redis.ttl(idClaimKeyOf(prefix, recent.id));
    expect(Math.abs(ttl - (ID_CLAIM_TTL_S - 30 * 86_400))).toBeLessThan(5);
    expect(Math.abs((await redis.ttl(idClaimKeyOf(prefix, refundId))) - (await redis.ttl(store.refundClaimKey(refundId))))).toBeLessThan(5);
    expect(await redis.get(splitReferenceBackfillMarker(prefix))).toBe(String(now));

    // From now on the ledger refuses an ordinary command under either reference.
    expect(await ledger.create(recent.id, ordinary(recent.id))).toMatchObject({ created: false, conflict: true, state: null, heldBy: `split:${recent.id}` });
    expect(await ledger.create(refundId, ordinary(refundId))).toMatchObject({ created: false, conflict: true, heldBy: `split-refund:${recent.id}` });
    expect(await ledger.get(recent.id)).toBeNull();

    // Marked done: a second run looks at nothing.
    expect(await backfillSplitReferenceClaims(redis, prefix, now + 1000)).toMatchObject({ alreadyDone: true, claimed: 0 });
  });

  it('reports a split id an ordinary operation already holds and leaves that claim; one with its own claim is counted present; pages of the created index are all read', async () => {
    await redis.del(splitReferenceBackfillMarker(prefix));
    const now = Date.now();
    // One reference used for an ordinary operation and, before split claims, for a split.
    const shared = 'bf-split-shared';
    expect((await ledger.create(shared, ordinary(shared), now - 2 * DAY_MS)).created).toBe(true);
    const p = plan(shared);
    await redis.hset(store.key(shared), { plan: JSON.stringify(p), digest: planDigest(p), state: 'REDEEMING', created_at: String(now - DAY_MS) });
    await ledger.create(stepReferences(p).giftCard, stepCommand(p, 'authorize', stepReferences(p).giftCard, 'gift_card', 2000), now - DAY_MS);
    // Many unclaimed splits in the same days: read across page boundaries.
    const many = await Promise.all(Array.from({ length: 7 }, (_, i) => unclaimedSplit(`bf-split-page-${i}`, now, 2)));

    const report = await backfillSplitReferenceClaims(redis, prefix, now, 2);

    expect(report.operations).toEqual([{ kind: 'split', id: shared, holder: String(shardOfAnchor(`ORD-x-${shared}`)) }]);
    expect(report.operationCount).toBe(1);
    expect(report.claimed).toBe(many.length);
    // The splits and refund of the first run kept their claims: present.
    expect(report.present).toBe(3);
    expect(await redis.get(idClaimKeyOf(prefix, shared))).toBe(String(shardOfAnchor(`ORD-x-${shared}`)));
    for (const s of many) expect(await redis.get(idClaimKeyOf(prefix, s.id))).toBe(`split:${s.id}`);
  });
});

/**
 * The one-off backfill of id claims: operations created before ids were claimed get their claim, so a second
 * payment under one of their references is refused as a conflict; ids another shard already claims are
 * reported and left alone; the run is marked done.
 */
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { backfillIdClaims, idClaimBackfillMarker, walkCreatedSince } from '../../../src/ledger/id-claim-backfill';
import { ID_CLAIM_TTL_S, Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { shardOfAnchor, shardOfPayment } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const DAY_MS = 86_400_000;
const prefix = `${testNamespace()}:`;
let redis: RedisClient;
let ledger: Ledger;
let seq = 0;

function command(orderId: string): PaymentCommand {
  return {
    version: 1,
    command: 'authorize',
    channel: 'bus',
    received_at: '2026-11-01T10:00:00.000Z',
    payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR', order_id: orderId },
  };
}

/** An order id whose payment lands in another shard than `orderId`'s. */
function orderInAnotherShard(orderId: string): string {
  let other = `${orderId}-x`;
  for (let n = 2; shardOfPayment(command(other).payment) === shardOfPayment(command(orderId).payment); n += 1) other = `${orderId}-x${n}`;
  return other;
}

const claimKey = (id: string) => ledger.keysOf(shardOfAnchor(id)).idClaim(id);

/** An operation created `daysAgo` days before `now`, as a release without id claims left it (no claim). */
async function unclaimed(now: number, daysAgo: number): Promise<{ id: string; order: string }> {
  seq += 1;
  const id = `op-backfill-${seq}`;
  const order = `ORD-BF-${seq}`;
  await ledger.create(id, command(order), now - daysAgo * DAY_MS);
  await redis.del(claimKey(id));
  return { id, order };
}

beforeAll(() => {
  redis = testRedis();
  ledger = new Ledger(redis, prefix);
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
});

describe('the id claim backfill', () => {
  it('claims every operation a claim made at its creation would still cover (a year old included) for its shard, expiring as that claim would; older ones are left; then a second payment under one is a conflict', async () => {
    const now = Date.now();
    const recent = await unclaimed(now, 10);
    const yearOld = await unclaimed(now, 400);
    const old = await unclaimed(now, ID_CLAIM_TTL_S / 86_400 + 1);
    const claimedBefore = await metricValue('pb_id_claims_backfilled_total', { outcome: 'claimed' });

    const report = await backfillIdClaims(redis, prefix, now);

    expect(report.alreadyDone).toBe(false);
    expect(report.claimed).toBeGreaterThanOrEqual(1);
    expect(await metricValue('pb_id_claims_backfilled_total', { outcome: 'claimed' })).toBe(claimedBefore + report.claimed);
    expect(await redis.get(claimKey(recent.id))).toBe(String(shardOfPayment(command(recent.order).payment)));
    const ttl = await redis.ttl(claimKey(recent.id));
    expect(ttl).toBeGreaterThan(ID_CLAIM_TTL_S - 10 * 86_400 - 5);
    expect(ttl).toBeLessThanOrEqual(ID_CLAIM_TTL_S - 10 * 86_400 + 1);
    expect(await redis.get(claimKey(yearOld.id))).toBe(String(shardOfPayment(command(yearOld.order).payment)));
    expect(await redis.get(claimKey(old.id))).toBeNull();
    expect(await redis.get(idClaimBackfillMarker(prefix))).toBe(String(now));
    // The guarantee the claim gives: the same reference under another order is refused, nothing written there.
    expect(await ledger.create(recent.id, command(orderInAnotherShard(recent.order)), now)).toMatchObject({ created: false, conflict: true });
    await redis.del(idClaimBackfillMarker(prefix));
  });

  it('reads each shard by creation time in pages, every operation once, ties across a page boundary included', async () => {
    const now = Date.now();
    const at = now - 3 * DAY_MS;
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      seq += 1;
      // One order: one shard, so its index holds seven entries, five created in the same millisecond.
      const id = `op-backfill-tie-${seq}`;
      await ledger.create(id, command('ORD-BF-TIES'), i < 5 ? at : at + i);
      await redis.del(claimKey(id));
      ids.push(id);
    }
    await redis.del(idClaimBackfillMarker(prefix));

    const report = await backfillIdClaims(redis, prefix, now, 2);

    expect(report.claimed).toBeGreaterThanOrEqual(7);
    for (const id of ids) expect(await redis.get(claimKey(id))).toBe(String(shardOfPayment(command('ORD-BF-TIES').payment)));
    await redis.del(idClaimBackfillMarker(prefix));
  });

  it('reads every operation once though retention deletes one already read, of the same creation time, between pages', async () => {
    const at = Date.now() - 5 * DAY_MS;
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      seq += 1;
      const id = `op-backfill-purged-${seq}`;
      await ledger.create(id, command('ORD-BF-PURGED'), at);
      ids.push(id);
    }
    const keys = ledger.keysOf(shardOfAnchor('ORD-BF-PURGED'));
    const read: string[] = [];
    await walkCreatedSince(redis, keys, at, 2, async (page) => {
      // The first page's first operation expires before the second page is read.
      if (read.length === 0) await redis.zrem(keys.created, page[0].id);
      read.push(...page.map((p) => p.id));
    });
    expect(read.filter((id) => id.startsWith('op-backfill-purged-'))).toEqual([...ids].sort());
  });

  it('reports an id another shard already claims and leaves that claim; an id with its own claim is counted present; a second run is skipped', async () => {
    const now = Date.now();
    const doubled = await unclaimed(now, 5);
    const otherShard = shardOfPayment(command(orderInAnotherShard(doubled.order)).payment);
    await redis.set(claimKey(doubled.id), String(otherShard), 'EX', 3600);
    seq += 1;
    const claimed = `op-backfill-${seq}`;
    await ledger.create(claimed, command(`ORD-BF-${seq}`), now - DAY_MS);

    const report = await backfillIdClaims(redis, prefix, now);

    expect(report.conflicting).toContainEqual({ id: doubled.id, shard: shardOfPayment(command(doubled.order).payment), holder: String(otherShard) });
    expect(report.conflictingCount).toBeGreaterThanOrEqual(1);
    expect(report.present).toBeGreaterThanOrEqual(1);
    expect(await redis.get(claimKey(doubled.id))).toBe(String(otherShard));

    const unclaimedLater = await unclaimed(now, 1);
    expect(await backfillIdClaims(redis, prefix, now + 1000)).toMatchObject({ alreadyDone: true, claimed: 0 });
    expect(await redis.get(claimKey(unclaimedLater.id))).toBeNull();
  });
});

import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { eraseOrder } from '../../../src/data-lifecycle/erasure';
import { exportOperations } from '../../../src/data-lifecycle/export';
import { importOperations } from '../../../src/data-lifecycle/import';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { retiringSplitsKey } from '../../../src/data-lifecycle/split-tender-records';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { idClaimKeyOf } from '../../../src/redis/key-layout';
import { SplitTenderPlan, planDigest, stepCommand, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { SplitTenderStore, memberOf } from '../../../src/split-tender/split-tender-store';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * A split tender's own record (the `split:{<id>}` hash: plan, state, refunds, and its place in the open
 * index) goes through the data lifecycle with its steps: exported and imported with them, scrubbed by an
 * erasure of its order, and expired by retention once none of its steps is left.
 */

const config = testConfig();
let redis: RedisClient;
const prefixes: string[] = [];
const DAY = 86_400_000;
/** One window for every export here (the header carries it). */
const TO = Date.now() + DAY;

function freshPrefix(): string {
  const p = `${testNamespace()}:`;
  prefixes.push(p);
  return p;
}

/** A DONE split (gift card redeemed, card authorized), refunded once, its steps SUCCEEDED at `at`. */
async function seedSplit(prefix: string, at: number): Promise<{ plan: SplitTenderPlan; steps: string[]; refundId: string }> {
  const id = `split-${testNamespace()}`;
  const plan: SplitTenderPlan = {
    id,
    channel: 'web',
    order_id: `O-${id}`,
    currency: 'EUR',
    total: 5000,
    gift_card: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'gc_tok_1', brand: 'givex', amount: 2000 },
    card: {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'card_tok_1',
      method_details: {
        method: 'card',
        card: { bin: '411111', last_four_digits: '1111', holder_name: 'Ada Lovelace', expiration_month: 12, expiration_year: 2030 },
      },
    },
    custom_attributes: { email: 'ada@example.com', gift_message: 'Happy birthday Ada' },
  };
  const ledger = new Ledger(redis, prefix);
  const refs = stepReferences(plan);
  const steps = [
    { ref: refs.giftCard, command: stepCommand(plan, 'authorize', refs.giftCard, 'gift_card', 2000) },
    { ref: refs.card, command: stepCommand(plan, 'authorize', refs.card, 'card', 3000) },
  ];
  for (const s of steps) {
    await ledger.create(s.ref, s.command, at, { event: 'attempt' });
    await ledger.transition(s.ref, 'SUCCEEDED', { event: 'outcome', status: 'SUCCESS' }, {}, at + 10);
  }
  const store = new SplitTenderStore(redis, prefix);
  await store.begin(plan, planDigest(plan), at);
  await store.move(id, 'REDEEMING', 'DONE', at + 20);
  await store.markReported(id);
  await store.close({ kind: 'split', id });
  const refundId = `${id}-r1`;
  const refundCommand = JSON.stringify({
    command: 'refund',
    payment: { order_id: plan.order_id, amount: 1000, currency: 'EUR', custom_attributes: { email: 'ada@example.com' } },
  });
  await store.beginRefund(id, refundId, 1000, { card: 3000, gift_card: 2000 }, 'card_first', refundCommand);
  return { plan, steps: steps.map((s) => s.ref), refundId };
}

async function exportText(prefix: string, to = TO): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await exportOperations(redis, prefix, out, { from: 0, to });
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(() => {
  redis = testRedis(config);
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

describe('split tender records in the data lifecycle', () => {
  it('export then import restores the split record (plan, state, refunds) and its open index entries; the re-export is byte-identical', async () => {
    const source = freshPrefix();
    const { plan, refundId } = await seedSplit(source, Date.now() - 60_000);
    const sourceStore = new SplitTenderStore(redis, source);
    const text = await exportText(source);
    expect(text).toContain(`"split_tender"`);

    const target = freshPrefix();
    const summary = await importOperations(redis, target, Readable.from([text]));
    expect(summary.complete).toBe(true);
    const targetStore = new SplitTenderStore(redis, target);
    expect(await redis.hgetall(targetStore.key(plan.id))).toEqual(await redis.hgetall(sourceStore.key(plan.id)));
    expect(await targetStore.plan(plan.id)).toEqual(plan);
    expect(await targetStore.state(plan.id)).toBe('DONE');
    expect((await targetStore.refund(plan.id, refundId))?.card).toBe(1000);
    // The refund still in progress is on the open index (the sweep resumes it); the reported split is not.
    const member = memberOf({ kind: 'refund', splitId: plan.id, refundId });
    expect(await redis.zscore(targetStore.openKey, member)).toBe(await redis.zscore(sourceStore.openKey, member));
    expect(await redis.zscore(targetStore.openKey, memberOf({ kind: 'split', id: plan.id }))).toBeNull();
    // Its refund id is claimed again: the same id on another split stays a conflict.
    expect(await redis.get(targetStore.refundClaimKey(refundId))).toBe(`${plan.id}:1000`);
    expect(await targetStore.beginRefund('another-split', refundId, 1000, { card: 3000, gift_card: 2000 }, 'card_first', '{}')).toEqual({
      conflict: `${plan.id}:1000`,
    });
    // The split's id and its refund's are claimed again among the ledger's id claims: an ordinary command under either is still refused.
    expect(await redis.get(idClaimKeyOf(target, plan.id))).toBe(`split:${plan.id}`);
    expect(await redis.get(idClaimKeyOf(target, refundId))).toBe(`split-refund:${plan.id}`);

    expect(await exportText(target)).toBe(text);
  }, 60_000);

  it("erasure of the order scrubs the split record's customer data (card holder, expiry, custom attributes, the refund command's) and keeps its ids and amounts", async () => {
    const prefix = freshPrefix();
    const { plan, refundId } = await seedSplit(prefix, Date.now() - 60_000);
    const store = new SplitTenderStore(redis, prefix);

    const summary = await eraseOrder(redis, prefix, plan.order_id);
    expect(summary.splitTenders).toBe(1);
    const stored = JSON.stringify(await redis.hgetall(store.key(plan.id)));
    expect(stored).not.toMatch(/Ada|ada@example\.com|holder_name|expiration_|custom_attributes|birthday/);
    const after = await store.plan(plan.id);
    expect(after).toMatchObject({
      id: plan.id,
      order_id: plan.order_id,
      total: 5000,
      currency: 'EUR',
      gift_card: plan.gift_card,
      card: {
        gateway: 'simulator',
        gateway_account: 'acme-eu',
        gateway_key: 'card_tok_1',
        method_details: { method: 'card', card: { bin: '411111', last_four_digits: '1111' } },
      },
    });
    expect(await store.state(plan.id)).toBe('DONE');
    expect(await store.refund(plan.id, refundId)).toMatchObject({ card: 1000, gift_card: 0, state: 'REFUNDING' });
    // Idempotent: a repeat changes nothing.
    expect((await eraseOrder(redis, prefix, plan.order_id)).splitTenders).toBe(0);
  }, 60_000);

  it("retention keeps a split's steps while the split is open, then archives the split record with them and deletes it with the last one", async () => {
    const prefix = freshPrefix();
    const archiveDir = await mkdtemp(join(tmpdir(), 'pb-split-retention-'));
    try {
      const at = Date.now() - 40 * DAY;
      const { plan, steps, refundId } = await seedSplit(prefix, at);
      const store = new SplitTenderStore(redis, prefix);
      const retention = { ...config.retention, enabled: true, archiveDir, expireAfterDays: 30, requireReconciliation: false, batch: 100 };
      const sweep = new RetentionSweep({ config: { ...config, redis: { ...config.redis, keyPrefix: prefix }, retention }, redis, logger: silentLogger() });

      expect(await redis.get(idClaimKeyOf(prefix, plan.id))).toBe(`split:${plan.id}`);
      expect(await redis.get(idClaimKeyOf(prefix, refundId))).toBe(`split-refund:${plan.id}`);
      // The refund is still open (the sweep advances it): nothing of the split expires.
      const first = await sweep.runOnce();
      expect(first.expired).toBe(0);
      expect(first.kept.open_split_tender).toBe(steps.length);
      expect(await store.state(plan.id)).toBe('DONE');

      await store.finishRefund(plan.id, refundId, 'REFUNDED', { card: 0, gift_card: 0 });
      await store.close({ kind: 'refund', splitId: plan.id, refundId });
      // Settled: the steps expire, and the split record with the last of them.
      const second = await sweep.runOnce();
      expect(second.expired).toBe(steps.length);
      expect(await redis.exists(store.key(plan.id))).toBe(0);
      // Its refund id is free again, as an expired operation's id is, and its own id and the refund's as references.
      expect(await redis.exists(store.refundClaimKey(refundId))).toBe(0);
      expect(await redis.exists(idClaimKeyOf(prefix, plan.id))).toBe(0);
      expect(await redis.exists(idClaimKeyOf(prefix, refundId))).toBe(0);

      const files = (await readdir(archiveDir, { recursive: true })).filter((f) => f.endsWith('.ndjson'));
      const archived = (await Promise.all(files.map((f) => readFile(join(archiveDir, f), 'utf8')))).join('');
      expect(archived).toContain(`"split_tender"`);
      expect(archived).toContain(`"id":"${plan.id}"`);
    } finally {
      await rm(archiveDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a pass stopped after a split's last step expired and before its record was deleted leaves the split marked: the next pass deletes the record and frees its ids", async () => {
    const prefix = freshPrefix();
    const archiveDir = await mkdtemp(join(tmpdir(), 'pb-split-retention-'));
    const release = jest.spyOn(SplitTenderStore.prototype, 'releaseRefundId');
    try {
      const at = Date.now() - 40 * DAY;
      const { plan, steps, refundId } = await seedSplit(prefix, at);
      const store = new SplitTenderStore(redis, prefix);
      await store.finishRefund(plan.id, refundId, 'REFUNDED', { card: 0, gift_card: 0 });
      await store.close({ kind: 'refund', splitId: plan.id, refundId });
      const retention = { ...config.retention, enabled: true, archiveDir, expireAfterDays: 30, requireReconciliation: false, batch: 100 };
      const sweep = new RetentionSweep({ config: { ...config, redis: { ...config.redis, keyPrefix: prefix }, retention }, redis, logger: silentLogger() });

      // The deletion fails after the last step expired, and again when the same pass looks at the split.
      release.mockRejectedValueOnce(new Error('a fault between the writes')).mockRejectedValueOnce(new Error('a fault between the writes'));
      const first = await sweep.runOnce();
      expect(first.expired).toBe(steps.length);
      expect(first.splitTendersExpired).toBeUndefined();
      for (const step of steps) expect(await new Ledger(redis, prefix).get(step)).toBeNull();
      // No step is left to bring a pass back to it; the retiring set does.
      expect(await redis.exists(store.key(plan.id))).toBe(1);
      expect(await redis.zscore(retiringSplitsKey(prefix), plan.id)).not.toBeNull();

      const second = await sweep.runOnce();
      expect(second.splitTendersExpired).toBe(1);
      expect(await redis.exists(store.key(plan.id))).toBe(0);
      expect(await redis.exists(store.refundClaimKey(refundId))).toBe(0);
      expect(await redis.exists(idClaimKeyOf(prefix, plan.id))).toBe(0);
      expect(await redis.exists(idClaimKeyOf(prefix, refundId))).toBe(0);
      expect(await redis.zscore(retiringSplitsKey(prefix), plan.id)).toBeNull();
    } finally {
      release.mockRestore();
      await rm(archiveDir, { recursive: true, force: true });
    }
  }, 60_000);
});

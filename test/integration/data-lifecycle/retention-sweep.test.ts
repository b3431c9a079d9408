import { ShardKeys, shardOfOrder } from '../../../src/redis/key-layout';
import { mkdtempSync, readFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { importOperations } from '../../../src/data-lifecycle/import';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { Ledger } from '../../../src/ledger/ledger';
import { operationIdsOfOrder } from '../../../src/ledger/order-index';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { channelCommand } from '../../support/fixtures';
import { SeededLedger, seedLedger } from '../../support/ledger-scenario';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { keysMatching, unlinkMatching } from '../../../src/redis/key-scan';

const DAY = 86_400_000;
let redis: RedisClient;
const prefixes: string[] = [];

function setup(overrides: Record<string, unknown> = {}): { config: Config; ledger: Ledger; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pb-archive-'));
  const config = testConfig({ 'retention.archive_dir': dir, ...overrides });
  prefixes.push(config.redis.keyPrefix);
  return { config, ledger: new Ledger(redis, config.redis.keyPrefix), dir };
}

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) {
    await unlinkMatching(redis, `${p}*`);
  }
  redis.disconnect();
});

async function keysNaming(prefix: string, id: string): Promise<string[]> {
  return (await keysMatching(redis, `${prefix}*`)).filter((k) => k.includes(id));
}

async function indexesHolding(prefix: string, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const k of await keysMatching(redis, `${prefix}*`)) {
    const type = await redis.type(k);
    if (type === 'zset' && (await redis.zscore(k, id)) !== null) out.push(k);
    if (type === 'string' && (await redis.get(k)) === id) out.push(k);
  }
  return out;
}

describe('RetentionSweep', () => {
  let seeded: SeededLedger;

  it('archives old terminal operations to a file, then expires them with every key and index entry, keeping everything live', async () => {
    const { config, ledger } = setup();
    const prefix = config.redis.keyPrefix;
    const now = Date.now();
    seeded = await seedLedger(redis, prefix, now - 500 * DAY);
    // An old authorization never captured (still open), one on legal hold, and a recent failure.
    const openCmd = channelCommand('authorize');
    const open = openCmd.payment.operation_reference!;
    await ledger.create(open, openCmd, now - 450 * DAY, { event: 'attempt' });
    await ledger.transition(open, 'SUCCEEDED', { event: 'outcome' }, { expiresAt: now - 443 * DAY, orphanAt: now - 442 * DAY }, now - 450 * DAY);
    const heldCmd = channelCommand('sale');
    const held = heldCmd.payment.operation_reference!;
    await ledger.create(held, heldCmd, now - 450 * DAY, { event: 'attempt' });
    await ledger.transition(held, 'FAILED', { event: 'outcome' }, {}, now - 450 * DAY);
    await ledger.holdFromExpiry(held);
    const recentCmd = channelCommand('sale');
    const recent = recentCmd.payment.operation_reference!;
    await ledger.create(recent, recentCmd, now - 10 * DAY, { event: 'attempt' });
    await ledger.transition(recent, 'FAILED', { event: 'outcome' }, {}, now - 10 * DAY);

    const expiredBefore = await metricValue('pb_retention_expired_total');
    const report = await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();
    // The authorization and its capture wait for the refund: kept, and not archived at every pass meanwhile.
    expect(report).toMatchObject({ archived: 1, expired: 1, kept: { open_authorization: 1, held: 1, live_dependent: 1, live_in_order: 1 } });
    expect(await metricValue('pb_retention_expired_total')).toBe(expiredBefore + 1);

    // Expired: the failed sale. Nothing of it is left.
    for (const id of [seeded.failed]) {
      expect(await ledger.get(id)).toBeNull();
      expect(await keysNaming(prefix, id)).toEqual([]);
      expect(await indexesHolding(prefix, id)).toEqual([]);
    }
    // Kept: the authorization (its refund is still PENDING) and its capture (same order), everything live,
    // the open, held and recent ones.
    for (const id of [seeded.auth, seeded.capture, seeded.refund, seeded.received, seeded.unknown, open, held, recent]) {
      expect(await ledger.get(id)).not.toBeNull();
    }

    // Once the refund settles, the whole order goes: capture with its adjustment and events, the
    // authorization, the refund, the order index and the payment's event counters.
    await ledger.transition(seeded.refund, 'SUCCEEDED', { event: 'outcome' }, {}, now - 420 * DAY);
    await redis.zrem(new ShardKeys(prefix, shardOfOrder(seeded.order)).unsentEvents, `${seeded.refund}.PENDING`);
    const settled = await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();
    expect(settled).toMatchObject({ archived: 3, expired: 3, kept: { open_authorization: 1, held: 1 } });
    for (const id of [seeded.auth, seeded.capture, seeded.refund]) {
      expect(await ledger.get(id)).toBeNull();
      expect(await keysNaming(prefix, id)).toEqual([]);
      expect(await indexesHolding(prefix, id)).toEqual([]);
    }
    const keys = new ShardKeys(prefix, shardOfOrder(seeded.order));
    // The shard's adjustment index, listed (not counted) so a failure names what was left behind.
    expect(await redis.zrange(keys.adjustments, 0, -1, 'WITHSCORES')).toEqual([]);
    expect(await operationIdsOfOrder(redis, prefix, seeded.order)).toEqual([]);
    expect(await redis.exists(keys.paymentSequence(`simulator:acme-eu:${seeded.order}`), keys.paymentSent(`simulator:acme-eu:${seeded.order}`))).toBe(0);

    // The archive is a complete export: it restores the expired operations as they were.
    const lines = readFileSync(report.archiveFile!, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1 + 2);
    const restoredPrefix = `${testNamespace()}:`;
    prefixes.push(restoredPrefix);
    const summary = await importOperations(redis, restoredPrefix, createReadStream(settled.archiveFile!));
    expect(summary).toMatchObject({ operations: 3, complete: true });
    const restored = await new Ledger(redis, restoredPrefix).get(seeded.capture);
    expect(restored).toMatchObject({ id: seeded.capture, state: 'SUCCEEDED', command: 'capture' });

    // A further pass archives and expires nothing (the open and held ones are not archived again).
    const again = await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();
    expect(again).toMatchObject({ archived: 0, expired: 0 });
  });

  it('with require_reconciliation, keeps operations newer than their gateway reconciled-through mark', async () => {
    const { config, ledger } = setup({ 'retention.require_reconciliation': true });
    const now = Date.now();
    const cmd = channelCommand('sale');
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, now - 500 * DAY, { event: 'attempt' });
    await ledger.transition(id, 'FAILED', { event: 'outcome' }, {}, now - 500 * DAY);
    const sweep = new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now });
    expect(await sweep.runOnce()).toMatchObject({ archived: 0, expired: 0, kept: { awaiting_reconciliation: 1 } });
    await ledger.markReconciledThrough('simulator', now - 499 * DAY);
    expect(await sweep.runOnce()).toMatchObject({ archived: 1, expired: 1 });
  });

  it('expires nothing without an archive directory', async () => {
    const { config } = setup({ 'retention.archive_dir': '' });
    expect(await new RetentionSweep({ config, redis, logger: silentLogger() }).runOnce()).toMatchObject({ skipped: 'no_archive_dir', expired: 0 });
  });
});

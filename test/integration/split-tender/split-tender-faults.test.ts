import { PassThrough } from 'node:stream';
import { Queue } from 'bullmq';
import { opsSplitTenderResume, opsSplitTendersParked } from '../../../src/cli/split-tender-commands';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { openOps } from '../../../src/ops/ops-context';
import { RedisClient } from '../../../src/redis/redis-connection';
import { SPLIT_FAULT_LIMIT, SplitTenderService } from '../../../src/split-tender/split-tender-service';
import { SplitTenderPlan, planDigest, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { SplitTenderStore, memberOf } from '../../../src/split-tender/split-tender-store';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * A split or split refund whose advance throws a fault of its own (a plan that does not decode, a bug) is
 * retried after a growing backoff, counted, and parked after SPLIT_FAULT_LIMIT faults in a row, so it
 * neither spins the sweep nor starves the splits behind it; a dependency outage leaves it due as before.
 */

const MINUTE = 60_000;
let config: Config;
let redis: RedisClient;
let queue: Queue<DeliveryJobData>;
let store: SplitTenderStore;

beforeAll(() => {
  config = testConfig({ 'split_tender.sweep_interval_ms': 500 });
  redis = testRedis(config);
  queue = createDeliveryQueue(redis, config.redis.keyPrefix);
  store = new SplitTenderStore(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

function service(logger = captureLogger().logger, ledger: Ledger = new Ledger(redis, config.redis.keyPrefix)): SplitTenderService {
  return new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit: async () => undefined, logger });
}

function plan(id: string): SplitTenderPlan {
  return {
    id,
    channel: 'web',
    order_id: `O-${id}`,
    currency: 'EUR',
    total: 10000,
    gift_card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_tok', amount: 3000 },
    card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
    step_ids: 'namespaced',
  };
}

/** A split whose stored plan is not JSON, due at `score`. */
async function brokenSplit(id: string, score: number): Promise<void> {
  await redis.hset(store.key(id), 'plan', '{not json', 'digest', 'x', 'state', 'REDEEMING');
  await redis.zadd(store.openKey, score, memberOf({ kind: 'split', id }));
}

describe('split tender advances that fault', () => {
  it('a split whose plan does not decode is retried after a growing backoff, then parked out of the sweep after 5 faults (counted, logged, listed) until an operator resumes it', async () => {
    const id = `broken-${testNamespace()}`;
    await brokenSplit(id, 1);
    const { logger, lines } = captureLogger();
    const sweep = service(logger);
    const retried = await metricValue('pb_split_tender_faults_total', { outcome: 'retried' });
    const parked = await metricValue('pb_split_tender_faults_total', { outcome: 'parked' });
    const waits: number[] = [];
    for (let n = 1; n <= SPLIT_FAULT_LIMIT; n += 1) {
      const before = Date.now();
      // Far enough ahead that the member is due whatever its backoff.
      expect(await sweep.sweepOnce(Date.now() + 60 * MINUTE)).toBeGreaterThanOrEqual(1);
      expect(await redis.hget(store.key(id), 'faults')).toBe(String(n));
      const score = await redis.zscore(store.openKey, memberOf({ kind: 'split', id }));
      if (n < SPLIT_FAULT_LIMIT) waits.push(Number(score) - before);
      else expect(score).toBe('inf');
    }
    // Growing: 4x the sweep interval, then 16x, 64x, 256x.
    expect(waits.every((w, i) => i === 0 || w > waits[i - 1])).toBe(true);
    expect(waits[0]).toBeGreaterThanOrEqual(2000);
    expect(await redis.hget(store.key(id), 'fault_class')).toBe('SyntaxError');
    expect(await redis.hget(store.key(id), 'parked_at')).not.toBeNull();
    expect(await store.parked()).toEqual([{ kind: 'split', id }]);
    expect(await metricValue('pb_split_tenders_parked')).toBe(1);
    expect(await metricValue('pb_split_tender_faults_total', { outcome: 'retried' })).toBe(retried + SPLIT_FAULT_LIMIT - 1);
    expect(await metricValue('pb_split_tender_faults_total', { outcome: 'parked' })).toBe(parked + 1);
    const parkedLine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('split tender parked'));
    expect(parkedLine).toMatchObject({ level: 'error', split: id, error_class: 'SyntaxError', faults: SPLIT_FAULT_LIMIT });
    // Parked: never due again, however late, until an operator resumes it (then its faults start over).
    expect(await sweep.sweepOnce(Date.now() + 365 * 24 * 60 * MINUTE)).toBe(0);
    const ctx = openOps(config, silentLogger(), { service: 'ops', auditStream: new PassThrough() });
    try {
      const out = new PassThrough();
      expect(await opsSplitTendersParked(ctx, { out, actor: 'tester@ci' }, { json: true })).toBe(0);
      expect(JSON.parse(String(out.read()))).toEqual([expect.objectContaining({ split: id, faults: SPLIT_FAULT_LIMIT, error_class: 'SyntaxError' })]);
      expect(await opsSplitTenderResume(ctx, { out: new PassThrough(), actor: 'tester@ci' }, { id })).toBe(0);
    } finally {
      await ctx.close();
    }
    expect(await redis.hget(store.key(id), 'faults')).toBeNull();
    expect(await store.parked()).toEqual([]);
    expect(await sweep.sweepOnce()).toBe(1);
    await store.close({ kind: 'split', id });
  });

  it('200 splits that keep faulting at the head of the open index do not starve the split behind them', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `head-${i}-${testNamespace()}`);
    for (const [i, id] of ids.entries()) await brokenSplit(id, 10 + i);
    const good = plan(`good-${testNamespace()}`);
    await store.begin(good, planDigest(good));
    await redis.zadd(store.openKey, 1000, memberOf({ kind: 'split', id: good.id }));
    const sweep = service();
    await sweep.sweepOnce();
    await sweep.sweepOnce();
    // The good split was advanced: its redemption is recorded in the ledger and queued for delivery.
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    expect((await ledger.get(stepReferences(good).giftCard))?.state).toBe('RECEIVED');
    for (const id of ids) await store.close({ kind: 'split', id });
    await store.close({ kind: 'split', id: good.id });
  });

  it('a dependency outage during an advance leaves the split due, with no fault counted', async () => {
    const p = plan(`outage-${testNamespace()}`);
    await store.begin(p, planDigest(p), 5);
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const down = Object.assign(Object.create(ledger) as Ledger, {
      get: async () => {
        throw new DependencyUnavailableError('redis', 'connection is closed');
      },
    });
    const retried = await metricValue('pb_split_tender_faults_total', { outcome: 'retried' });
    await service(captureLogger().logger, down).sweepOnce();
    expect(await redis.zscore(store.openKey, memberOf({ kind: 'split', id: p.id }))).toBe('5');
    expect(await redis.hget(store.key(p.id), 'faults')).toBeNull();
    expect(await metricValue('pb_split_tender_faults_total', { outcome: 'retried' })).toBe(retried);
    await store.close({ kind: 'split', id: p.id });
  });

  it('an open index entry that names no split is removed, not left to fill every batch', async () => {
    await redis.zadd(store.openKey, 1, 'garbage-entry');
    await service().sweepOnce();
    expect(await redis.zscore(store.openKey, 'garbage-entry')).toBeNull();
  });
});

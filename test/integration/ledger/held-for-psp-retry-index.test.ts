/**
 * The index of captures and refunds held for their PSP's own retry (`ShardKeys.heldForPspRetry`: Adyen's technical
 * CAPTURE_FAILED or REFUND_FAILED) through the data lifecycle and the recorder: retention's expiry takes an entry out
 * with its record, an export carries it and a restore puts back exactly what its record still holds, and a repeat of
 * the failure after a crash between its transition and the index write indexes it; the poller's one-off backfill indexes
 * those held before the index existed, once. On the real Redis (or a cluster).
 */
import { Queue } from 'bullmq';
import { SUCCEEDED_AFTER_FAILURE_FIELD } from '../../../src/adjustments/adjustment';
import { Config } from '../../../src/config/config';
import { operationKeysOf } from '../../../src/data-lifecycle/key-families';
import { readSnapshots } from '../../../src/data-lifecycle/operation-snapshot';
import { restorePlan } from '../../../src/data-lifecycle/restore-plan';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { backfillHeldForPspRetryIndex, heldForPspRetryBackfillMarker } from '../../../src/ledger/held-for-psp-retry-backfill';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { shardOfOperation } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { silentLogger } from '../../../src/logging/logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const REASON = 'Capture rejected by card scheme because of a technical issue.';
const NONE = { events: [], adjustments: [], refs: [], payment: [] };

let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let eventsQueue: Queue<OmsEventJobData>;
let recorder: OutcomeRecorder;

beforeAll(() => {
  config = testConfig();
  redis = testRedis(config);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: silentLogger() });
});

afterAll(async () => {
  await eventsQueue.close();
  await purgeNamespace(config).catch(() => undefined);
  redis.disconnect();
});

let seq = 0;

/** A refund of 2500 EUR at Adyen, SENT; its id. */
async function sentRefund(): Promise<string> {
  const n = `${process.pid}-${++seq}`;
  const cmd = channelCommand('refund', {}, { gateway: 'adyen', gateway_account: 'acct-1', amount: 2500, currency: 'EUR', order_id: `order-held-${n}` });
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  return id;
}

/** A refund recorded FAILED, held for Adyen's retry, and in the index since `since`, as the recorder leaves it. */
async function heldRefund(since: number): Promise<string> {
  const id = await sentRefund();
  await ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: REASON, heldForPspRetry: REASON, gatewayReference: `ADYR${id.length}${seq}` });
  await ledger.indexHeldForPspRetry(id, since);
  return id;
}

async function keysOf(id: string) {
  const shard = (await shardOfOperation(redis, config.redis.keyPrefix, id))!;
  return { shard, keys: operationKeysOf(config.redis.keyPrefix)[shard] };
}

async function heldSince(id: string): Promise<string | null> {
  const { keys } = await keysOf(id);
  return redis.zscore(keys.heldForPspRetry, id);
}

describe("the index of captures and refunds held for their PSP's retry", () => {
  it('an operation expired by retention leaves the index with its record: nothing counts or lists it afterwards', async () => {
    const id = await heldRefund(Date.now() - 60_000);
    const { keys } = await keysOf(id);
    expect(await heldSince(id)).not.toBeNull();
    expect(await ledger.expireTerminal(id, Date.now() + 60_000, NONE, { orderKey: '', requireReconciled: false })).toEqual({ expired: true });
    expect(await ledger.get(id)).toBeNull();
    expect(await redis.zscore(keys.heldForPspRetry, id)).toBeNull();
  });

  it('an export carries the entry; a restore puts back what its record still holds, with the time first held, and nothing else', async () => {
    const first = Date.now() - 11 * 86_400_000;
    const held = await heldRefund(first);
    // Done by Adyen after all (its REFUND), its entry still there when exported: restored without it.
    const done = await heldRefund(first);
    const { keys: doneKeys } = await keysOf(done);
    await redis.hset(doneKeys.op(done), SUCCEEDED_AFTER_FAILURE_FIELD, JSON.stringify({ adjustment: 'adj_0', amount: 2500, currency: 'EUR' }));
    // Held, exported before the index existed: restored into it from its record.
    const older = await heldRefund(first);
    for (const id of [held, done, older]) {
      const { shard, keys } = await keysOf(id);
      const [snapshot] = await readSnapshots(redis, keys, [id], new Map());
      if (id === older) delete snapshot.indexes.held_for_psp_retry;
      else expect(snapshot.indexes.held_for_psp_retry).toBe(String(first));
      expect(await ledger.expireTerminal(id, Date.now() + 60_000, NONE, { orderKey: '', requireReconciled: false })).toEqual({ expired: true });
      expect(await ledger.restoreOperation(id, shard, restorePlan(snapshot, keys))).toBe(true);
    }
    expect(await heldSince(held)).toBe(String(first));
    expect(await heldSince(done)).toBeNull();
    // Scored by the failure that held it (its last update).
    expect(await heldSince(older)).toBe(String((await ledger.get(older))!.updatedAt));
  });

  it("a repeat of the failure after a crash between its transition and the index write indexes it: Adyen's retry stays watched", async () => {
    const id = await sentRefund();
    // The transition written, the index write lost to a crash.
    await ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: REASON, heldForPspRetry: REASON });
    expect(await heldSince(id)).toBeNull();
    const op = (await ledger.get(id))!;
    await recorder.apply(op, { status: 'FAIL', gatewayStatus: 'REFUND_FAILED', reason: REASON, retriedByPsp: true }, 'webhook');
    expect(await heldSince(id)).not.toBeNull();
  });

  it('the backfill indexes, once, a hold recorded before the index (scored by its failure), and only that: running it again changes nothing', async () => {
    // As an earlier release left them: held on the record, in no index.
    const old = await sentRefund();
    await ledger.transition(old, 'FAILED', { event: 'outcome' }, { reason: REASON, heldForPspRetry: REASON });
    // Done by Adyen after all since: not held any more.
    const done = await sentRefund();
    await ledger.transition(done, 'FAILED', { event: 'outcome' }, { reason: REASON, heldForPspRetry: REASON });
    const { keys: doneKeys } = await keysOf(done);
    await redis.hset(doneKeys.op(done), SUCCEEDED_AFTER_FAILURE_FIELD, JSON.stringify({ adjustment: 'adj_1', amount: 2500, currency: 'EUR' }));
    // FAILED for a reason Adyen does not retry: never held.
    const plain = await sentRefund();
    await ledger.transition(plain, 'FAILED', { event: 'outcome' }, { reason: 'Refused' });
    // Indexed by the recorder already: keeps its time.
    const first = Date.now() - 3 * 86_400_000;
    const indexed = await heldRefund(first);
    expect(await heldSince(old)).toBeNull();
    const counted = await metricValue('pb_held_for_psp_retry_backfilled_total');

    // Pages of 2: several pages a shard, each indexed by its own script.
    const run = await backfillHeldForPspRetryIndex(redis, config.redis.keyPrefix, Date.now(), 2);
    expect(run.alreadyDone).toBe(false);
    expect(run.indexed).toBeGreaterThanOrEqual(1);
    expect(await metricValue('pb_held_for_psp_retry_backfilled_total')).toBe(counted + run.indexed);
    expect(await heldSince(old)).toBe(String((await ledger.get(old))!.updatedAt));
    expect(await heldSince(done)).toBeNull();
    expect(await heldSince(plain)).toBeNull();
    expect(await heldSince(indexed)).toBe(String(first));
    expect(await redis.exists(heldForPspRetryBackfillMarker(config.redis.keyPrefix))).toBe(1);
    // Listed (and so counted by the gauges) from now on.
    const listed = await ledger.heldForPspRetrySince(Number.POSITIVE_INFINITY, 10_000);
    expect(listed.map((h) => h.record.id)).toContain(old);

    // Twice: done already, nothing looked at; and even with its marker gone, nothing added or moved.
    expect(await backfillHeldForPspRetryIndex(redis, config.redis.keyPrefix)).toEqual({ alreadyDone: true, indexed: 0 });
    await redis.del(heldForPspRetryBackfillMarker(config.redis.keyPrefix));
    expect(await backfillHeldForPspRetryIndex(redis, config.redis.keyPrefix)).toEqual({ alreadyDone: false, indexed: 0 });
    expect(await heldSince(old)).toBe(String((await ledger.get(old))!.updatedAt));
    expect(await heldSince(indexed)).toBe(String(first));
    expect(await metricValue('pb_held_for_psp_retry_backfilled_total')).toBe(counted + run.indexed);
  });
});

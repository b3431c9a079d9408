/**
 * A PSP re-capture held on its capture for the capture failure it follows (`AdjustmentStore.holdRecapture`) whose
 * failure never comes: past `delivery.recapture_failure_wait_ms` the poll pass's sweep surfaces it to operators,
 * once (a warn line, `pb_recaptures_before_failure_total{step="surfaced"}`, its history entry), it counts in
 * `pb_recaptures_awaiting_failure` and is listed by `ops recaptures list`; nothing is sent to the OMS. On the real Redis.
 */
import { AdjustmentStore, HeldRecapture, RECAPTURE_FIELD } from '../../../src/adjustments/adjustment-store';
import { Config } from '../../../src/config/config';
import { readSnapshots } from '../../../src/data-lifecycle/operation-snapshot';
import { operationKeysOf } from '../../../src/data-lifecycle/key-families';
import { restorePlan } from '../../../src/data-lifecycle/restore-plan';
import { EventStore } from '../../../src/events/event-store';
import { backfillHeldRecaptureIndex, heldRecaptureBackfillMarker } from '../../../src/ledger/held-recapture-backfill';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { dismissHeldRecaptures, heldRecaptures } from '../../../src/ops/held-recaptures';
import { RecaptureWaitSweep } from '../../../src/poller/recapture-wait';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { shardKeysOf, shardOfOperation } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { PassThrough } from 'node:stream';
import { opsDismissRecaptures, opsHeldRecaptures } from '../../../src/cli/recapture-commands';
import { consoleSnapshot } from '../../../src/console/console-snapshot';
import { dashboardPage } from '../../../src/console/console-pages';
import { silentLogger } from '../../../src/logging/logger';
import { openOps } from '../../../src/ops/ops-context';

const WAIT_MS = 3_600_000;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let store: AdjustmentStore;

beforeAll(() => {
  config = testConfig({ 'delivery.recapture_failure_wait_ms': WAIT_MS });
  redis = testRedis(config);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  store = new AdjustmentStore(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await purgeNamespace(config).catch(() => undefined);
  redis.disconnect();
});

let seq = 0;

/** A capture of 5000 EUR that SUCCEEDED at Adyen under PSP reference `ADYW<n>`; its id and reference. */
async function succeededCapture(): Promise<{ id: string; reference: string }> {
  const reference = `ADYW${process.pid}${++seq}`;
  const cmd = channelCommand('capture', {}, { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: `order-rw-${reference}` });
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: reference });
  return { id, reference };
}

/** Adyen's re-capture of capture `reference`, at `at`, as the outcome worker holds it. */
function recapture(reference: string, at: number): HeldRecapture {
  return {
    at,
    fact: {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'EUR',
      reason: 'Transaction Recaptured',
      pspReference: reference,
      occurredAt: at,
      gateway: 'adyen',
      pspEventId: `${reference}:CAPTURE:true:recaptured:${new Date(at).toISOString()}`,
      source: 'webhook',
    },
  };
}

/** A capture holding a re-capture since `heldAt`. */
async function heldSince(heldAt: number): Promise<{ id: string; reference: string; held: HeldRecapture }> {
  const capture = await succeededCapture();
  const held = recapture(capture.reference, heldAt - 60_000);
  expect(await store.holdRecapture(capture.id, held, heldAt)).toBe('held');
  return { ...capture, held };
}

const surfacedLines = (lines: string[], id: string) =>
  lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.alert === 'recapture_awaiting_failure' && l.operation_id === id);
const surfacedTotal = () => metricValue('pb_recaptures_before_failure_total', { gateway: 'adyen', command: 'capture', step: 'surfaced' });
const inIndex = async (id: string) => (await store.heldRecapturesSince(Number.POSITIVE_INFINITY, 10_000)).some((e) => e.operationId === id);

describe('the wait of a held re-capture for the capture failure it follows', () => {
  it('surfaces one held past its wait once, whatever the pollers and passes; one within its wait is not; nothing goes to the OMS', async () => {
    const past = await heldSince(Date.now() - WAIT_MS - 5_000);
    const within = await heldSince(Date.now());
    const { logger, lines } = captureLogger('info');
    const before = await surfacedTotal();
    const first = await new RecaptureWaitSweep({ config, store, logger }).runOnce();
    expect(first).toMatchObject({ surfaced: 1, faulted: 0 });
    // Another poller, and the same one again: nothing surfaced twice.
    expect(await new RecaptureWaitSweep({ config, store, logger }).runOnce()).toMatchObject({ surfaced: 0, stillWaiting: 1 });
    expect(surfacedLines(lines, past.id)).toHaveLength(1);
    expect(surfacedLines(lines, within.id)).toEqual([]);
    expect(surfacedLines(lines, past.id)[0]).toMatchObject({
      level: 'warn',
      gateway: 'adyen',
      command: 'capture',
      psp_reference: past.reference,
      recapture_event_id: past.held.fact.pspEventId,
    });
    expect(await surfacedTotal()).toBe(before + 1);
    const history = (await ledger.interactions(past.id)).filter((h) => h.event === 'recapture_awaiting_failure');
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ psp_event_id: past.held.fact.pspEventId });
    // Where operators look: the list (within its wait only with --all) and the gauge.
    const listed = await heldRecaptures({ config, redis, ledger }, { limit: 100 });
    expect(listed.map((r) => r.operation_id)).toEqual([past.id]);
    expect(listed[0]).toMatchObject({ command: 'capture', gateway: 'adyen', psp_reference: past.reference, amount: 5000, currency: 'EUR', past_wait: true });
    expect((await heldRecaptures({ config, redis, ledger }, { limit: 100, all: true })).map((r) => r.operation_id).sort()).toEqual([past.id, within.id].sort());
    expect((await scrapeSnapshot({ config, redis, queues: {} })()).recapturesAwaitingFailure).toBe(1);
    // No adjustment and no OMS event: the capture stands as the OMS was told.
    expect(await store.forOperation(past.id)).toEqual([]);
    expect(await new EventStore(redis, config.redis.keyPrefix).unsentBefore(Number.POSITIVE_INFINITY, 1000)).not.toContainEqual(
      expect.stringContaining(past.id),
    );
    expect((await ledger.get(past.id))?.undoneBy).toBeUndefined();
  });

  it('is listed by `payment-bridge ops recaptures list` (audit-logged) and on the console dashboard', async () => {
    const past = await heldSince(Date.now() - WAIT_MS - 5_000);
    await new RecaptureWaitSweep({ config, store, logger: silentLogger() }).runOnce();
    const audit = new PassThrough();
    let audited = '';
    audit.on('data', (c: Buffer) => (audited += c.toString()));
    const ctx = openOps(config, silentLogger(), { service: 'ops', redis, auditStream: audit });
    try {
      const out = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      expect(await opsHeldRecaptures(ctx, { out, actor: 'operator@test' }, {})).toBe(0);
      expect(text).toContain(past.id);
      expect(text).toContain(`psp ${past.reference}`);
      expect(audited).toContain('ops.held_recaptures');
      const snapshot = await consoleSnapshot(ctx, { deadLetterOrder: 'time' });
      expect(snapshot.heldRecaptures.map((r) => r.operation_id)).toContain(past.id);
      const page = dashboardPage({ base: '/console', csrf: 'x' }, snapshot, 'time', config.console.stuckAfterMs);
      expect(page).toContain('id="held-recaptures"');
      expect(page).toContain(`data-operation="${past.id}"`);
    } finally {
      await ctx.close();
    }
  });

  it('`ops recaptures dismiss`: once settled with the PSP it is listed and counted no more; its failure coming after all still marks nothing', async () => {
    const past = await heldSince(Date.now() - WAIT_MS - 5_000);
    const audit = new PassThrough();
    let audited = '';
    audit.on('data', (c: Buffer) => (audited += c.toString()));
    const ctx = openOps(config, silentLogger(), { service: 'ops', redis, auditStream: audit });
    try {
      const before = await metricValue('pb_recaptures_dismissed_total');
      const out = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      expect(await opsDismissRecaptures(ctx, { out, actor: 'operator@test' }, { ids: [past.id, 'no-such-operation'] })).toBe(1);
      expect(text).toBe(`${past.id}: dismissed\nno-such-operation: not waiting\n`);
      expect(await metricValue('pb_recaptures_dismissed_total')).toBe(before + 1);
      expect(audited).toContain('ops.recapture_dismiss');
      expect(await inIndex(past.id)).toBe(false);
      expect((await heldRecaptures({ config, redis, ledger }, { limit: 100, all: true })).map((r) => r.operation_id)).not.toContain(past.id);
      expect(await ledger.interactions(past.id)).toContainEqual(expect.objectContaining({ event: 'recapture_dismissed', by: 'operator@test' }));
      // Dismissing again changes nothing.
      expect((await dismissHeldRecaptures(ctx, [past.id], 'operator@test'))[0].result).toBe('not_waiting');
    } finally {
      await ctx.close();
    }
    // Adyen's failure comes after all: the re-capture still held keeps it from undoing the capture (reported in order).
    const failure = await store.recordAdjustment({
      operationId: past.id,
      kind: 'capture_failed',
      direction: 'debit',
      amount: 5000,
      currency: 'EUR',
      pspReference: past.reference,
      occurredAt: past.held.at! - 60_000,
      gateway: 'adyen',
      pspEventId: `${past.reference}:CAPTURE_FAILED:true:${new Date(past.held.at! - 60_000).toISOString()}`,
      source: 'webhook',
    });
    expect(failure.superseded).toBe('held');
  });

  it('surfaces nothing again after a crash between the mark and its line (the list and the gauge still show it)', async () => {
    const past = await heldSince(Date.now() - WAIT_MS - 5_000);
    const [entry] = (await store.heldRecapturesSince(Number.POSITIVE_INFINITY, 10_000)).filter((e) => e.operationId === past.id);
    // A pass marked it, then its process died before the line.
    expect((await store.surfaceHeldRecapture(entry, WAIT_MS)).outcome).toBe('surfaced');
    const { logger, lines } = captureLogger('info');
    await new RecaptureWaitSweep({ config, store, logger }).runOnce();
    expect(surfacedLines(lines, past.id)).toEqual([]);
    expect((await ledger.interactions(past.id)).filter((h) => h.event === 'recapture_awaiting_failure')).toHaveLength(1);
    expect((await heldRecaptures({ config, redis, ledger }, { limit: 100 })).map((r) => r.operation_id)).toContain(past.id);
  });

  it('takes out of the index one reported after its failure and one whose operation is gone, surfacing neither', async () => {
    const reported = await heldSince(Date.now() - WAIT_MS - 5_000);
    // Reported after its failure by a release that left the index alone.
    await store.recordAdjustment({ ...reported.held.fact, operationId: reported.id });
    const gone = await heldSince(Date.now() - WAIT_MS - 5_000);
    const keys = shardKeysOf(config.redis.keyPrefix)[(await shardOfOperation(redis, config.redis.keyPrefix, gone.id))!];
    await redis.del(keys.op(gone.id));
    const { logger, lines } = captureLogger('info');
    await new RecaptureWaitSweep({ config, store, logger }).runOnce();
    expect(surfacedLines(lines, reported.id)).toEqual([]);
    expect(surfacedLines(lines, gone.id)).toEqual([]);
    expect(await inIndex(reported.id)).toBe(false);
    expect(await inIndex(gone.id)).toBe(false);
    expect(lines.some((l) => l.includes('due entry with nothing to run removed from its index') && l.includes(gone.id))).toBe(true);
  });

  it('counts a held re-capture that does not read as a fault of its own, and goes on with the others', async () => {
    const unreadable = await heldSince(Date.now() - WAIT_MS - 5_000);
    const keys = shardKeysOf(config.redis.keyPrefix)[(await shardOfOperation(redis, config.redis.keyPrefix, unreadable.id))!];
    await redis.hset(keys.op(unreadable.id), RECAPTURE_FIELD, '{not json');
    const next = await heldSince(Date.now() - WAIT_MS - 5_000);
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'recapture_wait' });
    const { logger, lines } = captureLogger('info');
    const report = await new RecaptureWaitSweep({ config, store, logger }).runOnce();
    expect(report.faulted).toBe(1);
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'recapture_wait' })).toBe(faults + 1);
    expect(surfacedLines(lines, next.id)).toHaveLength(1);
    await redis.zrem(keys.heldRecaptures, unreadable.id);
  });

  it('an export carries a capture’s place in the index; the backfill indexes, once, captures that held one before the index', async () => {
    const held = await heldSince(Date.now());
    const shard = (await shardOfOperation(redis, config.redis.keyPrefix, held.id))!;
    const [snapshot] = await readSnapshots(redis, operationKeysOf(config.redis.keyPrefix)[shard], [held.id], new Map());
    expect(snapshot.indexes.recaptures_held).toBeDefined();
    const opKeys = operationKeysOf(config.redis.keyPrefix)[shard];
    expect(restorePlan(snapshot, opKeys)).toContainEqual({ c: 'zadd', k: opKeys.heldRecaptures, s: snapshot.indexes.recaptures_held, m: held.id });
    // As an earlier release left it: held on the record, in no index.
    const keys = shardKeysOf(config.redis.keyPrefix)[shard];
    await redis.zrem(keys.heldRecaptures, held.id);
    const done = await backfillHeldRecaptureIndex(redis, config.redis.keyPrefix);
    expect(done.alreadyDone).toBe(false);
    // The earlier tests' held ones out of the index (reported, unreadable) are indexed again too: the sweep takes them out.
    expect(done.indexed).toBeGreaterThanOrEqual(1);
    expect(await inIndex(held.id)).toBe(true);
    expect(await redis.exists(heldRecaptureBackfillMarker(config.redis.keyPrefix))).toBe(1);
    expect(await backfillHeldRecaptureIndex(redis, config.redis.keyPrefix)).toEqual({ alreadyDone: true, indexed: 0 });
  });
});

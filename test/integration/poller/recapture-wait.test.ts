/**
 * A PSP re-capture held on its capture for the capture failure it follows (`AdjustmentStore.holdRecapture`) whose
 * failure never comes: past `delivery.recapture_failure_wait_ms` the poll pass's sweep surfaces it to operators,
 * once (a warn line, `pb_recaptures_before_failure_total{step="surfaced"}`, its history entry), it counts in
 * `pb_recaptures_awaiting_failure` and is listed by `ops recaptures list`; nothing is sent to the OMS. On the real Redis.
 */
import { adyenRecapture } from '../../support/held-recapture';
import { AdjustmentStore, HeldRecapture, RECAPTURE_FIELD, RECAPTURE_SURFACED_FIELD } from '../../../src/adjustments/adjustment-store';
import { AuditLog } from '../../../src/audit/audit-log';
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

/** A capture holding a re-capture since `heldAt`. */
async function heldSince(heldAt: number): Promise<{ id: string; reference: string; held: HeldRecapture; heldAt: number }> {
  const capture = await succeededCapture();
  const held = adyenRecapture(capture.reference, heldAt - 60_000);
  expect(await store.holdRecapture(capture.id, held, heldAt)).toBe('held');
  return { ...capture, held, heldAt };
}

const DAY_MS = 86_400_000;
const shardKeysOfOp = async (id: string) => shardKeysOf(config.redis.keyPrefix)[(await shardOfOperation(redis, config.redis.keyPrefix, id))!];
const opKeyOf = async (id: string) => (await shardKeysOfOp(id)).op(id);
const surfacedIndexOf = async (id: string) => (await shardKeysOfOp(id)).surfacedRecaptures;
/** Its entry in the index of held re-captures. */
async function entryOf(id: string) {
  const [entry] = (await store.heldRecapturesSince(Number.POSITIVE_INFINITY, 10_000)).filter((e) => e.operationId === id);
  return entry;
}
const silentAudit = () => new AuditLog({ prefix: config.redis.keyPrefix, stream: new PassThrough() });

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

  it('surfaces a newer due one however many surfaced ones stay waiting: they never fill the due read', async () => {
    const long = Date.now() - WAIT_MS - 10 * DAY_MS;
    // Four surfaced by earlier passes, older than anything else here, their failure still to come.
    const waiting: Awaited<ReturnType<typeof heldSince>>[] = [];
    for (let k = 0; k < 4; k += 1) {
      const one = await heldSince(long + k);
      expect((await store.surfaceHeldRecapture(await entryOf(one.id), WAIT_MS)).outcome).toBe('surfaced');
      waiting.push(one);
    }
    const newer = await heldSince(Date.now() - WAIT_MS - DAY_MS);
    const { logger, lines } = captureLogger('info');
    const sweep = new RecaptureWaitSweep({ config, store, logger });
    // A limit below the surfaced ones: the old due read re-read the oldest three at every pass.
    await sweep.runOnce(3);
    await sweep.runOnce(3);
    expect(surfacedLines(lines, newer.id)).toHaveLength(1);
    for (const one of waiting) expect(surfacedLines(lines, one.id)).toEqual([]);
    expect((await ledger.interactions(newer.id)).filter((h) => h.event === 'recapture_awaiting_failure')).toHaveLength(1);
    // Where operators look, the surfaced ones are all still there, longest waiting first.
    const listed = (await heldRecaptures({ config, redis, ledger }, { limit: 1000 })).map((r) => r.operation_id);
    expect(listed.slice(0, 5)).toEqual([...waiting.map((w) => w.id), newer.id]);
    const gauge = (await scrapeSnapshot({ config, redis, queues: {} })()).recapturesAwaitingFailure;
    expect(gauge).toBeGreaterThanOrEqual(5);
    // The failure of one comes (reported after it): it leaves the count; an operator dismisses another.
    await store.recordAdjustment({ ...waiting[0].held.fact, operationId: waiting[0].id });
    expect(await store.releaseHeldRecapture(waiting[0].id)).toBe(true);
    expect((await dismissHeldRecaptures({ config, redis, audit: silentAudit() }, [waiting[1].id], 'operator@test'))[0].result).toBe('dismissed');
    expect(await inIndex(waiting[0].id)).toBe(false);
    expect(await inIndex(waiting[1].id)).toBe(false);
    expect((await scrapeSnapshot({ config, redis, queues: {} })()).recapturesAwaitingFailure).toBe(gauge - 2);
    // A later re-capture held on a surfaced capture is due at once (its wait counts from the first) and surfaced too.
    const later = adyenRecapture(waiting[2].reference, Date.now());
    expect(await store.holdRecapture(waiting[2].id, later)).toBe('held');
    await sweep.runOnce(3);
    expect(surfacedLines(lines, waiting[2].id)).toHaveLength(1);
    expect(surfacedLines(lines, waiting[2].id)[0]).toMatchObject({ recapture_event_id: later.fact.pspEventId });
  });

  it('moves, surfacing nothing twice, the ones an earlier release surfaced and left among the due; they stay listed and dismissable', async () => {
    const long = Date.now() - WAIT_MS - 20 * DAY_MS;
    const legacy: Awaited<ReturnType<typeof heldSince>>[] = [];
    for (let k = 0; k < 4; k += 1) {
      const one = await heldSince(long + k);
      // As the earlier release left it: marked surfaced on the record, still in the index of held re-captures.
      await redis.hset(await opKeyOf(one.id), RECAPTURE_SURFACED_FIELD, one.held.fact.pspEventId);
      legacy.push(one);
    }
    const newer = await heldSince(Date.now() - WAIT_MS - 15 * DAY_MS);
    const { logger, lines } = captureLogger('info');
    const sweep = new RecaptureWaitSweep({ config, store, logger });
    const first = await sweep.runOnce(3);
    expect(first).toMatchObject({ surfaced: 0, moved: 3 });
    const second = await sweep.runOnce(3);
    expect(second).toMatchObject({ moved: 1 });
    expect(second.surfaced).toBeGreaterThanOrEqual(1);
    expect(surfacedLines(lines, newer.id)).toHaveLength(1);
    for (const one of legacy) {
      expect(surfacedLines(lines, one.id)).toEqual([]);
      expect(await redis.zscore(await surfacedIndexOf(one.id), one.id)).toBe(String(one.heldAt));
    }
    expect((await heldRecaptures({ config, redis, ledger }, { limit: 1000 })).map((r) => r.operation_id)).toEqual(
      expect.arrayContaining(legacy.map((l) => l.id)),
    );
    expect((await dismissHeldRecaptures({ config, redis, audit: silentAudit() }, [legacy[0].id], 'operator@test'))[0].result).toBe('dismissed');
    expect(await inIndex(legacy[0].id)).toBe(false);
  });

  it('looks again at surfaced ones: one whose failure a release that left their index alone recorded, or whose record is gone, leaves it', async () => {
    const reported = await heldSince(Date.now() - WAIT_MS - 5_000);
    const gone = await heldSince(Date.now() - WAIT_MS - 5_000);
    for (const one of [reported, gone]) expect((await store.surfaceHeldRecapture(await entryOf(one.id), WAIT_MS)).outcome).toBe('surfaced');
    await store.recordAdjustment({ ...reported.held.fact, operationId: reported.id });
    await redis.del(await opKeyOf(gone.id));
    const { logger, lines } = captureLogger('info');
    const sweep = new RecaptureWaitSweep({ config, store, logger });
    for (let pass = 0; pass < 5 && ((await inIndex(reported.id)) || (await inIndex(gone.id))); pass += 1) await sweep.runOnce(3);
    expect(await inIndex(reported.id)).toBe(false);
    expect(await inIndex(gone.id)).toBe(false);
    expect(
      lines.some((l) => l.includes('due entry with nothing to run removed from its index') && l.includes(gone.id) && l.includes('recaptures:surfaced')),
    ).toBe(true);
  });

  it('retention keeps an operation in either index, in the step that would delete it: no index entry is left behind', async () => {
    const due = await heldSince(Date.now());
    const surfaced = await heldSince(Date.now() - WAIT_MS - 5_000);
    expect((await store.surfaceHeldRecapture(await entryOf(surfaced.id), WAIT_MS)).outcome).toBe('surfaced');
    // The sweep's snapshot sees the surfaced one too (it would archive it otherwise).
    const shard = (await shardOfOperation(redis, config.redis.keyPrefix, surfaced.id))!;
    const [snapshot] = await readSnapshots(redis, operationKeysOf(config.redis.keyPrefix)[shard], [surfaced.id], new Map());
    expect(snapshot.indexes.recaptures_held).toBe(String(surfaced.heldAt));
    // A re-capture held after the sweep read the operation: the expiry itself keeps it.
    const none = { events: [], adjustments: [], refs: [], payment: [] };
    for (const one of [due, surfaced]) {
      expect(await ledger.expireTerminal(one.id, Date.now() + 60_000, none, { orderKey: '', requireReconciled: false })).toEqual({
        expired: false,
        kept: 'recapture_awaiting_failure',
      });
      expect(await ledger.get(one.id)).not.toBeNull();
      expect(await inIndex(one.id)).toBe(true);
    }
    // Once dismissed (settled with the PSP), it expires like any other.
    await dismissHeldRecaptures({ config, redis, audit: silentAudit() }, [surfaced.id], 'operator@test');
    expect(await ledger.expireTerminal(surfaced.id, Date.now() + 60_000, none, { orderKey: '', requireReconciled: false })).toEqual({ expired: true });
    expect(await inIndex(surfaced.id)).toBe(false);
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

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../../../src/config/config';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { EVENT_INDEX_TRIM_INTERVAL_MS, EventIndexTrim } from '../../../src/events/event-index-trim';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { opsDismissEvents, opsResendEvents } from '../../../src/cli/event-commands';
import { openOps } from '../../../src/ops/ops-context';
import { bullJobId } from '../../../src/queueing/job-id';
import { PassThrough } from 'node:stream';
import { PaymentEvent, eventAnchor } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { setScrapeCollector } from '../../../src/metrics/scrape-gauges';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { ShardKeys, shardOfPayment } from '../../../src/redis/key-layout';
import { idempotencyConflictEvent } from '../../../src/events/idempotency-conflict-event';
import { commandDigest } from '../../../src/ledger/command-digest';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * The set-aside (`events:rejected`) and dismissed (`events:dismissed`) indexes never outlive their events: retention
 * takes an expiring event's entries out in the step that deletes its record, so `pb_events_set_aside` (and its page)
 * never counts an event nobody can list, resend or dismiss.
 */
jest.setTimeout(30_000);

const DAY = 86_400_000;
let redis: RedisClient;
const prefixes: string[] = [];

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  setScrapeCollector(null);
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

function setup(): { config: Config; ledger: Ledger; events: EventStore } {
  const config = testConfig({ 'retention.archive_dir': mkdtempSync(join(tmpdir(), 'pb-archive-')) });
  prefixes.push(config.redis.keyPrefix);
  return { config, ledger: new Ledger(redis, config.redis.keyPrefix), events: new EventStore(redis, config.redis.keyPrefix) };
}

/**
 * A sale recorded and FAILED 500 days before now, and a command refused for reusing its operation id with other money
 * (2999), under the first of the order ids `orderIdAt(0)`, `orderIdAt(1)`, … whose shard is the sale's (`sameShard`)
 * or another one; `base` is the sale's order id.
 */
async function saleAndRefusedReuse(
  ledger: Ledger,
  sameShard: boolean,
  orderIdAt: (base: string, n: number) => string,
): Promise<{ id: string; sale: PaymentCommand; refused: PaymentCommand; now: number; at: number }> {
  const now = Date.now();
  const at = now - 500 * DAY;
  const cmd = channelCommand('sale');
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd, at, { event: 'attempt' });
  await ledger.transition(id, 'FAILED', { event: 'outcome' }, {}, at);
  const reuse = (n: number) => channelCommand('sale', {}, { operation_reference: id, amount: 2999, order_id: orderIdAt(cmd.payment.order_id!, n) });
  let refused = reuse(0);
  for (let n = 1; (shardOfPayment(refused.payment) === shardOfPayment(cmd.payment)) !== sameShard; n += 1) refused = reuse(n);
  return { id, sale: cmd, refused, now, at };
}

async function setAsideGauge(config: Config): Promise<number> {
  setScrapeCollector(scrapeSnapshot({ config, redis, queues: {} }));
  try {
    return await metricValue('pb_events_set_aside');
  } finally {
    setScrapeCollector(null);
  }
}

/** A sale FAILED `at`, its FAILED event recorded in its shard and set aside as the sender does on the bus's -32602. */
async function failedSaleSetAside(
  ledger: Ledger,
  events: EventStore,
  at: number,
  suffix = 'FAILED',
): Promise<{ id: string; event: PaymentEvent; keys: ShardKeys }> {
  const cmd = channelCommand('sale');
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd, at, { event: 'attempt' });
  await ledger.transition(id, 'FAILED', { event: 'outcome' }, {}, at);
  const anchor = eventAnchor(cmd.payment);
  const event: PaymentEvent = {
    eventId: `${id}.${suffix}`,
    ...anchor,
    method: 'magento.payments.payments_management.validated',
    params: { payment: { operation_reference: id } },
  };
  const { sequence } = await events.recordAndCheck(event, at);
  expect(await events.setAside({ ...event, sequence }, 'rpc_-32602', at)).toBe(true);
  return { id, event, keys: new ShardKeys(ledger.prefix, anchor.shard) };
}

describe('retention of a set-aside or dismissed event', () => {
  it('takes a dismissed event out of the dismissed index with its record; keeps the operation of one still set aside (the OMS has not heard it)', async () => {
    const { config, ledger, events } = setup();
    const now = Date.now();
    const setAside = await failedSaleSetAside(ledger, events, now - 500 * DAY);
    const dismissed = await failedSaleSetAside(ledger, events, now - 500 * DAY);
    expect(await events.dismiss(dismissed.event.eventId, 'operator@host', 'the bus will never take it', now - 499 * DAY)).not.toBeNull();
    expect(await setAsideGauge(config)).toBe(1);

    const report = await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();
    expect(report).toMatchObject({ expired: 1, kept: { set_aside_event: 1 } });

    expect(await ledger.get(dismissed.id)).toBeNull();
    expect(await redis.exists(dismissed.keys.event(dismissed.event.eventId))).toBe(0);
    expect(await redis.zscore(dismissed.keys.rejectedEvents, dismissed.event.eventId)).toBeNull();
    expect(await redis.zscore(dismissed.keys.dismissedEvents, dismissed.event.eventId)).toBeNull();
    expect(await ledger.get(setAside.id)).not.toBeNull();
    expect((await events.rejected()).map((e) => e.eventId)).toEqual([setAside.event.eventId]);
    expect(await setAsideGauge(config)).toBe(1);

    // Kept in the expiry step itself too: an event set aside after the sweep read the operation.
    const kept = await ledger.expireTerminal(
      setAside.id,
      now - 400 * DAY,
      { events: [{ k: setAside.keys.event(setAside.event.eventId), id: setAside.event.eventId }], adjustments: [], refs: [], payment: [] },
      { orderKey: '', requireReconciled: false },
    );
    expect(kept).toEqual({ expired: false, kept: 'set_aside_event' });

    // Once an operator dismissed it, the next pass expires it, its entries with it.
    expect(await events.dismiss(setAside.event.eventId, 'operator@host', 'the bus will never take it', now)).not.toBeNull();
    expect(await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce()).toMatchObject({ expired: 1 });
    expect(await redis.zscore(setAside.keys.dismissedEvents, setAside.event.eventId)).toBeNull();
    expect(await setAsideGauge(config)).toBe(0);
  });
});

describe("retention of a set-aside idempotency-conflict event (in the refused command's shard, not always its operation's)", () => {
  it.each(['another shard', 'its shard'])(
    'keeps the operation while the event is set aside; once dismissed, expires it with the event and its entry (%s)',
    async (where) => {
      const { config, ledger, events } = setup();
      // The same operation id with other money, under another order (another anchor: another shard) or the same one.
      const { id, sale, refused, now, at } = await saleAndRefusedReuse(ledger, where === 'its shard', (base, n) => (n === 0 ? base : `${base}-other-${n - 1}`));
      expect(shardOfPayment(refused.payment) !== shardOfPayment(sale.payment)).toBe(where === 'another shard');
      const conflict = idempotencyConflictEvent(id, refused, commandDigest(refused), config);
      const { sequence } = await events.recordAndCheck(conflict, at);
      expect(await events.setAside({ ...conflict, sequence }, 'rpc_-32602', at)).toBe(true);
      const eventKeys = new ShardKeys(config.redis.keyPrefix, shardOfPayment(refused.payment));
      const sweep = new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now });

      // Set aside: the OMS has not heard it, an operator decides; its operation stays.
      expect(await sweep.runOnce()).toMatchObject({ expired: 0, kept: { set_aside_event: 1 } });
      expect(await ledger.get(id)).not.toBeNull();
      expect((await events.rejected()).map((e) => e.eventId)).toEqual([conflict.eventId]);

      // Dismissed: it goes with its operation, its record and its entry.
      expect(await events.dismiss(conflict.eventId, 'operator@host', 'the bus will never take it', now - 499 * DAY)).not.toBeNull();
      expect(await sweep.runOnce()).toMatchObject({ expired: 1 });
      expect(await ledger.get(id)).toBeNull();
      expect(await redis.exists(eventKeys.event(conflict.eventId))).toBe(0);
      expect(await redis.zscore(eventKeys.dismissedEvents, conflict.eventId)).toBeNull();
      expect(await events.dismissed()).toEqual([]);
    },
  );
});

describe('retention of a delivered idempotency-conflict event (in no index of undelivered or set-aside events)', () => {
  it.each(['another shard', 'its shard'])(
    'expires it with its operation, with its entry and (another order, no operation of its own) its payment counters (%s)',
    async (where) => {
      const { config, ledger, events } = setup();
      const { id, refused, now, at } = await saleAndRefusedReuse(ledger, where === 'its shard', (base, n) => (n === 0 ? base : `${base}-other-${n - 1}`));
      const conflict = idempotencyConflictEvent(id, refused, commandDigest(refused), config);
      const { sequence } = await events.recordAndCheck(conflict, at);
      // Delivered, as the sender marks it: in no index of undelivered or set-aside events any more.
      await events.markSent(conflict.paymentKey, sequence, conflict.eventId);
      const eventKeys = new ShardKeys(config.redis.keyPrefix, shardOfPayment(refused.payment));
      expect(await redis.exists(eventKeys.event(conflict.eventId))).toBe(1);
      const sweep = new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now });

      expect(await sweep.runOnce()).toMatchObject({ expired: 1 });
      expect(await ledger.get(id)).toBeNull();
      expect(await redis.exists(eventKeys.event(conflict.eventId))).toBe(0);
      expect(await redis.exists(eventKeys.paymentSequence(conflict.paymentKey), eventKeys.paymentSent(conflict.paymentKey))).toBe(0);
      expect(await redis.exists(eventKeys.deliveredConflictEvents)).toBe(0);
    },
  );

  it("deletes the counters of a dismissed one's payment, another order with no operation in the operation's shard", async () => {
    const { config, ledger, events } = setup();
    const { id, refused, now, at } = await saleAndRefusedReuse(ledger, true, (base, n) => `${base}-s${n}`);
    const conflict = idempotencyConflictEvent(id, refused, commandDigest(refused), config);
    const { sequence } = await events.recordAndCheck(conflict, at);
    expect(await events.setAside({ ...conflict, sequence }, 'rpc_-32602', at)).toBe(true);
    expect(await events.dismiss(conflict.eventId, 'operator@host', 'the bus will never take it', at)).not.toBeNull();
    const keys = new ShardKeys(config.redis.keyPrefix, shardOfPayment(refused.payment));
    expect(await redis.exists(keys.paymentSequence(conflict.paymentKey), keys.paymentSent(conflict.paymentKey))).toBe(2);

    expect(await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce()).toMatchObject({ expired: 1 });
    expect(await redis.exists(keys.event(conflict.eventId))).toBe(0);
    expect(await redis.exists(keys.paymentSequence(conflict.paymentKey), keys.paymentSent(conflict.paymentKey))).toBe(0);
  });

  it('expires one delivered past the retention period whose operation is gone (it was recorded after the sweep read)', async () => {
    const { config, events } = setup();
    const now = Date.now();
    const at = now - 500 * DAY;
    const refused = channelCommand('sale', {}, { amount: 2999 });
    const conflict = idempotencyConflictEvent(`opref-expired-${now.toString(36)}`, refused, commandDigest(refused), config);
    const { sequence } = await events.recordAndCheck(conflict, at);
    await events.markSent(conflict.paymentKey, sequence, conflict.eventId, at);
    const young = idempotencyConflictEvent(`opref-expired-${now.toString(36)}-2`, refused, commandDigest(refused), config);
    const second = await events.recordAndCheck(young, now);
    await events.markSent(young.paymentKey, second.sequence, young.eventId, now);
    const keys = new ShardKeys(config.redis.keyPrefix, shardOfPayment(refused.payment));

    await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();
    expect(await redis.exists(keys.event(conflict.eventId))).toBe(0);
    expect(await redis.zrange(keys.deliveredConflictEvents, 0, -1)).toEqual([young.eventId]);
    expect(await redis.exists(keys.event(young.eventId))).toBe(1);
  });

  it('keeps the counters of a payment whose order still has an operation', async () => {
    const { config, ledger, events } = setup();
    const { id, refused, now, at } = await saleAndRefusedReuse(ledger, false, (base, n) => (n === 0 ? `${base}-b` : `${base}-b${n - 1}`));
    // Order B has an operation of its own (recent, live): its counters are that operation's too.
    const own = channelCommand('sale', {}, { order_id: refused.payment.order_id });
    await ledger.create(own.payment.operation_reference!, own, now, { event: 'attempt' });
    const conflict = idempotencyConflictEvent(id, refused, commandDigest(refused), config);
    const { sequence } = await events.recordAndCheck(conflict, at);
    await events.markSent(conflict.paymentKey, sequence, conflict.eventId);
    const keys = new ShardKeys(config.redis.keyPrefix, shardOfPayment(refused.payment));

    expect(await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce()).toMatchObject({ expired: 1 });
    expect(await redis.exists(keys.event(conflict.eventId))).toBe(0);
    expect(await redis.get(keys.paymentSequence(conflict.paymentKey))).toBe(String(sequence));
    expect(await redis.get(keys.paymentSent(conflict.paymentKey))).toBe(String(sequence));
  });
});

describe('retention of a set-aside event whose id is not a state outcome (risk review held, token restated)', () => {
  it.each(['risk-review', 'stored-token'])('expires the dismissed `.%s` event with its operation, its index entries with it', async (suffix) => {
    const { config, ledger, events } = setup();
    const now = Date.now();
    const setAside = await failedSaleSetAside(ledger, events, now - 500 * DAY, suffix);
    expect(await setAsideGauge(config)).toBe(1);
    expect(await events.dismiss(setAside.event.eventId, 'operator@host', 'the bus will never take it', now - 499 * DAY)).not.toBeNull();

    expect(await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce()).toMatchObject({ expired: 1 });

    expect(await ledger.get(setAside.id)).toBeNull();
    expect(await redis.exists(setAside.keys.event(setAside.event.eventId))).toBe(0);
    expect(await redis.zscore(setAside.keys.dismissedEvents, setAside.event.eventId)).toBeNull();
    expect(await setAsideGauge(config)).toBe(0);
  });
});

describe('an entry an earlier release left behind (its event expired by retention, the entry kept)', () => {
  it("is trimmed by the poller's index trim, counted and logged, and no longer counted by the gauge; live entries stay", async () => {
    const { config, ledger, events } = setup();
    const now = Date.now();
    const live = await failedSaleSetAside(ledger, events, now - DAY);
    // What the earlier release's retention left: entries in both indexes, their events' records gone.
    const keys = new ShardKeys(config.redis.keyPrefix, 5);
    await redis.zadd(keys.rejectedEvents, now - 300 * DAY, 'gone-set-aside.FAILED');
    await redis.zadd(keys.dismissedEvents, now - 300 * DAY, 'gone-dismissed.FAILED');
    expect(await setAsideGauge(config)).toBe(2);
    const before = {
      rejected: await metricValue('pb_events_index_entries_trimmed_total', { index: 'rejected' }),
      dismissed: await metricValue('pb_events_index_entries_trimmed_total', { index: 'dismissed' }),
    };

    const logs = captureLogger('info');
    let at = now;
    const trim = new EventIndexTrim({ events, logger: logs.logger, now: () => at });
    expect(await trim.runIfDue()).toEqual({ rejected: 1, dismissed: 1 });

    expect(await setAsideGauge(config)).toBe(1);
    expect(await redis.zscore(keys.rejectedEvents, 'gone-set-aside.FAILED')).toBeNull();
    expect(await redis.zscore(keys.dismissedEvents, 'gone-dismissed.FAILED')).toBeNull();
    expect(await redis.zscore(live.keys.rejectedEvents, live.event.eventId)).not.toBeNull();
    expect((await events.rejected()).map((e) => e.eventId)).toEqual([live.event.eventId]);
    expect(await metricValue('pb_events_index_entries_trimmed_total', { index: 'rejected' })).toBe(before.rejected + 1);
    expect(await metricValue('pb_events_index_entries_trimmed_total', { index: 'dismissed' })).toBe(before.dismissed + 1);
    const line = logs.lines.find((l) => l.includes('event indexes: entries of events no longer recorded trimmed'));
    expect(line).toContain('"level":"warn"');
    expect(line).toContain('gone-set-aside.FAILED');

    // Not due again within its interval; due after it, finding nothing more to take.
    await redis.zadd(keys.rejectedEvents, now - 300 * DAY, 'gone-later.FAILED');
    expect(await trim.runIfDue()).toBeNull();
    at = now + EVENT_INDEX_TRIM_INTERVAL_MS;
    expect(await trim.runIfDue()).toEqual({ rejected: 1, dismissed: 0 });
    expect(await setAsideGauge(config)).toBe(1);
  });
});

describe('the trim across processes (the poller and every worker running the in-process poller)', () => {
  it('runs once an interval for the whole fleet: another process within it finds it not due, the next interval one of them runs it', async () => {
    const { config, events } = setup();
    const now = Date.now();
    const keys = new ShardKeys(config.redis.keyPrefix, 3);
    await redis.zadd(keys.rejectedEvents, now - 300 * DAY, 'gone-fleet.FAILED');
    let at = now;
    const first = new EventIndexTrim({ events, logger: silentLogger(), now: () => at });
    const second = new EventIndexTrim({ events: new EventStore(redis, config.redis.keyPrefix), logger: silentLogger(), now: () => at });
    expect(await first.runIfDue()).toEqual({ rejected: 1, dismissed: 0 });
    expect(await second.runIfDue()).toBeNull();
    at = now + EVENT_INDEX_TRIM_INTERVAL_MS;
    expect(await second.runIfDue()).toEqual({ rejected: 0, dismissed: 0 });
    expect(await first.runIfDue()).toBeNull();
  });
});

describe('the trim of a large index', () => {
  it('reads at most its page budget a call and resumes the walk where it stopped at the next call', async () => {
    const { config, events } = setup();
    const now = Date.now();
    const keys = new ShardKeys(config.redis.keyPrefix, 4);
    await redis.hset(keys.event('live.FAILED'), 'sequence', '1');
    await redis.zadd(keys.rejectedEvents, now - 301 * DAY, 'live.FAILED');
    for (const id of ['gone-a', 'gone-b', 'gone-c', 'gone-d', 'gone-e']) await redis.zadd(keys.rejectedEvents, now - 300 * DAY, `${id}.FAILED`);

    expect((await events.trimDangling(2, 2)).map((e) => e.eventId)).toEqual(['gone-a.FAILED', 'gone-b.FAILED', 'gone-c.FAILED']);
    expect(await redis.zrange(keys.rejectedEvents, 0, -1)).toEqual(['live.FAILED', 'gone-d.FAILED', 'gone-e.FAILED']);
    expect((await events.trimDangling(2, 2)).map((e) => e.eventId)).toEqual(['gone-d.FAILED', 'gone-e.FAILED']);
    expect(await redis.zrange(keys.rejectedEvents, 0, -1)).toEqual(['live.FAILED']);
    // The walk finished: the next one starts again from the first shard.
    expect(await redis.exists(`${config.redis.keyPrefix}events:index_trim:cursor`)).toBe(0);
  });
});

describe('an operator resending or dismissing an event whose record is gone', () => {
  function opsOutput(): { out: PassThrough; err: PassThrough; actor: string; text: () => string } {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    return { out, err: new PassThrough(), actor: 'operator@host', text: () => text };
  }

  it('is told `expired` for an entry left behind (taken out, nothing queued), `not found` once no entry is left: exit 1', async () => {
    const { config, ledger, events } = setup();
    const ctx = openOps(config, silentLogger(), { service: 'ops', redis, auditStream: new PassThrough() });
    const now = Date.now();
    const keys = new ShardKeys(config.redis.keyPrefix, 11);
    await redis.zadd(keys.rejectedEvents, now - 300 * DAY, 'gone-resent.FAILED');
    await redis.zadd(keys.rejectedEvents, now - 300 * DAY, 'gone-dismissed.FAILED');
    await redis.zadd(keys.dismissedEvents, now - 300 * DAY, 'gone-twice.FAILED');
    const trimmed = async (index: 'rejected' | 'dismissed') => metricValue('pb_events_index_entries_trimmed_total', { index });
    const before = { rejected: await trimmed('rejected'), dismissed: await trimmed('dismissed') };

    const resend = opsOutput();
    expect(await opsResendEvents(ctx, resend, { ids: ['gone-resent.FAILED'] })).toBe(1);
    expect(resend.text()).toBe('gone-resent.FAILED: expired\n');
    const dismiss = opsOutput();
    expect(await opsDismissEvents(ctx, dismiss, { ids: ['gone-dismissed.FAILED', 'gone-twice.FAILED'], reason: 'the bus will never take it' })).toBe(1);
    expect(dismiss.text()).toBe('gone-dismissed.FAILED: expired\ngone-twice.FAILED: expired\n');
    // Counted with the trim's removals, by the index that held each entry: the trim will never see them now.
    expect(await trimmed('rejected')).toBe(before.rejected + 2);
    expect(await trimmed('dismissed')).toBe(before.dismissed + 1);
    expect(await redis.zcard(keys.rejectedEvents)).toBe(0);
    expect(await redis.zcard(keys.dismissedEvents)).toBe(0);
    expect(await redis.exists(keys.event('gone-resent.FAILED'), keys.event('gone-dismissed.FAILED'))).toBe(0);
    expect(await setAsideGauge(config)).toBe(0);
    const queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    try {
      expect(await queue.getJob(bullJobId('gone-resent.FAILED'))).toBeUndefined();
    } finally {
      await queue.close();
    }

    // Expired by retention now: its entry went with it, so nothing names it any more.
    const expired = await failedSaleSetAside(ledger, events, now - 500 * DAY);
    expect(await events.dismiss(expired.event.eventId, 'operator@host', 'the bus will never take it', now - 499 * DAY)).not.toBeNull();
    expect(await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce()).toMatchObject({ expired: 1 });
    const again = opsOutput();
    expect(await opsResendEvents(ctx, again, { ids: [expired.event.eventId] })).toBe(1);
    expect(again.text()).toBe(`${expired.event.eventId}: not found\n`);
    const dismissAgain = opsOutput();
    expect(await opsDismissEvents(ctx, dismissAgain, { ids: [expired.event.eventId], reason: 'the bus will never take it' })).toBe(1);
    expect(dismissAgain.text()).toBe(`${expired.event.eventId}: not found\n`);
    expect(await trimmed('rejected')).toBe(before.rejected + 2);
    expect(await trimmed('dismissed')).toBe(before.dismissed + 1);
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../../../src/config/config';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { EventStore } from '../../../src/events/event-store';
import { backfillOperationlessEventIndex, operationlessEventBackfillMarker } from '../../../src/events/operationless-event-backfill';
import { PaymentEvent, eventAnchor, shardOfEvent } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { skipNoticeId } from '../../../src/recurring/recurring-skip-notice';
import { ShardKeys } from '../../../src/redis/key-layout';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * Outbox events that belong to no operation (a recurring schedule's skipped-cycles and failure notices, a split
 * tender's and a split refund's events) expire `retention.expire_after_days` after they left the unsent index
 * (delivered, or set aside), as an operation's events do with their operation; one still unsent is kept.
 */
jest.setTimeout(30_000);

const DAY = 86_400_000;
let redis: RedisClient;
const prefixes: string[] = [];

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

function setup(): { config: Config; events: EventStore; sweep: (now: number) => RetentionSweep } {
  const config = testConfig({ 'retention.archive_dir': mkdtempSync(join(tmpdir(), 'pb-archive-')) });
  prefixes.push(config.redis.keyPrefix);
  return {
    config,
    events: new EventStore(redis, config.redis.keyPrefix),
    sweep: (now) => new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }),
  };
}

/** An event of id `eventId` on a fresh order's payment (hand-built: only its id's shape matters to retention). */
function eventOf(eventId: string, method: string): PaymentEvent {
  const cmd = channelCommand('sale');
  return { eventId, ...eventAnchor(cmd.payment), method, params: { payment: { order_id: cmd.payment.order_id, event_id: eventId } } };
}

/** Records `event` at `at` and marks it delivered then; the keys of its shard. */
async function delivered(config: Config, events: EventStore, event: PaymentEvent, at: number): Promise<ShardKeys> {
  const { sequence } = await events.recordAndCheck(event, at);
  await events.markSent(event.paymentKey, sequence, event.eventId, at);
  return new ShardKeys(config.redis.keyPrefix, shardOfEvent(event));
}

describe('retention of outbox events that belong to no operation', () => {
  it('expires a skipped-cycles notice delivered before the retention period and keeps one delivered since', async () => {
    const { config, events, sweep } = setup();
    const now = Date.now();
    const method = config.serviceBus.methods.notifications.recurring_cycles_skipped;
    const old = eventOf(skipNoticeId(`sched-old-${now.toString(36)}`, 1, 3), method);
    const young = eventOf(skipNoticeId(`sched-young-${now.toString(36)}`, 1, 2), method);
    const oldKeys = await delivered(config, events, old, now - 500 * DAY);
    const youngKeys = await delivered(config, events, young, now - 10 * DAY);
    const before = await metricValue('pb_retention_operationless_events_expired_total', { kind: 'skip_notice' });

    const report = await sweep(now).runOnce();

    expect(await redis.exists(oldKeys.event(old.eventId))).toBe(0);
    expect(await redis.exists(youngKeys.event(young.eventId))).toBe(1);
    expect(report).toMatchObject({ operationlessEventsExpired: 1 });
    expect(await metricValue('pb_retention_operationless_events_expired_total', { kind: 'skip_notice' })).toBe(before + 1);
  });

  it("expires a recurring cycle's failure notice, a split tender's and a split refund's events delivered before the period", async () => {
    const { config, events, sweep } = setup();
    const now = Date.now();
    const tag = now.toString(36);
    const m = config.serviceBus.methods.notifications;
    const old = [
      eventOf(`sched-${tag}.c4.failed`, m.recurring_failed),
      eventOf(`split-${tag}.split-tender.DONE`, m.split_tender_settled),
      eventOf(`refund-${tag}.split-refund.REFUNDED`, m.refunded),
      eventOf(`refund2-${tag}.split-refund.refused.amount_above_left.abc123`, m.refunded),
    ];
    const keys: ShardKeys[] = [];
    for (const e of old) keys.push(await delivered(config, events, e, now - 500 * DAY));

    expect(await sweep(now).runOnce()).toMatchObject({ operationlessEventsExpired: 4 });
    for (const [n, e] of old.entries()) expect(await redis.exists(keys[n].event(e.eventId))).toBe(0);
  });

  it('expires one set aside (and one then dismissed) before the period, and keeps one still unsent', async () => {
    const { config, events, sweep } = setup();
    const now = Date.now();
    const at = now - 500 * DAY;
    const method = config.serviceBus.methods.notifications.recurring_cycles_skipped;
    const setAside = eventOf(skipNoticeId(`sched-aside-${now.toString(36)}`, 1, 1), method);
    const dismissed = eventOf(skipNoticeId(`sched-dismissed-${now.toString(36)}`, 2, 5), method);
    const unsent = eventOf(skipNoticeId(`sched-unsent-${now.toString(36)}`, 1, 4), method);
    for (const e of [setAside, dismissed]) {
      const { sequence } = await events.recordAndCheck(e, at);
      expect(await events.setAside({ ...e, sequence }, 'rpc_-32601', at)).toBe(true);
    }
    expect(await events.dismiss(dismissed.eventId, 'operator@host', 'the OMS has no such method', at)).not.toBeNull();
    await events.recordAndCheck(unsent, at);
    const k = (e: PaymentEvent) => new ShardKeys(config.redis.keyPrefix, shardOfEvent(e));

    expect(await sweep(now).runOnce()).toMatchObject({ operationlessEventsExpired: 2 });
    expect(await redis.exists(k(setAside).event(setAside.eventId))).toBe(0);
    expect(await redis.zscore(k(setAside).rejectedEvents, setAside.eventId)).toBeNull();
    expect(await redis.exists(k(dismissed).event(dismissed.eventId))).toBe(0);
    expect(await redis.zscore(k(dismissed).dismissedEvents, dismissed.eventId)).toBeNull();
    expect(await redis.exists(k(unsent).event(unsent.eventId))).toBe(1);
    expect(await redis.zscore(k(unsent).unsentEvents, unsent.eventId)).not.toBeNull();
  });

  it("leaves an operation's own event whose id reads as one of them (an operation id ending in .split-tender)", async () => {
    const { config, events, sweep } = setup();
    const now = Date.now();
    const at = now - 500 * DAY;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const cmd = channelCommand('sale', {}, { operation_reference: `op-${now.toString(36)}.split-tender` });
    const id = cmd.payment.operation_reference!;
    // Live (not terminal): retention keeps the operation, and so its events.
    await ledger.create(id, cmd, at, { event: 'attempt' });
    const own: PaymentEvent = { eventId: `${id}.PENDING`, ...eventAnchor(cmd.payment), method: 'm', params: {} };
    const { sequence } = await events.recordAndCheck(own, at);
    await events.markSent(own.paymentKey, sequence, own.eventId, at);

    await sweep(now).runOnce();
    expect(await redis.exists(new ShardKeys(config.redis.keyPrefix, shardOfEvent(own)).event(own.eventId))).toBe(1);
  });
  it("expires a cycle's recurring_failed notice though an operation bears the cycle's earlier name (<schedule>.c<n>: its events never end in .failed)", async () => {
    const { config, events, sweep } = setup();
    const now = Date.now();
    const at = now - 500 * DAY;
    const schedule = `sched-named-${now.toString(36)}`;
    // The first attempt's operation as cycles were named before the bridge's `_` (or a channel's command of that reference).
    const cmd = channelCommand('sale', {}, { operation_reference: `${schedule}.c4` });
    await new Ledger(redis, config.redis.keyPrefix).create(`${schedule}.c4`, cmd, at, { event: 'attempt' });
    const notice = { ...eventOf(`${schedule}.c4.failed`, config.serviceBus.methods.notifications.recurring_failed), ...eventAnchor(cmd.payment) };
    const keys = await delivered(config, events, notice, at);

    expect(await sweep(now).runOnce()).toMatchObject({ operationlessEventsExpired: 1 });
    expect(await redis.exists(keys.event(notice.eventId))).toBe(0);
    expect(await redis.zscore(keys.operationlessEvents, notice.eventId)).toBeNull();
  });

  it("leaves an operation's adjustment event whose id reads as a split refund's refusal (an operation id ending in .split-refund.refused)", async () => {
    const { config, events, sweep } = setup();
    const now = Date.now();
    const at = now - 500 * DAY;
    const cmd = channelCommand('sale', {}, { operation_reference: `op-${now.toString(36)}.split-refund.refused` });
    const id = cmd.payment.operation_reference!;
    // Live (not terminal): retention keeps the operation, and so its events.
    await new Ledger(redis, config.redis.keyPrefix).create(id, cmd, at, { event: 'attempt' });
    const own: PaymentEvent = { eventId: `${id}.adj.adj_0123456789abcdef01234567`, ...eventAnchor(cmd.payment), method: 'm', params: {} };
    const keys = await delivered(config, events, own, at);

    await sweep(now).runOnce();
    expect(await redis.exists(keys.event(own.eventId))).toBe(1);
  });
  it('indexes once those an earlier release delivered or set aside (in no index), so retention deletes them too', async () => {
    const { config, events, sweep } = setup();
    const prefix = config.redis.keyPrefix;
    const now = Date.now();
    const at = now - 500 * DAY;
    const m = config.serviceBus.methods.notifications;
    const tag = now.toString(36);
    const delivered = eventOf(skipNoticeId(`sched-earlier-${tag}`, 1, 3), m.recurring_cycles_skipped);
    const setAside = eventOf(`sched-earlier-${tag}.c2.failed`, m.recurring_failed);
    const unsent = eventOf(`split-earlier-${tag}.split-tender.DONE`, m.split_tender_settled);
    const own = eventOf(`op-earlier-${tag}.SUCCEEDED`, 'm');
    const k = (e: PaymentEvent) => new ShardKeys(prefix, shardOfEvent(e));
    for (const e of [delivered, setAside, unsent, own]) await events.recordAndCheck(e, at);
    // As an earlier release left them: out of the unsent index (delivered, or set aside then), in no index of theirs.
    for (const e of [delivered, own]) await redis.zrem(k(e).unsentEvents, e.eventId);
    await redis.zrem(k(setAside).unsentEvents, setAside.eventId);
    await redis.hset(k(setAside).event(setAside.eventId), { rejected_at: String(at), rejected_reason: 'rpc_-32601' });
    await redis.zadd(k(setAside).rejectedEvents, at, setAside.eventId);
    for (const e of [delivered, setAside, unsent, own]) expect(await redis.zscore(k(e).operationlessEvents, e.eventId)).toBeNull();

    // Run 450 days ago: a delivered one's clock counts from the backfill's now, a set-aside one's from when set aside.
    expect(await backfillOperationlessEventIndex(redis, prefix, now - 450 * DAY)).toEqual({ alreadyDone: false, indexed: 2 });
    expect(Number(await redis.zscore(k(delivered).operationlessEvents, delivered.eventId))).toBe(now - 450 * DAY);
    expect(Number(await redis.zscore(k(setAside).operationlessEvents, setAside.eventId))).toBe(at);
    expect(await redis.zscore(k(unsent).operationlessEvents, unsent.eventId)).toBeNull();
    expect(await redis.zscore(k(own).operationlessEvents, own.eventId)).toBeNull();
    expect(await redis.get(operationlessEventBackfillMarker(prefix))).toBe(String(now - 450 * DAY));
    expect(await backfillOperationlessEventIndex(redis, prefix, now)).toEqual({ alreadyDone: true, indexed: 0 });

    expect(await sweep(now).runOnce()).toMatchObject({ operationlessEventsExpired: 2 });
    for (const e of [delivered, setAside]) expect(await redis.exists(k(e).event(e.eventId))).toBe(0);
    for (const e of [unsent, own]) expect(await redis.exists(k(e).event(e.eventId))).toBe(1);
  });
});

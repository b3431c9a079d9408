import { PassThrough } from 'node:stream';
import { Worker } from 'bullmq';
import { AuditEntry, auditStreamKey } from '../../../src/audit/audit-log';
import { opsDismissEvents, opsRejectedEvents, opsResendEvents } from '../../../src/cli/event-commands';
import { Config } from '../../../src/config/config';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { NotificationSender } from '../../../src/events/event-send';
import { startEventSender } from '../../../src/events/event-sender';
import { PaymentEvent } from '../../../src/events/payment-event';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { setScrapeCollector } from '../../../src/metrics/scrape-gauges';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { EVENT_DISMISS_REASON_MAX, dismissSetAsideEvents } from '../../../src/ops/event-dismiss';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { bullJobId } from '../../../src/queueing/job-id';
import { ShardKeys } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { redisText } from '../../support/redis-text';
import { testConfig } from '../../support/test-config';

/**
 * An operator dismisses a set-aside event the bus will never take (`ops events dismiss --reason`): it leaves the
 * set-aside index for good in one script, so `pb_events_set_aside` (and its page) clears, its record keeps who, when
 * and why, a later resend finds it not set aside, and an event that is not set aside is never touched. Of a resend
 * and a dismissal racing on one event, exactly one takes it.
 */
jest.setTimeout(30_000);

const VISA = '4111111111111111';
const REASON = 'the bus does not implement refund_management.updated (-32601); service_bus.refund_pending_notice is off';

let config: Config;
let redis: RedisClient;
let other: RedisClient;
let events: EventStore;
let logs: ReturnType<typeof captureLogger>;
let ctx: OpsContext;

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  other = createRedis(config.redis, 'commands');
  events = new EventStore(redis, config.redis.keyPrefix);
  logs = captureLogger('info');
  ctx = openOps(config, logs.logger, { service: 'ops', redis, auditStream: new PassThrough() });
});

afterAll(async () => {
  setScrapeCollector(null);
  await purgeNamespace(config).catch(() => undefined);
  other.disconnect();
  redis.disconnect();
});

/** Letters only in names: a run of digits may pass for a card number and be masked from an audit line. */
function eventOf(name: string): PaymentEvent {
  return {
    eventId: `${name}.refund.PENDINGRELEASE`,
    paymentKey: `pay-${name}`,
    method: 'magento.postsales.refund_management.updated',
    params: { payment: { operation_reference: name } },
  };
}

/** `name`'s event recorded and set aside as the sender does on the bus's -32601. */
async function setAside(name: string): Promise<PaymentEvent> {
  const event = eventOf(name);
  const { sequence } = await events.recordAndCheck(event, Date.now());
  expect(await events.setAside({ ...event, sequence }, 'rpc_-32601')).toBe(true);
  return event;
}

function opsOutput(): { out: PassThrough; err: PassThrough; actor: string; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out, err: new PassThrough(), actor: 'operator@host', text: () => text };
}

async function audited(action: string, target: string): Promise<AuditEntry[]> {
  return (await redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+'))
    .map(([, f]) => JSON.parse(f[1]) as AuditEntry)
    .filter((e) => e.action === action && e.target === target);
}

async function eventHash(eventId: string): Promise<Record<string, string>> {
  const shard = (await events.load(eventId))!.shard!;
  return redis.hgetall(new ShardKeys(config.redis.keyPrefix, shard).event(eventId));
}

async function setAsideGauge(): Promise<number> {
  setScrapeCollector(scrapeSnapshot({ config, redis, queues: {} }));
  try {
    return await metricValue('pb_events_set_aside');
  } finally {
    setScrapeCollector(null);
  }
}

describe('ops events dismiss', () => {
  it('takes a set-aside event out of what pb_events_set_aside counts, keeps who, when and why, audit-logs, counts and logs it', async () => {
    const event = await setAside('dismiss-gauge');
    expect(await setAsideGauge()).toBe(1);
    const before = await metricValue('pb_events_dismissed_total', { by: 'ops' });

    const io = opsOutput();
    const at = Date.now();
    expect(await opsDismissEvents(ctx, io, { ids: [event.eventId], reason: `  ${REASON}  ` })).toBe(0);
    expect(io.text()).toBe(`${event.eventId}: dismissed\n`);

    expect(await setAsideGauge()).toBe(0);
    expect(await events.rejected()).toEqual([]);
    expect(await metricValue('pb_events_dismissed_total', { by: 'ops' })).toBe(before + 1);
    const [listed] = await events.dismissed();
    expect(listed).toMatchObject({ eventId: event.eventId, reason: 'rpc_-32601', sequence: 1, dismissedBy: 'operator@host', dismissedReason: REASON });
    expect(listed.dismissedAt).toBeGreaterThanOrEqual(at);
    // Its record stays, with why the bus refused it.
    expect(await eventHash(event.eventId)).toMatchObject({ rejected_reason: 'rpc_-32601', dismissed_by: 'operator@host', dismissed_reason: REASON });

    const [entry] = await audited('event.dismiss', event.eventId);
    expect(entry).toMatchObject({ actor: 'operator@host', outcome: 'ok', detail: { result: 'dismissed', by: 'ops', reason: REASON } });
    const line = logs.lines.find((l) => l.includes('set-aside event dismissed') && l.includes(event.eventId));
    expect(line).toContain('"level":"warn"');
    expect(line).toContain('rpc_-32601');
    expect(line).toContain('operator@host');

    const shown = opsOutput();
    expect(await opsRejectedEvents(ctx, shown, { dismissed: true })).toBe(0);
    expect(shown.text()).toContain(`${event.eventId}  magento.postsales.refund_management.updated  sequence 1`);
    expect(shown.text()).toContain(`by operator@host: ${REASON}`);
    const rejected = opsOutput();
    expect(await opsRejectedEvents(ctx, rejected, {})).toBe(0);
    expect(rejected.text()).toBe('no event is set aside\n');
  });

  it('leaves a dismissed event to no later resend: not set aside, nothing queued, never back in the unsent index', async () => {
    const event = await setAside('dismiss-then-resend');
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: REASON })).toBe(0);

    const io = opsOutput();
    expect(await opsResendEvents(ctx, io, { ids: [event.eventId] })).toBe(1);
    expect(io.text()).toBe(`${event.eventId}: not set aside\n`);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(event.eventId);
    const queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    try {
      expect(await queue.getJob(bullJobId(event.eventId))).toBeUndefined();
    } finally {
      await queue.close();
    }
    expect(await eventHash(event.eventId)).not.toHaveProperty('resend_at');
    // A second dismissal finds nothing to do either.
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: REASON })).toBe(1);
    expect((await events.dismissed()).filter((e) => e.eventId === event.eventId)).toHaveLength(1);
  });

  it('leaves alone an event that is not set aside (unsent, resent) and an id that names none: exit 1, nothing counted', async () => {
    const unsent = eventOf('dismiss-unsent');
    await events.recordAndCheck(unsent, Date.now());
    const resent = await setAside('dismiss-resent');
    expect(await events.resend(resent.eventId)).toBe(true);
    const before = await metricValue('pb_events_dismissed_total', { by: 'ops' });
    const hashes = [await eventHash(unsent.eventId), await eventHash(resent.eventId)];

    const io = opsOutput();
    expect(await opsDismissEvents(ctx, io, { ids: [unsent.eventId, resent.eventId, 'no-such-event.SUCCEEDED'], reason: REASON })).toBe(1);
    expect(io.text()).toBe(`${unsent.eventId}: not set aside\n${resent.eventId}: not set aside\nno-such-event.SUCCEEDED: not found\n`);
    expect([await eventHash(unsent.eventId), await eventHash(resent.eventId)]).toEqual(hashes);
    expect(await events.unsentBefore(Date.now() + 1000)).toEqual(expect.arrayContaining([unsent.eventId, resent.eventId]));
    const dismissed = (await events.dismissed(1000)).map((e) => e.eventId);
    expect(dismissed).not.toContain(unsent.eventId);
    expect(dismissed).not.toContain(resent.eventId);
    expect(await metricValue('pb_events_dismissed_total', { by: 'ops' })).toBe(before);
    expect((await audited('event.dismiss', unsent.eventId)).map((e) => e.outcome)).toEqual(['refused']);
  });

  it('refuses without a reason or with one too long (exit 2, nothing done), and masks a card number in the one it keeps', async () => {
    const event = await setAside('dismiss-reason');
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: '   ' })).toBe(2);
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: 'x'.repeat(EVENT_DISMISS_REASON_MAX + 1) })).toBe(2);
    expect((await events.rejected()).map((e) => e.eventId)).toContain(event.eventId);
    expect(await audited('event.dismiss', event.eventId)).toEqual([]);

    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: `card ${VISA} in the notice` })).toBe(0);
    expect((await events.dismissed()).find((e) => e.eventId === event.eventId)?.dismissedReason).not.toContain(VISA);
    expect(await redisText(redis, config.redis.keyPrefix)).not.toContain(VISA);
    expect(logs.lines.join('\n')).not.toContain(VISA);
  });
});

describe('a dismissed event refused again (a send already under way when it was dismissed)', () => {
  it('is not set aside again: it stays out of the set-aside index and what pb_events_set_aside counts', async () => {
    const event = await setAside('dismiss-set-aside-again');
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: REASON })).toBe(0);
    const stored = (await events.load(event.eventId))!;
    expect(await events.setAside(stored, 'rpc_-32601')).toBe(false);
    expect((await events.rejected(1000)).map((e) => e.eventId)).not.toContain(event.eventId);
    expect((await events.dismissed(1000)).map((e) => e.eventId)).toContain(event.eventId);
  });
});

describe('a long dismissal reason', () => {
  it('is kept whole on the event (up to the bound) and cut at 200 characters in the audit log, as a held-retry release', async () => {
    const event = await setAside('dismiss-long-reason');
    const long = `${REASON}; ${'the bus team confirmed it will not add the method '.repeat(6)}`.slice(0, 450).trim();
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: long })).toBe(0);
    expect((await events.dismissed(1000)).find((e) => e.eventId === event.eventId)?.dismissedReason).toBe(long);
    const [entry] = await audited('event.dismiss', event.eventId);
    expect(entry.detail?.reason).toBe(long.slice(0, 200));
  });
});

describe('a resend and a dismissal racing on one set-aside event', () => {
  it('end in exactly one of the two, every time', async () => {
    const store = new EventStore(other, config.redis.keyPrefix);
    const outcomes = { resent: 0, dismissed: 0 };
    for (let round = 0; round < 20; round += 1) {
      const event = await setAside(`dismiss-race-${String.fromCharCode(97 + round)}`);
      const [resent, [dismissal]] = await Promise.all([
        store.resend(event.eventId),
        dismissSetAsideEvents(ctx, [event.eventId], { actor: 'operator@host', reason: REASON, by: 'ops' }),
      ]);
      const dismissed = dismissal.result === 'dismissed';
      expect([resent, dismissed]).toContainEqual(true);
      expect(resent && dismissed).toBe(false);
      const unsent = (await events.unsentBefore(Date.now() + 1000)).includes(event.eventId);
      const listed = (await events.dismissed(1000)).some((e) => e.eventId === event.eventId);
      expect([unsent, listed]).toEqual([resent, dismissed]);
      expect((await events.rejected(1000)).map((e) => e.eventId)).not.toContain(event.eventId);
      outcomes[resent ? 'resent' : 'dismissed'] += 1;
    }
    expect(outcomes.resent + outcomes.dismissed).toBe(20);
  });
});

describe('a job naming a dismissed event', () => {
  it('sends nothing, a resend job included: the sender drops it and takes it out of the unsent index', async () => {
    const event = await setAside('dismiss-stale-job');
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: REASON })).toBe(0);
    // As if something had put it back: in the unsent index, a resend job queued.
    const shard = (await events.load(event.eventId))!.shard!;
    await redis.zadd(new ShardKeys(config.redis.keyPrefix, shard).unsentEvents, Date.now(), event.eventId);
    const calls: string[] = [];
    const sender: NotificationSender = {
      notify: async (_method, params) => {
        calls.push(String((params.payment as Record<string, unknown>).event_id));
      },
    };
    const blocking = createRedis(config.redis, 'blocking');
    const queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    let worker: Worker | undefined;
    try {
      worker = startEventSender(config, blocking, { events, sender, logger: logs.logger });
      const job = await queue.add('notify', { eventId: event.eventId, resend: true }, { jobId: bullJobId(event.eventId) });
      await eventually(async () => (await queue.getJob(job.id!))?.returnvalue === 'dismissed', 15_000);
    } finally {
      await worker?.close();
      await queue.close();
      blocking.disconnect();
    }
    expect(calls).toEqual([]);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(event.eventId);
    expect(logs.lines.some((l) => l.includes('dismissed event not sent') && l.includes(event.eventId))).toBe(true);
  });

  it("holds none of its payment's later events: the next one goes, the watermark stays where the set-aside put it", async () => {
    const dismissed = await setAside('dismiss-ordering');
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [dismissed.eventId], reason: REASON })).toBe(0);
    const next: PaymentEvent = { ...eventOf('dismiss-ordering'), eventId: 'dismiss-ordering.refund.SUCCEEDED' };
    const { sequence } = await events.recordAndCheck(next, Date.now());
    expect(sequence).toBe(2);
    const calls: string[] = [];
    const sender: NotificationSender = {
      notify: async (_method, params) => {
        calls.push(String((params.payment as Record<string, unknown>).event_id));
      },
    };
    const blocking = createRedis(config.redis, 'blocking');
    const queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    let worker: Worker | undefined;
    try {
      worker = startEventSender(config, blocking, { events, sender, logger: logs.logger });
      // A stale job of the dismissed event first, then the next event's.
      await queue.add('notify', { eventId: dismissed.eventId }, { jobId: bullJobId(dismissed.eventId) });
      const job = await queue.add('notify', { eventId: next.eventId }, { jobId: bullJobId(next.eventId) });
      await eventually(async () => (await queue.getJob(job.id!))?.returnvalue === 'sent', 15_000);
    } finally {
      await worker?.close();
      await queue.close();
      blocking.disconnect();
    }
    expect(calls).toEqual([next.eventId]);
    expect(await events.sentWatermark(next.paymentKey)).toBe(2);
  });

  it('drops one set aside because its params do not decode too: never set aside again, so the page stays clear', async () => {
    const event = eventOf('dismiss-unreadable');
    const { sequence } = await events.recordAndCheck(event, Date.now());
    const shard = (await events.load(event.eventId))!.shard!;
    const keys = new ShardKeys(config.redis.keyPrefix, shard);
    await redis.hset(keys.event(event.eventId), 'params', '{"payment":');
    expect(await events.setAside({ ...event, shard, sequence }, 'unreadable')).toBe(true);
    expect(await opsDismissEvents(ctx, opsOutput(), { ids: [event.eventId], reason: REASON })).toBe(0);
    const blocking = createRedis(config.redis, 'blocking');
    const queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    let worker: Worker | undefined;
    let outcome: { returned?: unknown; failed?: string } = {};
    try {
      worker = startEventSender(config, blocking, { events, sender: { notify: async () => undefined }, logger: logs.logger });
      const job = await queue.add('notify', { eventId: event.eventId, resend: true }, { jobId: bullJobId(event.eventId), attempts: 5 });
      await eventually(async () => {
        const now = await queue.getJob(job.id!);
        outcome = { returned: now?.returnvalue ?? undefined, failed: now?.failedReason || undefined };
        return outcome.returned !== undefined || outcome.failed !== undefined;
      }, 15_000);
    } finally {
      await worker?.close();
      await queue.close();
      blocking.disconnect();
    }
    expect(outcome).toEqual({ returned: 'dismissed', failed: undefined });
    expect((await events.rejected(1000)).map((e) => e.eventId)).not.toContain(event.eventId);
    expect((await events.dismissed(1000)).map((e) => e.eventId)).toContain(event.eventId);
  });
});

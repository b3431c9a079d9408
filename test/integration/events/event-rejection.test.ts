import { Queue, Worker } from 'bullmq';
import { PassThrough } from 'node:stream';
import { BusRequestError, BusRpcError, PeerUnavailableError } from '../../../src/bus/bus-errors';
import { opsRejectedEvents, opsResendEvents } from '../../../src/cli/event-commands';
import { Config } from '../../../src/config/config';
import { EVENT_REJECTION_TRIES } from '../../../src/events/event-rejection';
import { startEventSender } from '../../../src/events/event-sender';
import { NotificationSender, sendLeaseMs } from '../../../src/events/event-send';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { PaymentEvent } from '../../../src/events/payment-event';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { openOps } from '../../../src/ops/ops-context';
import { setScrapeCollector } from '../../../src/metrics/scrape-gauges';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { bullJobId } from '../../../src/queueing/job-id';
import { ShardKeys } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { redisText } from '../../support/redis-text';

/**
 * Events go to the bus in sequence order per payment. One the bus refuses for its content (HTTP 400/413/422,
 * JSON-RPC invalid params …) gets the same answer every time: after EVENT_REJECTION_TRIES it is set aside so the
 * payment's later events go on, listed for an operator who resends it once the cause is fixed. A refusal that
 * names the endpoint or our access (404, an outage) is the same for every event: retried, never set aside.
 */
jest.setTimeout(30_000);

const VISA = '4111111111111111';

let config: Config;
let redis: RedisClient;
let blocking: RedisClient;
let events: EventStore;
let queue: Queue<OmsEventJobData>;
const workers: Worker[] = [];

beforeAll(() => {
  config = testConfig({ 'events.backoff_base_ms': 20, 'events.backoff_max_ms': 100, 'service_bus.timeout_ms': 2000 });
  redis = createRedis(config.redis, 'commands');
  blocking = createRedis(config.redis, 'blocking');
  events = new EventStore(redis, config.redis.keyPrefix);
  queue = createOmsEventsQueue(redis, config.redis.keyPrefix);
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

afterAll(async () => {
  await queue.close();
  await purgeNamespace(config).catch(() => undefined);
  blocking.disconnect();
  redis.disconnect();
});

/** Three events of one payment, recorded (sequences 1, 2, 3) and queued. */
async function threeEvents(name: string): Promise<PaymentEvent[]> {
  const list: PaymentEvent[] = [1, 2, 3].map((n) => ({
    eventId: `${name}-${n}.SUCCEEDED`,
    paymentKey: `pay-${name}`,
    method: 'magento.payments.payments_management.captured',
    params: { payment: { operation_reference: `${name}-${n}` } },
  }));
  for (const e of list) {
    await events.recordAndCheck(e, Date.now(), sendLeaseMs(config));
    await events.release(e.eventId);
    await queue.add('notify', { eventId: e.eventId }, { jobId: bullJobId(e.eventId) });
  }
  return list;
}

/** A bus that refuses the events `refuse` names with `error`, takes the others, and notes every call. */
function bus(refuse: (eventId: string) => Error | null): { sender: NotificationSender; taken: string[]; calls: string[] } {
  const taken: string[] = [];
  const calls: string[] = [];
  const sender: NotificationSender = {
    notify: async (_method, params) => {
      const id = String((params.payment as Record<string, unknown>).event_id);
      calls.push(id);
      const err = refuse(id);
      if (err) throw err;
      taken.push(id);
    },
  };
  return { sender, taken, calls };
}

function opsOutput(): { out: PassThrough; text: () => string; actor: string; err: PassThrough } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out, err: new PassThrough(), actor: 'test@host', text: () => text };
}

describe('an event the bus refuses for its content', () => {
  it(`is set aside after ${EVENT_REJECTION_TRIES} refusals (HTTP 422): the payment's later events go on, an error line names it, it is listed for the operator`, async () => {
    const [first, second, third] = await threeEvents('rej-422');
    const retried = await metricValue('pb_event_rejections_total', { reason: 'http_422', outcome: 'retried' });
    const setAside = await metricValue('pb_event_rejections_total', { reason: 'http_422', outcome: 'set_aside' });
    const b = bus((id) => (id === second.eventId ? new BusRequestError('the bus refused the request (HTTP 422)', 422) : null));
    const logs = captureLogger('info');
    workers.push(startEventSender(config, blocking, { events, sender: b.sender, logger: logs.logger }));

    await eventually(async () => b.taken.includes(third.eventId), 15_000);
    expect(b.taken).toEqual([first.eventId, third.eventId]);
    expect(b.calls.filter((id) => id === second.eventId)).toHaveLength(EVENT_REJECTION_TRIES);
    expect(await metricValue('pb_event_rejections_total', { reason: 'http_422', outcome: 'retried' })).toBe(retried + EVENT_REJECTION_TRIES - 1);
    expect(await metricValue('pb_event_rejections_total', { reason: 'http_422', outcome: 'set_aside' })).toBe(setAside + 1);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(second.eventId);
    const line = logs.lines.find((l) => l.includes('"level":"error"') && l.includes('event set aside') && l.includes(second.eventId));
    expect(line).toContain('http_422');

    // The gauge read at scrape counts it until it is resent (what the page alert watches).
    setScrapeCollector(scrapeSnapshot({ config, redis, queues: {} }));
    try {
      expect(await metricValue('pb_events_set_aside')).toBe(1);
    } finally {
      setScrapeCollector(null);
    }
    const listed = await events.rejected();
    expect(listed.map((e) => [e.eventId, e.sequence, e.reason])).toEqual([[second.eventId, 2, 'http_422']]);
    const ctx = openOps(config, silentLogger(), { service: 'ops', redis, auditStream: new PassThrough() });
    const io = opsOutput();
    expect(await opsRejectedEvents(ctx, io, {})).toBe(0);
    expect(io.text()).toContain(second.eventId);
    expect(io.text()).toContain('http_422');
  });

  it('is sent again by an operator’s resend once the bus takes it, although its payment’s later events went first', async () => {
    const [, second] = await threeEvents('rej-resend');
    let fixed = false;
    const b = bus((id) => (id === second.eventId && !fixed ? new BusRpcError(-32602, 'Invalid params') : null));
    workers.push(startEventSender(config, blocking, { events, sender: b.sender, logger: silentLogger() }));
    await eventually(async () => (await events.rejected()).some((e) => e.eventId === second.eventId), 15_000);
    expect((await events.rejected()).find((e) => e.eventId === second.eventId)?.reason).toBe('rpc_-32602');

    fixed = true;
    const ctx = openOps(config, silentLogger(), { service: 'ops', redis, auditStream: new PassThrough() });
    const io = opsOutput();
    expect(await opsResendEvents(ctx, io, { ids: [second.eventId, 'no-such-event.SUCCEEDED'] })).toBe(1);
    expect(io.text()).toContain(`${second.eventId}: queued`);
    expect(io.text()).toContain('no-such-event.SUCCEEDED: not found');
    await eventually(async () => b.taken.includes(second.eventId), 15_000);
    expect(b.taken.filter((id) => id === second.eventId)).toEqual([second.eventId]);
    expect((await events.rejected()).map((e) => e.eventId)).not.toContain(second.eventId);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(second.eventId);
  });
});

describe('a resent event picked up without its resend job', () => {
  it('is still sent (the recovery sweep’s revival of the unsent index queues a plain job), never dropped as already sent', async () => {
    const [, second, third] = await threeEvents('rej-revived');
    let fixed = false;
    const b = bus((id) => (id === second.eventId && !fixed ? new BusRequestError('refused (HTTP 400)', 400) : null));
    workers.push(startEventSender(config, blocking, { events, sender: b.sender, logger: silentLogger() }));
    await eventually(async () => b.taken.includes(third.eventId) && (await events.rejected()).some((e) => e.eventId === second.eventId), 15_000);
    fixed = true;
    expect(await events.resend(second.eventId)).toBe(true);
    await (await queue.getJob(bullJobId(second.eventId)))?.remove();
    await queue.add('notify', { eventId: second.eventId }, { jobId: bullJobId(second.eventId) });
    await eventually(async () => b.taken.includes(second.eventId), 15_000);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(second.eventId);
  });
});

describe('the bus’s own words', () => {
  it('never reach Redis: a refusal quoting a card number leaves no trace of it in the job, the outbox or anywhere else', async () => {
    const [, second, third] = await threeEvents('rej-pan');
    const b = bus((id) => (id === second.eventId ? new BusRpcError(-32602, `card ${VISA} refused`) : null));
    workers.push(startEventSender(config, blocking, { events, sender: b.sender, logger: silentLogger() }));
    await eventually(async () => b.taken.includes(third.eventId), 15_000);
    expect(b.calls.filter((id) => id === second.eventId)).toHaveLength(EVENT_REJECTION_TRIES);
    expect(await redisText(redis, config.redis.keyPrefix)).not.toContain(VISA);
  });
});

describe('an event recorded with params that do not decode', () => {
  it('is set aside as unreadable after the same tries, and the payment’s later events go on', async () => {
    const [first, second, third] = await threeEvents('rej-unreadable');
    const shard = (await events.load(second.eventId))!.shard!;
    await redis.hset(new ShardKeys(config.redis.keyPrefix, shard).event(second.eventId), 'params', '{"payment":');
    const b = bus(() => null);
    workers.push(startEventSender(config, blocking, { events, sender: b.sender, logger: silentLogger() }));
    const mine = [first, second, third].map((e) => e.eventId);
    await eventually(async () => b.taken.includes(third.eventId), 15_000);
    expect(b.taken.filter((id) => mine.includes(id))).toEqual([first.eventId, third.eventId]);
    expect((await events.rejected()).find((e) => e.eventId === second.eventId)?.reason).toBe('unreadable');
  });
});

describe('a refusal that is not about the event’s content', () => {
  it.each([
    ['HTTP 404 (a wrong delegate path)', () => new BusRequestError('the bus refused the request (HTTP 404)', 404)],
    ['the bus unreachable', () => new PeerUnavailableError('bus', 'http://127.0.0.1:1/delegate', 'ECONNREFUSED')],
  ])('%s is retried past the bound and never set aside; the payment’s later events wait', async (_name, error) => {
    const [first, second, third] = await threeEvents(`rej-${_name.split(' ')[0].toLowerCase()}-${Date.now()}`);
    const b = bus((id) => (id === second.eventId ? error() : null));
    workers.push(startEventSender(config, blocking, { events, sender: b.sender, logger: silentLogger() }));
    await eventually(async () => b.calls.filter((id) => id === second.eventId).length > EVENT_REJECTION_TRIES + 1, 15_000);
    // Only this payment's: the previous case's events are still queued in this namespace.
    const mine = [first, second, third].map((e) => e.eventId);
    expect(b.taken.filter((id) => mine.includes(id))).toEqual([first.eventId]);
    expect((await events.rejected()).map((e) => e.eventId)).not.toContain(second.eventId);
    expect(await events.unsentBefore(Date.now() + 1000)).toContain(second.eventId);
  });
});

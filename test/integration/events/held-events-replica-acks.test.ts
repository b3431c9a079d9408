import { Queue, Worker } from 'bullmq';
import { PassThrough } from 'node:stream';
import { Cluster } from 'ioredis';
import { AuditLog } from '../../../src/audit/audit-log';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { sweepOnce } from '../../../src/delivery/recovery-sweep';
import { NotificationSender } from '../../../src/events/event-send';
import { startEventSender } from '../../../src/events/event-sender';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { PaymentEvent, shardOfEvent } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { resendSetAsideEvents } from '../../../src/ops/event-resend';
import { bullJobId } from '../../../src/queueing/job-id';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { hashSlot } from '../../support/hash-slot';
import { monitorCommands } from '../../support/redis-monitor';
import { eventually } from '../../support/tcp-proxy';
import { onRedisCluster, testConfig } from '../../support/test-config';

/**
 * `redis.replica_acks` on every sender of events, not only the outcome recorder's: the `oms-events` sender sends a
 * queued event the recorder did not confirm (the recovery sweep's revival of an unsent one, an operator's resend)
 * only once it is on its primary and acknowledged by that many replicas. Before, such an event went to the OMS
 * unconfirmed: one whose confirmation had fallen short (the recorder gave it back, its job to retry) was revived by
 * the sweep and sent, and a primary demoted after a failover could then drop the outcome the OMS had heard of.
 * Falling short holds the event (counted in `pb_ledger_writes_unreplicated_total{write="queued_event"}`, a warn
 * line): its job retries with the queue's backoff, other payments' events go on. Without the setting nothing is
 * waited for, and a job the recorder queued after its own confirmation is not waited for again.
 */
jest.setTimeout(30_000);

const HELD = { write: 'queued_event', outcome: 'unacknowledged' };
const HELD_LINE = 'event held: not acknowledged by redis.replica_acks replicas';
const onCluster = onRedisCluster() ? it : it.skip;
/** MONITOR (test/support/redis-monitor.ts) and a Redis without replicas: the single Redis. */
const onSingle = onRedisCluster() ? it.skip : it;

const configs: Config[] = [];
const clients: RedisClient[] = [];
const workers: Worker[] = [];
const queues: Queue[] = [];

/** The test's configuration: quick backoff; with `acks`, `redis.replica_acks` (100 ms timeout). */
function configWith(acks?: number): Config {
  const config = testConfig({
    'events.backoff_base_ms': 50,
    'events.backoff_max_ms': 200,
    'service_bus.timeout_ms': 2000,
    ...(acks ? { 'redis.replica_acks': acks, 'redis.replica_ack_timeout_ms': 100 } : {}),
  });
  configs.push(config);
  return config;
}

function stack(config: Config) {
  const redis = createRedis(config.redis, 'commands');
  const blocking = createRedis(config.redis, 'blocking');
  clients.push(redis, blocking);
  const prefix = config.redis.keyPrefix;
  const eventsQueue = createOmsEventsQueue(redis, prefix);
  const deliveryQueue = createDeliveryQueue(redis, prefix);
  queues.push(eventsQueue, deliveryQueue);
  return { config, redis, blocking, prefix, events: new EventStore(redis, prefix), ledger: new Ledger(redis, prefix), eventsQueue, deliveryQueue };
}

/** A bus that takes every event, noting its id each time it is sent. */
function bus(): { sender: NotificationSender; sent: string[] } {
  const sent: string[] = [];
  return { sent, sender: { notify: async () => undefined, notifyEncoded: async (_body: string, eventId: string) => void sent.push(eventId) } };
}

function startSender(s: ReturnType<typeof stack>, sender: NotificationSender, logger: Logger = silentLogger()): Worker {
  const worker = startEventSender(s.config, s.blocking, { events: s.events, sender, logger });
  workers.push(worker);
  return worker;
}

function eventOf(paymentKey: string, name: string): PaymentEvent {
  return {
    eventId: `${name}.SUCCEEDED`,
    paymentKey,
    method: 'magento.payments.payments_management.captured',
    params: { payment: { operation_reference: name } },
  };
}

/** Recorded a minute ago and never sent (its sender died, or its confirmation fell short): the recovery sweep queues it. */
async function recordStale(s: ReturnType<typeof stack>, event: PaymentEvent): Promise<void> {
  await s.events.recordAndCheck(event, Date.now() - 60_000);
}

async function sweep(s: ReturnType<typeof stack>): Promise<void> {
  await sweepOnce({ ledger: s.ledger, events: s.events, deliveryQueue: s.deliveryQueue as Queue<DeliveryJobData>, eventsQueue: s.eventsQueue }, 30_000);
}

afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

afterAll(async () => {
  for (const q of queues) await q.close();
  for (const c of clients) c.disconnect();
  for (const config of configs) await purgeNamespace(config).catch(() => undefined);
}, 60_000);

onSingle('without redis.replica_acks no sender waits: no WAIT and no probe write on the inline path or the queue', async () => {
  const s = stack(configWith());
  const b = bus();
  const seen: string[][] = [];
  const monitor = await monitorCommands(s.redis, (args) => {
    if (args[0]?.toUpperCase() === 'WAIT' || args.some((a) => a.includes('replica-probe'))) seen.push(args);
  });
  try {
    // The bench's hot path: an outcome recorded and its event sent inline.
    const id = 'held-plain-1';
    const command = channelCommand('capture', { channel: 'bus' }, { operation_reference: id, order_id: `o-${id}`, amount: 2500, currency: 'USD' });
    await s.ledger.create(id, command);
    await s.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const recorder = new OutcomeRecorder({
      config: s.config,
      ledger: s.ledger,
      events: s.events,
      eventsQueue: s.eventsQueue,
      logger: silentLogger(),
      notifier: b.sender,
    });
    await recorder.apply((await s.ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'captured', amount: 2500, currency: 'USD' }, 'response');
    expect(b.sent).toEqual([`${id}.SUCCEEDED`]);
    // The queue: an event the sweep revives.
    const swept = eventOf('simulator:acct:held-plain-2', 'held-plain-2');
    await recordStale(s, swept);
    await sweep(s);
    startSender(s, b.sender);
    await eventually(() => b.sent.includes(swept.eventId), 10_000);
    await monitor.settle();
  } finally {
    monitor.stop();
  }
  expect(seen).toEqual([]);
});

onSingle('a swept event no replica can acknowledge is held (not sent, counted, logged, its job retried with backoff) while a confirmed one goes', async () => {
  // One replica asked for, none on this Redis: the confirmation always falls short.
  const s = stack(configWith(1));
  const b = bus();
  const logs = captureLogger('warn');
  const held = eventOf('simulator:acct:held-1', 'held-1');
  await recordStale(s, held);
  await sweep(s);
  // Another payment's event the outcome recorder queued once it had confirmed it: not waited for again.
  const confirmed = eventOf('simulator:acct:held-2', 'held-2');
  await s.events.recordAndCheck(confirmed);
  await s.eventsQueue.add('notify', { eventId: confirmed.eventId, replicated: true }, { jobId: bullJobId(confirmed.eventId) });
  const before = await metricValue('pb_ledger_writes_unreplicated_total', HELD);
  startSender(s, b.sender, logs.logger);

  await eventually(() => b.sent.includes(confirmed.eventId), 10_000);
  const retried = async () => ((await s.eventsQueue.getJob(bullJobId(held.eventId)))?.attemptsMade ?? 0) >= 2;
  await eventually(async () => (await retried()) || b.sent.includes(held.eventId), 10_000);
  expect(b.sent).toEqual([confirmed.eventId]);
  const job = (await s.eventsQueue.getJob(bullJobId(held.eventId)))!;
  expect(job.failedReason).toContain(`queued_event of ${held.eventId} acknowledged by 0 of 1 replica(s) in 100 ms`);
  expect(await metricValue('pb_ledger_writes_unreplicated_total', HELD)).toBeGreaterThanOrEqual(before + 2);
  // Not dropped: still unsent, its job live; one warn line for its first hold: its own, not the worker's generic
  // retry line as well (attempts 0 and 1 are the first hold's; a tenth attempt logs again).
  expect(await s.events.unsentBefore(Date.now())).toContain(held.eventId);
  expect(['delayed', 'waiting', 'active']).toContain(await job.getState());
  const lines = logs.lines.filter((l) => l.includes(held.eventId) && (JSON.parse(l) as { attempts?: number }).attempts! < 10);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(HELD_LINE);
  expect(lines[0]).toContain('"replicas":1');
});

onCluster(
  "the sweep's revival and an operator's resend wait while their replica lags, another primary's event goes meanwhile; caught up, each is sent once",
  async () => {
    const s = stack(configWith(1));
    const cluster = s.redis as Cluster;
    await cluster.ping(); // connected: the slot map is known
    const keys = shardKeysOf(s.prefix);
    const nodeOf = (paymentKey: string) => cluster.slots[hashSlot(keys[shardOfEvent({ paymentKey })].unsentEvents)];
    // Payments on the same primary (the one whose replica the test pauses), and one on another primary.
    const candidates = Array.from({ length: 64 }, (_, i) => `simulator:acct:held-c${i}`);
    const [first, ...rest] = candidates;
    const [primary, replicaKey] = nodeOf(first);
    const sameNode = rest.find((k) => nodeOf(k)[0] === primary)!;
    const otherNode = rest.find((k) => nodeOf(k)[0] !== primary)!;
    const swept = eventOf(first, 'held-swept');
    const resent = eventOf(sameNode, 'held-resent');
    const elsewhere = eventOf(otherNode, 'held-elsewhere');
    const replica = cluster.nodes('slave').find((node) => `${node.options.host}:${node.options.port}` === replicaKey);
    if (!replica) throw new Error(`no replica known for ${primary}`);

    // Set aside earlier (the bus refused its content), resent by an operator once the cause is fixed.
    const { sequence } = await s.events.recordAndCheck(resent);
    expect(await s.events.setAside({ ...resent, sequence }, 'http_422')).toBe(true);
    const b = bus();
    const logs = captureLogger('warn');
    const before = await metricValue('pb_ledger_writes_unreplicated_total', HELD);
    // Connected before the pause: a connection opening meanwhile may ask the paused node for the cluster's state.
    await startSender(s, b.sender, logs.logger).waitUntilReady();
    // The replica behind the primary stops applying what it is sent for 3 s: it acknowledges nothing new. (The
    // UNPAUSE below is itself held until then on this Redis: the pause is kept short.)
    await replica.call('CLIENT', 'PAUSE', 3000, 'ALL');
    try {
      await recordStale(s, swept);
      await recordStale(s, elsewhere);
      await sweep(s);
      const audit = new AuditLog({ prefix: s.prefix, stream: new PassThrough() });
      expect(await resendSetAsideEvents({ config: s.config, redis: s.redis, audit }, [resent.eventId], 'test@host', 'ops')).toEqual([
        { event_id: resent.eventId, result: 'queued' },
      ]);
      await eventually(() => b.sent.includes(elsewhere.eventId), 2000);
      const heldTwice = async () => (await metricValue('pb_ledger_writes_unreplicated_total', HELD)) >= before + 4;
      await eventually(async () => (await heldTwice()) || b.sent.length > 1, 2000);
      expect(b.sent).toEqual([elsewhere.eventId]);
      for (const id of [swept.eventId, resent.eventId]) expect(logs.lines.some((l) => l.includes(HELD_LINE) && l.includes(id))).toBe(true);
    } finally {
      await replica.call('CLIENT', 'UNPAUSE');
    }
    await eventually(() => b.sent.includes(swept.eventId) && b.sent.includes(resent.eventId), 10_000);
    expect([...b.sent].sort()).toEqual([elsewhere.eventId, resent.eventId, swept.eventId].sort());
    expect(await s.events.unsentBefore(Date.now() + 1000)).toEqual([]);
  },
);

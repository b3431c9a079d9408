import { Queue } from 'bullmq';
import { Cluster } from 'ioredis';
import { AdjustmentRecord } from '../../../src/adjustments/adjustment';
import { Config } from '../../../src/config/config';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { adjustmentEvent } from '../../../src/events/adjustment-event';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { shardKeysOf, shardOfPayment } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { hashSlot } from '../../support/hash-slot';
import { onRedisCluster, testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * `redis.replica_acks` on the events the outcome recorder records outside an outcome's move (`settle`, `emit`):
 * the OMS hears of one, or a job is queued for it, only once it (and the operation it settles) is acknowledged by
 * that many replicas. Before, they went out unconfirmed: among them the job's retry after an outcome's own wait fell
 * short, which found the operation terminal, settled it and sent the very event just reported unreplicated.
 * WAIT is documented to count its own connection's writes, and the move may be another worker's: on the Redis
 * Cluster the test pauses the replica behind the operation's primary (`CLIENT PAUSE`: it stops applying the
 * stream) while another connection writes the move and its event. (Redis 7.0, as here, also moves a connection's
 * WAIT mark on reads, so the EXISTS before the WAIT would cover it; the probe write that does not depend on this is
 * test/unit/events/replica-probe.test.ts's.)
 */
jest.setTimeout(30_000);

const base = testConfig();
const prefix = base.redis.keyPrefix;
/** More replicas than the test Redis has (none on a single Redis, one per primary on the local cluster): WAIT falls short. */
const waitingConfig = withReplicaAcks(base, onRedisCluster() ? 2 : 1, 50);
const oneConfig = withReplicaAcks(base, 1, 300);
const UNACKNOWLEDGED = { write: 'event', outcome: 'unacknowledged' };
const answer = { status: 'SUCCESS', gatewayStatus: 'captured', amount: 2500, currency: 'USD' } as const;
const onCluster = onRedisCluster() ? it : it.skip;

let redis: RedisClient;
let other: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let events: EventStore;
/** Event ids the recorders' notifier sent to the bus. */
const sent: string[] = [];

function withReplicaAcks(config: Config, replicas: number, timeoutMs: number): Config {
  return { ...config, redis: { ...config.redis, replicaAcks: { replicas, timeoutMs } } };
}

/** A recorder on the test's connection; with `sending`, events whose turn came go to the bus inline (noted in `sent`). */
function recorder(config: Config, sending: boolean): OutcomeRecorder {
  const notifier = { notify: async () => undefined, notifyEncoded: async (_body: string, eventId: string) => void sent.push(eventId) };
  return new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: silentLogger(), ...(sending ? { notifier } : {}) });
}

async function sentOperation(id: string) {
  const command = channelCommand('capture', { channel: 'bus' }, { operation_reference: id, order_id: `o-${id}`, amount: 2500, currency: 'USD' });
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  return { op: (await ledger.get(id))!, keys: shardKeysOf(prefix)[shardOfPayment(command.payment)] };
}

beforeAll(() => {
  redis = testRedis(base);
  other = testRedis(base);
  eventsQueue = createOmsEventsQueue(redis, prefix);
  ledger = new Ledger(redis, prefix);
  events = new EventStore(redis, prefix);
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  other.disconnect();
  await purgeNamespace(base).catch(() => undefined);
}, 60_000);

it("settling an operation whose move no replica acknowledged neither sends nor queues its event: the job's retry fails as a Redis outage", async () => {
  const id = 'event-acks-1';
  const { op, keys } = await sentOperation(id);
  const waiting = recorder(waitingConfig, true);
  // The outcome's own wait falls short (the job retries); the send lease its recording took is given back.
  await expect(waiting.apply(op, answer, 'response')).rejects.toBeInstanceOf(DependencyUnavailableError);
  expect(await redis.exists(keys.eventLease(`${id}.SUCCEEDED`))).toBe(0);
  const before = await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED);
  // The retry: the operation is SUCCEEDED now, the move does not apply again and its event goes through settle.
  const retry = waiting.apply((await ledger.get(id))!, answer, 'response');
  await expect(retry).rejects.toThrow(`event of ${id}.SUCCEEDED acknowledged by `);
  await expect(waiting.settle(id)).rejects.toBeInstanceOf(DependencyUnavailableError);
  expect(await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED)).toBe(before + 2);
  expect(sent).not.toContain(`${id}.SUCCEEDED`);
  expect(await eventsQueue.getJob(bullJobId(`${id}.SUCCEEDED`))).toBeUndefined();
  expect(await redis.exists(keys.eventLease(`${id}.SUCCEEDED`))).toBe(0);
});

it("an adjustment's event (emit) no replica acknowledged is neither sent nor queued; acknowledged, it is sent", async () => {
  const id = 'event-acks-3';
  const { op } = await sentOperation(id);
  const adjustment: AdjustmentRecord = {
    id: 'adj_event_acks_3',
    operationId: id,
    gateway: op.payment.gateway,
    kind: 'chargeback',
    direction: 'debit',
    amount: 2500,
    currency: 'USD',
    reason: '10.4',
    pspReference: 'DSP-event-acks-3',
    pspEventId: 'DSP-event-acks-3:CHARGEBACK',
    occurredAt: Date.now(),
    source: 'webhook',
    recordedAt: Date.now(),
  };
  const event = adjustmentEvent(op, adjustment, base);
  const before = await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED);
  await expect(recorder(waitingConfig, true).emit(event)).rejects.toThrow(`event of ${event.eventId} acknowledged by `);
  expect(await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED)).toBe(before + 1);
  expect(sent).not.toContain(event.eventId);
  expect(await eventsQueue.getJob(bullJobId(event.eventId))).toBeUndefined();
  // A single Redis has no replica to acknowledge it; the local cluster has one per primary.
  if (!onRedisCluster()) return;
  await recorder(oneConfig, true).emit(event);
  expect(sent).toContain(event.eventId);
});

onCluster(
  'the wait on the settle path covers the move and event another connection wrote: with their replica behind, settling fails; caught up, the event is queued',
  async () => {
    const id = 'event-acks-2';
    const { op, keys } = await sentOperation(id);
    const eventId = `${id}.SUCCEEDED`;
    // This connection's writes so far (the record, as the intake confirms it) acknowledged by the replica.
    expect(await ledger.replicaAcknowledged(id, op.payment, 1, 2000)).toEqual({ present: true, acks: 1 });
    // The replica behind the operation's primary stops applying what it is sent: it acknowledges nothing new.
    const cluster = redis as Cluster;
    const [, replicaKey] = cluster.slots[hashSlot(keys.op(id))];
    const replica = cluster.nodes('slave').find((node) => `${node.options.host}:${node.options.port}` === replicaKey);
    if (!replica) throw new Error(`no replica known for ${keys.op(id)}`);
    await replica.call('CLIENT', 'PAUSE', 3000, 'ALL');
    try {
      // Another worker, on its own connection and without the setting, moves the operation and records its event,
      // then dies before queuing it (the recovery sweep settles it). Re-recording it here writes nothing.
      const otherLedger = new Ledger(other, prefix);
      const gone = { add: async () => undefined } as unknown as Queue<OmsEventJobData>;
      await new OutcomeRecorder({ config: base, ledger: otherLedger, events: new EventStore(other, prefix), eventsQueue: gone, logger: silentLogger() }).apply(
        op,
        answer,
        'response',
      );
      const before = await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED);
      await expect(recorder(oneConfig, false).settle(id)).rejects.toThrow(`event of ${eventId} acknowledged by 0 of 1 replica(s) in 300 ms`);
      expect(await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED)).toBe(before + 1);
      expect(await eventsQueue.getJob(bullJobId(eventId))).toBeUndefined();
    } finally {
      await replica.call('CLIENT', 'UNPAUSE');
    }
    await recorder(oneConfig, false).settle(id);
    expect(await eventsQueue.getJob(bullJobId(eventId))).toBeDefined();
  },
);

import { EventStore, REPLICA_PROBE_TTL_MS } from '../../../src/events/event-store';
import { PaymentEvent } from '../../../src/events/payment-event';
import { replicaShortfall } from '../../../src/ledger/replica-acks';
import { RedisConfig } from '../../../src/redis/redis-config';
import { RedisClient } from '../../../src/redis/redis-connection';
import { hashSlot } from '../../support/hash-slot';

/**
 * The wait an event's confirmation sends (`EventStore.replicaAcknowledged`, `redis.replica_acks`). Redis `WAIT`
 * counts only what its own connection wrote: on the settle path the move was made by another worker's connection
 * and re-recording an event already recorded writes nothing, so a bare `WAIT` returned at once and confirmed
 * nothing. A write of the connection's own to the event's slot, before the `WAIT` in the same pipeline, makes it
 * cover everything that primary held.
 */
type Sent = (string | number)[];

/**
 * A client whose one pipeline records what it is sent and answers `exists` for each EXISTS and `acks` for WAIT;
 * its duplicate (the confirmation connection) is itself.
 */
function recordingRedis(exists: (key: string) => number, acks: number): { redis: RedisClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const replies: [Error | null, unknown][] = [];
  const pipeline = {
    set(...args: (string | number)[]) {
      sent.push(['set', ...args]);
      replies.push([null, 'OK']);
      return pipeline;
    },
    exists(key: string) {
      sent.push(['exists', key]);
      replies.push([null, exists(key)]);
      return pipeline;
    },
    call(...args: (string | number)[]) {
      sent.push(['call', ...args]);
      replies.push([null, acks]);
      return pipeline;
    },
    exec: async () => replies,
  };
  const redis = { pipeline: () => pipeline, options: {}, on: () => redis, once: () => redis, duplicate: () => redis };
  return { redis: redis as unknown as RedisClient, sent };
}

const event: PaymentEvent = {
  eventId: 'op-probe-1.SUCCEEDED',
  paymentKey: 'simulator:acct:order-probe-1',
  shard: 5,
  method: 'oms.payments.succeeded',
  params: {},
};

it("writes a probe key of the event's slot before the EXISTS and the WAIT, so the wait covers writes other connections made", async () => {
  const { redis, sent } = recordingRedis(() => 1, 1);
  const store = new EventStore(redis, 'pfx:');
  expect(await store.replicaAcknowledged(event, 1, 50, { operationId: 'op-probe-1' })).toEqual({ present: true, acks: 1 });
  expect(sent).toEqual([
    ['set', 'pfx:{s:5}:replica-probe', '1', 'PX', REPLICA_PROBE_TTL_MS],
    ['exists', 'pfx:{s:5}:event:op-probe-1.SUCCEEDED'],
    ['exists', 'pfx:{s:5}:op:op-probe-1'],
    ['call', 'WAIT', 1, 50],
  ]);
  // One slot: a cluster client sends the pipeline to the node whose replicas the WAIT counts.
  const keys = sent.filter((c) => c[0] !== 'call').map((c) => String(c[1]));
  expect(new Set(keys.map(hashSlot)).size).toBe(1);
});

it('a key missing on the primary (the probe just written aside) reads as lost; the acks are the WAIT reply', async () => {
  const { redis } = recordingRedis((key) => (key.endsWith(':op:op-probe-1') ? 0 : 1), 0);
  const store = new EventStore(redis, 'pfx:');
  expect(await store.replicaAcknowledged(event, 1, 50, { operationId: 'op-probe-1' })).toEqual({ present: false, acks: 0 });
  const alone = recordingRedis(() => 1, 2);
  expect(await new EventStore(alone.redis, 'pfx:').replicaAcknowledged(event, 2, 50)).toEqual({ present: true, acks: 2 });
  expect(alone.sent.map((c) => c[0])).toEqual(['set', 'exists', 'call']);
});

it('without redis.replica_acks nothing is asked: no round trip on the hot path', async () => {
  const check = jest.fn(async () => ({ present: true, acks: 1 }));
  expect(await replicaShortfall({} as RedisConfig, 'event', check)).toBeNull();
  expect(check).not.toHaveBeenCalled();
});

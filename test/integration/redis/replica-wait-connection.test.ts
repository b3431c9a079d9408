import { EventStore } from '../../../src/events/event-store';
import { PaymentEvent } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { shardOfPayment } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { replicaAcknowledgedKeys } from '../../../src/redis/replica-wait';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { onRedisCluster, testConfig } from '../../support/test-config';

/**
 * `redis.replica_acks` confirmations (`WAIT`) run on a connection of their own. A `WAIT` blocks its connection
 * until enough replicas answer or its timeout passes; on the process's main connection every other command of
 * the process to that node (other commands' scripts, reads, health pings) queued behind it, so a lagging replica
 * stalled a worker's whole Redis traffic. Here the wait never succeeds (one replica asked of a single Redis, which
 * has none; two of the local cluster, which has one per primary) and the test asserts the order in which replies
 * come back, not durations: commands sent on the main connection after the confirmation answer before it.
 */
jest.setTimeout(30_000);

const config = testConfig();
const prefix = config.redis.keyPrefix;
/** More replicas than the test Redis has: every WAIT lasts its whole timeout. */
const TOO_MANY = onRedisCluster() ? 2 : 1;
const WAIT_MS = 400;

let redis: RedisClient;
let ledger: Ledger;

beforeAll(() => {
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, prefix);
});

afterAll(async () => {
  await purgeNamespace(config).catch(() => undefined);
  redis.disconnect();
});

async function created(id: string) {
  const command = channelCommand('authorize', { channel: 'bus' }, { operation_reference: id, order_id: `o-${id}`, amount: 1200, currency: 'EUR' });
  await ledger.create(id, command);
  return command.payment;
}

/**
 * Runs `confirmation` and, once it is sent, each of `others` twice in a row on the main connection; the names in
 * the order they finished. Twice: replies queued behind a WAIT arrive in the same read as the WAIT's, where a
 * plain command's promise may settle before the pipeline's; the second run then leaves only once the WAIT answered.
 */
async function answerOrder(confirmation: () => Promise<unknown>, others: Record<string, () => Promise<unknown>>): Promise<string[]> {
  const order: string[] = [];
  const waited = confirmation().then(() => order.push('confirmation'));
  const rest = Object.entries(others).map(async ([name, run]) => {
    await run();
    await run();
    order.push(name);
  });
  await Promise.all([waited, ...rest]);
  return order;
}

it("a record's confirmation waiting for its replicas holds up neither the ledger's reads nor a PING on its connection", async () => {
  const id = 'replica-wait-conn-1';
  const payment = await created(id);
  let read: unknown;
  const order = await answerOrder(() => ledger.replicaAcknowledged(id, payment, TOO_MANY, WAIT_MS), {
    read: async () => (read = await ledger.get(id)),
    ping: () => redis.ping(),
  });
  expect(order).toHaveLength(3);
  expect(order[2]).toBe('confirmation');
  expect(read).toMatchObject({ id, state: 'RECEIVED' });
});

it("an event's confirmation (its probe write included) holds up no command on the event store's connection", async () => {
  const id = 'replica-wait-conn-2';
  const payment = await created(id);
  // In its operation's shard, as an outcome's event is: the read goes to the node the confirmation waits on.
  const event: PaymentEvent = { eventId: `${id}.SUCCEEDED`, paymentKey: 'simulator:acct:o-2', shard: shardOfPayment(payment), method: 'm', params: {} };
  const order = await answerOrder(() => new EventStore(redis, prefix).replicaAcknowledged(event, TOO_MANY, WAIT_MS, { operationId: id }), {
    read: () => ledger.get(id),
    ping: () => redis.ping(),
  });
  expect(order).toHaveLength(3);
  expect(order[2]).toBe('confirmation');
});

it("the web's check of queued jobs holds up no command on the queue's connection", async () => {
  const key = `${prefix}{bull:gateway-outcomes}:gateway-outcomes:replica-wait-conn-3`;
  await redis.set(key, '1', 'EX', 60);
  const order = await answerOrder(
    () => replicaAcknowledgedKeys(redis, [key], TOO_MANY, WAIT_MS, { key: `${prefix}{bull:gateway-outcomes}:replica-probe`, ttlMs: 60_000 }),
    { read: () => redis.get(key) },
  );
  expect(order).toEqual(['read', 'confirmation']);
});

it('the results are unchanged: present and acknowledged, absent, or short of replicas', async () => {
  const id = 'replica-wait-conn-4';
  const payment = await created(id);
  // What the test Redis can give: one replica per primary on the local cluster, none on a single Redis.
  const available = onRedisCluster() ? 1 : 0;
  expect(await ledger.replicaAcknowledged(id, payment, available, 2000)).toEqual({ present: true, acks: available });
  expect(await ledger.replicaAcknowledged(id, payment, available + 1, 100)).toEqual({ present: true, acks: available });
  expect(await ledger.replicaAcknowledged('replica-wait-conn-absent', payment, available, 2000)).toEqual({ present: false, acks: available });
});

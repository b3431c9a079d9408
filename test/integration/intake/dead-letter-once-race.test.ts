/**
 * Two copies of one poison message handled at the same moment (two workers, a redelivery racing the first copy)
 * are one dead letter: one message in the dead-letter queue, the other copy a duplicate. A writer that dies
 * holding the write (its claim expires, no confirmed mark) or whose publish fails leaves the dead letter to the
 * other copy, never to nobody. Real RabbitMQ and Redis, own namespace.
 */
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import {
  DeadLetterOnce,
  deadLetterIdOf,
  deadLetterIdentity,
  deadLetterIdentityKey,
  deadLetterClaimKey,
  deadLetterOnceKey,
} from '../../../src/amqp/dead-letter-once';
import { DeadLetterReason, DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { Config } from '../../../src/config/config';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { silentLogger } from '../../../src/logging/logger';
import { RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { amqpClient } from '../../support/amqp-helpers';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

describe('two copies of one bad message written at the same moment (real RabbitMQ and Redis)', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const connections: AmqpConnection[] = [];
  const publishers: ConfirmPublisher[] = [];
  const redises: RedisClient[] = [];

  /** One worker's writer: its own broker connection and Redis connection, as two processes have. */
  const worker = async (publisher?: Pick<ConfirmPublisher, 'publish'>, claimMs = 2000): Promise<DeadLetterWriter> => {
    const redis = testRedis(config);
    redises.push(redis);
    let own = publisher;
    if (!own) {
      const connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
      await connection.connect();
      connections.push(connection);
      const confirm = new ConfirmPublisher(connection, 5000);
      publishers.push(confirm);
      own = confirm;
    }
    return new DeadLetterWriter(own as ConfirmPublisher, config.amqp, undefined, undefined, new DeadLetterOnce(redis, config.redis.keyPrefix, { claimMs }));
  };

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
  });

  afterAll(async () => {
    await unlinkMatching(redises[0], `${config.redis.keyPrefix}*`).catch(() => undefined);
    for (const r of redises) r.disconnect();
    for (const p of publishers) await p.close();
    for (const c of connections) await c.close();
    await client.deleteNamespace();
    await client.close();
  });

  const identityKey = deadLetterIdentityKey(testConfig().serviceBus.secret);
  const why: DeadLetterReason = { code: 'INVALID_PARAMS', field: 'payment.gateway_key', reason: 'is not an allowed value', source: 'amqp:commands' };
  const bad = (orderId: string) =>
    Buffer.from(JSON.stringify(channelCommand('sale', { channel: 'web' }, { amount: 1000, currency: 'EUR', order_id: orderId })));

  it('publishes one dead letter for two copies racing, the other copy a duplicate with its id', async () => {
    const [a, b] = [await worker(), await worker()];
    const results = [];
    for (const order of ['order-race-a', 'order-race-b', 'order-race-c', 'order-race-d', 'order-race-e']) {
      const body = bad(order);
      const identity = deadLetterIdentity(identityKey, 'op-race', body, why);
      const pair = await Promise.all([a.write(body, why, {}, { identity }), b.write(body, why, {}, { identity })]);
      expect(pair.map((w) => w.id)).toEqual([deadLetterIdOf(identity), deadLetterIdOf(identity)]);
      results.push(pair.filter((w) => w.duplicate).length);
    }
    expect(results).toEqual([1, 1, 1, 1, 1]);
    expect(await client.drainDeadLetters()).toHaveLength(5);
  });

  it('writes the dead letter when the copy holding the write died without its confirmed mark (the claim expires)', async () => {
    const writer = await worker();
    const body = bad('order-race-died');
    const identity = deadLetterIdentity(identityKey, 'op-race-died', body, why);
    // What a worker killed between its claim and its confirmed mark leaves: a claim that expires.
    await redises[redises.length - 1].set(deadLetterClaimKey(config.redis.keyPrefix, deadLetterIdOf(identity)), 'killed-worker', 'PX', 300);
    const written = await writer.write(body, why, {}, { identity });
    expect(written).toEqual({ id: deadLetterIdOf(identity), duplicate: false });
    expect(await client.drainDeadLetters()).toHaveLength(1);
    expect(await redises[redises.length - 1].get(deadLetterOnceKey(config.redis.keyPrefix, deadLetterIdOf(identity)))).toBe(deadLetterIdOf(identity));
  });

  it('leaves the write to the waiting copy at once when the first copy publish fails', async () => {
    const failing = await worker(
      {
        publish: async () => {
          await new Promise((r) => setTimeout(r, 200));
          throw new DependencyUnavailableError('rabbitmq', 'nacked');
        },
      },
      60_000,
    );
    const other = await worker(undefined, 60_000);
    const body = bad('order-race-failed');
    const identity = deadLetterIdentity(identityKey, 'op-race-failed', body, why);
    const first = failing.write(body, why, {}, { identity });
    // The failing copy claims first; the other waits for it.
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const [firstOutcome, second] = await Promise.allSettled([first, other.write(body, why, {}, { identity })]);
    expect(firstOutcome.status).toBe('rejected');
    expect(second).toEqual({ status: 'fulfilled', value: { id: deadLetterIdOf(identity), duplicate: false } });
    // Released, not expired: well within the 60 s claim.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await client.drainDeadLetters()).toHaveLength(1);
  });

  it('stops waiting for another copy when its process stops: the message goes back to the broker, nothing written', async () => {
    const writer = await worker(undefined, 60_000);
    const body = bad('order-race-stopping');
    const identity = deadLetterIdentity(identityKey, 'op-race-stopping', body, why);
    // Another worker holds the write (a live one, or one killed with a long claim left behind).
    await redises[redises.length - 1].set(deadLetterClaimKey(config.redis.keyPrefix, deadLetterIdOf(identity)), 'other-worker', 'PX', 60_000);
    const stopsAt = Date.now() + 300;
    const started = Date.now();
    const outcome = writer.write(body, why, {}, { identity, waiting: () => Date.now() < stopsAt });
    await expect(outcome).rejects.toBeInstanceOf(DependencyUnavailableError);
    // Handed back within the stop, not after the other copy's claim (60 s) and a second.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await client.drainDeadLetters()).toHaveLength(0);
    expect(await redises[redises.length - 1].get(deadLetterClaimKey(config.redis.keyPrefix, deadLetterIdOf(identity)))).toBe('other-worker');
  });
});

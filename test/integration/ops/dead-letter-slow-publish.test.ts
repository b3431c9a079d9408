/**
 * A dead-letter write whose publish outlives its claim (`{dl}:writing:<id>`, `SET NX PX`): the claim expires while the
 * first copy's publish waits for its confirm, a second copy takes it and publishes too. Both dead letters carry the
 * id derived from the message's identity; the archive recognises the second as the same dead letter and keeps one
 * record. Real RabbitMQ and Redis, own namespace; the broker's confirm is held back by a proxy (a slow broker).
 */
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterOnce, deadLetterIdOf, deadLetterIdentity, deadLetterIdentityKey } from '../../../src/amqp/dead-letter-once';
import { deadLetterStampKeys } from '../../../src/amqp/dead-letter-stamp';
import { DeadLetterReason, DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

describe('a dead-letter publish slower than its claim (real RabbitMQ and Redis)', () => {
  const CLAIM_MS = 300;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let proxy: AmqpStallProxy;
  let slowConnection: AmqpConnection;
  let connection: AmqpConnection;
  let slowPublisher: ConfirmPublisher;
  let publisher: ConfirmPublisher;
  let redis: RedisClient;
  let store: DeadLetterStore;

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    proxy = await startAmqpStallProxy();
    slowConnection = new AmqpConnection({ url: proxy.url, logger: silentLogger() });
    connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await slowConnection.connect();
    await connection.connect();
    // A publish timeout far above the claim: the confirm is late, not lost.
    slowPublisher = new ConfirmPublisher(slowConnection, 10_000);
    publisher = new ConfirmPublisher(connection, 10_000);
    redis = testRedis(config);
    store = new DeadLetterStore(redis, config.redis.keyPrefix, deadLetterStampKeys(config.serviceBus));
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
    redis.disconnect();
    await slowPublisher.close().catch(() => undefined);
    await publisher.close();
    await slowConnection.close().catch(() => undefined);
    await connection.close();
    await proxy.close();
    await client.deleteNamespace();
    await client.close();
  });

  const identityKey = deadLetterIdentityKey(testConfig().serviceBus.secret);
  const why: DeadLetterReason = { code: 'INVALID_PARAMS', field: 'payment.gateway_key', reason: 'is not an allowed value', source: 'amqp:commands' };

  it('archives one record for the two dead letters the two copies published', async () => {
    const body = Buffer.from(
      JSON.stringify(channelCommand('sale', { channel: 'web' }, { amount: 1000, currency: 'EUR', gateway_key: '.', order_id: 'order-slow-publish' })),
    );
    const identity = deadLetterIdentity(identityKey, 'op-order-slow-publish', body, why);
    // Two processes: one whose broker confirms late, one whose broker answers at once; one claim length.
    const slow = new DeadLetterWriter(
      slowPublisher,
      config.amqp,
      undefined,
      undefined,
      new DeadLetterOnce(redis, config.redis.keyPrefix, { claimMs: CLAIM_MS }),
    );
    const fast = new DeadLetterWriter(publisher, config.amqp, undefined, undefined, new DeadLetterOnce(redis, config.redis.keyPrefix, { claimMs: CLAIM_MS }));
    // The slow publisher's channel is opened first (a publish confirmed at once), then its confirms are held back.
    await slowPublisher.publish('', config.amqp.deadLetterQueue, Buffer.from('{}'));
    expect(await client.drainDeadLetters()).toHaveLength(1);
    proxy.holdRepliesAt(AMQP_METHOD.basicAck);

    const first = slow.write(body, why, {}, { identity });
    await eventually(() => proxy.repliesHeld === 1);
    // Past the first copy's claim, its confirm still held back: the second copy takes the expired claim and writes.
    await new Promise((r) => setTimeout(r, CLAIM_MS + 200));
    const second = await fast.write(body, why, {}, { identity });
    proxy.resume();
    const written = await first;
    expect(written.id).toBe(deadLetterIdOf(identity));
    expect(second.id).toBe(deadLetterIdOf(identity));
    expect([written.duplicate, second.duplicate]).toEqual([false, false]);
    // The first copy's mark found its claim taken over: it says so (the second copy had no way to know).
    expect(written.onceGap).toBe('claim_expired');
    expect(second.onceGap).toBeUndefined();
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(2);

    const imported = await store.importFromQueue(connection, config.amqp);
    expect(imported).toMatchObject({ moved: 2, created: 1, duplicates: 1 });
    const archived = (await store.list({ order: 'time' })).filter((r) => r.orderId === 'order-slow-publish');
    expect(archived).toHaveLength(1);
    expect(archived[0].deadLetterId).toBe(deadLetterIdOf(identity));
  });
});

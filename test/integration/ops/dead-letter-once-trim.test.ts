/**
 * The one-per-message mark never outlives the record it stands for: when the archive drops its oldest records to
 * stay within its bound, their marks go with them, so a copy of such a message arriving later is dead-lettered
 * again rather than acked as a duplicate of a record that no longer exists. Real RabbitMQ and Redis, own namespace.
 */
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { createHash } from 'node:crypto';
import { DeadLetterOnce, deadLetterIdOf, deadLetterIdentity, deadLetterIdentityKey, deadLetterOnceKey } from '../../../src/amqp/dead-letter-once';
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { DeadLetterReason, DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { DeadLetterStore, deadLetterArchiveKeys } from '../../../src/ops/dead-letter-store';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

describe('the dead-letter archive trimmed past its bound (real RabbitMQ and Redis)', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let connection: AmqpConnection;
  let publisher: ConfirmPublisher;
  let redis: RedisClient;
  let writer: DeadLetterWriter;
  let store: DeadLetterStore;

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await connection.connect();
    publisher = new ConfirmPublisher(connection, 5000);
    redis = testRedis(config);
    writer = new DeadLetterWriter(publisher, config.amqp, undefined, undefined, new DeadLetterOnce(redis, config.redis.keyPrefix));
    // An archive of two records: the third import drops the oldest.
    store = new DeadLetterStore(redis, config.redis.keyPrefix, deadLetterStampKey(config.serviceBus.secret), 2);
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
    redis.disconnect();
    await publisher.close();
    await connection.close();
    await client.deleteNamespace();
    await client.close();
  });

  const identityKey = deadLetterIdentityKey(testConfig().serviceBus.secret);
  const why: DeadLetterReason = { code: 'INVALID_PARAMS', field: 'payment.gateway_key', reason: 'is not an allowed value', source: 'amqp:commands' };
  // One body an order (the fixture numbers its references): a copy is the same bytes.
  const bodies = new Map<string, Buffer>();
  const bad = (orderId: string): Buffer => {
    const body =
      bodies.get(orderId) ??
      Buffer.from(JSON.stringify(channelCommand('sale', { channel: 'web' }, { amount: 1000, currency: 'EUR', gateway_key: '.', order_id: orderId })));
    bodies.set(orderId, body);
    return body;
  };
  const importAll = () => store.importFromQueue(connection, config.amqp);
  const write = (orderId: string) => {
    const body = bad(orderId);
    return writer.write(body, why, {}, { identity: deadLetterIdentity(identityKey, `op-${orderId}`, body, why) });
  };

  it('writes a copy again once its record was dropped, and still acks a copy of a record kept as a duplicate', async () => {
    for (const order of ['order-trim-a', 'order-trim-b', 'order-trim-c']) {
      expect(await write(order)).toMatchObject({ duplicate: false });
      expect((await importAll()).created).toBe(1);
      // Distinct dead-letter times: the oldest is the first.
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await store.list({ order: 'time' })).map((r) => r.orderId)).toEqual(['order-trim-c', 'order-trim-b']);

    // order-trim-a's record was dropped: its redelivery is a dead letter again, in the queue and then the archive.
    const again = await write('order-trim-a');
    expect(again).toEqual({ id: deadLetterIdOf(deadLetterIdentity(identityKey, 'op-order-trim-a', bad('order-trim-a'), why)), duplicate: false });
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    expect((await importAll()).created).toBe(1);
    expect((await store.list({ order: 'time' })).map((r) => r.orderId)).toContain('order-trim-a');

    // order-trim-c's record is still there: a copy of it is a duplicate.
    expect(await write('order-trim-c')).toMatchObject({ duplicate: true });
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
  });

  it('drops a record it cannot read with the others past the bound, rather than never trimming again', async () => {
    // A record hash whose JSON does not parse (written by hand, cut short): the oldest, so the next trim drops it.
    const keys = deadLetterArchiveKeys(config.redis.keyPrefix);
    for (const [id, text] of [
      ['dl-00000000000000000000000a', '{"deadLetterId":'],
      ['dl-00000000000000000000000b', 'null'],
    ]) {
      await redis.hset(keys.record(id), 'record', text);
      await redis.zadd(keys.time, 1, id);
    }
    expect(await write('order-trim-unreadable')).toMatchObject({ duplicate: false });
    expect(await importAll()).toMatchObject({ created: 1 });
    expect(await redis.zscore(keys.time, 'dl-00000000000000000000000a')).toBeNull();
    expect(await redis.exists(keys.record('dl-00000000000000000000000b'))).toBe(0);
    expect(await redis.zcard(keys.time)).toBe(2);
  });

  it('never reads the marks of a release whose identities were unkeyed: a copy it marked is a record again, never none', async () => {
    const body = bad('order-trim-legacy');
    const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
    // An earlier release's identity (unkeyed) and both of its marks: by the identity, and by the id derived from it.
    const unkeyed = sha256(JSON.stringify(['op-order-trim-legacy', sha256(body), why.code, why.field, why.reason, []]));
    await redis.set(`${config.redis.keyPrefix}{dl}:once:${unkeyed}`, deadLetterIdOf(unkeyed), 'PX', 60_000);
    await redis.set(deadLetterOnceKey(config.redis.keyPrefix, deadLetterIdOf(unkeyed)), deadLetterIdOf(unkeyed), 'PX', 60_000);
    const identity = deadLetterIdentity(identityKey, 'op-order-trim-legacy', body, why);
    expect(await writer.write(body, why, {}, { identity })).toEqual({ id: deadLetterIdOf(identity), duplicate: false });
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    await importAll();
  });
});

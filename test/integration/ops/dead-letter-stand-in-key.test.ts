/**
 * The id of a parked dead letter's stand-in record is keyed (`service_bus.secret`, for this purpose only): an unkeyed
 * digest of the body would let anyone holding the id test guesses of what the body holds. Across a rolling upgrade
 * the stand-ins of the earlier release (unkeyed ids) are still found and removed, and the earlier release still finds
 * the stand-ins this one makes through the parked copy's stamped `x-pb-parked-record`. Real RabbitMQ and Redis.
 */
import { createHash } from 'node:crypto';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { deadLetterStampKeys } from '../../../src/amqp/dead-letter-stamp';
import { parkedQueueOf } from '../../../src/amqp/topology';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import {
  DeadLetterStore,
  UNARCHIVABLE,
  deadLetterArchiveKeys,
  deadLetterStandInKeys,
  recordFromMessage,
  standInIdOf,
} from '../../../src/ops/dead-letter-store';
import { triageCategory } from '../../../src/amqp/dead-letter-triage';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

describe('the keyed id of a dead letter stand-in, across a rolling upgrade (real RabbitMQ and Redis)', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let connection: AmqpConnection;
  let redis: RedisClient;
  /** This release's archive. */
  let store: DeadLetterStore;
  /** The earlier release's: it knows no stand-in key. */
  let earlier: DeadLetterStore;

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await connection.connect();
    redis = testRedis(config);
    store = new DeadLetterStore(
      redis,
      config.redis.keyPrefix,
      deadLetterStampKeys(config.serviceBus),
      undefined,
      'minor',
      deadLetterStandInKeys(config.serviceBus),
    );
    earlier = new DeadLetterStore(redis, config.redis.keyPrefix, deadLetterStampKeys(config.serviceBus));
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
    redis.disconnect();
    await connection.close();
    await client.deleteNamespace();
    await client.close();
  });

  const headersOf = (name: string) => ({
    'x-pb-code': 'INVALID_PARAMS',
    'x-pb-field': 'payment.amount',
    'x-pb-reason': 'must be an integer',
    'x-pb-source': 'http:intake',
    'x-pb-dead-lettered-at': '2026-01-02T03:04:05.000Z',
    'x-pb-dead-letter-id': `stand-in-${name}`,
  });
  const bodyOf = (order: string) => Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: order })));
  /** What the earlier release made of a message: an unkeyed digest of its body. */
  const unkeyedStandInId = (body: Buffer, headers: Record<string, string>) =>
    `dl-${createHash('sha256').update(UNARCHIVABLE).update(body).update(headers['x-pb-dead-letter-id']).digest('hex').slice(0, 24)}`;
  const send = async (body: Buffer, headers: Record<string, unknown>) => {
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, body, { persistent: true, headers });
    await ch.waitForConfirms();
    await ch.close();
  };
  /** A record key Redis refuses to write over (WRONGTYPE): the dead letter is parked. */
  const poison = async (body: Buffer, headers: Record<string, string>) => {
    const key = deadLetterArchiveKeys(config.redis.keyPrefix).record(
      recordFromMessage({ content: body, properties: { headers } as never, fields: {} as never }, 0).id,
    );
    await redis.set(key, 'not a hash');
    return key;
  };
  const moveParkedBack = async () => {
    const ch = await client.model.createConfirmChannel();
    const parked = await ch.get(parkedQueueOf(config.amqp), { noAck: false });
    if (!parked) throw new Error('nothing parked');
    ch.sendToQueue(config.amqp.deadLetterQueue, parked.content, { persistent: true, headers: parked.properties.headers });
    await ch.waitForConfirms();
    ch.ack(parked);
    await ch.close();
    return parked;
  };

  it('parks under a keyed id: neither the unkeyed digest nor the same under another secret', async () => {
    const body = bodyOf('ORD-STAND-IN-KEYED');
    const headers = headersOf('keyed');
    const poisoned = await poison(body, headers);
    await send(body, headers);
    const { parked } = await store.importFromQueue(connection, config.amqp);
    expect(parked).toHaveLength(1);
    const msg = { content: body, properties: { headers } } as unknown as Parameters<typeof standInIdOf>[0];
    const [key] = deadLetterStandInKeys(config.serviceBus);
    expect(parked[0].id).toBe(standInIdOf(msg, key));
    expect(parked[0].id).toMatch(/^dl-[0-9a-f]{24}$/);
    expect(parked[0].id).not.toBe(unkeyedStandInId(body, headers));
    expect(parked[0].id).not.toBe(standInIdOf(msg, deadLetterStandInKeys({ secret: 'another-bus-secret-0123456789', secretPrevious: '' })[0]));
    expect(await store.get(parked[0].id)).toMatchObject({ code: UNARCHIVABLE });

    // The earlier release finds it through the parked copy moved back (its stamped x-pb-parked-record).
    await redis.del(poisoned);
    const back = await moveParkedBack();
    expect(String(back.properties.headers?.['x-pb-parked-record'])).toBe(parked[0].id);
    expect(await earlier.importFromQueue(connection, config.amqp)).toMatchObject({ created: 1, replaced: 1 });
    expect(await store.get(parked[0].id)).toBeNull();
  });

  it("finds and removes the earlier release's unkeyed stand-in of a dead letter still in the queue (its parking copy failed)", async () => {
    const body = bodyOf('ORD-STAND-IN-UNKEYED');
    const headers = headersOf('unkeyed');
    const legacy = unkeyedStandInId(body, headers);
    // As the earlier release left it: the stand-in archived, the parking copy not confirmed, the message in the queue.
    const reason = 'the archive refused its record (ReplyError WRONGTYPE); kept whole in the parking queue';
    await store.archive({
      id: legacy,
      deadLetteredAt: 1,
      archivedAt: 1,
      code: UNARCHIVABLE,
      field: '(root)',
      reason,
      source: `amqp:${parkedQueueOf(config.amqp)}`,
      replayable: false,
      category: triageCategory(UNARCHIVABLE, reason),
      impact: 0,
      body: '{"withheld":"not archived"}',
      replays: 0,
    });
    await send(body, headers);
    expect(await store.importFromQueue(connection, config.amqp)).toMatchObject({ created: 1, replaced: 1, parked: [] });
    expect(await store.get(legacy)).toBeNull();
    const listed = (await store.list({ order: 'time', limit: 1000 })).filter((r) => r.code === UNARCHIVABLE);
    expect(listed).toEqual([]);
  });
});

/**
 * A channel error on the archiving pass's or the unpark's own channel (the broker closing it: a queue declared
 * with other arguments, a queue deleted under it) fails that pass or run only: the connection it shares (in a
 * worker, with the command consumers) stays up. Real RabbitMQ, own namespace.
 */
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { parkedQueueOf } from '../../../src/amqp/topology';
import { Config } from '../../../src/config/config';
import { QueueMismatchError } from '../../../src/errors/queue-mismatch-error';
import { silentLogger } from '../../../src/logging/logger';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { unparkDeadLetters } from '../../../src/ops/dead-letter-unpark';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { testConfig } from '../../support/test-config';

describe('a channel error on the dead-letter channels (real RabbitMQ, own namespace)', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let connection: AmqpConnection;
  let lost = 0;

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    // The parking queue as another deployment declared it (other arguments): declaring it as ours is refused
    // with a channel error (406 PRECONDITION_FAILED).
    const ch = await client.model.createChannel();
    await ch.deleteQueue(parkedQueueOf(config.amqp));
    await ch.assertQueue(parkedQueueOf(config.amqp), { durable: true, arguments: { 'x-queue-type': 'classic', 'x-max-length': 7 } });
    await ch.close();
    connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: silentLogger() });
    await connection.connect();
    connection.on('lost', () => (lost += 1));
  });

  afterAll(async () => {
    await connection.close();
    await client.deleteNamespace();
    await client.close();
  });

  it('the archiving pass fails on it; the shared connection stays up', async () => {
    const store = new DeadLetterStore({ defineCommand: () => undefined } as unknown as RedisClient, config.redis.keyPrefix);
    const model = await connection.connect();
    await expect(store.importFromQueue(connection, config.amqp)).rejects.toBeInstanceOf(QueueMismatchError);
    await new Promise((r) => setTimeout(r, 200));
    expect(lost).toBe(0);
    expect(await connection.connect()).toBe(model);
  });

  it('the unpark run stops on it, says so, and the shared connection stays up', async () => {
    lost = 0;
    const model = await connection.connect();
    const result = await unparkDeadLetters(connection, config.amqp, { limit: 10, execute: true });
    expect(result.failure).toContain('QueueMismatchError');
    await new Promise((r) => setTimeout(r, 200));
    expect(lost).toBe(0);
    expect(await connection.connect()).toBe(model);
  });
});

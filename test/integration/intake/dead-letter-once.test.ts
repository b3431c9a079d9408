/**
 * A message that reaches the consumer twice (a redelivery after its lane's channel closed while the first copy
 * was being worked on, or a publisher sending it again with the same message id) and fails validation is one dead
 * letter: one message in the dead-letter queue (so one archive record), one entry in the triage index, one count
 * in `pb_commands_dead_lettered_total`; the second copy is acked and counted in `pb_dead_letters_duplicate_total`.
 * Real RabbitMQ and Redis, own namespace.
 */
import { listDeadLettersByImpact } from '../../../src/amqp/dead-letter-triage';
import { brokerRejectedQueueOf } from '../../../src/amqp/topology';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { silentLogger } from '../../../src/logging/logger';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { ChannelKeyring, channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

describe('a bad message delivered twice is dead-lettered once', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
  });

  afterAll(async () => {
    // Before the stop, which closes its client; `unlinkMatching` walks every node of a Cluster, where KEYS reads one.
    await unlinkMatching(worker.redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  /** Publishes `body` as the web channel signs it, with `messageId` when given (as the intake publishes: the operation id). */
  const publish = async (body: Buffer, messageId?: string) => {
    const key = new ChannelKeyring(config.channels.credentials, config.serviceBus.secret).currentKey('web');
    const ch = await client.model.createConfirmChannel();
    ch.publish(config.amqp.commandsExchange, 'web.payment.sale', body, {
      persistent: true,
      contentType: 'application/json',
      headers: key ? channelSignatureHeaders(body, key) : {},
      ...(messageId !== undefined ? { messageId } : {}),
    });
    await ch.waitForConfirms();
    await ch.close();
  };

  const bad = (orderId: string) =>
    Buffer.from(JSON.stringify(channelCommand('sale', { channel: 'web' }, { amount: 1000, currency: 'EUR', gateway_key: '.', order_id: orderId })));

  it('writes one record for two copies of the same message (same message id, or same body without one), two for two messages', async () => {
    const counted = () => metricValue('pb_commands_dead_lettered_total', { reason: 'invalid_params' });
    const duplicates = () => metricValue('pb_dead_letters_duplicate_total', { reason: 'invalid_params' });
    const countedBefore = await counted();
    const duplicatesBefore = await duplicates();
    const settled = async (n: number) => eventually(() => worker.consumer.stats.deadLettered >= n);
    const first = bad('order-once-a');
    // The same message twice, one after the other: the second copy finds the first one's record.
    await publish(first, 'op-once-a');
    await settled(1);
    await publish(first, 'op-once-a');
    await settled(2);
    // The same body without a message id: the body's digest (with the reason) names it.
    const second = bad('order-once-b');
    await publish(second);
    await settled(3);
    await publish(second);
    await settled(4);
    // Another body under the same message id (a corrected command, refused again): a record of its own.
    await publish(bad('order-once-c'), 'op-once-a');
    await settled(5);

    // What `ops dead-letters list` shows: the queue moved into the archive.
    const connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await connection.connect();
    const store = new DeadLetterStore(worker.redis, config.redis.keyPrefix, deadLetterStampKey(config.serviceBus.secret));
    try {
      await store.importFromQueue(connection, config.amqp);
    } finally {
      await connection.close();
    }
    const archived = await store.list({ order: 'time' });
    expect(archived.map((r) => r.orderId).sort()).toEqual(['order-once-a', 'order-once-b', 'order-once-c']);
    // Nothing left in the queue: every record is archived, and each message of the queue was one record.
    expect(await client.drainDeadLetters()).toHaveLength(0);
    expect(new Set(archived.map((r) => r.id)).size).toBe(3);
    expect(await listDeadLettersByImpact(worker.redis, config.redis.keyPrefix)).toHaveLength(3);
    expect((await counted()) - countedBefore).toBe(3);
    expect((await duplicates()) - duplicatesBefore).toBe(2);
    expect(logs.lines.filter((l) => l.includes('dead letter already written for this message')).length).toBe(2);
  });

  it('writes a record for each of two messages with one body and no message id that differ in their channel', async () => {
    // One body (naming no channel the schema knows), signed by two channels on their own routing keys: two messages
    // from two senders, refused for one reason. Each is a record of its own (its signer, its routing key).
    const body = Buffer.from(
      JSON.stringify({
        ...channelCommand('sale', {}, { amount: 1000, currency: 'EUR', gateway_key: '.', order_id: 'order-once-two-channels' }),
        channel: 'nope',
      }),
    );
    const keyring = new ChannelKeyring(config.channels.credentials, config.serviceBus.secret);
    const before = worker.consumer.stats.deadLettered;
    const ch = await client.model.createConfirmChannel();
    for (const channel of ['web', 'pos'] as const) {
      const key = keyring.currentKey(channel);
      ch.publish(config.amqp.commandsExchange, `${channel}.payment.sale`, body, {
        persistent: true,
        contentType: 'application/json',
        headers: key ? channelSignatureHeaders(body, key) : {},
      });
      await ch.waitForConfirms();
      await eventually(() => worker.consumer.stats.deadLettered >= before + (channel === 'web' ? 1 : 2));
    }
    await ch.close();
    const connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await connection.connect();
    const store = new DeadLetterStore(worker.redis, config.redis.keyPrefix, deadLetterStampKey(config.serviceBus.secret));
    try {
      await store.importFromQueue(connection, config.amqp);
    } finally {
      await connection.close();
    }
    const archived = (await store.list({ order: 'time' })).filter((r) => r.orderId === 'order-once-two-channels');
    expect(archived.map((r) => r.authenticatedChannel).sort()).toEqual(['pos', 'web']);
  });

  it('writes a record for each replay of a dead letter that is refused again (each replay is an act of its own)', async () => {
    // As `ops dead-letters replay` publishes: the operation id as message id, `x-pb-replay-of`, a fresh attempt.
    const body = bad('order-once-replayed');
    const key = new ChannelKeyring(config.channels.credentials, config.serviceBus.secret).currentKey('web');
    const before = worker.consumer.stats.deadLettered;
    const ch = await client.model.createConfirmChannel();
    for (const attempt of ['attempt-one', 'attempt-two']) {
      ch.publish(config.amqp.commandsExchange, 'web.payment.sale', body, {
        persistent: true,
        contentType: 'application/json',
        messageId: 'op-once-replayed',
        timestamp: Math.floor(Date.now() / 1000),
        headers: { ...(key ? channelSignatureHeaders(body, key) : {}), 'x-pb-replay-of': 'dl-once-replayed', 'x-pb-replay-attempt': attempt },
      });
      await ch.waitForConfirms();
      await eventually(() => worker.consumer.stats.deadLettered >= before + (attempt === 'attempt-one' ? 1 : 2));
    }
    await ch.close();
    // Two records in the archive too (each replay's id is derived from its own attempt): never merged into one.
    const archived = await archive(config, worker, 'order-once-replayed');
    expect(archived.imported).toMatchObject({ moved: 2, created: 2, duplicates: 0 });
    expect(archived.records).toHaveLength(2);
    expect(new Set(archived.records.map((r) => r.deadLetterId)).size).toBe(2);
  });
});

/** Moves the dead-letter queue into the archive (as `ops dead-letters list` does) and returns the records of `orderId`. */
async function archive(config: Config, worker: IntakeProcess, orderId: string) {
  const connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
  await connection.connect();
  const store = new DeadLetterStore(worker.redis, config.redis.keyPrefix, deadLetterStampKey(config.serviceBus.secret));
  try {
    const imported = await store.importFromQueue(connection, config.amqp);
    return { imported, records: (await store.list({ order: 'time', limit: 500 })).filter((r) => r.orderId === orderId) };
  } finally {
    await connection.close();
  }
}

describe('a message the broker dead-lettered, delivered twice to the redactor, is dead-lettered once', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
  });

  afterAll(async () => {
    // Before the stop, which closes its client; `unlinkMatching` walks every node of a Cluster, where KEYS reads one.
    await unlinkMatching(worker.redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('writes one record for two copies with the same death, two for another death of the same message', async () => {
    const ch = await client.model.createConfirmChannel();
    const body = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'order-broker-once' })));
    const death = (count: number) => ({ 'x-death': [{ reason: 'expired', queue: config.amqp.commandsQueue, count, 'routing-keys': ['web.payment.capture'] }] });
    const duplicates = () => metricValue('pb_dead_letters_duplicate_total', { reason: 'broker_dead_lettered' });
    const duplicatesBefore = await duplicates();
    const settled = () => logs.lines.filter((l) => /message dead-lettered by the broker itself|dead letter already written for this message/.test(l)).length;
    // As the broker redelivers a message (after the first copy's write): the same body, message id and headers (x-death).
    for (const count of [1, 1, 2]) {
      const before = settled();
      ch.sendToQueue(brokerRejectedQueueOf(config.amqp), body, { persistent: true, messageId: 'op-broker-once', headers: death(count) });
      await ch.waitForConfirms();
      await eventually(() => settled() === before + 1);
    }
    expect((await duplicates()) - duplicatesBefore).toBe(1);
    await ch.close();
    // Another death of the same message is a record of its own in the archive too.
    const archived = await archive(config, worker, 'order-broker-once');
    expect(archived.imported).toMatchObject({ moved: 2, created: 2, duplicates: 0 });
    expect(archived.records).toHaveLength(2);
    expect(logs.lines.filter((l) => l.includes('dead letter already written for this message')).length).toBe(1);
  });
});

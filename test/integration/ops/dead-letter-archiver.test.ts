/**
 * The workers' dead-letter archiving pass (real RabbitMQ and Redis, own namespace): it moves the queue into
 * the archive on its own timer, at once again while a batch comes back full, and a pass against a broker
 * that is away fails, is counted, and throws nothing.
 */
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { DeadLetterOnce, deadLetterIdentity, deadLetterIdentityKey } from '../../../src/amqp/dead-letter-once';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { DeadLetterArchiver, moveDeadLetters } from '../../../src/ops/dead-letter-archiver';
import { DeadLetterStore, deadLetterArchiveKeys, recordFromMessage } from '../../../src/ops/dead-letter-store';
import { parkedQueueOf } from '../../../src/amqp/topology';
import { captureLogger } from '../../support/capture-logger';
import Redis from 'ioredis';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { eventually, startTcpProxy } from '../../support/tcp-proxy';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { notedWorker } from '../../support/noted-worker';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';

/**
 * A wait for what RabbitMQ (another process) does: a requeue, a get, a reconnection, another process's archiving pass.
 * Generous, as CI runs this file beside others on a loaded machine; the bounds the tests prove are asserted on their own.
 */
const BROKER_MS = 15_000;
// Above the sum of one test's broker waits (two at most, plus a 5 s hang guard).
jest.setTimeout(60_000);

describe('DeadLetterArchiver (real RabbitMQ and Redis, own namespace)', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let connection: AmqpConnection;
  let publisher: ConfirmPublisher;
  let writer: DeadLetterWriter;
  let redis: RedisClient;
  let store: DeadLetterStore;

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await connection.connect();
    publisher = new ConfirmPublisher(connection, 5000);
    writer = new DeadLetterWriter(publisher, config.amqp, undefined, deadLetterStampKey(config.serviceBus.secret));
    redis = createRedis(config.redis, 'commands', silentLogger());
    store = new DeadLetterStore(redis, config.redis.keyPrefix, deadLetterStampKey(config.serviceBus.secret));
  });

  afterAll(async () => {
    // One key a DEL: on Redis Cluster a namespace's keys may be in several slots.
    const keys = await redis.keys(`${config.redis.keyPrefix}*`);
    await Promise.all(keys.map((k) => redis.del(k)));
    redis.disconnect();
    await publisher.close();
    await connection.close();
    await client.deleteNamespace();
    await client.close();
  });

  const deadLetter = (orderId: string) =>
    writer.write(Buffer.from(JSON.stringify(channelCommand('authorize', {}, { order_id: orderId }))), {
      code: 'UNEXPECTED_ERROR',
      field: '(root)',
      reason: 'unexpected_error: DependencyUnavailableError',
      source: `amqp:${config.amqp.commandsQueue}`,
    });

  it('moves what the dead-letter queue holds into the archive on its timer, leaving the queue empty', async () => {
    await deadLetter('ORD-ARCH-1');
    await deadLetter('ORD-ARCH-2');
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(2);
    const before = await metricValue('pb_dead_letters_moved_total', { by: 'worker' });
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: silentLogger(), intervalMs: 100 });
    archiver.start();
    try {
      await eventually(async () => (await store.list({ order: 'time' })).length === 2, BROKER_MS);
    } finally {
      await archiver.stop();
    }
    expect((await store.list({ order: 'time' })).map((r) => r.orderId).sort()).toEqual(['ORD-ARCH-1', 'ORD-ARCH-2']);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    expect(await metricValue('pb_dead_letters_moved_total', { by: 'worker' })).toBe(before + 2);
  });

  it('archives a dead letter whose command is named like a property of every object, and the ones behind it', async () => {
    // A signed bus call for an unknown method `….constructor`, with its money: the intake dead-letters it.
    const body = {
      jsonrpc: '2.0',
      id: 7,
      method: 'magento.payments.payments_management.constructor',
      params: { payment: { order_id: 'ORD-ARCH-PROTO', amount: 1999, currency: 'EUR' } },
    };
    await writer.write(Buffer.from(JSON.stringify(body)), {
      code: 'UNKNOWN_METHOD',
      field: 'method',
      reason: 'is not a payment command this endpoint handles',
      source: 'http:intake',
    });
    await deadLetter('ORD-ARCH-BEHIND');
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: silentLogger(), intervalMs: 0 });
    await archiver.runOnce();
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    const archived = await store.list({ order: 'impact' });
    expect(archived.find((r) => r.orderId === 'ORD-ARCH-PROTO')).toMatchObject({ command: 'constructor', impact: 19.99 });
    expect(archived.some((r) => r.orderId === 'ORD-ARCH-BEHIND')).toBe(true);
  });

  it('parks a dead letter whose record Redis refuses, whole and listed, and archives the ones behind it', async () => {
    // A message the archive cannot take for a reason of its own: its record's key is taken by a value of
    // another type, so Redis refuses the write (WRONGTYPE), as it would any record it cannot store.
    const body = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-ARCH-POISON' })));
    const headers = {
      'x-pb-code': 'INVALID_PARAMS',
      'x-pb-field': 'payment.amount',
      'x-pb-reason': 'must be an integer',
      'x-pb-source': 'http:intake',
      'x-pb-dead-lettered-at': '2026-01-02T03:04:05.000Z',
      'x-pb-dead-letter-id': 'poison-1',
    };
    const poisonId = recordFromMessage({ content: body, properties: { headers } as never, fields: {} as never }, Date.now()).id;
    await redis.set(deadLetterArchiveKeys(config.redis.keyPrefix).record(poisonId), 'not a hash');
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, body, { persistent: true, contentType: 'application/json', headers });
    await ch.waitForConfirms();
    await deadLetter('ORD-ARCH-BEHIND-POISON-1');
    await deadLetter('ORD-ARCH-BEHIND-POISON-2');
    const logs = captureLogger('info');
    const parkedBefore = await metricValue('pb_dead_letters_parked_total', { stage: 'write' });
    const failedBefore = await metricValue('pb_dead_letter_archive_failures_total');
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: logs.logger, intervalMs: 0 });
    await archiver.runOnce();
    // Nothing waits behind it: the queue is empty and the two behind it are archived.
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    const listed = await store.list({ order: 'time', limit: 1000 });
    expect(listed.filter((r) => r.orderId?.startsWith('ORD-ARCH-BEHIND-POISON')).length).toBe(2);
    // Listed as a stand-in with its reason and no body; kept whole in the parking queue; counted and said.
    const standIn = listed.find((r) => r.code === 'UNARCHIVABLE');
    expect(standIn).toMatchObject({ field: '(root)', source: `amqp:${parkedQueueOf(config.amqp)}`, replayable: false });
    expect(standIn?.reason).toMatch(/the archive refused its record \(ReplyError WRONGTYPE\)/);
    expect(standIn?.body).not.toContain('ORD-ARCH-POISON');
    const parked = await ch.get(parkedQueueOf(config.amqp), { noAck: true });
    expect(parked && parked.content.equals(body)).toBe(true);
    expect(parked && parked.properties.headers?.['x-pb-code']).toBe('INVALID_PARAMS');
    expect(parked && String(parked.properties.headers?.['x-pb-parked-reason'])).toContain('WRONGTYPE');
    await ch.close();
    expect(await metricValue('pb_dead_letters_parked_total', { stage: 'write' })).toBe(parkedBefore + 1);
    expect(await metricValue('pb_dead_letter_archive_failures_total')).toBe(failedBefore);
    const warned = logs.lines.filter((l) => l.includes('parked, the ones behind it go on'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(standIn?.id);
    expect(warned[0]).not.toContain('ORD-ARCH-POISON');
  });

  it('archives a parked dead letter moved back to the queue in place of its stand-in, which is no longer listed', async () => {
    const body = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-ARCH-UNPARKED' })));
    const headers = {
      'x-pb-code': 'INVALID_PARAMS',
      'x-pb-field': 'payment.amount',
      'x-pb-reason': 'must be an integer',
      'x-pb-source': 'http:intake',
      'x-pb-dead-letter-id': 'poison-unparked',
    };
    const realId = recordFromMessage({ content: body, properties: { headers } as never, fields: {} as never }, Date.now()).id;
    const poisonKey = deadLetterArchiveKeys(config.redis.keyPrefix).record(realId);
    await redis.set(poisonKey, 'not a hash');
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, body, { persistent: true, headers });
    await ch.waitForConfirms();
    const first = await store.importFromQueue(connection, config.amqp);
    const standIn = first.parked[0].id;
    expect(await store.get(standIn)).toMatchObject({ code: 'UNARCHIVABLE' });
    // The cause fixed, the parked message moved back whole (as the management UI's move does).
    await redis.del(poisonKey);
    const parked = await ch.get(parkedQueueOf(config.amqp), { noAck: false });
    if (!parked) throw new Error('nothing parked');
    ch.sendToQueue(config.amqp.deadLetterQueue, parked.content, { persistent: true, headers: parked.properties.headers });
    await ch.waitForConfirms();
    ch.ack(parked);
    const replacedBefore = await metricValue('pb_dead_letters_unarchivable_replaced_total');
    const logs = captureLogger('info');
    await new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: logs.logger, intervalMs: 0 }).runOnce();
    const listed = await store.list({ order: 'time', limit: 1000 });
    expect(listed.find((r) => r.id === realId)).toMatchObject({ code: 'INVALID_PARAMS', orderId: 'ORD-ARCH-UNPARKED' });
    expect(listed.some((r) => r.id === standIn)).toBe(false);
    expect(await store.get(standIn)).toBeNull();
    expect(await redis.zscore(deadLetterArchiveKeys(config.redis.keyPrefix).impact, standIn)).toBeNull();
    expect(await metricValue('pb_dead_letters_unarchivable_replaced_total')).toBe(replacedBefore + 1);
    expect(logs.lines.filter((l) => l.includes('dead letters archived in place of their UNARCHIVABLE stand-ins') && l.includes('"replaced":1'))).toHaveLength(
      1,
    );
    // A header naming a record that is no stand-in removes nothing.
    const forged = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-ARCH-FORGED' })));
    ch.sendToQueue(config.amqp.deadLetterQueue, forged, { persistent: true, headers: { 'x-pb-code': 'INVALID_PARAMS', 'x-pb-parked-record': realId } });
    await ch.waitForConfirms();
    await ch.close();
    await store.importFromQueue(connection, config.amqp);
    expect(await store.get(realId)).toMatchObject({ orderId: 'ORD-ARCH-UNPARKED' });
  });

  it("a message published to the dead-letter queue naming another's stand-in does not remove it; only that parked message, moved back, does", async () => {
    const body = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-ARCH-VICTIM' })));
    const headers = {
      'x-pb-code': 'INVALID_PARAMS',
      'x-pb-field': 'payment.amount',
      'x-pb-reason': 'must be an integer',
      'x-pb-source': 'http:intake',
      'x-pb-dead-letter-id': 'poison-victim',
    };
    const poisonKey = deadLetterArchiveKeys(config.redis.keyPrefix).record(
      recordFromMessage({ content: body, properties: { headers } as never, fields: {} as never }, Date.now()).id,
    );
    await redis.set(poisonKey, 'not a hash');
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, body, { persistent: true, headers });
    await ch.waitForConfirms();
    const standIn = (await store.importFromQueue(connection, config.amqp)).parked[0].id;
    const parked = await ch.get(parkedQueueOf(config.amqp), { noAck: false });
    if (!parked) throw new Error('nothing parked');
    const parkedHeaders = parked.properties.headers as Record<string, unknown>;
    expect(parkedHeaders['x-pb-parked-record']).toBe(standIn);
    const replacedBefore = await metricValue('pb_dead_letters_unarchivable_replaced_total');
    // Forged: other bodies naming the stand-in, without a stamp and with the parked message's own stamp.
    for (const [orderId, stamp] of [
      ['ORD-ARCH-FORGER-1', undefined],
      ['ORD-ARCH-FORGER-2', parkedHeaders['x-pb-parked-stamp']],
    ] as const) {
      const forged = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: orderId })));
      ch.sendToQueue(config.amqp.deadLetterQueue, forged, {
        persistent: true,
        headers: { 'x-pb-code': 'INVALID_PARAMS', 'x-pb-parked-record': standIn, ...(stamp === undefined ? {} : { 'x-pb-parked-stamp': stamp }) },
      });
    }
    await ch.waitForConfirms();
    const forgedImport = await store.importFromQueue(connection, config.amqp);
    expect(forgedImport).toMatchObject({ moved: 2, created: 2, replaced: 0 });
    expect(await store.get(standIn)).toMatchObject({ code: 'UNARCHIVABLE' });
    expect(await redis.zscore(deadLetterArchiveKeys(config.redis.keyPrefix).time, standIn)).not.toBeNull();
    expect(await metricValue('pb_dead_letters_unarchivable_replaced_total')).toBe(replacedBefore);
    // The parked message itself, moved back as parking sends it when the original headers cannot be encoded again
    // (its parking headers only: its own stand-in id differs, it names the stand-in with the stamp for its body).
    await redis.del(poisonKey);
    const kept = Object.fromEntries(Object.entries(parkedHeaders).filter(([k]) => k.startsWith('x-pb-parked-')));
    ch.sendToQueue(config.amqp.deadLetterQueue, parked.content, { persistent: true, headers: kept });
    await ch.waitForConfirms();
    ch.ack(parked);
    await ch.close();
    expect(await store.importFromQueue(connection, config.amqp)).toMatchObject({ moved: 1, replaced: 1 });
    expect(await store.get(standIn)).toBeNull();
  });

  it('keeps a dead letter in the queue when its parking copy reaches no queue (unroutable), never acking it', async () => {
    const body = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-ARCH-UNROUTABLE' })));
    const headers = {
      'x-pb-code': 'INVALID_PARAMS',
      'x-pb-field': '(root)',
      'x-pb-reason': 'r',
      'x-pb-source': 'http:intake',
      'x-pb-dead-letter-id': 'poison-2',
    };
    const poisonKey = deadLetterArchiveKeys(config.redis.keyPrefix).record(
      recordFromMessage({ content: body, properties: { headers } as never, fields: {} as never }, Date.now()).id,
    );
    await redis.set(poisonKey, 'not a hash');
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, body, { persistent: true, headers });
    await ch.waitForConfirms();
    // The parking queue goes (an operator deleting it in the management UI) between the pass's declaration and the copy.
    const archive = store.archive.bind(store);
    const spy = jest.spyOn(store, 'archive').mockImplementation(async (record) => {
      if (record.code === 'UNARCHIVABLE') await ch.deleteQueue(parkedQueueOf(config.amqp));
      return archive(record);
    });
    try {
      await expect(store.importFromQueue(connection, config.amqp)).rejects.toThrow(/unroutable/);
    } finally {
      spy.mockRestore();
    }
    // Not acked: back at the head of the dead-letter queue (the pass's channel closed), whole.
    await eventually(async () => (await client.queueDepth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
    const kept = await ch.get(config.amqp.deadLetterQueue, { noAck: false });
    expect(kept && kept.content.equals(body)).toBe(true);
    if (kept) ch.nack(kept, false, true);
    // Once the cause is gone the next pass archives it as it is.
    await redis.del(poisonKey);
    await store.importFromQueue(connection, config.amqp);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    await ch.close();
  });

  it('with an interval of 0 moves nothing by itself', async () => {
    await deadLetter('ORD-ARCH-OFF');
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: silentLogger(), intervalMs: 0 });
    archiver.start();
    await new Promise((r) => setTimeout(r, 300));
    await archiver.stop();
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    // An operator's pass (runOnce) still moves it.
    await archiver.runOnce();
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    expect((await store.list({ order: 'time' })).some((r) => r.orderId === 'ORD-ARCH-OFF')).toBe(true);
  });

  it('archives two dead letters of one message written while its mark was away (Redis away) as one record, without naming a cause it cannot know', async () => {
    // The writers' Redis is away: no claim, no mark; each copy is written under the id derived from the message.
    const away = {
      claim: async () => {
        throw new Error('Connection is closed.');
      },
      mark: async () => {
        throw new Error('Connection is closed.');
      },
      release: async () => undefined,
    } as unknown as DeadLetterOnce;
    const once = new DeadLetterWriter(publisher, config.amqp, undefined, deadLetterStampKey(config.serviceBus.secret), away);
    const body = Buffer.from(JSON.stringify(channelCommand('authorize', {}, { order_id: 'ORD-ARCH-TWICE' })));
    const why = { code: 'INVALID_PARAMS', field: 'payment.amount', reason: 'must be an integer', source: `amqp:${config.amqp.commandsQueue}` };
    const identity = deadLetterIdentity(deadLetterIdentityKey(config.serviceBus.secret), 'op-arch-twice', body, why);
    const first = await once.write(body, why, {}, { identity });
    await new Promise((r) => setTimeout(r, 5));
    const second = await once.write(body, why, {}, { identity });
    expect([first.onceGap, second.onceGap]).toEqual(['redis_away', 'redis_away']);
    expect(second.id).toBe(first.id);
    const logs = captureLogger();
    const before = await metricValue('pb_dead_letters_archived_twice_total');
    const result = await moveDeadLetters({ store, connection, amqp: config.amqp, logger: logs.logger }, 'ops');
    expect(result).toMatchObject({ moved: 2, created: 1, duplicates: 1 });
    expect((await store.list({ order: 'time' })).filter((r) => r.orderId === 'ORD-ARCH-TWICE')).toHaveLength(1);
    expect(await metricValue('pb_dead_letters_archived_twice_total')).toBe(before + 1);
    const said = logs.lines.filter((l) => l.includes("dead letters archived as their message's one record"));
    expect(said).toHaveLength(1);
    expect(JSON.parse(said[0])).toMatchObject({ level: 'warn', duplicates: 1, by: 'ops' });
    // Nothing here outlived a claim (there was none): the line names the ways a second one is written, not one of them.
    expect(said[0]).not.toContain('a write outlived its claim');
    expect(said[0]).toContain('Redis away');
  });

  it('finds a dead letter under its derived id again at another time (a second one), not when the same one is read again (a re-import)', async () => {
    const body = Buffer.from(JSON.stringify(channelCommand('authorize', {}, { order_id: 'ORD-ARCH-AGAIN' })));
    const at = (time: string) =>
      recordFromMessage(
        {
          content: body,
          properties: {
            headers: {
              'x-pb-code': 'INVALID_PARAMS',
              'x-pb-reason': 'must be an integer',
              'x-pb-source': 'amqp:commands',
              'x-pb-dead-letter-id': '0123abcd-4567-8def-9012-3456789abcde',
              'x-pb-dead-lettered-at': time,
            },
          },
          fields: {},
        } as unknown as Parameters<typeof recordFromMessage>[0],
        Date.now(),
      );
    const first = at('2026-01-02T03:04:05.000Z');
    expect(await store.archiveReplacing(first, [])).toEqual({ created: true, replaced: 0, again: false });
    // The same dead letter read again (its process stopped before the ack): already there, at its own time.
    expect(await store.archiveReplacing(first, [])).toEqual({ created: false, replaced: 0, again: false });
    // Another dead letter of the message (another time): one record, found again.
    const second = at('2026-01-02T03:04:35.000Z');
    expect(second.id).toBe(first.id);
    expect(await store.archiveReplacing(second, [])).toEqual({ created: false, replaced: 0, again: true });
  });

  it('counts no second dead letter of a message for a record without a derived dead-letter id found again at another time', async () => {
    // As a deployment before the redactor left them: no x-pb-* headers, so no time of its own (archived at `now`).
    const body = Buffer.from(JSON.stringify(channelCommand('authorize', {}, { order_id: 'ORD-ARCH-NO-TIME' })));
    const before = await metricValue('pb_dead_letters_archived_twice_total');
    const passes = [];
    for (const now of [1_000_000, 2_000_000]) {
      const ch = await client.model.createConfirmChannel();
      ch.sendToQueue(config.amqp.deadLetterQueue, body, { headers: { 'x-death': [{ reason: 'rejected', queue: 'old', count: 1 }] } });
      await ch.waitForConfirms();
      await ch.close();
      passes.push(await store.importFromQueue(connection, config.amqp, undefined, now));
    }
    expect(passes.map((p) => [p.created, p.duplicates])).toEqual([
      [1, 0],
      [0, 0],
    ]);
    expect(await metricValue('pb_dead_letters_archived_twice_total')).toBe(before);
  });

  it('a pass whose Redis is away fails, is counted and logged, throws nothing, and leaves the dead letter in the queue', async () => {
    await deadLetter('ORD-ARCH-REDIS');
    // A client of a port nothing listens on, with no offline queue: every command fails at once (on a
    // Redis Cluster too, where a disconnected client would queue commands for its reconnection instead).
    const away = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    away.on('error', () => undefined);
    const logger = silentLogger();
    const warn = jest.spyOn(logger, 'warn');
    const archiver = new DeadLetterArchiver({
      store: new DeadLetterStore(away, config.redis.keyPrefix, deadLetterStampKey(config.serviceBus.secret)),
      connection,
      amqp: config.amqp,
      logger,
      intervalMs: 0,
    });
    const before = await metricValue('pb_dead_letter_archive_failures_total');
    await expect(archiver.runOnce()).resolves.toBeUndefined();
    expect(await metricValue('pb_dead_letter_archive_failures_total')).toBe(before + 1);
    expect(warn.mock.calls.map((c) => c[0])).toEqual(['dead-letter archiving failed; the next pass retries']);
    // Not acked: back in the queue for the next pass (the channel's close returns it).
    await eventually(async () => (await client.queueDepth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
    await archiver.runOnce();
    // The broker requeues what a closed channel got with basic.get after its close-ok (when the channel process
    // ends): read at once, the queue can still look empty.
    await eventually(async () => (await client.queueDepth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
    await new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: silentLogger(), intervalMs: 0 }).runOnce();
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    expect((await store.list({ order: 'time' })).some((r) => r.orderId === 'ORD-ARCH-REDIS')).toBe(true);
  });

  it('a failed pass whose channel close the broker never answers ends within publish_timeout_ms: the close is given up and the worker’s connection kept, said and counted; the next pass archives the dead letter once the broker is back', async () => {
    await deadLetter('ORD-ARCH-SILENT');
    const proxy = await startTcpProxy(Number(new URL(config.amqp.url).port || 5672));
    const amqp = { ...config.amqp, publishTimeoutMs: 300 };
    const logs = captureLogger('info');
    const silent = new AmqpConnection({ url: proxy.url('amqp', 'guest:guest'), reconnectMs: 50, logger: logs.logger });
    // The pass fails on its first record (Redis away), and at that moment the broker goes silent: what the
    // client sends (the channel's close among it) never reaches it.
    const failing = new DeadLetterStore(
      {
        defineCommand: () => undefined,
        pbDeadLetterArchive: async () => {
          proxy.hold();
          throw new DependencyUnavailableError('redis', 'away');
        },
      } as unknown as RedisClient,
      config.redis.keyPrefix,
    );
    const archiver = new DeadLetterArchiver({ store: failing, connection: silent, amqp, logger: logs.logger, intervalMs: 0 });
    const failedBefore = await metricValue('pb_dead_letter_archive_failures_total');
    const timeoutsBefore = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'dead_letter_archive' });
    let lost = 0;
    silent.on('lost', () => (lost += 1));
    try {
      await silent.connect();
      const started = Date.now();
      const wedged = new Promise<string>((resolve) => setTimeout(() => resolve('wedged'), 5000).unref());
      expect(await Promise.race([archiver.runOnce().then(() => 'ended'), wedged])).toBe('ended');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await metricValue('pb_dead_letter_archive_failures_total')).toBe(failedBefore + 1);
      expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'dead_letter_archive' })).toBe(timeoutsBefore + 1);
      const said = logs.lines.filter((l) => l.includes('amqp channel did not close in time'));
      expect(said).toHaveLength(1);
      expect(said[0]).toContain('"what":"dead_letter_archive"');
      expect(said[0]).toContain('the close is given up (the connection is kept)');
      expect(logs.lines.some((l) => l.includes('dead-letter archiving failed; the next pass retries'))).toBe(true);
      // Not dropped: the worker's consumer lanes hold unacked messages on this connection.
      await new Promise((r) => setTimeout(r, 600));
      expect(lost).toBe(0);
      expect(silent.connected).toBe(true);
      // The silent node's sockets go (the broker sees the connection end and requeues what the channel held).
      proxy.cut();
      proxy.restore();
      await eventually(async () => (await client.queueDepth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
      // The connection comes back on its own; the next pass (Redis back) archives the dead letter.
      await eventually(() => silent.connected, BROKER_MS);
      await new DeadLetterArchiver({ store, connection: silent, amqp, logger: silentLogger(), intervalMs: 0 }).runOnce();
      expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
      expect((await store.list({ order: 'time' })).some((r) => r.orderId === 'ORD-ARCH-SILENT')).toBe(true);
    } finally {
      await archiver.stop();
      await silent.close();
      await proxy.close();
    }
  });

  it('skips a pass while its broker connection is down, without counting a failure', async () => {
    const down = new AmqpConnection({ url: 'amqp://guest:guest@127.0.0.1:1', logger: silentLogger() });
    const archiver = new DeadLetterArchiver({ store, connection: down, amqp: config.amqp, logger: silentLogger(), intervalMs: 0 });
    const before = await metricValue('pb_dead_letter_archive_failures_total');
    await expect(archiver.runOnce()).resolves.toBeUndefined();
    expect(await metricValue('pb_dead_letter_archive_failures_total')).toBe(before);
    await down.close();
  });

  it('a worker process archives what it dead-letters, on amqp.dead_letter_archive_interval_ms', async () => {
    const workerConfig = testConfig({ 'amqp.dead_letter_archive_interval_ms': 200 });
    const workerClient = await amqpClient(workerConfig);
    const worker = await notedWorker(workerConfig, [], { logger: silentLogger() });
    const workerRedis = createRedis(workerConfig.redis, 'commands', silentLogger());
    try {
      const archive = new DeadLetterStore(workerRedis, workerConfig.redis.keyPrefix, deadLetterStampKey(workerConfig.serviceBus.secret));
      // Not JSON: the consumer dead-letters it (PARSE_ERROR), the worker's pass moves it into the archive.
      await workerClient.publish('web.payment.authorize', Buffer.from('{"not json'));
      await eventually(async () => (await archive.list({ order: 'time' })).some((r) => r.code === 'PARSE_ERROR'), BROKER_MS);
      expect(await workerClient.queueDepth(workerConfig.amqp.deadLetterQueue)).toBe(0);
    } finally {
      await worker.stop();
      await purgeNamespace(workerConfig);
      workerRedis.disconnect();
      await workerClient.deleteNamespace();
      await workerClient.close();
    }
  });
});

/**
 * A worker's background passes (the dead-letter archiving pass, the metrics scrape's queue depths) against a broker
 * that accepts the connection and then stops answering, on the connection a consumer lane holds an unacked message
 * on (real RabbitMQ and Redis, own namespace; a proxy that stops forwarding at a chosen AMQP call and resumes): a
 * channel opening or close not answered is given up within `amqp.publish_timeout_ms` (counted, a warn line) without
 * dropping the connection, so the broker never requeues the consumer's message while its work is under way; the
 * pass fails as before (what it read stays in its queue) and the next one works once the broker answers again.
 */
import { Channel, ConsumeMessage } from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { DeadLetterArchiver } from '../../../src/ops/dead-letter-archiver';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const BOUND_MS = 300;
/**
 * A wait for what RabbitMQ (another process) does: a delivery, answers once resumed, a channel's close. Generous,
 * as CI runs this file beside others on a loaded machine; the bounds the tests prove are asserted on their own (`ms`).
 */
const BROKER_MS = 15_000;
// Above the sum of one test's broker waits (two at most, plus a 5 s hang guard); the hooks have their own.
jest.setTimeout(60_000);

describe('background passes on a consumer’s connection with a broker that stops answering (real RabbitMQ and Redis)', () => {
  let proxy: AmqpStallProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let logs: ReturnType<typeof captureLogger>;
  let connection: AmqpConnection;
  let redis: RedisClient;
  let lost: number;
  let held: ConsumeMessage[];

  /** One message straight into `queue` (the test's own connection, not the proxy's). */
  async function sendTo(queue: string, orderId: string): Promise<void> {
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ order_id: orderId })), { persistent: true, headers: { 'x-pb-code': 'INVALID_PARAMS' } });
    await ch.waitForConfirms();
    await ch.close();
  }

  beforeEach(async () => {
    proxy = await startAmqpStallProxy();
    // Own namespace per test; the code under test reaches the broker through the proxy, the test's own client directly.
    config = testConfig({ 'amqp.url': proxy.url, 'amqp.publish_timeout_ms': BOUND_MS, 'amqp.reconnect_ms': 50 });
    client = await amqpClient(config);
    logs = captureLogger('info');
    connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: logs.logger, closeTimeoutMs: BOUND_MS });
    lost = 0;
    connection.on('lost', () => (lost += 1));
    await connection.connect();
    redis = createRedis(config.redis, 'commands', logs.logger);
    // A consumer lane's channel on the same connection, holding one command unacked (its PSP call under way).
    const lane: Channel = await connection.current().createChannel();
    await lane.prefetch(1);
    held = [];
    await lane.consume(config.amqp.commandsQueue, (msg) => {
      if (msg) held.push(msg);
    });
    await sendTo(config.amqp.commandsQueue, 'ORD-LANE-1');
    await eventually(() => held.length === 1, BROKER_MS);
    expect(held[0].fields.redelivered).toBe(false);
  });

  afterEach(async () => {
    proxy.cut();
    await connection.close();
    await proxy.close();
    // One key a DEL: on Redis Cluster the namespace's keys are in several slots.
    const keys = await redis.keys(`${config.redis.keyPrefix}*`);
    await Promise.all(keys.map((k) => redis.del(k)));
    redis.disconnect();
    await client.deleteNamespace();
    await client.close();
  });

  /** Resolves with `work`'s outcome, or 'hung' after 5 s: a hang fails the test rather than the suite's timeout. */
  async function within<T>(work: Promise<T>): Promise<{ outcome: T | 'hung'; ms: number }> {
    const started = Date.now();
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000).unref());
    const outcome = await Promise.race([work, hung]);
    return { outcome, ms: Date.now() - started };
  }

  const deadLetter = (orderId: string) => sendTo(config.amqp.deadLetterQueue, orderId);

  /** The consumer's message is still its own: the connection stayed up and the broker did not requeue it. */
  async function laneKeptItsMessage(): Promise<void> {
    // Well past every bound a drop would follow.
    await new Promise((r) => setTimeout(r, 2 * BOUND_MS + 300));
    expect(lost).toBe(0);
    expect(connection.connected).toBe(true);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
    expect(held).toHaveLength(1);
  }

  /** Channels open on the connection under test (amqplib's table; slot 0 is the connection's own). */
  const openChannels = () =>
    (connection.current() as unknown as { connection: { channels: unknown[] } }).connection.channels.filter((c, i) => i > 0 && c !== null && c !== undefined)
      .length;

  const failedPass = () => logs.lines.some((l) => l.includes('dead-letter archiving failed; the next pass retries'));

  it('archiving pass: a channel opening not answered fails the pass within its bound (counted, logged) without requeueing the consumer’s unacked message; the next pass archives once the broker answers', async () => {
    await deadLetter('ORD-ARCH-OPEN');
    const store = new DeadLetterStore(redis, config.redis.keyPrefix);
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: logs.logger, intervalMs: 0 });
    const timeouts = await metricValue('pb_amqp_call_timeouts_total', { what: 'dead_letter_archive' });
    const failures = await metricValue('pb_dead_letter_archive_failures_total');
    proxy.stallAt(AMQP_METHOD.channelOpen);
    const pass = await within(archiver.runOnce());
    expect(pass.outcome).toBeUndefined();
    expect(pass.ms).toBeLessThan(BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'dead_letter_archive' })).toBe(timeouts + 1);
    expect(await metricValue('pb_dead_letter_archive_failures_total')).toBe(failures + 1);
    expect(
      logs.lines.some(
        (l) => l.includes('rabbitmq did not answer in time') && l.includes('"what":"dead_letter_archive"') && l.includes('"call":"opening a channel"'),
      ),
    ).toBe(true);
    expect(failedPass()).toBe(true);
    await laneKeptItsMessage();
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    expect(await store.count()).toBe(0);
    // The broker answers again: the late channel is closed, the next pass archives the dead letter.
    expect(openChannels()).toBe(2);
    proxy.resume();
    await eventually(async () => {
      await archiver.runOnce();
      return (await store.count()) === 1;
    }, BROKER_MS);
    // Only the consumer lane's is left: the channel that opened after its bound was closed, not left on the connection.
    await eventually(() => openChannels() === 1, BROKER_MS);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    expect(held).toHaveLength(1);
    expect(lost).toBe(0);
  });

  it('archiving pass: a read and then its channel’s close not answered fail the pass within its bounds (counted, logged) without requeueing the consumer’s unacked message; the dead letter stays queued and the next pass archives it', async () => {
    await deadLetter('ORD-ARCH-CLOSE');
    const store = new DeadLetterStore(redis, config.redis.keyPrefix);
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: logs.logger, intervalMs: 0 });
    const closeTimeouts = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'dead_letter_archive' });
    // The broker never sees the read, nor the channel's close after it.
    proxy.stallAt(AMQP_METHOD.basicGet);
    const pass = await within(archiver.runOnce());
    expect(pass.outcome).toBeUndefined();
    expect(pass.ms).toBeLessThan(2 * BOUND_MS + 1000);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'dead_letter_archive' })).toBe(closeTimeouts + 1);
    expect(
      logs.lines.some(
        (l) => l.includes('amqp channel did not close in time: the close is given up (the connection is kept)') && l.includes('"what":"dead_letter_archive"'),
      ),
    ).toBe(true);
    expect(failedPass()).toBe(true);
    await laneKeptItsMessage();
    expect(await store.count()).toBe(0);
    // The broker answers again: the given-up channel's close returns what its read got, the next pass archives it.
    proxy.resume();
    await eventually(async () => {
      await archiver.runOnce();
      return (await store.count()) === 1;
    }, BROKER_MS);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    expect(held).toHaveLength(1);
    expect(lost).toBe(0);
  });

  it('scrape snapshot: a channel close not answered is given up within its bound (counted, logged) without requeueing the consumer’s unacked message; the next scrape reads the depths once the broker answers', async () => {
    const snapshot = scrapeSnapshot({ config, redis, queues: {}, amqp: connection });
    const before = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'scrape_snapshot' });
    proxy.stallAt(AMQP_METHOD.channelClose);
    const scrape = await within(snapshot());
    expect(scrape.outcome === 'hung' ? scrape.outcome : scrape.outcome.queues.map((q) => q.queue)).toEqual(['commands', 'dead_letter']);
    expect(scrape.ms).toBeLessThan(BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'scrape_snapshot' })).toBe(before + 1);
    expect(
      logs.lines.some(
        (l) => l.includes('amqp channel did not close in time: the close is given up (the connection is kept)') && l.includes('"what":"scrape_snapshot"'),
      ),
    ).toBe(true);
    await laneKeptItsMessage();
    proxy.resume();
    await deadLetter('ORD-SCRAPE');
    await eventually(async () => {
      const { queues } = await snapshot();
      return queues.some((q) => q.queue === 'dead_letter' && q.count === 1);
    }, BROKER_MS);
    expect(held).toHaveLength(1);
    expect(lost).toBe(0);
  });

  it('scrape snapshot: a depth read and its channel’s close not answered leave the depths out within the bounds without requeueing the consumer’s unacked message', async () => {
    const snapshot = scrapeSnapshot({ config, redis, queues: {}, amqp: connection });
    const before = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'scrape_snapshot' });
    proxy.stallAt(AMQP_METHOD.queueDeclare);
    const scrape = await within(snapshot());
    expect(scrape.outcome === 'hung' ? scrape.outcome : scrape.outcome.queues).toEqual([]);
    expect(scrape.ms).toBeLessThan(2 * BOUND_MS + 1000);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'scrape_snapshot' })).toBe(before + 1);
    await laneKeptItsMessage();
    proxy.resume();
    await eventually(async () => (await snapshot()).queues.length === 2, BROKER_MS);
    expect(held).toHaveLength(1);
  });
});

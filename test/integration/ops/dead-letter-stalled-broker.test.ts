/**
 * The dead-letter paths and the backlog probe against a broker that accepts the connection and then stops
 * answering (real RabbitMQ and Redis, own namespace; a proxy that stops forwarding at a chosen AMQP call): each
 * call is given up within `amqp.publish_timeout_ms` with an error naming it, said in a log line and counted;
 * the operator's command exits non-zero and its connection's close does not hang; and no message is lost or
 * duplicated (what was got but not moved goes back to its queue once the connection is dropped).
 */
import net, { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { BacklogProbe } from '../../../src/admission/backlog-probe';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { BrokerTimeoutError } from '../../../src/amqp/broker-deadline';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { parkedQueueOf } from '../../../src/amqp/topology';
import { opsDeadLetterUnpark } from '../../../src/cli/ops-commands';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { DeadLetterArchiver } from '../../../src/ops/dead-letter-archiver';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const BOUND_MS = 300;
/**
 * A wait for what another process does (RabbitMQ requeueing, answering a connection, the socket's close reaching
 * the proxy): generous, as CI runs this file beside others on a loaded machine; a bound the test proves is asserted
 * on its own (`ms`), never through these waits.
 */
const BROKER_MS = 15_000;
// Above the sum of one test's broker waits (up to three, plus `within`'s 5 s hang guards).
jest.setTimeout(90_000);

describe('dead-letter paths and the backlog probe with a broker that stops answering (real RabbitMQ and Redis)', () => {
  let proxy: AmqpStallProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const opened: Array<{ close(): Promise<void> }> = [];

  beforeEach(async () => {
    proxy = await startAmqpStallProxy();
    // Own namespace per test; the code under test reaches the broker through the proxy, the test's own client directly.
    config = testConfig({ 'amqp.url': proxy.url, 'amqp.publish_timeout_ms': BOUND_MS, 'amqp.reconnect_ms': 50, 'backpressure.depth_cache_ms': 1 });
    client = await amqpClient(config);
  });

  afterEach(async () => {
    proxy.cut();
    for (const o of opened.splice(0)) await o.close();
    await proxy.close();
    // One key a DEL: on Redis Cluster the namespace's keys (the archive's, the audit stream's) are in several slots.
    const redis = createRedis(config.redis, 'commands', captureLogger('error').logger);
    const keys = await redis.keys(`${config.redis.keyPrefix}*`);
    await Promise.all(keys.map((k) => redis.del(k)));
    redis.disconnect();
    await client.deleteNamespace();
    await client.close();
  });

  const depth = (queue: string) => client.queueDepth(queue);

  /** `n` messages in the parking queue, as parking leaves them. */
  async function park(n: number): Promise<void> {
    const ch = await client.model.createConfirmChannel();
    for (let i = 0; i < n; i += 1) {
      ch.sendToQueue(parkedQueueOf(config.amqp), Buffer.from(JSON.stringify({ order_id: `ORD-STALL-${i}` })), {
        persistent: true,
        headers: { 'x-pb-parked-reason': 'could not be read (SyntaxError)', 'x-pb-parked-at': '2026-01-02T03:04:05.000Z' },
      });
    }
    await ch.waitForConfirms();
    await ch.close();
  }

  function ops(): { ctx: OpsContext; logs: ReturnType<typeof captureLogger> } {
    const logs = captureLogger('info');
    const ctx = openOps(config, logs.logger, { service: 'ops', auditStream: new PassThrough() });
    opened.push(ctx);
    return { ctx, logs };
  }

  const io = () => ({ out: new PassThrough(), err: new PassThrough(), actor: 'tester@ci' });

  /** Resolves with `work`'s outcome, or 'hung' after 5 s: a hang fails the test rather than the suite's timeout. */
  async function within<T>(work: Promise<T>): Promise<{ outcome: T | 'hung'; ms: number }> {
    const started = Date.now();
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000).unref());
    const outcome = await Promise.race([work, hung]);
    return { outcome, ms: Date.now() - started };
  }

  it('unpark: a read not answered stops the run within its bound, exit 1; the message got is back in the parking queue, none lost or doubled', async () => {
    await park(3);
    const { ctx, logs } = ops();
    const before = await metricValue('pb_amqp_call_timeouts_total', { what: 'dead_letter_unpark' });
    // The first message moves; the broker never sees the second read (nor anything after it).
    proxy.stallAt(AMQP_METHOD.basicGet, 2);
    const run = await within(opsDeadLetterUnpark(ctx, io(), { execute: true, json: true }));
    expect(run.outcome).toBe(1);
    // The read's bound, then the channel's close (not answered either: the connection is dropped).
    expect(run.ms).toBeLessThan(4 * BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    const failed = (await ctx.audit.recent(5)).find((e) => e.action === 'ops.dead_letters_unpark');
    expect(failed).toMatchObject({ outcome: 'failed', detail: { moved: 1, parked: 3 } });
    expect(String(failed?.detail?.failure)).toBe(
      `BrokerTimeoutError: rabbitmq: timed out reading ${parkedQueueOf(config.amqp)} after ${BOUND_MS} ms; what was not moved stays parked`,
    );
    expect(logs.lines.some((l) => l.includes('rabbitmq did not answer in time') && l.includes('"what":"dead_letter_unpark"'))).toBe(true);
    expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'dead_letter_unpark' })).toBe(before + 1);
    // The command's exit (its connection's close) does not hang either.
    expect((await within(ctx.close())).outcome).toBeUndefined();
    // Once the broker sees the connection go, what it handed out unacked is back: 1 moved, 2 parked, 3 in all.
    await eventually(async () => (await depth(parkedQueueOf(config.amqp))) === 2, BROKER_MS);
    expect(await depth(config.amqp.deadLetterQueue)).toBe(1);
  });

  it('unpark: a channel not opened in time fails the command (audited) and its exit does not hang; nothing moved', async () => {
    await park(2);
    const { ctx } = ops();
    proxy.stallAt(AMQP_METHOD.channelOpen);
    const run = await within(opsDeadLetterUnpark(ctx, io(), { execute: true }).catch((err: unknown) => err));
    expect(run.outcome).toBeInstanceOf(BrokerTimeoutError);
    expect((run.outcome as Error).message).toBe(`rabbitmq: timed out opening a channel after ${BOUND_MS} ms`);
    expect(run.ms).toBeLessThan(BOUND_MS + 1000);
    expect((await ctx.audit.recent(5)).find((e) => e.action === 'ops.dead_letters_unpark')).toMatchObject({ outcome: 'failed' });
    // The connection is silent: its close is bounded (`amqp.publish_timeout_ms`), then its socket dropped.
    const closing = await within(ctx.close());
    expect(closing.outcome).toBeUndefined();
    expect(closing.ms).toBeLessThan(BOUND_MS + 1000);
    expect(await depth(parkedQueueOf(config.amqp))).toBe(2);
    expect(await depth(config.amqp.deadLetterQueue)).toBe(0);
  });

  it("console: an archive-now whose read is not answered ends only a connection of its own; a replay's publish meanwhile is confirmed on the console's connection", async () => {
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, Buffer.from('{"order_id":"ORD-STALL-NOW"}'), { persistent: true, headers: { 'x-pb-code': 'INVALID_PARAMS' } });
    await ch.waitForConfirms();
    await ch.close();
    const logs = captureLogger('info');
    const ctx = openOps(config, logs.logger, { service: 'web', auditStream: new PassThrough() });
    opened.push(ctx);
    // The replay's publisher (what another operator's replay publishes through), on the console's connection.
    const publisher = (ctx.replay as unknown as { deps: { publisher: ConfirmPublisher } }).deps.publisher;
    await publisher.publish('', config.amqp.commandsQueue, Buffer.from('{"order_id":"ORD-REPLAY-BEFORE"}'));
    // The broker never answers the archive's read (nor anything after it on that connection).
    proxy.stallAt(AMQP_METHOD.basicGet);
    const archiving = within(ctx.importDeadLetters().catch((err: unknown) => err));
    await eventually(() => proxy.stalled === 1, BROKER_MS);
    const replaying = await within(publisher.publish('', config.amqp.commandsQueue, Buffer.from('{"order_id":"ORD-REPLAY-DURING"}')).then(() => 'confirmed'));
    expect(replaying.outcome).toBe('confirmed');
    const archived = await archiving;
    expect(archived.outcome).toBeInstanceOf(BrokerTimeoutError);
    expect(archived.ms).toBeLessThan(2 * BOUND_MS + 1000);
    expect(await depth(config.amqp.commandsQueue)).toBe(2);
    // The archive's own connection was ended, and the broker requeued its read.
    await eventually(async () => (await depth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
    // The next archive-now works (a new connection of its own).
    expect(await ctx.importDeadLetters()).toMatchObject({ moved: 1, created: 1 });
  });

  it("console stop: an archive-now under way (its read not answered yet) has its connection closed by the context's close, within the bound", async () => {
    const bound = 2000;
    config = { ...config, amqp: { ...config.amqp, publishTimeoutMs: bound } };
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, Buffer.from('{"order_id":"ORD-STOP-NOW"}'), { persistent: true, headers: { 'x-pb-code': 'INVALID_PARAMS' } });
    await ch.waitForConfirms();
    await ch.close();
    const ctx = openOps(config, captureLogger('info').logger, { service: 'web', auditStream: new PassThrough() });
    opened.push(ctx);
    proxy.stallAt(AMQP_METHOD.basicGet);
    const archiving = ctx.importDeadLetters().catch((err: unknown) => err);
    await eventually(() => proxy.stalled === 1, BROKER_MS);
    expect(proxy.open).toBe(1);
    const closing = await within(ctx.close());
    expect(closing.outcome).toBeUndefined();
    // Its close is not answered either (the node is silent): bounded, then its socket dropped.
    expect(closing.ms).toBeLessThan(bound + 1000);
    // The dropped socket reaches the proxy as a close event; one left open never does, so a generous wait still
    // tells them apart where 500 ms lost to a stalled CI machine did not.
    await eventually(() => proxy.open === 0, BROKER_MS, 10);
    expect(await archiving).toBeInstanceOf(Error);
    // An action after the close opens nothing.
    await expect(ctx.importDeadLetters()).rejects.toThrow('rabbitmq: connection closed');
    expect(proxy.open).toBe(0);
    // The broker requeued the read once the connection went.
    await eventually(async () => (await depth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
  });

  describe('console on a cluster: an archive-now after one whose node went silent goes to another node, not the silent one again', () => {
    const direct = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

    /** Two dead letters in the dead-letter queue, and a console's context on `urls` (the silent node first). */
    async function consoleOn(urls: string[]): Promise<OpsContext> {
      const ch = await client.model.createConfirmChannel();
      for (const order of ['ORD-NODE-A', 'ORD-NODE-B'])
        ch.sendToQueue(config.amqp.deadLetterQueue, Buffer.from(JSON.stringify({ order_id: order })), {
          persistent: true,
          headers: { 'x-pb-code': 'INVALID_PARAMS' },
        });
      await ch.waitForConfirms();
      await ch.close();
      config = { ...config, amqp: { ...config.amqp, urls } };
      const ctx = openOps(config, captureLogger('info').logger, { service: 'web', auditStream: new PassThrough() });
      opened.push(ctx);
      return ctx;
    }

    it('a node whose read went unanswered (its connection dropped): the next archive-now connects to the next node and moves what the first left', async () => {
      const ctx = await consoleOn([proxy.url, direct]);
      proxy.stallAt(AMQP_METHOD.basicGet);
      const first = await within(ctx.importDeadLetters().catch((err: unknown) => err));
      expect(first.outcome).toBeInstanceOf(BrokerTimeoutError);
      await eventually(async () => (await depth(config.amqp.deadLetterQueue)) === 2, BROKER_MS);
      // The node is still silent: an archive-now that went back to it would time out again.
      proxy.stallAt(AMQP_METHOD.basicGet);
      const second = await within(ctx.importDeadLetters().catch((err: unknown) => err));
      expect(second.outcome).toMatchObject({ moved: 2, created: 2 });
      expect(proxy.stalled).toBe(1);
    });

    it('a node that accepts the connection and never answers it: the next archive-now connects to the next node', async () => {
      const held = new Set<Socket>();
      const silent = net.createServer((s) => {
        held.add(s);
        s.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      opened.push({
        close: () =>
          new Promise<void>((resolve) => {
            for (const s of held) s.destroy();
            silent.close(() => resolve());
          }),
      });
      const ctx = await consoleOn([`amqp://guest:guest@127.0.0.1:${(silent.address() as AddressInfo).port}`, direct]);
      const first = await within(ctx.importDeadLetters().catch((err: unknown) => err));
      expect((first.outcome as Error).message).toBe(`RabbitMQ did not answer within ${BOUND_MS} ms`);
      const second = await within(ctx.importDeadLetters().catch((err: unknown) => err));
      expect(second.outcome).toMatchObject({ moved: 2, created: 2 });
    });
  });

  it('archiving pass: a read not answered fails the pass within its bound (counted); the dead letter stays in the queue', async () => {
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, Buffer.from('{"order_id":"ORD-STALL-ARCH"}'), { persistent: true, headers: { 'x-pb-code': 'INVALID_PARAMS' } });
    await ch.waitForConfirms();
    await ch.close();
    const logs = captureLogger('info');
    const connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: logs.logger, closeTimeoutMs: BOUND_MS });
    opened.push(connection);
    await connection.connect();
    const redis: RedisClient = createRedis(config.redis, 'commands', logs.logger);
    opened.push({ close: async () => redis.disconnect() });
    const store = new DeadLetterStore(redis, config.redis.keyPrefix);
    const failures = await metricValue('pb_dead_letter_archive_failures_total');
    proxy.stallAt(AMQP_METHOD.basicGet);
    const archiver = new DeadLetterArchiver({ store, connection, amqp: config.amqp, logger: logs.logger, intervalMs: 0 });
    const pass = await within(archiver.runOnce());
    expect(pass.outcome).toBeUndefined();
    expect(pass.ms).toBeLessThan(2 * BOUND_MS + 1000);
    expect(await metricValue('pb_dead_letter_archive_failures_total')).toBe(failures + 1);
    expect(logs.lines.some((l) => l.includes('dead-letter archiving failed') && l.includes(`timed out reading ${config.amqp.deadLetterQueue}`))).toBe(true);
    // The worker's shutdown is not held either.
    expect((await within(archiver.stop())).outcome).toBeUndefined();
    await eventually(async () => (await depth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
    expect(await store.count()).toBe(0);
  });

  it('backlog probe: a first read not answered leaves the depth unknown within its bound, and the next read is not held behind it', async () => {
    const logs = captureLogger('info');
    const connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: logs.logger, closeTimeoutMs: BOUND_MS });
    opened.push(connection);
    await connection.connect();
    const probe = new BacklogProbe({ config, connection, logger: logs.logger });
    opened.push(probe);
    const before = await metricValue('pb_amqp_call_timeouts_total', { what: 'backlog_probe' });
    // The first read (the one a request waits for): its channel never opens. The silent connection is dropped.
    proxy.stallAt(AMQP_METHOD.channelOpen);
    const first = await within(probe.depth());
    expect(first.outcome).toBeNull();
    expect(first.ms).toBeLessThan(BOUND_MS + 1000);
    expect(logs.lines.some((l) => l.includes('commands queue depth unreadable') && l.includes('timed out opening a channel'))).toBe(true);
    // A read on a channel that opened (on the connection come back): the count itself is never answered.
    await eventually(() => connection.connected, BROKER_MS);
    proxy.stallAt(AMQP_METHOD.queueDeclare);
    await eventually(async () => (await within(probe.depth())).outcome === null && proxy.stalled === 2, BROKER_MS);
    expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'backlog_probe' })).toBeGreaterThanOrEqual(before + 2);
    expect(logs.lines.some((l) => l.includes('rabbitmq did not answer in time') && l.includes(`"call":"counting ${config.amqp.commandsQueue}"`))).toBe(true);
    // Reads go on once the broker answers again (the silent connection was dropped and came back).
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.commandsQueue, Buffer.from('{}'), { persistent: true });
    await ch.waitForConfirms();
    await ch.close();
    await eventually(async () => (await probe.depth()) === 1, BROKER_MS);
  });

  it('a connection whose close is not answered is closed within its bound (the socket dropped)', async () => {
    const logs = captureLogger('info');
    const connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: logs.logger, closeTimeoutMs: BOUND_MS });
    await connection.connect();
    proxy.stallAt(AMQP_METHOD.connectionClose);
    const closing = await within(connection.close());
    expect(closing.outcome).toBeUndefined();
    expect(closing.ms).toBeLessThan(BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    expect(logs.lines.some((l) => l.includes('amqp connection did not close in time'))).toBe(true);
  });
});

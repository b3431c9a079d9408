/**
 * The backlog probe's and the confirm publisher's close at a process's shutdown against a broker that accepts the
 * connection and then stops answering (real RabbitMQ, own namespace; a proxy that stops forwarding at a chosen AMQP
 * call): each close returns within `amqp.publish_timeout_ms`, counted in `pb_amqp_channel_close_timeouts_total{what}`
 * and said in a warn line, without dropping the shared connection. And a publisher channel retired outside a
 * shutdown, whose close is not answered, never drops the connection a consumer holds unacked messages on.
 */
import { Channel, ConsumeMessage } from 'amqplib';
import { BacklogProbe } from '../../../src/admission/backlog-probe';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { declareTopology } from '../../../src/amqp/topology';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const BOUND_MS = 300;

describe('shutdown closes with a broker that stops answering (real RabbitMQ)', () => {
  let proxy: AmqpStallProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let logs: ReturnType<typeof captureLogger>;
  let connection: AmqpConnection;
  let lost: number;

  beforeEach(async () => {
    proxy = await startAmqpStallProxy();
    // Own namespace per test; the code under test reaches the broker through the proxy, the test's own client directly.
    config = testConfig({ 'amqp.url': proxy.url, 'amqp.publish_timeout_ms': BOUND_MS, 'amqp.reconnect_ms': 50, 'backpressure.depth_cache_ms': 1 });
    client = await amqpClient(config);
    logs = captureLogger('info');
    connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: logs.logger, closeTimeoutMs: BOUND_MS });
    lost = 0;
    connection.on('lost', () => (lost += 1));
    await connection.connect();
  });

  afterEach(async () => {
    proxy.cut();
    await connection.close();
    await proxy.close();
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

  const gaveUp = (what: string) =>
    logs.lines.some((l) => l.includes('amqp channel did not close in time: the close is given up') && l.includes(`"what":"${what}"`));

  it('backlog probe: a close the broker does not answer returns within the bound, counted and logged, and the connection is not dropped', async () => {
    const probe = new BacklogProbe({ config, connection, logger: logs.logger });
    expect(await probe.depth()).toBe(0);
    const before = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'backlog_probe' });
    proxy.stallAt(AMQP_METHOD.channelClose);
    const closing = await within(probe.close());
    expect(closing.outcome).toBeUndefined();
    expect(closing.ms).toBeLessThan(BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'backlog_probe' })).toBe(before + 1);
    expect(gaveUp('backlog_probe')).toBe(true);
    // Given up, not dropped: the publisher still closes on this connection; the connection's own close ends it.
    expect(connection.connected).toBe(true);
    expect(lost).toBe(0);
    expect((await within(connection.close())).ms).toBeLessThan(BOUND_MS + 1000);
  });

  it('confirm publisher: a close the broker does not answer returns within the bound, counted and logged, and the connection is not dropped', async () => {
    const publisher = new ConfirmPublisher(connection, BOUND_MS, (ch) => declareTopology(ch, config.amqp));
    await publisher.publish('', config.amqp.commandsQueue, Buffer.from('{}'));
    const before = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'confirm_publisher' });
    proxy.stallAt(AMQP_METHOD.channelClose);
    const closing = await within(publisher.close());
    expect(closing.outcome).toBeUndefined();
    expect(closing.ms).toBeLessThan(BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'confirm_publisher' })).toBe(before + 1);
    expect(gaveUp('confirm_publisher')).toBe(true);
    expect(connection.connected).toBe(true);
    expect(lost).toBe(0);
  });

  it('confirm publisher: a close while its channel opening is not answered returns within the bound, counted', async () => {
    const publisher = new ConfirmPublisher(connection, BOUND_MS, (ch) => declareTopology(ch, config.amqp));
    const before = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'confirm_publisher' });
    proxy.stallAt(AMQP_METHOD.channelOpen);
    const publishing = publisher.publish('', config.amqp.commandsQueue, Buffer.from('{}')).catch((err: unknown) => err);
    const closing = await within(publisher.close());
    expect(closing.outcome).toBeUndefined();
    expect(closing.ms).toBeLessThan(BOUND_MS + 1000);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'confirm_publisher' })).toBe(before + 1);
    expect(gaveUp('confirm_publisher')).toBe(true);
    expect(await publishing).toBeInstanceOf(Error);
  });

  it('a publisher channel retired outside a shutdown whose close is not answered leaves the connection up: the consumer on it keeps its unacked message (not requeued)', async () => {
    // A consumer lane's channel on the same connection, holding one message unacked (its PSP call under way).
    const lane: Channel = await connection.current().createChannel();
    await lane.prefetch(1);
    const held: ConsumeMessage[] = [];
    await lane.consume(config.amqp.commandsQueue, (msg) => {
      if (msg) held.push(msg);
    });
    const publisher = new ConfirmPublisher(connection, BOUND_MS, (ch) => declareTopology(ch, config.amqp));
    await publisher.publish('', config.amqp.commandsQueue, Buffer.from('{"n":1}'));
    await eventually(() => held.length === 1, 5000);
    expect(held[0].fields.redelivered).toBe(false);
    // An unroutable publish retires its channel; its close, a publish timeout later, is never answered.
    proxy.stallAt(AMQP_METHOD.channelClose);
    await expect(publisher.publish('', `${config.amqp.commandsQueue}:missing`, Buffer.from('{}'))).rejects.toThrow(/unroutable/);
    await eventually(() => proxy.stalled === 1, 5000);
    // Well past the retire's delay and any close bound.
    await new Promise((r) => setTimeout(r, 3 * BOUND_MS + 500));
    expect(connection.connected).toBe(true);
    expect(lost).toBe(0);
    // Not back in the queue: the broker still holds it unacked for the consumer.
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
    expect(held).toHaveLength(1);
  });
});

import amqp from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually, startTcpProxy, TcpProxy } from '../../support/tcp-proxy';
import { testNamespace } from '../../support/test-config';
import { freePort } from '../../../harness/twins/local-stack/local-stack';

// Two "nodes" are two TCP proxies in front of the one shared broker: cutting one is a node gone for this
// connection only. The real cluster (a node stopped) is test/integration/amqp/rabbit-cluster.test.ts.
jest.setTimeout(60000);

const BROKER = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const brokerPort = Number(new URL(BROKER).port || 5672);

describe('AmqpConnection with several broker URLs', () => {
  const proxies: TcpProxy[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const p of proxies.splice(0)) await p.close();
  });
  const proxy = async () => {
    const p = await startTcpProxy(brokerPort);
    proxies.push(p);
    return p;
  };

  it('skips a node that refuses and connects to the next one in order', async () => {
    const b = await proxy();
    const dead = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
    const connection = new AmqpConnection({ urls: [dead, b.url('amqp', 'guest:guest')], reconnectMs: 50, logger: captureLogger('error').logger });
    closers.push(() => connection.close());
    await connection.connect();
    expect(connection.currentNode).toBe(`127.0.0.1:${b.port}`);
  });

  it('a lost connection comes back on the next node at once, and a publish unconfirmed when its node died is sent again there, exactly once on the queue', async () => {
    const a = await proxy();
    const b = await proxy();
    const queue = `${testNamespace()}:failover`;
    const { logger, lines } = captureLogger('warn');
    // reconnect_ms far above the test's waits: only the immediate switch to the next node can pass.
    const connection = new AmqpConnection({ urls: [a.url('amqp', 'guest:guest'), b.url('amqp', 'guest:guest')], reconnectMs: 30000, logger });
    closers.push(() => connection.close());
    const publisher = new ConfirmPublisher(connection, 10000, async (ch) => {
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    });
    closers.push(() => publisher.close());
    const direct = await amqp.connect(BROKER);
    closers.push(() => direct.close());
    const inspect = await direct.createChannel();
    closers.push(() => inspect.deleteQueue(queue));
    await connection.connect();
    await publisher.publish('', queue, Buffer.from('before'));
    expect(connection.currentNode).toBe(`127.0.0.1:${a.port}`);
    const switches = await metricValue('pb_amqp_node_switches_total');
    const resent = await metricValue('pb_amqp_publish_resent_total');

    // Node A goes silent with the publish on its way (never reaches the broker), then dies.
    a.hold();
    const inFlight = publisher.publish('', queue, Buffer.from('in-flight'));
    await new Promise((r) => setTimeout(r, 200));
    a.cut();
    await inFlight;
    expect(connection.currentNode).toBe(`127.0.0.1:${b.port}`);
    await publisher.publish('', queue, Buffer.from('after'));

    const bodies: string[] = [];
    for (;;) {
      const msg = await inspect.get(queue, { noAck: true });
      if (!msg) break;
      bodies.push(msg.content.toString());
    }
    expect(bodies.sort()).toEqual(['after', 'before', 'in-flight']);
    expect(await metricValue('pb_amqp_node_switches_total')).toBe(switches + 1);
    expect(await metricValue('pb_amqp_publish_resent_total')).toBe(resent + 1);
    expect(lines.some((l) => l.includes('amqp connected to another broker node') && l.includes(`127.0.0.1:${b.port}`))).toBe(true);
    // Never the credentials.
    expect(lines.join('\n')).not.toContain('guest:guest');
  });

  it('with several nodes, a publish made while reconnecting waits for the survivor instead of failing', async () => {
    const a = await proxy();
    const b = await proxy();
    const queue = `${testNamespace()}:failover-wait`;
    const connection = new AmqpConnection({
      urls: [a.url('amqp', 'guest:guest'), b.url('amqp', 'guest:guest')],
      reconnectMs: 30000,
      logger: captureLogger('error').logger,
    });
    closers.push(() => connection.close());
    const publisher = new ConfirmPublisher(connection, 10000, async (ch) => {
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    });
    closers.push(() => publisher.close());
    const direct = await amqp.connect(BROKER);
    closers.push(() => direct.close());
    const inspect = await direct.createChannel();
    closers.push(() => inspect.deleteQueue(queue));
    await connection.connect();
    a.cut();
    await eventually(() => !connection.connected || connection.currentNode === `127.0.0.1:${b.port}`);
    await publisher.publish('', queue, Buffer.from('during'));
    expect((await inspect.checkQueue(queue)).messageCount).toBe(1);
  });
});

import amqp, { Channel, ChannelModel } from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { testNamespace } from '../../support/test-config';

jest.setTimeout(30000);

const BROKER = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('ConfirmPublisher and unroutable messages', () => {
  const ns = testNamespace();
  const exchange = `${ns}.commands`;
  const queue = `${ns}:payment:command`;
  const unbound = `${ns}.unbound`;
  const { logger, lines } = captureLogger('info');
  let connection: AmqpConnection;
  let publisher: ConfirmPublisher;
  let direct: ChannelModel;
  let inspect: Channel;

  beforeAll(async () => {
    connection = new AmqpConnection({ url: BROKER, logger });
    await connection.connect();
    // What a process's setup does: declare the exchange, the queue and the binding on every new channel.
    publisher = new ConfirmPublisher(connection, 5000, async (ch) => {
      await ch.assertExchange(exchange, 'topic', { durable: true });
      await ch.assertExchange(unbound, 'topic', { durable: true });
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
      await ch.bindQueue(queue, exchange, '#');
    });
    direct = await amqp.connect(BROKER);
    inspect = await direct.createChannel();
  });

  afterAll(async () => {
    await publisher.close();
    await connection.close();
    await inspect.deleteQueue(queue).catch(() => undefined);
    await inspect.deleteExchange(exchange).catch(() => undefined);
    await inspect.deleteExchange(unbound).catch(() => undefined);
    await direct.close().catch(() => undefined);
  });

  const body = (marker: string) => Buffer.from(JSON.stringify({ note: marker }));

  it('confirms a publish a queue took', async () => {
    await publisher.publish(exchange, 'bus.payment.capture', body('routed'), { contentType: 'application/json' });
    const msg = await inspect.get(queue, { noAck: true });
    expect(msg && JSON.parse(msg.content.toString('utf8'))).toEqual({ note: 'routed' });
  });

  it('rejects a publish to an exchange with no queue bound, counts it by exchange and logs the exchange and routing key, never the body', async () => {
    const before = await metricValue('pb_amqp_unroutable_total', { exchange: unbound });
    const err = await publisher.publish(unbound, 'bus.payment.capture', body('secret-body-marker')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect((err as Error).message).toContain('unroutable');
    expect((err as Error).message).toContain(unbound);
    expect(await metricValue('pb_amqp_unroutable_total', { exchange: unbound })).toBe(before + 1);
    const line = lines.find((l) => l.includes('amqp publish unroutable'));
    expect(line).toBeDefined();
    const entry = JSON.parse(line as string) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'error', exchange: unbound, routing_key: 'bus.payment.capture', reply: '312 NO_ROUTE' });
    expect(lines.join('\n')).not.toContain('secret-body-marker');
  });

  it('rejects a publish through the default exchange to a queue that does not exist, counted as (default)', async () => {
    const before = await metricValue('pb_amqp_unroutable_total', { exchange: '(default)' });
    await expect(publisher.publish('', `${ns}:no-such-queue`, body('dead letter'))).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(await metricValue('pb_amqp_unroutable_total', { exchange: '(default)' })).toBe(before + 1);
  });

  it('fails the publish when the binding of the queue goes missing, and the next publish declares the topology again and is routed', async () => {
    await publisher.publish(exchange, 'web.payment.sale', body('before'));
    await inspect.unbindQueue(queue, exchange, '#');
    await expect(publisher.publish(exchange, 'web.payment.sale', body('lost?'))).rejects.toThrow(/unroutable/);
    await publisher.publish(exchange, 'web.payment.sale', body('after'));
    const notes: unknown[] = [];
    for (let msg = await inspect.get(queue, { noAck: true }); msg; msg = await inspect.get(queue, { noAck: true })) {
      notes.push((JSON.parse(msg.content.toString('utf8')) as { note: unknown }).note);
    }
    expect(notes).toEqual(['before', 'after']);
  });
});

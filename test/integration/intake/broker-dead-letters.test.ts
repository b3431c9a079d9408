import amqp from 'amqplib';
import { brokerRejectedQueueOf } from '../../../src/amqp/topology';
import { AUTHENTICATED_CHANNEL_HEADER } from '../../../src/amqp/dead-letter-writer';
import { channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { deadLetterStampKey, stampedChannel } from '../../../src/amqp/dead-letter-stamp';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { TEST_PANS, channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { eventually } from '../../support/tcp-proxy';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';

describe('dead letters the broker makes by itself pass our redaction', () => {
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
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('a message another client rejects without requeue reaches the dead-letter queue redacted, with the broker reason, and nothing unredacted stays behind', async () => {
    const pan = TEST_PANS[0];
    const body = Buffer.from(JSON.stringify({ note: `card ${pan}`, payment: { cvv: '123' } }));
    // A queue with the commands queue's dead-letter exchange, as any queue of the topology may have:
    // rejecting there makes the broker dead-letter the message itself, bypassing our writer.
    const model = await amqp.connect(config.amqp.url);
    const ch = await model.createChannel();
    const side = `${config.amqp.commandsQueue}:side`;
    await ch.assertQueue(side, { durable: false, autoDelete: false, arguments: { 'x-dead-letter-exchange': config.amqp.deadLetterExchange } });
    ch.sendToQueue(side, body);
    let got: amqp.GetMessage | false = false;
    await eventually(async () => (got = await ch.get(side)) !== false);
    ch.nack(got as unknown as amqp.Message, false, false);

    let dead: amqp.GetMessage[] = [];
    await eventually(async () => (dead = dead.concat(await client.drainDeadLetters())).length > 0);
    expect(dead).toHaveLength(1);
    const text = dead[0].content.toString('utf8');
    expect(text).not.toContain(pan);
    expect(text).not.toContain('"123"');
    const headers = dead[0].properties.headers ?? {};
    expect(headers['x-pb-code']).toBe('BROKER_DEAD_LETTERED');
    expect(headers['x-pb-reason']).toBe(`broker_dead_lettered: rejected in ${side}`);
    expect(await client.queueDepth(brokerRejectedQueueOf(config.amqp))).toBe(0);
    // Counted and logged once the write's publish is confirmed, which may come after the copy reaches the queue.
    await eventually(async () => (await metricValue('pb_broker_dead_letters_redacted_total', { reason: 'rejected' })) >= 1);
    await eventually(async () => logs.lines.some((l) => l.includes('message dead-lettered by the broker itself')));
    await ch.deleteQueue(side);
    await model.close();
  });

  it('says which channel signed what the broker dead-lettered when its signature holds, and none when it does not (a replay signs only the first)', async () => {
    const model = await amqp.connect(config.amqp.url);
    const ch = await model.createChannel();
    // Named like a routing key of the web channel: the broker's x-death gives it as the message's routing key.
    const side = `web.payment.side-${config.amqp.commandsQueue}`;
    await ch.assertQueue(side, { durable: false, autoDelete: false, arguments: { 'x-dead-letter-exchange': config.amqp.deadLetterExchange } });
    const signed = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-BROKER-SIGNED' })));
    ch.sendToQueue(side, signed, { headers: channelSignatureHeaders(signed, config.channels.credentials.web![0]) });
    ch.sendToQueue(side, Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: 'ORD-BROKER-UNSIGNED' }))));
    for (let n = 0; n < 2; n += 1) {
      let got: amqp.GetMessage | false = false;
      await eventually(async () => (got = await ch.get(side)) !== false);
      ch.nack(got as unknown as amqp.Message, false, false);
    }
    let dead: amqp.GetMessage[] = [];
    await eventually(async () => (dead = dead.concat(await client.drainDeadLetters())).length >= 2);
    const stamp = (orderId: string) => {
      const m = dead.find((d) => d.content.toString('utf8').includes(orderId))!;
      return stampedChannel(
        deadLetterStampKey(config.serviceBus.secret),
        m.properties.headers?.[AUTHENTICATED_CHANNEL_HEADER] as string | undefined,
        m.content,
      );
    };
    expect(stamp('ORD-BROKER-SIGNED')).toBe('web');
    expect(stamp('ORD-BROKER-UNSIGNED')).toBeUndefined();
    await ch.deleteQueue(side);
    await model.close();
  });

  it('a routing key holding a card number is masked in the dead letter headers', async () => {
    const pan = TEST_PANS[1];
    await client.publish(`web.payment.${pan}`, Buffer.from('{broken'));
    let dead: amqp.GetMessage[] = [];
    await eventually(async () => (dead = dead.concat(await client.drainDeadLetters())).length > 0);
    expect(JSON.stringify(dead[0].properties.headers)).not.toContain(pan);
    expect(dead[0].properties.headers?.['x-pb-code']).toBe('PARSE_ERROR');
  });
});

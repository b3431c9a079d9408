/**
 * The harness's channel publisher on the real broker: a command is "sent" only once a queue took it. A publish
 * nothing is bound for (a drill publishing before the topology exists) is returned by the broker and rejects,
 * naming the routing key, instead of being confirmed and silently dropped.
 */
import amqplib from 'amqplib';
import { ChannelPublisher } from '../../../harness/workload/channel-publisher';
import { amqpClient } from '../../support/amqp-helpers';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const AMQP_URL = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('ChannelPublisher', () => {
  it('rejects a command no queue is bound for, naming the routing key, where it was confirmed and dropped', async () => {
    const config = testConfig();
    // The commands exchange alone: no queue bound to it.
    const connection = await amqplib.connect(AMQP_URL);
    const setup = await connection.createChannel();
    await setup.assertExchange(config.amqp.commandsExchange, 'topic', { durable: true });
    const publisher = await ChannelPublisher.open(config);
    try {
      await expect(publisher.publish(channelCommand('authorize'))).rejects.toThrow(/unroutable: no queue is bound .* for web\.payment\.authorize/);
    } finally {
      await publisher.close();
      await setup.deleteExchange(config.amqp.commandsExchange).catch(() => undefined);
      await connection.close();
    }
  });

  it('resolves once the commands queue took the command, which arrives signed as the channel signs', async () => {
    const config = testConfig();
    const client = await amqpClient(config);
    const publisher = await ChannelPublisher.open(config);
    try {
      const command = channelCommand('authorize');
      await publisher.publish(command);
      const got = await client.model.createChannel().then((ch) => ch.get(config.amqp.commandsQueue, { noAck: true }));
      expect(got).not.toBe(false);
      if (got === false) return;
      expect(JSON.parse(got.content.toString())).toMatchObject({ payment: { operation_reference: command.payment.operation_reference } });
      expect(got.properties.headers).toHaveProperty('x-pb-signature');
    } finally {
      await publisher.close();
      await client.deleteNamespace();
      await client.close();
    }
  });
});

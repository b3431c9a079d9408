import amqplib, { ConfirmChannel } from 'amqplib';
import { commandRoutingKey } from '../../src/amqp/topology';
import { Config } from '../../src/config/config';
import { PaymentCommand } from '../../src/contracts/payment-command';
import { ChannelPublisher, channelHeaders, publishConfirmed } from '../workload/channel-publisher';
import { ChannelKeyring } from '../../src/channels/channel-signature';

/**
 * A channel publisher (web, POS, marketplace) that survives a broker restart: the workload's
 * ChannelPublisher holds one connection for good and has no 'error' listener, so a RabbitMQ restart would
 * crash the drill itself. This one listens for errors, drops a broken connection and reconnects on the
 * next publish; a publish during the outage rejects, and the workload driver retries it like a channel.
 *
 * Returned as a ChannelPublisher so the workload driver can use it unchanged.
 */
export function openResilientPublisher(config: Config): ChannelPublisher {
  let current: { connection: amqplib.ChannelModel; channel: ConfirmChannel } | null = null;
  let opening: Promise<{ connection: amqplib.ChannelModel; channel: ConfirmChannel }> | null = null;
  let closed = false;
  // Every node of a cluster (amqp.url, then amqp.urls): a dropped link reopens on the next one.
  let node = 0;

  const connectAny = async (): Promise<amqplib.ChannelModel> => {
    let last: unknown;
    for (let i = 0; i < config.amqp.urls.length; i += 1) {
      const index = (node + i) % config.amqp.urls.length;
      try {
        const connection = await amqplib.connect(config.amqp.urls[index]);
        node = index;
        return connection;
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error('no broker node reachable');
  };

  const open = async () => {
    const connection = await connectAny();
    const link = { connection, channel: await connection.createConfirmChannel() };
    const drop = () => {
      if (current === link) {
        current = null;
        node = (node + 1) % config.amqp.urls.length;
      }
    };
    // Without these listeners an 'error' event (CONNECTION_FORCED on broker shutdown) is thrown.
    connection.on('error', drop);
    connection.on('close', drop);
    link.channel.on('error', drop);
    link.channel.on('close', drop);
    return link;
  };

  const keyring = new ChannelKeyring(config.channels.credentials, config.serviceBus.secret);
  const publish = (command: PaymentCommand | Record<string, unknown>, channel = String(command.channel), type = String(command.command)): Promise<void> =>
    publishRaw(commandRoutingKey(channel, type), command, channel);

  const publishRaw = async (routingKey: string, payload: object, channel: string): Promise<void> => {
    if (closed) throw new Error('publisher closed');
    if (!current) {
      opening ??= open().finally(() => (opening = null));
      current = await opening;
    }
    const link = current;
    const body = Buffer.from(JSON.stringify(payload));
    try {
      await publishConfirmed(link.channel, config.amqp.commandsExchange, routingKey, body, {
        persistent: true,
        contentType: 'application/json',
        headers: channelHeaders(keyring, channel, body),
      });
    } catch (err) {
      if (current === link) current = null;
      void link.connection.close().catch(() => undefined);
      throw err;
    }
  };

  const close = async (): Promise<void> => {
    closed = true;
    const link = current;
    current = null;
    if (link) await link.connection.close().catch(() => undefined);
  };

  // Own properties shadow the prototype's; nothing of ChannelPublisher's own state is ever touched.
  const publisher = Object.create(ChannelPublisher.prototype) as ChannelPublisher;
  Object.defineProperty(publisher, 'publish', { value: publish });
  Object.defineProperty(publisher, 'publishRaw', { value: publishRaw });
  Object.defineProperty(publisher, 'close', { value: close });
  return publisher;
}

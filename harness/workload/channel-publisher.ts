import amqplib, { ConfirmChannel } from 'amqplib';
import { Config } from '../../src/config/config';
import { commandRoutingKey } from '../../src/amqp/topology';
import { ChannelKeyring, channelSignatureHeaders } from '../../src/channels/channel-signature';
import { PaymentCommand } from '../../src/contracts/payment-command';

/**
 * The headers a channel's publisher puts on a message: its signature under the channel's current key
 * (`channels.credentials`), as every web, POS and marketplace publisher must; none when the channel has no key.
 */
export function channelHeaders(keyring: ChannelKeyring, channel: string, body: Buffer): Record<string, string> {
  const key = keyring.currentKey(channel);
  return key ? channelSignatureHeaders(body, key) : {};
}

/**
 * What the web, POS and marketplace channels do: publish commands straight to the commands exchange,
 * signed with the channel's key, persistent, with publisher confirms (a command is "sent" only once the
 * broker has it).
 */
export class ChannelPublisher {
  private constructor(
    private readonly connection: amqplib.ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
    private readonly keyring: ChannelKeyring,
  ) {}

  static async open(config: Config): Promise<ChannelPublisher> {
    const connection = await amqplib.connect(config.amqp.url, { noDelay: true });
    const channel = await connection.createConfirmChannel();
    return new ChannelPublisher(connection, channel, config.amqp.commandsExchange, new ChannelKeyring(config.channels.credentials, config.serviceBus.secret));
  }

  /** Resolves once the broker confirmed the message (a canonical command, routed `<channel>.payment.<type>`). */
  async publish(command: PaymentCommand | Record<string, unknown>, channel = String(command.channel), type = String(command.command)): Promise<void> {
    await this.publishRaw(commandRoutingKey(channel, type), command, channel);
  }

  /** Publishes any body (a channel's own payload) under a routing key, signed as `channel`. */
  async publishRaw(routingKey: string, payload: object, channel: string): Promise<void> {
    const body = Buffer.from(JSON.stringify(payload));
    await new Promise<void>((resolve, reject) => {
      this.channel.publish(
        this.exchange,
        routingKey,
        body,
        { persistent: true, contentType: 'application/json', headers: channelHeaders(this.keyring, channel, body) },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

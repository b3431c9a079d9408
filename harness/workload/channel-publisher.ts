import amqplib, { ConfirmChannel, Message, Options } from 'amqplib';
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

/** Header naming a harness publish, so the broker's `basic.return` can be matched to it. */
const HARNESS_PUBLISH_ID = 'x-pb-harness-publish-id';
/** Per channel: the harness publishes the broker returned (no queue bound), until their confirm comes. */
const returnedOn = new WeakMap<ConfirmChannel, Set<string>>();
let harnessPublishes = 0;

/**
 * Publishes `mandatory` on a confirm channel and resolves on the broker's confirm. Rejects on a nack, and when the
 * broker returned the message (no queue bound to the routing key: it confirms such a message too, and drops it),
 * so a drill or bench that publishes before the topology exists fails naming that, never counts lost commands.
 */
export function publishConfirmed(channel: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
  let returned = returnedOn.get(channel);
  if (returned === undefined) {
    const ids = new Set<string>();
    returned = ids;
    returnedOn.set(channel, ids);
    // The broker sends basic.return before the confirm of the same message.
    channel.on('return', (msg: Message) => {
      const id = (msg.properties.headers as Record<string, unknown> | undefined)?.[HARNESS_PUBLISH_ID];
      if (typeof id === 'string') ids.add(id);
    });
  }
  const ids = returned;
  const id = String((harnessPublishes += 1));
  return new Promise<void>((resolve, reject) => {
    const headers = { ...(options.headers as Record<string, unknown> | undefined), [HARNESS_PUBLISH_ID]: id };
    channel.publish(exchange, routingKey, body, { ...options, headers, mandatory: true }, (err) => {
      const wasReturned = ids.delete(id);
      if (err) reject(err instanceof Error ? err : new Error('the broker refused the publish (nack)'));
      else if (wasReturned) reject(new Error(`unroutable: no queue is bound to ${exchange} for ${routingKey}; the broker dropped the message`));
      else resolve();
    });
  });
}

/**
 * What the web, POS and marketplace channels do: publish commands straight to the commands exchange,
 * signed with the channel's key, persistent, with publisher confirms (a command is "sent" only once the
 * broker has it: `publishConfirmed`, mandatory).
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
    await publishConfirmed(this.channel, this.exchange, routingKey, body, {
      persistent: true,
      contentType: 'application/json',
      headers: channelHeaders(this.keyring, channel, body),
    });
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

import amqplib, { ConfirmChannel } from 'amqplib';
import { Config } from '../../src/config/config';
import { commandRoutingKey } from '../../src/amqp/topology';
import { PaymentCommand } from '../../src/contracts/payment-command';

/**
 * What the web, POS and marketplace channels do: publish canonical commands straight to the commands
 * exchange, persistent, with publisher confirms (a command is "sent" only once the broker has it).
 */
export class ChannelPublisher {
  private constructor(
    private readonly connection: amqplib.ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
  ) {}

  static async open(config: Config): Promise<ChannelPublisher> {
    const connection = await amqplib.connect(config.amqp.url, { noDelay: true });
    const channel = await connection.createConfirmChannel();
    return new ChannelPublisher(connection, channel, config.amqp.commandsExchange);
  }

  /** Resolves once the broker confirmed the message. */
  async publish(command: PaymentCommand | Record<string, unknown>, channel = String(command.channel), type = String(command.command)): Promise<void> {
    const body = Buffer.from(JSON.stringify(command));
    await new Promise<void>((resolve, reject) => {
      this.channel.publish(this.exchange, commandRoutingKey(channel, type), body, { persistent: true, contentType: 'application/json' }, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

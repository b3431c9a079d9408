import { ConfirmChannel, Options } from 'amqplib';
import { AmqpConnection } from './amqp-connection';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';

/**
 * Publishes persistent messages on a confirm channel and resolves only when the broker has confirmed
 * them (written to disk for durable queues). A nack, a timeout or a lost channel rejects with
 * DependencyUnavailableError: the caller must not report success. The channel is rebuilt lazily after a
 * broker restart.
 */
export class ConfirmPublisher {
  private channel: Promise<ConfirmChannel> | null = null;

  constructor(
    private readonly connection: AmqpConnection,
    /** How long to wait for a confirm, milliseconds. */
    private readonly timeoutMs: number,
    /** Run once on every new channel (e.g. declare topology). */
    private readonly setup: (channel: ConfirmChannel) => Promise<void> = async () => undefined,
  ) {
    connection.on('lost', () => (this.channel = null));
  }

  private getChannel(): Promise<ConfirmChannel> {
    if (!this.channel) {
      const opening = (async () => {
        const ch = await this.connection.confirmChannel();
        ch.on('error', () => undefined);
        ch.on('close', () => {
          if (this.channel === opening) this.channel = null;
        });
        await this.setup(ch);
        return ch;
      })();
      opening.catch(() => {
        if (this.channel === opening) this.channel = null;
      });
      this.channel = opening;
    }
    return this.channel;
  }

  /** Publishes and waits for the broker's confirm. */
  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish = {}): Promise<void> {
    if (!this.connection.connected) {
      // Do not wait for a reconnect loop here: the caller answers "retry later" instead.
      throw new DependencyUnavailableError('rabbitmq', 'broker not connected');
    }
    let channel: ConfirmChannel;
    try {
      channel = await withTimeout(this.getChannel(), this.timeoutMs, 'opening a channel');
    } catch (err) {
      throw err instanceof DependencyUnavailableError ? err : new DependencyUnavailableError('rabbitmq', (err as Error).message, { cause: err });
    }
    // amqplib calls every outstanding confirm callback with an error if the channel closes first.
    const confirmed = new Promise<void>((resolve, reject) => {
      try {
        channel.publish(exchange, routingKey, content, { persistent: true, ...options }, (err) =>
          err ? reject(new DependencyUnavailableError('rabbitmq', 'publish was nacked by the broker')) : resolve(),
        );
      } catch (err) {
        reject(new DependencyUnavailableError('rabbitmq', (err as Error).message, { cause: err }));
      }
    });
    await withTimeout(confirmed, this.timeoutMs, 'waiting for the publish confirm');
  }

  async close(): Promise<void> {
    const ch = this.channel;
    this.channel = null;
    if (ch) await ch.then((c) => c.close()).catch(() => undefined);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new DependencyUnavailableError('rabbitmq', `timed out ${what} after ${ms} ms`)), ms);
    }),
  ]);
}

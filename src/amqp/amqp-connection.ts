import { EventEmitter } from 'node:events';
import amqp, { ChannelModel, ConfirmChannel } from 'amqplib';
import { Logger } from '../logging/logger';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';

/** Options of the resilient AMQP connection. */
export interface AmqpConnectionOptions {
  url: string;
  /** Delay between reconnection attempts, milliseconds. Default 1000. */
  reconnectMs?: number;
  /** Name shown in the broker's connection list. */
  name?: string;
  logger: Logger;
}

/**
 * One AMQP connection that comes back after the broker restarts. Emits `ready` (with the new
 * ChannelModel) after every (re)connection, so publishers and consumers rebuild their channels;
 * `close()` stops reconnecting. Messages unacked on a lost channel are redelivered by the broker.
 */
export class AmqpConnection extends EventEmitter {
  private model: ChannelModel | null = null;
  private closing = false;
  private connecting: Promise<ChannelModel> | null = null;
  private readonly reconnectMs: number;

  constructor(private readonly options: AmqpConnectionOptions) {
    super();
    this.reconnectMs = options.reconnectMs ?? 1000;
  }

  /** Connects (retrying until it succeeds or `close()` is called) and resolves with the live model. */
  async connect(): Promise<ChannelModel> {
    if (this.model) return this.model;
    if (!this.connecting) this.connecting = this.connectLoop().finally(() => (this.connecting = null));
    return this.connecting;
  }

  /** The current connection, or an error saying the broker is unavailable. */
  current(): ChannelModel {
    if (!this.model) throw new DependencyUnavailableError('rabbitmq', 'not connected');
    return this.model;
  }

  get connected(): boolean {
    return this.model !== null;
  }

  private async connectLoop(): Promise<ChannelModel> {
    let attempt = 0;
    for (;;) {
      if (this.closing) throw new DependencyUnavailableError('rabbitmq', 'connection closed');
      try {
        const model = await amqp.connect(this.options.url, {
          clientProperties: { connection_name: this.options.name ?? 'payment-bridge' },
          timeout: 5000,
          // No Nagle: a confirm-waiting publish or a lone ack must not sit out a delayed-ACK round (~40 ms).
          noDelay: true,
        });
        model.on('error', (err: Error) => this.options.logger.warn('amqp connection error', { error: err.message }));
        model.on('close', () => this.onClose(model));
        this.model = model;
        if (attempt > 0) this.options.logger.info('amqp reconnected', { attempts: attempt });
        this.emit('ready', model);
        return model;
      } catch (err) {
        attempt += 1;
        if (attempt === 1 || attempt % 30 === 0) {
          this.options.logger.warn('amqp connect failed; retrying', { error: (err as Error).message, attempt });
        }
        await new Promise((r) => setTimeout(r, this.reconnectMs));
      }
    }
  }

  private onClose(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = null;
    this.emit('lost');
    if (this.closing) return;
    this.options.logger.warn('amqp connection lost; reconnecting');
    setTimeout(() => void this.connect().catch(() => undefined), this.reconnectMs);
  }

  async close(): Promise<void> {
    this.closing = true;
    const model = this.model;
    this.model = null;
    if (model) await model.close().catch(() => undefined);
  }

  /** Opens a confirm channel on the current connection. */
  async confirmChannel(): Promise<ConfirmChannel> {
    const model = await this.connect();
    return model.createConfirmChannel();
  }
}

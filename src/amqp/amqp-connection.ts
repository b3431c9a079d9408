import { EventEmitter } from 'node:events';
import amqp, { ChannelModel, ConfirmChannel } from 'amqplib';
import { Logger } from '../logging/logger';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { counter } from '../metrics/metrics-registry';
import { coalesceFrameWrites } from './frame-write-coalescing';
import { ShutdownBudget } from './shutdown-budget';

/** Options of the resilient AMQP connection. */
export interface AmqpConnectionOptions {
  /** One broker node. Ignored when `urls` lists any. */
  url?: string;
  /**
   * The nodes of a cluster, tried in this order on the first connect; a lost connection goes on with the next
   * node in rotation (`amqp.url` then `amqp.urls`: `Config['amqp']['urls']`).
   */
  urls?: readonly string[];
  /** Delay before trying the same node again (after a full round of failed nodes), milliseconds. Default 1000. */
  reconnectMs?: number;
  /** Name shown in the broker's connection list. */
  name?: string;
  /**
   * Longest wait for the broker's answer to `close()`, milliseconds; past it the socket is destroyed (the broker
   * requeues what the connection held unacked once it sees it go). Default 5000.
   */
  closeTimeoutMs?: number;
  /**
   * Index in the nodes of the one the first connect tries first (default 0): a holder that opens one connection after
   * another (the ops tools' archive-now and unpark) starts where the last one worked, not at a node gone silent.
   */
  firstNode?: number;
  logger: Logger;
}

const nodeSwitches = () =>
  counter('pb_amqp_node_switches_total', 'AMQP (re)connections that landed on another broker node than the previous connection (cluster failover)');

/**
 * One AMQP connection that comes back after the broker restarts, or on another node of the cluster when its
 * node stops. Emits `ready` (with the new ChannelModel) after every (re)connection, so publishers and
 * consumers rebuild their channels, and `lost` when it drops; `close()` stops reconnecting. Messages
 * unacked on a lost channel are redelivered by the broker.
 *
 * With several nodes, a lost connection tries the next node at once (the lost one is likely down) and waits
 * `reconnectMs` only after every node refused; a single node is retried every `reconnectMs`.
 */
export class AmqpConnection extends EventEmitter {
  private model: ChannelModel | null = null;
  private closing = false;
  private connecting: Promise<ChannelModel> | null = null;
  private readonly reconnectMs: number;
  private readonly urls: readonly string[];
  /** Index of the node to try first on the next connect. */
  private nextNode = 0;
  /** Index of the node of the live (or last) connection, -1 before the first. */
  private node = -1;

  constructor(private readonly options: AmqpConnectionOptions) {
    super();
    this.reconnectMs = options.reconnectMs ?? 1000;
    const urls = options.urls && options.urls.length > 0 ? options.urls : options.url ? [options.url] : [];
    if (urls.length === 0) throw new Error('AmqpConnection needs url or urls');
    this.urls = urls;
    this.nextNode = Math.max(0, Math.trunc(options.firstNode ?? 0)) % urls.length;
    // Publishers and consumers each listen; a process has a handful of them.
    this.setMaxListeners(50);
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

  /** How many broker nodes this connection can use (1 for a single broker). */
  get nodeCount(): number {
    return this.urls.length;
  }

  /** The process's logger, for what runs on this connection (publishers log through it). */
  get logger(): Logger {
    return this.options.logger;
  }

  /** Index in the nodes of the node of the live (or last) connection, -1 before the first. */
  get nodeIndex(): number {
    return this.node;
  }

  /** `host:port` of the node of the live connection (no credentials), or null while disconnected. */
  get currentNode(): string | null {
    return this.model ? nodeOf(this.urls[this.node]) : null;
  }

  /**
   * Resolves when connected (at once if already), rejects with DependencyUnavailableError after `timeoutMs`.
   * Starts a connect when none is under way.
   */
  async waitReady(timeoutMs: number): Promise<ChannelModel> {
    if (this.model) return this.model;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DependencyUnavailableError('rabbitmq', `no broker node reachable within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async connectLoop(): Promise<ChannelModel> {
    let attempt = 0;
    for (;;) {
      // One round: every node once, starting with `nextNode`.
      for (let i = 0; i < this.urls.length; i += 1) {
        if (this.closing) throw new DependencyUnavailableError('rabbitmq', 'connection closed');
        const index = (this.nextNode + i) % this.urls.length;
        try {
          const model = await amqp.connect(this.urls[index], {
            clientProperties: { connection_name: this.options.name ?? 'payment-bridge' },
            timeout: 5000,
            // No Nagle: a confirm-waiting publish or a lone ack must not sit out a delayed-ACK round (~40 ms).
            noDelay: true,
          });
          if (this.closing) {
            await this.closeWithin(model);
            throw new DependencyUnavailableError('rabbitmq', 'connection closed');
          }
          // Frames queued in the same tick go out in one socket write (fewer system calls per command).
          coalesceFrameWrites(model);
          model.on('error', (err: Error) => this.options.logger.warn('amqp connection error', { error: err.message, node: nodeOf(this.urls[index]) }));
          model.on('close', () => this.onClose(model));
          const previous = this.node;
          this.node = index;
          this.nextNode = index;
          this.model = model;
          if (previous >= 0 && previous !== index) {
            nodeSwitches().inc();
            this.options.logger.warn('amqp connected to another broker node', {
              node: nodeOf(this.urls[index]),
              previous_node: nodeOf(this.urls[previous]),
              attempts: attempt,
            });
          } else if (attempt > 0) {
            this.options.logger.info('amqp reconnected', { attempts: attempt, node: nodeOf(this.urls[index]) });
          }
          this.emit('ready', model);
          return model;
        } catch (err) {
          if (err instanceof DependencyUnavailableError) throw err;
          attempt += 1;
          if (attempt === 1 || attempt % 30 === 0) {
            this.options.logger.warn('amqp connect failed; retrying', { error: (err as Error).message, attempt, node: nodeOf(this.urls[index]) });
          }
        }
      }
      await new Promise((r) => setTimeout(r, this.reconnectMs));
    }
  }

  private onClose(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = null;
    this.emit('lost');
    if (this.closing) return;
    // The lost node is likely the one that stopped: start the next round with the next node, at once.
    const several = this.urls.length > 1;
    if (several) this.nextNode = (this.node + 1) % this.urls.length;
    this.options.logger.warn('amqp connection lost; reconnecting', { node: nodeOf(this.urls[this.node]), next_node: nodeOf(this.urls[this.nextNode]) });
    setTimeout(() => void this.connect().catch(() => undefined), several ? 0 : this.reconnectMs);
  }

  /**
   * Stops reconnecting and closes the connection, waiting at most `closeTimeoutMs` for the broker: amqplib waits
   * for its close-ok without a bound, so a broker gone silent would hold a process's exit for ever. With a
   * process's shutdown `budget`, the wait is cut to what is left of it: the socket dropped sooner loses nothing
   * either, the broker requeues what every channel of it held unacked once it sees the socket go.
   */
  async close(budget: ShutdownBudget = ShutdownBudget.unbounded()): Promise<void> {
    this.closing = true;
    const model = this.model;
    this.model = null;
    if (model) await budget.step(this.options.closeTimeoutMs ?? 5000, 'amqp_connection', (timeoutMs) => this.closeWithin(model, timeoutMs));
  }

  /**
   * Closes `model`, its socket destroyed when the broker does not answer within `timeoutMs` (default `closeTimeoutMs`).
   * @returns whether the broker answered in time.
   */
  private async closeWithin(model: ChannelModel, timeoutMs = this.options.closeTimeoutMs ?? 5000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      model.close().then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (closed) return true;
    this.options.logger.warn('amqp connection did not close in time: its socket is dropped', { timeout_ms: timeoutMs, node: nodeOf(this.urls[this.node]) });
    (model as unknown as { connection?: { stream?: { destroy(error?: Error): void } } }).connection?.stream?.destroy(
      new Error(`connection close not answered within ${timeoutMs} ms`),
    );
    return false;
  }

  /** Opens a confirm channel on the current connection. */
  async confirmChannel(): Promise<ConfirmChannel> {
    const model = await this.connect();
    return model.createConfirmChannel();
  }
}

/** `host:port` of a broker URL, never its credentials. */
export function nodeOf(url: string | undefined): string {
  if (!url) return 'unknown';
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? '5671' : '5672')}`;
  } catch {
    return 'unparsable-url';
  }
}

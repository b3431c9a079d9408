import { Channel } from 'amqplib';
import { AmqpConnection } from '../amqp/amqp-connection';
import { openChannelWithin, withTimeout } from '../amqp/broker-deadline';
import { closeChannelWithin, closeOpeningWithin } from '../amqp/channel-close';
import { ShutdownBudget } from '../amqp/shutdown-budget';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { gauge } from '../metrics/metrics-registry';

/** `pb_commands_backlog`: messages ready in the commands queue, as last read by this process. */
function backlogGauge() {
  return gauge('pb_commands_backlog', 'Messages ready in the commands queue (last read, cached backpressure.depth_cache_ms)');
}

/**
 * The commands queue's depth (messages ready, not the ones being worked on), read with a passive declare
 * and reused for `backpressure.depth_cache_ms`: at most one read per interval per process, whatever the
 * request rate, and callers in between never wait for the broker. Unknown (null) while the broker cannot
 * answer: backpressure then lets commands through, the publish itself answers 503 if the broker is down.
 * A read (the channel's opening included) is bounded by `amqp.publish_timeout_ms`: a broker that stops answering
 * makes the depth unknown for that interval (counted in `pb_amqp_call_timeouts_total{what="backlog_probe"}`),
 * rather than holding the request that waits for the first read, and every read after it, for ever.
 */
export class BacklogProbe {
  private channel: Promise<Channel> | null = null;
  private value: number | null = null;
  private readAt = 0;
  private reading: Promise<void> | null = null;
  private readonly throttle: LogThrottle;

  constructor(private readonly deps: { config: Config; connection: AmqpConnection; logger: Logger; now?: () => number }) {
    deps.connection.on('lost', () => (this.channel = null));
    this.throttle = new LogThrottle(deps.logger);
  }

  /**
   * The depth last read; starts a fresh read in the background when the cached one is older than the cache
   * interval. The first call of a process waits for its read.
   */
  async depth(): Promise<number | null> {
    const now = (this.deps.now ?? Date.now)();
    if (now - this.readAt >= this.deps.config.backpressure.depthCacheMs && !this.reading) {
      this.readAt = now;
      this.reading = this.read().finally(() => (this.reading = null));
      if (this.value === null) await this.reading;
    }
    return this.value;
  }

  private async read(): Promise<void> {
    const { amqp } = this.deps.config;
    const watch = { what: 'backlog_probe', logger: this.deps.logger };
    const opening = this.openChannel();
    try {
      const channel = await opening;
      const { messageCount } = await withTimeout(channel.checkQueue(amqp.commandsQueue), amqp.publishTimeoutMs, `counting ${amqp.commandsQueue}`, watch);
      this.value = messageCount;
      backlogGauge().set(messageCount);
    } catch (err) {
      this.value = null;
      if (this.channel === opening) {
        this.channel = null;
        // A channel that did not answer is not used again: closed (bounded; past it the connection is dropped and
        // reconnects), the next read opens a fresh one.
        void opening.then((ch) => closeChannelWithin(ch, { timeoutMs: amqp.publishTimeoutMs, ...watch })).catch(() => undefined);
      }
      this.throttle.warn('depth', 'commands queue depth unreadable; backpressure off until it is (rate-limited log line)', { error: (err as Error).message });
    }
  }

  private openChannel(): Promise<Channel> {
    if (!this.channel) {
      const opening = (async () => {
        const model = this.deps.connection.current();
        const ch = await openChannelWithin(model, (m) => m.createChannel(), {
          what: 'backlog_probe',
          logger: this.deps.logger,
          timeoutMs: this.deps.config.amqp.publishTimeoutMs,
        });
        // A passive declare of a missing queue closes the channel (404): open a new one next time.
        ch.on('error', () => undefined);
        ch.on('close', () => {
          if (this.channel === opening) this.channel = null;
        });
        return ch;
      })();
      opening.catch(() => {
        if (this.channel === opening) this.channel = null;
      });
      this.channel = opening;
    }
    return this.channel;
  }

  /**
   * Closes the probe's channel at the process's shutdown, at most `amqp.publish_timeout_ms` in all (the opening it
   * may still wait for, then the close). A close the broker does not answer is given up
   * (`pb_amqp_channel_close_timeouts_total{what="backlog_probe"}`, a warn line) rather than holding the shutdown;
   * the connection is not dropped (the publisher still closes on it), its own bounded close follows. With a process's
   * shutdown `budget`, the wait is cut to what is left of it. Never throws.
   */
  async close(budget: ShutdownBudget = ShutdownBudget.unbounded()): Promise<void> {
    const ch = this.channel;
    this.channel = null;
    if (ch)
      await budget.step(this.deps.config.amqp.publishTimeoutMs, 'backlog_probe', (timeoutMs) =>
        closeOpeningWithin(ch, { timeoutMs, what: 'backlog_probe', logger: this.deps.logger, onTimeout: 'abandon' }),
      );
  }
}

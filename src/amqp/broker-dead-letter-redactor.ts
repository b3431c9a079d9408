import { Channel, ConsumeMessage } from 'amqplib';
import type { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { AmqpConnection } from './amqp-connection';
import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterWriter } from './dead-letter-writer';
import { ChannelKeyring } from '../channels/channel-signature';
import { brokerRejectedQueueOf, declareTopology } from './topology';
import { QUEUE_MISMATCH_RETRY_MS } from './queue-mismatch';
import { QueueMismatchError } from '../errors/queue-mismatch-error';

/** Dead-letter code of a message the broker dead-lettered by itself. */
export const BROKER_DEAD_LETTERED = 'BROKER_DEAD_LETTERED';

/** Why the broker dead-lettered a message, as its `x-death` says (`rejected`, `expired`, `maxlen`, `delivery_limit`). */
const BROKER_REASONS = new Set(['rejected', 'expired', 'maxlen', 'delivery_limit']);

/** `pb_broker_dead_letters_redacted_total{reason}`: reason is the broker's (`rejected`, `expired`, `maxlen`, `delivery_limit`, `unknown`). */
function redactedTotal() {
  return counter(
    'pb_broker_dead_letters_redacted_total',
    'Messages the broker dead-lettered by itself, moved to the dead-letter queue redacted, by the broker reason',
    ['reason'] as const,
  );
}

interface XDeath {
  reason?: unknown;
  queue?: unknown;
  'routing-keys'?: unknown;
}

/** The newest `x-death` entry of a message (the broker puts the latest first). */
function latestDeath(msg: ConsumeMessage): XDeath | undefined {
  const deaths = (msg.properties.headers ?? {})['x-death'] as unknown;
  return Array.isArray(deaths) && deaths.length > 0 && deaths[0] !== null && typeof deaths[0] === 'object' ? (deaths[0] as XDeath) : undefined;
}

/**
 * Moves what the broker dead-letters by itself (a quorum queue's delivery limit, a TTL or length-limit
 * policy, a client's reject without requeue) from the broker-rejected queue to the dead-letter queue
 * through `DeadLetterWriter`, so the record is redacted like every other dead letter and carries the
 * reason (`BROKER_DEAD_LETTERED`, `broker_dead_lettered: <broker reason> in <queue>`). The original is
 * acked only after the redacted copy is confirmed; while the broker cannot confirm it stays unacked and is
 * retried. Runs in every worker; one consumer per process, prefetch 16.
 */
export class BrokerDeadLetterRedactor {
  private channel: Channel | null = null;
  private mismatchRetry: NodeJS.Timeout | undefined;
  private running = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly onReady = () =>
    void this.subscribe().catch((err: Error) => this.deps.logger.warn('broker dead-letter redactor resubscribe failed', { error: err.message }));

  /** Verifies the original's channel signature, so the record says whether a channel signed it (replay signs only that). */
  private readonly keyring: ChannelKeyring;

  constructor(private readonly deps: { config: Config; connection: AmqpConnection; deadLetters: DeadLetterWriter; logger: Logger }) {
    const { channels, serviceBus } = deps.config;
    this.keyring = new ChannelKeyring(channels.credentials, serviceBus.secret, serviceBus.secretPrevious);
  }

  async start(): Promise<void> {
    this.running = true;
    // Listen for `ready` only once connected: the first connection's `ready` and the call below would
    // otherwise both subscribe (two consumers per queue, one of them never cancelled on stop).
    await this.deps.connection.connect();
    this.deps.connection.on('ready', this.onReady);
    await this.subscribe();
  }

  private async subscribe(): Promise<void> {
    if (!this.running) return;
    const model = await this.deps.connection.connect();
    const channel = await model.createChannel();
    channel.on('error', (err: Error) => this.deps.logger.warn('broker dead-letter redactor channel error', { error: err.message }));
    try {
      await declareTopology(channel, this.deps.config.amqp);
    } catch (err) {
      if (!(err instanceof QueueMismatchError)) throw err;
      // The command consumer logs the mismatch and readiness reports it; try again later rather than exit.
      clearTimeout(this.mismatchRetry);
      this.mismatchRetry = setTimeout(() => void this.onReady(), QUEUE_MISMATCH_RETRY_MS);
      this.mismatchRetry.unref();
      return;
    }
    await channel.prefetch(16);
    this.channel = channel;
    await channel.consume(brokerRejectedQueueOf(this.deps.config.amqp), (msg) => {
      if (!msg) return;
      const work = this.move(channel, msg).finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    });
  }

  private async move(channel: Channel, msg: ConsumeMessage): Promise<void> {
    const death = latestDeath(msg);
    const brokerReason = typeof death?.reason === 'string' && BROKER_REASONS.has(death.reason) ? death.reason : 'unknown';
    const queue = typeof death?.queue === 'string' ? death.queue : 'unknown';
    const keys = Array.isArray(death?.['routing-keys']) ? (death?.['routing-keys'] as unknown[]) : [];
    const routingKey = typeof keys[0] === 'string' ? keys[0] : msg.fields.routingKey;
    const why = { code: BROKER_DEAD_LETTERED, field: '(root)', reason: `broker_dead_lettered: ${brokerReason} in ${queue}`, source: `amqp:${queue}` };
    const auth = this.keyring.verify(msg.content, msg.properties.headers, routingKey);
    const headers = {
      'x-pb-routing-key': routingKey,
      'x-pb-broker-reason': brokerReason,
      ...(auth.ok ? { [AUTHENTICATED_CHANNEL_HEADER]: auth.channel } : {}),
    };
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        await this.deps.deadLetters.write(msg.content, why, headers);
        break;
      } catch (err) {
        if (!this.running) {
          try {
            channel.nack(msg, false, true);
          } catch {
            // channel closed: the broker redelivers unacked messages anyway
          }
          return;
        }
        this.deps.logger.warn('broker dead-letter redactor could not write; holding the message and retrying', { error: (err as Error).message });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    try {
      channel.ack(msg);
    } catch {
      // channel closed after the write: the redelivery writes a second (identical, redacted) record
    }
    redactedTotal().inc({ reason: brokerReason });
    this.deps.logger.warn('message dead-lettered by the broker itself: moved to the dead-letter queue redacted', {
      broker_reason: brokerReason,
      queue,
      code: BROKER_DEAD_LETTERED,
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.mismatchRetry);
    this.deps.connection.off('ready', this.onReady);
    await Promise.allSettled([...this.inFlight]);
    const channel = this.channel;
    this.channel = null;
    if (channel) await channel.close().catch(() => undefined);
  }
}

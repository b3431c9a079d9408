import { ConfirmChannel, Message, Options } from 'amqplib';
import { AmqpConnection } from './amqp-connection';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { QueueMismatchError } from '../errors/queue-mismatch-error';
import { redactText } from '../logging/redact';
import { counter } from '../metrics/metrics-registry';
import { QUEUE_MISMATCH_RETRY_MS } from './queue-mismatch';
import { BrokerTimeoutError, withTimeout } from './broker-deadline';
import { closeOpeningWithin } from './channel-close';
import { ShutdownBudget } from './shutdown-budget';

const resentTotal = () =>
  counter(
    'pb_amqp_publish_resent_total',
    'Publishes confirmed after being sent again: their channel died before the confirm (reason=channel_lost), or a cluster node nacked them on a channel opened before a queue leader change (reason=nacked)',
    ['reason'],
  );

const unroutableTotal = () =>
  counter(
    'pb_amqp_unroutable_total',
    'Publishes the broker returned as unroutable (no queue bound for their routing key: a queue or binding is missing) and the publisher failed, by exchange ("(default)" for the default exchange)',
    ['exchange'],
  );

/**
 * Header with a publish's number in this publisher, so a `basic.return` (which carries the message, not its
 * delivery tag) is matched to its publish.
 */
export const PUBLISH_ID_HEADER = 'x-pb-publish-id';

/**
 * Publishes persistent messages on a confirm channel and resolves only when the broker has confirmed
 * them (written to disk for durable queues). A nack, a timeout or a lost channel rejects with
 * DependencyUnavailableError: the caller must not report success. Every publish is `mandatory`: the broker
 * confirms a message that no queue took too (it was dropped), so a `basic.return` before the confirm
 * rejects the publish as well (`pb_amqp_unroutable_total{exchange}`, an error line naming the exchange and
 * routing key). The channel is rebuilt lazily after a broker restart, and after a return, so the topology
 * the `setup` declares is declared again.
 */
export class ConfirmPublisher {
  private channel: Promise<ConfirmChannel> | null = null;
  /** A queue mismatch met while declaring: publishes fail at once with it until `until` (ms since the epoch). */
  private mismatch: { error: QueueMismatchError; until: number } | null = null;
  /** Publishes so far: the last {@link PUBLISH_ID_HEADER}. */
  private published = 0;
  /**
   * Publishes waiting for their confirm, by {@link PUBLISH_ID_HEADER}; `returned` is set by the broker's `basic.return`,
   * `settle` ends the wait (an abandon, see {@link abandonPending}).
   */
  private readonly pending = new Map<string, PendingPublish>();
  /** The channel the current opening gave, once it has: a publish then sends on it without waiting for anything. */
  private opened: { opening: Promise<ConfirmChannel>; channel: ConfirmChannel } | null = null;
  /** Set by {@link abandonPending}: publishes fail at once, and those still waiting are woken with that error. */
  private abandoned = false;
  /**
   * Wakes the publishes still waiting for a channel to open or for a reconnect with the error of an abandoned publish
   * (those waiting for their confirm are in `pending`). Empty while the channel is open and the broker connected.
   */
  private readonly waking = new Set<(err: DependencyUnavailableError) => void>();

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
        // The broker sends basic.return before the confirm of the same message.
        ch.on('return', (msg: Message) => this.noteReturn(msg));
        ch.on('close', () => {
          if (this.channel === opening) this.channel = null;
        });
        await this.setup(ch);
        return ch;
      })();
      // Runs before the awaits of the publishes that asked for this opening (registered first).
      opening.then(
        (ch) => {
          if (this.channel === opening) this.opened = { opening, channel: ch };
        },
        () => {
          if (this.channel === opening) this.channel = null;
        },
      );
      this.channel = opening;
    }
    return this.channel;
  }

  /**
   * Publishes and waits for the broker's confirm, at most the publish timeout in all. When the channel or its
   * connection dies before the confirm (a cluster node stopped), whether the broker kept the message is
   * unknown: it is published again on the next connection (another node) within the same deadline, so the
   * caller may get a duplicate on the queue but never a lost command reported as sent. Consumers are
   * idempotent by operation id. A nack from a single broker (it refused the message) is final. On a cluster a
   * nack also comes from a channel whose quorum-queue client state predates a leader change (measured on
   * RabbitMQ 3.10: such a channel nacks every publish to that queue for tens of seconds), so the message is
   * sent again on a fresh channel within the same deadline; the old channel is closed once its in-flight
   * confirms had time to arrive.
   */
  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish = {}): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    if (this.abandoned) throw abandonedError();
    if (!this.connection.connected) {
      // One broker: do not wait for a reconnect loop here, the caller answers "retry later" instead. Several
      // nodes: a survivor is normally there within milliseconds, so wait for it (within the timeout).
      if (this.connection.nodeCount < 2) throw new DependencyUnavailableError('rabbitmq', 'broker not connected');
      await this.wakeable(this.connection.waitReady(this.timeoutMs));
    }
    const mismatch = this.mismatch;
    if (mismatch && Date.now() < mismatch.until) throw new DependencyUnavailableError('rabbitmq', mismatch.error.message, { cause: mismatch.error });
    let reason: 'channel_lost' | 'nacked' | null = null;
    for (let attempt = 1; ; attempt += 1) {
      let channel: ConfirmChannel;
      const opening = this.getChannel();
      const opened = this.opened;
      // The channel open already (every publish but a few after a start or a reconnect): no wait to bound or wake.
      if (opened !== null && opened.opening === opening) {
        // What the wait's `wakeable` checked: a nacked publish's pause before sending again is no wait it can wake.
        if (this.abandoned) throw abandonedError();
        channel = opened.channel;
      } else {
        try {
          channel = await this.wakeable(withTimeout(opening, Math.max(1, deadline - Date.now()), 'opening a channel'));
        } catch (err) {
          if (err instanceof QueueMismatchError) this.mismatch = { error: err, until: Date.now() + QUEUE_MISMATCH_RETRY_MS };
          throw err instanceof DependencyUnavailableError ? err : new DependencyUnavailableError('rabbitmq', (err as Error).message, { cause: err });
        }
      }
      // A number per attempt: a return for an earlier attempt must not fail a later one.
      const id = String((this.published += 1));
      const entry: PendingPublish = { returned: undefined, settle: undefined };
      this.pending.set(id, entry);
      let outcome: PublishOutcome;
      const waitMs = Math.max(1, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      try {
        // One promise for the whole wait: the confirm, the deadline (the timer) and an abandon (`entry.settle`) each
        // settle it, where a race of three promises a publish cost a promise, a reaction and a Set entry each.
        // amqplib calls every outstanding confirm callback with an error if the channel closes first.
        outcome = await new Promise<PublishOutcome>((resolve) => {
          entry.settle = resolve;
          timer = setTimeout(resolve, waitMs, 'timed_out');
          try {
            const headers = { ...(options.headers as Record<string, unknown> | undefined), [PUBLISH_ID_HEADER]: id };
            channel.publish(exchange, routingKey, content, { persistent: true, mandatory: true, ...options, headers }, (err) => {
              if (!err) resolve(entry.returned ? 'returned' : 'confirmed');
              else if (err.message === 'channel closed') resolve('lost');
              else resolve('nacked');
            });
          } catch {
            // The channel was already closed (IllegalOperationError): nothing was sent on it.
            resolve('lost');
          }
        });
      } finally {
        clearTimeout(timer);
        this.pending.delete(id);
      }
      if (outcome === 'abandoned') throw abandonedError();
      if (outcome === 'timed_out') throw new BrokerTimeoutError('waiting for the publish confirm', waitMs);
      if (outcome === 'confirmed') {
        if (reason) resentTotal().inc({ reason });
        return;
      }
      if (outcome === 'returned') {
        // Confirmed but dropped: no queue took it. Final for this call (the caller retries); the next publish
        // gets a fresh channel, whose setup declares the topology again.
        this.retire(opening, channel);
        throw this.unroutable(exchange, routingKey, entry.returned);
      }
      const left = deadline - Date.now();
      if (outcome === 'nacked') {
        if (this.connection.nodeCount < 2 || left <= NACK_RETRY_MS) throw new DependencyUnavailableError('rabbitmq', 'publish was nacked by the broker');
        reason = 'nacked';
        this.retire(opening, channel);
        await new Promise((r) => setTimeout(r, NACK_RETRY_MS));
        continue;
      }
      reason = 'channel_lost';
      if (left <= 0) throw new DependencyUnavailableError('rabbitmq', 'channel closed before the publish was confirmed');
      // The next connection (the next node with a cluster) gets it again; the dead channel's 'close' (or the
      // connection's 'lost') has already dropped it, so getChannel opens a new one.
      await this.wakeable(this.connection.waitReady(left));
    }
  }

  /**
   * Gives up the publishes still waiting (for a channel, their confirm or a reconnect): each rejects at once with
   * DependencyUnavailableError, so its caller answers "not accepted" (the intake's 503: the bus sends it again), and
   * every later publish does too. For a process's stop whose budget ran out with requests under way: a publish whose
   * confirm never came was not accepted (if the broker kept it after all, the consumer takes the copy sent again as
   * a duplicate, by operation id). @returns how many were waiting.
   */
  abandonPending(): number {
    this.abandoned = true;
    let waiting = this.waking.size;
    for (const wake of [...this.waking]) wake(abandonedError());
    this.waking.clear();
    // An entry stays in `pending` until its publish resumes: one given up already is not counted again.
    for (const entry of this.pending.values()) {
      if (entry.settle === undefined) continue;
      entry.settle('abandoned');
      entry.settle = undefined;
      waiting += 1;
    }
    return waiting;
  }

  /** `work`, or the error of an abandoned publish once {@link abandonPending} is called first. */
  private async wakeable<T>(work: Promise<T>): Promise<T> {
    if (this.abandoned) throw abandonedError();
    let wake: ((err: DependencyUnavailableError) => void) | undefined;
    const woken = new Promise<never>((_, reject) => (wake = reject));
    const waker = wake as (err: DependencyUnavailableError) => void;
    this.waking.add(waker);
    try {
      return await Promise.race([work, woken]);
    } finally {
      this.waking.delete(waker);
    }
  }

  /** The publish's entry learns it was returned; its confirm, which follows, then rejects it. */
  private noteReturn(msg: Message): void {
    const id = msg.properties.headers?.[PUBLISH_ID_HEADER] as unknown;
    const entry = id === undefined ? undefined : this.pending.get(String(id));
    if (!entry) return;
    // amqplib passes basic.return's reply code and text in `fields`; its types do not list them.
    const fields = msg.fields as Message['fields'] & { replyCode?: number; replyText?: string };
    entry.returned = { replyCode: fields.replyCode ?? 0, replyText: fields.replyText ?? '' };
  }

  /** Counts and logs an unroutable publish; the error the caller gets (retryable: nothing was delivered). */
  private unroutable(exchange: string, routingKey: string, reply: { replyCode: number; replyText: string } | undefined): DependencyUnavailableError {
    const name = exchange === '' ? '(default)' : exchange;
    // A routing key can be publisher-chosen text (a demoted message keeps the one it came with).
    const key = redactText(routingKey);
    unroutableTotal().inc({ exchange: name });
    this.connection.logger.error('amqp publish unroutable: the broker routed it to no queue and returned it; a queue or binding is missing', {
      exchange: name,
      routing_key: key,
      reply: reply ? `${reply.replyCode} ${reply.replyText}` : undefined,
    });
    return new DependencyUnavailableError(
      'rabbitmq',
      `publish unroutable: exchange ${name} routed routing key ${key} to no queue (a queue or binding is missing; the topology is declared again on the next publish)`,
    );
  }

  /** Stops using a channel; closed once its in-flight confirms had time to arrive. */
  private retire(opening: Promise<ConfirmChannel>, channel: ConfirmChannel): void {
    if (this.channel !== opening) return;
    this.channel = null;
    // Not bounded: this runs while consumer lanes may share the connection, and dropping it on an unanswered close
    // would make the broker requeue their unacked messages mid-call. A close never answered only leaves this channel.
    setTimeout(() => void channel.close().catch(() => undefined), this.timeoutMs).unref();
  }

  /**
   * Closes the channel at the process's (or an operator command's) end, at most the publish timeout in all (the
   * opening it may still wait for, then the close). A close the broker does not answer is given up
   * (`pb_amqp_channel_close_timeouts_total{what="confirm_publisher"}`, a warn line) rather than holding the
   * shutdown. The connection is never dropped here: a worker closes its consumer's demotion publisher while the
   * broker dead-letter redactor still holds unacked messages on the same connection; the connection's own bounded
   * close ends it. With a process's shutdown `budget`, the wait is cut to what is left of it: what a given-up close
   * leaves is only a channel that takes no more publishes, ended by the connection's close. Never throws.
   */
  async close(budget: ShutdownBudget = ShutdownBudget.unbounded()): Promise<void> {
    const ch = this.channel;
    this.channel = null;
    if (ch)
      await budget.step(this.timeoutMs, 'confirm_publisher', (timeoutMs) =>
        closeOpeningWithin(ch, { timeoutMs, what: 'confirm_publisher', logger: this.connection.logger, onTimeout: 'abandon' }),
      );
  }
}

/** A publish given up by {@link ConfirmPublisher.abandonPending}: not accepted, the caller's sender sends it again. */
function abandonedError(): DependencyUnavailableError {
  return new DependencyUnavailableError('rabbitmq', 'publish given up: the process stopped before the broker confirmed it');
}

/** How a publish's wait for its confirm ended. */
type PublishOutcome = 'confirmed' | 'lost' | 'nacked' | 'returned' | 'timed_out' | 'abandoned';

/** A publish waiting for its confirm. */
interface PendingPublish {
  /** Set by the broker's `basic.return`, which comes before the confirm of the same message. */
  returned: { replyCode: number; replyText: string } | undefined;
  /** Ends the wait with `outcome` (set while the publish waits; cleared once an abandon used it). */
  settle: ((outcome: PublishOutcome) => void) | undefined;
}

/** Pause before sending a nacked message again on a fresh channel (cluster only), milliseconds. */
const NACK_RETRY_MS = 100;

import { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { AmqpConnection } from './amqp-connection';
import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterWriter, DeadLetterWritten, reportOnceGap } from './dead-letter-writer';
import { deadLetterDuplicates, deadLetterIdentity, deadLetterIdentityKey } from './dead-letter-once';
import { ChannelKeyring } from '../channels/channel-signature';
import { brokerRejectedQueueOf, declareTopology } from './topology';
import { BrokerTimeoutError, logLateConsumeClosed, openChannelWithin, subscribeRetryMs, withTimeout } from './broker-deadline';
import { closeChannelWithin } from './channel-close';
import { cancelConsumerWithin, giveBack } from './consumer-stop';
import { LANE_STABLE_MS, LaneLossReason, countLaneLost } from './lane-loss';
import { SubscriptionRetry } from './subscription-retry';
import { ShutdownBudget, countAbandoned } from './shutdown-budget';

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
  count?: unknown;
  time?: unknown;
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
 *
 * Every broker call of its subscription and of its close is bounded by `amqp.publish_timeout_ms`: a subscription
 * step not answered in time closes its channel (never the connection, which the command consumer's channels
 * share), is logged and retried after a backoff; a close not answered is given up.
 */
export class BrokerDeadLetterRedactor {
  private channel: Channel | null = null;
  /** The tag of the consumer on `channel`: `stop()` cancels it before waiting for the work in flight. */
  private consumerTag = '';
  /** The connection `channel` consumes on: after a reconnect the subscription is made again on the new one. */
  private channelModel: ChannelModel | null = null;
  /** The channel being set up (each of its broker calls bounded): `stop()` waits for it. */
  private settingUp: Promise<void> | null = null;
  /** When `channel` started consuming, ms (Date.now): a channel lost soon after backs the retry off further. */
  private since = 0;
  /** Channels lost in a row, each soon after it was set up. */
  private lostInARow = 0;
  /** A channel whose consumer the broker cancelled, closing once its messages are settled: `stop()` waits for it. */
  private readonly retiring = new Set<Promise<void>>();
  /**
   * The process's shutdown budget once `stop()` began (unbounded before): the close of a channel whose consumer the
   * broker cancelled, when it starts during the stop, is bounded by what it leaves too.
   */
  private shutdown = ShutdownBudget.unbounded();
  private running = false;
  /** The moves under way, each with its message. */
  private readonly inFlight = new Map<Promise<void>, ConsumeMessage>();
  /**
   * Messages whose move a stop abandoned when its budget ran out: never acked nor given back afterwards, whatever
   * their write comes to (the channel's close returns them to the broker-rejected queue).
   */
  private readonly abandoned = new WeakSet<ConsumeMessage>();
  /** Messages delivered after `stop()` began (its cancel not answered yet, or given up), left unacked for its close to return. */
  private givenBack = 0;
  /**
   * A subscription try after `start` (a reconnect's `ready`, a retry, a lost channel): one that fails for another
   * reason than those `subscribeOnce` handles (a queue gone, an access refusal) is logged and tried again after
   * the same backoff, never given up and never at once.
   */
  private readonly onReady = () => this.subscription.again();
  /**
   * Subscription tries, one after another, retried after a queue mismatch (the command consumer logs it, readiness
   * reports it) or a step the broker did not answer, and after any failure of a try after start.
   */
  private readonly subscription: SubscriptionRetry;

  /** Verifies the original's channel signature, so the record says whether a channel signed it (replay signs only that). */
  private readonly keyring: ChannelKeyring;
  /** Keys its dead letters' identities (`deadLetterIdentityKey`): never logged or stored. */
  private readonly identityKey: Buffer;

  constructor(private readonly deps: { config: Config; connection: AmqpConnection; deadLetters: DeadLetterWriter; logger: Logger }) {
    const { channels, serviceBus } = deps.config;
    this.identityKey = deadLetterIdentityKey(serviceBus.secret);
    this.keyring = new ChannelKeyring(channels.credentials, serviceBus.secret, serviceBus.secretPrevious);
    this.subscription = new SubscriptionRetry({
      who: 'broker dead-letter redactor',
      logger: deps.logger,
      subscribe: () => this.subscribe(),
      running: () => this.running,
    });
  }

  async start(): Promise<void> {
    this.running = true;
    // Listen for `ready` only once connected: the first connection's `ready` and the call below would
    // otherwise both subscribe (two consumers per queue, one of them never cancelled on stop).
    await this.deps.connection.connect();
    this.deps.connection.on('ready', this.onReady);
    await this.subscription.now();
  }

  /**
   * The channel closed by the broker, or its consumer cancelled by it, while the connection stays up: logged,
   * counted (`pb_consumer_lanes_lost_total{queue_role="broker_rejected"}`) and subscribed again by the retry. A
   * closed channel's messages are requeued by the broker (their acks cannot go through); a cancelled consumer's
   * channel is closed once the messages under way on it are settled.
   */
  private loseChannel(channel: Channel, reason: LaneLossReason, detail: string): void {
    if (!this.running || this.channel !== channel) return;
    this.channel = null;
    this.channelModel = null;
    countLaneLost('broker_rejected', reason);
    this.lostInARow = Date.now() - this.since < LANE_STABLE_MS ? this.lostInARow + 1 : 1;
    const retryMs = subscribeRetryMs(this.lostInARow);
    this.deps.logger.error(`broker dead-letter redactor lost its lane: ${reason}; subscribing again`, {
      queue: brokerRejectedQueueOf(this.deps.config.amqp),
      queue_role: 'broker_rejected',
      reason,
      error: detail,
      retry_ms: retryMs,
    });
    if (reason === 'consumer_cancelled') {
      const done: Promise<void> = Promise.allSettled([...this.inFlight.keys()])
        .then(async () => {
          // Read now, not when the consumer was cancelled: a close that starts during a stop shares its budget.
          await this.shutdown.step(this.deps.config.amqp.publishTimeoutMs, 'dead_letter_redactor', (timeoutMs) =>
            closeChannelWithin(channel, { timeoutMs, what: 'dead_letter_redactor', logger: this.deps.logger, onTimeout: 'abandon' }),
          );
        })
        .catch(() => undefined)
        .finally(() => {
          this.retiring.delete(done);
        });
      this.retiring.add(done);
    }
    this.subscription.in(retryMs);
  }

  private async subscribe(): Promise<void> {
    if (!this.running) return;
    const model = await this.deps.connection.connect();
    // Already consuming on this connection (a retry that raced a `ready`).
    if (!this.running || (this.channel && this.channelModel === model)) return;
    this.channel = null;
    const setup = this.consumeOn(model);
    this.settingUp = setup;
    try {
      await setup;
    } finally {
      if (this.settingUp === setup) this.settingUp = null;
    }
  }

  /**
   * Opens a channel on `model`, declares the topology, sets the prefetch and consumes, each call bounded by
   * `amqp.publish_timeout_ms` (`pb_amqp_call_timeouts_total{what="redactor_subscribe"}`). On any failure the channel
   * is closed, within the bound and never by dropping the connection: a consume the broker answers late ends with
   * that close, which the broker reads after it.
   */
  private async consumeOn(model: ChannelModel): Promise<void> {
    const { config, logger } = this.deps;
    const timeoutMs = config.amqp.publishTimeoutMs;
    const watch = { what: 'redactor_subscribe', logger };
    const channel = await openChannelWithin(model, (m) => m.createChannel(), { ...watch, timeoutMs, onTimeout: 'abandon' });
    // A close the broker makes has an `error` first; our own closes and a lost connection's have none.
    let brokerError: string | undefined;
    // Either can come between the consume's answer and `channel` being set: the channel is then lost at once.
    let closed = false;
    let cancelled = false;
    channel.on('error', (err: Error) => {
      brokerError = err.message;
      logger.warn('broker dead-letter redactor channel error', { error: err.message });
    });
    channel.on('close', () => {
      closed = true;
      if (brokerError !== undefined) this.loseChannel(channel, 'channel_closed', brokerError);
    });
    const bounded = <T>(call: Promise<T>, what: string): Promise<T> => withTimeout(call, timeoutMs, what, watch);
    const queue = brokerRejectedQueueOf(config.amqp);
    try {
      await bounded(declareTopology(channel, config.amqp), 'declaring the topology');
      await bounded(channel.prefetch(16), 'setting the prefetch of the broker-rejected queue');
      const { consumerTag } = await bounded(
        channel.consume(queue, (msg) => {
          if (!msg) {
            cancelled = true;
            return this.loseChannel(channel, 'consumer_cancelled', `the broker cancelled the consumer of ${queue}`);
          }
          // Delivered after stop() began: never worked on (its ack could come after the close, and the redelivery
          // would write a second record), and left unacked rather than nacked (a nack would bring it straight back
          // here while the cancel is unanswered, in a loop): the stop's channel close returns it to its queue, for
          // another redactor or this one after a restart. Acks here are single, never multiple: none covers it.
          if (!this.running) {
            this.givenBack += 1;
            return;
          }
          const work = this.move(channel, msg).finally(() => this.inFlight.delete(work));
          this.inFlight.set(work, msg);
        }),
        `consuming ${queue}`,
      );
      // Kept also when stop() began meanwhile: stop() waits for this setup, then cancels and closes the channel.
      this.channel = channel;
      this.consumerTag = consumerTag;
      this.channelModel = model;
      this.since = Date.now();
      if (closed && brokerError !== undefined) this.loseChannel(channel, 'channel_closed', brokerError);
      else if (cancelled) this.loseChannel(channel, 'consumer_cancelled', `the broker cancelled the consumer of ${queue}`);
    } catch (err) {
      const closed = await closeChannelWithin(channel, { timeoutMs, what: 'redactor_subscribe', logger, onTimeout: 'abandon' });
      // A consume the broker did but answered late: only this close ends its consumer (see logLateConsumeClosed).
      if (err instanceof BrokerTimeoutError && err.call === `consuming ${queue}`) logLateConsumeClosed(logger, 'broker dead-letter redactor', queue, closed);
      throw err;
    }
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
    // A copy redelivered after its channel closed (its write done, its ack lost) carries the same body, message id and
    // x-death (the death's count and time tell another death of the same message apart): one record.
    const messageId = msg.properties.messageId === undefined || msg.properties.messageId === null ? undefined : String(msg.properties.messageId);
    const identity = deadLetterIdentity(
      this.identityKey,
      messageId,
      msg.content,
      { ...why, reason: `${why.reason} ${JSON.stringify([death?.count ?? null, String(death?.time ?? '')])}` },
      headers,
    );
    let written: DeadLetterWritten;
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        written = await this.deps.deadLetters.write(msg.content, why, headers, { identity, waiting: () => this.running });
        break;
      } catch (err) {
        // Stopping: given back once, to a consumer already cancelled (the broker delivers it to another redactor, or
        // after a restart), rather than retried or requeued to this one in a loop.
        if (!this.running) return this.abandoned.has(msg) ? undefined : giveBack(channel, msg);
        this.deps.logger.warn('broker dead-letter redactor could not write; holding the message and retrying', { error: (err as Error).message });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    // Abandoned by the stop meanwhile: the channel's close gives it back; its redelivery finds the mark just written.
    if (this.abandoned.has(msg)) return;
    try {
      channel.ack(msg);
    } catch {
      // channel closed after the write: the redelivery finds its mark and writes no second record (DeadLetterOnce)
    }
    if (written.duplicate) {
      deadLetterDuplicates().inc({ reason: BROKER_DEAD_LETTERED.toLowerCase() });
      this.deps.logger.info('dead letter already written for this message: copy acked without a second record', {
        dead_letter_id: written.id,
        reason: BROKER_DEAD_LETTERED.toLowerCase(),
        broker_reason: brokerReason,
        redelivered: msg.fields.redelivered,
      });
      return;
    }
    reportOnceGap(this.deps.logger, written, { dead_letter_id: written.id, reason: BROKER_DEAD_LETTERED.toLowerCase() });
    redactedTotal().inc({ reason: brokerReason });
    this.deps.logger.warn('message dead-lettered by the broker itself: moved to the dead-letter queue redacted', {
      broker_reason: brokerReason,
      queue,
      code: BROKER_DEAD_LETTERED,
    });
  }

  /**
   * Stops taking messages, lets the ones in flight finish within the process's shutdown `budget` (step
   * `redactor_in_flight`; without one, until they end), closes the channel. The consumer is cancelled first, so
   * nothing is delivered while the work in flight is waited for; a write still under way when the budget runs out (a
   * broker that does not confirm it, a retry's backoff) is abandoned ({@link abandonInFlight}). A message delivered
   * before the broker read the cancel is left unacked, unprocessed (never nacked: while the cancel is unanswered the
   * broker would deliver it here again at once, in a loop), and the close returns it to its queue. The cancel and the
   * close are each bounded by `amqp.publish_timeout_ms`, and by what is left of the budget: one the broker does not
   * answer is given up (`pb_amqp_call_timeouts_total{what="redactor_cancel"}`,
   * `pb_amqp_channel_close_timeouts_total{what="dead_letter_redactor"}`) and the connection kept; its own bounded
   * close ends it, and the broker requeues what was left unacked. A channel whose consumer the broker cancelled, closing
   * once its messages are settled, closes within the budget too.
   */
  async stop(budget: ShutdownBudget = ShutdownBudget.unbounded()): Promise<void> {
    this.running = false;
    this.shutdown = budget;
    this.subscription.cancel();
    this.deps.connection.off('ready', this.onReady);
    const { config, logger } = this.deps;
    const timeoutMs = config.amqp.publishTimeoutMs;
    const queue = brokerRejectedQueueOf(config.amqp);
    // Cut short, a cancel loses nothing: what the consumer is still delivered is left unacked, returned by the close.
    const cancel = (channel: Channel | null) =>
      channel
        ? budget.step(timeoutMs, 'redactor_cancel', (ms) =>
            cancelConsumerWithin(channel, this.consumerTag, queue, { timeoutMs: ms, what: 'redactor_cancel', logger }),
          )
        : Promise.resolve(true);
    // The channel consuming now is cancelled at once, not after the setup below: nothing new starts meanwhile.
    const consuming = this.channel;
    const cancelled = cancel(consuming);
    // A channel being set up ends within its calls' bounds: cancelled below if it consumes, closed by its setup if
    // not. Cut short by the budget, one it still sets up is ended by the connection's close (holding only messages
    // left unacked, which that close returns).
    const setUp = budget.wait(this.settingUp, Infinity, 'redactor_setup').then(() => (this.channel !== consuming ? cancel(this.channel) : undefined));
    // Within the budget: a write the broker never confirms (retried while it is down) must not hold the stop past
    // shutdown.deadline_ms, where the supervisor's SIGKILL would end it anyway.
    const inFlight = budget.wait(Promise.allSettled([...this.inFlight.keys()]), Infinity, 'redactor_in_flight');
    const [, , inTime] = await Promise.all([cancelled, setUp, inFlight]);
    // A channel the broker cancelled closes once its moves are settled, its close a bounded step of this budget (or
    // of its own bound, begun before the stop): waited for once they are. Abandoned, they never settle here: the
    // connection's close ends that channel, returning what it holds.
    if (inTime) await Promise.allSettled([...this.retiring]);
    else this.abandonInFlight(budget);
    const channel = this.channel;
    this.channel = null;
    this.channelModel = null;
    // Bounded: a close the broker does not answer is given up (the connection's own bounded close ends it).
    if (channel)
      await budget.step(timeoutMs, 'dead_letter_redactor', (ms) =>
        closeChannelWithin(channel, { timeoutMs: ms, what: 'dead_letter_redactor', logger, onTimeout: 'abandon' }),
      );
    if (this.givenBack > 0)
      logger.info('broker dead-letter redactor stopped: messages delivered after the stop began were left unacked, returned to their queue by the close', {
        given_back: this.givenBack,
      });
  }

  /**
   * The stop's budget ran out with moves under way: each message is left unacked (never acked nor given back
   * afterwards, whatever its write comes to), so the channel's close that ends the stop returns it to the
   * broker-rejected queue; counted (`pb_shutdown_inflight_abandoned_total{role="worker",work="dead_letter"}`, recorded
   * in Redis by the worker's stop) and logged. Its redelivery is never lost: a write that ends after all left its
   * one-per-message mark, so the copy is acked without a second record (`DeadLetterOnce`). One the stop cuts between
   * the broker taking the dead letter and its mark (a confirm lost with the channel, Redis closed) leaves no mark, as a
   * crash there would: that redelivery may be a second record, never none.
   */
  private abandonInFlight(budget: ShutdownBudget): void {
    const left = [...this.inFlight.values()].filter((msg) => !this.abandoned.has(msg));
    if (left.length === 0) return;
    for (const msg of left) this.abandoned.add(msg);
    countAbandoned('worker', 'dead_letter', left.length);
    this.deps.logger.warn(
      'broker dead-letter redactor stop: writes in flight abandoned at shutdown.deadline_ms, left unacked (the broker delivers each again; its one-per-message mark keeps out a second record)',
      { abandoned: left.length, left_ms: Math.max(0, Math.round(budget.leftMs())) },
    );
  }
}

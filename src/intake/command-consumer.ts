import { createHash } from 'node:crypto';
import { refusalHeaders, refusalIdentifiers } from './refusal-identifiers';
import { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { Queue } from 'bullmq';
import { AmqpConnection } from '../amqp/amqp-connection';
import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterWriter, reportOnceGap } from '../amqp/dead-letter-writer';
import { AckBatcher } from './ack-batcher';
import { deadLetterDuplicates, deadLetterIdentity, deadLetterIdentityKey } from '../amqp/dead-letter-once';
import { declareTopology } from '../amqp/topology';
import { QUEUE_MISMATCH_RETRY_MS } from '../amqp/queue-mismatch';
import { BrokerTimeoutError, logLateConsumeClosed, openChannelWithin, subscribeRetryMs, withTimeout } from '../amqp/broker-deadline';
import { closeChannelWithin } from '../amqp/channel-close';
import { cancelConsumerWithin, giveBack } from '../amqp/consumer-stop';
import { LANE_STABLE_MS, LaneLossReason, countLaneLost } from '../amqp/lane-loss';
import { SubscriptionRetry } from '../amqp/subscription-retry';
import { ShutdownBudget, countAbandoned } from '../amqp/shutdown-budget';
import { Config } from '../config/config';
import { CANONICAL, contractOf, readChannelMessage } from '../contracts/channel-contracts';
import { reportMaskedCardData } from './card-data-masking';
import { PaymentCommand } from '../contracts/payment-command';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { InlineDelivery } from '../delivery/inline-delivery';
import type { PreparedAttempt } from '../delivery/delivery-service';
import { bullJobId } from '../queueing/job-id';
import { requeueDelivery } from '../delivery/requeue-delivery';
import { CommandValidationError } from '../errors/command-validation-error';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { draftRecord } from '../ledger/record-fields';
import { IssuedTokens, NO_ISSUED_TOKEN, asksIssuedTokenIndex, issuedTokenOf, reportIssuedToken } from '../ledger/issued-tokens';
import { confirmReplicated } from '../ledger/replica-acks';
import { operationIdOf } from '../ledger/operation-id';
import { Logger } from '../logging/logger';
import { MAX_COMMAND_MESSAGE_BYTES, MAX_JSON_DEPTH, decodeJsonText, parseBoundedJson } from '../contracts/json-limits';
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { counter } from '../metrics/metrics-registry';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { IDEMPOTENCY_CONFLICT, idempotencyConflictEvent } from '../events/idempotency-conflict-event';
import { idempotencyConflicts } from './idempotency-metrics';
import { RateLimiter } from '../admission/rate-limiter';
import { isPriorityCommand, priorityQueueOf } from '../admission/command-priority';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { gauge } from '../metrics/metrics-registry';
import { ChannelKeyring, ChannelAuthRefusal, routingChannel } from '../channels/channel-signature';
import { LogThrottle } from '../logging/log-throttle';
import { isSplitTender, isSplitTenderRefund } from '../contracts/split-tender-command';
import type { SplitTenderIntake } from '../split-tender/split-tender-service';
import { InflightGate } from '../admission/inflight-gate';
import type { ActionCompletion, ActionCompletionResult } from '../delivery/action-completion';
import type { ActionResult } from '../contracts/three-ds';
import { commandDigest } from '../ledger/command-digest';
import { bindOperation, markDelivered, markMessage, markOperation, unbindOperation } from '../metrics/stage-timing';

/** What the consumer did with one message. Every message ends in exactly one of these. */
export type ConsumeDecision = 'accepted' | 'duplicate' | 'dead-lettered' | 'requeued' | 'demoted';

export interface CommandConsumerStats {
  accepted: number;
  duplicates: number;
  deadLettered: number;
  requeued: number;
  /** Messages held until their channel's or account's rate limit had a token. */
  rateLimited: number;
  /** Dependency failures retried while holding a message. */
  dependencyRetries: number;
  /** Authorizations, sales, validates… that arrived on the priority lane and were moved to the normal one. */
  demoted: number;
}

export interface CommandConsumerDeps {
  config: Config;
  connection: AmqpConnection;
  ledger: Ledger;
  deliveryQueue: Queue<DeliveryJobData>;
  deadLetters: DeadLetterWriter;
  logger: Logger;
  /**
   * The fast path: deliver each new operation in this process before the ack, instead of queuing a job.
   * Without it (a consumer-only process) every accepted command becomes a `gateway-delivery` job.
   */
  inline?: InlineDelivery;
  /**
   * Records and sends the FAIL event of a command refused as an idempotency conflict. Without it (tests of
   * intake alone) the conflict is still dead-lettered and logged.
   */
  recorder?: Pick<OutcomeRecorder, 'emit'>;
  /**
   * Rate limits per channel and account: a message over its limit is held (unacked, so prefetch stops the
   * consumer from taking more) until a token is free. Without it nothing is limited.
   */
  rateLimiter?: RateLimiter;
  /**
   * Starts split tender orders (`payment.tenders`) and their refunds (`payment.split_tender`). Without it
   * such a command is dead-lettered: it is never carried as a plain card payment of the whole amount.
   */
  splitTender?: SplitTenderIntake;
  /**
   * The adaptive in-flight gate (`inflight.adaptive`): each lane's prefetch is then `inflight.max` and at most
   * `gate.limit` messages of both lanes together are worked on at once, the others wait unacked in arrival
   * order, the priority lane's ahead of the commands queue's. Without it `amqp.prefetch` bounds each lane.
   */
  inflight?: InflightGate;
  /**
   * Completes customer actions (`payment.action_result`: the same authorize/sale again with what the
   * storefront got back). Without it (a consumer-only process) such a command is dead-lettered, replayable.
   */
  actionCompletion?: Pick<ActionCompletion, 'complete'>;
}

/** `pb_commands_held_by_rate_limit`: messages a consumer is holding until a rate-limit token is free. */
function heldGauge() {
  return gauge('pb_commands_held_by_rate_limit', 'Messages the command consumer holds (unacked) until their rate limit has a token');
}

/** One consumed queue: its channel, the consumer's tag on it and the channel's acks. */
interface Lane {
  queue: string;
  /** The connection it consumes on: a lane of a connection since lost is set up again on the next one. */
  model: ChannelModel;
  channel: Channel;
  consumerTag: string;
  acks: AckBatcher;
  /** The priority lane's queue (else the commands queue). */
  priority: boolean;
  /** When it started consuming, ms (Date.now): a lane lost soon after backs the retry off further. */
  since: number;
  /** Its messages being worked on: a lane whose consumer the broker cancelled is closed once they are acked. */
  work: Set<Promise<void>>;
  /** Its channel closed: its acks cannot go through, messages still waiting for an in-flight slot are given back. */
  closed: boolean;
}

/**
 * Consumes canonical commands from the commands queue. For each message, in order:
 * parse ▸ validate (bad → dead-letter with reason, confirmed, then ack) ▸ record in the ledger
 * (idempotent by operation id) ▸ enqueue on `gateway-delivery` with jobId = operation id ▸ ack.
 * The ack comes only after those writes succeed. If Redis (or the broker, for a dead letter) is down, the
 * message stays unacked and its handler retries with backoff; on shutdown it is requeued, never dropped.
 *
 * With `inline` (the worker's fast path) the enqueue step becomes "deliver now": the ledger's
 * RECEIVED/SENT index already makes the operation durable and recoverable (the recovery sweep), and the
 * ack waits for the delivery, so prefetch bounds the work in flight and a crash mid-delivery gets the
 * message redelivered at once. A redelivered message whose operation exists is delivered again (every
 * step is idempotent: same idempotency key, inquiry before resending an UNKNOWN, events by id).
 */
export class CommandConsumer {
  readonly stats: CommandConsumerStats = { accepted: 0, duplicates: 0, deadLettered: 0, requeued: 0, rateLimited: 0, dependencyRetries: 0, demoted: 0 };
  /** One channel per queue consumed (the commands queue, then the priority lane's), each with its prefetch. */
  private lanes: Lane[] = [];
  /** Moves a command that may not ride the priority lane to the commands exchange (confirmed before the ack). */
  private readonly demotions: ConfirmPublisher;
  /** One demotion warning per minute per channel and command type. */
  private readonly demotionLog: LogThrottle;
  private running = false;
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Subscription tries, one after another (start, `ready`, a retry, a lost lane: two at once could consume a queue
   * twice). A queue that exists with other arguments than configured (another `amqp.queue.type`) is an operator's
   * fix, not a crash: logged with the fix, readiness reports it, declared again every QUEUE_MISMATCH_RETRY_MS. A
   * subscription step the broker does not answer within `amqp.publish_timeout_ms` (a wedged channel process, a node
   * gone silent) is given up: its channel is closed (never the connection, whose other channels hold messages whose
   * PSP work is under way), readiness stays false, and the lanes missing are set up again after a backoff.
   */
  private readonly subscription: SubscriptionRetry;
  private readonly onReady = () => this.subscription.again();
  /** The lane being set up (each of its broker calls bounded): `stop()` waits for it, then stops what it set up. */
  private settingUp: Promise<void> | null = null;
  /** Lanes lost in a row, each soon after it was set up (the retry after a lost lane backs off by it). */
  private lanesLostInARow = 0;
  /** Lanes whose consumer the broker cancelled, closing once their messages are acked: `stop()` waits for them. */
  private readonly retiring = new Set<Promise<void>>();
  /**
   * The process's shutdown budget once `stop()` began (unbounded before): a retiring lane's close that starts during
   * the stop, once its messages are acked, is bounded by what it leaves too, not only by `amqp.publish_timeout_ms`.
   */
  private shutdown = ShutdownBudget.unbounded();
  /** Messages delivered after `stop()` began, left unacked for its channel close to return to their queue. */
  private leftForClose = 0;
  /** The messages being handled now (started: past the in-flight gate), with what is known of them (the operation id). */
  private readonly underWay = new Map<ConsumeMessage, Seen>();
  /**
   * Messages whose handling a stop abandoned when its budget ran out: never acked nor nacked afterwards (the channel's
   * close returns them to their queue), and counted once, at the abandon.
   */
  private readonly abandoned = new WeakSet<ConsumeMessage>();
  /**
   * The messages a stop handed back with a nack, by a digest of their body (each once per nack): the broker may deliver
   * such a message again to this consumer while its cancel is unanswered, and that copy, left for the close, is the
   * same message handed back, not one more (`stats.requeued` counted it twice). A digest, not the body: a body may
   * carry what must not linger in memory (a card number a channel sent by mistake), and it is smaller.
   */
  private readonly handedBack = new Map<string, number>();
  /** Every channel's keys: a message is taken only under the credentials of the channel it claims. */
  private readonly keyring: ChannelKeyring;
  /** Anyone who can publish can send unsigned messages: one warning per minute per reason. */
  private readonly authRefusals: LogThrottle;
  /** Keys its dead letters' identities (`deadLetterIdentityKey`): never logged or stored. */
  private readonly identityKey: Buffer;
  /** Asked only for a command whose `payment.gateway_key` reads as a card number. */
  private readonly issuedTokens: IssuedTokens;

  constructor(private readonly deps: CommandConsumerDeps) {
    this.identityKey = deadLetterIdentityKey(deps.config.serviceBus.secret);
    this.issuedTokens = new IssuedTokens(deps.ledger, deps.config.serviceBus);
    this.keyring = new ChannelKeyring(deps.config.channels.credentials, deps.config.serviceBus.secret, deps.config.serviceBus.secretPrevious);
    this.authRefusals = new LogThrottle(deps.logger);
    // Declares the topology on each new channel, as every publisher does: a demotion the broker returned
    // unroutable (a binding gone) is published again on a fresh channel, which restores it.
    this.demotions = new ConfirmPublisher(deps.connection, deps.config.amqp.publishTimeoutMs, (ch) =>
      declareTopology(ch, deps.config.amqp, { priorityLane: deps.config.backpressure.priorityLane }),
    );
    this.demotionLog = new LogThrottle(deps.logger);
    this.subscription = new SubscriptionRetry({
      who: 'command consumer',
      logger: deps.logger,
      subscribe: () => this.subscribe(),
      running: () => this.running,
      needed: () => !this.attached,
      onMismatch: (err) =>
        deps.logger.error('command consumer cannot declare its queues: queue type mismatch; not consuming, retrying', {
          error: err.message,
          queue: err.queue,
          retry_ms: QUEUE_MISMATCH_RETRY_MS,
        }),
    });
  }

  /** Whether the consumer is subscribed to its queue on a live connection (readiness). */
  get attached(): boolean {
    // Every lane (the commands queue and, with the priority lane, its queue) has its consumer.
    const lanes = this.deps.config.backpressure.priorityLane ? 2 : 1;
    return this.running && this.lanes.length === lanes && this.deps.connection.connected;
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
   * A lane whose channel the broker closed, or whose consumer it cancelled, while the connection stays up: it
   * leaves `lanes` at once (readiness drops), is logged and counted (`pb_consumer_lanes_lost_total`), and the
   * subscription retry sets it up again (only the lanes missing), after a backoff that grows while lanes are
   * lost soon after being set up. A closed channel's messages are requeued by the broker: the work under way
   * on them ends with acks that cannot go through (the batcher drops them), never acked on another channel.
   * A cancelled consumer's channel is still open: its messages under way are acked on it, then it is closed.
   */
  private loseLane(lane: Lane, reason: LaneLossReason, detail: string): void {
    if (!this.running || !this.lanes.includes(lane)) return;
    this.lanes = this.lanes.filter((other) => other !== lane);
    const queueRole = lane.priority ? 'priority' : 'commands';
    countLaneLost(queueRole, reason);
    this.lanesLostInARow = Date.now() - lane.since < LANE_STABLE_MS ? this.lanesLostInARow + 1 : 1;
    const retryMs = subscribeRetryMs(this.lanesLostInARow);
    this.deps.logger.error(`command consumer lost its lane: ${reason}; subscribing again`, {
      queue: lane.queue,
      queue_role: queueRole,
      reason,
      error: detail,
      retry_ms: retryMs,
    });
    if (reason === 'consumer_cancelled') this.retire(lane);
    this.subscription.in(retryMs);
  }

  /** Closes a lane whose consumer the broker cancelled, once the messages it was delivered are settled. */
  private retire(lane: Lane): void {
    const { logger, config } = this.deps;
    const done: Promise<void> = Promise.allSettled([...lane.work])
      .then(async () => {
        lane.acks.flushAll();
        // Read now, not when the lane retired: a close that starts during a stop shares its budget.
        await this.shutdown.step(config.amqp.publishTimeoutMs, 'command_consumer', (timeoutMs) =>
          closeChannelWithin(lane.channel, { timeoutMs, what: 'command_consumer', logger, onTimeout: 'abandon' }),
        );
      })
      .catch(() => undefined)
      .finally(() => {
        this.retiring.delete(done);
      });
    this.retiring.add(done);
  }

  /** Sets up the lanes the live connection lacks (all of them after a reconnect; those a given-up try left). */
  private async subscribe(): Promise<void> {
    if (!this.running) return;
    const { config } = this.deps;
    const model = await this.deps.connection.connect();
    if (!this.running) return;
    // Lanes of a connection since lost consume nothing more.
    this.lanes = this.lanes.filter((lane) => lane.model === model);
    const priorityLane = config.backpressure.priorityLane;
    const queues = priorityLane ? [config.amqp.commandsQueue, priorityQueueOf(config.amqp)] : [config.amqp.commandsQueue];
    // The first lane set up in a try declares the topology: a queue the broker deleted is declared again.
    let declared = false;
    for (const [i, queue] of queues.entries()) {
      if (!this.running) return;
      if (this.lanes.some((lane) => lane.queue === queue)) continue;
      const setup = this.openLane(model, queue, !declared, i === 1);
      declared = true;
      this.settingUp = setup;
      try {
        await setup;
      } finally {
        if (this.settingUp === setup) this.settingUp = null;
      }
    }
  }

  /**
   * Opens a channel on `model`, declares the topology on it (`declare`), sets its prefetch and consumes `queue`,
   * each call bounded by `amqp.publish_timeout_ms`, and adds the lane to `lanes`. A call not answered in time
   * throws {@link BrokerTimeoutError} (counted in `pb_amqp_call_timeouts_total{what="consumer_subscribe"}`) after
   * the channel is closed, within the same bound and never by dropping the connection: a consume the broker did but
   * answers late (its consumer registered, messages delivered to it) ends with that close, which the broker reads
   * after it: the consumer goes, what it was delivered is requeued, and the retry's consumer, on a channel of its
   * own, is the queue's only one. Such a give-up is said in a warn line (see {@link logLateConsumeClosed}).
   */
  private async openLane(model: ChannelModel, queue: string, declare: boolean, priority: boolean): Promise<void> {
    const { config, logger } = this.deps;
    const timeoutMs = config.amqp.publishTimeoutMs;
    const watch = { what: 'consumer_subscribe', logger };
    // A channel per queue: the priority lane's prefetch is its own, never filled by authorizations.
    const channel = await openChannelWithin(model, (m) => m.createChannel(), { ...watch, timeoutMs, onTimeout: 'abandon' });
    // The lane, once consuming: a close the broker makes (an `error` first; our own closes and a lost connection's
    // have none) or a consumer it cancels loses it.
    let lane: Lane | undefined;
    let brokerError: string | undefined;
    // Either can come between the consume's answer and the lane's creation: the lane is then lost at once.
    let closedEarly = false;
    let cancelledEarly = false;
    channel.on('error', (err: Error) => {
      brokerError = err.message;
      logger.warn('consumer channel error', { error: err.message, queue });
    });
    channel.on('close', () => {
      if (!lane) {
        closedEarly = true;
        return;
      }
      lane.closed = true;
      if (brokerError !== undefined) this.loseLane(lane, 'channel_closed', brokerError);
    });
    const bounded = <T>(call: Promise<T>, what: string): Promise<T> => withTimeout(call, timeoutMs, what, watch);
    try {
      if (declare) await bounded(declareTopology(channel, config.amqp, { priorityLane: config.backpressure.priorityLane }), 'declaring the topology');
      // One gate for both lanes: what is in flight follows PSP latency and memory whatever the lane (a
      // fixed prefetch of 50 held captures to 2 x 50 / PSP time), and a priority command takes the next free
      // slot ahead of every waiting authorization.
      const gate = this.deps.inflight;
      const prefetch = gate ? config.inflight.max : config.amqp.prefetch;
      await bounded(channel.prefetch(prefetch), `setting the prefetch of ${queue}`);
      // Finished messages held for a multiple ack take at most a quarter of the window.
      const acks = new AckBatcher(channel, { maxHeld: Math.max(1, Math.floor(prefetch / 4)) });
      const work = new Set<Promise<void>>();
      const consuming = channel.consume(queue, (msg) => {
        if (!msg) {
          // Cancelled by the broker (its queue deleted, a quorum queue's consumer cancelled): subscribed again.
          if (lane) this.loseLane(lane, 'consumer_cancelled', `the broker cancelled the consumer of ${queue}`);
          else cancelledEarly = true;
          return;
        }
        markDelivered(msg);
        acks.track(msg);
        // Delivered after stop() began (its cancel not answered yet, or given up): never started, and left unacked
        // rather than nacked (a nack would bring it straight back here while the cancel is unanswered, in a loop).
        // It stays tracked as unfinished, so no multiple ack covers it; the stop's channel close returns it.
        if (!this.running) return this.leaveForClose(msg);
        // Waited for a slot while its channel closed: the broker has requeued it, the work would be done twice.
        const run = () => (lane?.closed ? Promise.resolve(this.giveBack(channel, acks, msg)) : this.handle(channel, acks, msg, priority));
        const task = (gate ? gate.run(run, () => this.giveBack(channel, acks, msg), priority) : this.handle(channel, acks, msg, priority)).finally(() => {
          this.inFlight.delete(task);
          work.delete(task);
        });
        this.inFlight.add(task);
        work.add(task);
      });
      const { consumerTag } = await bounded(consuming, `consuming ${queue}`);
      // Kept also when stop() began meanwhile: stop() waits for this setup, then cancels and closes the lane.
      lane = { queue, model, channel, consumerTag, acks, priority, since: Date.now(), work, closed: closedEarly };
      this.lanes.push(lane);
      if (closedEarly && brokerError !== undefined) this.loseLane(lane, 'channel_closed', brokerError);
      else if (cancelledEarly) this.loseLane(lane, 'consumer_cancelled', `the broker cancelled the consumer of ${queue}`);
    } catch (err) {
      const closed = await closeChannelWithin(channel, { timeoutMs, what: 'consumer_subscribe', logger, onTimeout: 'abandon' });
      // The broker may have registered the consumer and be delivering to it, its answer late: nobody holds that
      // consumer, so only this close ends it (the broker reads it after the consume, then requeues what it delivered).
      if (err instanceof BrokerTimeoutError && err.call === `consuming ${queue}`) logLateConsumeClosed(logger, 'command consumer', queue, closed);
      throw err;
    }
  }

  /**
   * Stops taking messages, lets in-flight ones finish within the budget (or requeues them), closes the channels. Every broker call
   * here is bounded by `amqp.publish_timeout_ms`, and by what is left of the process's shutdown `budget`: a cancel or
   * a close the broker does not answer is given up (counted: `pb_amqp_call_timeouts_total{what="consumer_cancel"}`,
   * `pb_amqp_channel_close_timeouts_total{what="command_consumer"}`) and the connection kept; its own bounded close
   * ends it, and the broker requeues what was left unacked. The cancels, a lane's setup under way and the work in
   * flight are waited for side by side (the cancel frames go out first, so the broker reads them before any nack),
   * then the lanes' closes and the demotion publisher's close, side by side too; a lane whose consumer the broker
   * cancelled, closing once its messages are acked, closes within the budget too.
   * A message delivered after the stop began is left unacked (never nacked: while the cancel is unanswered the broker
   * would deliver it here again at once, in a loop) and returned by the close; the info line
   * `command consumer stopped: …` gives how many (`left_unacked`). The work in flight is waited for within the budget
   * only (step `work_in_flight`): what is still under way when it runs out is abandoned, left unacked for the closes to
   * return (see {@link abandonUnderWay}).
   */
  async stop(budget: ShutdownBudget = ShutdownBudget.unbounded()): Promise<void> {
    this.running = false;
    this.shutdown = budget;
    this.subscription.cancel();
    this.deps.connection.off('ready', this.onReady);
    const { logger, config } = this.deps;
    const timeoutMs = config.amqp.publishTimeoutMs;
    // Each cut short loses nothing: a consumer whose cancel is given up only delivers messages that are left unacked
    // (returned by the close); a close given up leaves the channel to the connection's close (or its dropped socket).
    const cancel = (lane: Lane) =>
      budget.step(timeoutMs, 'consumer_cancel', (ms) =>
        cancelConsumerWithin(lane.channel, lane.consumerTag, lane.queue, { timeoutMs: ms, what: 'consumer_cancel', logger }),
      );
    // The lanes consuming now are cancelled at once, not after the setup below: nothing new starts meanwhile.
    const consuming = this.lanes.slice();
    const cancelled = consuming.map(cancel);
    // A lane being set up ends within its calls' bounds (stopped below if it consumes, closed by its setup if not),
    // waited for at most what the budget leaves. Cut short, a lane it still sets up is ended by the connection's
    // close: meanwhile it only holds messages left unacked, which that close returns.
    const setUp = budget
      .wait(this.settingUp, Infinity, 'consumer_setup')
      .then(() => Promise.all(this.lanes.filter((lane) => !consuming.includes(lane)).map(cancel)));
    // Messages still waiting for an in-flight slot were never started: back to the broker at once.
    this.deps.inflight?.cancelWaiting();
    // The work in flight (a PSP call under way) is waited for within the budget only: a PSP that never answers must
    // not hold the stop past shutdown.deadline_ms, where the supervisor's SIGKILL would cut it mid-write.
    const finished = budget.wait(Promise.allSettled([...this.inFlight, ...this.retiring]), Infinity, 'work_in_flight');
    const [inTime] = await Promise.all([finished, ...cancelled, setUp]);
    if (!inTime) this.abandonUnderWay();
    const lanes = this.lanes;
    // The acks still pending (this tick's, and those held for a head run) go out before the channel closes.
    for (const lane of lanes) lane.acks.flushAll();
    // A close given up, or the demotion channel's: ended by the connection's close; the broker requeues what is unacked.
    await Promise.all([
      ...lanes.map((lane) =>
        budget.step(timeoutMs, 'command_consumer', (ms) =>
          closeChannelWithin(lane.channel, { timeoutMs: ms, what: 'command_consumer', logger, onTimeout: 'abandon' }),
        ),
      ),
      this.demotions.close(budget),
    ]);
    this.lanes = [];
    if (this.leftForClose > 0)
      logger.info('command consumer stopped: messages delivered after the stop began were left unacked, returned to their queue by the close', {
        left_unacked: this.leftForClose,
      });
  }

  /**
   * The stop's budget ran out with messages still being handled: each is left unacked (the channel's close that ends
   * the stop returns it to its queue; its handler, if it ever ends, neither acks nor nacks it), counted
   * (`pb_shutdown_inflight_abandoned_total{role="worker",work="command"}`, and `stats.requeued`) and named in a warn
   * line with its operation id. Its redelivery is safe: the operation is in the ledger (SENT, its attempt on record),
   * so the copy delivered again is a duplicate whose delivery sends the request again under the same idempotency
   * key (the PSP performs it at most once and replays its answer), and an outcome is recorded once (the ledger's
   * moves are forward only and record the outcome's event in the same script: the late answer of either attempt
   * finds the operation decided and only settles it).
   */
  private abandonUnderWay(): void {
    const left = [...this.underWay];
    if (left.length === 0) return;
    for (const [msg] of left) {
      this.abandoned.add(msg);
      this.count('requeued');
    }
    this.underWay.clear();
    countAbandoned('worker', 'command', left.length);
    this.deps.logger.warn(
      'command consumer stop: work in flight abandoned at shutdown.deadline_ms, left unacked (the broker delivers it again; the same idempotency key makes the resend safe)',
      {
        abandoned: left.length,
        operation_ids: left.map(([, seen]) => seen.operationId).filter((id): id is string => id !== null),
      },
    );
  }

  private async handle(channel: Channel, acks: AckBatcher, msg: ConsumeMessage, priority: boolean): Promise<void> {
    markMessage(msg, 'started');
    let decision: ConsumeDecision;
    // Decided here rather than in a function of its own: one suspended frame less per message in flight.
    const seen: Seen = { operationId: null };
    this.underWay.set(msg, seen);
    try {
      let decided: Decided;
      try {
        decided = await this.decideMessage(msg, seen, priority);
        // The delivery (the PSP call, 200-300 ms) is awaited here rather than in decideMessage: that frame, with
        // the parsed body, the validated command and its closures, is garbage before the wait instead of copied
        // by every scavenge during it.
        const { inline } = this.deps;
        if (inline && decided.deliver !== undefined) await inline.run(decided.deliver, decided.prepared);
      } catch (err) {
        decided = await this.afterUnexpectedError(err, msg, seen);
      }
      // Abandoned by the stop meanwhile: left unacked for the close (counted then), whatever it came to.
      if (this.abandoned.has(msg)) return;
      decision = decided.decision;
      markMessage(msg, 'acked');
      unbindOperation(decided.operationId);
      acks.ack(msg);
    } catch {
      if (this.abandoned.has(msg)) return;
      // Only reached when stopping with a dependency still down: hand the message back to the broker.
      decision = 'requeued';
      this.handBack(channel, msg);
      acks.forget(msg);
    } finally {
      this.underWay.delete(msg);
    }
    this.count(decision);
  }

  /** Nacks `msg` back to its queue at a stop, remembering its body: a copy delivered here again is not counted twice. */
  private handBack(channel: Channel, msg: ConsumeMessage): void {
    if (!this.running) {
      const body = bodyDigest(msg);
      this.handedBack.set(body, (this.handedBack.get(body) ?? 0) + 1);
    }
    giveBack(channel, msg);
  }

  /** A message never started (stopping while it waited for a slot): requeued for another consumer. */
  private giveBack(channel: Channel, acks: AckBatcher, msg: ConsumeMessage): void {
    this.handBack(channel, msg);
    acks.forget(msg);
    this.count('requeued');
  }

  /** A message delivered after the stop began: left unacked for the stop's channel close to return (see `giveBack` in consumer-stop.ts). */
  private leaveForClose(msg: ConsumeMessage): void {
    this.leftForClose += 1;
    // The copy of a message this stop nacked, delivered here again before the cancel took effect: counted at the nack.
    const body = msg.fields.redelivered && this.handedBack.size > 0 ? bodyDigest(msg) : '';
    const nacked = body ? (this.handedBack.get(body) ?? 0) : 0;
    if (nacked > 0) {
      if (nacked === 1) this.handedBack.delete(body);
      else this.handedBack.set(body, nacked - 1);
      return;
    }
    this.count('requeued');
  }

  private count(decision: ConsumeDecision): void {
    if (decision === 'accepted') this.stats.accepted += 1;
    else if (decision === 'duplicate') this.stats.duplicates += 1;
    else if (decision === 'dead-lettered') this.stats.deadLettered += 1;
    else if (decision === 'demoted') this.stats.demoted += 1;
    else this.stats.requeued += 1;
  }

  /**
   * After `decideMessage` (everything that must be durable before the ack) threw. Rethrows only when
   * stopping with a dependency down (the message then goes back to the broker). Any other error ends in a
   * dead letter with its reason: a message that fails the same way every time must never be requeued (it
   * would spin the worker and block the messages behind it).
   */
  private async afterUnexpectedError(err: unknown, msg: ConsumeMessage, seen: Seen): Promise<{ decision: ConsumeDecision; operationId: string | null }> {
    if (!this.running) throw err;
    const errorClass = errorClassOf(err);
    const reason = `unexpected_error: ${errorClass}${seen.step ? ` in ${seen.step}` : ''}`;
    await this.deadLetter(msg, { code: 'UNEXPECTED_ERROR', field: '(root)', reason }, 'unexpected_error');
    this.deps.logger.error('command dead-lettered after an unexpected error', {
      error_class: errorClass,
      error: err instanceof Error ? err.message : String(err),
      operation_id: seen.operationId ?? undefined,
      step: seen.step,
      routing_key: msg.fields.routingKey,
      ...refusalIdentifiers(msg.content),
    });
    return { decision: 'dead-lettered', operationId: seen.operationId };
  }

  /** Writes the (redacted) dead letter, holding the message while the broker is down, and counts it. */
  private async deadLetter(
    msg: ConsumeMessage,
    why: { code: string; field: string; reason: string },
    metricReason: string,
    headers: Record<string, string> = {},
  ): Promise<void> {
    const source = `amqp:${this.deps.config.amqp.commandsQueue}`;
    // Two copies of one message (a redelivery after a lane's channel closed mid-work, a re-send) are one dead letter.
    const messageId = msg.properties.messageId === undefined || msg.properties.messageId === null ? undefined : String(msg.properties.messageId);
    const recordHeaders: Record<string, string> = {
      'x-pb-routing-key': msg.fields.routingKey,
      ...refusalHeaders(refusalIdentifiers(msg.content)),
      ...(authenticated.has(msg) ? { [AUTHENTICATED_CHANNEL_HEADER]: authenticated.get(msg) as string } : {}),
      ...headers,
    };
    // Where it came from is part of it: one body without a message id signed by two channels is two messages. So is
    // the replay it is (an operator's act: a replay refused again is a record of its own, never a duplicate).
    const identity = deadLetterIdentity(this.identityKey, messageId, msg.content, why, { ...recordHeaders, ...replayOf(msg) });
    const written = await this.retrying('dead-letter', () =>
      this.deps.deadLetters.write(msg.content, { ...why, source }, recordHeaders, { identity, waiting: () => this.running }),
    );
    reportOnceGap(this.deps.logger, written, { dead_letter_id: written.id, reason: metricReason });
    if (written.duplicate) {
      deadLetterDuplicates().inc({ reason: metricReason });
      this.deps.logger.info('dead letter already written for this message: copy acked without a second record', {
        dead_letter_id: written.id,
        reason: metricReason,
        code: why.code,
        redelivered: msg.fields.redelivered,
        routing_key: msg.fields.routingKey,
      });
      return;
    }
    deadLetteredTotal().inc({ reason: metricReason });
  }

  private async decideMessage(msg: ConsumeMessage, seen: Seen, priority: boolean): Promise<Decided> {
    let command: PaymentCommand;
    // The contract label of the metric: a known contract's name, `canonical`, or `unknown` until it is read.
    let contract = 'unknown';
    try {
      checkSize(msg.content);
      const auth = this.keyring.verify(msg.content, msg.properties.headers, msg.fields.routingKey);
      if (!auth.ok) return await this.refuseUnauthenticated(msg, auth.reason);
      const message = parseMessage(msg.content);
      const resolved = contractOf(message);
      contract = resolved === CANONICAL ? CANONICAL : resolved.name;
      // A contract belongs to one channel: another channel's key signing it is a claim to be that channel.
      if (resolved !== CANONICAL && resolved.channel !== auth.channel) return await this.refuseUnauthenticated(msg, 'channel_mismatch');
      const claimed = message !== null && typeof message === 'object' ? (message as Record<string, unknown>).channel : undefined;
      // A known channel other than the signer's is a claim to be another; anything else the schema refuses by name.
      if (typeof claimed === 'string' && claimed !== auth.channel && (KNOWN_CHANNELS as readonly string[]).includes(claimed)) {
        return await this.refuseUnauthenticated(msg, 'channel_mismatch');
      }
      authenticated.set(msg, auth.channel);
      // The time of receipt is a contract message's `received_at`; a canonical command carries its own.
      const receivedAt = resolved === CANONICAL ? '' : new Date().toISOString();
      // A card-like `payment.gateway_key` or `payment.recurring.network_transaction_id` (and only those) asks the issued-token
      // index: one GET each, never for an ordinary command;
      // held and retried while Redis is down, as every ledger read here (never dead-lettered as an unexpected error).
      const token =
        resolved === CANONICAL && asksIssuedTokenIndex(message)
          ? await this.retrying('issued-token index', () => issuedTokenOf(this.issuedTokens, message, this.deps.config.gateways))
          : NO_ISSUED_TOKEN;
      const validated = readChannelMessage(message, this.deps.config.channels, receivedAt, token.values);
      command = validated.command;
      reportMaskedCardData(this.deps.logger, command.channel, validated.masked, { routing_key: msg.fields.routingKey, contract });
      reportIssuedToken(this.deps.logger, 'consumer', token, validated.issued, { channel: command.channel, routing_key: msg.fields.routingKey });
    } catch (err) {
      if (!(err instanceof CommandValidationError)) throw err;
      await this.deadLetter(msg, { code: err.code, field: err.field, reason: err.reason }, err.code.toLowerCase());
      contractMessages().inc({ contract, outcome: 'refused' });
      this.deps.logger.warn('command dead-lettered', {
        code: err.code,
        field: err.field,
        reason: err.reason,
        routing_key: msg.fields.routingKey,
        contract,
        ...refusalIdentifiers(msg.content),
      });
      return { decision: 'dead-lettered', operationId: null };
    }
    // The lane is for settling money already authorized: anything else published there goes to the back of the normal queue.
    if (priority && !isPriorityCommand(command.command)) return await this.demote(msg, command, contract);
    contractMessages().inc({ contract, outcome: 'accepted' });
    const operationId = operationIdOf(command);
    seen.operationId = operationId;
    // A take the limiter's Redis answers with an error (not an outage) is dead-lettered naming the rate limit.
    seen.step = 'rate limit';
    // A redelivered copy (its lane lost mid-work) whose operation the ledger holds with this command is a duplicate
    // the create below finds: its first copy took the token. One read for redeliveries only, none for first ones.
    if (!(msg.fields.redelivered && (await this.recordedAlready(operationId, command)))) await this.admit(command);
    seen.step = undefined;
    markMessage(msg, 'admitted');
    bindOperation(msg, operationId);
    // Rare path: the completion of a customer action (3-D Secure) of an operation waiting for it.
    if (command.payment.action_result) return await this.completeAction(msg, command, operationId);
    // Rare path: one order paid by a gift card and a card, or a refund of one, is a saga of operations.
    if (isSplitTender(command) || isSplitTenderRefund(command)) return await this.startSplitTender(msg, command, operationId);
    const { inline } = this.deps;
    // The fast path records a new operation's first attempt with its creation when it can go out at once.
    const now = Date.now();
    const prepared = inline ? inline.prepare(draftRecord(operationId, command, now)) : null;
    // A try that created the record but found it unacknowledged by the replicas writes it again; one that then finds
    // it there (the first write survived) still created it: this message delivers it.
    let createdHere = false;
    const { created, state, record, conflict, digest, heldBy } = await this.retrying('ledger', async () => {
      const result = await this.deps.ledger.create(
        operationId,
        command,
        now,
        prepared?.interaction,
        prepared?.routing ? { routing: prepared.routing } : undefined,
      );
      createdHere ||= result.created;
      if (!createdHere || result.conflict) return result;
      await confirmReplicated(this.deps.ledger, this.deps.config.redis, operationId, command.payment, 'record');
      return { ...result, created: true };
    });
    markOperation(operationId, 'created');
    if (conflict) {
      // No state: the id is a split tender's or a split refund's (its claim names which), not an operation's.
      await this.refuseConflict(msg, command, operationId, digest, state ?? `claimed by ${heldBy ?? 'another record'}`);
      return { decision: 'dead-lettered', operationId };
    }
    if (!created && state === 'RECEIVED' && (await this.retrying('ledger', () => this.deps.ledger.releaseHold(operationId)))) {
      // The re-send (or the replay of the dead letter) of an operation held or parked because its gateway
      // was not configured, and never sent: deliver it again now, through its one job id.
      this.deps.logger.info('re-sent command of a held operation: delivering it again', { operation_id: operationId, gateway: command.payment.gateway });
      await this.retrying('delivery queue', () => requeueDelivery(this.deps.deliveryQueue, operationId));
      return { decision: 'accepted', operationId };
    }
    if (inline) {
      // `handle` delivers it (see there).
      if (created) return { decision: 'accepted', operationId, deliver: record ?? operationId, prepared: prepared ?? undefined };
      // A redelivery: the process that had it may have died mid-way; finish (or re-report) it now.
      if (msg.fields.redelivered) return { decision: 'duplicate', operationId, deliver: operationId };
      // A second copy from the channel: the first is being (or was) handled; the sweep covers its loss.
      return { decision: 'duplicate', operationId };
    }
    if (!created && state !== 'RECEIVED') {
      this.deps.logger.info('duplicate command dropped', { operation_id: operationId, state });
      return { decision: 'duplicate', operationId };
    }
    // RECEIVED and already present: a redelivery after a crash between the ledger write and the enqueue.
    // Adding again is safe: BullMQ ignores a jobId it already holds.
    await this.retrying('delivery queue', () => this.deps.deliveryQueue.add('deliver', { operationId }, { jobId: bullJobId(operationId) }));
    return { decision: created ? 'accepted' : 'duplicate', operationId };
  }

  /**
   * `payment.action_result`: the same authorize/sale (same operation id and money) sent again to complete
   * its customer action (src/delivery/action-completion.ts). Never creates an operation: nothing waiting
   * under that id, another command, or other money is refused naming the field. An operation no longer
   * waiting makes it a duplicate. The completion's outcome is recorded before the ack.
   */
  private async completeAction(
    msg: ConsumeMessage,
    command: PaymentCommand,
    operationId: string,
  ): Promise<{ decision: ConsumeDecision; operationId: string | null }> {
    const refuse = async (reason: string): Promise<{ decision: ConsumeDecision; operationId: string | null }> => {
      await this.deadLetter(msg, { code: 'INVALID_PARAMS', field: 'payment.action_result', reason }, 'invalid_action_result', {
        'x-pb-operation-id': operationId,
      });
      this.deps.logger.warn('action completion refused', { operation_id: operationId, field: 'payment.action_result', reason });
      return { decision: 'dead-lettered', operationId };
    };
    if (command.command !== 'authorize' && command.command !== 'sale') return await refuse(`completes an authorize or a sale, not a ${command.command}`);
    const stored = await this.retrying('ledger', () => this.deps.ledger.digestOf(operationId));
    if (stored === null) return await refuse(`no operation ${operationId} waits for a customer action`);
    const digest = commandDigest(command);
    if (stored !== digest) {
      await this.refuseConflict(msg, command, operationId, digest, 'ACTION_REQUIRED');
      return { decision: 'dead-lettered', operationId };
    }
    const completion = this.deps.actionCompletion;
    if (!completion) return await refuse('customer action completion is not handled by this process');
    let result: ActionCompletionResult;
    try {
      result = await completion.complete(operationId, command.payment.action_result as ActionResult);
    } catch (err) {
      if (err instanceof CommandValidationError) return await refuse(err.reason);
      throw err;
    }
    if (result === 'unsupported') return await refuse(`gateway ${command.payment.gateway} completes customer actions by webhook, not by command`);
    if (result === 'not_waiting') {
      this.deps.logger.info('duplicate command dropped: its operation no longer waits for a customer action', { operation_id: operationId });
      return { decision: 'duplicate', operationId };
    }
    return { decision: 'accepted', operationId };
  }

  /**
   * Records a split tender (or a refund of one) so the split tender sweep carries it out, durable before the
   * ack: each tender then becomes an operation of its own (docs/payment-methods/stored-value.md). The same
   * split id with other money is an idempotency conflict; a refund the bridge cannot carry (unknown split,
   * not settled, more than is left) gets its FAIL event.
   */
  private async startSplitTender(
    msg: ConsumeMessage,
    command: PaymentCommand,
    operationId: string,
  ): Promise<{ decision: ConsumeDecision; operationId: string | null }> {
    const split = this.deps.splitTender;
    if (!split) {
      const field = command.command === 'refund' ? 'payment.split_tender' : 'payment.tenders';
      await this.deadLetter(msg, { code: 'INVALID_PARAMS', field, reason: 'split tender is not handled by this process' }, 'split_tender_unavailable');
      return { decision: 'dead-lettered', operationId };
    }
    // One reference, one operation: an ordinary operation already under this id (a reference the channel used
    // before) is not this split or refund, whose own operations are named apart (`_<id>.…`).
    const taken = await this.retrying('ledger', () => this.deps.ledger.get(operationId));
    if (taken) {
      await this.refuseConflict(msg, command, operationId, commandDigest(command), `${taken.command} ${taken.state}`);
      return { decision: 'dead-lettered', operationId };
    }
    if (command.command === 'refund') {
      const { conflict } = await this.retrying('split tender refund', () => split.startRefund(operationId, command));
      if (conflict) {
        await this.refuseConflict(msg, command, operationId, conflict.digest, conflict.existing);
        return { decision: 'dead-lettered', operationId };
      }
      return { decision: 'accepted', operationId };
    }
    const { conflict, digest, state } = await this.retrying('split tender', () => split.start(operationId, command));
    if (conflict) {
      await this.refuseConflict(msg, command, operationId, digest, state);
      return { decision: 'dead-lettered', operationId };
    }
    return { decision: 'accepted', operationId };
  }

  /**
   * A valid command that may not ride the priority lane (an authorization, a sale, a validate, …: only
   * captures, cancels and refunds may) arrived on it: republish the message as it came (same body, same
   * signature, same routing key) to the commands exchange, confirmed before the caller acks it, so it waits
   * behind the backlog like any authorization and is read there again. Counted in
   * `pb_priority_lane_demoted_total{channel,command}`, one warning a minute per channel and command.
   */
  private async demote(msg: ConsumeMessage, command: PaymentCommand, contract: string): Promise<{ decision: ConsumeDecision; operationId: string | null }> {
    const { config } = this.deps;
    const headers = { ...(msg.properties.headers ?? {}), [DEMOTED_HEADER]: priorityQueueOf(config.amqp) };
    await this.retrying('priority lane demotion', () =>
      this.demotions.publish(config.amqp.commandsExchange, msg.fields.routingKey, msg.content, {
        contentType: msg.properties.contentType ?? 'application/json',
        headers,
        ...(msg.properties.messageId !== undefined ? { messageId: String(msg.properties.messageId) } : {}),
      }),
    );
    demotedTotal().inc({ channel: command.channel, command: command.command });
    this.demotionLog.warn(
      `${command.channel}:${command.command}`,
      'priority lane: command demoted to the normal lane (only capture, cancel and refund may ride it; rate-limited: one line per minute per channel and command)',
      { channel: command.channel, command: command.command, contract, routing_key: msg.fields.routingKey, reason: 'not_a_priority_command' },
    );
    return { decision: 'demoted', operationId: null };
  }

  /**
   * Waits until the command's channel and account have a rate-limit token. The message stays unacked
   * meanwhile, so the prefetch window stops this consumer from taking more than the limits let through:
   * nothing is dropped and nothing spins (the held commands of a channel and account wait in one queue of the
   * limiter's, first held first, captures, cancels and refunds ahead, woken by one timer: one look at the
   * bucket a wake, however many are held).
   * Throws when stopping: the message goes back to the queue.
   */
  private async admit(command: PaymentCommand): Promise<void> {
    const limiter = this.deps.rateLimiter;
    if (!limiter?.enabled) return;
    const subject = { channel: command.channel, gateway: command.payment.gateway, account: command.payment.gateway_account };
    // Captures, cancels and refunds go before held authorizations of the same channel and account.
    const urgent = isPriorityCommand(command.command);
    const decision = await this.retrying('rate limit', () => limiter.take(subject, urgent));
    if (decision.allowed) return;
    this.stats.rateLimited += 1;
    heldGauge().inc();
    try {
      await this.retrying('rate limit', () => limiter.waitForToken(subject, decision, () => this.running, urgent));
    } finally {
      heldGauge().dec();
    }
  }

  /**
   * Whether the ledger holds `operationId` with `command`'s digest (a duplicate): asked of a redelivered message
   * only, and only when a rate limit would take a token for it.
   */
  private async recordedAlready(operationId: string, command: PaymentCommand): Promise<boolean> {
    // A customer action's completion carries its operation's digest but is a message of its own, with its own work.
    if (!this.deps.rateLimiter?.enabled || command.payment.action_result) return false;
    const stored = await this.retrying('ledger', () => this.deps.ledger.digestOf(operationId));
    if (stored === null || stored !== commandDigest(command)) return false;
    redeliveredUnlimited().inc();
    this.deps.logger.info('redelivered command of a recorded operation: admitted without a rate-limit token (its first copy took it)', {
      operation_id: operationId,
      channel: command.channel,
    });
    return true;
  }

  /**
   * A message without valid credentials of the channel it claims: dead-lettered (redacted, reason in the
   * headers), counted by claimed channel and reason, one warning per minute per reason.
   */
  private async refuseUnauthenticated(msg: ConsumeMessage, reason: ChannelAuthRefusal): Promise<{ decision: ConsumeDecision; operationId: string | null }> {
    const claimed = routingChannel(msg.fields.routingKey);
    const channel = (KNOWN_CHANNELS as readonly string[]).includes(claimed) ? claimed : 'other';
    const why = reason === 'channel_mismatch' ? 'names another channel than the one whose key signed it' : 'is not signed with a key of the channel it claims';
    await this.deadLetter(
      msg,
      { code: 'UNAUTHENTICATED_CHANNEL', field: 'x-pb-signature', reason: `channel_auth_${reason}: the message ${why}` },
      'unauthenticated_channel',
    );
    channelRefusals().inc({ channel, reason });
    this.authRefusals.warn(reason, 'security: channel message refused, its channel credentials do not hold (rate-limited: one line per minute per reason)', {
      security: 'channel_unauthenticated',
      reason,
      claimed_channel: channel,
      code: 'UNAUTHENTICATED_CHANNEL',
    });
    return { decision: 'dead-lettered', operationId: null };
  }

  /**
   * A command whose operation id is taken by one with other money fields (the ledger's create compared
   * their digests): dead-letter it with the reason, tell the OMS it failed with an event of its own (the
   * original operation and its events are untouched), warn. Both writes are durable before the ack.
   */
  private async refuseConflict(msg: ConsumeMessage, command: PaymentCommand, operationId: string, digest: string, existingState: string): Promise<void> {
    const { config, recorder, logger } = this.deps;
    const field = 'payment.operation_reference';
    const reason = `${IDEMPOTENCY_CONFLICT}: operation ${operationId} already exists with other money fields`;
    await this.deadLetter(msg, { code: 'IDEMPOTENCY_CONFLICT', field, reason }, IDEMPOTENCY_CONFLICT, { 'x-pb-operation-id': operationId });
    if (recorder) await this.retrying('conflict event', () => recorder.emit(idempotencyConflictEvent(operationId, command, digest, config)));
    idempotencyConflicts().inc({ channel: command.channel });
    logger.warn('idempotency conflict: command refused, its operation id is taken by a command with other money fields', {
      operation_id: operationId,
      command: command.command,
      channel: command.channel,
      existing_state: existingState,
      reason: IDEMPOTENCY_CONFLICT,
      field,
    });
  }

  /**
   * Retries a write to a dependency with capped backoff while running; gives up on shutdown, and after
   * {@link MESSAGE_FAULT_TRIES} failures that are not a dependency outage (the dependency answered, with an
   * error the message causes: a Redis error reply, a library refusing an argument). Those rethrow, and the
   * message is dead-lettered.
   */
  private async retrying<T>(what: string, write: () => Promise<T>): Promise<T> {
    let delay = 100;
    let faults = 0;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await write();
      } catch (err) {
        if (!this.running) throw err;
        if (!isDependencyOutage(err)) {
          faults += 1;
          if (faults >= MESSAGE_FAULT_TRIES) throw err;
        }
        this.stats.dependencyRetries += 1;
        if (attempt === 1 || attempt % 20 === 0) {
          this.deps.logger.warn(`${what} write failed; holding the message and retrying`, { error: (err as Error).message, attempt });
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}

/**
 * What `decideMessage` made of a message. `deliver`: the operation (a record just written, or its id) that the
 * caller delivers inline before the ack, with the first attempt `prepared` for it.
 */
interface Decided {
  decision: ConsumeDecision;
  operationId: string | null;
  deliver?: string | OperationRecord;
  prepared?: PreparedAttempt;
}

/** What `handle` knows of a message when deciding it fails: its operation and, where it names one, the step that failed. */
interface Seen {
  operationId: string | null;
  step?: 'rate limit';
}

/** Deliveries whose channel signature held (and named no other channel), by the channel: their dead letters say so. */
const authenticated = new WeakMap<ConsumeMessage, string>();

/** Tries a write that fails for a reason other than an outage gets before the message is dead-lettered. */
export const MESSAGE_FAULT_TRIES = 3;

/** Size is bounded before the body is authenticated, parsed, validated, scanned or redacted. */
function checkSize(content: Buffer): void {
  if (content.length > MAX_COMMAND_MESSAGE_BYTES) {
    throw new CommandValidationError('(root)', `is larger than ${MAX_COMMAND_MESSAGE_BYTES} bytes`, 'INVALID_REQUEST');
  }
}

/** Bytes that are not UTF-8 are refused, never replaced; depth is bounded before the text is parsed. */
function parseMessage(content: Buffer): unknown {
  return parseBoundedJson(decodeJsonText(content), { maxDepth: MAX_JSON_DEPTH });
}

const KNOWN_CHANNELS = ['bus', 'web', 'pos', 'marketplace'] as const;

/** `pb_channel_messages_refused_total{channel,reason}`: channel = the routing key's first word (or `other`). */
function channelRefusals() {
  return counter(
    'pb_channel_messages_refused_total',
    'Messages on the commands exchange refused because they lack valid credentials of the channel they claim, by claimed channel and reason',
    ['channel', 'reason'] as const,
  );
}

/**
 * `pb_channel_contract_messages_total{contract,outcome}`: messages read by payload contract (a contract's
 * name, `canonical`, or `unknown` when the body names none it knows), `accepted` or `refused`.
 */
function contractMessages() {
  return counter(
    'pb_channel_contract_messages_total',
    'Messages on the commands queues by payload contract (contract name, canonical, unknown) and outcome (accepted, refused)',
    ['contract', 'outcome'] as const,
  );
}

/** Header on a demoted message: the priority queue it was moved from. */
export const DEMOTED_HEADER = 'x-pb-demoted-from';

/** `pb_priority_lane_demoted_total{channel,command}`: commands moved from the priority lane to the normal one. */
function demotedTotal() {
  return counter(
    'pb_priority_lane_demoted_total',
    'Commands published to the priority lane that may not ride it (only capture, cancel and refund may), moved to the normal commands queue, by channel and command',
    ['channel', 'command'] as const,
  );
}

/** `pb_commands_dead_lettered_total{reason}`: reason is the validation code (lower case) or `unexpected_error`. */
/**
 * The replay a message is (`ops dead-letters replay` publishes `x-pb-replay-of` and a fresh `x-pb-replay-attempt`),
 * with its publish time: a redelivered copy of it has the same, another replay of one dead letter another.
 */
function replayOf(msg: ConsumeMessage): Record<string, string> {
  const headers = msg.properties.headers ?? {};
  const of: unknown = headers['x-pb-replay-of'];
  if (of === undefined || of === null) return {};
  const attempt: unknown = headers['x-pb-replay-attempt'];
  const at: unknown = msg.properties.timestamp;
  return { 'x-pb-replay-of': String(of), 'x-pb-replay-attempt': String(attempt ?? ''), 'x-pb-replay-at': String(at ?? '') };
}

function deadLetteredTotal() {
  return counter('pb_commands_dead_lettered_total', 'Commands the consumer dead-lettered, by reason', ['reason'] as const);
}

/** `pb_rate_limit_redelivered_skipped_total`: redelivered copies of recorded operations admitted without a token. */
function redeliveredUnlimited() {
  return counter(
    'pb_rate_limit_redelivered_skipped_total',
    'Redelivered commands whose operation the ledger already held with the same command, admitted without a rate-limit token (their first copy took it)',
  );
}

/** A message body's SHA-256, base64: what a stop remembers of a message it handed back (see `handedBack`). */
function bodyDigest(msg: ConsumeMessage): string {
  return createHash('sha256').update(msg.content).digest('base64');
}

import { JOB_LOCK } from '../queueing/job-lock';
import { DelayedError, Job, Worker } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { pbBackoffStrategy } from '../queueing/backoff-strategy';
import { countJobFault } from '../queueing/job-faults';
import { bullPrefix } from '../queueing/bull-prefix';
import { Logger } from '../logging/logger';
import { NotificationSender, sendLeaseMs, sendLeasedEvent } from './event-send';
import { EventStore, StoredEvent, UnreadableEventError } from './event-store';
import { BusRpcError } from '../bus/bus-errors';
import { EVENT_REJECTION_TRIES, contentRejection, countEventRejection } from './event-rejection';
import { refusedNotice, setAsideRefusedNotice } from './refusable-notices';
import { OMS_EVENTS_QUEUE, OmsEventJobData } from './oms-events-queue';
import { eventReplicaShortfall } from './event-replicas';
import { ReplicaShortfall, unreplicatedMessage } from '../ledger/replica-acks';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';

/**
 * A queued event held for its replicas (`confirmBeforeSend`): the Redis outage its job is retried on, which logged its
 * own line ("event held: …"), so the worker's generic retry line skips it (one warn line per hold, not two).
 */
class EventHeldError extends DependencyUnavailableError {
  constructor(eventId: string, short: ReplicaShortfall) {
    super('redis', unreplicatedMessage('queued_event', eventId, short));
  }
}

/** How long an event waits for an earlier event of the same payment before it looks again, ms. */
const ORDER_WAIT_MS = 100;

/**
 * The `oms-events` worker: sends each recorded event to the bus, in sequence order per payment, retrying
 * with backoff until the bus has it. An event whose predecessor has not been delivered yet waits (without
 * spending an attempt, looking again less often the longer it has waited); a repeat of an event already
 * delivered is dropped. The notification carries its `event_id` and `sequence`, so the OMS drops the rare
 * duplicate (sent, then a crash before the ack). An event the bus refuses for its content
 * {@link EVENT_REJECTION_TRIES} times is set aside (`EventStore.setAside`), so the payment's later events go on; one an
 * operator then dismissed (`EventStore.dismiss`) is never sent, whatever job names it.
 * With `redis.replica_acks`, an event queued without the outcome recorder's confirmation on the replicas (the
 * recovery sweep's revival, an operator's resend) is held until they acknowledge it (`confirmBeforeSend`).
 */
export function startEventSender(
  config: Config,
  connection: RedisClient,
  deps: { events: EventStore; sender: NotificationSender; logger: Logger },
): Worker<OmsEventJobData> {
  const worker = new Worker<OmsEventJobData>(
    OMS_EVENTS_QUEUE,
    async (job: Job<OmsEventJobData>, token?: string) => {
      let event: StoredEvent | null;
      try {
        event = await deps.events.load(job.data.eventId);
      } catch (err) {
        if (!(err instanceof UnreadableEventError)) throw err;
        // One set aside as unreadable and then dismissed: dropped, never counted as refused and set aside again.
        if (err.event.dismissed) return dropDismissed(err.event, deps);
        return afterRefusal(job, err.event, err, deps);
      }
      if (!event) {
        deps.logger.error('event job without a recorded event; dropping it', { event_id: job.data.eventId });
        return 'missing';
      }
      if (event.dismissed) return dropDismissed(event, deps);
      // An operator's resend goes out although the watermark passed it when it was set aside.
      if (!job.data.resend && !event.resent) {
        const sent = await deps.events.sentWatermark(event.paymentKey);
        if (sent >= event.sequence) {
          await deps.events.markSent(event.paymentKey, event.sequence, event.eventId);
          return 'already-sent';
        }
        if (sent < event.sequence - 1) {
          await job.moveToDelayed(Date.now() + orderWaitMs(job, config), token);
          throw new DelayedError();
        }
      }
      // Queued without the outcome recorder's confirmation (revived by the recovery sweep, resent by an operator):
      // with `redis.replica_acks` it is confirmed here before the OMS hears of it.
      if (!job.data.replicated) await confirmBeforeSend(job, event, config, deps);
      // Someone else (the inline fast path) is sending it right now: look again shortly.
      if (!(await deps.events.claim(event.eventId, sendLeaseMs(config)))) {
        await job.moveToDelayed(Date.now() + ORDER_WAIT_MS, token);
        throw new DelayedError();
      }
      try {
        await sendLeasedEvent(deps.events, deps.sender, event, event.sequence);
      } catch (err) {
        // A notice the bus refused for good (src/events/refusable-notices.ts) is set aside at once.
        const refused = refusedNotice(event, err, config);
        if (refused) return setAsideRefusedNotice(refused, event, deps);
        return afterRefusal(job, event, err, deps);
      }
      return 'sent';
    },
    {
      connection,
      prefix: bullPrefix(config.redis.keyPrefix, OMS_EVENTS_QUEUE),
      concurrency: config.events.concurrency,
      settings: { backoffStrategy: pbBackoffStrategy({ baseMs: config.events.backoffBaseMs, maxMs: config.events.backoffMaxMs }) },
      ...JOB_LOCK,
    },
  );
  worker.on('error', (err) => deps.logger.warn('event sender error', { error: err.message }));
  worker.on('failed', (job, err) => {
    // A held event logged its own line (confirmBeforeSend).
    if (err instanceof EventHeldError) return;
    if (job && job.attemptsMade % 10 === 1)
      deps.logger.warn('event not delivered yet; retrying', { event_id: job.data.eventId, attempts: job.attemptsMade, error: err.message });
  });
  return worker;
}

/**
 * An event an operator dismissed (the bus will never take it): whatever job names it, a resend's included, it stays
 * unsent; out of the unsent index too, should anything have put it back there, so no sweep revives it. Its params are
 * not read: one set aside because they do not decode is dropped the same way.
 */
async function dropDismissed(event: StoredEvent, deps: { events: EventStore; logger: Logger }): Promise<string> {
  await deps.events.markSent(event.paymentKey, event.sequence, event.eventId);
  deps.logger.info('dismissed event not sent: an operator dismissed it (ops events rejected --dismissed)', {
    event_id: event.eventId,
    sequence: event.sequence,
  });
  return 'dismissed';
}

/**
 * With `redis.replica_acks`: the event is on its primary and acknowledged by that many replicas before it is sent
 * (`eventReplicaShortfall`, as the outcome recorder checks those it sends or queues itself), else it is held: a
 * warn line (its job's first hold, then every tenth; the only one: the worker's generic retry line skips it),
 * `pb_ledger_writes_unreplicated_total{write="queued_event"}`, and a Redis outage thrown (`EventHeldError`), so its job is retried with the queue's backoff (never dropped) while other payments'
 * events go on; the later events of its payment wait their turn behind it, as for any unsent event. Without the
 * setting, nothing (no round trip).
 */
async function confirmBeforeSend(job: Job<OmsEventJobData>, event: StoredEvent, config: Config, deps: { events: EventStore; logger: Logger }): Promise<void> {
  const short = await eventReplicaShortfall(deps.events, config.redis, event, 'queued_event');
  if (!short) return;
  if (job.attemptsMade % 10 === 0)
    deps.logger.warn('event held: not acknowledged by redis.replica_acks replicas; its send is retried with back-off', {
      event_id: event.eventId,
      sequence: event.sequence,
      on_primary: short.present,
      acks: short.acks,
      replicas: short.replicas,
      timeout_ms: short.timeoutMs,
      attempts: job.attemptsMade,
    });
  throw new EventHeldError(event.eventId, short);
}

/**
 * How long an event whose predecessor is not delivered yet waits before it looks again, ms: a tenth of how
 * long its job has existed, between {@link ORDER_WAIT_MS} and `events.backoff_max_ms`, so that a payment held
 * back by a long bus outage does not have every later event polling ten times a second.
 */
function orderWaitMs(job: Job<OmsEventJobData>, config: Config): number {
  return Math.min(config.events.backoffMaxMs, Math.max(ORDER_WAIT_MS, Math.round((Date.now() - job.timestamp) / 10)));
}

/**
 * A send that failed: a refusal of the event's content (or an event recorded with params that do not
 * decode, reason `unreadable`) is counted on the job and retried until it has happened
 * {@link EVENT_REJECTION_TRIES} times, then the event is set aside (an error line names it, the reason and
 * its payment); anything else is rethrown for the queue's backoff.
 */
async function afterRefusal(job: Job<OmsEventJobData>, event: StoredEvent, err: unknown, deps: { events: EventStore; logger: Logger }): Promise<string> {
  const reason = err instanceof UnreadableEventError ? 'unreadable' : contentRejection(err);
  // BullMQ keeps a failure's message and stack in Redis: never the bus's own words, which may echo the payment.
  if (reason === null) throw err instanceof BusRpcError ? new Error(`bus JSON-RPC error ${err.rpcCode}`) : err;
  const { faults: rejections, last } = await countJobFault(job, EVENT_REJECTION_TRIES);
  const meta = { event_id: event.eventId, method: event.method, sequence: event.sequence, reason, rejections, tries: EVENT_REJECTION_TRIES };
  if (!last) {
    countEventRejection(reason, 'retried');
    deps.logger.warn(reason === 'unreadable' ? 'the event does not decode; retrying' : 'the bus refused the event for its content; retrying', {
      ...meta,
      error: (err as Error).message,
    });
    throw new Error(`event_refused: ${reason}`);
  }
  await deps.events.setAside(event, reason);
  countEventRejection(reason, 'set_aside');
  deps.logger.error(
    "event set aside: the bus refused its content (or it does not decode) every time; the payment's later events go on. Fix the cause, then resend it (payment-bridge ops events resend), or dismiss it if the bus will never take it (ops events dismiss)",
    {
      ...meta,
      payment_key: event.paymentKey,
      error: (err as Error).message,
    },
  );
  return 'set-aside';
}

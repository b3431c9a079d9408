import { ConfirmChannel, GetMessage, Options } from 'amqplib';
import { AmqpConnection } from '../amqp/amqp-connection';
import { BrokerTimeoutError, openChannelWithin, withTimeout } from '../amqp/broker-deadline';
import { closeChannelWithin } from '../amqp/channel-close';
import { movedProperties } from '../amqp/moved-properties';
import { declareTopology, parkedQueueOf } from '../amqp/topology';
import { Config } from '../config/config';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { errorClassOf } from '../errors/dependency-outage';
import { redactText } from '../logging/redact';
import { counter } from '../metrics/metrics-registry';

const unparkedCounter = counter(
  'pb_dead_letters_unparked_total',
  'Parked dead letters moved back from `<dead-letter queue>:parked` to the dead-letter queue (`payment-bridge ops dead-letters unpark --execute`), each confirmed there before it left the parking queue',
);

/** One parked dead letter as `ops dead-letters unpark` shows it: what its parking headers say, never its body. */
export interface ParkedMessageView {
  /** The stand-in record the archive lists for it (`x-pb-parked-record`), when the message names one. */
  record?: string;
  /** When it was parked (`x-pb-parked-at`, ISO 8601). */
  parkedAt?: string;
  /** Why it was parked (`x-pb-parked-reason`: the stage and the error's class). */
  reason?: string;
  /** Its body's size, bytes. */
  bytes: number;
}

/** What one `unparkDeadLetters` run did. */
export interface UnparkResult {
  /** False: a dry run, nothing moved. */
  execute: boolean;
  /** The parking queue, `<dead-letter queue>:parked`. */
  queue: string;
  /** Messages the parking queue held when the run started. */
  parked: number;
  /** Moved back (with `execute`), or that would be (dry run), in queue order. */
  messages: ParkedMessageView[];
  /**
   * Why the run stopped before its limit (a nack, no confirm within `amqp.publish_timeout_ms`, the copy returned
   * unroutable, a read or declaration not answered within that bound, the broker gone): the message it was
   * moving stays in the parking queue. Absent when it did not.
   */
  failure?: string;
}

/** Options of {@link unparkDeadLetters}. */
export interface UnparkOptions {
  /** Most messages moved (or looked at) in one run; at most those the parking queue held when it started. */
  limit: number;
  /** Move them; false: a dry run that only reads them and leaves each where it was. */
  execute: boolean;
  /** The clock, ms since the epoch (tests). Default `Date.now`. */
  now?: () => number;
}

/** A header as text (AMQP headers may arrive as strings or buffers). */
function textHeader(headers: Record<string, unknown>, name: string): string | undefined {
  const v = headers[name];
  if (typeof v === 'string') return redactText(v);
  return Buffer.isBuffer(v) ? redactText(v.toString('utf8')) : undefined;
}

function viewOf(msg: GetMessage): ParkedMessageView {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const view: ParkedMessageView = { bytes: msg.content.length };
  const record = textHeader(headers, 'x-pb-parked-record');
  const parkedAt = textHeader(headers, 'x-pb-parked-at');
  const reason = textHeader(headers, 'x-pb-parked-reason');
  if (record !== undefined) view.record = record;
  if (parkedAt !== undefined) view.parkedAt = parkedAt;
  if (reason !== undefined) view.reason = reason;
  return view;
}

/** The publish options that keep a message as it was (its properties and headers), persistent. */
function keptProperties(msg: GetMessage, extraHeaders: Record<string, string>): Options.Publish {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  return { ...movedProperties(msg), mandatory: true, headers: { ...headers, ...extraHeaders } };
}

/**
 * Publishes one message to `queue` (default exchange, mandatory) and resolves once the broker confirmed it into
 * a queue; rejects on a nack, a return (no queue took it: its confirm comes after the basic.return), or no
 * confirm within `timeoutMs`.
 */
async function publishConfirmed(channel: ConfirmChannel, queue: string, content: Buffer, options: Options.Publish, timeoutMs: number): Promise<void> {
  let returned = false;
  const onReturn = (): void => {
    returned = true;
  };
  let timer: NodeJS.Timeout | undefined;
  channel.on('return', onReturn);
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) =>
        channel.sendToQueue(queue, content, options, (err: unknown) =>
          err ? reject(err instanceof Error ? err : new DependencyUnavailableError('rabbitmq', 'the broker refused the message (nack)')) : resolve(),
        ),
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DependencyUnavailableError('rabbitmq', `no confirm within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    channel.off('return', onReturn);
  }
  if (returned) throw new DependencyUnavailableError('rabbitmq', `${queue} took no message (unroutable)`);
}

/**
 * Moves parked dead letters (`<dead-letter queue>:parked`, see `DeadLetterStore.importFromQueue`) back to the
 * dead-letter queue, where the next archiving pass takes them: oldest first, at most `limit`, and never more
 * than the parking queue held when the run started (one parked again meanwhile waits for the next run).
 *
 * Each message goes back whole (body, properties and headers, plus `x-pb-unparked-at`), published with confirms
 * and mandatory to the dead-letter queue, and is acked in the parking queue only once the broker confirmed its
 * copy: a crash before that confirm leaves it parked (unacked messages return to the queue), none is lost. A
 * crash between the confirm and the ack leaves it in both queues; the copy archives to the same record (the
 * archive's id is a digest of the body and its reason headers, both unchanged, and writing a record that is
 * there already changes nothing), and the one left parked is moved again by the next run to the same end.
 * A nack, a return, no confirm within `amqp.publish_timeout_ms`, no answer to a read or a declaration within
 * that bound (`BrokerTimeoutError`, counted in `pb_amqp_call_timeouts_total{what="dead_letter_unpark"}`) or the
 * broker going stops the run (`failure`): what was moved stays moved, the message under way stays parked. No
 * channel within the bound throws `BrokerTimeoutError` (nothing was read).
 *
 * A dry run (`execute` false) reads the same messages and leaves each where it was (unacked: the channel's
 * close returns them): what it would move.
 */
export async function unparkDeadLetters(connection: AmqpConnection, amqp: Config['amqp'], options: UnparkOptions): Promise<UnparkResult> {
  const queue = parkedQueueOf(amqp);
  const now = options.now ?? Date.now;
  const model = await connection.connect();
  // Every broker call is bounded (`amqp.publish_timeout_ms`): a broker that accepts the connection and then
  // stops answering would otherwise hold the operator's command for ever. No channel in time: nothing was read.
  const watch = { what: 'dead_letter_unpark', logger: connection.logger };
  const bounded = <T>(call: Promise<T>, what: string): Promise<T> => withTimeout(call, amqp.publishTimeoutMs, what, watch);
  const channel = await openChannelWithin(model, (m) => m.createConfirmChannel(), { ...watch, timeoutMs: amqp.publishTimeoutMs });
  // A channel the broker closes fails the run through the operation it refused (`failure`); unheard, its
  // 'error' would drop the whole connection (amqplib) and every channel on it.
  channel.on('error', () => undefined);
  const messages: ParkedMessageView[] = [];
  let failure: string | undefined;
  let parked = 0;
  try {
    await bounded(declareTopology(channel, amqp), 'declaring the topology');
    parked = (await bounded(channel.checkQueue(queue), `counting ${queue}`)).messageCount;
    const most = Math.min(options.limit, parked);
    while (messages.length < most) {
      // A get answered after its bound hands a message to nobody: unacked, it returns to the parking queue with
      // the channel (closed below, or its connection dropped when the close is not answered either).
      const msg = await bounded(channel.get(queue, { noAck: false }), `reading ${queue}`);
      if (!msg) break;
      if (!options.execute) {
        messages.push(viewOf(msg));
        continue;
      }
      try {
        await publishConfirmed(
          channel,
          amqp.deadLetterQueue,
          msg.content,
          keptProperties(msg, { 'x-pb-unparked-at': new Date(now()).toISOString() }),
          amqp.publishTimeoutMs,
        );
      } catch (err) {
        // Its class and our own text only: a broker's or client's message could quote a header.
        failure = `${errorClassOf(err)}: ${err instanceof DependencyUnavailableError ? err.message : 'the copy was not confirmed'}; the message stays parked`;
        break;
      }
      channel.ack(msg);
      unparkedCounter.inc();
      messages.push(viewOf(msg));
    }
  } catch (err) {
    // The broker or the channel went (or stopped answering): what is unacked returns to the parking queue on its own.
    const why = err instanceof BrokerTimeoutError ? err.message : 'the broker stopped the run';
    failure = `${errorClassOf(err)}: ${why}; what was not moved stays parked`;
  } finally {
    // The dry run's messages, and one whose copy failed, are still unacked: the close returns them where they
    // were, as it returns the archiving pass's. Not nacked: a nack with requeue is a failed delivery to a quorum
    // queue, counted against its delivery limit.
    await closeChannelWithin(channel, { timeoutMs: amqp.publishTimeoutMs, what: 'dead_letter_unpark', logger: connection.logger });
  }
  return { execute: options.execute, queue, parked, messages, ...(failure === undefined ? {} : { failure }) };
}

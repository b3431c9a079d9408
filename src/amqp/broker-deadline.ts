import type { Channel, ChannelModel } from 'amqplib';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

const callTimeouts = () =>
  counter(
    'pb_amqp_call_timeouts_total',
    'RabbitMQ calls (a channel opening, a queue read, a declaration, a consume or its cancel) the broker did not answer within amqp.publish_timeout_ms: the caller gave up on them, by what the call was for',
    ['what'],
  );

/** A broker call that was not answered within its bound. Retryable: the broker decided nothing the caller relies on. */
export class BrokerTimeoutError extends DependencyUnavailableError {
  /**
   * @param call what was not answered, in words (`opening a channel`, `reading worker:payment:dead-letter:parked`).
   * @param timeoutMs the bound, milliseconds.
   */
  constructor(
    readonly call: string,
    readonly timeoutMs: number,
  ) {
    super('rabbitmq', `timed out ${call} after ${timeoutMs} ms`);
  }
}

/** Who watches a bounded call: a timeout is counted in `pb_amqp_call_timeouts_total{what}` and said in a warn line. */
export interface BrokerCallWatch {
  /** What the channel is for (a metric label: a short constant, never input), e.g. `dead_letter_unpark`. */
  what: string;
  logger?: Logger;
}

/**
 * `promise`, or a {@link BrokerTimeoutError} naming `call` once `ms` milliseconds passed without its answer.
 * amqplib waits for a broker's answer without a bound, so a broker that accepts the connection but stops
 * answering (a node gone silent, a wedged channel process) would hold the caller for ever. The call itself is
 * not undone: the caller must treat the channel as lost (close it with `closeChannelWithin`, which drops the
 * connection or gives the close up when that is not answered either: see {@link BrokerTimeoutPolicy}).
 * With `watch`, a timeout is counted and logged.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, call: string, watch?: BrokerCallWatch): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        if (watch) {
          callTimeouts().inc({ what: watch.what });
          watch.logger?.warn('rabbitmq did not answer in time: the call is given up (its channel is closed, or its connection dropped)', {
            what: watch.what,
            call,
            timeout_ms: ms,
          });
        }
        reject(new BrokerTimeoutError(call, ms));
      }, ms);
    }),
  ]);
}

/** What a channel's or channel model's raw connection holds: the socket, which ends it without the broker's answer. */
interface RawConnection {
  stream?: { destroy(error?: Error): void };
}

/**
 * Drops the connection of `holder` (a channel or a channel model: both keep amqplib's raw connection) by destroying
 * its socket with `reason`: amqplib closes the connection and its channels, an `AmqpConnection` reconnects as after
 * any loss, and the broker requeues what the channels held unacked once it sees the socket go. For a broker that
 * stopped answering, where a close would wait for ever.
 */
export function dropConnectionOf(holder: Channel | ChannelModel, reason: string): void {
  (holder as unknown as { connection?: RawConnection }).connection?.stream?.destroy(new Error(reason));
}

/**
 * Whether the connection of `holder` was dropped by {@link dropConnectionOf} (its socket destroyed): at once, before
 * amqplib and an `AmqpConnection` hear of it.
 */
export function connectionDropped(holder: Channel | ChannelModel): boolean {
  return (holder as unknown as { connection?: { stream?: { destroyed?: boolean } } }).connection?.stream?.destroyed === true;
}

/**
 * What a broker call not answered within its bound does to the connection it was made on. `drop`: the connection
 * is dropped (its socket destroyed: amqplib closes it and its channels, an `AmqpConnection` reconnects as after any
 * loss, the broker requeues what every channel of it held unacked), for a connection that is the caller's own.
 * `abandon`: the call is given up and the connection left as it is, for a connection other channels share (a
 * consumer's, holding unacked messages whose work is under way): dropping it would have the broker deliver those
 * again elsewhere.
 */
export type BrokerTimeoutPolicy = 'drop' | 'abandon';

/**
 * Closes the channel `opening` resolves with once it opens, unwaited, for a holder that gave up on it (its opening
 * or its close not answered within a bound): nobody holds a channel that opens late, so it must not stay open on a
 * shared connection. Its errors are listened to (an unlistened channel `error` would end the process); an opening
 * that fails leaves nothing to close.
 */
export function closeWhenOpened(opening: Promise<Channel>): void {
  void opening
    .then((ch) => {
      ch.on('error', () => undefined);
      return ch.close();
    })
    .catch(() => undefined);
}

/**
 * Opens a channel on `model` (`open`: `(m) => m.createChannel()` or `m.createConfirmChannel()`) within
 * `timeoutMs`, else throws {@link BrokerTimeoutError}. Past the bound, per `onTimeout`: `drop` (the default) drops
 * the connection, as `closeChannelWithin` drops one whose close is not answered; `abandon` leaves the connection
 * up and closes the channel if it opens after all (unwaited).
 */
export async function openChannelWithin<C extends Channel>(
  model: ChannelModel,
  open: (model: ChannelModel) => Promise<C>,
  options: BrokerCallWatch & { timeoutMs: number; onTimeout?: BrokerTimeoutPolicy },
): Promise<C> {
  const opening = open(model);
  try {
    return await withTimeout(opening, options.timeoutMs, 'opening a channel', options);
  } catch (err) {
    if (err instanceof BrokerTimeoutError) {
      if ((options.onTimeout ?? 'drop') === 'drop') dropConnectionOf(model, `channel opening not answered within ${options.timeoutMs} ms`);
      else closeWhenOpened(opening);
    }
    throw err;
  }
}

/**
 * Says that `who` gave up a consume of `queue` the broker did not answer in time and closed its channel. The broker
 * may have done the consume (registered the consumer, delivered up to a prefetch of messages to it) with its answer
 * late: nobody holds such a consumer, so the channel's close is what ends it (the broker reads the close after the
 * consume, drops the consumer and requeues what it delivered). `closeAnswered` false: the close was not answered
 * within the bound either, so such a consumer holds its messages until the broker reads that close, or until the
 * connection ends (heartbeat).
 */
export function logLateConsumeClosed(logger: Logger, who: string, queue: string, closeAnswered: boolean): void {
  logger.warn(
    closeAnswered
      ? `${who} gave up a consume not answered in time and closed its channel: a consumer the broker registered late is ended, what it delivered requeued`
      : `${who} gave up a consume not answered in time; its channel's close is not answered either: a consumer the broker registered holds what it delivered until the broker reads the close`,
    { queue, close_answered: closeAnswered },
  );
}

/** First wait before a consumer subscribes again after a subscription step the broker did not answer, ms. */
export const SUBSCRIBE_RETRY_MS = 1000;

/** Longest wait between such tries, ms (a broker gone silent for long is tried twice a minute). */
export const SUBSCRIBE_RETRY_MAX_MS = 30_000;

/**
 * The wait before the next subscription try after `failures` tries in a row whose broker call went unanswered:
 * {@link SUBSCRIBE_RETRY_MS}, doubling each time, at most {@link SUBSCRIBE_RETRY_MAX_MS}.
 */
export function subscribeRetryMs(failures: number): number {
  return Math.min(SUBSCRIBE_RETRY_MS * 2 ** Math.max(0, failures - 1), SUBSCRIBE_RETRY_MAX_MS);
}

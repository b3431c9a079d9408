import type { Channel, ChannelModel } from 'amqplib';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

const callTimeouts = () =>
  counter(
    'pb_amqp_call_timeouts_total',
    'RabbitMQ calls (a channel opening, a queue read, a declaration) the broker did not answer within amqp.publish_timeout_ms: the caller gave up on them, by what the call was for',
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
 * connection when that is not answered either, and the broker then requeues what it held unacked).
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
 * Opens a channel on `model` (`open`: `(m) => m.createChannel()` or `m.createConfirmChannel()`) within
 * `timeoutMs`, else throws {@link BrokerTimeoutError}. A connection whose broker does not answer a channel's
 * opening is no use to anyone: it is dropped (its socket destroyed: amqplib closes it and its channels, an
 * `AmqpConnection` reconnects as after any loss, the broker requeues what its channels held unacked), as
 * `closeChannelWithin` drops one whose close is not answered.
 */
export async function openChannelWithin<C extends Channel>(
  model: ChannelModel,
  open: (model: ChannelModel) => Promise<C>,
  options: BrokerCallWatch & { timeoutMs: number },
): Promise<C> {
  try {
    return await withTimeout(open(model), options.timeoutMs, 'opening a channel', options);
  } catch (err) {
    if (err instanceof BrokerTimeoutError) dropConnectionOf(model, `channel opening not answered within ${options.timeoutMs} ms`);
    throw err;
  }
}

import type { Channel } from 'amqplib';
import { Logger } from '../logging/logger';
import { BrokerTimeoutPolicy, closeWhenOpened, dropConnectionOf } from './broker-deadline';
import { counter } from '../metrics/metrics-registry';

const closeTimeouts = () =>
  counter(
    'pb_amqp_channel_close_timeouts_total',
    "AMQP channels whose close the broker did not answer in time, by what the channel was for: on a connection other channels share (at a process's shutdown, a consumer's subscription given up, a worker's archiving pass and scrape) the close is given up and the connection kept; on a caller's own connection it was dropped (the broker requeues what it held; the connection reconnects)",
    ['what'],
  );

/** Options of {@link closeChannelWithin} and {@link closeOpeningWithin}. */
export interface ChannelCloseOptions {
  /** Longest wait for the broker, milliseconds (callers use `amqp.publish_timeout_ms`). */
  timeoutMs: number;
  /** What the channel was for (a metric label: a short constant, never input). */
  what: string;
  logger?: Logger;
  /**
   * What a close not answered within the bound leads to. `drop` (the default): the channel's connection is dropped,
   * for a connection that is the caller's own. `abandon`: the close is given up and the connection left as it is,
   * for a channel whose connection other channels share (a consumer's, holding unacked messages): a background
   * pass's on the worker's connection, or a close at a process's shutdown (the connection's own bounded close ends
   * it). What the channel holds unacked stays in its queue, delivered again once the broker answers the close.
   */
  onTimeout?: BrokerTimeoutPolicy;
}

/**
 * Closes `channel`, waiting at most `timeoutMs` for the broker's close-ok. amqplib waits for it without a bound,
 * so a broker that never answers (a node gone silent, a wedged channel process) would hold the caller for ever,
 * and the messages the channel holds unacked with it. Past the bound: counted in
 * `pb_amqp_channel_close_timeouts_total{what}`, said in a warn line, and by default (`onTimeout: 'drop'`) the
 * channel's connection is dropped (its socket destroyed with an error: amqplib closes the connection and its
 * channels, an `AmqpConnection` reconnects as after any loss, the broker requeues the unacked messages of every
 * channel of that connection once it sees the socket go). Never throws.
 * @returns true when the channel closed (or was closed already) within the bound.
 */
export async function closeChannelWithin(channel: Channel, options: ChannelCloseOptions): Promise<boolean> {
  const closed = channel.close().then(
    () => true,
    // Already closed (the broker or the connection closed it): nothing left to wait for.
    () => true,
  );
  if (await within(closed, options.timeoutMs)) return true;
  closeNotAnswered(options);
  if ((options.onTimeout ?? 'drop') === 'drop') dropConnectionOf(channel, `channel close not answered within ${options.timeoutMs} ms`);
  return false;
}

/**
 * Closes the channel `opening` resolves with, for a holder that keeps its channel as a promise (it may still be
 * opening, or waiting for a connection), at most `timeoutMs` in all: the opening and the close share the bound.
 * Past it, as {@link closeChannelWithin} (counted, a warn line, and the connection dropped or the close abandoned
 * per `onTimeout`); a channel that opens after the bound is closed then, unwaited. An opening that failed leaves
 * nothing to close. Never throws.
 * @returns true when the channel closed (or never opened) within the bound.
 */
export async function closeOpeningWithin(opening: Promise<Channel>, options: ChannelCloseOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const settled = opening.then(
    (channel) => channel,
    () => null,
  );
  const opened = await within(settled, options.timeoutMs);
  if (opened === false) {
    closeNotAnswered(options);
    closeWhenOpened(opening);
    return false;
  }
  if (opened === null) return true;
  return closeChannelWithin(opened, { ...options, timeoutMs: Math.max(1, deadline - Date.now()) });
}

/** `promise`'s value, or false once `ms` milliseconds passed without it. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function closeNotAnswered(options: ChannelCloseOptions): void {
  closeTimeouts().inc({ what: options.what });
  const abandon = options.onTimeout === 'abandon';
  options.logger?.warn(
    abandon
      ? 'amqp channel did not close in time: the close is given up (the connection is kept)'
      : 'amqp channel did not close in time: its connection is dropped (the broker requeues what it held)',
    { what: options.what, timeout_ms: options.timeoutMs },
  );
}

import type { Channel } from 'amqplib';
import { Logger } from '../logging/logger';
import { dropConnectionOf } from './broker-deadline';
import { counter } from '../metrics/metrics-registry';

const closeTimeouts = () =>
  counter(
    'pb_amqp_channel_close_timeouts_total',
    'AMQP channels whose close the broker did not answer in time: their connection was dropped (the broker requeues what they held; the connection reconnects), by what the channel was for',
    ['what'],
  );

/**
 * Closes `channel`, waiting at most `timeoutMs` for the broker's close-ok. amqplib waits for it without a bound,
 * so a broker that never answers (a node gone silent, a wedged channel process) would hold the caller for ever,
 * and the messages the channel holds unacked with it. Past the bound the channel's connection is dropped (its
 * socket destroyed with an error: amqplib closes the connection and its channels, an `AmqpConnection`
 * reconnects as after any loss, the broker requeues the unacked messages once it sees the socket go), counted in
 * `pb_amqp_channel_close_timeouts_total{what}` and said in a warn line. Never throws.
 * @param timeoutMs milliseconds (callers use `amqp.publish_timeout_ms`).
 * @param what what the channel was for (a metric label: a short constant, never input).
 * @returns true when the channel closed (or was closed already) within the bound.
 */
export async function closeChannelWithin(channel: Channel, options: { timeoutMs: number; what: string; logger?: Logger }): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const closed = channel.close().then(
    () => true,
    // Already closed (the broker or the connection closed it): nothing left to wait for.
    () => true,
  );
  const ok = await Promise.race([closed, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), options.timeoutMs)))]);
  clearTimeout(timer);
  if (ok) return true;
  closeTimeouts().inc({ what: options.what });
  options.logger?.warn('amqp channel did not close in time: its connection is dropped (the broker requeues what it held)', {
    what: options.what,
    timeout_ms: options.timeoutMs,
  });
  dropConnectionOf(channel, `channel close not answered within ${options.timeoutMs} ms`);
  return false;
}

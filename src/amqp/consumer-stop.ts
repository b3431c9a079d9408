import type { Channel, Message } from 'amqplib';
import { BrokerCallWatch, BrokerTimeoutError, withTimeout } from './broker-deadline';

/**
 * Cancels the consumer `consumerTag` (consuming `queue`) on `channel`, waiting at most `timeoutMs` for the broker's
 * answer: a consumer stops taking messages before its work in flight is waited for, so nothing new starts during a
 * stop. A cancel not answered is given up (counted in `pb_amqp_call_timeouts_total{what}`, a warn line); the
 * channel stays open, and what the broker still delivers on it is for the caller to give back. Never throws.
 * @returns true when the broker answered (or the channel was already gone), false when the cancel was given up.
 */
export async function cancelConsumerWithin(
  channel: Channel,
  consumerTag: string,
  queue: string,
  options: BrokerCallWatch & { timeoutMs: number },
): Promise<boolean> {
  try {
    await withTimeout(channel.cancel(consumerTag), options.timeoutMs, `cancelling the consumer of ${queue}`, options);
    return true;
  } catch (err) {
    // A closed channel has no consumer left to cancel: only a timeout means the broker may still deliver.
    return !(err instanceof BrokerTimeoutError);
  }
}

/**
 * Hands `msg` back to the broker unstarted (nack, requeue), at a stop: for a message delivered before the stop began
 * that will not be worked on (waiting for a slot, or its write failed after the stop began). Never for a message
 * delivered after the stop began: while the cancel is not answered the broker would deliver it again at once to
 * the same consumer, which would nack it again, in a loop until the close. Such a message is left unacked instead
 * (not nacked, not acked, not covered by a multiple ack): the channel's close that ends the stop returns it to its
 * queue (the broker requeues the unacked messages of a closed channel, or of a dropped connection), so it is
 * delivered once to another consumer, or to this one after a restart. A closed channel refuses the nack; the broker
 * requeues what it held unacked anyway.
 */
export function giveBack(channel: Channel, msg: Message): void {
  try {
    channel.nack(msg, false, true);
  } catch {
    // channel already closed: the broker redelivers unacked messages anyway
  }
}

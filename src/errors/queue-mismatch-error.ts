import { PaymentBridgeError } from './payment-bridge-error';

/**
 * A queue exists on the broker with other arguments than this configuration declares (most often another
 * type: `amqp.queue.type` quorum against a classic queue, or the reverse). Not retryable by waiting: an
 * operator sets the configuration to match the existing queue, or drains and deletes the queue so it is
 * declared again. The message names the queue, what was declared and the broker's own words.
 */
export class QueueMismatchError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'AMQP_QUEUE_MISMATCH';

  constructor(
    readonly queue: string,
    /** The `x-queue-type` this configuration declares. */
    readonly declaredType: string,
    /** The broker's PRECONDITION_FAILED text (which argument differs, and its current value). */
    readonly brokerText: string,
    options?: { cause?: unknown },
  ) {
    super(
      `queue "${queue}" exists on the broker with other arguments than this configuration declares (amqp.queue.type: ${declaredType}): ` +
        `${brokerText}. A queue's type and arguments cannot change in place: set amqp.queue.type (and amqp.queue.dead_letter_strategy) ` +
        `to match the existing queue, or drain it and delete it (rabbitmqctl delete_queue "${queue}") so it is declared again (docs/DEPLOYMENT.md)`,
      options,
    );
  }
}

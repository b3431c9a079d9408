import { QueueMismatchError } from '../errors/queue-mismatch-error';
import { Logger } from '../logging/logger';
import { BrokerTimeoutError, subscribeRetryMs } from './broker-deadline';
import { QUEUE_MISMATCH_RETRY_MS } from './queue-mismatch';

/** What a {@link SubscriptionRetry} subscribes for and how it tells. */
export interface SubscriptionRetryOptions {
  /** Who subscribes, as its log lines name it (`command consumer`). */
  who: string;
  logger: Logger;
  /** Sets up what is missing (a consumer's lanes): one try. */
  subscribe: () => Promise<void>;
  /** Whether the owner still runs: nothing is retried once it stops. */
  running: () => boolean;
  /** Whether a retry that comes due still has anything to set up. Default: always. */
  needed?: () => boolean;
  /** Said of a queue declared with other arguments than configured, before its retry (QUEUE_MISMATCH_RETRY_MS). */
  onMismatch?: (err: QueueMismatchError) => void;
}

/**
 * One consumer's subscription tries: one at a time (start, a reconnect's `ready`, a retry timer and a lost lane
 * never subscribe side by side, so a queue never gets two consumers), and retried when they fail rather than
 * given up:
 * - a queue of another type than configured (`QueueMismatchError`, an operator's fix): after QUEUE_MISMATCH_RETRY_MS;
 * - a step the broker did not answer in time (`BrokerTimeoutError`): after `subscribeRetryMs` of the tries unanswered
 *   in a row (1 s, doubling to 30 s), with an error line;
 * - any other failure (a queue gone, an access refusal) of a try after start ({@link again}): the same backoff.
 * The command consumer and the broker dead-letter redactor share it.
 */
export class SubscriptionRetry {
  private timer: NodeJS.Timeout | undefined;
  /** The try under way (settled, never rejected): the next waits for it. */
  private chain: Promise<void> = Promise.resolve();
  /** Tries in a row that failed: the backoff's exponent. */
  private failed = 0;

  constructor(private readonly options: SubscriptionRetryOptions) {}

  /**
   * One try, after the one under way. Resolves when it subscribed or scheduled its retry (a mismatch, a step
   * unanswered); rejects with any other failure, for the caller (`start`) to see.
   */
  now(): Promise<void> {
    clearTimeout(this.timer);
    const next = this.chain.then(() => this.once());
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** A try after start (a reconnect's `ready`, a retry, a lost lane): any failure is logged and retried with the backoff. */
  again(): void {
    void this.now().catch((err: Error) => {
      if (!this.options.running()) return;
      this.failed += 1;
      const retryMs = subscribeRetryMs(this.failed);
      this.options.logger.error(`${this.options.who} cannot subscribe; not consuming, retrying`, { error: err.message, retry_ms: retryMs, tries: this.failed });
      this.in(retryMs);
    });
  }

  /** A try in `ms` milliseconds (replacing one scheduled), if the owner still runs and it is still needed then. */
  in(ms: number): void {
    if (!this.options.running()) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.options.needed?.() ?? true) this.again();
    }, ms);
    this.timer.unref();
  }

  /** No retry after this (the owner stops). */
  cancel(): void {
    clearTimeout(this.timer);
  }

  private async once(): Promise<void> {
    try {
      await this.options.subscribe();
      this.failed = 0;
    } catch (err) {
      if (err instanceof QueueMismatchError) {
        this.options.onMismatch?.(err);
        this.in(QUEUE_MISMATCH_RETRY_MS);
        return;
      }
      if (!(err instanceof BrokerTimeoutError)) throw err;
      this.failed += 1;
      const retryMs = subscribeRetryMs(this.failed);
      this.options.logger.error(`${this.options.who} cannot subscribe: rabbitmq did not answer in time; not consuming, retrying`, {
        call: err.call,
        timeout_ms: err.timeoutMs,
        retry_ms: retryMs,
        tries: this.failed,
      });
      this.in(retryMs);
    }
  }
}

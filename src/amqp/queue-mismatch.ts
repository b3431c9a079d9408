import { gauge } from '../metrics/metrics-registry';
import { QueueMismatchError } from '../errors/queue-mismatch-error';

/** How long a process waits before declaring again after a queue mismatch, milliseconds. */
export const QUEUE_MISMATCH_RETRY_MS = 30_000;

let current: QueueMismatchError | null = null;

const mismatchGauge = () =>
  gauge('pb_amqp_queue_mismatch', '1 while a queue this process declares exists on the broker with other arguments (type) than configured; see the error log');

/**
 * The process's last topology declaration outcome: the mismatch it met, or null once a declaration passed.
 * Readiness reports it (the process stays up and retries instead of exiting into a restart loop).
 */
export const queueMismatch = {
  current(): QueueMismatchError | null {
    return current;
  },
  report(err: QueueMismatchError): void {
    current = err;
    mismatchGauge().set(1);
  },
  clear(): void {
    if (current === null) return;
    current = null;
    mismatchGauge().set(0);
  },
};

/** amqplib's error for a channel closed by the broker with 406 PRECONDITION_FAILED. */
export function isPreconditionFailed(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  return code === 406 || /PRECONDITION[_-]FAILED/.test(err.message);
}

/** The broker's own words from amqplib's close message (`... with message "PRECONDITION_FAILED - ..."`). */
export function brokerText(err: Error): string {
  const m = /with message "([^"]*)"/.exec(err.message);
  return m ? m[1] : err.message;
}

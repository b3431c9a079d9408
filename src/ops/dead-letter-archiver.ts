import { AmqpConnection } from '../amqp/amqp-connection';
import { BrokerTimeoutPolicy } from '../amqp/broker-deadline';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { ARCHIVE_BATCH, DEAD_LETTER_ARCHIVE_MAX, DeadLetterImport, DeadLetterStore } from './dead-letter-store';

const archived = counter(
  'pb_dead_letters_moved_total',
  'Dead letters moved from the dead-letter queue into the archive, by who moved them (worker: the periodic pass, console, ops)',
  ['by'],
);
const passFailures = counter(
  'pb_dead_letter_archive_failures_total',
  'Periodic dead-letter archiving passes that failed (broker or Redis away); the next pass retries',
);

/**
 * Moves up to `limit` dead letters from the queue into the archive, counts them under `by`, warns for each
 * one parked (see `DeadLetterStore.importFromQueue`), and warns when the archive dropped its oldest records
 * to stay within its bound. The one place every mover goes through
 * (the workers' periodic pass, the console's "archive now", `payment-bridge ops dead-letters`).
 * `deps.onTimeout`: what a channel opening or close the broker does not answer does to `deps.connection` (default
 * `abandon`: kept; `drop` only for a connection that is the caller's own), see `DeadLetterStore.importFromQueue`.
 */
export async function moveDeadLetters(
  deps: { store: DeadLetterStore; connection: AmqpConnection; amqp: Config['amqp']; logger: Logger; onTimeout?: BrokerTimeoutPolicy },
  by: 'worker' | 'console' | 'ops',
  limit = ARCHIVE_BATCH,
): Promise<DeadLetterImport> {
  const result = await deps.store.importFromQueue(deps.connection, deps.amqp, limit, Date.now(), deps.onTimeout);
  if (result.moved > 0) archived.inc({ by }, result.moved);
  for (const p of result.parked) {
    // The reason names the stage and the error's class, never the body: the message waits whole in the parking queue.
    deps.logger.warn('dead letter could not be archived as it is: parked, the ones behind it go on', { dead_letter_id: p.id, reason: p.reason, by });
  }
  if (result.duplicates > 0) {
    // Another dead letter of a message already archived, written past its one-per-message mark: one record kept.
    deps.logger.warn(
      "dead letters archived as their message's one record: a second dead letter of the message was written past its one-per-message mark (Redis away, a writer stopped between its publish and its mark, a claim held past the wait or outlived by its publish, a copy after the mark's 24 h)",
      {
        duplicates: result.duplicates,
        by,
      },
    );
  }
  if (result.replaced > 0) {
    // The dead letters they stood for are archived as they are now (moved back from the parking queue).
    deps.logger.info('dead letters archived in place of their UNARCHIVABLE stand-ins', { replaced: result.replaced, by });
  }
  if (result.dropped > 0) {
    deps.logger.warn('dead-letter archive full: its oldest records were dropped', {
      dropped: result.dropped,
      dead_lettered_through: result.droppedThrough === undefined ? null : new Date(result.droppedThrough).toISOString(),
      kept: DEAD_LETTER_ARCHIVE_MAX,
      by,
    });
  }
  return result;
}

/**
 * Keeps the dead-letter archive current from the workers, so reading it (the console's dashboard, a GET)
 * never has to touch the broker: every `intervalMs` (`amqp.dead_letter_archive_interval_ms`, default
 * 10 000; 0: off) it moves what the dead-letter queue holds into the archive, up to {@link ARCHIVE_BATCH}
 * a pass, and at once again while a pass finds a full batch. Each message is written to Redis before it is
 * acked (`DeadLetterStore.importFromQueue`), so a crash loses none; two workers passing at once each get
 * different messages from the broker, and a message seen twice is one record. Passes never overlap in a
 * process; a pass while the broker is away is skipped; a message that cannot be archived for a reason of
 * its own is parked (`pb_dead_letters_parked_total`) and the pass goes on; a failed pass (Redis away, a channel error) is logged
 * and counted (`pb_dead_letter_archive_failures_total`), what it had not archived stays in the queue, and the
 * next pass retries.
 */
export class DeadLetterArchiver {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly deps: { store: DeadLetterStore; connection: AmqpConnection; amqp: Config['amqp']; logger: Logger; intervalMs: number }) {}

  /** Starts the periodic passes (none when the interval is 0); the timer does not keep the process alive. */
  start(): void {
    if (this.deps.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.deps.intervalMs);
    this.timer.unref();
  }

  /** Stops the passes and waits for one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass now (or the one under way): moves until the queue is empty or a batch comes back short. */
  runOnce(): Promise<void> {
    if (!this.running) this.running = this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<void> {
    const { logger, connection } = this.deps;
    // Broker away: nothing to read, and waiting for it here would only hold the pass; the worker's
    // connection reconnects on its own (and reports the outage), the next pass after it moves what waited.
    if (!connection.connected) return;
    let moved = 0;
    let created = 0;
    try {
      for (;;) {
        // The worker's one connection, which its consumer lanes share: a channel the broker does not answer is
        // given up, never the connection (dropping it would requeue every message whose PSP call is under way).
        const result = await moveDeadLetters({ ...this.deps, onTimeout: 'abandon' }, 'worker');
        moved += result.moved;
        created += result.created;
        if (result.moved < ARCHIVE_BATCH || this.stopped) break;
      }
      if (moved > 0) logger.info('dead letters archived', { moved, new: created });
    } catch (err) {
      passFailures.inc();
      logger.warn('dead-letter archiving failed; the next pass retries', { moved, error: (err as Error).message });
    }
  }
}

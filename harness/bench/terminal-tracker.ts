import { preciseNow } from '../workload/precise-clock';

/** A notification as the bus twin records it (`receivedAt`: epoch ms at the delegate, sub-millisecond). */
export interface ObservedNotification {
  params: Record<string, unknown>;
  receivedAt: number;
}

/** One command followed from its publish to its terminal notification. */
interface Pending {
  publishedAt: number;
}

/** What one tracked batch measured. */
export interface TrackedBatch {
  /** Commands that reached a terminal notification. */
  completed: number;
  /** End-to-end latencies, ms: notification `receivedAt` minus the time just before the publish call. */
  latenciesMs: number[];
  /** Operation references, in the order of `latenciesMs` (to join per-command figures such as PSP time). */
  references: string[];
  /** The PSP's reference each notification reported (`gateway_response.reference`), in the order of `references`; null when none. */
  gatewayReferences: (string | null)[];
  /** `receivedAt` of every terminal notification, in arrival order (steady-state rates). */
  completedAt: number[];
  /** `receivedAt` of the first and last terminal notification of the batch (epoch ms). */
  firstAt: number;
  lastAt: number;
  /** Terminal notifications with status other than SUCCESS (should be 0: no faults are injected). */
  failed: number;
}

/**
 * Follows the bus twin's notification list and matches each terminal payment event
 * (`params.payment.event_id` = `<operation_reference>.SUCCEEDED|FAILED`) to the command published with that
 * reference. It reads the list incrementally from a cursor, so it costs O(new notifications) per poll
 * however long the run, and it knows nothing of the bridge's internals: only what the OMS would see.
 */
export class TerminalTracker {
  private cursor = 0;
  private readonly pending = new Map<string, Pending>();
  private batch: TrackedBatch = emptyBatch();

  constructor(private readonly notifications: () => ObservedNotification[]) {}

  /** Starts a new batch (the previous batch's figures are returned by `finish`). */
  begin(): void {
    this.pending.clear();
    this.batch = emptyBatch();
  }

  /** Records that the command with this reference was published now (call just before publishing). */
  published(reference: string, at = preciseNow()): void {
    this.pending.set(reference, { publishedAt: at });
  }

  /** Commands published in this batch and not yet reported. */
  outstanding(): number {
    this.poll();
    return this.pending.size;
  }

  /** Completed commands of this batch so far. */
  completed(): number {
    this.poll();
    return this.batch.completed;
  }

  /**
   * Resolves once every published command of the batch is reported, polling every `pollMs` (default
   * 20 ms); rejects after `timeoutMs` (default 600 000 ms) of no progress. `onProgress` gets the count done.
   */
  async waitAll(options: { pollMs?: number; timeoutMs?: number; onProgress?: (done: number) => void } = {}): Promise<TrackedBatch> {
    let lastDone = -1;
    let lastProgressAt = Date.now();
    for (;;) {
      this.poll();
      options.onProgress?.(this.batch.completed);
      if (this.pending.size === 0) return this.batch;
      if (this.batch.completed !== lastDone) {
        lastDone = this.batch.completed;
        lastProgressAt = Date.now();
      } else if (Date.now() - lastProgressAt > (options.timeoutMs ?? 600_000)) {
        throw new Error(`no terminal notification for ${options.timeoutMs ?? 600_000} ms; ${this.pending.size} commands outstanding`);
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 20));
    }
  }

  /**
   * Drops the notifications already read from the twin's list, so a 100 000-command run does not keep
   * them all in the bench process's memory (the bench process's RSS is one of the figures).
   */
  compact(): void {
    this.poll();
    const list = this.notifications();
    list.splice(0, this.cursor);
    this.cursor = 0;
  }

  private poll(): void {
    const list = this.notifications();
    for (; this.cursor < list.length; this.cursor += 1) {
      const n = list[this.cursor];
      const payment = n.params.payment as Record<string, unknown> | undefined;
      if (!payment) continue;
      const eventId = String(payment.event_id ?? '');
      const terminal = eventId.endsWith('.SUCCEEDED') || eventId.endsWith('.FAILED');
      if (!terminal) continue;
      const reference = String(payment.operation_reference ?? eventId.slice(0, eventId.lastIndexOf('.')));
      const entry = this.pending.get(reference);
      // Duplicates and other batches' late events are ignored: each command counts once.
      if (!entry) continue;
      this.pending.delete(reference);
      const b = this.batch;
      b.completed += 1;
      b.latenciesMs.push(n.receivedAt - entry.publishedAt);
      b.references.push(reference);
      const response = payment.gateway_response as { reference?: unknown } | undefined;
      b.gatewayReferences.push(typeof response?.reference === 'string' ? response.reference : null);
      b.completedAt.push(n.receivedAt);
      if (b.firstAt === 0 || n.receivedAt < b.firstAt) b.firstAt = n.receivedAt;
      if (n.receivedAt > b.lastAt) b.lastAt = n.receivedAt;
      if (String(payment.status) !== 'SUCCESS') b.failed += 1;
    }
  }
}

function emptyBatch(): TrackedBatch {
  return { completed: 0, latenciesMs: [], references: [], gatewayReferences: [], completedAt: [], firstAt: 0, lastAt: 0, failed: 0 };
}

/**
 * Completions per second between the `from` and `to` fractions of a batch's completions (default the
 * middle 80 %): the steady-state rate, without the cold start of freshly started workers (JIT, connection
 * set-up) or the trickle of the last few. `null` with fewer than 10 completions.
 */
export function steadyRate(completedAt: number[], from = 0.1, to = 0.9): number | null {
  if (completedAt.length < 10) return null;
  const sorted = [...completedAt].sort((a, b) => a - b);
  const i = Math.floor(sorted.length * from);
  const j = Math.min(sorted.length - 1, Math.ceil(sorted.length * to) - 1);
  const seconds = (sorted[j] - sorted[i]) / 1000;
  return seconds > 0 ? (j - i) / seconds : null;
}

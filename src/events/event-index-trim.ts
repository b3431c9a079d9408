import { Logger } from '../logging/logger';
import { EventStore, SetAsideIndex, indexEntriesTrimmedTotal } from './event-store';

/** How often the trim walks the two indexes, at most, across the fleet: every 15 minutes (a mark in Redis, `EventStore.takeTrimTurn`). */
export const EVENT_INDEX_TRIM_INTERVAL_MS = 15 * 60_000;

/** Event ids a trim's log line names, at most (the count is always whole). */
const LOGGED_IDS_MAX = 20;

const trimmedTotal = indexEntriesTrimmedTotal();

/** What one trim did: entries taken out, by index. */
export interface EventIndexTrimReport {
  rejected: number;
  dismissed: number;
}

/**
 * The poller's trim of the set-aside (`events:rejected`) and dismissed (`events:dismissed`) event indexes: an entry
 * whose event is gone is taken out (`EventStore.trimDangling`), counted (`pb_events_index_entries_trimmed_total{index}`)
 * and logged (one warn line a pass that took any). Retention now takes an event's entries out with its record; an
 * earlier release's retention left them behind, and `pb_events_set_aside` counted them (its page on for ever) for
 * events nobody could list, resend or dismiss. At most every {@link EVENT_INDEX_TRIM_INTERVAL_MS}.
 */
export class EventIndexTrim {
  constructor(
    private readonly deps: {
      events: EventStore;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  /**
   * Trims when no process of the fleet (the poller, every worker's in-process poller) took the trim within the last
   * {@link EVENT_INDEX_TRIM_INTERVAL_MS}; null when not due.
   */
  async runIfDue(): Promise<EventIndexTrimReport | null> {
    const now = this.deps.now ? this.deps.now() : Date.now();
    if (!(await this.deps.events.takeTrimTurn(EVENT_INDEX_TRIM_INTERVAL_MS, now))) return null;
    return this.runOnce();
  }

  /** Walks both indexes of every shard now (at most `EventStore.trimDangling`'s page budget, resumed next time), taking out the entries whose event is gone. */
  async runOnce(): Promise<EventIndexTrimReport> {
    const trimmed = await this.deps.events.trimDangling();
    const report: EventIndexTrimReport = { rejected: 0, dismissed: 0 };
    for (const entry of trimmed) report[entry.index] += 1;
    for (const index of ['rejected', 'dismissed'] as const satisfies readonly SetAsideIndex[]) {
      if (report[index] > 0) trimmedTotal.inc({ index }, report[index]);
    }
    if (trimmed.length > 0) {
      this.deps.logger.warn('event indexes: entries of events no longer recorded trimmed (expired by retention before it took their entries)', {
        ...report,
        event_ids: trimmed.slice(0, LOGGED_IDS_MAX).map((e) => e.eventId),
      });
    }
    return report;
  }
}

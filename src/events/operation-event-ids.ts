/**
 * How an operation's own outbox events are named (`<operation id>.<suffix>`): read by the data lifecycle (export,
 * retention, erasure) and by the recognition of events that belong to no operation (operationless-events.ts).
 */

/**
 * Suffixes of the event ids an operation's events carry after `<operation id>.` (src/events/): one per
 * reported state, the refund pre-notice, the expiry warning, the review hold (`risk-review`), the success restated
 * with its token (`stored-token`). Adjustment events (`adj.<id>`) are found from
 * the operation's adjustments; idempotency-conflict events (`idempotency-conflict.<digest>`, in the refused command's
 * shard, not always the operation's) from the unsent index while undelivered (export), and from every shard's unsent,
 * set-aside, dismissed and delivered (`events:conflicts_delivered`) indexes by retention and erasure
 * (`EventStore.conflictEventsOf`).
 */
export const FIXED_EVENT_SUFFIXES = ['SUCCEEDED', 'FAILED', 'PENDING', 'UNRESOLVED', 'refund-pending', 'expiring', 'risk-review', 'stored-token'] as const;

/** Whether `eventId` is one of operation `id`'s events (and not of an operation whose id merely starts with it). */
export function isEventOf(id: string, eventId: string): boolean {
  if (!eventId.startsWith(`${id}.`)) return false;
  const suffix = eventId.slice(id.length + 1);
  return (FIXED_EVENT_SUFFIXES as readonly string[]).includes(suffix) || /^adj\.adj_[0-9a-f]+$/.test(suffix) || /^idempotency-conflict\.[^.]+$/.test(suffix);
}

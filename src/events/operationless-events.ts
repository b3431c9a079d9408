import { isEventOf } from './operation-event-ids';
import { isSkipNoticeEventId } from './payment-event';

/**
 * The kinds of outbox events that belong to no operation, so the operation-based retention (which deletes an
 * operation's events with it) never reaches them: a recurring schedule's skipped-cycles notice
 * (`<schedule>.skipped.<first>-<last>`) and a cycle's final failure (`<schedule>.c<n>.failed`), a split tender's
 * settlement (`<split>.split-tender.<STATE>`) and a split refund's outcome or refusal
 * (`<refund>.split-refund.<STATE>`, `<refund>.split-refund.refused.<reason>.<digest>`). Retention expires them on
 * their own clock (`EventStore.operationlessEventsBefore`; docs/DATA.md, "Retention").
 */
export type OperationlessEventKind = 'skip_notice' | 'recurring_failed' | 'split_tender' | 'split_refund';

/** Every {@link OperationlessEventKind}, the label values of `pb_retention_operationless_events_expired_total`. */
export const OPERATIONLESS_EVENT_KINDS: readonly OperationlessEventKind[] = ['skip_notice', 'recurring_failed', 'split_tender', 'split_refund'];

/**
 * The kind of event `eventId` when its id has the shape of one that belongs to no operation, else null. An operation's
 * own event could have such an id (a channel's operation id ending in `.split-tender`): retention checks that no
 * operation it could be an event of exists ({@link ownerIdsOf}) before it deletes one (`EventStore.dropOperationlessEvent`).
 */
export function operationlessEventKind(eventId: string): OperationlessEventKind | null {
  if (isSkipNoticeEventId(eventId)) return 'skip_notice';
  if (/\.c\d+\.failed$/.test(eventId)) return 'recurring_failed';
  if (/\.split-tender\.[A-Z_]+$/.test(eventId)) return 'split_tender';
  if (/\.split-refund\.([A-Z_]+|refused\.[^.]+\.[^.]+)$/.test(eventId)) return 'split_refund';
  return null;
}

/**
 * The ids of the operations whose own event `eventId` could be (operation-event-ids.ts `isEventOf`: a state,
 * the refund pre-notice…, an adjustment's `adj.<id>`, an idempotency conflict's), to check none exists before retention
 * deletes it as an event of no operation. Empty for almost every id: a skipped-cycles notice or a `recurring_failed`
 * (`.failed`, never an operation's suffix) can be no operation's, whatever operation bears the name before its suffix
 * (a cycle's first attempt under the earlier naming is `<schedule>.c<n>`), so it is never kept for one.
 */
export function ownerIdsOf(eventId: string): string[] {
  const owners: string[] = [];
  for (let i = eventId.indexOf('.', 1); i > 0; i = eventId.indexOf('.', i + 1)) {
    if (isEventOf(eventId.slice(0, i), eventId)) owners.push(eventId.slice(0, i));
  }
  return owners;
}

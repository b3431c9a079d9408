import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import { boundedSafeText } from '../errors/psp-text';
import { EventStore, SetAsideMiss } from '../events/event-store';
import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import type { RedisClient } from '../redis/redis-connection';

/** Longest reason a dismissal takes (`ops events dismiss --reason`, the console's field): one is refused, never cut. */
export const EVENT_DISMISS_REASON_MAX = 500;

/** Longest reason an `event.dismiss` audit entry keeps (the event's hash keeps it whole): a held-retry release's, 200. */
const AUDIT_REASON_MAX = 200;

/** Why a dismissal's reason is refused: none given (blank), or longer than {@link EVENT_DISMISS_REASON_MAX}. */
export type DismissReasonRefusal = 'missing' | 'too_long';

/** Whether `reason` (trimmed) may go with a dismissal: null when it may, else why not. */
export function dismissReasonRefusal(reason: string | undefined): DismissReasonRefusal | null {
  const text = (reason ?? '').trim();
  if (text === '') return 'missing';
  return text.length > EVENT_DISMISS_REASON_MAX ? 'too_long' : null;
}

/**
 * A dismissal's reason as it is kept (on the event's hash, in the audit log, on the log line): trimmed, card numbers
 * and credentials masked (`boundedSafeText`, the project's masking of free text), at most {@link EVENT_DISMISS_REASON_MAX}
 * characters.
 */
export function keptDismissReason(reason: string): string {
  return boundedSafeText(reason.trim(), EVENT_DISMISS_REASON_MAX, false);
}

/** What an operator's dismissal did with one event id. */
export interface EventDismissResult {
  event_id: string;
  /**
   * `dismissed`: out of the set-aside index for good; else left alone: `not_set_aside` (recorded, not set aside),
   * `expired` (its record expired with its operation, an index entry of it left behind: taken out), `not_found` (no
   * record of it: never recorded, or expired with its operation).
   */
  result: 'dismissed' | SetAsideMiss;
}

const dismissedTotal = counter(
  'pb_events_dismissed_total',
  'Set-aside events an operator dismissed for good (the bus will never take them; the OMS never hears them): out of pb_events_set_aside, by tool (ops, console)',
  ['by'],
);

/**
 * Dismisses set-aside events the bus will never take (e.g. refund pre-notices on a bus without that method, once
 * `service_bus.refund_pending_notice` is off), so `pb_events_set_aside` and its page clear: each leaves the set-aside
 * index for good in one script (`EventStore.dismiss`), its record kept with `actor`, when and `reason` (masked and
 * bounded: {@link keptDismissReason}), listed by `ops events rejected --dismissed`. An id that names no set-aside
 * event (never set aside, resent, dismissed already; its record expired with its operation; no record at all) is left
 * alone, the result saying which. Each id is audit-logged (`event.dismiss`, with
 * the actor and the reason's first 200 characters, as a held-retry release), each dismissal counted (`pb_events_dismissed_total{by}`) and logged (one warn line).
 * The `ops` CLI and the console both dismiss through here; they refuse a reason {@link dismissReasonRefusal} refuses.
 * @throws when `opts.reason` is one of those (nothing dismissed).
 */
export async function dismissSetAsideEvents(
  deps: { config: Config; redis: RedisClient; audit: AuditLog; logger: Logger },
  ids: readonly string[],
  opts: { actor: string; reason: string; by: 'ops' | 'console' },
): Promise<EventDismissResult[]> {
  const refused = dismissReasonRefusal(opts.reason);
  if (refused !== null) throw new Error(`a dismissal needs a reason of at most ${EVENT_DISMISS_REASON_MAX} characters (${refused})`);
  const store = new EventStore(deps.redis, deps.config.redis.keyPrefix);
  const reason = keptDismissReason(opts.reason);
  const results: EventDismissResult[] = [];
  for (const id of ids) {
    const reply = await store.dismissOrMiss(id, opts.actor, reason);
    const done = typeof reply === 'string' ? null : reply;
    const result = done ? 'dismissed' : (reply as SetAsideMiss);
    if (done) {
      dismissedTotal.inc({ by: opts.by });
      deps.logger.warn('set-aside event dismissed by an operator: the OMS will never hear it', {
        event_id: id,
        method: done.method,
        sequence: done.sequence,
        payment_key: done.paymentKey,
        set_aside_reason: done.reason,
        dismissed_by: opts.actor,
        dismiss_reason: reason,
        by: opts.by,
      });
    }
    results.push({ event_id: id, result });
    await deps.audit.record({
      action: 'event.dismiss',
      actor: opts.actor,
      outcome: done ? 'ok' : 'refused',
      target: id,
      // Cut from the masked reason: a cut through a card number would leave digits no scan recognises as one.
      detail: { result, by: opts.by, reason: reason.slice(0, AUDIT_REASON_MAX) },
    });
  }
  return results;
}

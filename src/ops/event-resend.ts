import type { Config } from '../config/config';
import type { AuditLog } from '../audit/audit-log';
import { EventStore, SetAsideMiss } from '../events/event-store';
import { createOmsEventsQueue } from '../events/oms-events-queue';
import { counter } from '../metrics/metrics-registry';
import { ensureJob } from '../queueing/ensure-job';
import { bullJobId } from '../queueing/job-id';
import type { RedisClient } from '../redis/redis-connection';

/** What an operator's resend did with one event id. */
export interface EventResendResult {
  event_id: string;
  /**
   * `queued`: back in the unsent index, its send queued; else left alone: `not_set_aside` (recorded, not set aside),
   * `expired` (its record expired with its operation, an index entry of it left behind: taken out), `not_found` (no
   * record of it: never recorded, or expired with its operation).
   */
  result: 'queued' | SetAsideMiss;
}

const resent = counter(
  'pb_events_resent_total',
  'Set-aside events an operator sent again (back in the unsent index, their send queued), by tool (ops, console)',
  ['by'],
);

/**
 * Sends set-aside events again, once the cause is fixed (the bus's schema, our event): each goes back to the
 * unsent index and its send is queued, flagged as a resend so the payment's sent watermark does not drop it
 * (its later events went on without it). An id that names no set-aside event is left alone, saying why: not set
 * aside, its record expired (retention), or no record of it at all. Each id is
 * audit-logged (`event.resend`, with `actor`) and counted (`pb_events_resent_total{by}`). The `ops` CLI and
 * the console both resend through here.
 */
export async function resendSetAsideEvents(
  deps: { config: Config; redis: RedisClient; audit: AuditLog },
  ids: readonly string[],
  actor: string,
  by: 'ops' | 'console',
): Promise<EventResendResult[]> {
  const store = new EventStore(deps.redis, deps.config.redis.keyPrefix);
  const queue = createOmsEventsQueue(deps.redis, deps.config.redis.keyPrefix);
  const results: EventResendResult[] = [];
  try {
    for (const id of ids) {
      const done = await store.resendOrMiss(id);
      const back = done === 'resent';
      // A finished job of the same id is replaced: the resend must run.
      if (back) await ensureJob(queue, 'notify', { eventId: id, resend: true }, bullJobId(id));
      const result = back ? 'queued' : done;
      if (back) resent.inc({ by });
      results.push({ event_id: id, result });
      await deps.audit.record({ action: 'event.resend', actor, outcome: back ? 'ok' : 'refused', target: id, detail: { result, by } });
    }
  } finally {
    await queue.close();
  }
  return results;
}

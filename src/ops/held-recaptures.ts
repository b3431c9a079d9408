import { AdjustmentStore } from '../adjustments/adjustment-store';
import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import type { Ledger } from '../ledger/ledger';
import { redact } from '../logging/redact';
import { counter } from '../metrics/metrics-registry';
import type { RedisClient } from '../redis/redis-connection';

/**
 * A PSP re-capture held on its capture, waiting for the capture failure it follows, as an operator reads it: the
 * capture, what the PSP re-captured and when, and how long it has waited. No card data: references are redacted.
 */
export interface HeldRecaptureView {
  operation_id: string;
  order_id: string | null;
  command: string;
  gateway: string;
  /** The PSP's reference of the capture (what to look up at the PSP). */
  psp_reference: string | null;
  /** The re-capture's notification (its PSP event id). */
  recapture_event_id: string;
  /** What the PSP re-captured, integer minor units of `currency`. */
  amount: number | null;
  currency: string | null;
  /** When the PSP says it re-captured (ISO 8601), null when it did not say. */
  recaptured_at: string | null;
  /** When the capture first held a re-capture (ISO 8601). */
  held_since: string;
  waited_ms: number;
  /** Past `delivery.recapture_failure_wait_ms`: surfaced to operators (or about to be, at the next poll pass). */
  past_wait: boolean;
}

/**
 * The re-captures held on their capture waiting for the capture failure they follow (`AdjustmentStore.holdRecapture`),
 * longest waiting first, at most `limit`: those past `delivery.recapture_failure_wait_ms` (surfaced), or with `all`
 * also those still within it. One reported after its failure meanwhile is left out. Where operators find what
 * `pb_recaptures_awaiting_failure` counts (`payment-bridge ops recaptures list`, the console).
 */
export async function heldRecaptures(
  deps: { config: Config; redis: RedisClient; ledger: Ledger },
  opts: { limit: number; all?: boolean },
  now = Date.now(),
): Promise<HeldRecaptureView[]> {
  const store = new AdjustmentStore(deps.redis, deps.config.redis.keyPrefix);
  const waitMs = deps.config.delivery.recaptureFailureWaitMs;
  const entries = await store.heldRecapturesSince(opts.all ? Number.POSITIVE_INFINITY : now - waitMs, opts.limit);
  const views = await Promise.all(
    entries.map(async (entry): Promise<HeldRecaptureView | null> => {
      const [held, op, recorded] = await Promise.all([
        store.heldRecapture(entry.operationId),
        deps.ledger.get(entry.operationId),
        store.heldRecaptureReported(entry.operationId),
      ]);
      if (held === null || op === null || recorded) return null;
      const text = redact({
        operation_id: op.id,
        order_id: op.payment.order_id ?? null,
        command: op.command,
        gateway: held.fact.gateway,
        psp_reference: held.fact.pspReference ?? op.gatewayReference ?? null,
        recapture_event_id: held.fact.pspEventId,
        currency: held.fact.currency ?? null,
      });
      return {
        ...text,
        amount: held.fact.amount ?? null,
        recaptured_at: held.at === undefined ? null : new Date(held.at).toISOString(),
        held_since: new Date(entry.heldSince).toISOString(),
        waited_ms: Math.max(0, now - entry.heldSince),
        past_wait: now - entry.heldSince >= waitMs,
      };
    }),
  );
  return views.filter((v): v is HeldRecaptureView => v !== null);
}

const dismissed = counter(
  'pb_recaptures_dismissed_total',
  'Re-captures waiting for the capture failure they follow that an operator settled with the PSP and dismissed (ops recaptures dismiss): no longer counted or listed; still reported in order should the failure come',
);

/** What a dismissal did with one operation: `dismissed` now, or `not_waiting` (no held re-capture in the index). */
export interface RecaptureDismissal {
  operation_id: string;
  result: 'dismissed' | 'not_waiting';
}

/**
 * An operator settled each named capture's held re-capture with the PSP (the failure found and resent, or the capture
 * handled by hand): it leaves `pb_recaptures_awaiting_failure` and the list, with a `recapture_dismissed` history
 * entry; each one audit-logged and counted (`pb_recaptures_dismissed_total`). The re-capture stays held on the
 * capture: should its failure come after all, the OMS hears both in order as ever.
 */
export async function dismissHeldRecaptures(
  deps: { config: Config; redis: RedisClient; audit: AuditLog },
  ids: readonly string[],
  actor: string,
): Promise<RecaptureDismissal[]> {
  const store = new AdjustmentStore(deps.redis, deps.config.redis.keyPrefix);
  const results: RecaptureDismissal[] = [];
  for (const id of ids) {
    const done = await store.dismissHeldRecapture(id, actor);
    if (done) dismissed.inc();
    await deps.audit.record({ action: 'ops.recapture_dismiss', actor, outcome: done ? 'ok' : 'refused', target: id });
    results.push({ operation_id: id, result: done ? 'dismissed' : 'not_waiting' });
  }
  return results;
}

import { ObservedNotification, StepRecord } from './workload-driver';

/** One invariant of a run and whether it held. */
export interface FlowCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** Latency figures, milliseconds. */
export interface LatencySummary {
  count: number;
  /** Mean, rounded to 0.01 ms. */
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of a list of durations (ms); zeros for an empty list. */
export function latencySummary(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, avg: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  const avg = Math.round((100 * sorted.reduce((a, b) => a + b, 0)) / sorted.length) / 100;
  return { count: sorted.length, avg, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted[sorted.length - 1] };
}

/**
 * The invariants of an end-to-end run, from what the bus received and what the PSP did:
 * every accepted command was reported with the outcome it should have; no operation was reported twice
 * with different outcomes; each payment's notifications arrived in sequence order; no idempotency key
 * moved money more than once at the PSP.
 */
export function checkFlow(input: { records: readonly StepRecord[]; notifications: readonly ObservedNotification[]; maxEffectsPerKey: number }): FlowCheck[] {
  const { records, notifications } = input;
  const checks: FlowCheck[] = [];
  const accepted = records.filter((r) => r.acceptedAt !== undefined);
  const unreported = accepted.filter((r) => r.status === 'TIMEOUT');
  checks.push({
    name: 'every accepted command reported',
    ok: unreported.length === 0,
    detail: unreported.length === 0 ? `${accepted.length} of ${accepted.length}` : `${unreported.length} never reported, e.g. ${unreported[0].operationId}`,
  });

  // Only a read the PSP keeps no trace of (validate) may end UNRESOLVED: a status inquiry settles anything that moves money.
  const unresolved = records.filter((r) => r.status === 'UNRESOLVED' && r.command !== 'validate');
  checks.push({
    name: 'UNRESOLVED only where the PSP keeps no trace',
    ok: unresolved.length === 0,
    detail:
      unresolved.length === 0
        ? `${records.filter((r) => r.status === 'UNRESOLVED').length} validate(s) UNRESOLVED`
        : `${unresolved.length} UNRESOLVED, e.g. ${unresolved[0].operationId}`,
  });

  // Records without a planned outcome (the money-truth drill's) are checked against the PSP elsewhere.
  const planned = records.filter((r) => r.expect !== undefined);
  const wrong = planned.filter((r) => (r.status === 'SUCCESS' || r.status === 'FAIL') && r.status !== r.expect);
  if (planned.length > 0 || records.length === 0) {
    checks.push({
      name: 'every outcome as expected',
      ok: wrong.length === 0,
      detail:
        wrong.length === 0
          ? `${planned.filter((r) => r.acceptedAt !== undefined && r.status !== 'TIMEOUT').length} outcomes`
          : `${wrong.length} differ, e.g. ${wrong[0].operationId} ${wrong[0].status} (${wrong[0].reason ?? 'no reason'})`,
    });
  }

  const rejected = records.filter((r) => r.status === 'REJECTED');
  checks.push({
    name: 'no valid command rejected at intake',
    ok: rejected.length === 0,
    detail: rejected.length === 0 ? 'none' : `${rejected.length}, e.g. ${rejected[0].operationId}: ${rejected[0].reason}`,
  });

  // Terminal outcomes per operation: duplicates (at-least-once) are fine if they agree.
  const outcomes = new Map<string, Set<string>>();
  let duplicates = 0;
  const seenEvents = new Set<string>();
  for (const n of notifications) {
    const payment = n.params.payment as Record<string, unknown> | undefined;
    const eventId = String(payment?.event_id ?? n.params.event_id ?? '');
    if (seenEvents.has(eventId)) duplicates += 1;
    seenEvents.add(eventId);
    if (!payment || !(eventId.endsWith('.SUCCEEDED') || eventId.endsWith('.FAILED'))) continue;
    const opId = String(payment.operation_reference);
    const set = outcomes.get(opId) ?? new Set<string>();
    set.add(String(payment.status));
    outcomes.set(opId, set);
  }
  const contradictory = [...outcomes.entries()].filter(([, s]) => s.size > 1);
  checks.push({
    name: 'no operation reported two ways',
    ok: contradictory.length === 0,
    detail: contradictory.length === 0 ? `${duplicates} harmless duplicate deliveries (same event_id)` : `${contradictory.length}, e.g. ${contradictory[0][0]}`,
  });

  // In order per payment: the sequence never goes down (an exact repeat of an event is a duplicate, fine).
  const lastSeq = new Map<string, { seq: number; eventId: string }>();
  let outOfOrder = 0;
  let example = '';
  for (const n of notifications) {
    const payment = n.params.payment as Record<string, unknown> | undefined;
    const holder = payment ?? n.params;
    const seq = Number(holder.sequence);
    const order = String(payment?.order_id ?? n.params.order_id ?? '');
    const eventId = String(holder.event_id ?? '');
    if (!Number.isFinite(seq) || order === '') continue;
    // Workload orders are unique per payment, so the order id stands for the payment key.
    const prev = lastSeq.get(order);
    if (prev && (seq < prev.seq || (seq === prev.seq && eventId !== prev.eventId))) {
      outOfOrder += 1;
      example ||= `${order}: ${prev.seq} then ${seq}`;
    }
    lastSeq.set(order, { seq, eventId });
  }
  checks.push({
    name: 'events of each payment in sequence order',
    ok: outOfOrder === 0,
    detail: outOfOrder === 0 ? `${lastSeq.size} payments` : `${outOfOrder} out of order, e.g. ${example}`,
  });

  checks.push({ name: 'nothing charged twice (effects per idempotency key)', ok: input.maxEffectsPerKey <= 1, detail: `max ${input.maxEffectsPerKey}` });
  return checks;
}

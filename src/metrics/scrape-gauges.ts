import { gauge } from './metrics-registry';

/**
 * What the scrape-time gauges show, read when Prometheus scrapes (never on the hot path): a few Redis
 * reads in one pipeline, BullMQ's job counts and a passive AMQP queue check.
 */
export interface ScrapeSnapshot {
  /** Operations per ledger state (the ledger's state indexes). */
  operations: Record<string, number>;
  /** PENDING / UNKNOWN / UNRESOLVED: how many are past their next check by more than `OVERDUE_GRACE_MS`, and how long the most overdue one has waited, seconds. */
  overdue: Record<string, { count: number; oldestSeconds: number }>;
  /** Queue depths: `commands` and `dead_letter` (RabbitMQ, state `ready`), BullMQ queues by state. */
  queues: { queue: string; state: string; count: number }[];
  /** Recorded events not yet accepted by the bus, and the age of the oldest, seconds (0 when none). */
  eventsUnsent: number;
  eventLagSeconds: number;
  /** Events the bus refused for their content and the sender set aside, not resent or dismissed: the OMS has not heard them. */
  eventsSetAside: number;
  /** Re-captures held on their capture past `delivery.recapture_failure_wait_ms` without the capture failure they follow. */
  recapturesAwaitingFailure: number;
  /**
   * Captures and refunds recorded FAILED whose PSP retries them itself, their amount held (`held_for_psp_retry`): how
   * many, how many for longer than the PSP's own retry (`PSP_RETRY_WAIT_MS`: 10 days), and how long the oldest has
   * been held, seconds (0: none).
   */
  heldForPspRetry: { count: number; overdue: number; oldestSeconds: number };
  /**
   * Work the fleet's stops abandoned at `shutdown.deadline_ms`, by role and work, since the deployment's first (the
   * hash the stopping process wrote before it exited): every pair a stop can abandon, 0 before its first.
   */
  shutdownAbandoned: { role: string; work: string; count: number }[];
}

/** How far past its next check a PENDING/UNKNOWN/UNRESOLVED operation is counted as overdue: 1 minute. */
export const OVERDUE_GRACE_MS = 60_000;

type Collector = () => Promise<ScrapeSnapshot>;

let collector: Collector | null = null;
let cached: { at: number; snapshot: Promise<ScrapeSnapshot | null> } | null = null;

/** One snapshot per scrape: the gauges below share it for a second. */
function snapshot(): Promise<ScrapeSnapshot | null> {
  const now = Date.now();
  if (!collector) return Promise.resolve(null);
  if (cached && now - cached.at < 1000) return cached.snapshot;
  const current = collector;
  cached = { at: now, snapshot: current().catch(() => null) };
  return cached.snapshot;
}

/**
 * Sets the process' source of scrape-time figures (the worker and the poller set one; `null` removes it).
 * With none, or when it fails (Redis down), the gauges keep their last values.
 */
export function setScrapeCollector(next: Collector | null): void {
  collector = next;
  cached = null;
}

const operations = gauge(
  'pb_operations',
  'Operations per ledger state, read from the state indexes at scrape (every process with a ledger reports the same figure: aggregate with max)',
  ['state'],
);
const overdue = gauge('pb_operations_overdue', 'PENDING/UNKNOWN/UNRESOLVED operations more than a minute past their next status check, at scrape', ['state']);
const overdueAge = gauge(
  'pb_operations_overdue_oldest_seconds',
  'How long the most overdue PENDING/UNKNOWN/UNRESOLVED operation has waited past its next status check, seconds (0: none due)',
  ['state'],
);
const queueDepth = gauge(
  'pb_queue_depth',
  'Queue depths at scrape: commands and dead_letter (RabbitMQ ready messages), gateway-delivery, oms-events and gateway-outcomes (BullMQ) by state (waiting, delayed, failed, active)',
  ['queue', 'state'],
);
const eventsUnsent = gauge('pb_events_unsent', 'Events recorded in the outbox and not yet accepted by the bus, at scrape');
const eventsSetAside = gauge(
  'pb_events_set_aside',
  'Events the bus refused for their content, set aside and neither resent nor dismissed yet (the OMS has not heard them), at scrape: `payment-bridge ops events rejected`',
);
const recapturesAwaitingFailure = gauge(
  'pb_recaptures_awaiting_failure',
  'PSP re-captures held on their capture past delivery.recapture_failure_wait_ms without the capture failure they follow (surfaced to operators, nothing sent to the OMS), at scrape: `payment-bridge ops recaptures list`',
);
const heldForPspRetry = gauge(
  'pb_held_for_psp_retry_pending',
  'Captures and refunds recorded FAILED whose PSP retries them itself (Adyen technical CAPTURE_FAILED or REFUND_FAILED), their amount still held, at scrape: `payment-bridge ops held-retries list --all`',
);
const heldForPspRetryOverdue = gauge(
  'pb_held_for_psp_retry_overdue',
  'Of pb_held_for_psp_retry_pending, those held for more than 10 days (Adyen: contact Support when not re-captured within 10 days), at scrape',
);
const heldForPspRetryOldest = gauge(
  'pb_held_for_psp_retry_oldest_seconds',
  'How long the oldest capture or refund held for its PSP retry has been held, seconds (0: none), at scrape',
);
const shutdownAbandoned = gauge(
  'pb_shutdown_inflight_abandoned',
  "Work the fleet's stops abandoned at shutdown.deadline_ms (left for a redelivery or the next lock holder), by role and work, since the deployment began: recorded in Redis by the stopping process, read at scrape (every process with a ledger reports the same figure: aggregate with max)",
  ['role', 'work'],
);
const eventLag = gauge('pb_event_send_lag_seconds', 'Age of the oldest event not yet accepted by the bus, seconds (0: none waiting), at scrape');

async function collectAll(): Promise<void> {
  const s = await snapshot();
  if (!s) return;
  for (const [state, n] of Object.entries(s.operations)) operations.set({ state }, n);
  for (const [state, o] of Object.entries(s.overdue)) {
    overdue.set({ state }, o.count);
    overdueAge.set({ state }, o.oldestSeconds);
  }
  for (const q of s.queues) queueDepth.set({ queue: q.queue, state: q.state }, q.count);
  eventsUnsent.set(s.eventsUnsent);
  eventLag.set(s.eventLagSeconds);
  eventsSetAside.set(s.eventsSetAside);
  recapturesAwaitingFailure.set(s.recapturesAwaitingFailure);
  heldForPspRetry.set(s.heldForPspRetry.count);
  heldForPspRetryOverdue.set(s.heldForPspRetry.overdue);
  heldForPspRetryOldest.set(s.heldForPspRetry.oldestSeconds);
  for (const a of s.shutdownAbandoned) shutdownAbandoned.set({ role: a.role, work: a.work }, a.count);
}

// prom-client calls `collect` on each gauge when the registry is read; the snapshot is shared.
for (const g of [
  operations,
  overdue,
  overdueAge,
  queueDepth,
  eventsUnsent,
  eventLag,
  eventsSetAside,
  recapturesAwaitingFailure,
  heldForPspRetry,
  heldForPspRetryOverdue,
  heldForPspRetryOldest,
  shutdownAbandoned,
]) {
  (g as unknown as { collect?: () => Promise<void> }).collect = collectAll;
}

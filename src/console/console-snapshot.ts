import { AuditRecord } from '../audit/audit-log';
import { OperationState } from '../ledger/operation-state';
import { metricValue } from '../metrics/metrics-registry';
import { DeadLetterCursor, DeadLetterRecord } from '../ops/dead-letter-store';
import { TriageCategory } from '../amqp/dead-letter-triage';
import { OpsContext } from '../ops/ops-context';
import { OperationView } from '../ops/operations-view';
import { BreakerReport, readBreakerBoard } from '../delivery/breaker-board';
import { EventStore, RejectedEvent } from '../events/event-store';
import { FailedWebhook, failedWebhooks } from '../ops/failed-webhooks';
import { heldReviews } from '../ops/risk-reviews';
import { ParkedSplitTender, parkedSplitTenders } from '../ops/parked-split-tenders';
import { HeldRecaptureView, heldRecaptures } from '../ops/held-recaptures';
import { RecentRun, recentRuns } from '../reconciliation-run/reconciliation-history';
import { GatewayReconciliation, reconciliationByGateway } from '../ops/reconciliation-status';
import type { ReviewHold } from '../risk/review-store';
import { RunningProcess, RunningRelease, runningProcesses, runningReleases } from '../fleet/running-processes';

/** What the console's dashboard shows, read fresh on every load (and every few seconds by its script). */
export interface ConsoleSnapshot {
  at: number;
  kpis: {
    lastMinute: { received: number; succeeded: number; failed: number; successRate: number | null };
    last15Minutes: { received: number; succeeded: number; failed: number; successRate: number | null };
    latencyMs: { count: number; p50: number; p95: number; p99: number } | null;
    byState: Record<OperationState, number>;
    /** This web process's intake refusals since it started. */
    intakeRejects: number;
  };
  stuck: OperationView[];
  /** One page of the archive, in the dashboard's order. */
  deadLetters: DeadLetterRecord[];
  /** Where the neighbouring pages start: `newer` (its first row) and `older` (its last row), when there are such records. */
  deadLetterPaging: { newer?: DeadLetterCursor; older?: DeadLetterCursor };
  deadLetterSummary: Record<TriageCategory, { open: number; replayed: number }>;
  /** How often the workers move the dead-letter queue into the archive, ms (0: only when asked). */
  deadLetterArchiveIntervalMs: number;
  breakers: BreakerReport[];
  gateways: GatewayHealth[];
  audit: AuditRecord[];
  /** Events the bus refused for their content, set aside (the OMS has not heard them), oldest first. */
  rejectedEvents: RejectedEvent[];
  /** Webhook outcomes the outcome worker gave up on (the PSP will not send them again), newest first. */
  failedWebhooks: FailedWebhook[];
  /** Authorizations held for review by the risk rules, soonest deadline first (voided when it passes). */
  reviews: ReviewHold[];
  /** Split tenders and split refunds parked after their advance kept faulting (out of the sweep). */
  parkedSplits: ParkedSplitTender[];
  /** Re-captures held past `delivery.recapture_failure_wait_ms` without the capture failure they follow, longest waiting first. */
  heldRecaptures: HeldRecaptureView[];
  /** The latest reconciliation runs (the CLI's and the schedule's), newest first. */
  reconciliation: RecentRun[];
  /** Each gateway's reconciliation: how far it is reconciled without a gap, the windows due past it, and its latest run. */
  reconciliationGateways: GatewayReconciliation[];
  /** The live web, worker and poller processes (their heartbeats) and the releases among them. */
  fleet: { processes: RunningProcess[]; releases: RunningRelease[] };
}

/** A gateway's health as the ledger shows it: recent settled outcomes and what is stuck on it. */
export interface GatewayHealth {
  gateway: string;
  configured: boolean;
  succeeded: number;
  failed: number;
  stuck: number;
  /** The worst breaker state any worker reported for it (absent: none reported). */
  breaker?: BreakerReport['state'];
}

/** The dead-letter page the dashboard shows: how many, and below (`before`) or above (`after`) which place; neither: the first page. */
export interface DeadLetterPageRequest {
  per: number;
  before?: DeadLetterCursor;
  after?: DeadLetterCursor;
}

/** Dead letters a dashboard page shows unless `per` says otherwise. */
export const DEAD_LETTERS_PER_PAGE = 25;

/** Most dead letters a dashboard page shows (`per`): a page is one HTML table, rendered while the operator waits. */
export const DEAD_LETTERS_PER_PAGE_MAX = 100;

/**
 * Reads everything the dashboard shows, from Redis only (a GET changes nothing: the dead letters are those the
 * workers have archived). `deadLetterOrder`: newest first or highest impact first; `deadLetterPage`: which page of them.
 */
export async function consoleSnapshot(
  ctx: OpsContext,
  options: { deadLetterOrder: 'time' | 'impact'; deadLetterPage?: DeadLetterPageRequest },
  now = Date.now(),
): Promise<ConsoleSnapshot> {
  const pageOf = options.deadLetterPage ?? { per: DEAD_LETTERS_PER_PAGE };
  const [
    lastMinute,
    last15Minutes,
    latencyMs,
    stuck,
    deadLetters,
    deadLetterSummary,
    breakers,
    audit,
    intakeRejects,
    rejectedEvents,
    webhooks,
    reviews,
    parkedSplits,
    recaptures,
    reconciliation,
    reconciliationGateways,
    processes,
  ] = await Promise.all([
    ctx.operations.counts(60_000, now),
    ctx.operations.counts(15 * 60_000, now),
    ctx.operations.latency(200),
    ctx.operations.list({ olderThanMs: ctx.config.console.stuckAfterMs, limit: 25 }, now),
    ctx.deadLetters.page({ order: options.deadLetterOrder, limit: pageOf.per, before: pageOf.before, after: pageOf.after }),
    ctx.deadLetters.summary(),
    readBreakerBoard(ctx.redis, ctx.config.redis.keyPrefix),
    ctx.audit.recent(15),
    metricValue('pb_intake_rejects_total'),
    new EventStore(ctx.redis, ctx.config.redis.keyPrefix).rejected(25),
    failedWebhooks(ctx, { limit: 25 }).then((page) => page.webhooks),
    heldReviews(ctx, 25),
    parkedSplitTenders(ctx, 25),
    heldRecaptures(ctx, { limit: 25 }, now),
    recentRuns(ctx.redis, ctx.config.redis.keyPrefix, 10),
    reconciliationByGateway(ctx, now),
    runningProcesses(ctx.redis, ctx.config.redis.keyPrefix, now),
  ]);
  const recent = await ctx.operations.recentSettled(200);
  const names = new Set([...Object.keys(ctx.config.gateways), ...recent.map((r) => r.gateway), ...stuck.map((s) => s.gateway)]);
  const severity = { closed: 0, 'half-open': 1, open: 2 } as const;
  const gateways: GatewayHealth[] = [...names].sort().map((gateway) => {
    const reports = breakers.filter((b) => b.gateway === gateway);
    const worst = reports.sort((a, b) => severity[b.state] - severity[a.state])[0];
    return {
      gateway,
      configured: Object.prototype.hasOwnProperty.call(ctx.config.gateways, gateway),
      succeeded: recent.filter((r) => r.gateway === gateway && r.state === 'SUCCEEDED').length,
      failed: recent.filter((r) => r.gateway === gateway && r.state === 'FAILED').length,
      stuck: stuck.filter((s) => s.gateway === gateway).length,
      ...(worst ? { breaker: worst.state } : {}),
    };
  });
  const strip = (c: { received: number; succeeded: number; failed: number; successRate: number | null }) => ({
    received: c.received,
    succeeded: c.succeeded,
    failed: c.failed,
    successRate: c.successRate,
  });
  return {
    at: now,
    kpis: { lastMinute: strip(lastMinute), last15Minutes: strip(last15Minutes), latencyMs, byState: lastMinute.byState, intakeRejects },
    stuck,
    deadLetters: deadLetters.records,
    deadLetterPaging: { newer: deadLetters.newer, older: deadLetters.older },
    deadLetterSummary,
    deadLetterArchiveIntervalMs: ctx.config.amqp.deadLetterArchiveIntervalMs,
    breakers,
    gateways,
    audit,
    rejectedEvents,
    failedWebhooks: webhooks,
    reviews,
    parkedSplits,
    heldRecaptures: recaptures,
    reconciliation,
    reconciliationGateways,
    fleet: { processes, releases: runningReleases(processes) },
  };
}

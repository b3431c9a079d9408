import type { RedisClient } from '../redis/redis-connection';
import type { ReconciledMarkOutcome } from '../ledger/reconciled-mark';
import { RECONCILIATION_CLASSES, ReconciliationClass } from '../reconciliation/reconciliation-class';
import type { ReconciliationSummary } from './reconciliation-runner';

/** How many runs the history keeps (newest first). */
export const RECENT_RUNS_KEPT = 50;

/** One reconciliation invocation as the history keeps it: what the operator's overview needs, no line data. */
export interface RecentRun {
  gateway: string;
  /** The window, epoch ms (from inclusive, to exclusive). */
  from: number;
  to: number;
  dryRun: boolean;
  /** The runner's result (`done`, `already_done`, `stopped`, `locked`), or `failed` when the run threw. */
  result: string;
  lines: number;
  /** Lines that differ (every class but `matched` and `not_a_payment`). */
  differences: number;
  /** The differing classes with their counts (those above 0). */
  classes: Partial<Record<ReconciliationClass, number>>;
  adjusted: number;
  settled: number;
  /** PSP lines the reader could not read (set aside; in the run's report). Absent in entries of older releases. */
  unreadable?: number;
  /**
   * What the finished run did to the gateway's reconciled-through mark (`held`: PSP lines not read keep the window
   * unreconciled). Absent: not finished by an applied run, or an entry of an older release.
   */
  mark?: ReconciledMarkOutcome;
  /** When the invocation ended, epoch ms. */
  at: number;
  durationMs: number;
  /** A failed run's error class (never its message: it may quote the PSP). */
  error?: string;
}

/** Lines that differ (everything but `matched` and `not_a_payment`). */
export function differencesOf(summary: Pick<ReconciliationSummary, 'classes'>): number {
  return RECONCILIATION_CLASSES.filter((c) => c !== 'matched' && c !== 'not_a_payment').reduce((n, c) => n + summary.classes[c], 0);
}

function historyKey(prefix: string): string {
  return `${prefix}recon:recent`;
}

/** Each gateway's latest run, whatever the other gateways ran since (a hash: gateway → run). */
function latestKey(prefix: string): string {
  return `${prefix}recon:latest`;
}

/** The history entry of a run that ended with `summary`. Pure. */
export function recentRunOf(summary: ReconciliationSummary, at: number): RecentRun {
  const classes: Partial<Record<ReconciliationClass, number>> = {};
  for (const c of RECONCILIATION_CLASSES) if (c !== 'matched' && c !== 'not_a_payment' && summary.classes[c] > 0) classes[c] = summary.classes[c];
  return {
    gateway: summary.gateway,
    from: summary.window.from,
    to: summary.window.to,
    dryRun: summary.dryRun,
    result: summary.result,
    lines: summary.lines,
    differences: differencesOf(summary),
    classes,
    adjusted: summary.adjusted,
    settled: summary.settled,
    unreadable: summary.unreadable,
    ...(summary.mark ? { mark: summary.mark.outcome } : {}),
    at,
    durationMs: summary.durationMs,
  };
}

/**
 * Keeps `run` at the head of the reconciliation history (`P recon:recent`, a list of the latest
 * {@link RECENT_RUNS_KEPT} runs, newest first) and as its gateway's latest run (`P recon:latest`), for the
 * console's overview. Every run is recorded, the CLI's and the schedule's, dry runs and failures included.
 * The per-gateway entry is what keeps a daily gateway's last run in sight when an hourly one fills the list.
 */
export async function recordRun(redis: RedisClient, prefix: string, run: RecentRun): Promise<void> {
  const entry = JSON.stringify(run);
  // Three commands, not a MULTI: on Redis Cluster the two keys live in different slots.
  await redis.lpush(historyKey(prefix), entry);
  await redis.ltrim(historyKey(prefix), 0, RECENT_RUNS_KEPT - 1);
  await redis.hset(latestKey(prefix), run.gateway, entry);
}

/** A history entry as stored, or null when it does not decode (written by another release, or damaged). */
function decodeRun(text: string): RecentRun | null {
  try {
    const run = JSON.parse(text) as RecentRun;
    return typeof run.gateway === 'string' && typeof run.from === 'number' ? run : null;
  } catch {
    return null;
  }
}

/** The latest `limit` runs, newest first; an entry that does not decode is left out. */
export async function recentRuns(redis: RedisClient, prefix: string, limit: number): Promise<RecentRun[]> {
  const raw = await redis.lrange(historyKey(prefix), 0, limit - 1);
  return raw.flatMap((text) => decodeRun(text) ?? []);
}

/** Each gateway's latest run (runs recorded before this entry existed are only in {@link recentRuns}). */
export async function latestRunByGateway(redis: RedisClient, prefix: string): Promise<Map<string, RecentRun>> {
  const raw = await redis.hgetall(latestKey(prefix));
  const runs = new Map<string, RecentRun>();
  for (const [gateway, text] of Object.entries(raw)) {
    const run = decodeRun(text);
    if (run) runs.set(gateway, run);
  }
  return runs;
}

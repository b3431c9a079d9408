import { join } from 'node:path';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { Ledger } from '../ledger/ledger';
import { counter, gauge } from '../metrics/metrics-registry';
import { reconcilableGateways, reconcile } from './reconcile';
import { differencesOf } from './reconciliation-history';
import type { ReconciliationWindow } from '../reconciliation/psp-record';

const scheduledRuns = counter(
  'pb_reconciliation_scheduled_runs_total',
  'Scheduled reconciliation windows, by gateway and result (done, already_done, stopped, locked, failed)',
  ['gateway', 'result'],
);

const unreconciledWindows = gauge(
  'pb_reconciliation_unreconciled_windows',
  "Complete windows the schedule could have reconciled (ended at least reconciliation.lag_ms ago) that lie past the gateway's reconciled-through mark, as of the schedule's last pass (schedule on only): 0 or 1 when it keeps up",
  ['gateway'],
);

/** Past this many unreconciled windows a pass says so in a warn line (the alert waits an hour on the gauge). */
const BEHIND_WINDOWS = 3;

/**
 * The end of the latest window the schedule may reconcile at `now`: windows of `windowMs`, aligned on multiples
 * of it, that ended at least `lagMs` ago (epoch ms). Pure.
 */
export function reconcilableThrough(now: number, windowMs: number, lagMs: number): number {
  return Math.floor((now - lagMs) / windowMs) * windowMs;
}

/** Complete windows between the reconciled-through mark and what the schedule may reconcile (0 when caught up). Pure. */
export function windowsPastMark(through: number, reconcilable: number, windowMs: number): number {
  return Math.max(0, Math.floor((reconcilable - through) / windowMs));
}

/** Windows one pass reconciles per gateway at most (catching up after an outage happens over a few passes). */
const MAX_WINDOWS_PER_PASS = 3;

/** What one scheduled pass did, per gateway: the windows it reconciled and how each ended. */
export interface SchedulePassReport {
  mode: Config['reconciliation']['schedule'];
  runs: { gateway: string; window: ReconciliationWindow; result: string; lines: number; differences: number }[];
}

/**
 * Reconciliation on a schedule (the poller role): every `reconciliation.interval_ms`, each scheduled
 * gateway's windows of `reconciliation.window_ms` (aligned on multiples of it) that ended at least
 * `reconciliation.lag_ms` ago are reconciled, oldest first, from where the last pass stopped
 * (`P recon:schedule:<gateway>`: the next window's start); the first pass starts with the latest complete
 * window, not with history. `reconciliation.schedule` `dry_run` applies nothing, `off` does nothing.
 */
export class ReconciliationSchedule {
  private lastPassAt = 0;
  private readonly ledger: Ledger;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.ledger = new Ledger(deps.redis, deps.config.redis.keyPrefix);
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** The gateways the schedule covers: `reconciliation.gateways`, or every configured one with a reader. */
  gateways(): string[] {
    const { config } = this.deps;
    const readable = new Set(reconcilableGateways(config));
    return config.reconciliation.gateways.length > 0 ? config.reconciliation.gateways.filter((g) => readable.has(g)) : [...readable];
  }

  /** Runs a pass if `reconciliation.interval_ms` has passed since the last one (the poller calls it at every tick). */
  async maybeRun(): Promise<SchedulePassReport | null> {
    if (this.deps.config.reconciliation.schedule === 'off') return null;
    if (this.now() - this.lastPassAt < this.deps.config.reconciliation.intervalMs) return null;
    this.lastPassAt = this.now();
    return this.runOnce();
  }

  /** One pass over every scheduled gateway. A gateway's failure is logged and does not stop the others. */
  async runOnce(): Promise<SchedulePassReport> {
    const { config, redis, logger } = this.deps;
    const { schedule, windowMs, lagMs, reportDir } = config.reconciliation;
    const report: SchedulePassReport = { mode: schedule, runs: [] };
    if (schedule === 'off') return report;
    const latestEnd = reconcilableThrough(this.now(), windowMs, lagMs);
    for (const gateway of this.gateways()) {
      const key = `${config.redis.keyPrefix}recon:schedule:${gateway}${schedule === 'dry_run' ? ':dry' : ''}`;
      const stored = await redis.get(key);
      let from = stored !== null && Number.isSafeInteger(Number(stored)) ? Number(stored) : latestEnd - windowMs;
      for (let n = 0; n < MAX_WINDOWS_PER_PASS && from + windowMs <= latestEnd; n += 1) {
        const window = { from, to: from + windowMs };
        try {
          const { summary } = await reconcile(config, {
            gateway,
            window,
            dryRun: schedule === 'dry_run',
            logger,
            redis,
            ...(reportDir ? { reportFile: join(reportDir, `${gateway}-${new Date(from).toISOString().replace(/[:.]/g, '-')}.md`) } : {}),
          });
          scheduledRuns.inc({ gateway, result: summary.result });
          report.runs.push({ gateway, window, result: summary.result, lines: summary.lines, differences: differencesOf(summary) });
          if (summary.result !== 'done' && summary.result !== 'already_done') break;
          from = window.to;
          await redis.set(key, String(from));
        } catch (err) {
          scheduledRuns.inc({ gateway, result: 'failed' });
          logger.warn('scheduled reconciliation failed; the next pass retries the window', {
            gateway,
            from: new Date(from).toISOString(),
            error: (err as Error).message,
          });
          report.runs.push({ gateway, window, result: 'failed', lines: 0, differences: 0 });
          break;
        }
      }
      // A read that fails here says nothing new (Redis is down for everything) and must not skip the next gateway.
      if (schedule === 'on')
        await this.noteCoverage(gateway, latestEnd).catch((err: unknown) =>
          logger.warn('reconciliation coverage not read', { gateway, error: (err as Error).message }),
        );
    }
    return report;
  }

  /**
   * Sets `pb_reconciliation_unreconciled_windows` from the gateway's reconciled-through mark, which only moves
   * when a window joins what is already covered. Failures have their own counter; this catches a schedule that
   * runs without covering anything: windows that never join the mark (a mark left by an old manual run, a
   * gap), a lock that stays taken, runs that keep stopping. Retention waits for that mark, so it also says
   * why nothing expires. No mark yet: nothing to say (the first run sets it).
   */
  private async noteCoverage(gateway: string, latestEnd: number): Promise<void> {
    const { config, logger } = this.deps;
    const through = await this.ledger.reconciledThrough(gateway);
    if (through === null) return;
    const behind = windowsPastMark(through, latestEnd, config.reconciliation.windowMs);
    unreconciledWindows.set({ gateway }, behind);
    if (behind >= BEHIND_WINDOWS)
      logger.warn('reconciliation is behind: complete windows past the reconciled-through mark are not reconciled', {
        gateway,
        windows: behind,
        reconciled_through: new Date(through).toISOString(),
        reconcilable_through: new Date(latestEnd).toISOString(),
      });
  }
}

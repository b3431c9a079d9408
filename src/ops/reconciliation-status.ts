import type { Config } from '../config/config';
import type { Ledger } from '../ledger/ledger';
import type { RedisClient } from '../redis/redis-connection';
import { reconcilableGateways } from '../reconciliation-run/reconcile';
import { RecentRun, latestRunByGateway } from '../reconciliation-run/reconciliation-history';
import { reconcilableThrough, windowsPastMark } from '../reconciliation-run/reconciliation-schedule';

/** Where one gateway's reconciliation stands. */
export interface GatewayReconciliation {
  gateway: string;
  /**
   * The end of the window reconciliation has covered without a gap (epoch ms; `Ledger.reconciledThrough`, what
   * retention waits for), or null when no applied run has set it.
   */
  reconciledThrough: number | null;
  /**
   * Complete windows (`reconciliation.window_ms`) that ended at least `reconciliation.lag_ms` ago and lie past the
   * mark: what the schedule could have reconciled and has not, 0 when it keeps up (the number
   * `pb_reconciliation_unreconciled_windows` reports); null without a mark.
   */
  windowsBehind: number | null;
  /** The gateway's latest run (dry runs and failures included), or null when none was recorded. */
  latest: RecentRun | null;
}

/**
 * Each gateway's reconciliation: every configured gateway whose PSP has a report reader, and any other the
 * history names, sorted by name (`ops reconciliation`, the console). Read only.
 */
export async function reconciliationByGateway(
  deps: { config: Config; redis: RedisClient; ledger: Ledger },
  now = Date.now(),
): Promise<GatewayReconciliation[]> {
  const latest = await latestRunByGateway(deps.redis, deps.config.redis.keyPrefix);
  const gateways = [...new Set([...reconcilableGateways(deps.config), ...latest.keys()])].sort();
  const { windowMs, lagMs } = deps.config.reconciliation;
  const reconcilable = reconcilableThrough(now, windowMs, lagMs);
  return Promise.all(
    gateways.map(async (gateway) => {
      const reconciledThrough = await deps.ledger.reconciledThrough(gateway);
      return {
        gateway,
        reconciledThrough,
        windowsBehind: reconciledThrough === null ? null : windowsPastMark(reconciledThrough, reconcilable, windowMs),
        latest: latest.get(gateway) ?? null,
      };
    }),
  );
}

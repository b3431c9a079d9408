import type { Config } from '../config/config';
import type { Ledger } from '../ledger/ledger';
import type { RedisClient } from '../redis/redis-connection';
import { reconcilableGateways } from '../reconciliation-run/reconcile';
import { RecentRun, latestRunByGateway } from '../reconciliation-run/reconciliation-history';

/** Where one gateway's reconciliation stands. */
export interface GatewayReconciliation {
  gateway: string;
  /**
   * The end of the window reconciliation has covered without a gap (epoch ms; `Ledger.reconciledThrough`, what
   * retention waits for), or null when no applied run has set it.
   */
  reconciledThrough: number | null;
  /** The gateway's latest run (dry runs and failures included), or null when none was recorded. */
  latest: RecentRun | null;
}

/**
 * Each gateway's reconciliation: every configured gateway whose PSP has a report reader, and any other the
 * history names, sorted by name (`ops reconciliation`, the console). Read only.
 */
export async function reconciliationByGateway(deps: { config: Config; redis: RedisClient; ledger: Ledger }): Promise<GatewayReconciliation[]> {
  const latest = await latestRunByGateway(deps.redis, deps.config.redis.keyPrefix);
  const gateways = [...new Set([...reconcilableGateways(deps.config), ...latest.keys()])].sort();
  return Promise.all(
    gateways.map(async (gateway) => ({
      gateway,
      reconciledThrough: await deps.ledger.reconciledThrough(gateway),
      latest: latest.get(gateway) ?? null,
    })),
  );
}

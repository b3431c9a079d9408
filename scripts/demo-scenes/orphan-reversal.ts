import { Ledger } from '../../src/ledger/ledger';
import { voidOperationId } from '../../src/poller/orphan-reversal';
import { createRedis } from '../../src/redis/redis-connection';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';

/** The merchant account only this scene uses: its orphan age is short, the main workload's is the default (days). */
const ACCOUNT = 'orphan-demo';
const ORPHAN_AGE_MS = 3000;

/**
 * Orphan reversal: a web checkout authorizes a payment the OMS never captures. Past its account's orphan
 * age the workers' in-process poller voids it with a cancel of the bridge's own (`_<auth id>.void`),
 * delivered and reported like any command. The scene checks the PSP shows the authorization cancelled by
 * exactly one void, and the OMS got that cancel with `orphan_reversal: uncaptured_past_age`.
 */
export const orphanReversalScene: DemoScene = {
  title: 'orphan reversal',
  parameters: {
    'authorizations.orphan_reversal': 'on',
    'authorizations.orphan_void_after_ms_by_account': { [`simulator:${ACCOUNT}`]: ORPHAN_AGE_MS },
  },
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, publisher, runId } = ctx;
    const redis = createRedis(stack.config.redis, 'commands');
    const ledger = new Ledger(redis, stack.config.redis.keyPrefix);
    const checks: FlowCheck[] = [];
    try {
      const authId = `orphan-${runId}`;
      const voidId = voidOperationId(authId);
      const orderId = `ORD-ORPHAN-${runId}`;
      const startedAt = Date.now();
      await publisher.publish({
        version: 1,
        command: 'authorize',
        channel: 'web',
        received_at: new Date().toISOString(),
        payment: {
          gateway: 'simulator',
          gateway_account: ACCOUNT,
          gateway_key: 'pm_card_visa',
          amount: 4200,
          currency: 'EUR',
          order_id: orderId,
          operation_reference: authId,
        },
      });
      const auth = await waitFor(async () => {
        const op = await ledger.get(authId);
        return op && op.state === 'SUCCEEDED' ? op : null;
      }, 30_000);
      checks.push({
        name: 'orphan scene: the authorization succeeded',
        ok: auth !== null,
        detail: auth ? `${authId} SUCCEEDED, ${auth.gatewayReference}` : `${authId} never succeeded`,
      });
      if (!auth?.gatewayReference) return { summary: 'the authorization never succeeded', checks };

      // The sweep runs in the workers' periodic pass, one process at a time under a lock. When an earlier scene
      // killed the worker holding it, the others take it over once its holder heartbeat lapses
      // (`leases.holder_ttl_ms`), not after the lock's minute: a longer wait here would hide that regressing.
      const voided = await waitFor(async () => {
        const op = await ledger.get(voidId);
        return op && (op.state === 'SUCCEEDED' || op.state === 'FAILED') ? op : null;
      }, 30_000 + stack.config.leases.holderTtlMs);
      const voidedAfterMs = Date.now() - startedAt;
      checks.push({
        name: 'orphan scene: the sweep voided the uncaptured authorization',
        ok: voided?.state === 'SUCCEEDED',
        detail: `${voidId} ${voided?.state ?? 'not created'}, channel ${voided?.channel ?? '-'}`,
      });

      // Two more sweeps (they run every second): still exactly one void at the PSP.
      await new Promise((r) => setTimeout(r, 2500));
      const effects = stack.simulator.counters().effects[voidId] ?? 0;
      const pspStatus = await authorizationStatus(stack.simulator.url, stack.config.gateways.simulator.apiKey, auth.gatewayReference);
      checks.push({
        name: 'orphan scene: the PSP shows the authorization cancelled by one void',
        ok: pspStatus === 'cancelled' && effects === 1,
        detail: `PSP status ${pspStatus}, ${effects} cancel effect(s) under ${voidId}`,
      });

      const cancelEvents = await waitFor(async () => {
        const found = stack.busTwin.notifications.filter((n) => paymentOf(n.params).event_id === `${voidId}.SUCCEEDED`);
        return found.length > 0 ? found : null;
      }, 15_000);
      const reported = cancelEvents?.[0] ? paymentOf(cancelEvents[0].params) : {};
      checks.push({
        name: 'orphan scene: the OMS got the cancel event with the orphan reason',
        ok:
          cancelEvents !== null &&
          cancelEvents[0].method === stack.config.serviceBus.methods.notifications.cancelled &&
          reported.orphan_reversal === 'uncaptured_past_age' &&
          reported.status === 'SUCCESS' &&
          reported.order_id === orderId,
        detail: cancelEvents
          ? `${cancelEvents[0].method} status ${String(reported.status)} orphan_reversal ${String(reported.orphan_reversal)}`
          : 'no cancelled notification',
      });
      return {
        summary: `order ${orderId}: authorized 42.00 EUR, never captured; voided by ${voidId} after ${(voidedAfterMs / 1000).toFixed(1)} s (orphan age ${ORPHAN_AGE_MS / 1000} s for account ${ACCOUNT}); PSP ${pspStatus}; OMS told "cancelled" with orphan_reversal=uncaptured_past_age`,
        checks,
      };
    } finally {
      redis.disconnect();
    }
  },
};

/** The authorization's status at the simulator (its faults may answer 5xx: asked a few times). */
async function authorizationStatus(url: string, apiKey: string, reference: string): Promise<string> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    try {
      const res = await fetch(`${url}/v1/authorizations/${encodeURIComponent(reference)}`, {
        headers: { authorization: `Bearer ${apiKey}` },
        signal: AbortSignal.timeout(2000),
      });
      if (res.ok) return ((await res.json()) as { status: string }).status;
    } catch {
      // a simulated reset or timeout: ask again
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return 'unknown';
}

import { Ledger, OperationRecord } from '../../src/ledger/ledger';
import { createRedis } from '../../src/redis/redis-connection';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';

/** How long the poll schedule may take to run out (the demo's is 1+2+4+8+30 s, plus a 2 s timeout per inquiry). */
const GIVE_UP_WITHIN_MS = 150_000;

/**
 * UNRESOLVED settled later: the PSP takes an authorization but holds every answer about it (the
 * simulator's per-operation hold: the request and each status inquiry time out), so the operation is
 * UNKNOWN and the poll schedule runs out. The bridge does not fail it: the OMS is told UNRESOLVED and
 * operators are alerted. Then the PSP releases it and its webhook arrives: the operation settles and the
 * OMS is told SUCCESS, as a new event after the UNRESOLVED one. Nothing is charged twice. Only this
 * operation is held: the schedule and everything else stay as the main workload had them.
 */
export const unresolvedSettledLaterScene: DemoScene = {
  title: 'UNRESOLVED settled later',
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, publisher, runId } = ctx;
    const redis = createRedis(stack.config.redis, 'commands');
    const ledger = new Ledger(redis, stack.config.redis.keyPrefix);
    const checks: FlowCheck[] = [];
    const opId = `unresolved-${runId}`;
    const orderId = `ORD-UNRESOLVED-${runId}`;
    const eventsOf = () => stack.busTwin.notifications.filter((n) => String(paymentOf(n.params).operation_reference) === opId);
    try {
      stack.simulator.hold(opId);
      const startedAt = Date.now();
      await publisher.publish({
        version: 1,
        command: 'authorize',
        channel: 'web',
        received_at: new Date().toISOString(),
        payment: {
          gateway: 'simulator',
          gateway_account: 'acme-eu',
          gateway_key: 'pm_card_visa',
          amount: 7300,
          currency: 'EUR',
          order_id: orderId,
          operation_reference: opId,
        },
      });
      const given = await waitFor(async () => {
        const op = await ledger.get(opId);
        return op && op.state !== 'RECEIVED' && op.state !== 'SENT' && op.state !== 'UNKNOWN' ? op : null;
      }, GIVE_UP_WITHIN_MS);
      const gaveUpAfterMs = Date.now() - startedAt;
      checks.push({
        name: 'UNRESOLVED scene: the poll schedule ran out into UNRESOLVED, not FAILED',
        ok: given?.state === 'UNRESOLVED',
        detail: `${opId} ${given?.state ?? 'still unknown'} after ${(gaveUpAfterMs / 1000).toFixed(1)} s`,
      });
      const unresolvedEvent = await waitFor(async () => eventsOf().find((n) => paymentOf(n.params).event_id === `${opId}.UNRESOLVED`) ?? null, 15_000);
      const told = unresolvedEvent ? paymentOf(unresolvedEvent.params) : {};
      checks.push({
        name: 'UNRESOLVED scene: the OMS was told UNRESOLVED',
        ok: told.status === 'UNRESOLVED',
        detail: unresolvedEvent ? `${unresolvedEvent.method} status ${String(told.status)} reason ${String(told.reason)}` : 'no UNRESOLVED notification',
      });

      // The PSP's fact arrives late: the simulator answers again and sends the authorization's webhook.
      stack.simulator.release(opId);
      const settled = await waitFor(async () => {
        const op = await ledger.get(opId);
        return op && (op.state === 'SUCCEEDED' || op.state === 'FAILED') ? op : null;
      }, 30_000);
      const successEvent = await waitFor(async () => eventsOf().find((n) => paymentOf(n.params).event_id === `${opId}.SUCCEEDED`) ?? null, 15_000);
      const success = successEvent ? paymentOf(successEvent.params) : {};
      checks.push({ name: 'UNRESOLVED scene: the late webhook settled it SUCCEEDED', ok: settled?.state === 'SUCCEEDED', detail: describe(settled) });
      const inOrder =
        unresolvedEvent !== null &&
        successEvent !== null &&
        Number(success.sequence) > Number(told.sequence) &&
        successEvent.receivedAt >= unresolvedEvent.receivedAt;
      checks.push({
        name: 'UNRESOLVED scene: the OMS then got SUCCESS, in order after UNRESOLVED',
        ok: success.status === 'SUCCESS' && inOrder,
        detail: `events ${
          eventsOf()
            .map((n) => `${String(paymentOf(n.params).status)}#${String(paymentOf(n.params).sequence)}`)
            .join(' → ') || 'none'
        }`,
      });
      const failed = eventsOf().some((n) => paymentOf(n.params).status === 'FAIL');
      const effects = stack.simulator.counters().effects[opId] ?? 0;
      checks.push({
        name: 'UNRESOLVED scene: never reported FAIL, charged once',
        ok: !failed && effects === 1,
        detail: `${effects} effect(s) at the PSP, FAIL event: ${failed ? 'yes' : 'no'}`,
      });
      return {
        summary: `order ${orderId}: 73.00 EUR authorization held by the PSP; poll schedule ran out after ${(gaveUpAfterMs / 1000).toFixed(0)} s → OMS told UNRESOLVED (${String(told.reason)}), alert payment_unresolved; PSP released it, its webhook settled it → OMS told SUCCESS (sequence ${String(told.sequence)} → ${String(success.sequence)}); ${effects} charge at the PSP`,
        checks,
      };
    } finally {
      stack.simulator.release(opId);
      redis.disconnect();
    }
  },
};

function describe(op: OperationRecord | null): string {
  return op ? `${op.id} ${op.state}${op.gatewayReference ? `, ${op.gatewayReference}` : ''}` : 'not settled';
}

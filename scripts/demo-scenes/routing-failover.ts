import { Ledger } from '../../src/ledger/ledger';
import { createRedis } from '../../src/redis/redis-connection';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';

/** The merchant the scene's routing rules apply to: no other traffic of the demo is routed. */
const MERCHANT = 'acme-routing-demo';

/**
 * Routing and failover. Two rules apply to one demo merchant only: EUR cards go to the simulator even when
 * the command names `legacy-psp` (a routed payment), and USD authorizations try `legacy-psp` first, then
 * the simulator. `legacy-psp` is down (nothing listens on its port): the request is provably not sent, so
 * the authorization fails over to the simulator in the same delivery. Each OMS event carries the routing
 * decision (rule, candidates, failovers); each payment is charged once.
 */
export const routingFailoverScene: DemoScene = {
  title: 'routed payment and failover',
  parameters: {
    gateways: {
      'legacy-psp': {
        type: 'simulator',
        base_url: 'http://127.0.0.1:9',
        api_key: 'legacy-psp-demo-key-0123456789',
        webhook_secret: 'legacy-psp-demo-whsec-0123456789',
        timeout_ms: 1000,
      },
    },
    'routing.rules': [
      { name: 'demo-eu-cards', when: { merchants: [MERCHANT], currencies: ['EUR'], methods: ['card'] }, gateways: ['simulator'] },
      {
        name: 'demo-usd-failover',
        when: { merchants: [MERCHANT], currencies: ['USD'], commands: ['authorize', 'sale'] },
        gateways: ['legacy-psp', 'simulator'],
      },
    ],
    'routing.failover.enabled': true,
  },
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, publisher, runId } = ctx;
    const redis = createRedis(stack.config.redis, 'commands');
    const ledger = new Ledger(redis, stack.config.redis.keyPrefix);
    const checks: FlowCheck[] = [];
    const routedId = `routed-${runId}`;
    const failoverId = `failover-${runId}`;
    const send = (id: string, gateway: string, amount: number, currency: string) =>
      publisher.publish({
        version: 1,
        command: 'authorize',
        channel: 'web',
        received_at: new Date().toISOString(),
        payment: {
          gateway,
          gateway_account: MERCHANT,
          gateway_key: 'pm_card_visa',
          amount,
          currency,
          order_id: `ORD-${id}`,
          operation_reference: id,
          method_details: { method: 'card' },
        },
      });
    const eventOf = (id: string) =>
      waitFor(async () => stack.busTwin.notifications.find((n) => paymentOf(n.params).event_id === `${id}.SUCCEEDED`) ?? null, 60_000);
    try {
      await send(routedId, 'legacy-psp', 4200, 'EUR');
      await send(failoverId, 'simulator', 9900, 'USD');
      const [routedEvent, failoverEvent] = await Promise.all([eventOf(routedId), eventOf(failoverId)]);
      const routedRouting = (routedEvent ? paymentOf(routedEvent.params).routing : undefined) as Record<string, unknown> | undefined;
      const failoverRouting = (failoverEvent ? paymentOf(failoverEvent.params).routing : undefined) as Record<string, unknown> | undefined;
      const routedOp = await ledger.get(routedId);
      const failoverOp = await ledger.get(failoverId);
      checks.push({
        name: 'routing scene: the EUR card payment named legacy-psp and was routed to the simulator by rule demo-eu-cards',
        ok: routedOp?.state === 'SUCCEEDED' && routedRouting?.gateway === 'simulator' && routedRouting?.rule === 'demo-eu-cards',
        detail: `${routedId} ${routedOp?.state ?? 'missing'}; event routing ${JSON.stringify(routedRouting ?? null)}`,
      });
      const failovers = (failoverRouting?.failovers ?? []) as Array<Record<string, unknown>>;
      checks.push({
        name: 'routing scene: the USD authorization failed over from legacy-psp (not sent) to the simulator',
        ok:
          failoverOp?.state === 'SUCCEEDED' &&
          failoverRouting?.gateway === 'simulator' &&
          failovers[0]?.from === 'legacy-psp' &&
          failovers[0]?.trigger === 'not_sent',
        detail: `${failoverId} ${failoverOp?.state ?? 'missing'} after ${failoverOp?.attempts ?? 0} attempts; failovers ${JSON.stringify(failovers)}`,
      });
      // An attempt after a failover carries its own idempotency key (<id>.failover<n>): a payment's effects are under either.
      const counted = stack.simulator.counters().effects;
      const effects = [routedId, failoverId].map((id) =>
        Object.entries(counted)
          .filter(([key]) => key === id || key.startsWith(`${id}.failover`))
          .reduce((sum, [, n]) => sum + n, 0),
      );
      checks.push({
        name: 'routing scene: each payment charged once',
        ok: effects.every((e) => e === 1),
        detail: `effects at the simulator: ${effects.join(', ')}`,
      });
      return {
        summary: `42.00 EUR card for legacy-psp → routed by rule demo-eu-cards to the simulator (${routedOp?.state ?? '?'}); 99.00 USD authorization → legacy-psp down (not sent) → failover to the simulator in the same delivery (${failoverOp?.state ?? '?'}, ${failoverOp?.attempts ?? 0} attempts); both OMS events carry payment.routing; ${effects.reduce((a, b) => a + b, 0)} charges`,
        checks,
      };
    } finally {
      redis.disconnect();
    }
  },
};

import { randomBytes } from 'node:crypto';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';

/**
 * Split tender: two web orders each paid by a gift card and a card (`web.order_created.v1` with
 * `gift_card`). The first is paid (the gift card redeemed for its part, the card charged for the rest
 * only); the second's card is declined, so its gift card redemption is reversed. The scene reads each gift
 * card's balance at the simulator before and after, and the `split_tender_settled` event the OMS got.
 */
export const splitTenderScene: DemoScene = {
  title: 'split tender: gift card plus card, one card failure rolled back',
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, publisher, runId } = ctx;
    const config = stack.config;
    const sim = config.gateways.simulator;
    const checks: FlowCheck[] = [];
    // The demo's simulator injects 5xx, 429 and resets into every call, this one too: ask again a few times.
    const balance = async (token: string): Promise<number | null> => {
      for (let attempt = 0; attempt < 8; attempt += 1) {
        const value = await balanceOnce(token).catch(() => null);
        if (value !== null) return value;
        await new Promise((r) => setTimeout(r, 250));
      }
      return null;
    };
    const balanceOnce = async (token: string): Promise<number | null> => {
      const res = await fetch(`${sim.baseUrl}/v1/gift_cards/${token}/balance`, {
        method: 'POST',
        signal: AbortSignal.timeout(2000), // an injected hang must not stall the scene
        headers: { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json', 'idempotency-key': `demo-bal-${randomBytes(6).toString('hex')}` },
        body: JSON.stringify({ currency: 'EUR', reference: `demo-bal-${randomBytes(4).toString('hex')}` }),
      });
      if (!res.ok) return null;
      return ((await res.json()) as { balance?: number }).balance ?? null;
    };
    const settled = (splitId: string) =>
      waitFor(async () => {
        const hit = stack.busTwin.notifications.find(
          (n) => n.method === config.serviceBus.methods.notifications.split_tender_settled && paymentOf(n.params).operation_reference === splitId,
        );
        return hit ? paymentOf(hit.params) : null;
      }, 60_000);
    const tag = runId.replace(/[^A-Za-z0-9]/g, '');
    const orders = [
      { order: `ST-OK-${tag}`, card: 'pm_card_visa', giftCard: `gc_demo${tag}ok_5000`, gift: 3000, total: 10000, expect: 'DONE', initial: 5000, after: 2000 },
      {
        order: `ST-RB-${tag}`,
        card: 'pm_card_declined',
        giftCard: `gc_demo${tag}rb_4000`,
        gift: 2500,
        total: 6000,
        expect: 'ROLLED_BACK',
        initial: 4000,
        after: 4000,
      },
    ];
    const rows: string[] = [];
    for (const o of orders) {
      const before = await balance(o.giftCard);
      await publisher.publishRaw(
        'web.order_created',
        {
          contract: 'web.order_created.v1',
          event_id: `evt-${o.order}`,
          occurred_at: new Date().toISOString(),
          capture_method: 'automatic',
          order: { order_id: o.order, currency: 'EUR', total_amount: o.total },
          payment_method: { type: 'card', gateway: 'simulator', gateway_account: 'split-demo', token: o.card },
          gift_card: { gateway: 'simulator', gateway_account: 'split-demo', token: o.giftCard, brand: 'givex', amount: o.gift },
        },
        'web',
      );
      const event = await settled(`web-order.${o.order}`);
      const after = await balance(o.giftCard);
      const split = (event?.split_tender ?? {}) as { state?: string; tenders?: Array<{ role: string; status: string; amount: number }> };
      const steps = (split.tenders ?? []).map((t) => `${t.role} ${t.amount} ${t.status}`).join(', ');
      checks.push({
        name: `split tender scene: ${o.order} ended ${o.expect}`,
        ok: split.state === o.expect && event?.status === (o.expect === 'DONE' ? 'SUCCESS' : 'FAIL'),
        detail: `${split.state ?? 'no event'} (${steps})`,
      });
      checks.push({
        name: `split tender scene: ${o.order} gift card balance ${o.expect === 'DONE' ? 'took only its part' : 'restored by the reversal'}`,
        ok: before === o.initial && after === o.after,
        detail: `gift card ${before ?? '-'} → ${after ?? '-'}`,
      });
      rows.push(
        `${o.order}: gift card ${o.gift} + card ${o.total - o.gift} → ${split.state ?? '-'} [${steps}], gift card balance ${before ?? '-'} → ${after ?? '-'}`,
      );
    }
    return { summary: rows.join('; '), checks };
  },
};

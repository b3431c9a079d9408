import { Payment } from '../../src/contracts/payment-command';
import { createDeliveryQueue } from '../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../src/delivery/outcome-recorder';
import { EventStore } from '../../src/events/event-store';
import { createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { Ledger, OperationRecord } from '../../src/ledger/ledger';
import { silentLogger } from '../../src/logging/logger';
import { decideReview, RiskReviewExpiry } from '../../src/poller/risk-review-expiry';
import { formatMinor } from '../../src/money/minor-units';
import { createRedis } from '../../src/redis/redis-connection';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';

/** The merchant whose EUR payments try the capped `limits-psp` first: no other traffic of the demo is capped. */
const CAPPED = 'acme-limits-cap';
/** The merchant account that settles in EUR only: its USD payments are converted. */
const FX_SHOP = 'acme-limits-fx';
/** How long a risk hold waits for an operator before it is voided, ms (the scene waits it out once). */
const REVIEW_WINDOW_MS = 15_000;

/**
 * Orchestration limits. A cap: the capped merchant's EUR payments route to `limits-psp` first, then the
 * simulator; `limits-psp` takes at most 50.00 EUR per transaction for it, so an 80.00 EUR sale falls back
 * to the simulator before any call to `limits-psp`. Risk: CHF authorizations of 1,000.00 or more are held
 * for review (only this scene pays in CHF); one is released by an operator and goes through, the other is
 * voided when its deadline passes, never sent. FX: the FX shop settles in EUR; a 123.45 USD sale is
 * converted at 0.9137 and locked, and a 50.00 USD refund goes out at that locked rate.
 */
export const limitsScene: DemoScene = {
  title: 'caps, risk holds and a locked FX rate',
  parameters: {
    gateways: {
      'limits-psp': {
        type: 'simulator',
        base_url: 'http://127.0.0.1:9',
        api_key: 'limits-psp-demo-key-0123456789',
        webhook_secret: 'limits-psp-demo-whsec-0123456789',
        timeout_ms: 1000,
      },
    },
    'routing.rules': [{ name: 'demo-limits-cap', when: { merchants: [CAPPED], currencies: ['EUR'] }, gateways: ['limits-psp', 'simulator'] }],
    'caps.rules': [{ scope: 'merchant', name: CAPPED, gateway: 'limits-psp', currency: 'EUR', max_amount: 5000 }],
    'risk.rules': [{ name: 'demo-big-chf', when: ['high_amount'], action: 'hold' }],
    'risk.amount_thresholds': { CHF: 100000 },
    'risk.review_window_ms': REVIEW_WINDOW_MS,
    'fx.settlement_currencies': { [`simulator:${FX_SHOP}`]: ['EUR'] },
    'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
  },
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, runId } = ctx;
    const config = stack.config;
    const redis = createRedis(config.redis, 'commands');
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
    const logger = silentLogger();
    const checks: FlowCheck[] = [];
    const rows: string[] = [];
    try {
      // 1. A cap: over limits-psp's per-transaction maximum for this merchant, the sale falls back to the simulator.
      const capId = `cap-${runId}`;
      const capped = await send(ctx, ledger, 'sale', {
        gateway_account: CAPPED,
        order_id: `ORD-${capId}`,
        amount: 8000,
        currency: 'EUR',
        operation_reference: capId,
      });
      const capDecision = capped?.routing?.decisions.find((d) => d.stage === 'caps');
      checks.push({
        name: 'limits scene: over the cap of limits-psp, the sale fell back to the simulator',
        ok: capped?.state === 'SUCCEEDED' && capped.routing?.gateway === 'simulator' && capDecision?.outcome === 'fallback',
        detail: `${capId} ${capped?.state ?? 'not settled'} on ${capped?.routing?.gateway ?? '-'}; caps ${capDecision?.outcome ?? '-'} ${JSON.stringify(capDecision?.reasons ?? [])}`,
      });
      rows.push(
        `80.00 EUR sale over limits-psp's 50.00 EUR cap → ${capDecision?.outcome ?? '?'} to ${capped?.routing?.gateway ?? '?'} (${capped?.state ?? 'not settled'})`,
      );

      // 2. Risk holds: two big CHF authorizations held; one released by an operator, one left to its deadline.
      const releasedId = `risk-ok-${runId}`;
      const expiredId = `risk-void-${runId}`;
      const requestsBefore = stack.simulator.counters().requests;
      for (const id of [releasedId, expiredId]) {
        await ctx.publisher.publish({
          version: 1,
          command: 'authorize',
          channel: 'web',
          received_at: new Date().toISOString(),
          payment: {
            gateway: 'simulator',
            gateway_account: 'acme-eu',
            gateway_key: 'pm_card_visa',
            amount: 150000,
            currency: 'CHF',
            order_id: `ORD-${id}`,
            operation_reference: id,
          },
        });
      }
      const heldEvent = (id: string) => stack.busTwin.notifications.find((n) => paymentOf(n.params).event_id === `${id}.risk-review`) ?? null;
      await waitFor(async () => (heldEvent(releasedId) && heldEvent(expiredId) ? true : null), 30_000);
      const held = [heldEvent(releasedId), heldEvent(expiredId)].map((n) => (n ? paymentOf(n.params) : {}));
      const sentWhileHeld = stack.simulator.counters().requests - requestsBefore;
      checks.push({
        name: 'limits scene: both big CHF authorizations were held for review, unsent, the OMS told PENDING RISK_REVIEW',
        ok: held.every((p) => p.status === 'PENDING' && p.reason === 'RISK_REVIEW') && sentWhileHeld === 0,
        detail: `${held.map((p) => `${String(p.status)} ${String(p.reason)}`).join(', ')}; ${sentWhileHeld} request(s) to the PSP`,
      });
      const release = await decideReview({ config, redis, deliveryQueue, logger }, releasedId, 'demo-operator', 'release');
      const released = await settled(ledger, releasedId, 30_000);
      checks.push({
        name: 'limits scene: the held authorization released by an operator went through',
        ok: release === 'released' && released?.state === 'SUCCEEDED' && (stack.simulator.counters().effects[releasedId] ?? 0) === 1,
        detail: `release ${release}; ${releasedId} ${released?.state ?? 'not settled'}`,
      });
      const deadline = Date.parse(String((held[1].review as Record<string, unknown> | undefined)?.deadline ?? '')) || Date.now() + REVIEW_WINDOW_MS;
      await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + 500));
      const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger });
      const voidedCount = await new RiskReviewExpiry({ config, redis, ledger, recorder, logger, deliveryQueue }).runOnce();
      const voided = await ledger.get(expiredId);
      const failEvent = await waitFor(
        async () => stack.busTwin.notifications.find((n) => paymentOf(n.params).event_id === `${expiredId}.FAILED`) ?? null,
        20_000,
      );
      const fail = failEvent ? paymentOf(failEvent.params) : {};
      checks.push({
        name: 'limits scene: the hold left past its deadline was voided unsent, the OMS told FAIL RISK_REVIEW_EXPIRED',
        ok:
          voided?.state === 'FAILED' &&
          voided.reason === 'RISK_REVIEW_EXPIRED' &&
          fail.reason === 'RISK_REVIEW_EXPIRED' &&
          stack.simulator.counters().effects[expiredId] === undefined,
        detail: `voided by the poller or this pass (${voidedCount} here); ${expiredId} ${voided?.state ?? '-'} ${voided?.reason ?? ''}; event ${String(fail.status)} ${String(fail.reason)}`,
      });
      rows.push(
        `two 1,500.00 CHF authorizations held for review: one released by an operator → ${released?.state ?? '?'}, one voided at its deadline → ${voided?.state ?? '?'} ${voided?.reason ?? ''} (never sent)`,
      );

      // 3. FX: a USD sale converted to EUR and locked; its refund goes out at the locked rate.
      const saleId = `fx-sale-${runId}`;
      const refundId = `fx-ref-${runId}`;
      const order = `ORD-${saleId}`;
      const sale = await send(ctx, ledger, 'sale', { gateway_account: FX_SHOP, order_id: order, amount: 12345, currency: 'USD', operation_reference: saleId });
      const refund =
        sale?.state === 'SUCCEEDED'
          ? await send(ctx, ledger, 'refund', {
              gateway_account: FX_SHOP,
              order_id: order,
              amount: 5000,
              currency: 'USD',
              gateway_key: saleId,
              operation_reference: refundId,
            })
          : null;
      const lock = refund?.routing?.decisions.find((d) => d.stage === 'fx' && d.outcome === 'changed');
      checks.push({
        name: 'limits scene: 123.45 USD sold as 112.80 EUR, the 50.00 USD refund at the locked rate as 45.68 EUR',
        ok:
          sale?.routing?.amount === 11280 &&
          sale.routing.currency === 'EUR' &&
          refund?.state === 'SUCCEEDED' &&
          refund.routing?.amount === 4568 &&
          refund.routing.currency === 'EUR' &&
          (lock?.reasons ?? []).includes('locked_rate_of_authorization'),
        detail: `sale ${sale?.state ?? '-'} ${sale?.routing?.amount ?? '-'} ${sale?.routing?.currency ?? ''}; refund ${refund?.state ?? '-'} ${refund?.routing?.amount ?? '-'} ${refund?.routing?.currency ?? ''} (${JSON.stringify(lock?.reasons ?? [])}, rate ${String(lock?.details?.fx_rate ?? '-')})`,
      });
      rows.push(
        `123.45 USD sale → ${fmt(sale?.routing?.amount)} EUR at 0.9137 (locked); 50.00 USD refund → ${fmt(refund?.routing?.amount)} EUR at the locked rate (${refund?.state ?? 'not settled'})`,
      );
      return { summary: rows.join('; '), checks };
    } finally {
      await deliveryQueue.close();
      await eventsQueue.close();
      redis.disconnect();
    }
  },
};

/** Sends a sale (POS channel) or a refund (over the bus) and waits until its operation is terminal. */
async function send(
  ctx: SceneContext,
  ledger: Ledger,
  command: 'sale' | 'refund',
  fields: Pick<Payment, 'gateway_account' | 'order_id' | 'amount' | 'currency' | 'operation_reference'> & { gateway_key?: string },
): Promise<OperationRecord | null> {
  const payment: Payment = { gateway: 'simulator', gateway_key: 'pm_card_visa', ...fields };
  const id = fields.operation_reference as string;
  if (command === 'refund') {
    const method = ctx.stack.config.serviceBus.methods.commands.refund;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const answer = await ctx.sendBus(method, { payment }, id);
      if (answer.status === 200) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } else {
    await ctx.publisher.publish({ version: 1, command, channel: 'pos', received_at: new Date().toISOString(), payment });
  }
  return settled(ledger, id, 30_000);
}

function settled(ledger: Ledger, id: string, timeoutMs: number): Promise<OperationRecord | null> {
  return waitFor(async () => {
    const op = await ledger.get(id);
    return op && (op.state === 'SUCCEEDED' || op.state === 'FAILED') ? op : null;
  }, timeoutMs);
}

function fmt(minor: number | undefined): string {
  return typeof minor === 'number' ? formatMinor(minor, 'EUR') : '?';
}

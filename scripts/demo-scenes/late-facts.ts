import { Payment } from '../../src/contracts/payment-command';
import { Ledger, OperationRecord } from '../../src/ledger/ledger';
import { createRedis } from '../../src/redis/redis-connection';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';
import { formatMinor } from '../../src/money/minor-units';

/** The merchant account only this scene uses. */
const ACCOUNT = 'late-facts-demo';

/**
 * A chargeback and a late refund failure: a web checkout authorizes a payment, the OMS captures it through
 * the bus, then the PSP reports a chargeback of it; a POS sale is refunded through the bus, then the PSP
 * reports that the refund failed. Each late fact is sent twice by the PSP. The scene checks each becomes
 * exactly one `adjusted` event on the bus with the PSP's amounts, and that the capture and the refund stay
 * SUCCEEDED (a terminal state never moves).
 */
export const lateFactsScene: DemoScene = {
  title: 'chargeback and a late refund failure',
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, runId } = ctx;
    const redis = createRedis(stack.config.redis, 'commands');
    const ledger = new Ledger(redis, stack.config.redis.keyPrefix);
    const checks: FlowCheck[] = [];
    const adjusted = stack.config.serviceBus.methods.notifications.adjusted;
    try {
      // 1. Authorize (web), capture (bus), then a chargeback of the capture.
      const captureOrder = `ORD-CB-${runId}`;
      const auth = await settle(ctx, ledger, 'authorize', {
        order_id: captureOrder,
        gateway_key: 'pm_card_visa',
        amount: 6000,
        operation_reference: `lf-auth-${runId}`,
      });
      const capture = auth?.gatewayReference
        ? await settle(ctx, ledger, 'capture', {
            order_id: captureOrder,
            gateway_key: auth.gatewayReference,
            amount: 6000,
            operation_reference: `lf-cap-${runId}`,
          })
        : null;
      checks.push({
        name: 'late facts scene: authorized and captured through the bus',
        ok: capture?.state === 'SUCCEEDED',
        detail: `${auth?.id ?? '-'} ${auth?.state ?? 'missing'}, ${capture?.id ?? '-'} ${capture?.state ?? 'missing'}`,
      });
      // 2. A POS sale refunded through the bus.
      const refundOrder = `ORD-RF-${runId}`;
      const sale = await settle(ctx, ledger, 'sale', {
        order_id: refundOrder,
        gateway_key: 'pm_card_visa',
        amount: 8000,
        operation_reference: `lf-sale-${runId}`,
      });
      const refund = sale?.gatewayReference
        ? await settle(ctx, ledger, 'refund', {
            order_id: refundOrder,
            gateway_key: sale.gatewayReference,
            amount: 2500,
            operation_reference: `lf-ref-${runId}`,
          })
        : null;
      checks.push({
        name: 'late facts scene: sold and refunded through the bus',
        ok: refund?.state === 'SUCCEEDED',
        detail: `${sale?.id ?? '-'} ${sale?.state ?? 'missing'}, ${refund?.id ?? '-'} ${refund?.state ?? 'missing'}`,
      });
      if (capture?.state !== 'SUCCEEDED' || refund?.state !== 'SUCCEEDED') return { summary: 'the payments to adjust never settled', checks };

      // 3. The PSP reports the late facts, each delivered twice.
      const chargeback = await inject(stack.simulator.url, '/_control/chargeback', {
        reference: capture.id,
        amount: 6000,
        reason: 'fraudulent',
        duplicate: true,
      });
      const failure = await inject(stack.simulator.url, '/_control/refund-failure', {
        reference: refund.id,
        reason: 'expired_or_canceled_card',
        duplicate: true,
      });
      checks.push({
        name: 'late facts scene: the PSP sent a chargeback and a refund failure',
        ok: chargeback && failure,
        detail: `chargeback ${chargeback ? 'sent' : 'refused'}, refund failure ${failure ? 'sent' : 'refused'}`,
      });

      const eventsFor = (operationId: string) =>
        stack.busTwin.notifications.filter((n) => n.method === adjusted && paymentOf(n.params).operation_reference === operationId);
      await waitFor(async () => (eventsFor(capture.id).length > 0 && eventsFor(refund.id).length > 0 ? true : null), 20_000);
      // Room for a second copy to arrive, had the duplicate webhook produced one.
      await new Promise((r) => setTimeout(r, 2000));
      const cb = eventsFor(capture.id);
      const rf = eventsFor(refund.id);
      const cbAdj = cb[0] ? adjustmentOf(cb[0].params) : {};
      const rfAdj = rf[0] ? adjustmentOf(rf[0].params) : {};
      checks.push({
        name: 'late facts scene: the chargeback reached the bus exactly once with its amount',
        ok:
          cb.length === 1 &&
          cbAdj.kind === 'chargeback' &&
          cbAdj.direction === 'debit' &&
          cbAdj.amount === 6000 &&
          cbAdj.currency === 'EUR' &&
          paymentOf(cb[0].params).order_id === captureOrder,
        detail: `${cb.length} ${adjusted} event(s) for ${capture.id}: ${String(cbAdj.kind)} ${money(cbAdj)} (${String(cbAdj.reason)})`,
      });
      checks.push({
        name: 'late facts scene: the refund failure reached the bus exactly once with its amount',
        ok:
          rf.length === 1 &&
          rfAdj.kind === 'refund_failed' &&
          rfAdj.direction === 'credit' &&
          rfAdj.amount === 2500 &&
          rfAdj.currency === 'EUR' &&
          paymentOf(rf[0].params).order_id === refundOrder,
        detail: `${rf.length} ${adjusted} event(s) for ${refund.id}: ${String(rfAdj.kind)} ${money(rfAdj)} (${String(rfAdj.reason)})`,
      });
      const [captureNow, refundNow] = await Promise.all([ledger.get(capture.id), ledger.get(refund.id)]);
      const refundFailedEvents = stack.busTwin.notifications.filter((n) => paymentOf(n.params).event_id === `${refund.id}.FAILED`).length;
      checks.push({
        name: 'late facts scene: the operations kept their own state',
        ok: captureNow?.state === 'SUCCEEDED' && refundNow?.state === 'SUCCEEDED' && refundFailedEvents === 0,
        detail: `capture ${captureNow?.state ?? '-'}, refund ${refundNow?.state ?? '-'}, ${refundFailedEvents} FAIL event(s) for the refund`,
      });
      return {
        summary: `order ${captureOrder}: captured 60.00 EUR, then charged back (${String(cbAdj.reason)}): one "adjusted" chargeback event of ${money(cbAdj)}; order ${refundOrder}: refunded 25.00 EUR, then the refund failed (${String(rfAdj.reason)}): one "adjusted" refund_failed event of ${money(rfAdj)}; each PSP webhook sent twice, capture and refund still SUCCEEDED`,
        checks,
      };
    } finally {
      redis.disconnect();
    }
  },
};

/**
 * Sends one command (authorize and sale from the web and POS channels, capture and refund over the bus)
 * and waits until its operation is terminal; `null` if it never is within 30 s.
 */
async function settle(
  ctx: SceneContext,
  ledger: Ledger,
  command: 'authorize' | 'sale' | 'capture' | 'refund',
  fields: Pick<Payment, 'order_id' | 'gateway_key' | 'amount' | 'operation_reference'>,
): Promise<OperationRecord | null> {
  const payment: Payment = { gateway: 'simulator', gateway_account: ACCOUNT, currency: 'EUR', ...fields };
  const id = fields.operation_reference as string;
  if (command === 'capture' || command === 'refund') {
    const method = ctx.stack.config.serviceBus.methods.commands[command];
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const answer = await ctx.sendBus(method, { payment }, id);
      if (answer.status === 200) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } else {
    await ctx.publisher.publish({ version: 1, command, channel: command === 'sale' ? 'pos' : 'web', received_at: new Date().toISOString(), payment });
  }
  return waitFor(async () => {
    const op = await ledger.get(id);
    return op && (op.state === 'SUCCEEDED' || op.state === 'FAILED') ? op : null;
  }, 30_000);
}

/** Asks the simulator to send a late fact (its webhook is signed like its others); true when it did. */
async function inject(url: string, path: string, body: Record<string, unknown>): Promise<boolean> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.status === 200;
}

function adjustmentOf(params: Record<string, unknown>): Record<string, unknown> {
  const a = params.adjustment;
  return a !== null && typeof a === 'object' ? (a as Record<string, unknown>) : {};
}

/** An adjustment's amount as people read it (`60.00 EUR`), from the event's integer minor units. */
function money(adjustment: Record<string, unknown>): string {
  const { amount, currency } = adjustment;
  return typeof amount === 'number' && typeof currency === 'string' ? `${formatMinor(amount, currency)} ${currency}` : `${String(amount)} ${String(currency)}`;
}

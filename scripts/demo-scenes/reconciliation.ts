import { Payment } from '../../src/contracts/payment-command';
import { AdjustmentStore } from '../../src/adjustments/adjustment-store';
import { Ledger, OperationRecord } from '../../src/ledger/ledger';
import { silentLogger } from '../../src/logging/logger';
import { formatMinor } from '../../src/money/minor-units';
import { createRedis } from '../../src/redis/redis-connection';
import { reconcile } from '../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../src/reconciliation/reconciliation-class';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { paymentOf, waitFor } from './scene-helpers';

/** The merchant account only this scene uses. */
const ACCOUNT = 'recon-demo';

/**
 * Reconciliation: three POS sales go through the stack (one matches, one the PSP reports at another amount,
 * one declined that the PSP reports as captured), and the PSP's report also lists a payment nobody asked
 * for. A reconciliation run over the scene's window finds the three discrepancies: the amount mismatch and
 * the state mismatch are adjusted (the PSP is authoritative on money; each adjustment becomes one `adjusted`
 * event on the bus, the FAILED sale stays FAILED), the unknown payment is reported for a person (no ledger
 * operation to adjust). Run again, the finished run does nothing; with its run state deleted, a re-run
 * records nothing twice and no second event reaches the bus.
 */
export const reconciliationScene: DemoScene = {
  title: 'reconciliation: three discrepancies',
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, runId } = ctx;
    const config = stack.config;
    const redis = createRedis(config.redis, 'commands');
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const adjustmentsStore = new AdjustmentStore(redis, config.redis.keyPrefix);
    const adjusted = config.serviceBus.methods.notifications.adjusted;
    const checks: FlowCheck[] = [];
    const logger = silentLogger();
    try {
      const from = Date.now() - 1;
      const matched = await sell(ctx, ledger, `ORD-RECON-OK-${runId}`, `recon-ok-${runId}`, 'pm_card_visa', 3100);
      const amountOff = await sell(ctx, ledger, `ORD-RECON-AMT-${runId}`, `recon-amt-${runId}`, 'pm_card_visa', 4200);
      const declined = await sell(ctx, ledger, `ORD-RECON-ST-${runId}`, `recon-st-${runId}`, 'pm_card_declined', 5300);
      checks.push({
        name: 'reconciliation scene: three sales settled through the stack',
        ok: matched?.state === 'SUCCEEDED' && amountOff?.state === 'SUCCEEDED' && declined?.state === 'FAILED',
        detail: [matched, amountOff, declined].map((op) => (op ? `${op.id} ${op.state}` : 'not settled')).join(', '),
      });
      if (!matched || !amountOff || !declined) return { summary: 'the sales to reconcile never settled', checks };

      // The PSP's report disagrees three times.
      const unknownAmount = 900 + Math.floor(Math.random() * 99);
      const injected = [
        await inject(stack.simulator.url, { kind: 'amount_mismatch', reference: amountOff.id, amount: 4100 }),
        await inject(stack.simulator.url, { kind: 'state_mismatch', reference: declined.id }),
        await inject(stack.simulator.url, { kind: 'unknown_payment', amount: unknownAmount, currency: 'EUR' }),
      ];
      checks.push({ name: 'reconciliation scene: three discrepancies injected in the PSP report', ok: injected.every(Boolean), detail: injected.join(', ') });
      const window = { from, to: Date.now() + 1 };

      const verdicts: LineVerdict[] = [];
      const first = await reconcile(config, { gateway: 'simulator', window, logger, redis, sink: { verdict: (v) => void verdicts.push(v) } });
      const of = (id: string) => verdicts.filter((v) => v.ledger?.operationId === id);
      const okV = of(matched.id)[0];
      const amtV = of(amountOff.id)[0];
      const stV = of(declined.id)[0];
      const unkV = verdicts.find((v) => v.class === 'missing_in_ledger' && v.record?.amount === unknownAmount);
      checks.push({
        name: 'reconciliation scene: the run finished and the matching sale matched',
        ok: first.summary.result === 'done' && okV?.class === 'matched',
        detail: `run ${first.summary.result}, ${matched.id} ${okV?.class ?? 'not seen'}`,
      });
      const amtAction = amtV?.action as unknown as Record<string, unknown> | undefined;
      checks.push({
        name: 'reconciliation scene: the amount mismatch was found (debit 1.00 EUR)',
        ok: amtV?.class === 'amount_mismatch' && amtAction?.type === 'adjust' && amtAction.amount === 100 && amtAction.direction === 'debit',
        detail: `${amountOff.id}: ${amtV?.class ?? 'not seen'} (${amtV?.note ?? '-'})`,
      });
      const stAction = stV?.action as unknown as Record<string, unknown> | undefined;
      checks.push({
        name: 'reconciliation scene: the state mismatch was found (declined here, captured at the PSP)',
        ok: stV?.class === 'state_mismatch' && stAction?.type === 'adjust' && stAction.direction === 'credit',
        detail: `${declined.id}: ${stV?.class ?? 'not seen'} (${stV?.note ?? '-'})`,
      });
      checks.push({
        name: 'reconciliation scene: the unknown payment was found and reported for a person',
        ok: unkV !== undefined && unkV.action.type === 'report',
        detail: unkV ? `${unkV.class}, action ${unkV.action.type}: ${unkV.note}` : `no missing_in_ledger line of ${unknownAmount}`,
      });

      // Each adjustment is recorded once and reaches the bus as one `adjusted` event.
      const eventsFor = (operationId: string) =>
        stack.busTwin.notifications.filter((n) => n.method === adjusted && paymentOf(n.params).operation_reference === operationId);
      await waitFor(async () => (eventsFor(amountOff.id).length > 0 && eventsFor(declined.id).length > 0 ? true : null), 20_000);
      const [amtAdj, stAdj] = await Promise.all([adjustmentsStore.forOperation(amountOff.id), adjustmentsStore.forOperation(declined.id)]);
      const amtEv = eventsFor(amountOff.id);
      const stEv = eventsFor(declined.id);
      checks.push({
        name: 'reconciliation scene: the amount mismatch was adjusted and its event delivered',
        ok: amtAdj.length === 1 && amtAdj[0].source === 'reconciliation' && amtAdj[0].amount === 100 && amtEv.length === 1,
        detail: `${amtAdj.length} adjustment(s) ${amtAdj.map((a) => `${a.kind} ${a.amount} ${a.currency}`).join(' ')}, ${amtEv.length} ${adjusted} event(s)`,
      });
      const declinedNow = await ledger.get(declined.id);
      checks.push({
        name: 'reconciliation scene: the state mismatch was adjusted, its event delivered, the FAILED sale kept its state',
        ok: stAdj.length === 1 && stEv.length === 1 && declinedNow?.state === 'FAILED',
        detail: `${stAdj.length} adjustment(s) ${stAdj.map((a) => `${a.kind} ${a.amount} ${a.currency}`).join(' ')}, ${stEv.length} ${adjusted} event(s), ledger ${declinedNow?.state ?? '-'}`,
      });

      // Asked again: the finished run does nothing. With its state lost, a re-run records nothing twice.
      const again = await reconcile(config, { gateway: 'simulator', window, logger, redis });
      await redis.del(`${config.redis.keyPrefix}recon:run:{simulator:${window.from}:${window.to}}`); // the run's state (src/reconciliation-run/reconciliation-run-state.ts)
      const rerun = await reconcile(config, { gateway: 'simulator', window, logger, redis });
      await new Promise((r) => setTimeout(r, 3000));
      const [amtAdj2, stAdj2] = await Promise.all([adjustmentsStore.forOperation(amountOff.id), adjustmentsStore.forOperation(declined.id)]);
      checks.push({
        name: 'reconciliation scene: run again, nothing is recorded or sent twice',
        ok:
          again.summary.result === 'already_done' &&
          rerun.summary.result === 'done' &&
          rerun.summary.adjusted === 0 &&
          amtAdj2.length === 1 &&
          stAdj2.length === 1 &&
          eventsFor(amountOff.id).length === 1 &&
          eventsFor(declined.id).length === 1,
        detail: `again: ${again.summary.result}; re-run without its state: ${rerun.summary.result}, ${rerun.summary.adjusted} adjusted; adjustments ${amtAdj2.length}+${stAdj2.length}, events ${eventsFor(amountOff.id).length}+${eventsFor(declined.id).length}`,
      });
      return {
        summary:
          `3 discrepancies found and resolved: amount_mismatch (${amountOff.id}: sold 42.00, PSP 41.00 EUR) → adjusted debit ${money(100)}, one "adjusted" event; ` +
          `state_mismatch (${declined.id}: declined here, captured at the PSP) → adjusted credit ${money(stAdj[0]?.amount)}, one "adjusted" event, sale stays FAILED; ` +
          `unknown payment (${money(unknownAmount)}, no reference) → missing_in_ledger, reported for a person; ` +
          `run again: ${again.summary.result}, re-run without state: ${rerun.summary.adjusted} adjusted, nothing sent twice`,
        checks,
      };
    } finally {
      redis.disconnect();
    }
  },
};

/** A POS sale through the stack's channel; waits until its operation is terminal (`null` after 30 s). */
async function sell(ctx: SceneContext, ledger: Ledger, orderId: string, id: string, key: string, amount: number): Promise<OperationRecord | null> {
  const payment: Payment = {
    gateway: 'simulator',
    gateway_account: ACCOUNT,
    currency: 'EUR',
    order_id: orderId,
    gateway_key: key,
    amount,
    operation_reference: id,
  };
  await ctx.publisher.publish({ version: 1, command: 'sale', channel: 'pos', received_at: new Date().toISOString(), payment });
  return waitFor(async () => {
    const op = await ledger.get(id);
    return op && (op.state === 'SUCCEEDED' || op.state === 'FAILED') ? op : null;
  }, 30_000);
}

/** Injects one discrepancy into the simulator's report; `<kind> ok` or the refusal. */
async function inject(url: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${url}/_control/report/discrepancy`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.status === 200 ? `${String(body.kind)} ok` : `${String(body.kind)} refused (${res.status} ${await res.text()})`;
}

function money(amount: number | undefined): string {
  return typeof amount === 'number' ? `${formatMinor(amount, 'EUR')} EUR` : 'none';
}

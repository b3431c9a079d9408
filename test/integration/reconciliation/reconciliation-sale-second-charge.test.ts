/**
 * A sale the ledger holds FAILED that the PSP charged after all (T1), reported by a webhook as a
 * `succeeded_after_failure` (the sale marked `succeededAfterFailure`), meets in reconciliation a success line of
 * ANOTHER PSP transaction T2 (a resend that landed twice, a second attempt): the customer was charged twice. The run
 * records T2 as its own `succeeded_after_failure` with its own OMS event, and refunds nothing (captured money is the
 * merchant's decision, as orphan reversal does for a sale outside a split tender). Real Redis and the PSP simulator's report.
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { DeliveryJobData } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { adjustmentEventId } from '../../../src/events/adjustment-event';
import { EventStore } from '../../../src/events/event-store';
import { gatewayDefinition } from '../../../src/gateways/gateway-registry';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { OrphanReversal, lateSuccessVoidId, orphanRefundOperationId, voidOperationId } from '../../../src/poller/orphan-reversal';
import { RedisClient } from '../../../src/redis/redis-connection';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { ReconciliationRunner } from '../../../src/reconciliation-run/reconciliation-runner';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { declinedAtSimulator, useSimulatorReconciliationStack } from '../../support/simulator-reconciliation-stack';

const API_KEY = 'sim-recon-sale-second-charge-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let route: GatewayRoute;
let recorder: OutcomeRecorder;
let deliveryQueue: Queue<DeliveryJobData>;
const captured = captureLogger('warn');
const logger = captured.logger;
const stack = useSimulatorReconciliationStack(API_KEY, 'whsec-recon-sale-second-0123456789', logger);

beforeAll(() => {
  ({ sim, config, redis, ledger, route, recorder, deliveryQueue } = stack);
});

/** A sale the simulator declined, recorded FAILED as the bridge records it. */
function declinedSale(): Promise<OperationRecord> {
  return declinedAtSimulator(stack, 'sale');
}

describe("reconciliation: a FAILED sale marked done by T1's succeeded_after_failure meets a success line of ANOTHER PSP transaction T2", () => {
  it('records a second succeeded_after_failure naming T2 with one OMS event, warns that the sale was charged more than once, refunds nothing; a re-run adds nothing', async () => {
    const from = Date.now() - 1;
    const op = await declinedSale();
    expect(op.state).toBe('FAILED');
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const events = new EventStore(redis, config.redis.keyPrefix);
    const adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, mode: 'on' });
    // T1: a webhook reported the sale's first late charge; it marks the sale done by the PSP after all.
    const t1 = await adjustments.recordAdjustment(op, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 2500,
      currency: 'EUR',
      reason: 'captured',
      pspReference: 'sim_first_charge',
      gateway: 'simulator',
      pspEventId: 'evt-first-charge',
      source: 'webhook',
    });
    expect(t1.created).toBe(true);
    expect((await ledger.get(op.id))?.succeededAfterFailure?.by).toBe(t1.adjustment.id);
    // T2: the PSP's report lists the sale charged by another transaction (its declined line, restated succeeded).
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: op.id })).not.toEqual(expect.any(String));
    const window = { from, to: Date.now() + 1 };

    const http = createReconciliationHttp(route.gateway, route.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 5000 });
    const support = gatewayDefinition('simulator').reconciliation!;
    const runner = () =>
      new ReconciliationRunner({
        redis,
        prefix: config.redis.keyPrefix,
        gateway: 'simulator',
        transformer: route.transformer,
        reader: support.reader(route.gateway, http),
        source: support.source,
        adjustments,
        recorder,
        orphans,
        logger,
      });
    try {
      const first = await runner().run({ window });
      expect(first.result).toBe('done');
      expect(first.adjusted).toBe(1);
      const recorded = await store.forOperation(op.id);
      expect(recorded).toHaveLength(2);
      const t2 = recorded.find((a) => a.id !== t1.adjustment.id)!;
      expect(t2).toMatchObject({ kind: 'succeeded_after_failure', direction: 'credit', amount: 2500, currency: 'EUR', source: 'reconciliation' });
      expect(t2.pspReference).toEqual(expect.any(String));
      expect(t2.pspReference).not.toBe('sim_first_charge');
      expect(await events.load(adjustmentEventId(op.id, t2.id))).not.toBeNull();
      // The mark still names T1: the refund checks read it, unchanged.
      expect((await ledger.get(op.id))?.succeededAfterFailure?.by).toBe(t1.adjustment.id);
      const warned = captured.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.level === 'warn' && l.operation_id === op.id && /charged more than once/.test(String(l.message)));
      expect(warned).toHaveLength(1);
      // Nothing reversed: no refund or void of either charge, nothing queued for delivery.
      expect(await ledger.get(orphanRefundOperationId(op.id))).toBeNull();
      expect(await ledger.get(voidOperationId(op.id))).toBeNull();
      expect(await ledger.get(lateSuccessVoidId(op.id, t2.pspReference!))).toBeNull();
      expect(await deliveryQueue.getJobCounts('waiting', 'delayed', 'active', 'prioritized')).toEqual({ waiting: 0, delayed: 0, active: 0, prioritized: 0 });

      // A re-run of the pass over the same line: it is T2's adjustment's, nothing more.
      const again = await runner().run({ window: { from, to: Date.now() + 1 } });
      expect(again.result).toBe('done');
      expect(again.adjusted).toBe(0);
      expect(await store.forOperation(op.id)).toHaveLength(2);
    } finally {
      http.close();
    }
  });
});

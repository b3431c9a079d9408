/**
 * Reconciliation finds an authorization the ledger holds FAILED listed as authorised by the PSP: it records the
 * `succeeded_after_failure` adjustment, then hands the authorization to orphan reversal (`oms_told_failed`). When that
 * request fails (here: the void's delivery job cannot be queued, a Redis error) the run fails after the adjustment was
 * written; the next invocation of the window reads the line again and finds it reported already. It must still ask
 * for the void (idempotent by its deterministic id): else the authorization stays held until it lapses, unreported.
 * Real Redis and the PSP simulator's report.
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
import { OrphanReversal, lateSuccessVoidId, voidOperationId } from '../../../src/poller/orphan-reversal';
import { RedisClient } from '../../../src/redis/redis-connection';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { ReconciliationRunner } from '../../../src/reconciliation-run/reconciliation-runner';
import { PspRecord, PspRecordPage } from '../../../src/reconciliation/psp-record';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { failingOnce } from '../../support/failing-once-queue';
import { declinedAtSimulator, useSimulatorReconciliationStack } from '../../support/simulator-reconciliation-stack';

const API_KEY = 'sim-recon-reversal-retry-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let route: GatewayRoute;
let recorder: OutcomeRecorder;
let deliveryQueue: Queue<DeliveryJobData>;
const logger = captureLogger('error').logger;
const stack = useSimulatorReconciliationStack(API_KEY, 'whsec-recon-reversal-0123456789', logger);

beforeAll(() => {
  ({ sim, config, redis, ledger, route, recorder, deliveryQueue } = stack);
});

/** An authorization the simulator declined, recorded FAILED as the bridge records it. */
function declined(): Promise<OperationRecord> {
  return declinedAtSimulator(stack, 'authorize');
}

describe('reconciliation: a success after failure whose reversal could not be asked for in the run that recorded it', () => {
  it('the next invocation of the window, finding it reported already, asks for it again: the void exists and is queued exactly once, one adjustment', async () => {
    const from = Date.now() - 1;
    const op = await declined();
    expect(op.state).toBe('FAILED');
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: op.id })).not.toEqual(expect.any(String));
    const window = { from, to: Date.now() + 1 };

    const { queue, added } = failingOnce(deliveryQueue);
    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue: queue, logger, mode: 'on' });
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger });
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
      await expect(runner().run({ window })).rejects.toThrow('READONLY');
      const store = new AdjustmentStore(redis, config.redis.keyPrefix);
      expect(await store.forOperation(op.id)).toMatchObject([{ kind: 'succeeded_after_failure' }]);
      expect(added).toEqual([]);

      const summary = await runner().run({ window });
      expect(summary.result).toBe('done');
      expect(await ledger.get(voidOperationId(op.id))).toMatchObject({ command: 'cancel', state: 'RECEIVED' });
      expect(added).toEqual([voidOperationId(op.id)]);
      expect(await store.forOperation(op.id)).toHaveLength(1);
    } finally {
      http.close();
    }
  });
});

describe('reconciliation: a success line of another PSP transaction than the succeeded_after_failure on record (its void never asked for)', () => {
  it("asks for no reversal naming the line's transaction under the operation's void id (kept for the first reading): its own void", async () => {
    const from = Date.now() - 1;
    const op = await declined();
    expect(op.state).toBe('FAILED');
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: op.id })).not.toEqual(expect.any(String));
    const window = { from, to: Date.now() + 1 };
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger });
    // Another transaction's success after failure, reported by a webhook (e.g. an earlier attempt's, read first-wins).
    const other = await adjustments.recordAdjustment(op, {
      kind: 'succeeded_after_failure',
      direction: 'none',
      amount: 2500,
      currency: 'EUR',
      reason: 'authorised',
      pspReference: 'sim_another_transaction',
      gateway: 'simulator',
      pspEventId: 'evt-another-transaction',
      source: 'webhook',
    });
    expect(other.created).toBe(true);

    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, mode: 'on' });
    const http = createReconciliationHttp(route.gateway, route.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 5000 });
    const support = gatewayDefinition('simulator').reconciliation!;
    try {
      const summary = await new ReconciliationRunner({
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
      }).run({ window });
      expect(summary.result).toBe('done');
      // Before: the line's own transaction was voided as oms_told_failed under _<op id>.void, the id the reported one's
      // reversal needs; one authorization could be voided twice (its own id at the entry failed over from as well).
      expect(await ledger.get(voidOperationId(op.id))).toBeNull();
      const line = (await new AdjustmentStore(redis, config.redis.keyPrefix).forOperation(op.id)).find((a) => a.source === 'reconciliation');
      expect((await ledger.get(lateSuccessVoidId(op.id, line!.pspReference!)))?.payment.gateway_key).toBe(line!.pspReference);
    } finally {
      http.close();
    }
  });
});

describe("reconciliation: a FAILED authorization with T1's succeeded_after_failure on record meets a success line of ANOTHER PSP transaction T2", () => {
  it('records a second succeeded_after_failure naming T2, one OMS event for it, and voids T2 under its own void id (T1 keeps its void); a re-run records nothing more', async () => {
    const from = Date.now() - 1;
    const op = await declined();
    expect(op.state).toBe('FAILED');
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: op.id })).not.toEqual(expect.any(String));
    const window = { from, to: Date.now() + 1 };
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const events = new EventStore(redis, config.redis.keyPrefix);
    const adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, mode: 'on' });
    // T1: a webhook reported another transaction's success of the operation and its void was asked for (`_<op>.void`).
    const t1 = await adjustments.recordAdjustment(op, {
      kind: 'succeeded_after_failure',
      direction: 'none',
      amount: 2500,
      currency: 'EUR',
      reason: 'authorised',
      pspReference: 'sim_first_transaction',
      gateway: 'simulator',
      pspEventId: 'evt-first-transaction',
      source: 'webhook',
    });
    expect(t1.created).toBe(true);
    expect(await orphans.request(op.id, 'oms_told_failed', { pspReference: 'sim_first_transaction' })).toMatchObject({ outcome: 'voided' });

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
      const t2 = recorded[1];
      expect(t2).toMatchObject({ kind: 'succeeded_after_failure', source: 'reconciliation' });
      expect(t2.pspReference).toEqual(expect.any(String));
      expect(t2.pspReference).not.toBe('sim_first_transaction');
      expect(await events.load(adjustmentEventId(op.id, t2.id))).not.toBeNull();
      // T1's void stands as it was; T2 gets its own, naming T2, under an id of its own.
      expect((await ledger.get(voidOperationId(op.id)))?.payment.gateway_key).toBe('sim_first_transaction');
      const t2Void = await ledger.get(lateSuccessVoidId(op.id, t2.pspReference!));
      expect(t2Void).toMatchObject({ command: 'cancel', channel: 'bridge', payment: { gateway_key: t2.pspReference, orphan_reversal: 'oms_told_failed' } });
      expect(t2Void?.payment.operation_reference).toBe(t2Void?.id);

      // A re-run of the pass (a window of its own over the same line): the line is T2's adjustment's, nothing more.
      const again = await runner().run({ window: { from, to: Date.now() + 1 } });
      expect(again.result).toBe('done');
      expect(again.adjusted).toBe(0);
      expect(await store.forOperation(op.id)).toHaveLength(2);
      expect((await ledger.get(voidOperationId(op.id)))?.payment.gateway_key).toBe('sim_first_transaction');
      expect((await ledger.get(lateSuccessVoidId(op.id, t2.pspReference!)))?.createdAt).toBe(t2Void?.createdAt);
    } finally {
      http.close();
    }
  });
});

describe('reconciliation: a line naming its transaction by two references (Cybersource: the transaction id a webhook names, the reconciliationId the run records)', () => {
  it("is reported already by the webhook's succeeded_after_failure naming its payment reference: no second adjustment or event, and its void (never asked) is asked for", async () => {
    const from = Date.now() - 1;
    const op = await declined();
    expect(op.state).toBe('FAILED');
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, mode: 'on' });
    const transaction = `sim_tx_${op.id}`;
    // The webhook's report of the transaction; its reversal never asked for (the worker stopped in between).
    await adjustments.recordAdjustment(op, {
      kind: 'succeeded_after_failure',
      direction: 'none',
      amount: 2500,
      currency: 'EUR',
      reason: 'authorised',
      pspReference: transaction,
      gateway: 'simulator',
      pspEventId: `evt-${transaction}`,
      source: 'webhook',
    });
    const record: PspRecord = {
      lineId: `${transaction}:ics_auth`,
      kind: 'authorization',
      status: 'succeeded',
      operationId: op.id,
      pspReference: transaction,
      modificationReference: `RCN-${op.id}`,
      amount: 2500,
      currency: 'EUR',
      occurredAt: Date.now(),
      pspType: 'ics_auth',
    };
    const runner = () =>
      new ReconciliationRunner({
        redis,
        prefix: config.redis.keyPrefix,
        gateway: 'simulator',
        transformer: route.transformer,
        reader: {
          read: () =>
            (async function* (): AsyncGenerator<PspRecordPage> {
              yield { records: [record], cursor: 'end' };
            })(),
        },
        source: 'one line (test)',
        adjustments,
        recorder,
        orphans,
        logger,
      });
    const summary = await runner().run({ window: { from, to: Date.now() + 1 } });
    expect(summary.result).toBe('done');
    expect(summary.adjusted).toBe(0);
    // Before: the line was recorded again under its reconciliationId, a second event telling the OMS of one authorization.
    expect(await store.forOperation(op.id)).toMatchObject([{ source: 'webhook', pspReference: transaction }]);
    expect(await ledger.get(voidOperationId(op.id))).toMatchObject({ command: 'cancel', payment: { gateway_key: transaction } });
    expect(await ledger.get(lateSuccessVoidId(op.id, transaction))).toBeNull();
  });
});

/**
 * One PSP transaction's contradiction heard twice: reconciliation records it first from the PSP's report line (its
 * adjustment id from `reconciliation:<line id>`), then the PSP's webhook of the same transaction arrives (its id from
 * the PSP event id). The second reading is a duplicate (`adjustment_duplicate_psp_fact`): no second adjustment, no
 * second OMS event, no second void. Real Redis and the PSP simulator's report; no PSP is called for the void (queued only).
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { AdjustmentStore, adjustmentIdFor } from '../../../src/adjustments/adjustment-store';
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
import { reportContradiction } from '../../../src/webhooks/contradiction';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { declinedAtSimulator, useSimulatorReconciliationStack } from '../../support/simulator-reconciliation-stack';

const API_KEY = 'sim-line-then-webhook-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let route: GatewayRoute;
let recorder: OutcomeRecorder;
let events: EventStore;
let deliveryQueue: Queue<DeliveryJobData>;
const logger = captureLogger('error').logger;
const stack = useSimulatorReconciliationStack(API_KEY, 'whsec-line-then-webhook-0123456789', logger);

beforeAll(() => {
  ({ sim, config, redis, ledger, route, recorder, deliveryQueue, events } = stack);
});

/** An authorization the simulator declined, recorded FAILED as the bridge records it. */
function declined(): Promise<OperationRecord> {
  return declinedAtSimulator(stack, 'authorize');
}

describe('reconciliation then webhook: the succeeded_after_failure of T1 a report line recorded, then the webhook of T1', () => {
  it('records no second adjustment, sends no second OMS event and asks for no second void; the history notes the duplicate', async () => {
    const from = Date.now() - 1;
    const op = await declined();
    expect(op.state).toBe('FAILED');
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: op.id })).not.toEqual(expect.any(String));
    const window = { from, to: Date.now() + 1 };
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
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
    } finally {
      http.close();
    }
    const [line] = await store.forOperation(op.id);
    expect(line).toMatchObject({ kind: 'succeeded_after_failure', source: 'reconciliation' });
    const T1 = line.pspReference!;
    const theVoid = await ledger.get(voidOperationId(op.id));
    expect(theVoid?.payment.gateway_key).toBe(T1);

    // The PSP's webhook of T1, stating the amount it captured in another figure than the line (here: the line's less
    // one minor unit) so the same-fact search by money does not find it: the transaction is what makes it one fact.
    const eventId = `evt-${T1}-authorised`;
    const job = {
      gateway: 'simulator',
      eventId,
      operationId: op.id,
      gatewayReference: T1,
      outcome: { status: 'SUCCESS' as const, gatewayStatus: 'authorised', gatewayReference: T1, amount: (line.amount ?? 2500) - 1, currency: 'EUR' },
    };
    expect(await reportContradiction(op, job, 'signed_webhook', { adjustments, orphans, logger })).toBe(false);

    expect(await store.forOperation(op.id)).toEqual([line]);
    expect(await events.load(adjustmentEventId(op.id, adjustmentIdFor('simulator', eventId)))).toBeNull();
    expect(await events.load(adjustmentEventId(op.id, line.id))).not.toBeNull();
    expect(await ledger.get(lateSuccessVoidId(op.id, T1))).toBeNull();
    expect((await ledger.get(voidOperationId(op.id)))?.createdAt).toBe(theVoid?.createdAt);
    const notes = (await ledger.interactions(op.id)).filter((h) => h.event === 'adjustment_duplicate_psp_fact');
    expect(notes).toEqual([expect.objectContaining({ kind: 'succeeded_after_failure', recorded_as: line.id, recorded_kind: 'succeeded_after_failure' })]);
  });
});

describe('reconciliation then webhook: a line naming its transaction by two references (Cybersource: the reconciliationId the run records, the transaction id the webhook names)', () => {
  it('the webhook of the transaction id after the run recorded the line under its reconciliationId is a duplicate: one adjustment, one event, one void', async () => {
    const op = await declined();
    expect(op.state).toBe('FAILED');
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, mode: 'on' });
    const transaction = `sim_tx_${op.id}`;
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
    const summary = await new ReconciliationRunner({
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
    }).run({ window: { from: Date.now() - 60_000, to: Date.now() + 1 } });
    expect(summary.adjusted).toBe(1);
    const [line] = await store.forOperation(op.id);
    expect(line).toMatchObject({ kind: 'succeeded_after_failure', source: 'reconciliation', pspReference: `RCN-${op.id}` });
    // The run voids the transaction the line names (its transaction id) under a void of its own: the operation's void
    // id is kept for the transaction the first succeeded_after_failure names, here the reconciliationId.
    const theVoid = await ledger.get(lateSuccessVoidId(op.id, transaction));
    expect(theVoid?.payment.gateway_key).toBe(transaction);

    const eventId = `evt-${transaction}`;
    const job = {
      gateway: 'simulator',
      eventId,
      operationId: op.id,
      gatewayReference: transaction,
      outcome: { status: 'SUCCESS' as const, gatewayStatus: 'authorised', gatewayReference: transaction, amount: 2500, currency: 'EUR' },
    };
    // Before: the webhook's reference (the transaction id) was not the line's recorded one (its reconciliationId).
    expect(await reportContradiction(op, job, 'signed_webhook', { adjustments, orphans, logger })).toBe(false);
    expect(await store.forOperation(op.id)).toEqual([line]);
    expect(await events.load(adjustmentEventId(op.id, adjustmentIdFor('simulator', eventId)))).toBeNull();
    expect(await ledger.get(voidOperationId(op.id))).toBeNull();
    expect((await ledger.get(lateSuccessVoidId(op.id, transaction)))?.createdAt).toBe(theVoid?.createdAt);
  });
});

/**
 * The webhook path's report of a success after failure (`reportContradiction`) for an authorization the ledger holds
 * FAILED, when the PSP reports the successes of two of its transactions (a resend that landed twice, a second attempt):
 * each is its own `succeeded_after_failure` (recorded by its event id, no dedup by kind), and each is voided once under
 * a void of its own: T1 under the operation's void (`_<op>.void`), T2 under `lateSuccessVoidId`, never T1's. A repeat
 * of either webhook's job records and voids nothing more. Real Redis; no PSP is called (orphan reversal only queues).
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { OrphanReversal, lateSuccessVoidId, voidCommand, voidOperationId } from '../../../src/poller/orphan-reversal';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { reportContradiction } from '../../../src/webhooks/contradiction';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let recorder: OutcomeRecorder;
let eventsQueue: ReturnType<typeof createOmsEventsQueue>;
let deliveryQueue: Queue<DeliveryJobData>;
let store: AdjustmentStore;
let adjustments: AdjustmentRecorder;
let orphans: OrphanReversal;
const logger = captureLogger('error').logger;

beforeAll(() => {
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-second-transaction-0123456789', timeout_ms: 1000 } },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger });
  store = new AdjustmentStore(redis, config.redis.keyPrefix);
  adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
  orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, mode: 'on' });
});

afterAll(async () => {
  await eventsQueue.close();
  await deliveryQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** An authorization the PSP declined, recorded FAILED. */
async function declined(): Promise<OperationRecord> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator', amount: 2500, currency: 'EUR' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const failed = await recorder.apply((await ledger.get(id))!, { status: 'FAIL', gatewayStatus: 'declined', reason: 'do_not_honor' }, 'response');
  expect(failed.state).toBe('FAILED');
  return failed;
}

/**
 * The PSP ids of two transactions of `op`, its own: a void in flight naming the same PSP id (another test's) would hold
 * this one's back (`dependent_in_flight`).
 */
function references(op: OperationRecord): [string, string] {
  return [`sim_${op.id}_T1`, `sim_${op.id}_T2`];
}

/** The outcome job of a success webhook of PSP transaction `reference` of `op`. */
function success(op: OperationRecord, reference: string): GatewayOutcomeJobData {
  return {
    gateway: 'simulator',
    eventId: `evt-${reference}`,
    operationId: op.id,
    gatewayReference: reference,
    outcome: { status: 'SUCCESS', gatewayStatus: 'authorised', gatewayReference: reference, amount: 2500, currency: 'EUR' },
  };
}

describe('webhooks: the success of a second PSP transaction of a FAILED authorization whose first one is reported already', () => {
  it('is its own succeeded_after_failure, voided under a void id of its own naming it; T1 keeps its void; repeats add nothing', async () => {
    const op = await declined();
    const [T1, T2] = references(op);
    const deps = { adjustments, orphans, logger };
    expect(await reportContradiction(op, success(op, T1), 'signed_webhook', deps)).toBe(true);
    expect((await ledger.get(voidOperationId(op.id)))?.payment.gateway_key).toBe(T1);

    expect(await reportContradiction(op, success(op, T2), 'signed_webhook', deps)).toBe(true);
    expect((await store.forOperation(op.id)).map((a) => `${a.kind}:${a.pspReference ?? ''}`)).toEqual([
      `succeeded_after_failure:${T1}`,
      `succeeded_after_failure:${T2}`,
    ]);
    // Before: T2's reversal found the operation's void (T1's) and asked for nothing: T2's authorization stayed held.
    const t2Void = await ledger.get(lateSuccessVoidId(op.id, T2));
    expect(t2Void).toMatchObject({ command: 'cancel', channel: 'bridge', payment: { gateway_key: T2, orphan_reversal: 'oms_told_failed' } });
    expect(t2Void?.payment.operation_reference).toBe(t2Void?.id);
    expect((await ledger.get(voidOperationId(op.id)))?.payment.gateway_key).toBe(T1);

    // A retried job of either webhook: nothing recorded, no void more, each still for its own transaction.
    expect(await reportContradiction(op, success(op, T2), 'signed_webhook', deps)).toBe(false);
    expect(await reportContradiction(op, success(op, T1), 'signed_webhook', deps)).toBe(false);
    expect(await store.forOperation(op.id)).toHaveLength(2);
    expect(await ledger.get(lateSuccessVoidId(op.id, T1))).toBeNull();
    expect((await ledger.get(lateSuccessVoidId(op.id, T2)))?.createdAt).toBe(t2Void?.createdAt);
  });

  it("T2's success reported before T1's void was asked for (a crash between T1's adjustment and its reversal) still gets its own void, and T1's repeat the operation's", async () => {
    const op = await declined();
    const [T1, T2] = references(op);
    await adjustments.recordAdjustment(op, {
      kind: 'succeeded_after_failure',
      direction: 'none',
      amount: 2500,
      currency: 'EUR',
      reason: 'authorised',
      pspReference: T1,
      gateway: 'simulator',
      pspEventId: `evt-${T1}`,
      source: 'webhook',
    });
    const deps = { adjustments, orphans, logger };
    expect(await reportContradiction(op, success(op, T2), 'signed_webhook', deps)).toBe(true);
    expect(await ledger.get(voidOperationId(op.id))).toBeNull();
    expect((await ledger.get(lateSuccessVoidId(op.id, T2)))?.payment.gateway_key).toBe(T2);
    expect(await reportContradiction(op, success(op, T1), 'signed_webhook', deps)).toBe(false);
    expect((await ledger.get(voidOperationId(op.id)))?.payment.gateway_key).toBe(T1);
  });
});

describe("webhooks: two transactions' successes reported at once, the first reading naming no transaction", () => {
  it("the one whose void the other created first under the operation's void id gets a void of its own, never left unvoided", async () => {
    const op = await declined();
    const [T1, T2] = references(op);
    // The first reading names no transaction (a notification without the PSP's id): the operation's void is whose asks first.
    await adjustments.recordAdjustment(op, {
      kind: 'succeeded_after_failure',
      direction: 'none',
      reason: 'authorised',
      gateway: 'simulator',
      pspEventId: `evt-${op.id}-unnamed`,
      source: 'webhook',
    });
    for (const reference of [T1, T2]) {
      await adjustments.recordAdjustment(op, {
        kind: 'succeeded_after_failure',
        direction: 'none',
        amount: 2500,
        currency: 'EUR',
        reason: 'authorised',
        pspReference: reference,
        gateway: 'simulator',
        pspEventId: `evt-${reference}`,
        source: 'webhook',
      });
    }
    // T1's reversal (another worker) creates the operation's void between T2's look for it and T2's own create.
    const racing = Object.create(ledger) as Ledger;
    let raced = false;
    racing.create = async (...args: Parameters<Ledger['create']>) => {
      if (!raced && args[0] === voidOperationId(op.id)) {
        raced = true;
        const auth = (await ledger.get(op.id))!;
        await ledger.create(voidOperationId(op.id), voidCommand(auth, 'oms_told_failed', T1, Date.now(), 2500));
      }
      return ledger.create(...args);
    };
    const racer = new OrphanReversal({ config, redis, ledger: racing, deliveryQueue, logger, mode: 'on' });
    const decision = await racer.request(op.id, 'oms_told_failed', { pspReference: T2, confirmed: { amount: 2500, currency: 'EUR' } });
    expect(raced).toBe(true);
    expect((await ledger.get(voidOperationId(op.id)))?.payment.gateway_key).toBe(T1);
    // Before: `already_requested` under the operation's void, which is T1's: T2 was never voided.
    expect(decision).toMatchObject({ outcome: 'voided', voidId: lateSuccessVoidId(op.id, T2) });
    expect((await ledger.get(lateSuccessVoidId(op.id, T2)))?.payment.gateway_key).toBe(T2);
  });
});

describe('webhooks: the second transaction of an authorization declined under the first one (its PSP id recorded with the decline)', () => {
  it("is voided while the first one's void is still in flight: that void is no dependent of the second transaction", async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', amount: 2500, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    const [T1, T2] = [`sim_${id}_T1`, `sim_${id}_T2`];
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    // The decline named T1 (a PaymentIntent that failed, then succeeded when the shopper tried again).
    const op = await recorder.apply(
      (await ledger.get(id))!,
      { status: 'FAIL', gatewayStatus: 'declined', reason: 'do_not_honor', gatewayReference: T1 },
      'response',
    );
    expect(op.state).toBe('FAILED');
    expect(op.gatewayReference).toBe(T1);
    const deps = { adjustments, orphans, logger };
    expect(await reportContradiction(op, success(op, T1), 'signed_webhook', deps)).toBe(true);
    // T1's void is in flight (queued, not delivered): a cancel naming T1, the operation's recorded PSP id.
    expect(await ledger.get(voidOperationId(op.id))).toMatchObject({ state: 'RECEIVED', payment: { gateway_key: T1 } });

    expect(await reportContradiction(op, success(op, T2), 'signed_webhook', deps)).toBe(true);
    // Before: skipped as dependent_in_flight (T1's void named the operation's PSP id): T2 stayed held, nothing asked again.
    expect((await ledger.get(lateSuccessVoidId(op.id, T2)))?.payment.gateway_key).toBe(T2);
  });
});

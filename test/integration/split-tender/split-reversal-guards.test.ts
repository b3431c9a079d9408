import { randomBytes } from 'node:crypto';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { SplitStepLookup } from '../../../src/split-tender/split-step-lookup';
import { SplitTenderPlan, stepCommand, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { SplitTenderStore } from '../../../src/split-tender/split-tender-store';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { Queue } from 'bullmq';
import { testConfig } from '../../support/test-config';

/**
 * The OMS's captures, cancels and refunds of a split's step wait for the split (`awaiting: split_tender`), registered
 * among the step's dependents, unsent. The split's own reversal of that step (`_<id>.card-void`, `_<id>.gc-refund`…)
 * is what the split waits for: it must not wait for them in turn (captures in flight before a void at a PSP that
 * builds its cancel from the captures standing, refunds ahead of a refund), or neither goes until the bound runs out
 * (`delivery.void_wait_max_ms`, 24 h) and the split's rollback with it. A command of the OMS already sent is waited for
 * as before. Delivery's own checks (`resolveOperationContext`) on the real Redis, the simulator as the PSP.
 */

const API_KEY = `sim-split-guards-${randomBytes(4).toString('hex')}`;
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let store: SplitTenderStore;
let lookup: SplitStepLookup;
let service: DeliveryService;
let plain: DeliveryService;
let eventsQueue: Queue<OmsEventJobData>;
let recorder: OutcomeRecorder;
let events: EventStore;

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfigFor(sim.url);
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: silentLogger() });
  const router = new ConfiguredGatewayRouter(createGatewayClients(config));
  store = new SplitTenderStore(redis, config.redis.keyPrefix);
  lookup = new SplitStepLookup(store);
  service = new DeliveryService({ config, ledger, router, recorder, logger: silentLogger(), splitTenders: lookup });
  // Without the split lookup: a capture sent before captures waited for their split.
  plain = new DeliveryService({ config, ledger, router, recorder, logger: silentLogger() });
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

function testConfigFor(url: string): Config {
  return testConfig({
    gateways: { simulator: { type: 'simulator', base_url: url, api_key: API_KEY, webhook_secret: 'whsec-split-guards-0123456789', timeout_ms: 2000 } },
  });
}

/** A split whose steps are on the simulator, open (REDEEMING) in its store, its card part authorized (SUCCEEDED). */
async function openSplit(tag: string): Promise<{ plan: SplitTenderPlan; refs: ReturnType<typeof stepReferences> }> {
  const id = `sg-${tag}-${randomBytes(3).toString('hex')}`;
  const plan: SplitTenderPlan = {
    id,
    step_ids: 'namespaced',
    channel: 'web',
    order_id: `ORD-${id}`,
    currency: 'EUR',
    total: 10000,
    gift_card: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: `gc_${tag}_9000`, amount: 3000 },
    card: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa' },
  };
  const refs = stepReferences(plan);
  expect((await store.begin(plan, 'digest')).created).toBe(true);
  await ledger.create(refs.card, stepCommand(plan, 'authorize', refs.card, 'card', 7000));
  expect(await service.deliver(refs.card)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  return { plan, refs };
}

/** A command of the OMS naming the split's step `key`. */
function oms(plan: SplitTenderPlan, command: PaymentCommand['command'], key: string, amount: number): PaymentCommand {
  const c = stepCommand(plan, command, `${command}-${randomBytes(4).toString('hex')}`, 'card', amount, { key });
  return { ...c, payment: { ...c.payment, custom_attributes: undefined } };
}

async function recorded(command: PaymentCommand): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return (await ledger.get(id))!;
}

/** Delivery's checks of `op` before its first attempt, at a PSP that builds its cancel from the captures standing (Cybersource). */
function resolve(op: OperationRecord) {
  return resolveOperationContext(op, ledger, { checkAmounts: true, cancelFollowsCaptures: () => true, splitTenders: lookup });
}

describe("a split's own reversal of a step does not wait for the OMS's commands waiting for the split", () => {
  it("the card part's void goes past captures of the OMS registered and waiting for the split, or accepted and not yet delivered", async () => {
    const { plan, refs } = await openSplit('void');
    const waiting = await recorded(oms(plan, 'capture', refs.card, 7000));
    expect(await resolve(waiting)).toMatchObject({ awaiting: 'split_tender' });
    // One more accepted, its delivery not yet run (not registered among the step's dependents).
    await recorded(oms(plan, 'capture', refs.card, 1000));
    const release = await recorded(stepCommand(plan, 'cancel', refs.cardVoid, 'card', 7000, { key: refs.card }));
    const resolved = await resolve(release);
    expect(resolved).not.toHaveProperty('wait');
    expect(resolved).toHaveProperty('context');
  });

  it("the split's refund of a step goes past a refund of the OMS ahead of it waiting for the split", async () => {
    const { plan, refs } = await openSplit('refund');
    // The card part captured (sent before captures waited for their split).
    const capture = await recorded(oms(plan, 'capture', refs.card, 7000));
    expect(await plain.deliver(capture.id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refund = await recorded(oms(plan, 'refund', refs.card, 7000));
    expect(await resolve(refund)).toMatchObject({ awaiting: 'split_tender' });
    const back = await recorded(stepCommand(plan, 'refund', refs.cardRefund, 'card', 7000, { key: refs.card }));
    const resolved = await resolve(back);
    expect(resolved).not.toHaveProperty('wait');
    expect(resolved).toHaveProperty('context');
  });
});

describe("a capture of the OMS naming a split's step by the step's PSP reference", () => {
  it('waits for the split while it is open, and is refused SPLIT_TENDER_ROLLED_BACK, naming the reference, once the split voided that step', async () => {
    const { plan, refs } = await openSplit('psp');
    const reference = (await ledger.get(refs.card))!.gatewayReference!;
    expect(reference).toBeTruthy();
    const early = await recorded(oms(plan, 'capture', reference, 7000));
    expect(await resolve(early)).toMatchObject({ awaiting: 'split_tender' });
    // The split rolls back and voids its card part.
    await ledger.create(refs.cardVoid, stepCommand(plan, 'cancel', refs.cardVoid, 'card', 7000, { key: refs.card }));
    expect(await service.deliver(refs.cardVoid)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await store.move(plan.id, 'REDEEMING', 'ROLLED_BACK')).toBe(true);
    const late = await recorded(oms(plan, 'capture', reference, 7000));
    expect(await resolve(late)).toMatchObject({
      fail: 'SPLIT_TENDER_ROLLED_BACK',
      field: 'payment.gateway_key',
      detail: { split_tender_id: plan.id, step: refs.card, reversed_by: refs.cardVoid, psp_reference: reference },
    });
  });
});

describe("the OMS's capture of a split's step and where its split ends", () => {
  /** Delivery, with the split lookup, as at `offset` ms from now. */
  const at = (offset: number) =>
    new DeliveryService({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: silentLogger(),
      splitTenders: lookup,
      now: () => Date.now() + offset,
    });

  it('waits no longer than delivery.void_wait_max_ms from its first wait: refused unsent, WAIT_FOR_SPLIT_TENDER_EXPIRED, counted', async () => {
    const { plan, refs } = await openSplit('expire');
    const capture = await recorded(oms(plan, 'capture', refs.card, 7000));
    const expired = (await metricValue('pb_void_waits_expired_total', { gateway: 'simulator', awaiting: 'split_tender' })) ?? 0;
    expect(await at(0).deliver(capture.id)).toMatchObject({ kind: 'wait' });
    expect(await at(config.delivery.voidWaitMaxMs - 60_000).deliver(capture.id)).toMatchObject({ kind: 'wait' });
    expect(await at(config.delivery.voidWaitMaxMs + 60_000).deliver(capture.id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(capture.id)).toMatchObject({ attempts: 0, reason: 'WAIT_FOR_SPLIT_TENDER_EXPIRED', reasonField: 'payment.gateway_key' });
    expect((await events.load(`${capture.id}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'WAIT_FOR_SPLIT_TENDER_EXPIRED',
      decline: { category: 'bridge_refused', suggested_action: 'contact_support' },
    });
    expect(await metricValue('pb_void_waits_expired_total', { gateway: 'simulator', awaiting: 'split_tender' })).toBe(expired + 1);
  });

  it('goes on once the split is DONE, and once it ended without reversing that step (REVERSAL_FAILED: left to a person)', async () => {
    const done = await openSplit('done');
    const first = await recorded(oms(done.plan, 'capture', done.refs.card, 7000));
    expect(await service.deliver(first.id)).toMatchObject({ kind: 'wait' });
    expect(await store.move(done.plan.id, 'REDEEMING', 'DONE')).toBe(true);
    expect(await service.deliver(first.id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const failed = await openSplit('revfail');
    expect(await store.move(failed.plan.id, 'REDEEMING', 'REVERSAL_FAILED')).toBe(true);
    const second = await recorded(oms(failed.plan, 'capture', failed.refs.card, 7000));
    expect(await service.deliver(second.id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });
});

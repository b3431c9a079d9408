import { PassThrough } from 'node:stream';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RecurringRunner } from '../../../src/recurring/recurring-runner';
import { ScheduleDefinition } from '../../../src/recurring/recurring-schedule';
import { RecurringStore } from '../../../src/recurring/recurring-store';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { eraseOrder } from '../../../src/data-lifecycle/erasure';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { dataErase } from '../../../src/cli/data-commands';
import { openOps } from '../../../src/ops/ops-context';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { useSimulatorNamespaces } from '../../support/simulator-namespaces';
import { testConfig } from '../../support/test-config';
import { captureLogger } from '../../support/capture-logger';
import { afterFirstPipeline } from '../../support/first-pipeline';

/**
 * Erasure of an order and its recurring schedules (docs/DATA.md, "Erasure"), on the real Redis and the simulator: the
 * order's schedule is cancelled through the recurring cancel and loses its custom attributes, the runner charges it no
 * more, another order's schedule is untouched, a schedule created before the order index is found, a cycle already
 * claimed settles without a later one, and a repeat changes nothing.
 */
const API_KEY = 'sim-erase-schedule-key-0123456789';
const DAY = 86_400_000;
// What the schedule holds of the customer: a Stripe-like Customer, an Adyen-like shopper reference, an e-mail address.
const PERSONAL = /cus_AdaLovelace|shopper-ada|ada@example\.com|custom_attributes/;
let redis: RedisClient;
const files = useSimulatorNamespaces(API_KEY, () => redis);
const { configs, closers } = files;
let sim: PspSimulator;
beforeAll(() => ({ sim } = files));
let n = 0;

function setup() {
  const config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-erase-schedule-0123456789', timeout_ms: 2000 } },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const prefix = config.redis.keyPrefix;
  const eventsQueue = createOmsEventsQueue(redis, prefix);
  const deliveryQueue = createDeliveryQueue(redis, prefix);
  closers.push(
    () => eventsQueue.close(),
    () => deliveryQueue.close(),
  );
  const ledger = new Ledger(redis, prefix);
  const events = new EventStore(redis, prefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  const store = new RecurringStore(redis, prefix);
  let offset = 0;
  const runner = new RecurringRunner({ config, store, ledger, recorder, deliveryQueue, logger, now: () => Date.now() + offset });
  /** One runner pass at `at` ms from now (runs the runner only). */
  const run = async (at: number) => {
    offset = at;
    return runner.runOnce();
  };
  /** Delivers every charge queued (as the worker would). */
  const deliver = async () => {
    for (const job of await deliveryQueue.getJobs(['waiting', 'delayed', 'prioritized'])) {
      await service.deliver(job.data.operationId);
      await job.remove().catch(() => undefined);
    }
  };
  const pass = async (at: number) => {
    const report = await run(at);
    await deliver();
    return report;
  };
  return { config, prefix, ledger, store, run, deliver, pass };
}

function definition(order: string, extra: Partial<ScheduleDefinition> = {}): ScheduleDefinition {
  n += 1;
  return {
    id: `sub-erase-${Date.now().toString(36)}-${n}`,
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'pm_card_visa',
    amount: 1500,
    currency: 'EUR',
    order_id: order,
    start_at: new Date(Date.now() - 1000).toISOString(),
    interval: { unit: 'month', count: 1 },
    custom_attributes: { stripe_customer: 'cus_AdaLovelace', shopper_reference: 'shopper-ada', contact: 'ada@example.com' },
    ...extra,
  };
}

function scheduleKey(prefix: string, id: string): string {
  return `${prefix}{recurring}:schedule:${id}`;
}

/** The erasure's summary as a plain record (fields read by name). */
async function erase(s: { prefix: string }, order: string): Promise<Record<string, unknown>> {
  return (await eraseOrder(redis, s.prefix, order)) as unknown as Record<string, unknown>;
}

/** `redis`, with the first pipeline's first reply an error (a read that failed: a failover, a node loading). */
function firstPipelineReplyFailing(client: RedisClient): RedisClient {
  return afterFirstPipeline(
    client,
    async (replies) => {
      if (replies) replies[0] = [new Error('LOADING Redis is loading the dataset in memory'), null];
    },
    (replies) => replies !== null && replies.length > 0,
  );
}

describe('erase --order: the order recurring schedules', () => {
  it("cancels the order's active schedule and scrubs its personal fields; the runner charges nothing more; another order's schedule is untouched", async () => {
    const s = setup();
    const order = `ORD-ERASE-A${n}`;
    const mine = definition(order, { max_cycles: 3 });
    const other = definition(`ORD-ERASE-B${n}`);
    await s.store.add(mine);
    await s.store.add(other);
    // Cycle 1 of both is charged and paid; cycle 2 is due a month on.
    expect(await s.pass(0)).toMatchObject({ started: 2 });
    expect(await s.pass(60_000)).toMatchObject({ succeeded: 2 });
    const otherBefore = await redis.hgetall(scheduleKey(s.prefix, other.id));
    const cancelledBefore = await metricValue('pb_erasure_items_total', { kind: 'schedule_cancelled' });

    const summary = await erase(s, order);
    expect(summary).toMatchObject({ schedulesFound: 1, schedulesCancelled: 1, schedules: 1 });
    expect(await metricValue('pb_erasure_items_total', { kind: 'schedule_cancelled' })).toBe(cancelledBefore + 1);

    const erased = await s.store.get(mine.id);
    expect(erased).toMatchObject({ state: 'cancelled', cycle: 2 });
    // What accounting needs stays: ids, gateway, account, stored token (as the ledger keeps it), amount, currency, order, timing.
    const { custom_attributes: _gone, ...kept } = mine;
    expect(erased!.definition).toEqual(kept);
    const hash = await redis.hgetall(scheduleKey(s.prefix, mine.id));
    expect(JSON.stringify(hash)).not.toMatch(PERSONAL);
    expect(hash.erased_at).toBeDefined();

    // The runner charges nothing more for it; the other order's schedule is charged its next cycle.
    await s.pass(40 * DAY);
    await s.pass(40 * DAY + 60_000);
    expect(await s.ledger.get(`_${mine.id}.c2`)).toBeNull();
    expect(sim.counters().effects[`_${mine.id}.c2`]).toBeUndefined();
    expect((await s.ledger.get(`_${other.id}.c2`))?.state).toBe('SUCCEEDED');
    const otherAfter = await s.store.get(other.id);
    expect(otherAfter).toMatchObject({ state: 'active', cycle: 3 });
    expect(otherAfter!.definition).toEqual(other);
    expect((await redis.hgetall(scheduleKey(s.prefix, other.id))).definition).toBe(otherBefore.definition);
  });

  it('erasing twice is harmless: the repeat changes nothing and keeps the first erasure time', async () => {
    const s = setup();
    const order = `ORD-ERASE-C${n}`;
    const d = definition(order);
    await s.store.add(d);
    expect(await erase(s, order)).toMatchObject({ schedulesFound: 1, schedulesCancelled: 1, schedules: 1 });
    const first = await redis.hgetall(scheduleKey(s.prefix, d.id));
    expect(await erase(s, order)).toMatchObject({ schedulesFound: 1, schedulesCancelled: 0, schedules: 0 });
    expect(await redis.hgetall(scheduleKey(s.prefix, d.id))).toEqual(first);
    expect(await s.pass(0)).toMatchObject({ started: 0 });
    expect(await s.ledger.get(`_${d.id}.c1`)).toBeNull();
    // The OMS's create again: the original definition is another one now; one without custom attributes answers the cancelled schedule.
    await expect(s.store.add(d)).rejects.toThrow('names another schedule');
    const plain = definition(order, { custom_attributes: undefined });
    await s.store.add(plain);
    expect(await erase(s, order)).toMatchObject({ schedulesFound: 2, schedulesCancelled: 1, schedules: 0 });
    expect(await s.store.add(plain)).toMatchObject({ created: false, schedule: { state: 'cancelled' } });
  });

  it('finds a schedule created before the order index (no entry in it) and a completed one: both scrubbed, only the active one cancelled', async () => {
    const s = setup();
    const order = `ORD-ERASE-D${n}`;
    const old = definition(order);
    const done = definition(order, { max_cycles: 1 });
    await s.store.add(old);
    await s.store.add(done);
    // As a release before the index left it: no order index entry, no catch-up mark.
    await redis.del(`${s.prefix}{recurring}:order:${order}`, `${s.prefix}{recurring}:order_index:through`);
    // `done` pays its only cycle and completes.
    await s.pass(0);
    await s.pass(60_000);
    expect(await s.store.get(done.id)).toMatchObject({ state: 'completed' });

    const captured = captureLogger('info');
    expect(await eraseOrder(redis, s.prefix, order, Date.now(), undefined, captured.logger)).toMatchObject({
      schedulesFound: 2,
      schedulesCancelled: 1,
      schedules: 2,
    });
    // The catch-up's work is logged when it put schedules in the index (the first erasure after the upgrade).
    const line = captured.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => String(l.message).startsWith('erasure: recurring order index'));
    expect(line).toMatchObject({ level: 'info', walked: 2, added: 2 });
    expect(await s.store.get(old.id)).toMatchObject({ state: 'cancelled' });
    expect(await s.store.get(done.id)).toMatchObject({ state: 'completed' });
    for (const id of [old.id, done.id]) expect(JSON.stringify(await redis.hgetall(scheduleKey(s.prefix, id)))).not.toMatch(PERSONAL);
  });

  it('a cycle already claimed settles; no new cycle starts after the erasure', async () => {
    const s = setup();
    const order = `ORD-ERASE-E${n}`;
    const d = definition(order);
    await s.store.add(d);
    // The runner claims cycle 1 and writes its operation; delivery has not run yet.
    expect(await s.run(0)).toMatchObject({ started: 1 });
    expect(await s.store.get(d.id)).toMatchObject({ phase: 'charging', operation: `_${d.id}.c1` });
    const captured = captureLogger('info');
    expect(await eraseOrder(redis, s.prefix, order, Date.now(), undefined, captured.logger)).toMatchObject({ schedulesCancelled: 1, schedules: 1 });
    // The claimed cycle is named in the info line (one written after the erasure read the operations needs a repeat).
    const line = captured.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('erasure: recurring schedules'));
    expect(line).toMatchObject({ cycles_in_flight: [`_${d.id}.c1`] });
    // The charge out settles (its record scrubbed like the order's other operations).
    await s.deliver();
    const cycle = await s.ledger.get(`_${d.id}.c1`);
    expect(cycle?.state).toBeDefined();
    expect(['SUCCEEDED', 'FAILED']).toContain(cycle?.state);
    expect(cycle?.payment.order_id).toBe(order);
    expect(JSON.stringify(cycle?.payment)).not.toMatch(PERSONAL);
    expect(await s.pass(60_000)).toMatchObject({ started: 0, succeeded: 0 });
    expect(await s.pass(40 * DAY)).toMatchObject({ started: 0 });
    expect(await s.ledger.get(`_${d.id}.c2`)).toBeNull();
    expect(await s.store.get(d.id)).toMatchObject({ state: 'cancelled', cycle: 1 });
  });

  it('payment-bridge erase --order reports the schedules, audits them and logs them at info', async () => {
    const s = setup();
    const order = `ORD-ERASE-F${n}`;
    const d = definition(order);
    await s.store.add(d);
    const captured = captureLogger('info');
    const ctx = openOps(s.config, captured.logger, { service: 'ops', auditStream: new PassThrough(), redis });
    closers.push(() => ctx.close());
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    // An order with a schedule and no operation is found (exit 0), and its schedule counted.
    expect(await dataErase(ctx, { out, err: new PassThrough(), actor: 'dpo@ci' }, { order })).toBe(0);
    expect(Buffer.concat(chunks).toString('utf8')).toMatch(/1 recurring schedule\(s\): 1 cancelled, 1 scrubbed/);
    const [audit] = await ctx.audit.recent(1);
    expect(audit).toMatchObject({ action: 'data.erase', outcome: 'ok', target: order, detail: { schedulesCancelled: 1, schedules: 1 } });
    const line = captured.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('erasure: recurring schedules'));
    expect(line).toMatchObject({ level: 'info', order_id: order, schedules_cancelled: 1, schedules_erased: 1, cancelled_ids: [d.id] });
  });

  it("a catch-up whose read of a schedule failed does not move its mark past it: the order's erasure still finds it", async () => {
    const s = setup();
    const order = `ORD-ERASE-G${n}`;
    const old = definition(order);
    // Created a day ago by a release before the order index (no entry, no mark); another schedule created since.
    await s.store.add(old, Date.now() - DAY);
    await s.store.add(definition(`ORD-ERASE-H${n}`));
    await redis.del(`${s.prefix}{recurring}:order:${order}`, `${s.prefix}{recurring}:order_index:through`);
    // The first catch-up's read of the old schedule fails (the first reply of its first page).
    await new RecurringStore(firstPipelineReplyFailing(redis), s.prefix).catchUpOrderIndex().catch(() => undefined);
    expect(await erase(s, order)).toMatchObject({ schedulesFound: 1, schedulesCancelled: 1, schedules: 1 });
    expect(await s.store.get(old.id)).toMatchObject({ state: 'cancelled' });
  });

  it("with the bus secrets, the schedule's card-like stored token leaves the issued-token index (counted once)", async () => {
    const s = setup();
    const order = `ORD-ERASE-T${n}`;
    const token = 'shopper-ada-0042:5300912374650184';
    const index = new IssuedTokens(s.ledger, s.config.serviceBus);
    expect(await index.record(token, 'simulator')).toBe(true);
    await s.store.add(definition(order, { gateway_key: token }), Date.now(), new Set([token]));
    expect(await eraseOrder(redis, s.prefix, order, Date.now(), s.config.serviceBus)).toMatchObject({ schedulesFound: 1, issuedTokens: 1 });
    expect(await index.gatewayOf(token)).toBeNull();
    expect(await eraseOrder(redis, s.prefix, order, Date.now(), s.config.serviceBus)).toMatchObject({ schedulesFound: 1, issuedTokens: 0 });
  });

  it('the catch-up walks every schedule a page at a time, then only those created since its mark less 10 minutes', async () => {
    const s = setup();
    const orderKey = (order: string) => `${s.prefix}{recurring}:order:${order}`;
    // Five schedules of a release before the index (no entries), a day old.
    const old = Array.from({ length: 5 }, () => definition(`ORD-ERASE-P${n}`));
    for (const d of old) {
      await s.store.add(d, Date.now() - DAY);
      await redis.del(orderKey(d.order_id!));
    }
    const fresh = definition(`ORD-ERASE-Q${n}`);
    await s.store.add(fresh);
    // Pages of two: all six walked, each in its order's index.
    expect(await s.store.catchUpOrderIndex(2)).toEqual({ walked: 6, indexed: 6, added: 5 });
    for (const d of old) expect(await s.store.idsOfOrder(d.order_id!)).toEqual([d.id]);
    // An older process, its clock 5 minutes behind, creates one after that catch-up (no entry): the next one finds it,
    // and walks none of the day-old ones again.
    const late = definition(`ORD-ERASE-R${n}`);
    await s.store.add(late, Date.now() - 5 * 60_000);
    await redis.del(orderKey(late.order_id!));
    expect(await s.store.catchUpOrderIndex(2)).toEqual({ walked: 2, indexed: 2, added: 1 });
    expect(await erase(s, late.order_id!)).toMatchObject({ schedulesFound: 1, schedulesCancelled: 1 });
  });
});

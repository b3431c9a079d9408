import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config, GatewayConfig } from '../../../src/config/config';
import { GatewayRouter } from '../../../src/routing/gateway-router';
import { GatewayTransformer, OperationContext } from '../../../src/gateways/gateway-adapter';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { Poller } from '../../../src/poller/poller';
import { ActionExpiry } from '../../../src/poller/action-expiry';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { bullJobId } from '../../../src/queueing/job-id';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { usePollerStack } from '../../support/poller-stack';
import { IDEMPOTENT_RESEND_WINDOW_MS } from '../../../src/delivery/resend-window';

const API_KEY = 'sim-poller-test-key-0123456789';

// Async authorizations stay pending for a minute: long enough for the poller to give up on them.
const stack = usePollerStack({ apiKey: API_KEY, asyncDelayMs: 60_000 }, (url) => ({
  'poller.schedule_ms': [1, 1],
  gateways: {
    simulator: { type: 'simulator', base_url: url, api_key: API_KEY, webhook_secret: 'whsec-poller-test-0123456789', timeout_ms: 2000 },
    // Nothing listens there: the poller must not even try.
    adyen: { type: 'adyen', base_url: 'http://127.0.0.1:1/v71', api_key: 'adyen-poller-test-key-0123456789', merchant_account: 'AcmeEU', timeout_ms: 2000 },
  },
}));
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let events: EventStore;
let eventsQueue: Queue<OmsEventJobData>;

beforeAll(() => {
  ({ sim, config, redis, eventsQueue } = stack);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
});

function poller(logger = captureLogger('info').logger): Poller {
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  return new Poller({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
}

/** An authorization the PSP received (with our operation id as idempotency key), recorded in `state`. */
async function landedAuthorization(paymentMethod: string, state: 'UNKNOWN' | 'PENDING', nextCheckAt = Date.now() - 1): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway_key: paymentMethod });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  const route = createGatewayClients(config).get('simulator')!;
  const answer = await route.client.send(route.transformer.buildRequest({ operationId: id, command: 'authorize', payment: command.payment }, route.gateway));
  expect(answer.status).toBe(201);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  // As if the answer was lost (UNKNOWN) or said "pending" (PENDING): the poller must find out.
  await ledger.transition(id, state, { event: 'test' }, { nextCheckAt, pollStep: 0 });
  return id;
}

describe('the poller', () => {
  it('resolves a due UNKNOWN operation by a status inquiry and records its event', async () => {
    const id = await landedAuthorization('pm_card_visa', 'UNKNOWN');
    const report = await poller().runOnce();
    expect(report.resolved).toBeGreaterThanOrEqual(1);
    const op = await ledger.get(id);
    expect(op?.state).toBe('SUCCEEDED');
    expect(op?.gatewayReference).toMatch(/^auth_/);
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(sim.counters().effects[id]).toBe(1);
  });

  it('leaves an operation alone until its next check is due', async () => {
    const id = await landedAuthorization('pm_card_visa', 'UNKNOWN', Date.now() + 60_000);
    await poller().runOnce();
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
  });

  it('keeps asking about a PENDING operation along the schedule, then gives up UNRESOLVED (not FAILED): OMS event, alert line, metric', async () => {
    const id = await landedAuthorization('pm_async', 'PENDING');
    const { logger, lines } = captureLogger('info');
    const unresolvedBefore = await metricValue('pb_operations_unresolved_total', { gateway: 'simulator', command: 'authorize' });
    const first = await poller(logger).runOnce();
    expect(first.stillOpen).toBeGreaterThanOrEqual(1);
    expect((await ledger.get(id))?.pollStep).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    const second = await poller(logger).runOnce();
    expect(second.unresolved).toBeGreaterThanOrEqual(1);
    const op = await ledger.get(id);
    expect(op?.state).toBe('UNRESOLVED');
    // Asked again at the slow cadence, not at once.
    expect(op?.nextCheckAt).toBeGreaterThan(Date.now() + config.poller.unresolvedIntervalMs - 60_000);
    const alert = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.alert === 'payment_unresolved' && l.operation_id === id);
    expect(alert).toMatchObject({ level: 'error', gateway: 'simulator', command: 'authorize' });
    expect(await metricValue('pb_operations_unresolved_total', { gateway: 'simulator', command: 'authorize' })).toBe(unresolvedBefore + 1);
    expect(await metricValue('pb_operations_unresolved')).toBeGreaterThanOrEqual(1);
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const event = await events.load(`${id}.UNRESOLVED`);
    expect((event?.params.payment as Record<string, unknown>).status).toBe('UNRESOLVED');
  });

  it('asks about an UNRESOLVED operation again at poller.unresolved_interval_ms, and a later SUCCESS settles it with its own event', async () => {
    const id = await landedAuthorization('pm_card_visa', 'UNKNOWN');
    const op = (await ledger.get(id))!;
    await new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: captureLogger('info').logger }).unresolve(
      op,
      'test',
      'poller',
      {},
      Date.now() + 60_000,
    );
    await poller().runOnce();
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED'); // not due yet
    await ledger.transition(id, 'UNRESOLVED', { event: 'test' }, { nextCheckAt: Date.now() - 1 });
    const { logger, lines } = captureLogger('info');
    const report = await poller(logger).runOnce();
    expect(report.resolved).toBeGreaterThanOrEqual(1);
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
    const unresolved = await events.load(`${id}.UNRESOLVED`);
    const succeeded = await events.load(`${id}.SUCCEEDED`);
    expect((succeeded?.params.payment as Record<string, unknown>).status).toBe('SUCCESS');
    expect(Number(succeeded?.sequence)).toBeGreaterThan(Number(unresolved?.sequence));
    expect(lines.some((l) => l.includes('UNRESOLVED operation settled by a later PSP fact') && l.includes(id))).toBe(true);
    expect(sim.counters().effects[id]).toBe(1);
  });

  it('keeps an UNRESOLVED operation the PSP has no trace of UNRESOLVED (never resent), and asks again later', async () => {
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(id, 'UNRESOLVED', { event: 'test' }, { nextCheckAt: Date.now() - 1 });
    await poller().runOnce();
    const op = await ledger.get(id);
    expect(op?.state).toBe('UNRESOLVED');
    expect(op?.nextCheckAt).toBeGreaterThan(Date.now() + 60_000);
    expect(sim.counters().effects[id]).toBeUndefined();
  });

  it('never reverses a decided operation, whatever a late inquiry would say', async () => {
    const id = await landedAuthorization('pm_card_visa', 'UNKNOWN');
    await ledger.transition(id, 'FAILED', { event: 'test' }, { reason: 'DECIDED_ELSEWHERE' });
    await poller().runOnce();
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'DECIDED_ELSEWHERE' });
  });

  it('never fails an Adyen capture waiting for its CAPTURE webhook, past the whole schedule', async () => {
    const command = channelCommand('capture', {}, { gateway: 'adyen', gateway_key: 'PSP0000000000001' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(
      id,
      'PENDING',
      { event: 'outcome', gateway_status: 'received' },
      { nextCheckAt: Date.now() - 1, pollStep: config.poller.scheduleMs.length - 1 },
    );
    const report = await poller().runOnce();
    expect(report.errors).toBe(0);
    expect((await ledger.get(id))?.state).toBe('PENDING');
    expect((await ledger.interactions(id)).some((h) => h.event === 'poll_error')).toBe(false);
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
  });

  describe('a command the gateway cannot be asked about (webhook-only)', () => {
    /** A poller whose simulator transformer declares every command webhook-only and counts inquiries. */
    function webhookOnlyPoller(counter: { inquiries: number }, logger = captureLogger('info').logger, now?: () => number): Poller {
      const routes = createGatewayClients(config);
      const router: GatewayRouter = {
        route: (op) => {
          const route = routes.get(op.payment.gateway)!;
          const transformer: GatewayTransformer = Object.assign(Object.create(route.transformer) as GatewayTransformer, {
            inquiry: () => 'webhook-only' as const,
            buildStatusRequest: (ctx: OperationContext, gateway: GatewayConfig) => {
              counter.inquiries += 1;
              return route.transformer.buildStatusRequest(ctx, gateway);
            },
          });
          return { ...route, transformer };
        },
      };
      const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
      return new Poller({ config, ledger, router, recorder, logger, now });
    }

    it('never asks about nor gives up on a PENDING one: it waits for the webhook, with one alert past poller.webhook_wait_alert_ms', async () => {
      const id = await landedAuthorization('pm_async', 'PENDING');
      // The last step of the schedule: a polled operation would be given up on now.
      await ledger.transition(id, 'PENDING', { event: 'test' }, { nextCheckAt: Date.now() - 1, pollStep: config.poller.scheduleMs.length - 1 });
      const counter = { inquiries: 0 };
      const { logger, lines } = captureLogger('info');
      await webhookOnlyPoller(counter, logger).runOnce();
      let op = await ledger.get(id);
      expect(op?.state).toBe('PENDING');
      expect(op?.nextCheckAt).toBe(op!.createdAt + config.poller.webhookWaitAlertMs);
      const alertsBefore = await metricValue('pb_operations_awaiting_webhook_alerts_total', { gateway: 'simulator', command: 'authorize' });
      // A day and more later, still no webhook: one alert, however often the poller looks.
      const later = Date.now() + config.poller.webhookWaitAlertMs + 60_000;
      await webhookOnlyPoller(counter, logger, () => later).runOnce();
      await ledger.transition(id, 'PENDING', { event: 'test' }, { nextCheckAt: Date.now() - 1 });
      await webhookOnlyPoller(counter, logger, () => later + 1000).runOnce();
      op = await ledger.get(id);
      expect(op?.state).toBe('PENDING');
      expect(counter.inquiries).toBe(0);
      const alerts = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.alert === 'payment_awaiting_webhook' && l.operation_id === id);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ level: 'error', gateway: 'simulator', command: 'authorize' });
      expect(await metricValue('pb_operations_awaiting_webhook_alerts_total', { gateway: 'simulator', command: 'authorize' })).toBe(alertsBefore + 1);
      expect(await events.load(`${id}.FAILED`)).toBeNull();
      expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    });
  });

  describe('a command naming one of our own authorizations', () => {
    /** A router whose transformer records the context of every status inquiry it builds. */
    function spyingPoller(seen: OperationContext[], logger = captureLogger('info').logger): Poller {
      const routes = createGatewayClients(config);
      const router: GatewayRouter = {
        route: (op) => {
          const route = routes.get(op.payment.gateway)!;
          const transformer: GatewayTransformer = Object.assign(Object.create(route.transformer) as GatewayTransformer, {
            buildStatusRequest: (ctx: OperationContext, gateway: GatewayConfig) => {
              seen.push(ctx);
              return route.transformer.buildStatusRequest(ctx, gateway);
            },
          });
          return { ...route, transformer };
        },
      };
      const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
      return new Poller({ config, ledger, router, recorder, logger });
    }

    /** A capture in UNKNOWN, due, whose gateway_key is the id of an authorization of ours in `authState`. */
    async function captureOf(authState: 'SUCCEEDED' | 'PENDING'): Promise<{ captureId: string; authId: string }> {
      const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
      const authId = auth.payment.operation_reference!;
      await ledger.create(authId, auth);
      await ledger.transition(authId, 'SENT', { event: 'attempt' }, { countAttempt: true });
      await ledger.transition(authId, authState, { event: 'test' }, { gatewayReference: `auth_ref_${authId}`, nextCheckAt: Date.now() + 60_000, pollStep: 0 });
      // Same order as its authorization: a capture only ever resolves an authorization in its own scope.
      const capture = channelCommand('capture', {}, { gateway_key: authId, order_id: auth.payment.order_id });
      const captureId = capture.payment.operation_reference!;
      await ledger.create(captureId, capture);
      await ledger.transition(captureId, 'SENT', { event: 'attempt' }, { countAttempt: true });
      await ledger.transition(captureId, 'UNKNOWN', { event: 'test' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
      return { captureId, authId };
    }

    it('asks about the PSP object of that authorization, as delivery sent it', async () => {
      const { captureId, authId } = await captureOf('SUCCEEDED');
      const seen: OperationContext[] = [];
      await spyingPoller(seen).runOnce();
      const inquiry = seen.find((ctx) => ctx.operationId === captureId);
      expect(inquiry?.payment.gateway_key).toBe(`auth_ref_${authId}`);
    });

    it('does not ask, nor fail the capture, while that authorization is undecided: it notes it and waits for the next step', async () => {
      const { captureId } = await captureOf('PENDING');
      const seen: OperationContext[] = [];
      const { logger, lines } = captureLogger('info');
      await spyingPoller(seen, logger).runOnce();
      expect(seen.find((ctx) => ctx.operationId === captureId)).toBeUndefined();
      expect(await ledger.get(captureId)).toMatchObject({ state: 'UNKNOWN', pollStep: 1 });
      expect((await ledger.interactions(captureId)).map((h) => h.event)).toContain('poll_skipped');
      expect(lines.some((l) => l.includes('poll cannot name the PSP object of this operation yet'))).toBe(true);
    });
  });

  describe('an Adyen operation, whose inquiry replays its request under its Idempotency-Key', () => {
    /** The configured gateways' router, noting the operations it builds status requests for. */
    function countingRouter(counter: { asked: string[] }, cfg: Config): GatewayRouter {
      const routes = createGatewayClients(cfg);
      return {
        route: (op) => {
          const route = routes.get(op.payment.gateway)!;
          // Adyen's transformer is frozen: the counting method is defined on an object inheriting from it.
          const transformer = Object.create(route.transformer, {
            buildStatusRequest: {
              value: (ctx: OperationContext, gateway: GatewayConfig) => {
                counter.asked.push(ctx.operationId);
                return route.transformer.buildStatusRequest(ctx, gateway);
              },
            },
          }) as GatewayTransformer;
          return { ...route, transformer };
        },
      };
    }

    /** A poller at `ageMs` past now that notes the operations it builds status requests for (nothing listens at Adyen's address). */
    function countingPoller(counter: { asked: string[] }, ageMs: number, logger = captureLogger('info').logger, cfg: Config = config): Poller {
      const recorder = new OutcomeRecorder({ config: cfg, ledger, events, eventsQueue, logger });
      return new Poller({ config: cfg, ledger, router: countingRouter(counter, cfg), recorder, logger, now: () => Date.now() + ageMs });
    }

    /** An Adyen authorization sent once and now `state` (UNRESOLVED unless named), due for the poller. */
    async function unresolvedAdyenAuthorization(state: 'UNRESOLVED' | 'UNKNOWN' | 'PENDING' = 'UNRESOLVED'): Promise<string> {
      const command = channelCommand('authorize', {}, { gateway: 'adyen', gateway_key: 'shopper-poller-replay:8415718415718415' });
      const id = command.payment.operation_reference!;
      await ledger.create(id, command);
      await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
      // From SENT: UNRESOLVED never moves back to UNKNOWN.
      await ledger.transition(id, state, { event: 'test' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
      expect((await ledger.get(id))?.state).toBe(state);
      return id;
    }

    it('is asked within the idempotency key window', async () => {
      const id = await unresolvedAdyenAuthorization();
      const counter = { asked: [] as string[] };
      await countingPoller(counter, IDEMPOTENT_RESEND_WINDOW_MS - 3600_000).runOnce();
      expect(counter.asked).toContain(id);
      expect((await ledger.interactions(id)).some((h) => h.event === 'poll_error')).toBe(true);
    });

    it('is never asked past the window (the replay could authorize again): noted, counted, still UNRESOLVED and asked about later', async () => {
      const id = await unresolvedAdyenAuthorization();
      const counter = { asked: [] as string[] };
      const before = await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'adyen', by: 'poller' });
      const { logger, lines } = captureLogger('info');
      await countingPoller(counter, IDEMPOTENT_RESEND_WINDOW_MS + 3600_000, logger).runOnce();
      expect(counter.asked).not.toContain(id);
      const history = await ledger.interactions(id);
      expect(history.some((h) => h.event === 'poll_error')).toBe(false);
      expect(history.find((h) => h.event === 'poll_skipped')?.reason).toMatch(/idempotency key/);
      expect(await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'adyen', by: 'poller' })).toBeGreaterThanOrEqual(before + 1);
      expect(lines.some((l) => l.includes('status inquiry withheld') && l.includes(id))).toBe(true);
      const op = await ledger.get(id);
      expect(op?.state).toBe('UNRESOLVED');
      expect(op?.nextCheckAt).toBeGreaterThan(Date.now());
    });

    describe('past delivery.max_age_ms (the bridge gave up sending; within the key window)', () => {
      const MAX_AGE_MS = 3600_000;
      /** `countingPoller` two hours on, with delivery.max_age_ms one hour: past it, well within the key's 7 days. */
      function pastMaxAgePoller(counter: { asked: string[] }, logger = captureLogger('info').logger): Poller {
        return countingPoller(counter, 2 * MAX_AGE_MS, logger, { ...config, delivery: { ...config.delivery, maxAgeMs: MAX_AGE_MS } });
      }

      it('an UNRESOLVED or UNKNOWN Adyen operation is never asked (the replay would perform what the OMS stopped expecting): noted, counted, logged', async () => {
        const unresolved = await unresolvedAdyenAuthorization();
        const unknown = await unresolvedAdyenAuthorization('UNKNOWN');
        const counter = { asked: [] as string[] };
        const before = await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'adyen', by: 'poller', reason: 'max_age' });
        const { logger, lines } = captureLogger('info');
        await pastMaxAgePoller(counter, logger).runOnce();
        expect(counter.asked).not.toContain(unresolved);
        expect(counter.asked).not.toContain(unknown);
        for (const id of [unresolved, unknown]) {
          const history = await ledger.interactions(id);
          expect(history.some((h) => h.event === 'poll_error')).toBe(false);
          expect(history.find((h) => h.event === 'poll_skipped')?.reason).toMatch(/delivery\.max_age_ms/);
          expect(lines.some((l) => l.includes('status inquiry withheld') && l.includes(id) && l.includes('max_age'))).toBe(true);
        }
        expect(await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'adyen', by: 'poller', reason: 'max_age' })).toBeGreaterThanOrEqual(
          before + 2,
        );
        const op = await ledger.get(unresolved);
        expect(op?.state).toBe('UNRESOLVED');
        expect(op?.nextCheckAt).toBeGreaterThan(Date.now());
      });

      it('a PENDING one is not asked either (its schedule goes on); an UNKNOWN one gets its delivery job queued to run now (which makes it UNRESOLVED unasked)', async () => {
        const pending = await unresolvedAdyenAuthorization('PENDING');
        const unknown = await unresolvedAdyenAuthorization('UNKNOWN');
        const counter = { asked: [] as string[] };
        const cfg = { ...config, delivery: { ...config.delivery, maxAgeMs: MAX_AGE_MS } };
        const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
        try {
          const logger = captureLogger('info').logger;
          const recorder = new OutcomeRecorder({ config: cfg, ledger, events, eventsQueue, logger });
          const poller = new Poller({
            config: cfg,
            ledger,
            router: countingRouter(counter, cfg),
            recorder,
            logger,
            deliveryQueue,
            now: () => Date.now() + 2 * MAX_AGE_MS,
          });
          await poller.runOnce();
          expect(counter.asked).not.toContain(pending);
          expect(counter.asked).not.toContain(unknown);
          expect((await ledger.interactions(pending)).find((h) => h.event === 'poll_skipped')?.reason).toMatch(/delivery\.max_age_ms/);
          expect(await ledger.get(pending)).toMatchObject({ state: 'PENDING', pollStep: 1 });
          const job = await deliveryQueue.getJob(bullJobId(unknown));
          expect(job?.data).toEqual({ operationId: unknown });
          expect(['waiting', 'prioritized']).toContain(await job?.getState());
        } finally {
          await deliveryQueue.obliterate({ force: true });
          await deliveryQueue.close();
        }
      });

      it("an Adyen authorization past its customer action's expiry is not asked either: UNRESOLVED at once with its reason, never FAILED nor voided, counted by both metrics", async () => {
        const id = await unresolvedAdyenAuthorization();
        await ledger.transition(id, 'ACTION_REQUIRED', { event: 'test' }, { nextCheckAt: Date.now() - 1 });
        const counter = { asked: [] as string[] };
        const cfg = { ...config, delivery: { ...config.delivery, maxAgeMs: MAX_AGE_MS } };
        const before = await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'adyen', by: 'action_expiry', reason: 'max_age' });
        const noAnswer = { gateway: 'adyen', result: 'unresolved', cause: 'replay_withheld' };
        const unresolvedBefore = await metricValue('pb_action_expiry_inquiry_failures_total', noAnswer);
        const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
        try {
          const logger = captureLogger('info').logger;
          const recorder = new OutcomeRecorder({ config: cfg, ledger, events, eventsQueue, logger });
          const router = countingRouter(counter, cfg);
          const expiry = new ActionExpiry({ config: cfg, redis, ledger, router, recorder, deliveryQueue, logger, now: () => Date.now() + 2 * MAX_AGE_MS });
          await expiry.runOnce();
        } finally {
          await deliveryQueue.close();
        }
        expect(counter.asked).not.toContain(id);
        expect(await metricValue('pb_replay_inquiries_withheld_total', { gateway: 'adyen', by: 'action_expiry', reason: 'max_age' })).toBe(before + 1);
        expect(await metricValue('pb_action_expiry_inquiry_failures_total', noAnswer)).toBe(unresolvedBefore + 1);
        // Nothing the PSP said: no FAIL told, nothing voided; its webhook, reconciliation or an operator settles it.
        expect(await ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
        expect((await ledger.interactions(id)).find((h) => h.event === 'unresolved')).toMatchObject({
          cause: 'customer action expiry: status inquiry withheld (delivery.max_age_ms passed: replaying the request would send it again)',
          no_answer: 'replay_withheld',
          withheld: 'max_age',
        });
        expect(await events.load(`${id}.FAILED`)).toBeNull();
        expect(await ledger.get(voidOperationId(id))).toBeNull();
      });

      it('an operation whose inquiry reads the PSP (the simulator) is still asked, and settled', async () => {
        const id = await landedAuthorization('pm_card_visa', 'UNKNOWN');
        await ledger.transition(id, 'UNRESOLVED', { event: 'test' }, { nextCheckAt: Date.now() - 1 });
        const counter = { asked: [] as string[] };
        await pastMaxAgePoller(counter).runOnce();
        expect(counter.asked).toContain(id);
        expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
        expect(sim.counters().effects[id]).toBe(1);
      });
    });
  });
});

import { monitorCommands } from '../../support/redis-monitor';
import { RedisClient, isCluster } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config, GatewayConfig } from '../../../src/config/config';
import { DeliveryService, DeliveryStep } from '../../../src/delivery/delivery-service';
import { GatewayRouter } from '../../../src/routing/gateway-router';
import { GatewayResponse, GatewayTransformer, OperationContext } from '../../../src/gateways/gateway-adapter';
import { GatewayRoute, GatewaySender } from '../../../src/gateways/gateway-route';
import { GatewayError } from '../../../src/errors/gateway-error';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { captureLogger } from '../../support/capture-logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { IDEMPOTENT_RESEND_WINDOW_MS } from '../../../src/delivery/resend-window';

const API_KEY = 'sim-delivery-test-key-0123456789';

let sim: PspSimulator;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
const configs: Config[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});

afterAll(async () => {
  await eventsQueue?.close();
  redis?.disconnect();
  await sim.stop();
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

afterEach(() => {
  sim.setDown(false);
  sim.setFaults({});
});

/** The simulator's gateway configuration of these tests (its URL known once it started). */
function simulatorOnly(): Record<string, unknown> {
  return { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-delivery-test-0123456789', timeout_ms: 1000 };
}

/** A delivery service on real Redis and the real simulator, with its own namespace. */
function setup(
  overrides: Record<string, unknown> = {},
  logger: Logger = silentLogger(),
  simulatorApiKey = API_KEY,
): { service: DeliveryService; ledger: Ledger; events: EventStore } {
  const config = testConfig({
    'delivery.breaker_failure_threshold': 3,
    'delivery.breaker_open_ms': 60_000,
    ...overrides,
    gateways: {
      simulator: { type: 'simulator', base_url: sim.url, api_key: simulatorApiKey, webhook_secret: 'whsec-delivery-test-0123456789', timeout_ms: 1000 },
      // Nothing listens on this port: a request that left would be `not_sent` (a retry), never a FAIL.
      stripe: {
        type: 'stripe',
        base_url: 'http://127.0.0.1:9',
        api_key: 'sk_test_delivery_0123456789',
        webhook_secret: 'whsec_deliveryTest0123456789abcdefXYZ',
        timeout_ms: 1000,
      },
    },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  eventsQueue ??= createOmsEventsQueue(redis, config.redis.keyPrefix);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  return { service, ledger, events };
}

async function record(ledger: Ledger, command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

/**
 * A delivery service on the simulator alone whose router answers `route(op, real)`, `real` being the route the
 * configuration gives: a transformer or client of the test's own, built over the real one, stages a race or a release's
 * change. `overrides` as `testConfig`'s.
 */
function serviceRouting(
  ledger: Ledger,
  events: EventStore,
  logger: Logger,
  route: (op: OperationRecord, real: GatewayRoute) => ReturnType<GatewayRouter['route']>,
  overrides: Record<string, unknown> = {},
): DeliveryService {
  const config = testConfig({ ...overrides, gateways: { simulator: simulatorOnly() } });
  configs.push(config);
  const routes = createGatewayClients(config);
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  return new DeliveryService({ config, ledger, router: { route: (op) => route(op, routes.get(op.payment.gateway)!) }, recorder, logger });
}

/** `route` with the members `over` of its transformer replaced, the rest the real transformer's. */
function withTransformer(route: GatewayRoute, over: Partial<GatewayTransformer>): GatewayRoute {
  return { ...route, transformer: Object.assign(Object.create(route.transformer) as GatewayTransformer, over) };
}

/**
 * Delivers `read` (the operation as this worker read it) with `moved` run just before the service's first
 * `transitionAndRecord`, and applied: another writer (the PSP's webhook, another worker) moving the operation between
 * this worker's read and its write. What the delivery returned.
 */
async function deliverMovedMeanwhile(
  service: DeliveryService,
  ledger: Ledger,
  read: OperationRecord,
  moved: () => Promise<{ applied: boolean }>,
): Promise<DeliveryStep> {
  const write = ledger.transitionAndRecord.bind(ledger);
  const race = jest.spyOn(ledger, 'transitionAndRecord').mockImplementationOnce(async (...args) => {
    expect((await moved()).applied).toBe(true);
    return write(...args);
  });
  try {
    return await service.deliver(read);
  } finally {
    race.mockRestore();
  }
}

describe('gateway delivery', () => {
  it('records the attempt, sends with the operation id as idempotency key and records the outcome', async () => {
    const { service, ledger } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const op = await ledger.get(id);
    expect(op).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect(sim.counters().effects[id]).toBe(1);
    const history = (await ledger.interactions(id)).map((h) => h.event);
    expect(history.indexOf('attempt')).toBeLessThan(history.indexOf('outcome'));
  });

  it('records the outcome of a command the intake created (RECEIVED) and its event in one script, after the move to SENT', async () => {
    const { service, ledger, events } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    if (isCluster(redis)) return; // MONITOR watches one server; the cluster pass runs the rest of the suite
    const scripts: string[] = [];
    const monitor = await monitorCommands(redis, (args) => {
      const name = String(args[0]).toLowerCase();
      const touches = args.slice(1).some((a) => String(a).endsWith(`:op:${id}`) || String(a).includes(`:event:${id}.`));
      // An EVAL follows an EVALSHA only when this Redis did not hold the script yet: not a step of its own.
      if (name === 'evalsha' && touches) scripts.push(name);
    });
    try {
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      await monitor.settle();
    } finally {
      monitor.stop();
    }
    // The move to SENT (the attempt on record), then the outcome with its event; the event was a third script
    // when the outcome was checked against the record as read before the move.
    expect(scripts).toEqual(['evalsha', 'evalsha']);
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
  });

  it('hands back a half-open probe the PSP refused for our credentials: the breaker probes again instead of staying half-open for good', async () => {
    const { service, ledger } = setup({ 'delivery.breaker_open_ms': 50 }, silentLogger(), 'sk_wrong_key_for_the_probe');
    const breaker = service.breaker('simulator');
    for (let i = 0; i < 3; i++) breaker.failure();
    await new Promise((r) => setTimeout(r, 60));
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const step = await service.deliver(id);
    expect(step).toMatchObject({ kind: 'retry', reason: 'authentication' });
    // The probe went and was answered 401: it is free again, so the next call may probe at once.
    expect(breaker.state).toBe('open');
    expect(breaker.permit()).toEqual({ allowed: true });
    expect((await ledger.get(id))?.state).toBe('SENT');
  });

  it('holds a command whose gateway is not configured (waits, never fails, calls no one)', async () => {
    const { service, ledger } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway: 'paypal' }));
    const requestsBefore = sim.counters().requests;
    expect(await service.deliver(id)).toMatchObject({ kind: 'wait', reason: 'gateway_not_configured: gateways.paypal' });
    expect((await ledger.get(id))?.state).toBe('RECEIVED');
    expect(sim.counters().requests).toBe(requestsBefore);
  });

  it('asks for a retry on a 5xx and opens the circuit after repeated failures, then waits instead of calling', async () => {
    const { service, ledger } = setup();
    sim.setDown('503');
    const ids = await Promise.all([1, 2, 3, 4].map(() => record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }))));
    const requestsBefore = sim.counters().requests;
    for (const id of ids.slice(0, 3)) expect((await service.deliver(id)).kind).toBe('retry');
    const step = await service.deliver(ids[3]);
    expect(step.kind).toBe('wait');
    expect(sim.counters().requests - requestsBefore).toBe(3);
  });

  it('fails an operation the gateway never took within delivery.max_age_ms as UNRESPONSIVE', async () => {
    const { service, ledger } = setup({ 'delivery.max_age_ms': 1000 });
    const failed = () => metricValue('pb_max_age_give_ups_total', { gateway: 'simulator', result: 'failed' });
    const before = await failed();
    // Received by the channel 5 s ago (the age counts from `received_at`), e.g. held while the PSP was down.
    const id = await record(ledger, channelCommand('authorize', { received_at: new Date(Date.now() - 5000).toISOString() }, { gateway_key: 'pm_card_visa' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await failed()).toBe(before + 1);
    expect((await ledger.get(id))?.reason).toBe('UNRESPONSIVE');
    expect(sim.counters().effects[id]).toBeUndefined();
  });

  it('never fails as UNRESPONSIVE a command another worker moved to SENT after this one read it (it may be at the PSP): left as it is, no FAIL event', async () => {
    const logs = captureLogger();
    const { service, ledger, events } = setup({ 'delivery.max_age_ms': 1000 }, logs.logger);
    const id = await record(ledger, channelCommand('authorize', { received_at: new Date(Date.now() - 5000).toISOString() }, { gateway_key: 'pm_card_visa' }));
    // Read RECEIVED, never attempted, too old; meanwhile another worker (a stalled job run again) sends it.
    const read = (await ledger.get(id))!;
    expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
    const lost = () => metricValue('pb_max_age_give_ups_total', { gateway: 'simulator', result: 'refusal_lost' });
    const lostBefore = await lost();
    expect(await service.deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
    expect(await lost()).toBe(lostBefore + 1);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1 });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(id));
    expect(line).toContain('"reason":"UNRESPONSIVE"');
    expect(line).toContain('"state":"SENT"');
    expect(logs.lines.some((l) => l.includes('did not take it within delivery.max_age_ms') && l.includes(id))).toBe(false);
  });

  /** An operation received 5 s ago with one attempt on record that ended with `ending` (none: a crash mid-call). */
  async function oldAttempt(ledger: Ledger, ending?: Record<string, unknown>): Promise<string> {
    const id = await record(ledger, channelCommand('authorize', { received_at: new Date(Date.now() - 5000).toISOString() }, { gateway_key: 'pm_card_visa' }));
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    if (ending) await ledger.appendInteraction(id, ending);
    return id;
  }

  it('gives up past delivery.max_age_ms as UNRESOLVED, not FAILED, when an attempt may have reached the PSP (5xx, timeout, crash)', async () => {
    const { service, ledger, events } = setup({ 'delivery.max_age_ms': 1000 });
    const givenUp = () => metricValue('pb_max_age_give_ups_total', { gateway: 'simulator', result: 'unresolved' });
    for (const ending of [{ event: 'send_error', kind: 'server_error', http_status: 503 }, { event: 'send_error', kind: 'outcome_unknown' }, undefined]) {
      const id = await oldAttempt(ledger, ending);
      const before = await givenUp();
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
      expect(await givenUp()).toBe(before + 1);
      expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
      expect(await events.load(`${id}.FAILED`)).toBeNull();
      // The poller asks about it soon (first step of the schedule), then at the slow cadence.
      expect((await ledger.get(id))?.nextCheckAt).toBeLessThan(Date.now() + 120_000);
      // And delivery never sends it again (nor counts it again).
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
      expect(sim.counters().effects[id]).toBeUndefined();
      expect(await givenUp()).toBe(before + 1);
    }
  });

  it("never gives up past delivery.max_age_ms over a PSP fact recorded between the read and the give-up (a webhook's PENDING): PENDING stays, no UNRESOLVED event, counted refusal_lost", async () => {
    const logs = captureLogger();
    const { service, ledger, events } = setup({ 'delivery.max_age_ms': 1000 }, logs.logger);
    const id = await oldAttempt(ledger, { event: 'send_error', kind: 'server_error', http_status: 503 });
    const read = (await ledger.get(id))!;
    const lost = () => metricValue('pb_max_age_give_ups_total', { gateway: 'simulator', result: 'refusal_lost' });
    const before = await lost();
    // Between this worker's read (SENT, an attempt that may have landed, too old) and its UNRESOLVED, the PSP's webhook
    // says the payment is pending: SENT to PENDING, the same attempt count. Only the state read shows it.
    expect(
      await deliverMovedMeanwhile(service, ledger, read, () =>
        ledger.transition(id, 'PENDING', { event: 'outcome', source: 'webhook', status: 'PENDING' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 }),
      ),
    ).toEqual({ kind: 'done', state: 'PENDING' });
    expect(await ledger.get(id)).toMatchObject({ state: 'PENDING', attempts: 1 });
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect(await lost()).toBe(before + 1);
    const line = logs.lines.find((l) => l.includes('give-up not recorded: the operation moved meanwhile') && l.includes(id));
    expect(line).toContain('"level":"info"');
    expect(line).toContain('"read_state":"SENT"');
    expect(line).toContain('"state":"PENDING"');
    expect(logs.lines.some((l) => l.includes('payment_unresolved') && l.includes(id))).toBe(false);
  });

  it('fails past delivery.max_age_ms only when no attempt can have reached the PSP (never sent, refused before processing)', async () => {
    const { service, ledger } = setup({ 'delivery.max_age_ms': 1000 });
    for (const kind of ['not_sent', 'rate_limited']) {
      const id = await oldAttempt(ledger, { event: 'send_error', kind });
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
      expect((await ledger.get(id))?.reason).toBe('UNRESPONSIVE');
    }
  });

  it('never fails as UNRESPONSIVE a command sent, its attempt proven unsent, that another worker sends again between the read and the FAIL: left as it is, no FAIL event', async () => {
    const logs = captureLogger();
    const { service, ledger, events } = setup({ 'delivery.max_age_ms': 1000 }, logs.logger);
    const id = await oldAttempt(ledger, { event: 'send_error', kind: 'not_sent' });
    const read = (await ledger.get(id))!;
    // Forced between this worker's checks (state SENT, no attempt that may have landed) and its FAIL: another worker
    // resends it (SENT to SENT, a second attempt, which may be at the PSP). The state alone does not show it.
    expect(
      await deliverMovedMeanwhile(service, ledger, read, () => ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true })),
    ).toEqual({ kind: 'done', state: 'SENT' });
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, reason: undefined });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(id));
    expect(line).toContain('"reason":"UNRESPONSIVE"');
    expect(line).toContain('"read_state":"SENT"');
    expect(logs.lines.some((l) => l.includes('did not take it within delivery.max_age_ms') && l.includes(id))).toBe(false);
  });

  /** A delivery service whose router, after a configuration change, refuses every route (`refused`) or carries no command at all (`unsupported`). */
  function changedRoutes(ledger: Ledger, events: EventStore, change: 'refused' | 'unsupported', logger: Logger): DeliveryService {
    return serviceRouting(ledger, events, logger, (_op, route) => (change === 'refused' ? { refused: 'NO_ROUTE' } : withTransformer(route, { supports: [] })));
  }

  it.each(['refused', 'unsupported'] as const)(
    'never fails a command already sent (it may be at the PSP) when its route is %s after a configuration change: UNKNOWN stays for its inquiries, SENT becomes UNRESOLVED',
    async (change) => {
      const logs = captureLogger();
      const { service, ledger, events } = setup();
      // UNKNOWN: the PSP did it, the answer was lost.
      sim.setFaults({ commitThenTimeoutRate: 1 });
      const unknown = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
      expect((await service.deliver(unknown)).kind).toBe('retry');
      sim.setFaults({});
      expect(sim.counters().effects[unknown]).toBe(1);
      // SENT: an attempt answered by a 5xx, waiting for its retry (it may have moved money).
      const sent = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
      await ledger.transition(sent, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
      await ledger.appendInteraction(sent, { event: 'send_error', kind: 'server_error', http_status: 503 });
      // SENT, its attempt proven never to have left: still failed unsent.
      const never = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
      await ledger.transition(never, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
      await ledger.appendInteraction(never, { event: 'send_error', kind: 'not_sent' });
      const changed = changedRoutes(ledger, events, change, logs.logger);
      const reason = change === 'refused' ? 'NO_ROUTE' : 'UNSUPPORTED_COMMAND';

      expect(await changed.deliver(unknown)).toEqual({ kind: 'done', state: 'UNKNOWN' });
      expect(await ledger.get(unknown)).toMatchObject({ state: 'UNKNOWN', attempts: 1 });
      expect(await events.load(`${unknown}.FAILED`)).toBeNull();

      expect(await changed.deliver(sent)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
      expect(await events.load(`${sent}.FAILED`)).toBeNull();
      expect(await events.load(`${sent}.UNRESOLVED`)).not.toBeNull();

      expect(await changed.deliver(never)).toEqual({ kind: 'done', state: 'FAILED' });
      expect((await ledger.get(never))?.reason).toBe(reason);

      for (const id of [unknown, sent]) {
        const line = logs.lines.find((l) => l.includes('refusal withheld: the operation was sent and may be at the PSP') && l.includes(id));
        expect(line).toContain(`"reason":"${reason}"`);
      }
    },
  );

  it.each(['refused', 'unsupported'] as const)(
    'never fails a command read RECEIVED that another worker sent meanwhile when its route is %s: left as it is, no FAIL event',
    async (change) => {
      const logs = captureLogger();
      const { ledger, events } = setup();
      const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
      const read = (await ledger.get(id))!;
      expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
      expect(await changedRoutes(ledger, events, change, logs.logger).deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
      expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1 });
      expect(await events.load(`${id}.FAILED`)).toBeNull();
      const line = logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(id));
      expect(line).toContain(`"reason":"${change === 'refused' ? 'NO_ROUTE' : 'UNSUPPORTED_COMMAND'}"`);
      expect(line).toContain('"read_state":"RECEIVED"');
    },
  );

  it('resends an UNKNOWN operation of a webhook-only command with the same idempotency key instead of asking (nothing to ask)', async () => {
    const { ledger, events } = setup();
    let inquiries = 0;
    const service = serviceRouting(ledger, events, silentLogger(), (_op, route) =>
      withTransformer(route, {
        inquiry: () => 'webhook-only' as const,
        buildStatusRequest: (ctx: OperationContext, gateway: GatewayConfig) => {
          inquiries += 1;
          return route.transformer.buildStatusRequest(ctx, gateway);
        },
      }),
    );
    sim.setFaults({ commitThenTimeoutRate: 1 });
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    sim.setFaults({});
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(inquiries).toBe(0);
    expect((await ledger.interactions(id)).filter((h) => h.event === 'attempt')).toHaveLength(2);
    expect(sim.counters().effects[id]).toBe(1);
  });

  it("never gives up an UNKNOWN webhook-only command past delivery.max_age_ms over a webhook's PENDING recorded between the read and the give-up", async () => {
    const { ledger, events } = setup();
    const logs = captureLogger();
    const service = serviceRouting(
      ledger,
      events,
      logs.logger,
      (_op, route) =>
        withTransformer(route, {
          inquiry: () => 'webhook-only' as const,
        }),
      { 'delivery.max_age_ms': 1000 },
    );
    const id = await record(ledger, channelCommand('authorize', { received_at: new Date(Date.now() - 5000).toISOString() }, { gateway_key: 'pm_card_visa' }));
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
    const read = (await ledger.get(id))!;
    expect(
      await deliverMovedMeanwhile(service, ledger, read, () =>
        ledger.transition(id, 'PENDING', { event: 'outcome', source: 'webhook', status: 'PENDING' }, { nextCheckAt: Date.now() + 60_000 }),
      ),
    ).toEqual({ kind: 'done', state: 'PENDING' });
    expect((await ledger.get(id))?.state).toBe('PENDING');
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect(logs.lines.some((l) => l.includes('give-up not recorded') && l.includes('"read_state":"UNKNOWN"') && l.includes(id))).toBe(true);
  });

  it('never puts back to PENDING an UNKNOWN webhook-only command the PSP holds whose webhook asked for a customer action between the read and the wait', async () => {
    const { ledger, events } = setup();
    const logs = captureLogger();
    const service = serviceRouting(ledger, events, logs.logger, (_op, route) =>
      withTransformer(route, {
        inquiry: () => 'webhook-only' as const,
      }),
    );
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(
      id,
      'UNKNOWN',
      { event: 'send_error', kind: 'idempotency_conflict', psp_has_request: true },
      { nextCheckAt: Date.now() + 60_000, pollStep: 0 },
    );
    const read = (await ledger.get(id))!;
    const write = ledger.transition.bind(ledger);
    const race = jest.spyOn(ledger, 'transition').mockImplementation(async (...args) => {
      if (args[0] === id && args[2].event === 'awaiting_webhook') {
        race.mockRestore();
        // The PSP's webhook: the customer must act (3-D Secure), UNKNOWN to ACTION_REQUIRED.
        await write(id, 'ACTION_REQUIRED', { event: 'outcome', source: 'webhook', status: 'ACTION_REQUIRED' }, { nextCheckAt: Date.now() + 600_000 });
      }
      return write(...args);
    });
    try {
      expect(await service.deliver(read)).toEqual({ kind: 'done', state: 'ACTION_REQUIRED' });
    } finally {
      race.mockRestore();
    }
    expect((await ledger.get(id))?.state).toBe('ACTION_REQUIRED');
    expect((await ledger.interactions(id)).some((h) => h.event === 'awaiting_webhook')).toBe(false);
    expect(logs.lines.some((l) => l.includes('wait for the webhook not recorded') && l.includes(id))).toBe(true);
  });

  it("never gives up as UNRESOLVED an UNKNOWN command whose replaying inquiry outlived its key over a webhook's PENDING recorded between the read and the give-up", async () => {
    const { ledger, events } = setup();
    const logs = captureLogger();
    const service = serviceRouting(ledger, events, logs.logger, (_op, route) => withTransformer(route, { inquiryReplaysRequest: true }));
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
    const id = command.payment.operation_reference!;
    // Created past the idempotency key's validity: asking would replay the request.
    await ledger.create(id, command, Date.now() - IDEMPOTENT_RESEND_WINDOW_MS - 60_000);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
    const read = (await ledger.get(id))!;
    expect(
      await deliverMovedMeanwhile(service, ledger, read, () =>
        ledger.transition(id, 'PENDING', { event: 'outcome', source: 'webhook', status: 'PENDING' }, { nextCheckAt: Date.now() + 60_000 }),
      ),
    ).toEqual({ kind: 'done', state: 'PENDING' });
    expect((await ledger.get(id))?.state).toBe('PENDING');
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect(logs.lines.some((l) => l.includes('give-up not recorded') && l.includes('idempotency key too old to ask') && l.includes(id))).toBe(true);
  });

  it("never gives up as UNRESOLVED an UNKNOWN command whose attempt the status search cannot reach over a webhook's PENDING recorded during the inquiry", async () => {
    const { ledger, events } = setup();
    const logs = captureLogger();
    // A status search that reaches back 1 ms: every attempt is older than what it searches.
    const service = serviceRouting(ledger, events, logs.logger, (_op, route) => withTransformer(route, { inquiryHorizonMs: () => 1 }));
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const read = (await ledger.get(id))!;
    // The PSP's webhook, while the inquiry is under way: the payment is pending (UNKNOWN to PENDING).
    expect(
      await deliverMovedMeanwhile(service, ledger, read, () =>
        ledger.transition(id, 'PENDING', { event: 'outcome', source: 'webhook', status: 'PENDING' }, { nextCheckAt: Date.now() + 60_000 }),
      ),
    ).toEqual({ kind: 'done', state: 'PENDING' });
    expect((await ledger.get(id))?.state).toBe('PENDING');
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect(logs.lines.some((l) => l.includes('give-up not recorded') && l.includes('attempt older than the status search reaches') && l.includes(id))).toBe(
      true,
    );
  });

  /**
   * A delivery service whose gateway call, while it is under way, has the PSP's webhook record `webhook` (a PSP fact:
   * SENT to PENDING, the same attempt count) and then ends in `err`, as a call whose answer was lost would.
   */
  function raced(ledger: Ledger, events: EventStore, logger: Logger, id: string, webhook: 'PENDING', err: () => GatewayError): DeliveryService {
    return serviceRouting(ledger, events, logger, (_op, route) => {
      const client: GatewaySender = Object.assign(Object.create(route.client) as GatewaySender, {
        send: async (): Promise<GatewayResponse> => {
          const moved = await ledger.transition(id, webhook, { event: 'outcome', source: 'webhook', status: webhook }, { nextCheckAt: Date.now() + 60_000 });
          expect(moved.applied).toBe(true);
          throw err();
        },
      });
      return { ...route, client };
    });
  }

  it("never makes UNKNOWN (outcome unknown) a command whose webhook's PENDING was recorded between the send and that write", async () => {
    const { ledger, events } = setup();
    const logs = captureLogger();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const service = raced(
      ledger,
      events,
      logs.logger,
      id,
      'PENDING',
      () => new GatewayError('outcome_unknown', 'simulator', 'outcome unknown: timeout after the request was sent'),
    );
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'PENDING' });
    expect(await ledger.get(id)).toMatchObject({ state: 'PENDING', attempts: 1 });
    expect((await ledger.interactions(id)).some((h) => h.event === 'send_error')).toBe(false);
    const line = logs.lines.find((l) => l.includes('outcome unknown not recorded: the operation moved meanwhile') && l.includes(id));
    expect(line).toContain('"read_state":"SENT"');
    expect(line).toContain('"state":"PENDING"');
  });

  it("never makes UNKNOWN (a resend refused as an idempotency conflict) a command whose webhook's PENDING was recorded between the resend and that write", async () => {
    const { ledger, events } = setup();
    const logs = captureLogger();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const service = raced(
      ledger,
      events,
      logs.logger,
      id,
      'PENDING',
      () => new GatewayError('idempotency_conflict', 'simulator', 'another request under this key'),
    );
    // A first attempt that never left (a retry): this is its resend, the second attempt.
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.appendInteraction(id, { event: 'send_error', kind: 'not_sent' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'PENDING' });
    expect(await ledger.get(id)).toMatchObject({ state: 'PENDING', attempts: 2 });
    expect((await ledger.interactions(id)).some((h) => h.event === 'send_error' && h.kind === 'idempotency_conflict')).toBe(false);
    expect(logs.lines.some((l) => l.includes('outcome unknown not recorded: the operation moved meanwhile') && l.includes(id))).toBe(true);
  });

  /** A delivery service whose transformer (webhook-only) can no longer build a request, as after a release changed its builder. */
  function unbuildable(ledger: Ledger, events: EventStore, logger: Logger): DeliveryService {
    return serviceRouting(ledger, events, logger, (_op, route) =>
      withTransformer(route, {
        inquiry: () => 'webhook-only' as const,
        buildRequest: () => {
          throw new TypeError('the request builder of this release needs a field the record lacks');
        },
      }),
    );
  }

  it('never fails an UNKNOWN webhook-only command whose resend cannot be built (it may be at the PSP): UNKNOWN stays, no FAIL event', async () => {
    const logs = captureLogger();
    const { service, ledger, events } = setup();
    sim.setFaults({ commitThenTimeoutRate: 1 });
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    expect((await service.deliver(id)).kind).toBe('retry');
    sim.setFaults({});
    expect(sim.counters().effects[id]).toBe(1);
    expect(await unbuildable(ledger, events, logs.logger).deliver(id)).toEqual({ kind: 'done', state: 'UNKNOWN' });
    expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', attempts: 1 });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = logs.lines.find((l) => l.includes('refusal withheld: the operation was sent and may be at the PSP') && l.includes(id));
    expect(line).toContain('"reason":"COMMAND_REFUSED"');
  });

  it('never fails a command read RECEIVED that another worker sent meanwhile when its request cannot be built: left as it is, no FAIL event', async () => {
    const logs = captureLogger();
    const { ledger, events } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const read = (await ledger.get(id))!;
    expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
    expect(await unbuildable(ledger, events, logs.logger).deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1 });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(id));
    expect(line).toContain('"read_state":"RECEIVED"');
    // An operator never reads "refused for good" for a refusal that did not apply.
    expect(logs.lines.filter((l) => l.includes('gateway refused the operation for good') && l.includes(id))).toEqual([]);
  });

  it('resolves an UNKNOWN operation by a status inquiry and never resends it when the PSP has it', async () => {
    const { service, ledger } = setup();
    sim.setFaults({ commitThenTimeoutRate: 1 });
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const first = await service.deliver(id);
    expect(first.kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    sim.setFaults({});
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[id]).toBe(1);
    expect((await ledger.interactions(id)).filter((h) => h.event === 'attempt')).toHaveLength(1);
  });

  it('makes a capture wait while its authorization is UNKNOWN, then capture on the PSP reference once it succeeded', async () => {
    const { service, ledger } = setup();
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 5000 });
    const authId = await record(ledger, auth);
    await ledger.transition(authId, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(authId, 'UNKNOWN', { event: 'test' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
    const captureId = await record(ledger, channelCommand('capture', {}, { gateway_key: authId, amount: 3000, order_id: auth.payment.order_id }));
    expect((await service.deliver(captureId)).kind).toBe('wait');
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[captureId]).toBe(1);
  });

  it('fails a capture whose authorization failed, without calling the PSP', async () => {
    const { service, ledger } = setup();
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_declined' });
    const authId = await record(ledger, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'FAILED' });
    const captureId = await record(ledger, channelCommand('capture', {}, { gateway_key: authId, order_id: auth.payment.order_id }));
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(captureId))?.reason).toBe('AUTHORIZATION_FAILED');
    expect(sim.counters().effects[captureId]).toBeUndefined();
  });

  it('never fails against its authorization a capture already sent that may be at the PSP (a record an earlier release sent): UNRESOLVED, no FAIL event', async () => {
    const logs = captureLogger();
    const { service, ledger, events } = setup({}, logs.logger);
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_declined' });
    const authId = await record(ledger, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'FAILED' });
    const captureId = await record(ledger, channelCommand('capture', {}, { gateway_key: authId, order_id: auth.payment.order_id }));
    await ledger.transition(captureId, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.appendInteraction(captureId, { event: 'send_error', kind: 'server_error', http_status: 503 });
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await events.load(`${captureId}.FAILED`)).toBeNull();
    const line = logs.lines.find((l) => l.includes('refusal withheld: the operation was sent and may be at the PSP') && l.includes(captureId));
    expect(line).toContain('"reason":"AUTHORIZATION_FAILED"');
  });

  it('never gives up as UNRESOLVED a capture already sent that another worker sends again between the read and the move: SENT, no UNRESOLVED event', async () => {
    const { service, ledger, events } = setup();
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_declined' });
    const authId = await record(ledger, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'FAILED' });
    const captureId = await record(ledger, channelCommand('capture', {}, { gateway_key: authId, order_id: auth.payment.order_id }));
    await ledger.transition(captureId, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.appendInteraction(captureId, { event: 'send_error', kind: 'server_error', http_status: 503 });
    const read = (await ledger.get(captureId))!;
    // Between this worker's refusal of the sent capture (UNRESOLVED, from SENT) and its move, another worker sends it again.
    expect(
      await deliverMovedMeanwhile(service, ledger, read, () => ledger.transition(captureId, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true })),
    ).toEqual({ kind: 'done', state: 'SENT' });
    expect(await ledger.get(captureId)).toMatchObject({ state: 'SENT', attempts: 2 });
    expect(await events.load(`${captureId}.UNRESOLVED`)).toBeNull();
  });

  // The bus contract asks for the pre-notice (docs/EVENTS.md) (sent by default); a bus whose OMS sends it itself turns it off.
  it('sends no refund_management.updated with service_bus.refund_pending_notice false: the refund outcome alone', async () => {
    const { service, ledger, events } = setup({ 'service_bus.refund_pending_notice': false });
    const sale = channelCommand('sale', {}, { gateway_key: 'pm_card_visa', amount: 4000 });
    const saleId = await record(ledger, sale);
    expect(await service.deliver(saleId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refundId = await record(ledger, channelCommand('refund', {}, { gateway_key: saleId, amount: 1000, order_id: sale.payment.order_id }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await events.load(`${refundId}.refund-pending`)).toBeNull();
    expect(await events.load(`${refundId}.SUCCEEDED`)).toMatchObject({ params: { payment: { status: 'SUCCESS', gateway_command: 'refund' } } });
  });

  it('records the refund PENDINGRELEASE notice before the refund reaches the PSP (the default)', async () => {
    const { service, ledger, events } = setup();
    const sale = channelCommand('sale', {}, { gateway_key: 'pm_card_visa', amount: 4000 });
    const saleId = await record(ledger, sale);
    expect(await service.deliver(saleId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    sim.setDown('503');
    const refundId = await record(ledger, channelCommand('refund', {}, { gateway_key: saleId, amount: 1000, order_id: sale.payment.order_id }));
    expect((await service.deliver(refundId)).kind).toBe('retry');
    const notice = await events.load(`${refundId}.refund-pending`);
    expect(notice?.params).toMatchObject({ code: 'PENDINGRELEASE', reason_code: 'REQUESTED', amount: 1000 });
    sim.setDown(false);
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await events.load(`${refundId}.SUCCEEDED`))!.sequence).toBeGreaterThan(notice!.sequence);
  });

  it('never records the refund PENDINGRELEASE notice on a stale read: a refund another worker decided meanwhile gets no notice after its outcome', async () => {
    const logs = captureLogger();
    const { service, ledger, events } = setup({}, logs.logger);
    const sale = channelCommand('sale', {}, { gateway_key: 'pm_card_visa', amount: 4000 });
    const saleId = await record(ledger, sale);
    expect(await service.deliver(saleId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refundId = await record(ledger, channelCommand('refund', {}, { gateway_key: saleId, amount: 1000, order_id: sale.payment.order_id }));
    // This worker reads it RECEIVED; meanwhile another one decides it (refused unsent, e.g. past delivery.max_age_ms by its
    // clock; or sent and settled by a release with service_bus.refund_pending_notice false): FAILED, its event on record.
    const read = (await ledger.get(refundId))!;
    const recorder = new OutcomeRecorder({ config: testConfig(), ledger, events, eventsQueue, logger: silentLogger() });
    expect((await recorder.fail(read, 'UNRESPONSIVE', 'bridge', { onlyFrom: 'RECEIVED' })).state).toBe('FAILED');
    const withheld = await metricValue('pb_refund_notices_withheld_total');
    const requestsBefore = sim.counters().requests;
    expect(await service.deliver(read)).toEqual({ kind: 'done', state: 'FAILED' });
    // The OMS heard FAILED: a PENDINGRELEASE after it would say the refund is under way.
    expect(await events.load(`${refundId}.refund-pending`)).toBeNull();
    expect(await events.load(`${refundId}.FAILED`)).not.toBeNull();
    expect(sim.counters().requests).toBe(requestsBefore);
    expect(await metricValue('pb_refund_notices_withheld_total')).toBe(withheld + 1);
    const line = logs.lines.find((l) => l.includes('refund pre-notice not sent: another worker moved the refund after the read') && l.includes(refundId));
    expect(line).toContain('"read_state":"RECEIVED"');
  });

  it.each([
    // MGA is zero-decimal on Stripe, two-decimal in ISO 4217: 123.45 MGA is not a whole ariary.
    ['an MGA amount that is not a whole ariary', { currency: 'MGA', amount: 12345 }, 'amount_not_representable', 'payment.amount'],
    ['a currency Stripe does not list', { currency: 'CLF', amount: 10000 }, 'currency_not_supported', 'payment.currency'],
  ])('fails %s at once with the reason and the field, never sending or retrying it', async (_name, money, reason, field) => {
    const { service, ledger } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway: 'stripe', gateway_key: 'pm_card_visa', ...money }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(id))?.reason).toBe(reason);
    const history = await ledger.interactions(id);
    expect(history.filter((h) => h.event === 'attempt')).toHaveLength(0);
    expect(history.find((h) => h.event === 'send_error')).toMatchObject({ gateway_code: reason, field });
  });

  it('delivers a decided operation again as a no-op (a crash after the outcome, a duplicate job)', async () => {
    const { service, ledger } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    await service.deliver(id);
    const requests = sim.counters().requests;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().requests).toBe(requests);
  });

  describe('the first attempt recorded with the creation (fast path)', () => {
    it('creates the operation in SENT with one attempt on record before the request leaves, then delivers it', async () => {
      const { service, ledger } = setup();
      const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
      const id = command.payment.operation_reference!;
      const now = Date.now();
      const prepared = service.prepareFirstAttempt(draftRecord(id, command, now));
      expect(prepared?.interaction).toMatchObject({ event: 'attempt', attempt: 1, gateway: 'simulator' });
      const created = await ledger.create(id, command, now, prepared!.interaction);
      expect(created).toMatchObject({ created: true, state: 'SENT', record: { state: 'SENT', attempts: 1 } });
      expect(await ledger.idsInState('SENT')).toContain(id);
      expect(sim.counters().effects[id]).toBeUndefined();
      expect(await service.deliver(created.record!, prepared!)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
      expect(sim.counters().effects[id]).toBe(1);
      expect((await ledger.interactions(id)).map((h) => h.event)).toEqual(['received', 'attempt', 'outcome']);
    });

    it("counts the risk stage's allow once: not when a plan the fast path drops (an open breaker) is made, once by the plain path, once for a plan it sends", async () => {
      const risk = { 'risk.rules': [{ name: 'big-chf', when: ['high_amount'], action: 'hold' }], 'risk.amount_thresholds': { CHF: 100000 } };
      const allowed = () => metricValue('pb_risk_decisions_total', { action: 'allow', rule: 'none' });
      const before = await allowed();
      // Planned on the fast path, then dropped (the breaker is open): nothing counted.
      const down = setup(risk).service;
      for (let i = 0; i < 3; i++) down.breaker('simulator').failure();
      const dropped = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
      expect(down.prepareFirstAttempt(draftRecord(dropped.payment.operation_reference!, dropped, Date.now()))).toBeNull();
      expect(await allowed()).toBe(before);
      // The plain path plans it again (here a worker whose breaker is closed): counted once.
      const { service, ledger } = setup(risk);
      const droppedId = await record(ledger, dropped);
      expect(await service.deliver(droppedId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(await allowed()).toBe(before + 1);
      // A plan the fast path sends: counted when its attempt goes out, not when it is made.
      const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
      const id = command.payment.operation_reference!;
      const now = Date.now();
      const prepared = service.prepareFirstAttempt(draftRecord(id, command, now))!;
      expect(await allowed()).toBe(before + 1);
      const created = await ledger.create(id, command, now, prepared.interaction, prepared.routing ? { routing: prepared.routing } : undefined);
      expect(await service.deliver(created.record!, prepared)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(await allowed()).toBe(before + 2);
    });

    it("logs a plan's decision lines once, for the plan that stands: not for the plan the fast path drops (an open breaker), once when the plain path plans it, once when a fast path plan goes out", async () => {
      const limits = {
        'risk.rules': [
          { name: 'big-usd', when: ['high_amount'], action: 'psp_review' },
          { name: 'big-usd-far', when: ['high_amount', 'country_mismatch'], action: 'decline' },
        ],
        'risk.amount_thresholds': { USD: 10000 },
        'fx.settlement_currencies': { simulator: ['EUR'] },
        'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
      };
      const reviewed = (lines: string[]) => lines.filter((l) => l.includes('risk rules ask the PSP risk engine'));
      const converted = (lines: string[]) => lines.filter((l) => l.includes('payment converted at a locked rate'));
      const declined = (lines: string[]) => lines.filter((l) => l.includes('authorization declined by the risk rules'));
      // Planned on the fast path, then dropped (the breaker is open): no decision logged.
      const fast = captureLogger('info');
      const down = setup(limits, fast.logger).service;
      for (let i = 0; i < 3; i++) down.breaker('simulator').failure();
      const dropped = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' });
      expect(down.prepareFirstAttempt(draftRecord(dropped.payment.operation_reference!, dropped, Date.now()))).toBeNull();
      // A refusal the fast path decides is always decided again by the plain path: not logged here either.
      const far = channelCommand(
        'authorize',
        {},
        { gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD', custom_attributes: { billing_country: 'FR', card_country: 'BR' } },
      );
      expect(down.prepareFirstAttempt(draftRecord(far.payment.operation_reference!, far, Date.now()))).toBeNull();
      expect([reviewed(fast.lines), converted(fast.lines), declined(fast.lines)]).toEqual([[], [], []]);
      // The plain path plans both again (here a worker whose breaker is closed): each decision logged once, with its operation.
      const plain = captureLogger('info');
      const { service, ledger } = setup(limits, plain.logger);
      const droppedId = await record(ledger, dropped);
      expect(await service.deliver(droppedId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(await service.deliver(await record(ledger, far))).toEqual({ kind: 'done', state: 'FAILED' });
      expect(reviewed(plain.lines)).toHaveLength(1);
      expect(converted(plain.lines)).toHaveLength(1);
      expect(declined(plain.lines)).toHaveLength(1);
      expect(JSON.parse(reviewed(plain.lines)[0])).toMatchObject({ level: 'info', operation_id: droppedId, rule: 'big-usd' });
      // A plan the fast path sends: logged when its attempt goes out, not when it is made.
      const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' });
      const id = command.payment.operation_reference!;
      const now = Date.now();
      const sent = captureLogger('info');
      const { service: quick, ledger: quickLedger } = setup(limits, sent.logger);
      const prepared = quick.prepareFirstAttempt(draftRecord(id, command, now))!;
      expect(prepared).not.toBeNull();
      expect([reviewed(sent.lines), converted(sent.lines)]).toEqual([[], []]);
      const created = await quickLedger.create(id, command, now, prepared.interaction, prepared.routing ? { routing: prepared.routing } : undefined);
      expect(await quick.deliver(created.record!, prepared)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(reviewed(sent.lines)).toHaveLength(1);
      expect(converted(sent.lines)).toHaveLength(1);
    });

    it('prepares nothing when something must be read, emitted or waited for first', async () => {
      const { service } = setup();
      const draft = (command: PaymentCommand) => draftRecord(command.payment.operation_reference!, command, Date.now());
      // A capture looks up its authorization; a refund sends PENDINGRELEASE first; an unknown gateway is refused.
      expect(service.prepareFirstAttempt(draft(channelCommand('capture', {}, { gateway_key: 'auth-1' })))).toBeNull();
      expect(service.prepareFirstAttempt(draft(channelCommand('refund', {}, { gateway_key: 'auth-1' })))).toBeNull();
      expect(service.prepareFirstAttempt(draft(channelCommand('authorize', {}, { gateway: 'nowhere' })))).toBeNull();
      // An open breaker: the plain path waits instead of calling.
      const breaker = service.breaker('simulator');
      for (let i = 0; i < 3; i++) breaker.failure();
      expect(service.prepareFirstAttempt(draft(channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' })))).toBeNull();
    });

    it('prepares nothing for a command older than delivery.max_age_ms', () => {
      const { service } = setup({ 'delivery.max_age_ms': 1000 });
      const command = channelCommand('authorize', { received_at: new Date(Date.now() - 5000).toISOString() }, { gateway_key: 'pm_card_visa' });
      expect(service.prepareFirstAttempt(draftRecord(command.payment.operation_reference!, command, Date.now()))).toBeNull();
    });
  });

  describe('a plan the plain path makes (created first, then delivered)', () => {
    it("counts and logs a plain-path plan's risk and FX decisions once, when its attempt goes out: not for each delivery that waits behind an open breaker", async () => {
      const limits = {
        'risk.rules': [{ name: 'big-usd-plain', when: ['high_amount'], action: 'psp_review' }],
        'risk.amount_thresholds': { USD: 10000 },
        'fx.settlement_currencies': { simulator: ['EUR'] },
        'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
      };
      const reviewedCount = () => metricValue('pb_risk_decisions_total', { action: 'psp_review', rule: 'big-usd-plain' });
      const convertedCount = () => metricValue('pb_fx_decisions_total', { gateway: 'simulator', result: 'converted', source: 'configured' });
      const routed = () => metricValue('pb_routing_decisions_total', { stage: 'risk', outcome: 'changed' });
      const reviewed = (lines: string[]) => lines.filter((l) => l.includes('risk rules ask the PSP risk engine'));
      const converted = (lines: string[]) => lines.filter((l) => l.includes('payment converted at a locked rate'));
      const logs = captureLogger('info');
      const { service, ledger } = setup(limits, logs.logger);
      const breaker = service.breaker('simulator');
      for (let i = 0; i < 3; i++) breaker.failure();
      const before = [await reviewedCount(), await convertedCount(), await routed()];
      // The plain path (created first, then delivered), decided again on each delivery behind the open breaker: nothing
      // went out, so nothing is counted or logged for its decisions.
      const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' }));
      for (let i = 0; i < 3; i++) expect((await service.deliver(id)).kind).toBe('wait');
      expect([await reviewedCount(), await convertedCount(), await routed()]).toEqual(before);
      expect([reviewed(logs.lines), converted(logs.lines)]).toEqual([[], []]);
      // The breaker closes: the attempt that goes out carries the plan, counted and logged once, with its operation.
      breaker.success();
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect([await reviewedCount(), await convertedCount(), await routed()]).toEqual(before.map((n) => n + 1));
      expect(reviewed(logs.lines)).toHaveLength(1);
      expect(converted(logs.lines)).toHaveLength(1);
      expect(JSON.parse(reviewed(logs.lines)[0])).toMatchObject({ level: 'info', operation_id: id, rule: 'big-usd-plain' });
      expect(JSON.parse(converted(logs.lines)[0])).toMatchObject({ level: 'info', operation_id: id, gateway: 'simulator' });
      // Delivered again once decided (a duplicate job): nothing more.
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect([await reviewedCount(), await convertedCount()]).toEqual([before[0] + 1, before[1] + 1]);
      expect([reviewed(logs.lines), converted(logs.lines)].map((l) => l.length)).toEqual([1, 1]);
    });

    it("counts and logs nothing of a plain-path plan whose move to SENT did not apply (another worker decided the operation meanwhile): that attempt is the other's to count", async () => {
      const limits = {
        'risk.rules': [{ name: 'big-usd-raced', when: ['high_amount'], action: 'psp_review' }],
        'risk.amount_thresholds': { USD: 10000 },
      };
      const reviewedCount = () => metricValue('pb_risk_decisions_total', { action: 'psp_review', rule: 'big-usd-raced' });
      const routed = () => metricValue('pb_routing_decisions_total', { stage: 'risk', outcome: 'changed' });
      const logs = captureLogger('info');
      const { service, ledger } = setup(limits, logs.logger);
      const before = [await reviewedCount(), await routed()];
      const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' }));
      // Between this worker's plan and its move to SENT, another sends it and records its outcome.
      const move = ledger.transition.bind(ledger);
      let raced = false;
      const race = jest.spyOn(ledger, 'transition').mockImplementation(async (...args) => {
        if (!raced && args[0] === id && args[1] === 'SENT') {
          raced = true;
          expect((await move(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
          expect((await move(id, 'SUCCEEDED', { event: 'outcome' })).applied).toBe(true);
        }
        return move(...args);
      });
      try {
        expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      } finally {
        race.mockRestore();
      }
      expect(raced).toBe(true);
      expect([await reviewedCount(), await routed()]).toEqual(before);
      expect(logs.lines.filter((l) => l.includes('risk rules ask the PSP risk engine') && l.includes(id))).toEqual([]);
    });

    it('counts and logs a plain-path risk decline once, when its refusal is on record: not when it lost to another worker that sent the operation meanwhile', async () => {
      const limits = {
        'risk.rules': [{ name: 'far-usd-plain', when: ['high_amount', 'country_mismatch'], action: 'decline' }],
        'risk.amount_thresholds': { USD: 10000 },
      };
      const far = () =>
        channelCommand(
          'authorize',
          {},
          { gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD', custom_attributes: { billing_country: 'FR', card_country: 'BR' } },
        );
      const declinedCount = (action: string) => metricValue('pb_risk_decisions_total', { action, rule: 'far-usd-plain' });
      const declined = (lines: string[]) => lines.filter((l) => l.includes('authorization declined by the risk rules'));
      const logs = captureLogger('info');
      const { service, ledger } = setup(limits, logs.logger);
      const [before, lostBefore] = [await declinedCount('decline'), await declinedCount('refusal_lost')];
      // Lost: another worker sends it between this worker's decision and its FAIL. Not declined: no line, counted apart.
      const lostId = await record(ledger, far());
      const write = ledger.transitionAndRecord.bind(ledger);
      let raced = false;
      const race = jest.spyOn(ledger, 'transitionAndRecord').mockImplementation(async (...args) => {
        if (!raced && args[1] === 'FAILED') {
          raced = true;
          expect((await ledger.transition(lostId, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
        }
        return write(...args);
      });
      try {
        expect(await service.deliver(lostId)).toEqual({ kind: 'done', state: 'SENT' });
      } finally {
        race.mockRestore();
      }
      expect(raced).toBe(true);
      expect(declined(logs.lines)).toEqual([]);
      // Nor delivery's own refusal line: that worker's attempt stands, not this refusal.
      const refusedLine = (opId: string) => logs.lines.filter((l) => l.includes('operation refused by orchestration') && l.includes(opId));
      expect(refusedLine(lostId)).toEqual([]);
      expect([await declinedCount('decline'), await declinedCount('refusal_lost')]).toEqual([before, lostBefore + 1]);
      // On record: counted and logged once.
      const id = await record(ledger, far());
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(declined(logs.lines)).toHaveLength(1);
      expect(JSON.parse(declined(logs.lines)[0])).toMatchObject({ level: 'warn', operation_id: id, rule: 'far-usd-plain' });
      expect(refusedLine(id)).toHaveLength(1);
      expect(await declinedCount('decline')).toBe(before + 1);
    });
  });
});

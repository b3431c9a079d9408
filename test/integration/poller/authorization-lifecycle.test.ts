import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { bullJobId } from '../../../src/queueing/job-id';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { CLOSE_AUTHORIZATION_SCRIPT } from '../../../src/ledger/authorization-by-reference';
import { Ledger, TransitionFields } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { LifecycleSweep } from '../../../src/poller/lifecycle-sweep';
import { voidCommand, voidOperationId } from '../../../src/poller/orphan-reversal';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { FxLock, lockDetails } from '../../../src/fx/fx-lock';
import { RoutingRecord } from '../../../src/ledger/routing-record';
import { runPollProcess } from '../../../src/processes/poll-process';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-lifecycle-test-key-0123456789';
const DAY = 24 * 3600 * 1000;

let sim: PspSimulator;
let redis: RedisClient;
const closers: Array<() => Promise<void>> = [];
const configs: Config[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  redis?.disconnect();
  await sim.stop();
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

interface Setup {
  config: Config;
  ledger: Ledger;
  events: EventStore;
  service: DeliveryService;
  deliveryQueue: Queue<DeliveryJobData>;
  eventsQueue: Queue<OmsEventJobData>;
  /** A lifecycle sweep whose clock is `offsetMs` ahead. */
  sweep(offsetMs: number, logger?: ReturnType<typeof silentLogger>): LifecycleSweep;
  /** What `sweep` builds one of (now), for a sweep with a logger of its own. */
  sweepDeps: ConstructorParameters<typeof LifecycleSweep>[0];
}

/** Real Redis, the real simulator, delivery as the worker runs it; its own namespace. */
function setup(overrides: Record<string, unknown> = {}): Setup {
  const config = testConfig({
    'authorizations.orphan_reversal': 'on',
    'authorizations.orphan_void_after_ms': 4 * DAY,
    ...overrides,
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-lifecycle-test-0123456789', timeout_ms: 2000 } },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  closers.push(
    () => eventsQueue.close(),
    () => deliveryQueue.close(),
  );
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  const sweep = (offsetMs: number, log = logger) =>
    new LifecycleSweep({ config, redis, ledger, recorder, deliveryQueue, logger: log, now: () => Date.now() + offsetMs });
  const sweepDeps = { config, redis, ledger, recorder, deliveryQueue, logger };
  return { config, ledger, events, service, deliveryQueue, eventsQueue, sweep, sweepDeps };
}

async function deliver(s: Setup, command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await s.ledger.create(id, command);
  await s.service.deliver(id);
  return id;
}

/** A successful authorization at the simulator, recorded as the worker records it (commands on it name its order). */
async function authorized(s: Setup): Promise<{ id: string; reference: string; order_id?: string }> {
  const id = await deliver(s, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
  const op = await s.ledger.get(id);
  expect(op?.state).toBe('SUCCEEDED');
  return { id, reference: op!.gatewayReference!, order_id: op!.payment.order_id };
}

/**
 * `command` moved straight in the ledger to SUCCEEDED with the PSP reference `reference` (indexed), and
 * `fields`: for the cases delivery through the simulator cannot produce (a PSP answering a capture with
 * the authorization's own reference, a resolved id the reference entry does not name).
 */
async function succeededInLedger(s: Setup, command: PaymentCommand, reference: string, fields: TransitionFields): Promise<string> {
  const id = command.payment.operation_reference!;
  await s.ledger.create(id, command);
  await s.ledger.transition(id, 'SENT', { event: 'attempt' });
  await s.ledger.transitionAndGet(
    id,
    'SUCCEEDED',
    { event: 'outcome' },
    { gatewayReference: reference, ...fields },
    { reference: { gateway: 'simulator', reference } },
  );
  return id;
}

/** The authorization as the simulator holds it now. */
async function pspStatus(reference: string): Promise<string> {
  const res = await fetch(`${sim.url}/v1/authorizations/${reference}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return ((await res.json()) as { status: string }).status;
}

/** `id`'s score in an authorization lifecycle index of its shard (`null`: not in it). */
async function indexScore(ledger: Ledger, index: 'expiry' | 'open', id: string): Promise<string | null> {
  const shard = await ledger.shardOf(id);
  if (shard === null) return null;
  const keys = ledger.keysOf(shard);
  return redis.zscore(index === 'expiry' ? keys.authsExpiry : keys.authsOpen, id);
}

describe('authorization expiry', () => {
  it('a successful authorization carries its expiry and is indexed in the same transition', async () => {
    const s = setup();
    const before = Date.now();
    const { id } = await authorized(s);
    const op = await s.ledger.get(id);
    // Counted from the simulator's time of the authorization (`created`, whole seconds).
    expect(op?.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 7 * DAY);
    expect(op?.expiresAt).toBeLessThanOrEqual(Date.now() + 7 * DAY);
    expect(Number(await indexScore(s.ledger, 'expiry', id))).toBe(op?.expiresAt);
    expect(await indexScore(s.ledger, 'open', id)).not.toBeNull();
    // The OMS learns it with the authorization's own event.
    expect((await s.events.load(`${id}.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS', expires_at: new Date(op!.expiresAt!).toISOString() });
  });

  it('a sale or a failed authorization is not tracked', async () => {
    const s = setup();
    const sale = await deliver(s, channelCommand('sale', {}, { gateway_key: 'pm_card_visa' }));
    const declined = await deliver(s, channelCommand('authorize', {}, { gateway_key: 'pm_card_declined' }));
    expect((await s.ledger.get(declined))?.state).toBe('FAILED');
    for (const id of [sale, declined]) expect(await indexScore(s.ledger, 'expiry', id)).toBeNull();
  });

  it('sends the expiring event once, however often the sweep runs, with expires_at, capturable amount, currency, order and gateway', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'off' });
    const { id } = await authorized(s);
    const before = await metricValue('pb_authorizations_expiring_total', { gateway: 'simulator' });
    expect((await s.sweep(0).runOnce()).expiry.warned).toBe(0); // 7 days out: not yet
    const first = await s.sweep(6.5 * DAY).runOnce();
    const second = await s.sweep(6.6 * DAY).runOnce();
    expect(first.expiry.warned).toBe(1);
    expect(second.expiry.warned).toBe(0);
    expect(await metricValue('pb_authorizations_expiring_total', { gateway: 'simulator' })).toBe(before + 1);
    const event = await s.events.load(`${id}.expiring`);
    const op = await s.ledger.get(id);
    expect(event?.method).toBe(s.config.serviceBus.methods.notifications.authorization_expiring);
    expect(event?.params.payment).toMatchObject({
      operation_reference: id,
      expires_at: new Date(op!.expiresAt!).toISOString(),
      amount_capturable: op!.payment.amount,
      currency: op!.payment.currency,
      order_id: op!.payment.order_id,
      gateway: 'simulator',
      event_id: `${id}.expiring`,
    });
    expect(await s.eventsQueue.getJob(bullJobId(`${id}.expiring`))).toBeDefined();
  });

  it('a capture that answers with the same PSP reference as its authorization (a Stripe PaymentIntent) still closes it', async () => {
    const s = setup();
    const authId = await succeededInLedger(s, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }), 'pi_same', { expiresAt: Date.now() + DAY });
    const captureId = await succeededInLedger(s, channelCommand('capture', {}, { gateway_key: 'pi_same' }), 'pi_same', {
      closesAuthorization: { gateway: 'simulator', key: 'pi_same' },
    });
    expect(await s.ledger.findByReference('simulator', 'pi_same')).toBe(captureId);
    expect((await s.ledger.get(authId))?.closedBy).toBe(captureId);
    expect(await indexScore(s.ledger, 'expiry', authId)).toBeNull();
  });

  it('a captured authorization gets no expiring event', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'off' });
    const { id, reference, order_id } = await authorized(s);
    await deliver(s, channelCommand('capture', {}, { gateway_key: reference, amount: 1999, order_id }));
    expect((await s.sweep(6.5 * DAY).runOnce()).expiry.warned).toBe(0);
    expect(await s.events.load(`${id}.expiring`)).toBeNull();
    expect((await s.ledger.get(id))?.closedBy).toBeDefined();
  });

  it('a captured authorization still open (its closing never written) gets no expiring event: the expiry sweep closes it', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'off' });
    const { id, reference, order_id } = await authorized(s);
    const capture = await deliver(s, channelCommand('capture', {}, { gateway_key: reference, amount: 1999, order_id }));
    const auth = await s.ledger.get(id);
    const keys = s.ledger.keysOf((await s.ledger.shardOf(id))!);
    await redis.zadd(keys.authsExpiry, auth!.expiresAt!, id);
    await redis.zadd(keys.authsOpen, Date.now() + 4 * DAY, id);
    await redis.hdel(keys.op(id), 'closed_by');
    const before = await metricValue('pb_authorization_closings_finished_total', { sweep: 'expiry' });
    const run = await s.sweep(6.5 * DAY).runOnce();
    expect(run.expiry).toMatchObject({ due: 1, warned: 0, dropped: 1 });
    expect(await s.events.load(`${id}.expiring`)).toBeNull();
    expect(await metricValue('pb_authorization_closings_finished_total', { sweep: 'expiry' })).toBe(before + 1);
    expect((await s.ledger.get(id))?.closedBy).toBe(capture);
    expect(await indexScore(s.ledger, 'expiry', id)).toBeNull();
    expect(await indexScore(s.ledger, 'open', id)).toBeNull();
  });

  it('a cancelled authorization still open (its closing never written) gets no expiring event: the expiry sweep closes it', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'off' });
    const { id } = await authorized(s);
    // Named by our id without the order id: the cancel's anchor is the authorization id, not its order.
    const cancel = await deliver(s, channelCommand('cancel', {}, { gateway_key: id, amount: 1999, order_id: undefined }));
    expect((await s.ledger.get(cancel))?.state).toBe('SUCCEEDED');
    const auth = await s.ledger.get(id);
    const keys = s.ledger.keysOf((await s.ledger.shardOf(id))!);
    await redis.zadd(keys.authsExpiry, auth!.expiresAt!, id);
    await redis.hdel(keys.op(id), 'closed_by');
    const run = await s.sweep(6.5 * DAY).runOnce();
    expect(run.expiry).toMatchObject({ due: 1, warned: 0, dropped: 1 });
    expect(await s.events.load(`${id}.expiring`)).toBeNull();
    expect((await s.ledger.get(id))?.closedBy).toBe(cancel);
    expect(await indexScore(s.ledger, 'expiry', id)).toBeNull();
  });

  it('a capture naming its authorization by PSP reference records the authorization id with its attempt and closes it in its outcome script', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'off' });
    const { id, reference, order_id } = await authorized(s);
    // Observed, not replaced: the separate closing script is what the resolved id saves.
    const closing = jest.spyOn(CLOSE_AUTHORIZATION_SCRIPT, 'run');
    try {
      const captureId = await deliver(s, channelCommand('capture', {}, { gateway_key: reference, amount: 1999, order_id }));
      expect(await s.ledger.get(captureId)).toMatchObject({ state: 'SUCCEEDED', authorizationId: id });
      expect((await s.ledger.get(id))?.closedBy).toBe(captureId);
      expect(await indexScore(s.ledger, 'open', id)).toBeNull();
      expect(await indexScore(s.ledger, 'expiry', id)).toBeNull();
      expect(closing).not.toHaveBeenCalled();
    } finally {
      closing.mockRestore();
    }
  });

  it('a resolved authorization id the reference entry does not name closes nothing of its own: the referenced authorization is closed', async () => {
    const s = setup();
    const order = { order_id: `ord-${Date.now()}` };
    const succeeded = (ref: string) =>
      succeededInLedger(s, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', ...order }), ref, { expiresAt: Date.now() + DAY });
    const named = await succeeded(`pi_named_${Date.now()}`);
    const other = await succeeded(`pi_other_${Date.now()}`);
    const capture = channelCommand('capture', {}, { gateway_key: (await s.ledger.get(named))!.gatewayReference!, ...order });
    const captureId = await succeededInLedger(s, capture, `cap_${capture.payment.operation_reference}`, {
      closesAuthorization: { gateway: 'simulator', key: capture.payment.gateway_key, id: other },
    });
    expect((await s.ledger.get(named))?.closedBy).toBe(captureId);
    expect(await indexScore(s.ledger, 'open', named)).toBeNull();
    expect((await s.ledger.get(other))?.closedBy).toBeUndefined();
    expect(await indexScore(s.ledger, 'open', other)).not.toBeNull();
  });
});

describe('orphan reversal', () => {
  it('a channel command sent with the reference <authorization id>-void is not taken for the void: the authorization is still voided, under an id no channel can send', async () => {
    const s = setup();
    const { id } = await authorized(s);
    const squatter = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', operation_reference: `${id}-void` });
    await s.ledger.create(`${id}-void`, squatter);
    const run = await s.sweep(5 * DAY).runOnce();
    expect(run.orphans.decisions).toEqual([expect.objectContaining({ authorizationId: id, voidId: `_${id}.void`, outcome: 'voided' })]);
    expect(await s.ledger.get(`_${id}.void`)).toMatchObject({ command: 'cancel', channel: 'bridge', state: 'RECEIVED' });
    expect((await s.ledger.get(`${id}-void`))?.channel).toBe('web');
  });

  it('a void the bridge made under the earlier naming (<authorization id>-void) is its void: never a second one', async () => {
    const s = setup();
    const { id } = await authorized(s);
    const auth = (await s.ledger.get(id))!;
    const earlier = voidCommand(auth, 'uncaptured_past_age', id, Date.now());
    await s.ledger.create(`${id}-void`, { ...earlier, payment: { ...earlier.payment, operation_reference: `${id}-void` } });
    const run = await s.sweep(5 * DAY).runOnce();
    expect(run.orphans.decisions).toEqual([expect.objectContaining({ authorizationId: id, voidId: `${id}-void`, outcome: 'already_requested' })]);
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
  });

  it('voids an authorization uncaptured past its orphan age exactly once, and the OMS gets the cancel with the reason', async () => {
    const s = setup();
    const { id, reference } = await authorized(s);
    const before = await metricValue('pb_orphan_reversals_total', { gateway: 'simulator', mode: 'on', reason: 'uncaptured_past_age' });
    const capture = captureLogger('warn');
    expect((await s.sweep(3 * DAY).runOnce()).orphans.voided).toBe(0); // younger than 4 days
    const first = await s.sweep(5 * DAY, capture.logger).runOnce();
    const second = await s.sweep(5 * DAY).runOnce();
    const voidId = voidOperationId(id);
    expect(first.orphans.decisions).toEqual([expect.objectContaining({ authorizationId: id, voidId, outcome: 'voided', reason: 'uncaptured_past_age' })]);
    expect(second.orphans.voided).toBe(0);
    expect(await metricValue('pb_orphan_reversals_total', { gateway: 'simulator', mode: 'on', reason: 'uncaptured_past_age' })).toBe(before + 1);
    const warnings = capture.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === 'warn' && /orphan reversal/.test(String(l.message)));
    expect(warnings).toEqual([
      expect.objectContaining({ operation_id: id, void_operation_id: voidOperationId(id), mode: 'on', reason: 'uncaptured_past_age' }),
    ]);

    // One operation, one job; the worker delivers it like any cancel.
    const voidOp = await s.ledger.get(voidId);
    expect(voidOp).toMatchObject({ command: 'cancel', channel: 'bridge', state: 'RECEIVED' });
    expect(voidOp?.payment).toMatchObject({ gateway_key: id, orphan_reversal: 'uncaptured_past_age', amount: 1999 });
    expect(await s.deliveryQueue.getJob(bullJobId(voidId))).toBeDefined();
    expect(await s.deliveryQueue.count()).toBe(1);
    expect(await s.service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    expect(await pspStatus(reference)).toBe('cancelled');
    expect(sim.counters().effects[voidId]).toBe(1);
    const event = await s.events.load(`${voidId}.SUCCEEDED`);
    expect(event?.method).toBe(s.config.serviceBus.methods.notifications.cancelled);
    expect(event?.params.payment).toMatchObject({ status: 'SUCCESS', orphan_reversal: 'uncaptured_past_age', order_id: voidOp?.payment.order_id });
    // The void closed it: later sweeps have nothing to do.
    expect(await indexScore(s.ledger, 'open', id)).toBeNull();
    expect((await s.sweep(5 * DAY).runOnce()).orphans.candidates).toBe(0);
  });

  it('in dry run voids nothing and reports what it would void', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'dry_run' });
    const { id, reference } = await authorized(s);
    const before = await metricValue('pb_orphan_reversals_total', { gateway: 'simulator', mode: 'dry_run', reason: 'uncaptured_past_age' });
    const first = await s.sweep(5 * DAY).runOnce();
    const second = await s.sweep(5 * DAY).runOnce();
    for (const run of [first, second])
      expect(run.orphans.decisions).toEqual([expect.objectContaining({ authorizationId: id, outcome: 'would_void', reason: 'uncaptured_past_age' })]);
    expect(first.orphans).toMatchObject({ mode: 'dry_run', wouldVoid: 1, voided: 0 });
    expect(await metricValue('pb_orphan_reversals_total', { gateway: 'simulator', mode: 'dry_run', reason: 'uncaptured_past_age' })).toBe(before + 1);
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    expect(await s.deliveryQueue.count()).toBe(0);
    expect(await pspStatus(reference)).toBe('authorized');
  });

  it('never voids a captured authorization', async () => {
    const s = setup();
    const { id, reference, order_id } = await authorized(s);
    const capture = await deliver(s, channelCommand('capture', {}, { gateway_key: reference, amount: 1999, order_id }));
    expect((await s.ledger.get(capture))?.state).toBe('SUCCEEDED');
    const run = await s.sweep(5 * DAY).runOnce();
    expect(run.orphans.voided).toBe(0);
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    expect(await pspStatus(reference)).toBe('captured');
  });

  it.each([
    ['capture', 'captured'],
    ['cancel', 'cancelled'],
  ] as const)(
    'an authorization still open after a %s of it succeeded (a crash between that move and its closing in another shard) is closed by the sweep, never voided',
    async (command, pspState) => {
      const s = setup();
      const { id, reference } = await authorized(s);
      // No order id, named by PSP reference: the closer lives in another shard than its authorization (15 times in 16).
      const closer = await deliver(s, channelCommand(command, {}, { gateway_key: reference, amount: 1999, order_id: undefined }));
      expect(await s.ledger.get(closer)).toMatchObject({ state: 'SUCCEEDED', authorizationId: id });
      // Registered on its authorization at its first attempt: what the sweep finds it by.
      expect((await s.ledger.dependentsOf(id)).map((d) => d.id)).toEqual([closer]);
      // What the crash leaves: the closer succeeded, the authorization's closing never written.
      const keys = s.ledger.keysOf((await s.ledger.shardOf(id))!);
      await redis.zadd(keys.authsOpen, Date.now() - DAY, id);
      await redis.hdel(keys.op(id), 'closed_by');
      const before = await metricValue('pb_authorization_closings_finished_total', { sweep: 'orphan_reversal' });
      const run = await s.sweep(5 * DAY).runOnce();
      expect(run.orphans.decisions).toEqual([expect.objectContaining({ authorizationId: id, outcome: 'skipped', skipped: 'closed' })]);
      expect(await metricValue('pb_authorization_closings_finished_total', { sweep: 'orphan_reversal' })).toBe(before + 1);
      expect((await s.ledger.get(id))?.closedBy).toBe(closer);
      expect(await indexScore(s.ledger, 'open', id)).toBeNull();
      expect(await s.ledger.get(voidOperationId(id))).toBeNull();
      expect(await pspStatus(reference)).toBe(pspState);
      // The next pass finds nothing to decide.
      expect((await s.sweep(5 * DAY).runOnce()).orphans.candidates).toBe(0);
    },
  );

  it("never voids an authorization whose capture FAILED for a reason its PSP retries itself (held for the PSP's re-capture); one whose capture simply FAILED is voided", async () => {
    for (const held of [true, false]) {
      const s = setup();
      const { id, order_id } = await authorized(s);
      const command = channelCommand('capture', {}, { gateway_key: id, amount: 1999, order_id });
      const capture = command.payment.operation_reference!;
      await s.ledger.create(capture, command);
      // Registered on its authorization as delivery registers it, then sent and failed.
      expect(await s.ledger.authorizationView(id, capture)).not.toBeNull();
      await s.ledger.transition(capture, 'SENT', { event: 'attempt' });
      // What a technical CAPTURE_FAILED leaves (the PSP captured nothing yet; Adyen re-captures it itself).
      const reason = 'Capture rejected by card scheme because of a technical issue.';
      await s.ledger.transition(capture, 'FAILED', { event: 'outcome' }, { reason, ...(held ? { heldForPspRetry: reason } : {}) });
      expect((await s.ledger.dependentsOf(id)).map((d) => d.heldForPspRetry)).toEqual([held ? true : undefined]);
      const run = await s.sweep(5 * DAY).runOnce();
      const decision = run.orphans.decisions.find((d) => d.authorizationId === id);
      if (held) {
        expect(decision).toMatchObject({ outcome: 'skipped', skipped: 'capture_held_for_psp_retry' });
        expect(await s.ledger.get(voidOperationId(id))).toBeNull();
      } else {
        expect(decision).toMatchObject({ outcome: 'voided' });
      }
    }
  });

  it('never voids an authorization whose capture is in flight', async () => {
    const s = setup();
    const { id, reference, order_id } = await authorized(s);
    const command = channelCommand('capture', {}, { gateway_key: reference, amount: 1999, order_id });
    await s.ledger.create(command.payment.operation_reference!, command); // recorded, not delivered yet
    const run = await s.sweep(5 * DAY).runOnce();
    expect(run.orphans.decisions).toEqual([expect.objectContaining({ authorizationId: id, outcome: 'skipped', skipped: 'dependent_in_flight' })]);
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
    expect(await pspStatus(reference)).toBe('authorized');
  });

  it('an authorization routed to another gateway than requested is superseded by a later operation holding its reference at that gateway: never voided', async () => {
    const s = setup();
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' });
    const id = command.payment.operation_reference!;
    const routing = { gateway: 'simb', requested: 'simulator', candidates: ['simulator', 'simb'], index: 1, decisions: [] };
    const reference = `pi_routed_${id}`;
    await s.ledger.create(id, command, Date.now(), undefined, { routing });
    await s.ledger.transition(id, 'SENT', { event: 'attempt' });
    await s.ledger.transitionAndGet(
      id,
      'SUCCEEDED',
      { event: 'outcome' },
      { gatewayReference: reference, expiresAt: Date.now() + 30 * DAY, orphanAt: Date.now() + 4 * DAY },
      { reference: { gateway: 'simb', reference } },
    );
    // A later operation (a re-authorization of the same PSP object) now owns the reference at simb.
    const later = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', order_id: command.payment.order_id });
    const laterId = later.payment.operation_reference!;
    await s.ledger.create(laterId, later, Date.now(), undefined, { routing: { ...routing } });
    await s.ledger.transition(laterId, 'SENT', { event: 'attempt' });
    await s.ledger.transitionAndGet(laterId, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: reference }, { reference: { gateway: 'simb', reference } });
    expect(await s.ledger.findByReference('simb', reference)).toBe(laterId);

    const run = await s.sweep(5 * DAY).runOnce();

    expect(run.orphans.decisions).toContainEqual(expect.objectContaining({ authorizationId: id, outcome: 'skipped', skipped: 'superseded' }));
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
  });

  it('voids a partially approved authorization for what it holds, not for what was asked', async () => {
    const s = setup();
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 1000 });
    const id = await succeededInLedger(s, command, `pa_${command.payment.operation_reference!}`, {
      confirmedAmount: 600,
      confirmedCurrency: 'EUR',
      expiresAt: Date.now() + 30 * DAY,
      orphanAt: Date.now() + 4 * DAY,
    });

    const run = await s.sweep(5 * DAY).runOnce();

    expect(run.orphans.decisions).toContainEqual(expect.objectContaining({ authorizationId: id, outcome: 'voided' }));
    expect((await s.ledger.get(voidOperationId(id)))?.payment).toMatchObject({ amount: 600, currency: 'EUR', gateway_key: id });
    // The authorization's own history says what was reversed, and on what basis.
    expect(await s.ledger.interactions(id)).toContainEqual(
      expect.objectContaining({
        event: 'orphan_reversal',
        outcome: 'voided',
        mode: 'on',
        reason: 'uncaptured_past_age',
        reversal: 'void',
        reversal_operation_id: voidOperationId(id),
        amount: 600,
        currency: 'EUR',
        amount_basis: 'confirmed',
      }),
    );
  });

  it("the OMS told it failed (its refusal carried 0), the PSP approved EUR 40.00 after all: the void by PSP reference is sent for EUR 40.00, not cut to the refusal's 0", async () => {
    const s = setup();
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 7000, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    const reference = `pa_refused_${id}`;
    await s.ledger.create(id, command);
    await s.ledger.transition(id, 'SENT', { event: 'attempt' });
    await s.ledger.transitionAndGet(
      id,
      'FAILED',
      { event: 'outcome' },
      { gatewayReference: reference, reason: 'do_not_honor', confirmedAmount: 0, confirmedCurrency: 'EUR' },
      { reference: { gateway: 'simulator', reference } },
    );
    const decision = await new LifecycleSweep(s.sweepDeps).orphans.request(id, 'oms_told_failed', {
      pspReference: reference,
      confirmed: { amount: 4000, currency: 'EUR' },
    });
    expect(decision).toMatchObject({ outcome: 'voided', amount: 4000, currency: 'EUR', amountBasis: 'confirmed' });
    const voidOp = (await s.ledger.get(voidOperationId(id)))!;
    expect(voidOp.payment).toMatchObject({ amount: 4000, gateway_key: reference });
    const resolved = await resolveOperationContext(voidOp, s.ledger, { checkAmounts: true });
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 4000, currency: 'EUR', gateway_key: reference });
  });

  describe('a converted authorization (EUR 70.00 sent as USD 77.00 at a locked rate of 1.1)', () => {
    const lock: FxLock = {
      rate: '1.1',
      source: 'test',
      at: new Date().toISOString(),
      from: { amount: 7000, currency: 'EUR' },
      to: { amount: 7700, currency: 'USD' },
    };
    const routing: RoutingRecord = {
      gateway: 'simulator',
      requested: 'simulator',
      candidates: ['simulator'],
      index: 0,
      decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['settlement_currency'], details: lockDetails(lock) }],
      amount: 7700,
      currency: 'USD',
    };

    it("the OMS told it failed, the PSP approved USD 40.00 after all: the void asks the PSP for USD 40.00, not the order's EUR 70.00; the history and log line say so", async () => {
      const s = setup();
      const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 7000, currency: 'EUR' });
      const id = command.payment.operation_reference!;
      await s.ledger.create(id, command, Date.now(), undefined, { routing });
      await s.ledger.transition(id, 'FAILED', { event: 'test' }, { reason: 'UNRESPONSIVE' });
      const capture = captureLogger('warn');
      const orphans = new LifecycleSweep({ ...s.sweepDeps, logger: capture.logger }).orphans;
      const decision = await orphans.request(id, 'oms_told_failed', { pspReference: `pi_fx_${id}`, confirmed: { amount: 4000, currency: 'USD' } });
      expect(decision).toMatchObject({
        outcome: 'voided',
        amount: 4000,
        currency: 'USD',
        amountBasis: 'confirmed',
        commandAmount: 3636,
        commandCurrency: 'EUR',
      });
      const voidOp = (await s.ledger.get(voidOperationId(id)))!;
      // The OMS hears the order's currency; the PSP is asked its own figure.
      expect(voidOp.payment).toMatchObject({ amount: 3636, currency: 'EUR', gateway_key: `pi_fx_${id}` });
      const resolved = await resolveOperationContext(voidOp, s.ledger, { checkAmounts: true });
      expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 4000, currency: 'USD', gateway: 'simulator' });
      expect(await s.ledger.interactions(id)).toContainEqual(
        expect.objectContaining({
          event: 'orphan_reversal',
          amount: 4000,
          currency: 'USD',
          amount_basis: 'confirmed',
          command_amount: 3636,
          command_currency: 'EUR',
        }),
      );
      const line = capture.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === id && l.level === 'warn');
      expect(line).toMatchObject({
        message: 'orphan reversal: voiding an authorization nothing will capture',
        amount: 4000,
        currency: 'USD',
        amount_basis: 'confirmed',
      });
    });

    it('uncaptured past its age, approved for USD 40.00 only: voided for that, in USD, the decision and history saying so', async () => {
      const s = setup();
      const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 7000, currency: 'EUR' });
      const id = command.payment.operation_reference!;
      const reference = `pa_fx_${id}`;
      await s.ledger.create(id, command, Date.now(), undefined, { routing });
      await s.ledger.transition(id, 'SENT', { event: 'attempt' });
      await s.ledger.transitionAndGet(
        id,
        'SUCCEEDED',
        { event: 'outcome' },
        { gatewayReference: reference, confirmedAmount: 4000, confirmedCurrency: 'USD', expiresAt: Date.now() + 30 * DAY, orphanAt: Date.now() + 4 * DAY },
        { reference: { gateway: 'simulator', reference } },
      );
      const run = await s.sweep(5 * DAY).runOnce();
      expect(run.orphans.decisions).toContainEqual(
        expect.objectContaining({ authorizationId: id, outcome: 'voided', amount: 4000, currency: 'USD', amountBasis: 'confirmed' }),
      );
      const voidOp = (await s.ledger.get(voidOperationId(id)))!;
      expect(voidOp.routing).toMatchObject({ gateway: 'simulator', amount: 4000, currency: 'USD' });
      const resolved = await resolveOperationContext(voidOp, s.ledger, { checkAmounts: true });
      expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 4000, currency: 'USD', gateway_key: reference });
      expect(await s.ledger.interactions(id)).toContainEqual(expect.objectContaining({ event: 'orphan_reversal', amount: 4000, currency: 'USD' }));
    });

    it("failed over from a gateway where it was converted, which then approved USD 40.00 after all: that gateway's void asks USD 40.00 there, not the order's EUR 70.00", async () => {
      const s = setup();
      const command = channelCommand('authorize', {}, { gateway: 'simb', gateway_key: 'pm_card_visa', amount: 7000, currency: 'EUR' });
      const id = command.payment.operation_reference!;
      // Converted at simb (its rate kept with the failover step), not at the simulator it moved to, which approved it all.
      const movedOn: RoutingRecord = {
        gateway: 'simulator',
        requested: 'simb',
        candidates: ['simb', 'simulator'],
        index: 1,
        decisions: [],
        failovers: [{ from: 'simb', to: 'simulator', trigger: 'not_sent', at: Date.now(), fx: lockDetails(lock) }],
      };
      await s.ledger.create(id, command, Date.now(), undefined, { routing: movedOn });
      await s.ledger.transition(id, 'SENT', { event: 'attempt' });
      await s.ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `pa_${id}`, confirmedAmount: 7000, confirmedCurrency: 'EUR' });
      const op = (await s.ledger.get(id))!;
      const capture = captureLogger('warn');
      const orphans = new LifecycleSweep({ ...s.sweepDeps, logger: capture.logger }).orphans;
      const decision = await orphans.requestAtEarlierGateway(op, 'simb', `pb_${id}`, { amount: 4000, currency: 'USD' });
      expect(decision).toMatchObject({
        outcome: 'voided',
        gateway: 'simb',
        reason: 'failover_duplicate',
        amount: 4000,
        currency: 'USD',
        amountBasis: 'confirmed',
        commandAmount: 3636,
        commandCurrency: 'EUR',
      });
      const voidOp = (await s.ledger.get(voidOperationId(`${id}-simb`)))!;
      expect(voidOp.payment).toMatchObject({ gateway: 'simb', gateway_key: `pb_${id}`, amount: 3636, currency: 'EUR', orphan_reversal: 'failover_duplicate' });
      expect(voidOp.routing).toMatchObject({ gateway: 'simb', amount: 4000, currency: 'USD' });
      const resolved = await resolveOperationContext(voidOp, s.ledger, { checkAmounts: true });
      expect('context' in resolved && resolved.context.payment).toMatchObject({ gateway: 'simb', amount: 4000, currency: 'USD', gateway_key: `pb_${id}` });
      expect(await s.ledger.interactions(id)).toContainEqual(
        expect.objectContaining({
          event: 'orphan_reversal',
          outcome: 'voided',
          reason: 'failover_duplicate',
          amount: 4000,
          currency: 'USD',
          amount_basis: 'confirmed',
          command_amount: 3636,
          command_currency: 'EUR',
        }),
      );
      const line = capture.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.operation_id === id && l.level === 'warn');
      expect(line).toMatchObject({ gateway: 'simb', amount: 4000, currency: 'USD', amount_basis: 'confirmed', command_amount: 3636 });
    });
  });

  it('off does nothing', async () => {
    const s = setup({ 'authorizations.orphan_reversal': 'off' });
    const { id } = await authorized(s);
    expect((await s.sweep(5 * DAY).runOnce()).orphans).toMatchObject({ mode: 'off', candidates: 0 });
    expect(await s.ledger.get(voidOperationId(id))).toBeNull();
  });

  it('request() voids an authorization the OMS was told failed, by the PSP reference a later fact gave, once', async () => {
    const s = setup();
    const { id, reference, order_id } = await authorized(s);
    // As if the OMS had been told FAIL: the ledger's record is terminal and names no PSP object (same order:
    // the void names the PSP reference, whose authorization is checked for scope).
    const failed = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', order_id });
    const failedId = failed.payment.operation_reference!;
    await s.ledger.create(failedId, failed);
    await s.ledger.transition(failedId, 'FAILED', { event: 'test' }, { reason: 'UNRESPONSIVE' });
    const sweep = s.sweep(0);
    const first = await sweep.orphans.request(failedId, 'oms_told_failed', { pspReference: reference });
    const again = await sweep.orphans.request(failedId, 'oms_told_failed', { pspReference: reference });
    expect(first).toMatchObject({ outcome: 'voided', voidId: voidOperationId(failedId) });
    expect(again.outcome).toBe('already_requested');
    expect((await s.ledger.get(voidOperationId(failedId)))?.payment).toMatchObject({ gateway_key: reference, orphan_reversal: 'oms_told_failed' });
    expect(await s.service.deliver(voidOperationId(failedId))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await pspStatus(reference)).toBe('cancelled');
    expect(id).not.toBe(failedId);
  });
});

describe('payment-bridge poll', () => {
  it('runs the lifecycle sweeps: the expiring event goes out and an orphan is voided, once, over two runs', async () => {
    // Validity of an hour (inside the 24 h warning lead) and an orphan age of 1 ms for this account only.
    const s = setup({ 'authorizations.validity_ms': { simulator: 3600_000 }, 'authorizations.orphan_void_after_ms_by_account': { 'simulator:acme-eu': 1 } });
    const { id } = await authorized(s);
    await new Promise((r) => setTimeout(r, 5));
    const routes = createGatewayClients(s.config);
    expect(await runPollProcess(s.config, silentLogger(), routes)).not.toBeNull();
    expect(await runPollProcess(s.config, silentLogger(), routes)).not.toBeNull();
    expect(await s.events.load(`${id}.expiring`)).not.toBeNull();
    expect(await s.ledger.get(voidOperationId(id))).toMatchObject({ command: 'cancel', channel: 'bridge' });
    expect(await s.deliveryQueue.count()).toBe(1);
  });
});

/**
 * A capture, sale or refund the ledger holds FAILED that the PSP did after all: once its `succeeded_after_failure`
 * adjustment is recorded (the OMS told so), it counts in the amount checks of the commands that follow, at the amount
 * the PSP confirmed, until a later failure of it is recorded; a capture or cancel so done closes its authorization.
 *
 * End to end on the real Redis, against the PSP simulator: the PSP does the capture (its own books hold it), the
 * bridge records it FAILED (an answer misread), the adjustment is recorded as any source records it
 * (`AdjustmentRecorder`), then the OMS's next commands are delivered as the worker delivers them.
 */
import { Queue } from 'bullmq';
import { directionOfSuccess } from '../../../src/adjustments/adjustment';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { Config } from '../../../src/config/config';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { finishUnwrittenClosing } from '../../../src/poller/unwritten-closing';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-saf-basis-key-0123456789';

let sim: PspSimulator;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let config: Config;
let service: DeliveryService;
let ledger: Ledger;
let recorder: OutcomeRecorder;
let adjustments: AdjustmentRecorder;
let store: AdjustmentStore;
let route: GatewayRoute;
const logs = captureLogger();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-saf-basis-0123456789', timeout_ms: 1000 } },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: logs.logger });
  const clients = createGatewayClients(config);
  route = clients.get('simulator')!;
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(clients), recorder, logger: logs.logger });
  store = new AdjustmentStore(redis, config.redis.keyPrefix);
  adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger: logs.logger });
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

async function record(command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

/** An authorization (or sale) of ours that succeeded at the PSP. */
async function authorized(amount: number, command: 'authorize' | 'sale' = 'authorize'): Promise<PaymentCommand> {
  const auth = channelCommand(command, {}, { gateway_key: 'pm_card_visa', amount, currency: 'EUR' });
  expect(await service.deliver(await record(auth))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  return auth;
}

/** A command that acts on `auth` (our operation id as its gateway_key). */
function dependent(command: PaymentCommand['command'], auth: PaymentCommand, payment: Partial<Payment> = {}): PaymentCommand {
  return channelCommand(command, {}, { gateway_key: auth.payment.operation_reference!, order_id: auth.payment.order_id, currency: 'EUR', ...payment });
}

/**
 * A `command` (capture or refund) of `auth` for `asked`, checked and registered as delivery's first attempt does, that
 * the PSP did for `taken` (its own books hold it) while the bridge recorded it FAILED (the answer read as a refusal).
 */
async function failedButDone(command: 'capture' | 'refund', auth: PaymentCommand, asked: number, taken: number): Promise<OperationRecord> {
  const id = await record(dependent(command, auth, { amount: asked }));
  const resolved = await resolveOperationContext((await ledger.get(id))!, ledger, { checkAmounts: true });
  if (!('context' in resolved)) throw new Error(`${command} ${id} not sendable: ${JSON.stringify(resolved)}`);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const ctx = { ...resolved.context, payment: { ...resolved.context.payment, amount: taken } };
  expect((await route.client.send(route.transformer.buildRequest(ctx, route.gateway))).status).toBe(201);
  const after = await recorder.apply((await ledger.get(id))!, { status: 'FAIL', gatewayStatus: 'declined', reason: 'do_not_honor' }, 'response');
  expect(after.state).toBe('FAILED');
  return after;
}

/** The `succeeded_after_failure` of `op` for `amount` EUR, recorded as a webhook or a reconciliation line records it. */
async function succeededAfterFailure(op: OperationRecord, amount: number, extra: { source?: 'webhook' | 'reconciliation'; occurredAt?: number } = {}) {
  return adjustments.recordAdjustment(op, {
    kind: 'succeeded_after_failure',
    direction: op.command === 'refund' ? 'debit' : 'credit',
    amount,
    currency: 'EUR',
    gateway: 'simulator',
    pspEventId: `evt_saf_${op.id}_${extra.occurredAt ?? 'undated'}`,
    source: extra.source ?? 'webhook',
    ...(extra.occurredAt !== undefined ? { occurredAt: extra.occurredAt } : {}),
  });
}

/** A failure of `op` the PSP reported after its success after failure (`capture_failed` / `refund_failed`). */
async function failedAgain(op: OperationRecord, amount: number, occurredAt: number) {
  return adjustments.recordAdjustment(op, {
    kind: op.command === 'refund' ? 'refund_failed' : 'capture_failed',
    direction: op.command === 'refund' ? 'credit' : 'debit',
    amount,
    currency: 'EUR',
    gateway: 'simulator',
    pspEventId: `evt_failed_${op.id}_${occurredAt}`,
    source: 'webhook',
    occurredAt,
  });
}

/**
 * What the amount checks say of `command` of `auth` for `amount` now: `allowed` or the refusal's reason. Nothing is
 * sent: the command is then recorded FAILED, so it is no sibling in flight for the next check.
 */
async function check(command: 'capture' | 'refund', auth: PaymentCommand, amount: number): Promise<string> {
  const id = await record(dependent(command, auth, { amount }));
  const resolved = await resolveOperationContext((await ledger.get(id))!, ledger, { checkAmounts: true });
  await ledger.transition(id, 'FAILED', { event: 'test' }, { reason: 'checked_only' });
  return 'fail' in resolved ? resolved.fail : 'context' in resolved ? 'allowed' : 'wait';
}

const counted = (command: string) => metricValue('pb_undone_operations_redone_total', { gateway: 'simulator', command, recorded: 'failed' });

describe('a capture the bridge recorded FAILED that the PSP did: its succeeded_after_failure counts it as captured', () => {
  it('a refund of the 1 000 is sent and succeeds, 1 001 is refused unsent; a capture over what the authorization has left is refused; the authorization is closed by it', async () => {
    const auth = await authorized(1500);
    const authId = auth.payment.operation_reference!;
    const capture = await failedButDone('capture', auth, 1000, 1000);
    // Told FAILED: nothing to refund yet.
    expect(await check('refund', auth, 1)).toBe('amount_exceeds_captured');
    const before = await counted('capture');
    const released = await metricValue('pb_authorizations_released_total', { gateway: 'simulator', kind: 'succeeded_after_failure' });

    const { created, counted: marked } = await succeededAfterFailure(capture, 1000);
    expect(created).toBe(true);

    const tooMuch = await record(dependent('refund', auth, { amount: 1001 }));
    expect(await service.deliver(tooMuch)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(tooMuch))?.reason).toBe('amount_exceeds_captured');
    expect(sim.counters().effects[tooMuch]).toBeUndefined();
    const refund = await record(dependent('refund', auth, { amount: 1000 }));
    expect(await service.deliver(refund)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[refund]).toBe(1);

    // 500 of the 1 500 left: 501 is refused unsent, 500 goes.
    const over = await record(dependent('capture', auth, { amount: 501 }));
    expect(await service.deliver(over)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(over))?.reason).toBe('amount_exceeds_authorized');
    expect(sim.counters().effects[over]).toBeUndefined();
    const rest = await record(dependent('capture', auth, { amount: 500 }));
    expect(await service.deliver(rest)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    // Closed by the capture the PSP made: no expiry notice, no orphan void of it.
    expect((await ledger.get(authId))?.closedBy).toBe(capture.id);
    expect(await metricValue('pb_authorizations_released_total', { gateway: 'simulator', kind: 'succeeded_after_failure' })).toBe(released + 1);
    expect(logs.lines.some((l) => l.includes('authorization closed by a capture recorded FAILED') && l.includes(authId))).toBe(true);
    // Marked in the adjustment's own write, counted and said once.
    expect(marked).toBe(true);
    expect(await ledger.get(capture.id)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { amount: 1000, currency: 'EUR' } });
    expect(await counted('capture')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('"warn"') && l.includes('counts as captured') && l.includes(capture.id))).toBe(true);

    // A repeat of the fact marks and counts nothing twice.
    expect((await succeededAfterFailure(capture, 1000)).created).toBe(false);
    expect(await counted('capture')).toBe(before + 1);
  });

  it('counts what the PSP confirmed, not what was asked: 800 of the 1 000 asked (a reconciliation line)', async () => {
    const auth = await authorized(1000);
    const capture = await failedButDone('capture', auth, 1000, 800);
    await succeededAfterFailure(capture, 800, { source: 'reconciliation' });
    expect(await check('refund', auth, 801)).toBe('amount_exceeds_captured');
    expect(await check('capture', auth, 201)).toBe('amount_exceeds_authorized');
    expect(await check('capture', auth, 200)).toBe('allowed');
    const refund = await record(dependent('refund', auth, { amount: 800 }));
    expect(await service.deliver(refund)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('a later failure of it stops it counting (a refund of it refused again), by the undone mark and its ordering: an older failure marks nothing, a later success counts it again', async () => {
    const auth = await authorized(2000);
    const capture = await failedButDone('capture', auth, 1000, 1000);
    const t = Date.now() - 3_600_000;
    await succeededAfterFailure(capture, 1000, { occurredAt: t });
    expect(await check('refund', auth, 1000)).toBe('allowed');
    // A failure older than that success (the PSP's own order): the success stands.
    const older = await failedAgain(capture, 1000, t - 60_000);
    expect(older.undone).toBeUndefined();
    expect(older.adjustment.supersededBy).toBeDefined();
    expect(await check('refund', auth, 1000)).toBe('allowed');
    // A failure after it: nothing collected after all; refunds of it refused, the capture check still counts it.
    const undoneBefore = await metricValue('pb_captures_undone_total', { gateway: 'simulator', command: 'capture' });
    const later = await failedAgain(capture, 1000, t + 60_000);
    expect(later.undone).toBe(true);
    expect(await metricValue('pb_captures_undone_total', { gateway: 'simulator', command: 'capture' })).toBe(undoneBefore + 1);
    expect((await ledger.get(capture.id))?.undoneBy).toBe(later.adjustment.id);
    expect(await check('refund', auth, 1)).toBe('amount_exceeds_captured');
    expect(await check('capture', auth, 1001)).toBe('amount_held_by_failed_capture');
    expect(await check('capture', auth, 2001)).toBe('amount_exceeds_authorized');
    // A success older than that failure keeps it undone; a later one counts it again.
    const stale = await succeededAfterFailure(capture, 1000, { occurredAt: t + 30_000 });
    expect(stale.adjustment.failedAgainBy).toBe(later.adjustment.id);
    expect(await check('refund', auth, 1)).toBe('amount_exceeds_captured');
    const redone = await succeededAfterFailure(capture, 1000, { occurredAt: t + 120_000 });
    expect(redone.redoneAfter).toBe(later.adjustment.id);
    expect(await check('refund', auth, 1000)).toBe('allowed');
  });
});

describe('a refund or sale the bridge recorded FAILED that the PSP did: its succeeded_after_failure counts it', () => {
  it('a refund: what it gave back is no longer refundable', async () => {
    const sale = await authorized(4000, 'sale');
    const refund = await failedButDone('refund', sale, 3000, 3000);
    expect(await check('refund', sale, 4000)).toBe('allowed');
    const before = await counted('refund');
    await succeededAfterFailure(refund, 3000);
    expect(await check('refund', sale, 1001)).toBe('amount_exceeds_captured');
    expect(await check('refund', sale, 1000)).toBe('allowed');
    expect(await counted('refund')).toBe(before + 1);
  });

  it('a sale: its refunds are checked against what the PSP confirmed, not refused as of a failed authorization', async () => {
    const sale = channelCommand('sale', {}, { gateway_key: 'pm_card_declined', amount: 2500, currency: 'EUR' });
    const id = await record(sale);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    // The decline named the PSP's object (what a refund of the sale is sent to).
    expect((await ledger.get(id))?.gatewayReference).toBeDefined();
    expect(await check('refund', sale, 1)).toBe('AUTHORIZATION_FAILED');
    await succeededAfterFailure((await ledger.get(id))!, 2000);
    expect(await check('refund', sale, 2001)).toBe('amount_exceeds_captured');
    expect(await check('refund', sale, 2000)).toBe('allowed');
  });
});

describe('a cancel the bridge recorded FAILED that the PSP did: its succeeded_after_failure marks it done', () => {
  /** A cancel of `auth`, checked and registered as delivery's first attempt does, that the PSP did (the authorization is void there) while the bridge recorded it FAILED. */
  async function cancelFailedButDone(auth: PaymentCommand): Promise<OperationRecord> {
    const id = await record(dependent('cancel', auth, { amount: auth.payment.amount }));
    const resolved = await resolveOperationContext((await ledger.get(id))!, ledger, { checkAmounts: true });
    if (!('context' in resolved)) throw new Error(`cancel ${id} not sendable: ${JSON.stringify(resolved)}`);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    expect((await route.client.send(route.transformer.buildRequest(resolved.context, route.gateway))).status).toBeLessThan(300);
    const after = await recorder.apply((await ledger.get(id))!, { status: 'FAIL', gatewayStatus: 'declined', reason: 'processing_error' }, 'response');
    expect(after.state).toBe('FAILED');
    return after;
  }

  const cancelled = (op: OperationRecord) => ({
    kind: 'succeeded_after_failure' as const,
    direction: directionOfSuccess('cancel'),
    amount: op.payment.amount,
    currency: 'EUR',
    gateway: 'simulator',
    pspEventId: `evt_saf_cancel_${op.id}`,
    source: 'webhook' as const,
  });

  it('marks the cancel as the capture is marked (its record, the authorization’s dependents), counted and said once, and closes the authorization by it', async () => {
    const auth = await authorized(1200);
    const authId = auth.payment.operation_reference!;
    const cancel = await cancelFailedButDone(auth);
    const before = await counted('cancel');

    const { created, counted: marked, adjustment } = await adjustments.recordAdjustment(cancel, cancelled(cancel));
    expect(created).toBe(true);
    expect(marked).toBe(true);
    expect(await ledger.get(cancel.id)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { by: adjustment.id, amount: 1200, currency: 'EUR' } });
    expect((await ledger.dependentsOf(authId)).find((d) => d.id === cancel.id)).toMatchObject({
      command: 'cancel',
      state: 'FAILED',
      succeededAfterFailure: true,
    });
    expect((await ledger.get(authId))?.closedBy).toBe(cancel.id);
    expect(await counted('cancel')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('"warn"') && l.includes('cancel recorded FAILED counts as done') && l.includes(cancel.id))).toBe(true);

    // A repeat of the fact marks and counts nothing twice.
    expect((await adjustments.recordAdjustment(cancel, cancelled(cancel))).created).toBe(false);
    expect(await counted('cancel')).toBe(before + 1);
  });

  it('a lifecycle sweep finds the marked cancel as the closer of its authorization when the closing was never written (a crash after the adjustment)', async () => {
    const auth = await authorized(900);
    const authId = auth.payment.operation_reference!;
    const cancel = await cancelFailedButDone(auth);
    // The adjustment's own write only: the worker dies before the recorder closes the authorization.
    expect((await store.recordAdjustment({ ...cancelled(cancel), operationId: cancel.id })).counted).toBe(true);
    expect((await ledger.get(authId))?.closedBy).toBeUndefined();
    expect(await finishUnwrittenClosing({ ledger, logger: logs.logger }, authId, 'expiry')).toBe(cancel.id);
    expect((await ledger.get(authId))?.closedBy).toBe(cancel.id);
  });
});

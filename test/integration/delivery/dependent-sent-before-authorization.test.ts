/**
 * A capture or refund that names its authorization by our operation id can reach a worker before that authorization
 * is on record (the OMS sends both at once, on two channels): it is then sent by reference as given, our id, which
 * names no PSP object. If its worker dies mid-call, the attempt has no recorded end and "may have reached the PSP".
 * Once the authorization is recorded FAILED, the refusal `AUTHORIZATION_FAILED` must still be told: the attempt named
 * nothing at the PSP, and a PSP refunds or captures nothing of a payment it failed. Before, the command was left
 * UNRESOLVED for good (the poller could not name a PSP object to ask about): a command accepted and never terminal.
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData } from '../../../src/events/oms-events-queue';
import { GatewayTransformer } from '../../../src/gateways/gateway-adapter';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { RedisClient } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { GatewayRouter } from '../../../src/routing/gateway-router';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { usePollerStack } from '../../support/poller-stack';

const API_KEY = 'sim-sent-before-auth-key-0123456789';

const stack = usePollerStack({ apiKey: API_KEY }, (url) => ({
  'poller.schedule_ms': [1000, 1000],
  gateways: { simulator: { type: 'simulator', base_url: url, api_key: API_KEY, timeout_ms: 2000 } },
}));
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let events: EventStore;
const logs = captureLogger('info');

beforeAll(() => {
  ({ sim, config, redis, eventsQueue } = stack);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
});

function wiring(now: () => number = Date.now) {
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
  const router = new ConfiguredGatewayRouter(createGatewayClients(config));
  return {
    service: new DeliveryService({ config, ledger, router, recorder, logger: logs.logger }),
    poller: new Poller({ config, ledger, router, recorder, logger: logs.logger, now }),
  };
}

/** A declined sale and a `command` naming it by our id, the dependent recorded and sent (its worker killed mid-call) before the sale is on record. */
async function sentBeforeItsSale(
  command: 'refund' | 'capture' | 'cancel',
  lead: 'sale' | 'authorize' = 'sale',
): Promise<{ sale: PaymentCommand; dependentId: string }> {
  const sale = channelCommand(lead, {}, { gateway: 'simulator', gateway_key: 'pm_card_declined', amount: 2500 });
  const saleId = sale.payment.operation_reference!;
  const dependent = channelCommand(command, {}, { gateway: 'simulator', gateway_key: saleId, order_id: sale.payment.order_id, amount: 1000 });
  const dependentId = dependent.payment.operation_reference!;
  await ledger.create(dependentId, dependent);
  // Nothing on record names its key yet: it goes by reference, the key as given (our id).
  const resolved = await resolveOperationContext((await ledger.get(dependentId))!, ledger, { checkAmounts: true });
  expect(resolved).toMatchObject({ context: { payment: { gateway_key: saleId } } });
  // Its worker claimed the attempt (marked as delivery marks it: its key named nothing on record) and died before any
  // answer: no recorded end, so it "may have reached the PSP".
  const attempt = { event: 'attempt', attempt: 1, gateway: 'simulator', key_unrecorded: true };
  expect((await ledger.transition(dependentId, 'SENT', attempt, { countAttempt: true })).applied).toBe(true);
  await ledger.create(saleId, sale);
  return { sale, dependentId };
}

describe('a capture or refund sent before the authorization it names by our id was on record', () => {
  it.each(['refund', 'capture'] as const)(
    'a %s is refused AUTHORIZATION_FAILED once its authorization fails at the PSP: FAILED, told FAIL, never UNRESOLVED, never sent again',
    async (command) => {
      const { service } = wiring();
      const { sale, dependentId } = await sentBeforeItsSale(command, command === 'refund' ? 'sale' : 'authorize');
      expect(await service.deliver(sale.payment.operation_reference!)).toEqual({ kind: 'done', state: 'FAILED' });
      const before = (await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command })) ?? 0;
      const requests = sim.counters().requests;

      expect(await service.deliver(dependentId)).toEqual({ kind: 'done', state: 'FAILED' });

      expect(await ledger.get(dependentId)).toMatchObject({ state: 'FAILED', reason: 'AUTHORIZATION_FAILED' });
      expect(sim.counters().requests).toBe(requests);
      expect((await events.load(`${dependentId}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'AUTHORIZATION_FAILED' });
      expect(await events.load(`${dependentId}.UNRESOLVED`)).toBeNull();
      expect(await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command })).toBe(before + 1);
      const line = logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.operation_id === dependentId && String(l.message).includes('named its authorization by our operation id before it was on record'));
      expect(line).toMatchObject({ level: 'warn', authorization_id: sale.payment.operation_reference, reason: 'AUTHORIZATION_FAILED', attempts: 1 });
    },
  );

  it('a cancel sent before the authorization it names by our id was on record is refused AUTHORIZATION_FAILED once that authorization fails: FAILED, told FAIL, never UNRESOLVED', async () => {
    // The OMS cancels an order as it authorizes it (the drill's cancels racing their authorization): the same race.
    const { service } = wiring();
    const { sale: authorization, dependentId } = await sentBeforeItsSale('cancel', 'authorize');
    expect(await service.deliver(authorization.payment.operation_reference!)).toEqual({ kind: 'done', state: 'FAILED' });
    const before = (await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command: 'cancel' })) ?? 0;
    const requests = sim.counters().requests;

    expect(await service.deliver(dependentId)).toEqual({ kind: 'done', state: 'FAILED' });

    expect(await ledger.get(dependentId)).toMatchObject({ state: 'FAILED', reason: 'AUTHORIZATION_FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect((await events.load(`${dependentId}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'AUTHORIZATION_FAILED' });
    expect(await events.load(`${dependentId}.UNRESOLVED`)).toBeNull();
    expect(await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command: 'cancel' })).toBe(before + 1);
  });

  it('the poller settles such a cancel left UNRESOLVED as FAILED AUTHORIZATION_FAILED, told FAIL', async () => {
    const clock = Date.now();
    const { service, poller } = wiring(() => clock);
    const { sale: authorization, dependentId } = await sentBeforeItsSale('cancel', 'authorize');
    expect(await service.deliver(authorization.payment.operation_reference!)).toEqual({ kind: 'done', state: 'FAILED' });
    const unresolved = { event: 'unresolved', cause: 'AUTHORIZATION_FAILED after an attempt that may have reached the PSP' };
    expect((await ledger.transition(dependentId, 'UNRESOLVED', unresolved, { nextCheckAt: clock - 1, pollStep: 0 })).applied).toBe(true);

    await poller.runOnce();

    expect(await ledger.get(dependentId)).toMatchObject({ state: 'FAILED', reason: 'AUTHORIZATION_FAILED' });
    expect((await events.load(`${dependentId}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'AUTHORIZATION_FAILED' });
  });

  it('the poller settles such a refund left UNRESOLVED (given up on before its authorization failed) as FAILED AUTHORIZATION_FAILED, told FAIL, counted', async () => {
    const clock = Date.now();
    const { service, poller } = wiring(() => clock);
    const { sale, dependentId } = await sentBeforeItsSale('refund');
    expect(await service.deliver(sale.payment.operation_reference!)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(
      (
        await ledger.transition(
          dependentId,
          'UNRESOLVED',
          { event: 'unresolved', cause: 'AUTHORIZATION_FAILED after an attempt that may have reached the PSP' },
          { nextCheckAt: clock - 1, pollStep: 0 },
        )
      ).applied,
    ).toBe(true);

    const before = (await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command: 'refund' })) ?? 0;

    await poller.runOnce();

    expect(await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command: 'refund' })).toBe(before + 1);
    expect(await ledger.get(dependentId)).toMatchObject({ state: 'FAILED', reason: 'AUTHORIZATION_FAILED' });
    expect((await events.load(`${dependentId}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'AUTHORIZATION_FAILED' });
  });

  it.each(['refund', 'cancel'] as const)(
    'the poller settles such a %s left UNRESOLVED at a gateway asked about it by webhook only (Adyen modifications) as FAILED AUTHORIZATION_FAILED, told FAIL',
    async (command) => {
      const clock = Date.now();
      const { service } = wiring();
      // The simulator as a gateway that answers modifications by webhook only: the poller never asks about them.
      const routes = createGatewayClients(config);
      const router: GatewayRouter = {
        route: (op) => {
          const route = routes.get(op.payment.gateway)!;
          const transformer = Object.assign(Object.create(route.transformer) as GatewayTransformer, { inquiry: () => 'webhook-only' as const });
          return { ...route, transformer };
        },
      };
      const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
      const poller = new Poller({ config, ledger, router, recorder, logger: logs.logger, now: () => clock });
      const { sale, dependentId } = await sentBeforeItsSale(command, command === 'refund' ? 'sale' : 'authorize');
      expect(await service.deliver(sale.payment.operation_reference!)).toEqual({ kind: 'done', state: 'FAILED' });
      const unresolved = { event: 'unresolved', cause: 'AUTHORIZATION_FAILED after an attempt that may have reached the PSP' };
      expect((await ledger.transition(dependentId, 'UNRESOLVED', unresolved, { nextCheckAt: clock - 1, pollStep: 0 })).applied).toBe(true);
      const before = (await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command })) ?? 0;

      await poller.runOnce();

      expect(await ledger.get(dependentId)).toMatchObject({ state: 'FAILED', reason: 'AUTHORIZATION_FAILED' });
      expect((await events.load(`${dependentId}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'AUTHORIZATION_FAILED' });
      expect(await metricValue('pb_dependents_sent_unnamed_total', { gateway: 'simulator', command })).toBe(before + 1);
    },
  );

  it('marks the attempt of a refund whose key names nothing on record (key_unrecorded), and only that one', async () => {
    const { service } = wiring();
    const sale = channelCommand('sale', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 2500 });
    const early = channelCommand(
      'refund',
      {},
      { gateway: 'simulator', gateway_key: sale.payment.operation_reference!, order_id: sale.payment.order_id, amount: 1000 },
    );
    await ledger.create(early.payment.operation_reference!, early);
    await service.deliver(early.payment.operation_reference!);
    const marked = (await ledger.interactions(early.payment.operation_reference!)).filter((h) => h.event === 'attempt');
    expect(marked).toEqual([expect.objectContaining({ key_unrecorded: true })]);

    await ledger.create(sale.payment.operation_reference!, sale);
    expect(await service.deliver(sale.payment.operation_reference!)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const late = channelCommand(
      'refund',
      {},
      { gateway: 'simulator', gateway_key: sale.payment.operation_reference!, order_id: sale.payment.order_id, amount: 1000 },
    );
    await ledger.create(late.payment.operation_reference!, late);
    expect(await service.deliver(late.payment.operation_reference!)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const plain = (await ledger.interactions(late.payment.operation_reference!)).filter((h) => h.event === 'attempt');
    expect(plain).toHaveLength(1);
    expect(plain[0].key_unrecorded).toBeUndefined();
  });

  it('still withholds the refusal after an attempt without the mark (an earlier release sent it): UNRESOLVED, no FAIL event', async () => {
    const { service } = wiring();
    const sale = channelCommand('sale', {}, { gateway: 'simulator', gateway_key: 'pm_card_declined', amount: 2500 });
    const saleId = sale.payment.operation_reference!;
    await ledger.create(saleId, sale);
    expect(await service.deliver(saleId)).toEqual({ kind: 'done', state: 'FAILED' });
    const refund = channelCommand('refund', {}, { gateway: 'simulator', gateway_key: saleId, order_id: sale.payment.order_id, amount: 1000 });
    const refundId = refund.payment.operation_reference!;
    await ledger.create(refundId, refund);
    await ledger.transition(refundId, 'SENT', { event: 'attempt', attempt: 1, gateway: 'simulator' }, { countAttempt: true });

    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await events.load(`${refundId}.FAILED`)).toBeNull();
  });
});

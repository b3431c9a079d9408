/**
 * Reconciliation of a refund the PSP made that no refund of the bridge asked for (the PSP's back office), end to end
 * against the simulator on the real Redis: the refund's report line names the payment (its PSP reference) and a
 * reference that is no operation of ours. It is the same fact the webhook path reports (`refund_outside_bridge`,
 * `webhooks/outside-refund.ts`): recorded once as an adjustment of the authorization, by whichever source came first.
 */
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-outside-refund-key-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let route: GatewayRoute;
let recorder: OutcomeRecorder;
let eventsQueue: ReturnType<typeof createOmsEventsQueue>;
const logger = captureLogger('error').logger;

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-outside-refund-0123456789', timeout_ms: 5000 } },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger });
  route = createGatewayClients(config).get('simulator')!;
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** Sends `command` to the simulator as the bridge does and records its outcome. */
async function deliver(command: PaymentCommand): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const ctx = { operationId: id, command: command.command, payment: command.payment };
  const response = await route.client.send(route.transformer.buildRequest(ctx, route.gateway));
  return recorder.apply((await ledger.get(id))!, route.transformer.parseResponse(ctx, response, route.gateway), 'response');
}

/** A refund of `auth` made at the simulator by someone else than the bridge (a reference no operation of ours has). Its id. */
async function refundedOutside(auth: OperationRecord, amount: number): Promise<string> {
  const ctx = { operationId: `backoffice-${auth.id}`, command: 'refund' as const, payment: { ...auth.payment, gateway_key: auth.gatewayReference!, amount } };
  const response = await route.client.send(route.transformer.buildRequest(ctx, route.gateway));
  expect(response.status).toBeLessThan(300);
  return (JSON.parse(response.body) as { id: string }).id;
}

async function authorizedAndCaptured(amount: number): Promise<OperationRecord> {
  const auth = await deliver(channelCommand('authorize', {}, { amount, gateway_key: 'pm_card_visa' }));
  await deliver(channelCommand('capture', {}, { amount, gateway_key: auth.gatewayReference!, order_id: auth.payment.order_id }));
  return auth;
}

async function run(from: number): Promise<LineVerdict[]> {
  const verdicts: LineVerdict[] = [];
  const { summary } = await reconcile(config, {
    gateway: 'simulator',
    window: { from, to: Date.now() + 1 },
    logger,
    redis,
    sink: { verdict: (v) => void verdicts.push(v) },
  });
  expect(summary.result).toBe('done');
  return verdicts;
}

describe('reconciliation of a refund no refund of the ledger accounts for', () => {
  it('records it once as refund_outside_bridge of the authorization it refunds (debit, the line’s amount and reference)', async () => {
    const from = Date.now() - 1;
    const auth = await authorizedAndCaptured(2500);
    const refund = await refundedOutside(auth, 800);

    const verdicts = await run(from);
    expect(verdicts.find((v) => v.record?.modificationReference === refund)).toMatchObject({
      class: 'state_mismatch',
      ledger: { operationId: auth.id },
      action: { type: 'adjust', kind: 'refund_outside_bridge', direction: 'debit', amount: 800, currency: 'EUR' },
    });
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    expect(await store.forOperation(auth.id)).toEqual([
      expect.objectContaining({
        kind: 'refund_outside_bridge',
        direction: 'debit',
        amount: 800,
        currency: 'EUR',
        pspReference: refund,
        source: 'reconciliation',
      }),
    ]);

    // Run again: the line is accounted for.
    const again = await run(from);
    expect(again.find((v) => v.record?.modificationReference === refund)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(await store.forOperation(auth.id)).toHaveLength(1);

    // The webhook of the same refund comes after: found recorded, not recorded again.
    const webhook = await store.recordAdjustment({
      operationId: auth.id,
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 800,
      currency: 'EUR',
      pspReference: refund,
      gateway: 'simulator',
      pspEventId: `${refund}:refund.succeeded`,
      source: 'webhook',
    });
    expect(webhook).toMatchObject({ created: false, sameFact: true });
    expect(await store.forOperation(auth.id)).toHaveLength(1);
  });

  it('the webhook reported it first: the line is tied to that adjustment, nothing recorded twice', async () => {
    const from = Date.now() - 1;
    const auth = await authorizedAndCaptured(2600);
    const refund = await refundedOutside(auth, 900);
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    await store.recordAdjustment({
      operationId: auth.id,
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 900,
      currency: 'EUR',
      pspReference: refund,
      gateway: 'simulator',
      pspEventId: `${refund}:refund.succeeded`,
      source: 'webhook',
    });

    const verdicts = await run(from);
    expect(verdicts.find((v) => v.record?.modificationReference === refund)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect((await store.forOperation(auth.id)).map((a) => a.source)).toEqual(['webhook']);
  });

  describe("that refund's failure (the money back with the merchant)", () => {
    const store = () => new AdjustmentStore(redis, config.redis.keyPrefix);
    async function failed(auth: OperationRecord): Promise<void> {
      const res = await fetch(`${sim.url}/_control/refund-failure`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reference: `backoffice-${auth.id}` }),
      });
      expect(res.status).toBe(200);
    }
    const outside = (auth: OperationRecord, refund: string, amount: number) => ({
      operationId: auth.id,
      kind: 'refund_outside_bridge' as const,
      direction: 'debit' as const,
      amount,
      currency: 'EUR',
      pspReference: refund,
      gateway: 'simulator',
      pspEventId: `${refund}:succeeded`,
      source: 'webhook' as const,
    });
    const webhookFailure = (auth: OperationRecord, refund: string, amount: number) => ({
      ...outside(auth, refund, amount),
      kind: 'refund_failed' as const,
      direction: 'credit' as const,
      pspEventId: `${refund}:failed`,
    });
    const reversalOf = (verdicts: LineVerdict[], refund: string) =>
      verdicts.find((v) => v.record?.kind === 'refund_reversed' && v.record.modificationReference === refund);

    it("recorded once as the payment's refund_reversed (credit, the refund's reference) once its refund_outside_bridge is; the webhook's failure after it is that one", async () => {
      const from = Date.now() - 1;
      const auth = await authorizedAndCaptured(3000);
      const refund = await refundedOutside(auth, 700);
      await store().recordAdjustment(outside(auth, refund, 700));
      await failed(auth);

      const verdicts = await run(from);
      expect(reversalOf(verdicts, refund)).toMatchObject({
        class: 'state_mismatch',
        ledger: { operationId: auth.id },
        action: { type: 'adjust', kind: 'refund_reversed', direction: 'credit', amount: 700, currency: 'EUR' },
      });
      expect((await store().forOperation(auth.id)).map((a) => [a.kind, a.direction, a.pspReference, a.source])).toEqual([
        ['refund_outside_bridge', 'debit', refund, 'webhook'],
        ['refund_reversed', 'credit', refund, 'reconciliation'],
      ]);
      expect(await store().recordAdjustment(webhookFailure(auth, refund, 700))).toMatchObject({ created: false, sameFact: true });
      expect(await store().forOperation(auth.id)).toHaveLength(2);
    });

    it('the webhook reported the failure first: the line is tied to it, nothing recorded twice', async () => {
      const from = Date.now() - 1;
      const auth = await authorizedAndCaptured(3100);
      const refund = await refundedOutside(auth, 600);
      await store().recordAdjustment(outside(auth, refund, 600));
      await failed(auth);
      await store().recordAdjustment(webhookFailure(auth, refund, 600));

      const verdicts = await run(from);
      expect(reversalOf(verdicts, refund)).toMatchObject({ class: 'matched', action: { type: 'none' }, ties: { by: 'psp_reference' } });
      expect((await store().forOperation(auth.id)).map((a) => [a.kind, a.source])).toEqual([
        ['refund_outside_bridge', 'webhook'],
        ['refund_failed', 'webhook'],
      ]);
    });
  });
});

/**
 * Two gateway entries of ONE PSP account (sima and simb: the same simulator, the same key), configured as two routing
 * candidates. An authorization fails over from sima (its breaker open) to simb, where it is declined: FAILED. Then the
 * PSP approves it after all, at the attempt sima stands for, and its one webhook reaches both endpoints (the account's
 * events go to every endpoint configured for it). Read at sima's endpoint it is a failover's late success
 * (`duplicate_after_failover`, voided at sima); read at simb's it would be a success after failure, but it names another
 * PSP object than simb's declined attempt holds, so it is sima's attempt's: read as sima's endpoint reads it. One PSP
 * transaction, one fact: the OMS hears of it once, as a failover's late success, and one reversal (at sima) is asked
 * for, whichever endpoint saw it first. Real RabbitMQ and Redis, the real web and worker processes.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Config } from '../../../src/config/config';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { shardKeysOf, shardOfOperation } from '../../../src/redis/key-layout';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess } from '../../../src/processes/web-process';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { useFailoverPair } from '../../support/failover-pair';
import { eventually } from '../../support/tcp-proxy';

jest.setTimeout(120_000);

const KEY = 'sim-one-account-key-0123456789';
const SECRET = 'whsec-one-account-0123456789';

/** A webhook the simulator sent, kept to be delivered to each endpoint in the order a test chooses. */
interface Captured {
  headers: Record<string, string>;
  body: Buffer;
}

let sink: http.Server;
const captured: Captured[] = [];
let sim: PspSimulator;
const logs = captureLogger('info');
/** Every notification sent to the OMS. */
const notified: Array<Record<string, unknown>> = [];

const pair = useFailoverPair({
  async start() {
    // Keeps every webhook (answered 200), so the test delivers it to sima's and simb's endpoints itself, in its order.
    sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
        captured.push({ headers, body: Buffer.concat(chunks) });
        res.writeHead(200);
        res.end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    sim = await startPspSimulator({ apiKey: KEY, webhookSecret: SECRET, webhookUrl: `${sinkUrl}/webhooks/sim`, syncWebhooks: true });
    const entry = { type: 'simulator', base_url: sim.url, api_key: KEY, webhook_secret: SECRET, timeout_ms: 2000 };
    return { sima: entry, simb: entry };
  },
  async stop() {
    await sim?.stop();
    redis?.disconnect();
    await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
  },
  logger: logs.logger,
  notify: async (_method, params) => void notified.push(params),
});
/** The pair's processes and configuration, by the names the tests use. */
let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
let redis: RedisClient;
beforeAll(() => {
  ({ config, web, worker } = pair);
  redis = createRedis(config.redis, 'commands');
});

/** An authorization named to sima that failed over to simb (sima's breaker open) and was declined there: FAILED. */
const failedOverAndDeclined = (orderId: string): Promise<string> => pair.failedOver(orderId, 'pm_card_declined', 'FAILED');

/** The PSP approves the attempt sima stands for after all (its request did land, under sima's key): one webhook. */
async function approvedAtSima(id: string): Promise<{ id: string; webhook: Captured }> {
  const res = await fetch(`${sim.url}/v1/authorizations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': id },
    body: JSON.stringify({ amount: 1999, currency: 'EUR', payment_method: 'pm_card_visa', reference: id }),
  });
  expect(res.status).toBe(201);
  const auth = (await res.json()) as { id: string; status: string };
  expect(auth.status).toBe('authorized');
  let webhook: Captured | undefined;
  await eventually(async () => {
    webhook = captured.find((c) => c.body.toString('utf8').includes(auth.id));
    return webhook !== undefined;
  }, 15_000);
  return { id: auth.id, webhook: webhook! };
}

/** Delivers the PSP's webhook to `gateway`'s endpoint as the PSP would. */
async function deliverTo(gateway: string, webhook: Captured): Promise<void> {
  const res = await fetch(`${web.server.url}/webhooks/${gateway}`, { method: 'POST', headers: webhook.headers, body: webhook.body });
  expect(res.status).toBeLessThan(300);
}

/** The OMS events of `id`'s adjustments. */
const adjustmentEventsOf = (id: string) =>
  notified.filter((n) => String((n.payment as { event_id?: string } | undefined)?.event_id ?? '').startsWith(`${id}.adj.`));

describe('one PSP account behind two gateway entries: a late success of the attempt at sima reaches both endpoints', () => {
  it.each([
    ['sima', 'simb'],
    ['simb', 'sima'],
  ])(
    'delivered first to %s then to %s: read as the attempt at sima is, whichever endpoint hears it first: one duplicate_after_failover, one OMS event, one reversal at sima',
    async (first, second) => {
      const id = await failedOverAndDeclined(`ORD-ONE-ACCOUNT-${first}`);
      // simb's own attempt holds another PSP object: what tells the late success is the attempt at sima's.
      const declinedAtB = (await worker.ledger.get(id))?.gatewayReference;
      expect(declinedAtB).toBeDefined();
      const atA = await approvedAtSima(id);
      expect(atA.id).not.toBe(declinedAtB);
      const before = (await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0;

      await deliverTo(first, atA.webhook);
      await eventually(async () => (await worker.adjustmentStore.forOperation(id)).length === 1, 30_000);
      await deliverTo(second, atA.webhook);
      // Taken up: a repeat of the same adjustment, or a second one (the defect).
      await new Promise((r) => setTimeout(r, 1500));

      // One adjustment, so one OMS event (each adjustment has exactly one): the failover's late success at sima, as a
      // single-entry setup reads it, never the success after failure simb's endpoint would make of it.
      const adjustments = await worker.adjustmentStore.forOperation(id);
      expect(adjustments).toHaveLength(1);
      expect(adjustments[0]).toMatchObject({ kind: 'duplicate_after_failover', gateway: 'sima', pspReference: atA.id });
      const history = await worker.ledger.interactions(id);
      expect(history.filter((h) => h.event === 'adjustment')).toHaveLength(1);
      expect(history.filter((h) => h.event === 'earlier_attempt_outcome')).toHaveLength(1);
      await eventually(async () => adjustmentEventsOf(id).length > 0, 15_000);
      // Nothing to tell apart: both endpoints read it alike, so no second reading is counted as a duplicate.
      expect((await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0).toBe(before);

      // One reversal, the failover's void at sima; the OMS, told the authorization FAILED, hears no success after all.
      await new Promise((r) => setTimeout(r, 1000));
      expect(adjustmentEventsOf(id)).toHaveLength(1);
      await eventually(async () => (await worker.ledger.get(voidOperationId(`${id}-sima`))) !== null, 15_000);
      expect(await worker.ledger.get(voidOperationId(id))).toBeNull();
      expect(await worker.ledger.get(id)).toMatchObject({ state: 'FAILED', routing: { gateway: 'simb' } });
    },
  );
});

describe('one PSP account behind two gateway entries: when the attempt a late success is about cannot be told', () => {
  it.each([
    ['sima', 'simb'],
    ['simb', 'sima'],
  ])(
    'delivered first to %s then to %s: the first reading stands, the other is a duplicate in the history, counted and logged, at most one reversal',
    async (first, second) => {
      const id = await failedOverAndDeclined(`ORD-ONE-ACCOUNT-UNTOLD-${first}`);
      // simb's attempt left no PSP reference on record (a refusal without one): nothing tells whose the success is.
      const opKey = shardKeysOf(config.redis.keyPrefix)[(await shardOfOperation(redis, config.redis.keyPrefix, id))!].op(id);
      await redis.hdel(opKey, 'gateway_reference');
      const atA = await approvedAtSima(id);
      const before = (await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0;

      await deliverTo(first, atA.webhook);
      await eventually(async () => (await worker.adjustmentStore.forOperation(id)).length === 1, 30_000);
      await deliverTo(second, atA.webhook);
      await eventually(
        async () =>
          (await worker.ledger.interactions(id)).some((h) => h.event === 'adjustment_duplicate_psp_fact') ||
          (await worker.adjustmentStore.forOperation(id)).length > 1,
        30_000,
      );

      const adjustments = await worker.adjustmentStore.forOperation(id);
      expect(adjustments).toHaveLength(1);
      expect(adjustments[0]).toMatchObject({
        kind: first === 'sima' ? 'duplicate_after_failover' : 'succeeded_after_failure',
        gateway: first,
        pspReference: atA.id,
      });
      const duplicate = (await worker.ledger.interactions(id)).find((h) => h.event === 'adjustment_duplicate_psp_fact');
      expect(duplicate).toMatchObject({ gateway: second, recorded_as: adjustments[0].id, recorded_kind: adjustments[0].kind, psp_reference: atA.id });
      expect((await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0).toBe(before + 1);
      const warning = logs.lines.find((l) => l.includes('adjustment: a second reading of one PSP fact') && l.includes(id));
      expect(warning).toContain('"level":"warn"');

      await new Promise((r) => setTimeout(r, 1000));
      expect(adjustmentEventsOf(id)).toHaveLength(1);
      const reversals = [await worker.ledger.get(voidOperationId(`${id}-sima`)), await worker.ledger.get(voidOperationId(id))].filter((v) => v !== null);
      expect(reversals.length).toBeLessThanOrEqual(1);
    },
  );
});

describe("one PSP account behind two gateway entries: reconciliation reads the late success of the attempt at sima through simb's entry first", () => {
  it.each([['simb'], ['sima']])(
    "read as the attempt at sima is: one duplicate_after_failover, a void at sima, no succeeded_after_failure; the webhook then at %s's endpoint is a repeat",
    async (endpoint) => {
      const from = Date.now() - 1;
      const id = await failedOverAndDeclined(`ORD-ONE-ACCOUNT-RECON-${endpoint}`);
      const atA = await approvedAtSima(id);
      expect(atA.id).not.toBe((await worker.ledger.get(id))?.gatewayReference);
      const before = (await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0;

      const { summary } = await reconcile(config, { gateway: 'simb', window: { from, to: Date.now() + 1 }, logger: logs.logger, redis });
      expect(summary.result).toBe('done');
      const recorded = await worker.adjustmentStore.forOperation(id);
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({ kind: 'duplicate_after_failover', gateway: 'sima', pspReference: atA.id, source: 'reconciliation' });
      expect(await worker.ledger.get(voidOperationId(`${id}-sima`))).not.toBeNull();
      expect(await worker.ledger.get(voidOperationId(id))).toBeNull();

      await deliverTo(endpoint, atA.webhook);
      // Taken up: a repeat of the same adjustment, or a second one (the defect).
      await new Promise((r) => setTimeout(r, 2000));
      const adjustments = await worker.adjustmentStore.forOperation(id);
      expect(adjustments).toHaveLength(1);
      expect(adjustments[0]).toMatchObject({ kind: 'duplicate_after_failover', gateway: 'sima' });
      expect((await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0).toBe(before);
      expect(adjustmentEventsOf(id)).toHaveLength(1);
      expect(await worker.ledger.get(voidOperationId(id))).toBeNull();
      expect(await worker.ledger.get(id)).toMatchObject({ state: 'FAILED', routing: { gateway: 'simb' } });
    },
  );

  it("the webhook first, then reconciliation through simb's entry: the line finds it recorded; one adjustment, no duplicate reading, one void at sima", async () => {
    const from = Date.now() - 1;
    const id = await failedOverAndDeclined('ORD-ONE-ACCOUNT-RECON-AFTER');
    const atA = await approvedAtSima(id);
    await deliverTo('simb', atA.webhook);
    await eventually(async () => (await worker.adjustmentStore.forOperation(id)).length === 1, 30_000);
    const before = (await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0;

    const { summary } = await reconcile(config, { gateway: 'simb', window: { from, to: Date.now() + 1 }, logger: logs.logger, redis });
    expect(summary.result).toBe('done');
    const adjustments = await worker.adjustmentStore.forOperation(id);
    expect(adjustments).toHaveLength(1);
    expect(adjustments[0]).toMatchObject({ kind: 'duplicate_after_failover', gateway: 'sima', source: 'webhook' });
    expect((await metricValue('pb_adjustments_duplicate_psp_facts_total')) ?? 0).toBe(before);
    expect(await worker.ledger.get(voidOperationId(`${id}-sima`))).not.toBeNull();
    expect(await worker.ledger.get(voidOperationId(id))).toBeNull();
  });
});

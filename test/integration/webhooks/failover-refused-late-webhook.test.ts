/**
 * A late success from the gateway an authorization or sale failed over FROM, when the failover ended in a refusal at
 * the next gateway (a stage of the orchestration there: its cap full, FX without a rate). Sima's request was not sent
 * (as far as the bridge could tell), the operation failed over to simb, simb's stage refused it: FAILED, nothing sent
 * to simb. Then sima reports it authorised (or charged) after all. That is real money the OMS was told failed: accepted
 * for the attempt at sima (never refused as a scope mismatch), reported as a failover's late success (adjustment,
 * metric, warning) and, an authorization, voided at sima. The FAILED record and event name where it went and how
 * (simb, every failover to it). So does one whose request at the next gateway is refused while being built
 * (COMMAND_REFUSED at sime). A failover to a gateway that does not take the command (refused before any request is
 * built, never a COMMAND_REFUSED FAIL there) goes nowhere: the operation stays at sima, whose success is its own. Two real
 * simulators; sima's webhooks reach the real web process.
 */
import { CapReservations } from '../../../src/caps/cap-reservations';
import { Config } from '../../../src/config/config';
import { GatewayError } from '../../../src/errors/gateway-error';
import { GatewayRequest } from '../../../src/gateways/gateway-adapter';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { WebhookRelay, startWebhookRelay } from '../../support/webhook-relay';

jest.setTimeout(120_000);

const KEY_A = 'sim-refused-a-key-0123456789';
const KEY_B = 'sim-refused-b-key-0123456789';
const SECRET_A = 'whsec-refused-failover-a-0123456789';
const SECRET_B = 'whsec-refused-failover-b-0123456789';

let relay: WebhookRelay;
let webUrl = '';
let simA: PspSimulator;
let simB: PspSimulator;
let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
const logs = captureLogger('info');
/** While true, sima's payment requests (POSTs) fail as not sent; its status inquiries go through. */
let simaUnreachable = false;

/** `route` with its payment requests failing as not sent while `simaUnreachable`. */
function unreachableWhileAsked(route: GatewayRoute): GatewayRoute {
  const client = Object.assign(Object.create(route.client) as typeof route.client, {
    send: (request: GatewayRequest) =>
      simaUnreachable && request.method !== 'GET' ? Promise.reject(new GatewayError('not_sent', 'sima', 'connection refused', {})) : route.client.send(request),
  });
  return { ...route, client };
}

/** `route` whose request is refused while being built (COMMAND_REFUSED, nothing sent). */
function refusingToBuild(route: GatewayRoute): GatewayRoute {
  const transformer = Object.assign(Object.create(route.transformer) as typeof route.transformer, {
    buildRequest: () => {
      throw new RangeError('amount not representable at sime');
    },
  });
  return { ...route, transformer };
}

/** `route` whose transformer supports no authorization: a failover to it goes nowhere (refused before any request is built). */
function withoutAuthorize(route: GatewayRoute): GatewayRoute {
  const transformer = Object.assign(Object.create(route.transformer) as typeof route.transformer, {
    supports: route.transformer.supports.filter((c) => c !== 'authorize'),
  });
  return { ...route, transformer };
}

beforeAll(async () => {
  // The simulators need the webhook URL before the web process (which needs their URLs) is up: a relay.
  relay = await startWebhookRelay(() => webUrl);
  const relayUrl = relay.url;
  simA = await startPspSimulator({ apiKey: KEY_A, webhookSecret: SECRET_A, webhookUrl: `${relayUrl}/webhooks/sima`, syncWebhooks: true });
  simB = await startPspSimulator({ apiKey: KEY_B, webhookSecret: SECRET_B });
  const atB = { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: SECRET_B, timeout_ms: 2000 };
  config = testConfig({
    'delivery.breaker_failure_threshold': 3,
    'delivery.breaker_open_ms': 60_000,
    'routing.rules': [
      // Refused at simb by its cap (EUR), or after simc's open breaker (USD); simd takes no authorization (GBP).
      { name: 'a-then-b', when: { commands: ['authorize'], currencies: ['EUR'] }, gateways: ['sima', 'simb'] },
      { name: 'a-then-c-then-b', when: { commands: ['authorize'], currencies: ['USD'] }, gateways: ['sima', 'simc', 'simb'] },
      { name: 'a-then-d', when: { commands: ['authorize'], currencies: ['GBP'] }, gateways: ['sima', 'simd'] },
      // sime refuses the request while it is built (NOK).
      { name: 'a-then-e', when: { commands: ['authorize'], currencies: ['NOK'] }, gateways: ['sima', 'sime'] },
      // Refused at simb by FX (CHF: simb settles EUR and USD only, no rate configured).
      { name: 'chf-a-then-b', when: { commands: ['authorize'], currencies: ['CHF'] }, gateways: ['sima', 'simb'] },
      { name: 'sale-a-then-b', when: { commands: ['sale'], currencies: ['EUR'] }, gateways: ['sima', 'simb'] },
    ],
    'fx.settlement_currencies': { simb: ['EUR', 'USD'] },
    'routing.failover.enabled': true,
    'caps.rules': [
      // One EUR operation a day at sima: what the attempt there reserved is given back with the refusal at simb, once
      // (or the next EUR operation there would be refused).
      { scope: 'gateway', name: 'sima', currency: 'EUR', daily_count: 1 },
      { scope: 'gateway', name: 'simb', currency: 'EUR', max_amount: 100 },
      { scope: 'gateway', name: 'simb', currency: 'USD', max_amount: 100 },
    ],
    'authorizations.orphan_reversal': 'on',
    gateways: {
      sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: SECRET_A, timeout_ms: 2000 },
      simb: atB,
      simc: atB,
      simd: atB,
      sime: atB,
    },
  });
  const routes = createGatewayClients(config);
  web = await startWebProcess(config, logs.logger, { webhooks: routes });
  webUrl = web.server.url;
  const delivering = new Map(routes);
  delivering.set('sima', unreachableWhileAsked(routes.get('sima')!));
  delivering.set('simd', withoutAuthorize(routes.get('simd')!));
  delivering.set('sime', refusingToBuild(routes.get('sime')!));
  worker = await startWorkerProcess(config, logs.logger, { routes: delivering, notifier: { notify: async () => undefined } });
});

afterAll(async () => {
  await web?.stop();
  await worker?.stop();
  await simA?.stop();
  await simB?.stop();
  await relay?.close();
  if (config) await purgeNamespace(config).catch(() => undefined);
});

afterEach(() => {
  simaUnreachable = false;
});

/** How many EUR operations sima's cap counts today (reserved and not given back): 0 or 1, its cap being one. */
async function countedAtSima(): Promise<number> {
  const caps = new CapReservations(worker.redis, config.redis.keyPrefix, config.limits.caps.rules);
  const [refusal] = await caps.peek([{ gateway: 'sima', account: 'default', amount: 1, currency: 'EUR' }]);
  return refusal?.current ?? 0;
}

/** The warn lines of `id`'s failovers: `sending` (a move to the next gateway), `refused` (that gateway refused it). */
function failoverLines(id: string): { sending: string[]; refused: string[] } {
  const of = (message: string) => logs.lines.filter((l) => l.includes(message) && l.includes(id));
  return {
    sending: of('failover: sending the operation to its next candidate gateway'),
    refused: of('failover: the next candidate gateway refused the operation; nothing sent there'),
  };
}

/**
 * An authorization named to sima, in `currency`, whose request there fails as not sent: delivered once. The failure is
 * this test's, not sima's: sima's breaker is reset after it (three in a row, one a case, would open it for 60 s, and the
 * void of the next case's late success would wait that long at sima).
 */
async function notSentAtSima(orderId: string, currency: string, type: 'authorize' | 'sale' = 'authorize'): Promise<{ id: string; state: string }> {
  const command = channelCommand(type, {}, { gateway: 'sima', gateway_key: 'pm_card_visa', currency, order_id: orderId });
  const id = command.payment.operation_reference!;
  await worker.ledger.create(id, command);
  simaUnreachable = true;
  try {
    const step = await worker.delivery.deliver(id);
    return { id, state: step.kind === 'done' ? step.state : step.kind };
  } finally {
    simaUnreachable = false;
    worker.delivery.breaker('sima').success();
  }
}

/** sima performs the operation after all (its request did land): its answer goes out as a webhook. */
async function simaAuthorizes(id: string, currency: string, capture = false): Promise<{ id: string; status: string }> {
  const res = await fetch(`${simA.url}/v1/authorizations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json', 'idempotency-key': id },
    body: JSON.stringify({ amount: 1999, currency, payment_method: 'pm_card_visa', reference: id, ...(capture ? { capture: true } : {}) }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; status: string };
}

/** What a late success from sima left: accepted, reported as a failover's late success, voided at sima. */
async function expectReportedAndVoided(id: string, atA: { id: string }, refusedBefore: number, lateBefore: number, reason = 'CAP_EXCEEDED'): Promise<void> {
  const refused = async () => (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
  // Taken up one way or the other: recorded as the earlier attempt's, or refused as a scope mismatch.
  await eventually(
    async () => (await refused()) > refusedBefore || (await worker.ledger.interactions(id)).some((h) => h.event === 'earlier_attempt_outcome'),
    15_000,
  );
  expect(await refused()).toBe(refusedBefore);
  const voidId = voidOperationId(`${id}-sima`);
  await eventually(async () => (await worker.ledger.get(voidId))?.state === 'SUCCEEDED', 15_000);
  expect(await worker.ledger.get(voidId)).toMatchObject({
    command: 'cancel',
    payment: { gateway: 'sima', gateway_key: atA.id, orphan_reversal: 'failover_duplicate' },
  });
  expect(simA.counters().effects[voidId]).toBe(1);
  expect((await worker.ledger.interactions(id)).find((h) => h.event === 'earlier_attempt_outcome')).toMatchObject({
    gateway: 'sima',
    status: 'SUCCESS',
    gateway_reference: atA.id,
  });
  const adjustments = await worker.adjustmentStore.forOperation(id);
  expect(adjustments).toHaveLength(1);
  expect(adjustments[0]).toMatchObject({ kind: 'duplicate_after_failover', gateway: 'sima', pspReference: atA.id, direction: 'none' });
  expect(await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })).toBe(lateBefore + 1);
  expect(await refused()).toBe(refusedBefore);
  // The operation stays FAILED: an earlier attempt's outcome never settles it.
  expect(await worker.ledger.get(id)).toMatchObject({ state: 'FAILED', reason });
}

describe('a late success from the gateway a failover left, when the next gateway refused the operation', () => {
  it("refused by simb's cap: the FAILED record lists the failover from sima, and sima's late success is reported and voided there, never refused as a scope mismatch", async () => {
    const refusedBefore = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    const lateBefore = (await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })) ?? 0;
    const countedBefore = await countedAtSima();
    const releasedAtSima = async () => (await metricValue('pb_caps_releases_total', { gateway: 'sima', why: 'refused' })) ?? 0;
    const releasedBefore = await releasedAtSima();
    const { id, state } = await notSentAtSima('ORD-REFUSED-CAP', 'EUR');
    expect(state).toBe('FAILED');
    // sima's reservation went back with the FAIL (nothing holds it), once; simb reserved nothing (refused there).
    expect(await countedAtSima()).toBe(countedBefore);
    expect(await releasedAtSima()).toBe(releasedBefore + 1);
    // Counted and logged once, as the refusal it led to: never as a move sending the operation to simb.
    expect(failoverLines(id)).toEqual({ sending: [], refused: [expect.stringContaining('"reason":"CAP_EXCEEDED"')] });
    const atA = await simaAuthorizes(id, 'EUR');
    expect(atA.status).toBe('authorized');
    await expectReportedAndVoided(id, atA, refusedBefore, lateBefore);
    // The late success and its void neither count at sima again nor give anything back twice.
    expect(await countedAtSima()).toBe(countedBefore);
    expect(await releasedAtSima()).toBe(releasedBefore + 1);

    const failed = await worker.ledger.get(id);
    expect(failed).toMatchObject({ state: 'FAILED', reason: 'CAP_EXCEEDED', routing: { gateway: 'simb', index: 1 } });
    expect(failed?.routing?.failovers).toEqual([expect.objectContaining({ from: 'sima', to: 'simb', trigger: 'not_sent' })]);
    expect((await worker.ledger.interactions(id)).filter((h) => h.event === 'failover')).toEqual([expect.objectContaining({ from: 'sima', to: 'simb' })]);
    // The FAIL event the OMS got names the same route.
    expect((await worker.events.load(`${id}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'CAP_EXCEEDED',
      routing: { gateway: 'simb', failovers: [{ from: 'sima', to: 'simb', trigger: 'not_sent' }] },
    });
  });

  it("refused by FX at simb (no rate into its currency): sima's late success is reported and voided there, never refused as a scope mismatch", async () => {
    const refusedBefore = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    const lateBefore = (await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })) ?? 0;
    const { id, state } = await notSentAtSima('ORD-REFUSED-FX', 'CHF');
    expect(state).toBe('FAILED');
    const atA = await simaAuthorizes(id, 'CHF');
    await expectReportedAndVoided(id, atA, refusedBefore, lateBefore, 'FX_RATE_UNAVAILABLE');
    expect((await worker.ledger.get(id))?.routing).toMatchObject({ gateway: 'simb', failovers: [{ from: 'sima', to: 'simb' }] });
  });

  it("a sale refused by simb's cap, charged at sima after all: reported as a credit owed (duplicate_after_failover), not voidable, never refused as a scope mismatch", async () => {
    const refusedBefore = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    const reported = async () => (await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'reported' })) ?? 0;
    const reportedBefore = await reported();
    const { id, state } = await notSentAtSima('ORD-REFUSED-SALE', 'EUR', 'sale');
    expect(state).toBe('FAILED');
    const atA = await simaAuthorizes(id, 'EUR', true);
    expect(atA.status).toBe('captured');
    // Taken up one way or the other (reported, or refused as a scope mismatch): never waiting out a refusal.
    const refusedNow = async () => (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    await eventually(async () => (await refusedNow()) > refusedBefore || (await worker.adjustmentStore.forOperation(id)).length > 0, 15_000);
    expect(await refusedNow()).toBe(refusedBefore);
    expect(await worker.adjustmentStore.forOperation(id)).toEqual([
      expect.objectContaining({ kind: 'duplicate_after_failover', gateway: 'sima', pspReference: atA.id, direction: 'credit' }),
    ]);
    expect(await reported()).toBe(reportedBefore + 1);
    expect((await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0).toBe(refusedBefore);
    expect(await worker.ledger.get(voidOperationId(`${id}-sima`))).toBeNull();
    expect(await worker.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'CAP_EXCEEDED', routing: { gateway: 'simb' } });
  });

  it("a chain sima → simc (breaker open) → simb refused by its cap: the FAILED record lists both failovers, and sima's late success is reported and voided there", async () => {
    const refusedBefore = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    const lateBefore = (await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })) ?? 0;
    const breaker = worker.delivery.breaker('simc');
    for (let i = 0; i < 3; i++) breaker.failure();
    try {
      const { id, state } = await notSentAtSima('ORD-REFUSED-CHAIN', 'USD');
      expect(state).toBe('FAILED');
      const atA = await simaAuthorizes(id, 'USD');
      await expectReportedAndVoided(id, atA, refusedBefore, lateBefore);

      const failed = await worker.ledger.get(id);
      expect(failed).toMatchObject({ state: 'FAILED', reason: 'CAP_EXCEEDED', routing: { gateway: 'simb', index: 2 } });
      expect(failed?.routing?.failovers).toEqual([
        expect.objectContaining({ from: 'sima', to: 'simc', trigger: 'not_sent' }),
        expect.objectContaining({ from: 'simc', to: 'simb', trigger: 'breaker_open' }),
      ]);
      const lines = failoverLines(id);
      expect(lines.sending).toEqual([expect.stringContaining('"to":"simc"')]);
      expect(lines.refused).toEqual([expect.stringContaining('"to":"simb"')]);
    } finally {
      breaker.success();
    }
  });

  it("a failover whose request at sime is refused while being built (COMMAND_REFUSED there): sima's late success is reported and voided there", async () => {
    const refusedBefore = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    const lateBefore = (await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })) ?? 0;
    const { id, state } = await notSentAtSima('ORD-REFUSED-BUILT', 'NOK');
    expect(state).toBe('FAILED');
    expect(await worker.ledger.get(id)).toMatchObject({ routing: { gateway: 'sime', failovers: [{ from: 'sima', to: 'sime' }] } });
    expect(failoverLines(id)).toEqual({ sending: [], refused: [expect.stringContaining('"to":"sime"')] });
    const atA = await simaAuthorizes(id, 'NOK');
    await expectReportedAndVoided(id, atA, refusedBefore, lateBefore, 'COMMAND_REFUSED');
  });

  it('a failover to a gateway that does not take the command (simd takes no authorization, nothing built there): the operation stays at sima, whose late success is its outcome', async () => {
    const { id, state } = await notSentAtSima('ORD-REFUSED-BUILD', 'GBP');
    // Not sent and nowhere to go: retried at sima later, as without failover.
    expect(state).toBe('retry');
    const waiting = await worker.ledger.get(id);
    expect(waiting?.routing).toMatchObject({ gateway: 'sima', index: 0 });
    expect(waiting?.routing?.failovers).toBeUndefined();

    await simaAuthorizes(id, 'GBP');
    await eventually(async () => (await worker.ledger.get(id))?.state === 'SUCCEEDED', 15_000);
    expect(await worker.adjustmentStore.forOperation(id)).toHaveLength(0);
  });
});

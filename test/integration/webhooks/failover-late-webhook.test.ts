/**
 * A late webhook from the FIRST gateway after a failover: gateway A says "authorised" after the operation
 * moved on to B (A's status inquiry had shown nothing, as a PSP with a lagging read side can). It is real
 * money: accepted for the operation's attempt at A (not refused as a scope mismatch), recorded, reported as
 * a PSP discrepancy (adjustment event, metric, warning), and A's authorization is voided at A. The
 * operation's own outcome stays B's. Two real simulators; A's webhooks reach the real web process.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { useFailoverPair } from '../../support/failover-pair';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { WebhookRelay, startWebhookRelay } from '../../support/webhook-relay';

jest.setTimeout(120_000);

const KEY_A = 'sim-late-a-key-0123456789';
const KEY_B = 'sim-late-b-key-0123456789';
const SECRET_A = 'whsec-late-failover-a-0123456789';
const SECRET_B = 'whsec-late-failover-b-0123456789';

let relay: WebhookRelay;
let simA: PspSimulator;
let simB: PspSimulator;
const logs = captureLogger('info');

const pair = useFailoverPair({
  async start() {
    // The simulators need the webhook URL before the web process (which needs their URLs) is up: a relay.
    relay = await startWebhookRelay(() => pair.webUrl);
    const relayUrl = relay.url;
    simA = await startPspSimulator({ apiKey: KEY_A, webhookSecret: SECRET_A, webhookUrl: `${relayUrl}/webhooks/sima`, syncWebhooks: true });
    simB = await startPspSimulator({ apiKey: KEY_B, webhookSecret: SECRET_B });
    return {
      sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: SECRET_A, timeout_ms: 2000 },
      simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: SECRET_B, timeout_ms: 2000 },
    };
  },
  async stop() {
    await simA?.stop();
    await simB?.stop();
    await relay?.close();
  },
  logger: logs.logger,
});
/** The pair's worker, by the name the tests use. */
let worker: WorkerProcess;
beforeAll(() => {
  worker = pair.worker;
});

/** An authorization named to sima that failed over to simb (sima's breaker open) and SUCCEEDED there. */
const failedOver = (orderId: string): Promise<string> => pair.failedOver(orderId, 'pm_card_visa', 'SUCCEEDED');

/** sima performs the operation after all (what its inquiry did not show): its answer goes out as a webhook. */
async function simaAuthorizes(id: string, paymentMethod = 'pm_card_visa', amount = 1999): Promise<{ id: string; status: string }> {
  const res = await fetch(`${simA.url}/v1/authorizations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json', 'idempotency-key': id },
    body: JSON.stringify({ amount, currency: 'EUR', payment_method: paymentMethod, reference: id }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; status: string };
}

describe('a late webhook from the gateway an authorization failed over from', () => {
  it('is accepted for the attempt at A, reported (adjustment, metric, warning), and A’s authorization is voided at A', async () => {
    const refusedBefore = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    const lateBefore = (await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })) ?? 0;
    const id = await failedOver('ORD-LATE-A');
    const atA = await simaAuthorizes(id);
    expect(atA.status).toBe('authorized');

    const voidId = voidOperationId(`${id}-sima`);
    await eventually(async () => (await worker.ledger.get(voidId))?.state === 'SUCCEEDED', 60_000);
    // The void went to A, naming A's authorization; A's authorization is cancelled there.
    expect(simA.counters().effects[voidId]).toBe(1);
    const voided = await worker.ledger.get(voidId);
    expect(voided).toMatchObject({ command: 'cancel', payment: { gateway: 'sima', gateway_key: atA.id, orphan_reversal: 'failover_duplicate' } });
    const now = (await (await fetch(`${simA.url}/v1/authorizations/${atA.id}`, { headers: { authorization: `Bearer ${KEY_A}` } })).json()) as {
      status: string;
    };
    expect(now.status).toBe('cancelled');

    // The operation's outcome stays B's; the fact is on record and reported.
    const op = await worker.ledger.get(id);
    expect(op).toMatchObject({ state: 'SUCCEEDED', routing: { gateway: 'simb' } });
    const history = await worker.ledger.interactions(id);
    expect(history.find((h) => h.event === 'earlier_attempt_outcome')).toMatchObject({ gateway: 'sima', status: 'SUCCESS', gateway_reference: atA.id });
    const adjustments = await worker.adjustmentStore.forOperation(id);
    expect(adjustments).toHaveLength(1);
    expect(adjustments[0]).toMatchObject({ kind: 'duplicate_after_failover', gateway: 'sima', pspReference: atA.id, direction: 'none' });
    expect(await metricValue('pb_failover_late_successes_total', { gateway: 'sima', outcome: 'voided' })).toBe(lateBefore + 1);
    expect(await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })).toBe(refusedBefore);
    const warning = logs.lines.find((l) => l.includes('PSP discrepancy: a gateway the operation failed over from reports success') && l.includes(id));
    expect(warning).toContain('"level":"warn"');
  });

  it("A authorised less than the order (EUR 15.00 of 19.99): the void at A asks what A confirmed, not the order's amount; the decision, log line and history say so", async () => {
    const id = await failedOver('ORD-LATE-PARTIAL');
    const atA = await simaAuthorizes(id, 'pm_card_visa', 1500);
    expect(atA.status).toBe('authorized');
    const voidId = voidOperationId(`${id}-sima`);
    await eventually(async () => (await worker.ledger.get(voidId))?.state === 'SUCCEEDED', 60_000);
    expect(await worker.ledger.get(voidId)).toMatchObject({
      command: 'cancel',
      payment: { gateway: 'sima', gateway_key: atA.id, amount: 1500, currency: 'EUR', orphan_reversal: 'failover_duplicate' },
    });
    expect(await worker.ledger.interactions(id)).toContainEqual(
      expect.objectContaining({
        event: 'orphan_reversal',
        outcome: 'voided',
        reason: 'failover_duplicate',
        reversal_operation_id: voidId,
        amount: 1500,
        currency: 'EUR',
        amount_basis: 'confirmed',
      }),
    );
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'orphan reversal: voiding an authorization nothing will capture' && l.void_operation_id === voidId);
    expect(line).toMatchObject({ gateway: 'sima', reason: 'failover_duplicate', amount: 1500, currency: 'EUR', amount_basis: 'confirmed' });
  });

  it('a decline from A after the failover is recorded in the history only: nothing voided, nothing adjusted', async () => {
    const id = await failedOver('ORD-LATE-DECLINE');
    expect((await simaAuthorizes(id, 'pm_card_declined')).status).toBe('declined');
    await eventually(async () => (await worker.ledger.interactions(id)).some((h) => h.event === 'earlier_attempt_outcome'), 60_000);
    expect((await worker.ledger.interactions(id)).find((h) => h.event === 'earlier_attempt_outcome')).toMatchObject({ gateway: 'sima', status: 'FAIL' });
    expect(await worker.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', routing: { gateway: 'simb' } });
    expect(await worker.adjustmentStore.forOperation(id)).toHaveLength(0);
    expect(await worker.ledger.get(voidOperationId(`${id}-sima`))).toBeNull();
  });

  it('still refuses a webhook of a gateway the operation never tried', async () => {
    const before = (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0;
    // Routed straight to simb (sima's breaker closed but the rule skipped): an operation named to simb only.
    const command = channelCommand('authorize', {}, { gateway: 'simb', gateway_key: 'pm_card_visa', currency: 'USD', order_id: 'ORD-NEVER-A' });
    const id = command.payment.operation_reference!;
    await worker.ledger.create(id, command);
    expect(await worker.delivery.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await worker.ledger.get(id))?.routing?.failovers).toBeUndefined();
    await simaAuthorizes(id);
    await eventually(async () => ((await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'sima', check: 'gateway' })) ?? 0) > before, 60_000);
    expect(await worker.adjustmentStore.forOperation(id)).toHaveLength(0);
  });
});

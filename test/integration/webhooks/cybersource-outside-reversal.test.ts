/**
 * A Cybersource reversal, void or refund of a payment the OMS was told SUCCEEDED that the bridge did not send (the
 * Business Center, Decision Manager's REVERSE), carrying the payment's merchant reference, through the real path
 * (signed webhook → route → outcome worker → status inquiry at a local Cybersource stand-in → adjustment → OMS event)
 * on the real Redis:
 * - `payments.reversals.accept` of an authorization: its `failed_after_success` (direction `none`), once the transaction
 *   search confirms the whole release (`AUTH_ALREADY_REVERSED`); `payments.voids.accept` of a sale: its `capture_failed`
 *   (direction `debit`, `CAPTURE_ALREADY_VOIDED`). Once, however often Cybersource resends the notification.
 * - `payments.refunds.accept` of a sale: its `refund_outside_bridge` (direction `debit`), once; of a capture of ours (a
 *   follow-on credit carries the capture's merchant reference): its authorization's.
 * - the reversal of a cancel of ours, naming that cancel: settles it, no adjustment; the same reversal told again naming
 *   the authorization: one transaction, nothing new; a reversal named by the authorization once that cancel succeeded:
 *   the cancel seen again, no adjustment.
 * - one refund or void told under two notifications (two notificationIds): one adjustment, keyed by its transaction.
 * - `payments.voids.accept` of a capture of ours (a Business Center void carries the capture's merchant reference): the
 *   capture's `capture_failed` (direction `debit`), once the search shows it voided (`CAPTURE_ALREADY_VOIDED`), dated by
 *   the void (`occurred_at`, its `submitTimeUtc`), once.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { cybersourceWebhookGateway, postCybersourceSigned, succeededOperation, useWebhookStack } from '../../support/webhook-stack';

jest.setTimeout(60_000);

const WEBHOOK_KEY = Buffer.from('outside-reversal-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';

type Json = Record<string, unknown>;

/** Transaction search summaries by merchant reference (our operation id), newest first as Cybersource lists them. */
const summaries = new Map<string, Json[]>();
let pspUrl = '';
const psp = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    res.writeHead(req.method === 'POST' && req.url === '/tss/v2/searches' ? 201 : 404, { 'content-type': 'application/hal+json' });
    if (req.method !== 'POST' || req.url !== '/tss/v2/searches') return void res.end('{"reason":"NOT_FOUND"}');
    const reference = /clientReferenceInformation\.code:(\S+)/.exec((JSON.parse(body) as { query: string }).query)?.[1] ?? '';
    const listed = summaries.get(reference) ?? [];
    res.end(JSON.stringify({ totalCount: listed.length, _embedded: { transactionSummaries: listed } }));
  });
});
// Before the stack's own beforeAll: its gateway's base URL is this server's.
beforeAll(async () => {
  await new Promise<void>((resolve) => psp.listen(0, '127.0.0.1', resolve));
  pspUrl = `http://127.0.0.1:${(psp.address() as AddressInfo).port}`;
});
afterAll(async () => {
  psp.closeAllConnections();
  await new Promise<void>((resolve) => psp.close(() => resolve()));
});

const log = captureLogger('info');
const adjusted: Array<{ payment: Json; adjustment: Json }> = [];
const stack = useWebhookStack(() => ({ cybs: { ...cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY), base_url: pspUrl, timeout_ms: 2000 } }), {
  webLogger: log.logger,
  config: { 'delivery.late_failure_confirm_ms': 200, 'delivery.backoff_base_ms': 100, 'delivery.backoff_max_ms': 300 },
  notify: async (_method, params) => {
    const p = params as { payment: Json; adjustment?: Json };
    if (p.adjustment) adjusted.push({ payment: p.payment, adjustment: p.adjustment });
  },
});

let seq = 0;
const eventsOf = (id: string) => adjusted.filter((e) => e.payment.operation_reference === id);
const settle = () => new Promise((r) => setTimeout(r, 1500));

/** A summary of the search: transaction `id` under merchant reference `code`, its `applications`, made `at`. */
function summary(id: string, code: string, at: number, applications: string[]): Json {
  return {
    id,
    submitTimeUtc: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    clientReferenceInformation: { code },
    applicationInformation: { rCode: '1', rFlag: 'SOK', reasonCode: '100', applications: applications.map((name) => ({ name, rCode: '1' })) },
    orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
  };
}

async function succeeded(command: 'authorize' | 'sale', paymentId: string): Promise<OperationRecord> {
  const op = await succeededOperation(
    stack.worker,
    command,
    { gateway: 'cybs', amount: 10221, currency: 'USD', order_id: `order-outside-reversal-${++seq}` },
    paymentId,
  );
  expect(op.state).toBe('SUCCEEDED');
  return op;
}

/** A notification `eventType` of transaction `transactionId` under merchant reference `code` (`retryNumber`: a resend). */
function post(eventType: string, notificationId: string, code: string, transactionId: string, retryNumber = 0): Promise<number> {
  const body = JSON.stringify({
    notificationId,
    retryNumber,
    eventType,
    eventDate: new Date().toISOString(),
    payload: [
      {
        organizationId: ORGANIZATION,
        data: {
          id: transactionId,
          type: 'payments',
          clientReferenceInformation: { code },
          orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
        },
      },
    ],
  });
  return postCybersourceSigned(stack, 'cybs', body, WEBHOOK_KEY);
}

describe('a Cybersource reversal, void or refund the bridge did not send, of a payment the OMS was told SUCCEEDED', () => {
  it("a reversal of an authorization (Business Center, Decision Manager's REVERSE) is its failed_after_success once the search confirms it, once however often resent", async () => {
    const auth = await succeeded('authorize', '7000000000000000000031');
    const made = Date.now() - 60_000;
    summaries.set(auth.id, [
      summary('7000000000000000000032', auth.id, made + 30_000, ['ics_auth_reversal']),
      summary('7000000000000000000031', auth.id, made, ['ics_auth']),
    ]);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'confirmed' });
    expect(await post('payments.reversals.accept', 'n-reversal-outside-a', auth.id, '7000000000000000000032')).toBe(200);

    await eventually(async () => eventsOf(auth.id).length === 1, 20_000);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({ kind: 'failed_after_success', direction: 'none', gateway: 'cybs', source: 'webhook' });
    // Counted once the adjustment is recorded, which the event may overtake.
    await eventually(
      async () => (await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'confirmed' })) === before + 1,
      5_000,
    );
    // The ledger never moves back; the OMS was told by the adjustment.
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');

    // Cybersource resends the notification (same notificationId, next retryNumber): nothing new.
    expect(await post('payments.reversals.accept', 'n-reversal-outside-a', auth.id, '7000000000000000000032', 1)).toBe(200);
    await settle();
    expect(eventsOf(auth.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(1);
  });

  it('a void of a sale is its capture_failed (debit), once', async () => {
    const sale = await succeeded('sale', '7000000000000000000041');
    const made = Date.now() - 60_000;
    summaries.set(sale.id, [
      summary('7000000000000000000042', sale.id, made + 30_000, ['ics_void']),
      summary('7000000000000000000041', sale.id, made, ['ics_auth', 'ics_bill']),
    ]);
    expect(await post('payments.voids.accept', 'n-void-outside-a', sale.id, '7000000000000000000042')).toBe(200);
    await eventually(async () => eventsOf(sale.id).length === 1, 20_000);
    // Dated by the void the search found (its submitTimeUtc), as the PSP says it.
    expect(eventsOf(sale.id)[0].adjustment).toMatchObject({
      kind: 'capture_failed',
      direction: 'debit',
      gateway: 'cybs',
      occurred_at: new Date(Math.floor((made + 30_000) / 1000) * 1000).toISOString(),
    });
    expect(await post('payments.voids.accept', 'n-void-outside-a', sale.id, '7000000000000000000042', 1)).toBe(200);
    await settle();
    expect(eventsOf(sale.id)).toHaveLength(1);
  });

  it("a Business Center void of a capture of ours (it carries the capture's merchant reference) is the capture's capture_failed, dated by the void, once", async () => {
    const auth = await succeeded('authorize', '7000000000000000000111');
    const capture = await succeededOperation(
      stack.worker,
      'capture',
      { gateway: 'cybs', gateway_key: '7000000000000000000111', amount: 10221, currency: 'USD', order_id: auth.payment.order_id },
      '7000000000000000000112',
    );
    expect(capture.state).toBe('SUCCEEDED');
    const made = Date.now() - 60_000;
    summaries.set(capture.id, [
      summary('7000000000000000000113', capture.id, made + 30_000, ['ics_void']),
      summary('7000000000000000000112', capture.id, made, ['ics_bill']),
    ]);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'confirmed' });
    expect(await post('payments.voids.accept', 'n-void-of-capture-a', capture.id, '7000000000000000000113')).toBe(200);

    await eventually(async () => eventsOf(capture.id).length === 1, 20_000);
    expect(eventsOf(capture.id)[0].adjustment).toMatchObject({
      kind: 'capture_failed',
      direction: 'debit',
      amount: 10221,
      currency: 'USD',
      gateway: 'cybs',
      reason: 'payments.voids.accept',
      occurred_at: new Date(Math.floor((made + 30_000) / 1000) * 1000).toISOString(),
    });
    // Counted once the adjustment is recorded, which the event may overtake.
    await eventually(
      async () => (await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'confirmed' })) === before + 1,
      5_000,
    );
    expect((await stack.worker.ledger.get(capture.id))?.state).toBe('SUCCEEDED');
    // Told again (a resend, and the same void as payments.voids.accepted): one transaction, one fact.
    expect(await post('payments.voids.accept', 'n-void-of-capture-a', capture.id, '7000000000000000000113', 1)).toBe(200);
    expect(await post('payments.voids.accepted', 'n-void-of-capture-b', capture.id, '7000000000000000000113')).toBe(200);
    await settle();
    expect(eventsOf(capture.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(capture.id)).toHaveLength(1);
    expect(eventsOf(auth.id)).toHaveLength(0);
  });

  it("a Business Center void of a refund of ours (it carries the refund's merchant reference) is the refund's refund_failed, dated by the void, once", async () => {
    const sale = await succeeded('sale', '7000000000000000000121');
    const refund = await succeededOperation(
      stack.worker,
      'refund',
      { gateway: 'cybs', gateway_key: '7000000000000000000121', amount: 10221, currency: 'USD', order_id: sale.payment.order_id },
      '7000000000000000000122',
    );
    expect(refund.state).toBe('SUCCEEDED');
    const made = Date.now() - 60_000;
    summaries.set(refund.id, [
      summary('7000000000000000000123', refund.id, made + 30_000, ['ics_void']),
      summary('7000000000000000000122', refund.id, made, ['ics_credit']),
    ]);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'confirmed' });
    expect(await post('payments.voids.accept', 'n-void-of-refund-a', refund.id, '7000000000000000000123')).toBe(200);

    await eventually(async () => eventsOf(refund.id).length === 1, 20_000);
    expect(eventsOf(refund.id)[0].adjustment).toMatchObject({
      kind: 'refund_failed',
      direction: 'credit',
      amount: 10221,
      currency: 'USD',
      gateway: 'cybs',
      reason: 'payments.voids.accept',
      occurred_at: new Date(Math.floor((made + 30_000) / 1000) * 1000).toISOString(),
    });
    await eventually(
      async () => (await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'confirmed' })) === before + 1,
      5_000,
    );
    expect((await stack.worker.ledger.get(refund.id))?.state).toBe('SUCCEEDED');
    // Told again (a resend, and the same void as payments.voids.accepted): one transaction, one fact.
    expect(await post('payments.voids.accept', 'n-void-of-refund-a', refund.id, '7000000000000000000123', 1)).toBe(200);
    expect(await post('payments.voids.accepted', 'n-void-of-refund-b', refund.id, '7000000000000000000123')).toBe(200);
    await settle();
    expect(eventsOf(refund.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(refund.id)).toHaveLength(1);
    expect(eventsOf(sale.id)).toHaveLength(0);
  });

  it('a refund of a sale made in the Business Center is its refund_outside_bridge (debit, the refund id), once', async () => {
    const sale = await succeeded('sale', '7000000000000000000051');
    const before = await metricValue('pb_webhook_outside_refunds_total', { gateway: 'cybs', outcome: 'reported' });
    expect(await post('payments.refunds.accept', 'n-refund-outside-a', sale.id, '7000000000000000000052')).toBe(200);

    await eventually(async () => eventsOf(sale.id).length === 1, 20_000);
    expect(eventsOf(sale.id)[0].adjustment).toMatchObject({
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 10221,
      currency: 'USD',
      gateway: 'cybs',
      psp_reference: '7000000000000000000052',
    });
    // Counted once the adjustment is recorded, which the event may overtake.
    await eventually(async () => (await metricValue('pb_webhook_outside_refunds_total', { gateway: 'cybs', outcome: 'reported' })) === before + 1, 5_000);
    expect((await stack.worker.ledger.get(sale.id))?.state).toBe('SUCCEEDED');

    expect(await post('payments.refunds.accept', 'n-refund-outside-a', sale.id, '7000000000000000000052', 1)).toBe(200);
    await settle();
    expect(eventsOf(sale.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(sale.id)).toHaveLength(1);
  });

  it("a Business Center credit of a capture of ours (a follow-on credit carries the capture's merchant reference) is the authorization's refund_outside_bridge", async () => {
    const auth = await succeeded('authorize', '7000000000000000000101');
    const capture = await succeededOperation(
      stack.worker,
      'capture',
      { gateway: 'cybs', gateway_key: '7000000000000000000101', amount: 10221, currency: 'USD', order_id: auth.payment.order_id },
      '7000000000000000000102',
    );
    expect(capture.state).toBe('SUCCEEDED');
    expect(await post('payments.refunds.accept', 'n-refund-of-capture-a', capture.id, '7000000000000000000103')).toBe(200);

    await eventually(async () => eventsOf(auth.id).length === 1, 20_000);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 10221,
      psp_reference: '7000000000000000000103',
    });
    await settle();
    expect(eventsOf(capture.id)).toHaveLength(0);
    expect(await stack.worker.adjustmentStore.forOperation(capture.id)).toHaveLength(0);
  });

  it('one refund told under two notifications (another notificationId: a second subscription, a later update) is one refund_outside_bridge', async () => {
    const sale = await succeeded('sale', '7000000000000000000071');
    expect(await post('payments.refunds.accept', 'n-refund-twice-a', sale.id, '7000000000000000000072')).toBe(200);
    await eventually(async () => eventsOf(sale.id).length === 1, 20_000);
    expect(await post('payments.refunds.accept', 'n-refund-twice-b', sale.id, '7000000000000000000072')).toBe(200);
    await settle();
    expect(eventsOf(sale.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(sale.id)).toHaveLength(1);
    // Another refund of the same payment is another fact.
    expect(await post('payments.refunds.accept', 'n-refund-twice-c', sale.id, '7000000000000000000073')).toBe(200);
    await eventually(async () => eventsOf(sale.id).length === 2, 20_000);
    expect(eventsOf(sale.id).map((e) => e.adjustment.psp_reference)).toEqual(['7000000000000000000072', '7000000000000000000073']);
  });

  it('one void told as payments.voids.accept and payments.voids.accepted (two notifications) is one capture_failed', async () => {
    const sale = await succeeded('sale', '7000000000000000000081');
    const made = Date.now() - 60_000;
    summaries.set(sale.id, [
      summary('7000000000000000000082', sale.id, made + 30_000, ['ics_void']),
      summary('7000000000000000000081', sale.id, made, ['ics_auth', 'ics_bill']),
    ]);
    expect(await post('payments.voids.accept', 'n-void-twice-a', sale.id, '7000000000000000000082')).toBe(200);
    await eventually(async () => eventsOf(sale.id).length === 1, 20_000);
    expect(await post('payments.voids.accepted', 'n-void-twice-b', sale.id, '7000000000000000000082')).toBe(200);
    await settle();
    expect(eventsOf(sale.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(sale.id)).toHaveLength(1);
  });

  it('a partial reversal of an authorization, never confirmed whole through the attempts, is counted, logged at error and kept in its history, not dropped silently', async () => {
    const auth = await succeeded('authorize', '7000000000000000000091');
    const made = Date.now() - 60_000;
    const part = summary('7000000000000000000092', auth.id, made + 30_000, ['ics_auth_reversal']);
    summaries.set(auth.id, [
      { ...part, orderInformation: { amountDetails: { totalAmount: '50.00', currency: 'USD' } } },
      summary('7000000000000000000091', auth.id, made, ['ics_auth']),
    ]);
    const left = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'left' });
    expect(await post('payments.reversals.accept', 'n-reversal-partial-a', auth.id, '7000000000000000000092')).toBe(200);
    // Its search answer is believed only once the search's lag (15 minutes) has passed since the webhook arrived: put
    // off until then, the job is queued again as if it had arrived that long ago.
    const jobId = 'wh.cybs.7000000000000000000092~succeeded';
    await eventually(async () => (await stack.outcomes.getJob(jobId))?.delay !== undefined && (await stack.outcomes.getJobState(jobId)) === 'delayed', 20_000);
    const queued = (await stack.outcomes.getJob(jobId))!;
    await queued.remove();
    await stack.outcomes.add('outcome', queued.data, { jobId, timestamp: Date.now() - 16 * 60_000 });

    await eventually(async () => (await metricValue('pb_webhook_failures_after_success_total', { gateway: 'cybs', outcome: 'left' })) === left + 1, 40_000);
    await eventually(async () => (await stack.outcomes.getJobState(jobId)) === 'failed', 10_000);
    const unconfirmed = (await stack.worker.ledger.interactions(auth.id)).filter((h) => h.event === 'webhook_failure_unconfirmed');
    expect(unconfirmed).toHaveLength(1);
    expect(unconfirmed[0]).toMatchObject({ psp_status: 'payments.reversals.accept', why: expect.stringContaining('PENDING') });
    expect(log.lines.some((l) => l.includes('"level":"error"') && l.includes('never confirmed') && l.includes(auth.id))).toBe(true);
    // Not reported: what stands of the authorization is not known.
    expect(eventsOf(auth.id)).toHaveLength(0);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
  });

  it('the reversal of a cancel of ours settles that cancel and reports no adjustment, even named by the authorization after', async () => {
    const auth = await succeeded('authorize', '7000000000000000000061');
    const cmd = channelCommand('cancel', {}, { gateway: 'cybs', gateway_key: auth.id, amount: 10221, currency: 'USD', order_id: auth.payment.order_id });
    const cancel = cmd.payment.operation_reference!;
    await stack.worker.ledger.create(cancel, cmd, Date.now(), { event: 'attempt' });
    await stack.worker.ledger.transition(
      cancel,
      'PENDING',
      { event: 'outcome' },
      {
        gatewayReference: '7000000000000000000062',
        nextCheckAt: Date.now() + 600_000,
        pollStep: 0,
      },
    );
    const made = Date.now() - 60_000;
    summaries.set(auth.id, [
      summary('7000000000000000000062', cancel, made + 30_000, ['ics_auth_reversal']),
      summary('7000000000000000000061', auth.id, made, ['ics_auth']),
    ]);

    // Our reversal names our cancel (its merchant reference is the cancel's operation id).
    expect(await post('payments.reversals.accept', 'n-reversal-own-a', cancel, '7000000000000000000062')).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(cancel))?.state === 'SUCCEEDED', 20_000);

    // The same reversal told again under another notification, naming the authorization: one transaction, one fact.
    expect(await post('payments.reversals.accept', 'n-reversal-own-b', auth.id, '7000000000000000000062')).toBe(200);
    // A reversal of the authorization once our cancel of it succeeded: the cancel of ours seen again.
    expect(await post('payments.reversals.accept', 'n-reversal-own-c', auth.id, '7000000000000000000063')).toBe(200);
    await eventually(async () => log.lines.some((l) => l.includes('the bridge or the OMS voided') && l.includes(auth.id)), 20_000);
    await settle();
    expect(eventsOf(auth.id)).toHaveLength(0);
    expect(eventsOf(cancel)).toHaveLength(0);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(0);
  });
});

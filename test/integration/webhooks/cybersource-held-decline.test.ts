/**
 * A decline of a resend held UNRESOLVED at Cybersource (no idempotency key: a resend is a new request, its decline
 * answers that request only, after an earlier attempt that may have landed: src/delivery/held-failover.ts), then a
 * signed Cybersource webhook about it, through the real path (delivery at a local Cybersource stand-in → signed
 * webhook → route → outcome worker → ledger) on the real Redis. Both transactions carry the operation id as their
 * merchant reference (`clientReferenceInformation.code`), which is how the webhook names the operation; the
 * transaction id (`data.id`) is the only thing that tells them apart, and the bridge knows neither of the earlier one.
 * - a reject of the resend's transaction is history only: the operation stays UNRESOLVED, never FAILED;
 * - so is one processed before the resend's own DECLINED answer is recorded (the earlier attempt is unproven all the
 *   same), while at a gateway that replays a key's answer (the simulator) the same reject settles it FAILED;
 * - an accept of the earlier transaction is the PSP's fact: SUCCEEDED.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { Poller } from '../../../src/poller/poller';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import {
  cybersourceWebhookGateway,
  postCybersourceSigned,
  postSimulatorSigned,
  simulatorAuthorizationEvent,
  simulatorWebhookGateway,
  useWebhookStack,
} from '../../support/webhook-stack';

jest.setTimeout(60_000);

const WEBHOOK_KEY = Buffer.from('held-decline-webhook-test-key-0123').toString('base64');
const ORGANIZATION = 'testrest';
const SIMULATOR_SECRET = 'whsec-held-decline-simulator-0123';
/** The resend's transaction, declined (the 201 DECLINED's id); 22 digits with no Luhn-valid card-length window. */
const RESEND_ID = '6381278241084565900600';
/** The earlier attempt's transaction, which the 400 PROCESSOR_UNAVAILABLE answer never named. */
const EARLIER_ID = '6381278241084565900602';

/** Cybersource's 400 `PROCESSOR_UNAVAILABLE`: a `server_error`, which the bridge cannot read as "did nothing". */
const PROCESSOR_UNAVAILABLE = { status: 400, body: { status: 'INVALID_REQUEST', reason: 'PROCESSOR_UNAVAILABLE', message: 'processor unavailable' } };
/** A 201 `DECLINED` of the resend by the processor. */
const DECLINED = { status: 201, body: { id: RESEND_ID, status: 'DECLINED', errorInformation: { reason: 'PROCESSOR_DECLINED', message: 'declined' } } };

/** An answer of the stand-in: sent once `after` (if any) has resolved; `reached` is called when its request arrives. */
interface Answer {
  status: number;
  body: Record<string, unknown>;
  after?: Promise<void>;
  reached?: () => void;
}

/** The stand-in answers each payment request with the next of `answers`. */
let answers: Answer[] = [];
/** The transaction summaries the stand-in's Transaction Search lists (`POST /tss/v2/searches`). */
let summaries: Record<string, unknown>[] = [];
let pspUrl = '';
const psp = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/tss/v2/searches') {
      res.writeHead(201, { 'content-type': 'application/hal+json;charset=utf-8' });
      return void res.end(JSON.stringify({ count: summaries.length, totalCount: summaries.length, _embedded: { transactionSummaries: summaries } }));
    }
    const next = req.method === 'POST' && req.url === '/pts/v2/payments' ? answers.shift() : undefined;
    next?.reached?.();
    void (next?.after ?? Promise.resolve()).then(() => {
      res.writeHead(next?.status ?? 404, { 'content-type': 'application/hal+json' });
      res.end(JSON.stringify(next?.body ?? { reason: 'NOT_FOUND' }));
    });
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
/** What the OMS was told (method and params of each notification), in order. */
const told: { method: string; params: Record<string, unknown> }[] = [];
const stack = useWebhookStack(
  () => ({
    // Long enough for a webhook to be handled while the resend's answer is held back.
    cybs: { ...cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY), base_url: pspUrl, timeout_ms: 15_000 },
    sim: simulatorWebhookGateway(SIMULATOR_SECRET),
  }),
  { webLogger: log.logger, notify: async (method, params) => void told.push({ method, params }) },
);

/** The statuses of what the OMS was told about operation `id`, in order. */
const toldStatuses = (id: string): unknown[] =>
  told
    .map((n) => n.params.payment as Record<string, unknown> | undefined)
    .filter((p) => p?.operation_reference === id)
    .map((p) => p?.status);

/** An authorization whose resend's decline was held: a PROCESSOR_UNAVAILABLE, then the resend DECLINED. */
async function heldAuthorization(): Promise<string> {
  answers = [PROCESSOR_UNAVAILABLE, DECLINED];
  const command = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
  const id = command.payment.operation_reference!;
  await stack.worker.ledger.create(id, command);
  expect((await stack.worker.delivery.deliver(id)).kind).toBe('retry');
  expect(await stack.worker.delivery.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
  const history = await stack.worker.ledger.interactions(id);
  expect(history.map((h) => h.event)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'attempt_ended', 'unresolved']);
  expect(history[4]).toMatchObject({ decline_held: 'decline_of_new_request' });
  return id;
}

/** A notification `eventType` of transaction `transactionId` under merchant reference `code` (the operation id). */
function post(eventType: string, notificationId: string, code: string, transactionId: string): Promise<number> {
  const body = JSON.stringify({
    notificationId,
    retryNumber: 0,
    eventType,
    eventDate: new Date().toISOString(),
    payload: [
      {
        organizationId: ORGANIZATION,
        data: {
          id: transactionId,
          type: 'payments',
          clientReferenceInformation: { code },
          orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'USD' } },
          ...(eventType.endsWith('.reject') ? { errorInformation: { reason: 'PROCESSOR_DECLINED' } } : {}),
        },
      },
    ],
  });
  return postCybersourceSigned(stack, 'cybs', body, WEBHOOK_KEY);
}

const heldFails = async () => (await metricValue('pb_webhook_held_decline_fails_total', { gateway: 'cybs' })) ?? 0;

describe('Cybersource: a webhook about an operation whose decline of a resend was held UNRESOLVED', () => {
  it("a reject of the resend's transaction does not settle it: recorded in its history, UNRESOLVED, no FAILED event, counted, logged at warn", async () => {
    const id = await heldAuthorization();
    const before = await heldFails();
    expect(await post('payments.payments.reject', 'n-held-reject-a', id, RESEND_ID)).toBe(200);

    // Its history entry (held, or the move it made) is written once the worker has handled it.
    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.provider_event_id === 'n-held-reject-a'), 20_000);
    expect(await stack.worker.ledger.get(id)).toMatchObject({ state: 'UNRESOLVED', attempts: 2 });
    expect(await stack.worker.events.load(`${id}.FAILED`)).toBeNull();
    const entry = (await stack.worker.ledger.interactions(id)).find((h) => h.event === 'webhook_fail_held');
    expect(entry).toMatchObject({
      source: 'webhook',
      gateway: 'cybs',
      gateway_status: 'payments.payments.reject',
      gateway_reference: RESEND_ID,
      provider_event_id: 'n-held-reject-a',
    });
    expect(await heldFails()).toBe(before + 1);
    const line = log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('webhook failure held back'));
    expect(line).toMatchObject({ level: 'warn', operation_id: id, gateway: 'cybs', webhook_status: 'payments.payments.reject', event_id: 'n-held-reject-a' });
  });

  it("a review's reject of it records on its held entry that the PSP says funds are held (funds_held review_rejected), in the warn line too", async () => {
    const id = await heldAuthorization();
    expect(await post('risk.casemanagement.decision.reject', 'n-held-review-a', id, EARLIER_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.provider_event_id === 'n-held-review-a'), 20_000);
    expect((await stack.worker.ledger.get(id))?.state).toBe('UNRESOLVED');
    const entry = (await stack.worker.ledger.interactions(id)).find((h) => h.provider_event_id === 'n-held-review-a');
    expect(entry).toMatchObject({ event: 'webhook_fail_held', gateway_status: 'risk.casemanagement.decision.reject', funds_held: 'review_rejected' });
    const line = log.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => String(l.message).startsWith('webhook failure held back') && l.event_id === 'n-held-review-a');
    expect(line).toMatchObject({ level: 'warn', operation_id: id, funds_held: 'review_rejected' });
  });

  it("an accept of the earlier attempt's transaction settles it SUCCEEDED (the PSP's fact), a reject of the resend after it changes nothing", async () => {
    const id = await heldAuthorization();
    expect(await post('payments.payments.accept', 'n-held-accept-a', id, EARLIER_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED', 20_000);
    expect(await stack.worker.ledger.get(id)).toMatchObject({ gatewayReference: EARLIER_ID, confirmedAmount: 10000 });
    expect(await stack.worker.events.load(`${id}.SUCCEEDED`)).not.toBeNull();

    expect(await post('payments.payments.reject', 'n-held-accept-b', id, RESEND_ID)).toBe(200);
    // A failure of what the OMS was told SUCCEEDED goes the failure-after-success way (confirmed at the PSP, never
    // applied): given time, the operation has not moved.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(await stack.worker.events.load(`${id}.FAILED`)).toBeNull();
  });
});

describe('a reject webhook processed before the answer of the resend it is about is recorded', () => {
  it("at Cybersource (a resend is a new request) after a 5xx: held, not FAILED; the resend's DECLINED then leaves it UNRESOLVED; counted; the OMS told nothing FAILED", async () => {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reached = (): void => undefined;
    const resendReached = new Promise<void>((resolve) => (reached = resolve));
    answers = [PROCESSOR_UNAVAILABLE, { ...DECLINED, after: released, reached }];
    const command = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await stack.worker.ledger.create(id, command);
    expect((await stack.worker.delivery.deliver(id)).kind).toBe('retry');
    const resend = stack.worker.delivery.deliver(id);
    try {
      // The resend is at the PSP (its `attempt` entry on record, no end yet) when its reject is handled.
      await resendReached;
      const before = await heldFails();
      expect(await post('payments.payments.reject', 'n-race-reject-a', id, RESEND_ID)).toBe(200);
      await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.provider_event_id === 'n-race-reject-a'), 20_000);
      expect(await stack.worker.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2 });
      expect((await stack.worker.ledger.interactions(id)).find((h) => h.event === 'webhook_fail_held')).toMatchObject({
        gateway: 'cybs',
        gateway_status: 'payments.payments.reject',
        gateway_reference: RESEND_ID,
        provider_event_id: 'n-race-reject-a',
      });
      expect(await heldFails()).toBe(before + 1);
    } finally {
      release();
    }
    expect(await resend).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await stack.worker.events.load(`${id}.FAILED`)).toBeNull();
    await eventually(() => toldStatuses(id).length > 0, 20_000);
    expect(toldStatuses(id)).not.toContain('FAIL');
  });

  it("a capture's reject (a late fact failing it while open) after a 5xx, its resend in flight: held as well, not FAILED", async () => {
    const command = channelCommand('capture', {}, { gateway: 'cybs', gateway_key: EARLIER_ID, amount: 10000, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await stack.worker.ledger.create(id, command);
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await stack.worker.ledger.appendInteraction(id, { event: 'send_error', kind: 'server_error', http_status: 500 });
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
    const before = await heldFails();
    expect(await post('payments.captures.reject', 'n-race-capture-a', id, RESEND_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.provider_event_id === 'n-race-capture-a'), 20_000);
    expect((await stack.worker.ledger.get(id))?.state).toBe('SENT');
    expect((await stack.worker.ledger.interactions(id)).find((h) => h.provider_event_id === 'n-race-capture-a')).toMatchObject({
      event: 'webhook_fail_held',
      gateway_status: 'payments.captures.reject',
    });
    expect(await stack.worker.events.load(`${id}.FAILED`)).toBeNull();
    expect(await heldFails()).toBe(before + 1);
  });

  it("at a gateway that replays a key's answer (the simulator), after a 5xx and with the resend in flight: FAILED as before, nothing held", async () => {
    const command = channelCommand('authorize', {}, { gateway: 'sim', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.worker.ledger.create(id, command);
    // The same history as above at the point the reject arrives: a 5xx, then the resend sent and not answered yet.
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await stack.worker.ledger.appendInteraction(id, { event: 'send_error', kind: 'server_error', http_status: 500 });
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
    const before = await metricValue('pb_webhook_held_decline_fails_total', { gateway: 'sim' });
    const body = simulatorAuthorizationEvent(id, { eventId: 'evt-race-sim-a', status: 'declined', amount: 1999, currency: 'EUR' });
    expect((await postSimulatorSigned(stack, 'sim', body, SIMULATOR_SECRET)).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'FAILED', 20_000);
    expect(await stack.worker.events.load(`${id}.FAILED`)).not.toBeNull();
    expect((await stack.worker.ledger.interactions(id)).some((h) => h.event === 'webhook_fail_held')).toBe(false);
    expect(await metricValue('pb_webhook_held_decline_fails_total', { gateway: 'sim' })).toBe(before);
  });
});

describe("the poller's search resolves an operation whose webhook failure was held (it is never held itself)", () => {
  /** One poll pass an hour on, past the held operation's next check. */
  const pollLater = async (): Promise<void> => {
    const poller = new Poller({
      config: stack.config,
      ledger: stack.worker.ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(stack.config)),
      recorder: stack.worker.recorder,
      logger: log.logger,
      now: () => Date.now() + 3_600_000,
    });
    await poller.runOnce();
  };
  /** A summary of transaction `id` under merchant reference `code`. */
  const summary = (id: string, code: string, applicationInformation: Record<string, unknown>): Record<string, unknown> => ({
    id,
    submitTimeUtc: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    applicationInformation,
    clientReferenceInformation: { code },
    orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'USD' } },
  });

  it('FAILED, its hold handed to orphan reversal, when the search shows the resend rejected by Decision Manager holding funds and nothing else', async () => {
    const id = await heldAuthorization();
    expect(await post('risk.casemanagement.decision.reject', 'n-poll-review-a', id, RESEND_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.provider_event_id === 'n-poll-review-a'), 20_000);
    expect((await stack.worker.ledger.get(id))?.state).toBe('UNRESOLVED');
    const before = (await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'risk_declined', release: 'would_void' })) ?? 0;
    summaries = [
      summary(RESEND_ID, id, { reasonCode: '481', rFlag: 'DREJECT', rCode: '0', applications: [{ name: 'ics_auth', rCode: '1', reasonCode: '100' }] }),
    ];
    await pollLater();
    expect((await stack.worker.ledger.get(id))?.state).toBe('FAILED');
    expect(await stack.worker.events.load(`${id}.FAILED`)).not.toBeNull();
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'risk_declined', release: 'would_void' })).toBe(before + 1);
  });

  it('SUCCEEDED when the search shows the earlier attempt authorized beside the declined resend', async () => {
    const id = await heldAuthorization();
    expect(await post('payments.payments.reject', 'n-poll-reject-a', id, RESEND_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.provider_event_id === 'n-poll-reject-a'), 20_000);
    summaries = [
      summary(EARLIER_ID, id, { status: 'AUTHORIZED', reasonCode: '100', applications: [{ name: 'ics_auth', rCode: '1', reasonCode: '100' }] }),
      summary(RESEND_ID, id, { status: 'DECLINED', reasonCode: '203', applications: [{ name: 'ics_auth', rCode: '0', reasonCode: '203' }] }),
    ];
    await pollLater();
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(await stack.worker.events.load(`${id}.FAILED`)).toBeNull();
  });
});

describe("a capture's reject of a capture that already SUCCEEDED after a 5xx and a resend (terminal: a late fact, never held)", () => {
  it('is its late fact as before (a capture_failed adjustment): no webhook_fail_held, not counted, the capture stays SUCCEEDED', async () => {
    const command = channelCommand('capture', {}, { gateway: 'cybs', gateway_key: EARLIER_ID, amount: 10000, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await stack.worker.ledger.create(id, command);
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await stack.worker.ledger.appendInteraction(id, { event: 'send_error', kind: 'server_error', http_status: 500 });
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
    await stack.worker.recorder.apply(
      (await stack.worker.ledger.get(id))!,
      { status: 'SUCCESS', gatewayStatus: 'PENDING', gatewayReference: RESEND_ID },
      'response',
    );
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    const before = await heldFails();
    expect(await post('payments.captures.reject', 'n-late-capture-a', id, RESEND_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.psp_event_id === 'n-late-capture-a'), 20_000);
    expect((await stack.worker.ledger.interactions(id)).find((h) => h.psp_event_id === 'n-late-capture-a')).toMatchObject({
      event: 'adjustment',
      kind: 'capture_failed',
      source: 'webhook',
    });
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    expect((await stack.worker.ledger.interactions(id)).some((h) => h.event === 'webhook_fail_held')).toBe(false);
    expect(await heldFails()).toBe(before);
  });
});

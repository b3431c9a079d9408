/**
 * Stripe reports a capture or a cancel on the PaymentIntent itself, and a manual-capture PaymentIntent's events name
 * the authorization (its `metadata.operation_id`). A capture or cancel whose call timed out (UNKNOWN: the request may
 * or may not have reached Stripe) is settled by the event that shows Stripe did it: `payment_intent.succeeded`
 * carrying the `capture_operation_id` our capture request set (Stripe keeps it with the capture), for what Stripe
 * collected (`amount_received`: "Partially capturing automatically releases the remaining amount"), or
 * `payment_intent.canceled` for no reason or a user-provided one. Stripe's own cancellation (`automatic`: the
 * authorization lapsed) is no cancel's success but its FAIL (`authorization_expired`, the release the authorization's
 * adjustment), and `amount_capturable_updated` (the hold) settles no capture.
 *
 * End to end on the real Redis: the worker delivers to a local Stripe stand-in that takes the capture or cancel (or
 * not) and never answers (the gateway's timeout), then the event, as Stripe renders it and signed by Stripe's own SDK,
 * is posted to the web process. No poller runs and the stand-in refuses every status inquiry: only the webhook can
 * settle the operation. One test runs a poller pass on one cancel, to show it reads Stripe's own cancellation as the
 * webhook does (`stripeCancelOutcome`), without sending the cancel again.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CommandType } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { postStripeSigned, useWebhookStack } from '../../support/webhook-stack';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { Poller } from '../../../src/poller/poller';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';

jest.setTimeout(60_000);

const SECRET = 'whsec_stripe_modification_outcomes_0123456789';
const AUTHORIZED = 2599;

/** A PaymentIntent as the stand-in holds it (the fields Stripe's PaymentIntent object documents that we read). */
interface Intent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  capture_method: 'manual';
  currency: string;
  metadata: Record<string, string>;
  status: string;
  cancellation_reason: string | null;
  canceled_at: number | null;
  created: number;
}

const intents = new Map<string, Intent>();
/** PaymentIntents whose next capture or cancel never reaches Stripe (the call still times out). */
const notReached = new Set<string>();
/**
 * PaymentIntents whose next capture or cancel Stripe does but answers with a refusal the bridge records FAILED
 * (`payment_intent_unexpected_state`: what an answer to a request that raced with itself can read as).
 */
const refusedAfterDoing = new Set<string>();
/** PaymentIntents whose next capture or cancel Stripe refuses without doing it. */
const refused = new Set<string>();
/** PaymentIntents whose next capture or cancel is answered as Stripe answers it (the PaymentIntent, 200). */
const answered = new Set<string>();
/** PaymentIntents Stripe shows when asked (`GET /v1/payment_intents/:id`, a capture's or cancel's status inquiry). */
const askable = new Set<string>();
const calls: string[] = [];
/** Refunds Stripe made (`POST /v1/refunds`), by the operation id their metadata carries. */
const refunds = new Map<string, { amount: number; payment_intent: string; created: number }>();
let piSeq = 0;
const now = (): number => Math.floor(Date.now() / 1000);

/** The `metadata[key]` fields of a form, as Stripe merges them into the object's metadata. */
function metadataOf(form: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of form) {
    const m = /^metadata\[(.+)\]$/.exec(k);
    if (m) out[m[1]] = v;
  }
  return out;
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  req.on('end', () => {
    calls.push(`${req.method} ${req.url}`);
    const form = new URLSearchParams(raw);
    const json = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'POST' && req.url === '/v1/payment_intents') {
      const amount = Number(form.get('amount'));
      const pi: Intent = {
        id: `pi_3StandIn${process.pid}x${++piSeq}`,
        object: 'payment_intent',
        amount,
        amount_capturable: amount,
        amount_received: 0,
        capture_method: 'manual',
        currency: form.get('currency') ?? 'eur',
        metadata: metadataOf(form),
        status: 'requires_capture',
        cancellation_reason: null,
        canceled_at: null,
        created: now(),
      };
      intents.set(pi.id, pi);
      return json(200, pi);
    }
    if (req.method === 'POST' && req.url === '/v1/refunds') {
      // "Create a refund": up to what the PaymentIntent collected, less what was refunded.
      const target = intents.get(form.get('payment_intent') ?? '');
      const amount = Number(form.get('amount'));
      const refunded = [...refunds.values()].filter((r) => r.payment_intent === target?.id).reduce((t, r) => t + r.amount, 0);
      if (!target || amount > target.amount_received - refunded) {
        return json(400, { error: { type: 'invalid_request_error', code: 'amount_too_large', message: 'stand-in: more than was collected' } });
      }
      const metadata = metadataOf(form);
      // A card refund succeeds as it is made, a second or more ago here: its `created` (required) dates it.
      const created = now() - 2;
      refunds.set(metadata.operation_id, { amount, payment_intent: target.id, created });
      return json(200, {
        id: `re_StandIn${++piSeq}`,
        object: 'refund',
        created,
        amount,
        currency: target.currency,
        status: 'succeeded',
        payment_intent: target.id,
        metadata,
      });
    }
    const modification = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)\/(capture|cancel)$/.exec(req.url ?? '');
    const pi = modification ? intents.get(modification[1]) : undefined;
    if (req.method === 'POST' && modification && pi) {
      if (notReached.delete(pi.id)) return; // lost on the way: Stripe never saw it, no answer either
      if (refused.delete(pi.id))
        return json(400, { error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: 'stand-in: refused' } });
      // A canceled PaymentIntent: "any operations on the PaymentIntent fail with an error", which carries the PaymentIntent.
      if (pi.status === 'canceled') {
        return json(400, {
          error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: 'stand-in: canceled', payment_intent: pi },
        });
      }
      if (modification[2] === 'capture') {
        // "Capture the funds of an existing uncaptured PaymentIntent": amount_to_capture (default all), the rest released.
        const taken = form.has('amount_to_capture') ? Number(form.get('amount_to_capture')) : pi.amount_capturable;
        Object.assign(pi, { status: 'succeeded', amount_received: taken, amount_capturable: 0, metadata: { ...pi.metadata, ...metadataOf(form) } });
      } else {
        Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: form.get('cancellation_reason'), canceled_at: now() });
      }
      if (answered.delete(pi.id)) return json(200, pi);
      if (refusedAfterDoing.delete(pi.id)) {
        return json(400, { error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: 'stand-in: refused (it was done)' } });
      }
      return; // Stripe did it; its answer never comes back (the gateway's timeout)
    }
    const retrieved = req.method === 'GET' ? /^\/v1\/payment_intents\/([A-Za-z0-9_]+)$/.exec(req.url ?? '') : null;
    if (retrieved && askable.has(retrieved[1]) && intents.has(retrieved[1])) return json(200, intents.get(retrieved[1]));
    // Status inquiries (none should be made here) and anything else: Stripe unavailable.
    json(500, { error: { type: 'api_error', message: 'stand-in: not available' } });
  });
});

let baseUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const logs = captureLogger('info');
const sent: Array<{ method: string; payment: Record<string, unknown>; adjustment?: Record<string, unknown> }> = [];
const stack = useWebhookStack(
  {
    stripe: {
      type: 'stripe',
      get base_url(): string {
        return baseUrl;
      },
      api_key: 'sk_test_modification_outcomes_0123',
      webhook_secret: SECRET,
      timeout_ms: 400,
    },
  },
  {
    webLogger: logs.logger,
    // Payment events only (a refund's refund_management.updated carries no payment).
    notify: async (method, params) => {
      const p = params as { payment?: Record<string, unknown>; adjustment?: Record<string, unknown> };
      if (p.payment) sent.push({ method, payment: p.payment, ...(p.adjustment ? { adjustment: p.adjustment } : {}) });
    },
  },
);

let seq = 0;

/** `command` of `orderId` for `amount` EUR, created and delivered once by the worker; its id and the state it is left in. */
async function delivered(command: CommandType, orderId: string, gatewayKey: string, amount: number): Promise<{ id: string; state: string }> {
  const cmd = channelCommand(command, {}, { gateway: 'stripe', gateway_key: gatewayKey, amount, currency: 'EUR', order_id: orderId });
  const id = cmd.payment.operation_reference!;
  await stack.worker.ledger.create(id, cmd);
  await stack.worker.delivery.deliver(id);
  return { id, state: (await stack.worker.ledger.get(id))!.state };
}

/** An authorization Stripe holds (requires_capture), and a `command` of it whose call timed out (UNKNOWN). */
async function timedOut(
  command: 'capture' | 'cancel',
  amount = AUTHORIZED,
  reached = true,
): Promise<{ authorization: string; pi: Intent; modification: string }> {
  const orderId = `order-stripe-mod-${process.pid}-${++seq}`;
  const authorization = await delivered('authorize', orderId, 'pm_card_visa', AUTHORIZED);
  expect(authorization.state).toBe('SUCCEEDED');
  const pi = intents.get((await stack.worker.ledger.get(authorization.id))!.gatewayReference!)!;
  if (!reached) notReached.add(pi.id);
  const modification = await delivered(command, orderId, authorization.id, amount);
  expect(modification.state).toBe('UNKNOWN');
  return { authorization: authorization.id, pi, modification: modification.id };
}

/** Posts `pi` in an event of `type` as Stripe sends it, signed by Stripe's SDK; the HTTP status. */
async function post(type: string, pi: Intent, eventId: string, account?: string): Promise<number> {
  const body = JSON.stringify({
    id: eventId,
    object: 'event',
    api_version: '2023-08-16',
    created: now(),
    type,
    ...(account !== undefined ? { account } : {}),
    data: { object: pi },
  });
  const res = await postStripeSigned(stack, 'stripe', body, SECRET);
  return res.status;
}

/** The events the OMS was sent about operation `id`, with status `status`. */
const eventsOf = (id: string, status?: string): Array<Record<string, unknown>> =>
  sent.filter((n) => n.payment.operation_reference === id && (status === undefined || n.payment.status === status)).map((n) => n.payment);

/** Waits until the outcome job of `eventId` has run to `state`. */
async function jobRan(eventId: string, state: 'completed' | 'failed' = 'completed'): Promise<void> {
  await eventually(async () => (await (await stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`)))?.getState()) === state);
}

/** Skipped at intake as another account's (`other_account`): acknowledged, counted, and no outcome job queued for it. */
const otherAccountSkips = (): Promise<number> => metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'other_account' });
async function noJob(eventId: string): Promise<void> {
  expect(await stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`))).toBeUndefined();
}

const applied = (command: string): Promise<number> =>
  metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command, outcome: 'applied' });

/** The authorization is as it was: SUCCEEDED, reported once (its authorization), never failed, adjusted or re-reported. */
async function authorizationUntouched(id: string): Promise<void> {
  expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
  expect(eventsOf(id)).toHaveLength(1);
  expect(await stack.worker.adjustmentStore.forOperation(id)).toEqual([]);
  expect((await stack.worker.ledger.interactions(id)).filter((h) => h.source === 'webhook' || h.event === 'outcome_not_for_command')).toEqual([]);
}

describe('a Stripe capture or cancel whose call timed out, settled by the PaymentIntent event that shows it done', () => {
  it('payment_intent.succeeded with our capture_operation_id settles the UNKNOWN capture: SUCCEEDED for amount_received, its event sent once', async () => {
    const before = await applied('capture');
    const { authorization, pi, modification: capture } = await timedOut('capture');
    expect(pi).toMatchObject({ status: 'succeeded', amount_received: AUTHORIZED, metadata: { operation_id: authorization, capture_operation_id: capture } });

    expect(await post('payment_intent.succeeded', pi, `evt_capture_full_${seq}`)).toBe(200);
    // Stripe retries an event it thinks undelivered under the same id: deduped.
    expect(await post('payment_intent.succeeded', pi, `evt_capture_full_${seq}`)).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    await eventually(() => eventsOf(capture, 'SUCCESS').length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventsOf(capture)).toHaveLength(1);
    expect(eventsOf(capture, 'SUCCESS')[0]).toMatchObject({ gateway_command: 'capture', amount: AUTHORIZED, currency: 'EUR' });
    expect(await stack.worker.ledger.get(capture)).toMatchObject({ confirmedAmount: AUTHORIZED, gatewayReference: pi.id });
    expect((await stack.worker.ledger.interactions(capture)).some((h) => h.source === 'webhook')).toBe(true);
    expect(await applied('capture')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes("webhook shows the payment's open modification done") && l.includes(capture))).toBe(true);
    await authorizationUntouched(authorization);
    // Only the webhook settled it: no status inquiry was made.
    expect(calls.filter((c) => c.startsWith('GET'))).toEqual([]);
  });

  it('a partial capture is settled for what Stripe collected (amount_received), the rest released; the authorization stays as it was', async () => {
    const { authorization, pi, modification: capture } = await timedOut('capture', 1000);
    expect(pi).toMatchObject({ amount: AUTHORIZED, amount_received: 1000, amount_capturable: 0 });

    expect(await post('payment_intent.succeeded', pi, `evt_capture_partial_${seq}`)).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    await eventually(() => eventsOf(capture, 'SUCCESS').length > 0);
    expect(eventsOf(capture, 'SUCCESS')[0]).toMatchObject({ gateway_command: 'capture', amount: 1000 });
    expect((await stack.worker.ledger.get(capture))?.confirmedAmount).toBe(1000);
    await authorizationUntouched(authorization);
  });

  it('payment_intent.canceled after our cancel (no cancellation_reason) settles the UNKNOWN cancel: SUCCEEDED, its event sent once', async () => {
    const before = await applied('cancel');
    const { authorization, pi, modification: cancel } = await timedOut('cancel');
    expect(pi).toMatchObject({ status: 'canceled', cancellation_reason: null });

    expect(await post('payment_intent.canceled', pi, `evt_cancel_${seq}`)).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(cancel))?.state === 'SUCCEEDED');
    await eventually(() => eventsOf(cancel, 'SUCCESS').length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventsOf(cancel)).toHaveLength(1);
    expect(eventsOf(cancel, 'SUCCESS')[0]).toMatchObject({ gateway_command: 'cancel' });
    expect(await applied('cancel')).toBe(before + 1);
    await authorizationUntouched(authorization);
  });

  it('payment_intent.canceled for a user-provided reason (requested_by_customer: cancelled in the Dashboard) settles the UNKNOWN cancel too: the hold is released as it asked', async () => {
    const { authorization, pi, modification: cancel } = await timedOut('cancel', AUTHORIZED, false);
    expect(pi.status).toBe('requires_capture');
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'requested_by_customer', canceled_at: now() });

    expect(await post('payment_intent.canceled', pi, `evt_cancel_dashboard_${seq}`)).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(cancel))?.state === 'SUCCEEDED');
    await eventually(() => eventsOf(cancel, 'SUCCESS').length === 1);
    await authorizationUntouched(authorization);
  });

  it("payment_intent.canceled for Stripe's own reason (automatic: the authorization lapsed) fails the UNKNOWN cancel at once, reason authorization_expired; the release is the authorization's adjustment; nothing sent again", async () => {
    const before = await applied('cancel');
    const { authorization, pi, modification: cancel } = await timedOut('cancel', AUTHORIZED, false);
    const canceledAt = now();
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: canceledAt });
    const requests = calls.length;

    expect(await post('payment_intent.canceled', pi, `evt_cancel_automatic_${seq}`)).toBe(200);

    await jobRan(`evt_cancel_automatic_${seq}`);
    await eventually(async () => (await stack.worker.ledger.get(cancel))?.state === 'FAILED');
    await eventually(() => eventsOf(cancel, 'FAIL').length === 1);
    expect(eventsOf(cancel)).toHaveLength(1);
    expect(eventsOf(cancel, 'FAIL')[0]).toMatchObject({
      gateway_command: 'cancel',
      reason: 'authorization_expired',
      decline: { category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'none' },
    });
    expect(await applied('cancel')).toBe(before + 1);
    // The hold Stripe released is reported once, on the authorization, for what lapsed and when Stripe cancelled it.
    const adjustments = await stack.worker.adjustmentStore.forOperation(authorization);
    expect(adjustments.map((a) => a.kind)).toEqual(['authorization_expired']);
    expect(adjustedOf(authorization).map((a) => a.adjustment)).toEqual([
      expect.objectContaining({ kind: 'authorization_expired', amount: AUTHORIZED, currency: 'EUR', occurred_at: new Date(canceledAt * 1000).toISOString() }),
    ]);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
    // Settled by Stripe's word alone: no inquiry, no second cancel of a PaymentIntent Stripe cancelled.
    expect(calls.slice(requests)).toEqual([]);
  });

  it("the poller reads Stripe's own cancellation as the webhook does: the UNKNOWN cancel FAILED authorization_expired at its first inquiry, never sent again, never SUCCEEDED", async () => {
    const { authorization, pi, modification: cancel } = await timedOut('cancel', AUTHORIZED, false);
    // The lapse event is not (yet) delivered: only the inquiry can tell.
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: now() });
    expect((await stack.worker.ledger.get(cancel))?.state).toBe('UNKNOWN');

    // Stripe shows the PaymentIntent when asked, and would refuse a cancel of one canceled already.
    askable.add(pi.id);
    refused.add(pi.id);
    const { ledger } = stack.worker;
    await ledger.transition(cancel, 'UNKNOWN', { event: 'test' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
    // This cancel only: the other tests' operations keep their own schedules.
    const scoped: Ledger = Object.assign(Object.create(ledger) as Ledger, {
      idsInState: async (...args: Parameters<Ledger['idsInState']>) => (await ledger.idsInState(...args)).filter((id) => id === cancel),
    });
    const poller = new Poller({
      config: stack.config,
      ledger: scoped,
      router: new ConfiguredGatewayRouter(createGatewayClients(stack.config)),
      recorder: stack.worker.recorder,
      logger: logs.logger,
      deliveryQueue: stack.worker.deliveryQueue,
    });
    const report = await poller.runOnce();

    expect(report).toMatchObject({ due: 1, resolved: 1 });
    expect((await ledger.get(cancel))?.state).toBe('FAILED');
    await eventually(() => eventsOf(cancel, 'FAIL').length === 1);
    expect(eventsOf(cancel, 'SUCCESS')).toEqual([]);
    expect(eventsOf(cancel, 'FAIL')[0]).toMatchObject({ gateway_command: 'cancel', reason: 'authorization_expired' });
    // One cancel request in all (the first, lost on the way): no resend to a PaymentIntent Stripe cancelled.
    expect(calls.filter((c) => c === `POST /v1/payment_intents/${pi.id}/cancel`)).toHaveLength(1);
    refused.delete(pi.id);
    // The release is the authorization's adjustment, as the webhook would have made it, reported once.
    await eventually(() => adjustedOf(authorization).length === 1);
    expect((await stack.worker.adjustmentStore.forOperation(authorization)).map((a) => a.kind)).toEqual(['authorization_expired']);
  });

  it('payment_intent.amount_capturable_updated (the hold, requires_capture) settles no capture: the UNKNOWN capture stays for the poller', async () => {
    const { authorization, pi, modification: capture } = await timedOut('capture', AUTHORIZED, false);
    expect(pi.status).toBe('requires_capture');

    expect(await post('payment_intent.amount_capturable_updated', pi, `evt_capturable_${seq}`)).toBe(200);

    await jobRan(`evt_capturable_${seq}`);
    expect((await stack.worker.ledger.get(capture))?.state).toBe('UNKNOWN');
    expect(eventsOf(capture)).toEqual([]);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
    expect(eventsOf(authorization)).toHaveLength(1);
  });

  it('payment_intent.succeeded naming another Connect account than the gateway acts for is skipped at intake: the UNKNOWN capture does not move', async () => {
    const before = await otherAccountSkips();
    const { pi, modification: capture } = await timedOut('capture');

    expect(await post('payment_intent.succeeded', pi, `evt_capture_other_account_${seq}`, 'acct_1OtherAccount0000')).toBe(200);

    expect(await otherAccountSkips()).toBe(before + 1);
    await noJob(`evt_capture_other_account_${seq}`);
    expect((await stack.worker.ledger.get(capture))?.state).toBe('UNKNOWN');
    expect(eventsOf(capture)).toEqual([]);
  });
});

/** The adjustments the OMS was sent about operation `id` (`service_bus.method.adjusted`), with the payment they echo. */
const adjustedOf = (id: string): Array<{ payment: Record<string, unknown>; adjustment: Record<string, unknown> }> =>
  sent
    .filter((n) => n.payment.operation_reference === id && n.adjustment !== undefined)
    .map((n) => ({ payment: n.payment, adjustment: n.adjustment as Record<string, unknown> }));

const successesAfterFailure = (outcome: string): Promise<number> => metricValue('pb_webhook_successes_after_failure_total', { gateway: 'stripe', outcome });

/**
 * An authorization Stripe holds, and a `command` of it the bridge recorded FAILED (Stripe refused it, or did it and
 * answered a refusal: `done`); Stripe shows the PaymentIntent when asked.
 */
async function failedAt(
  command: 'capture' | 'cancel',
  done: boolean,
  amount = AUTHORIZED,
): Promise<{ authorization: string; pi: Intent; modification: string }> {
  const orderId = `order-stripe-mod-${process.pid}-${++seq}`;
  const authorization = await delivered('authorize', orderId, 'pm_card_visa', AUTHORIZED);
  expect(authorization.state).toBe('SUCCEEDED');
  const pi = intents.get((await stack.worker.ledger.get(authorization.id))!.gatewayReference!)!;
  (done ? refusedAfterDoing : refused).add(pi.id);
  askable.add(pi.id);
  const modification = await delivered(command, orderId, authorization.id, amount);
  expect(modification.state).toBe('FAILED');
  return { authorization: authorization.id, pi, modification: modification.id };
}

/**
 * Posts the event `eventId` as Stripe first sends it, then resends it twice: once while its job is kept (the job id
 * dedupes it) and once after that job is gone (past its retention: the adjustment's key dedupes it).
 */
async function postAndResend(type: string, pi: Intent, eventId: string, delivered: () => boolean): Promise<void> {
  expect(await post(type, pi, eventId)).toBe(200);
  await eventually(delivered);
  await jobRan(eventId);
  expect(await post(type, pi, eventId)).toBe(200);
  await (await stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`)))!.remove();
  expect(await post(type, pi, eventId)).toBe(200);
  await jobRan(eventId);
  await new Promise((resolve) => setTimeout(resolve, 300));
}

/** The authorization the FAILED modification acted on: SUCCEEDED, reported once, no adjustment of its own, closed by that modification. */
async function authorizationClosedBy(id: string, modification: string): Promise<void> {
  expect(await stack.worker.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', closedBy: modification });
  expect(eventsOf(id)).toHaveLength(1);
  expect(await stack.worker.adjustmentStore.forOperation(id)).toEqual([]);
}

describe('a Stripe capture or cancel the bridge recorded FAILED that the PaymentIntent event shows Stripe did: the OMS is told, once', () => {
  it('payment_intent.succeeded naming a FAILED capture: one succeeded_after_failure adjustment for amount_received (the PSP asked first), the capture stays FAILED; resends add nothing', async () => {
    const confirmedBefore = await successesAfterFailure('confirmed');
    const appliedBefore = await applied('capture');
    const { authorization, pi, modification: capture } = await failedAt('capture', true, 1000);
    expect(pi).toMatchObject({ status: 'succeeded', amount_received: 1000, metadata: { operation_id: authorization, capture_operation_id: capture } });
    expect(eventsOf(capture)).toHaveLength(1);
    expect(eventsOf(capture)[0]).toMatchObject({ status: 'FAIL' });

    const eventId = `evt_capture_after_failure_${seq}`;
    await postAndResend('payment_intent.succeeded', pi, eventId, () => adjustedOf(capture).length > 0);

    expect(adjustedOf(capture)).toHaveLength(1);
    const [{ payment, adjustment }] = adjustedOf(capture);
    expect(adjustment).toMatchObject({
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 1000,
      currency: 'EUR',
      psp_reference: pi.id,
      psp_event_id: eventId,
      source: 'webhook',
    });
    expect(payment).toMatchObject({ operation_state: 'FAILED', gateway_command: 'capture' });
    expect(eventsOf(capture)).toHaveLength(2);
    expect((await stack.worker.ledger.get(capture))?.state).toBe('FAILED');
    expect(await stack.worker.adjustmentStore.forOperation(capture)).toHaveLength(1);
    expect(await successesAfterFailure('confirmed')).toBe(confirmedBefore + 1);
    // Not applied to the capture as its outcome: it was no open one.
    expect(await applied('capture')).toBe(appliedBefore);
    // The resend after its job was gone ran again, and found the adjustment recorded: the same event, not sent twice.
    expect(logs.lines.filter((l) => l.includes('PSP reports success for an operation the OMS was told failed') && l.includes(capture))).toHaveLength(2);
    // What the PSP holds decided it: the capture's status inquiry read the PaymentIntent.
    expect(calls).toContain(`GET /v1/payment_intents/${pi.id}`);
    await authorizationClosedBy(authorization, capture);
  });

  it("payment_intent.succeeded naming a FAILED capture of 1 000: the capture counts as captured, so the OMS's refund of the 1 000 is sent and succeeds, 1 001 is refused unsent, and no second capture is sent", async () => {
    const { authorization, pi, modification: capture } = await failedAt('capture', true, 1000);
    const eventId = `evt_capture_after_failure_then_refund_${seq}`;
    expect(await post('payment_intent.succeeded', pi, eventId)).toBe(200);
    await eventually(() => adjustedOf(capture).length > 0);
    await jobRan(eventId);
    const orderId = (await stack.worker.ledger.get(authorization))!.payment.order_id!;

    const tooMuch = await delivered('refund', orderId, authorization, 1001);
    expect(tooMuch.state).toBe('FAILED');
    expect((await stack.worker.ledger.get(tooMuch.id))?.reason).toBe('amount_exceeds_captured');
    expect(refunds.has(tooMuch.id)).toBe(false);
    const refund = await delivered('refund', orderId, authorization, 1000);
    expect(refund.state).toBe('SUCCEEDED');
    expect(refunds.get(refund.id)).toMatchObject({ amount: 1000, payment_intent: pi.id });
    // Recorded with Stripe's time of it (the Refund's `created`), not the bridge's clock.
    expect((await stack.worker.ledger.get(refund.id))?.pspSucceededAt).toBe(refunds.get(refund.id)!.created * 1000);
    // Stripe captures a PaymentIntent once: the capture it made stands, another is refused unsent.
    const requests = calls.length;
    const again = await delivered('capture', orderId, authorization, AUTHORIZED - 1000);
    expect(again.state).toBe('FAILED');
    expect((await stack.worker.ledger.get(again.id))?.reason).toBe('capture_already_made');
    expect(calls.slice(requests)).toEqual([]);
    await authorizationClosedBy(authorization, capture);
    expect(await stack.worker.ledger.get(capture)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { amount: 1000, currency: 'EUR' } });
  });

  it('payment_intent.canceled (no cancellation_reason) after a cancel recorded FAILED: one succeeded_after_failure adjustment of the cancel; the authorization closed by it, no failed_after_success', async () => {
    const confirmedBefore = await successesAfterFailure('confirmed');
    const { authorization, pi, modification: cancel } = await failedAt('cancel', true);
    expect(pi).toMatchObject({ status: 'canceled', cancellation_reason: null });

    const eventId = `evt_cancel_after_failure_${seq}`;
    await postAndResend('payment_intent.canceled', pi, eventId, () => adjustedOf(cancel).length > 0);

    expect(adjustedOf(cancel)).toHaveLength(1);
    expect(adjustedOf(cancel)[0].adjustment).toMatchObject({ kind: 'succeeded_after_failure', direction: 'none', psp_reference: pi.id, psp_event_id: eventId });
    expect(adjustedOf(cancel)[0].payment).toMatchObject({ operation_state: 'FAILED', gateway_command: 'cancel' });
    expect((await stack.worker.ledger.get(cancel))?.state).toBe('FAILED');
    expect(await successesAfterFailure('confirmed')).toBe(confirmedBefore + 1);
    await authorizationClosedBy(authorization, cancel);
  });

  it("payment_intent.canceled for a person's reason (requested_by_customer) after a cancel Stripe refused: the hold is released as the OMS asked, reported on the cancel", async () => {
    const { authorization, pi, modification: cancel } = await failedAt('cancel', false);
    expect(pi.status).toBe('requires_capture');
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'requested_by_customer', canceled_at: now() });

    const eventId = `evt_cancel_dashboard_after_failure_${seq}`;
    expect(await post('payment_intent.canceled', pi, eventId)).toBe(200);
    await eventually(() => adjustedOf(cancel).length > 0);
    await jobRan(eventId);

    expect(adjustedOf(cancel)).toHaveLength(1);
    expect(adjustedOf(cancel)[0].adjustment).toMatchObject({ kind: 'succeeded_after_failure', reason: 'canceled', psp_event_id: eventId });
    await authorizationClosedBy(authorization, cancel);
  });

  it('payment_intent.succeeded naming a FAILED capture, from another Connect account than the gateway acts for: skipped at intake, nothing reported', async () => {
    const before = await otherAccountSkips();
    const { authorization, pi, modification: capture } = await failedAt('capture', true);

    const eventId = `evt_capture_after_failure_other_account_${seq}`;
    expect(await post('payment_intent.succeeded', pi, eventId, 'acct_1OtherAccount0000')).toBe(200);

    expect(await otherAccountSkips()).toBe(before + 1);
    await noJob(eventId);
    expect(adjustedOf(capture)).toEqual([]);
    expect(await stack.worker.adjustmentStore.forOperation(capture)).toEqual([]);
    expect((await stack.worker.ledger.get(authorization))?.closedBy).toBeUndefined();
  });

  it('payment_intent.succeeded naming a capture that SUCCEEDED (its answer came back): nothing more, no adjustment, no second event', async () => {
    const orderId = `order-stripe-mod-${process.pid}-${++seq}`;
    const authorization = await delivered('authorize', orderId, 'pm_card_visa', AUTHORIZED);
    const pi = intents.get((await stack.worker.ledger.get(authorization.id))!.gatewayReference!)!;
    answered.add(pi.id);
    const capture = await delivered('capture', orderId, authorization.id, AUTHORIZED);
    expect(capture.state).toBe('SUCCEEDED');
    expect(eventsOf(capture.id)).toHaveLength(1);

    const eventId = `evt_capture_succeeded_again_${seq}`;
    expect(await post('payment_intent.succeeded', pi, eventId)).toBe(200);
    await jobRan(eventId);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(eventsOf(capture.id)).toHaveLength(1);
    expect(adjustedOf(capture.id)).toEqual([]);
    expect(await stack.worker.adjustmentStore.forOperation(capture.id)).toEqual([]);
    expect(eventsOf(authorization.id)).toHaveLength(1);
  });
});

/**
 * A capture of an authorization Stripe let lapse (it cancels an uncaptured manual-capture PaymentIntent itself when the
 * authorization window closes: `canceled`, `cancellation_reason: automatic`). Stripe refuses the capture
 * (`payment_intent_unexpected_state`, the PaymentIntent in the error); a status inquiry shows the PaymentIntent so.
 * Either way the capture FAILs `authorization_expired`, telling the OMS to obtain a new authorization, and the lapse is
 * the authorization's one `authorization_expired` adjustment, whichever of the capture, the lapse webhook or
 * reconciliation hears of it first.
 */
describe('a Stripe capture of an authorization Stripe let lapse', () => {
  const met = (adjustment: string): Promise<number> => metricValue('pb_authorization_lapses_met_total', { gateway: 'stripe', command: 'capture', adjustment });

  /** An authorization Stripe holds, then lets lapse (its event not delivered yet). */
  async function lapsedAuthorization(): Promise<{ orderId: string; authorization: string; pi: Intent; canceledAt: number }> {
    const orderId = `order-stripe-lapse-${process.pid}-${++seq}`;
    const authorization = await delivered('authorize', orderId, 'pm_card_visa', AUTHORIZED);
    expect(authorization.state).toBe('SUCCEEDED');
    const pi = intents.get((await stack.worker.ledger.get(authorization.id))!.gatewayReference!)!;
    const canceledAt = now() - 60;
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: canceledAt });
    return { orderId, authorization: authorization.id, pi, canceledAt };
  }

  /** The capture FAILED authorization_expired, its one event telling the OMS to obtain a new authorization. */
  async function failedExpired(capture: string): Promise<void> {
    expect((await stack.worker.ledger.get(capture))?.state).toBe('FAILED');
    await eventually(() => eventsOf(capture, 'FAIL').length === 1);
    expect(eventsOf(capture)).toHaveLength(1);
    expect(eventsOf(capture, 'FAIL')[0]).toMatchObject({
      gateway_command: 'capture',
      reason: 'authorization_expired',
      decline: { category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'reauthorize' },
    });
  }

  /** The authorization stands SUCCEEDED with one authorization_expired adjustment for what lapsed, reported once. */
  async function oneLapse(authorization: string, canceledAt: number): Promise<Record<string, unknown>> {
    await eventually(() => adjustedOf(authorization).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await stack.worker.adjustmentStore.forOperation(authorization)).map((a) => a.kind)).toEqual(['authorization_expired']);
    expect(adjustedOf(authorization)).toHaveLength(1);
    const { adjustment } = adjustedOf(authorization)[0];
    expect(adjustment).toMatchObject({
      kind: 'authorization_expired',
      direction: 'none',
      amount: AUTHORIZED,
      currency: 'EUR',
      occurred_at: new Date(canceledAt * 1000).toISOString(),
    });
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
    // The hold is released: no expiry notice, no orphan void of it follows.
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', authorization)).toBe(false);
    expect(await stack.worker.ledger.inAuthorizationIndex('open', authorization)).toBe(false);
    return adjustment;
  }

  it("Stripe's refusal of the capture (payment_intent_unexpected_state, the PaymentIntent canceled automatic): FAILED authorization_expired, reauthorize; the authorization's lapse recorded once, and the lapse webhook after it adds nothing", async () => {
    const recorded = await met('recorded');
    const { orderId, authorization, pi, canceledAt } = await lapsedAuthorization();

    const capture = await delivered('capture', orderId, authorization, AUTHORIZED);

    expect(capture.state).toBe('FAILED');
    await failedExpired(capture.id);
    const adjustment = await oneLapse(authorization, canceledAt);
    // Under the PSP line reconciliation lists the lapse as: a run, or the webhook, finds it as the same fact.
    expect(adjustment).toMatchObject({ psp_event_id: `reconciliation:${pi.id}:authorization_expired`, psp_reference: pi.id, source: 'reconciliation' });
    expect(await met('recorded')).toBe(recorded + 1);
    expect(calls.filter((c) => c === `POST /v1/payment_intents/${pi.id}/capture`)).toHaveLength(1);

    // Stripe's lapse event arrives after: the same fact, no second adjustment or event.
    const eventId = `evt_lapse_after_capture_${seq}`;
    expect(await post('payment_intent.canceled', pi, eventId)).toBe(200);
    await jobRan(eventId);
    await oneLapse(authorization, canceledAt);
    expect(eventsOf(capture.id)).toHaveLength(1);
  });

  it('the lapse webhook came first (the adjustment is its own): the capture FAILS authorization_expired and records nothing more', async () => {
    const found = await met('found');
    const { orderId, authorization, pi, canceledAt } = await lapsedAuthorization();
    const eventId = `evt_lapse_before_capture_${seq}`;
    expect(await post('payment_intent.canceled', pi, eventId)).toBe(200);
    await jobRan(eventId);
    expect((await oneLapse(authorization, canceledAt)).psp_event_id).toBe(eventId);

    const capture = await delivered('capture', orderId, authorization, AUTHORIZED);

    await failedExpired(capture.id);
    expect((await oneLapse(authorization, canceledAt)).psp_event_id).toBe(eventId);
    expect(await met('found')).toBe(found + 1);
  });

  it("a capture whose answer was lost (UNKNOWN): its status inquiry shows the lapse; FAILED authorization_expired at the first inquiry, never sent again, the authorization's lapse recorded once", async () => {
    const { authorization, pi, modification: capture } = await timedOut('capture', AUTHORIZED, false);
    const canceledAt = now() - 60;
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: canceledAt });
    askable.add(pi.id);

    expect(await pollOnce(capture)).toMatchObject({ due: 1, resolved: 1 });

    await failedExpired(capture);
    await oneLapse(authorization, canceledAt);
    expect(calls.filter((c) => c === `POST /v1/payment_intents/${pi.id}/capture`)).toHaveLength(1);
  });

  it('the lapse webhook while a capture is open (its answer lost: UNKNOWN) fails it at once, as its inquiry would: authorization_expired, reauthorize; the lapse recorded once; nothing asked or sent again; a resend adds nothing', async () => {
    const before = await applied('capture');
    const { authorization, pi, modification: capture } = await timedOut('capture', AUTHORIZED, false);
    const canceledAt = now() - 60;
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: canceledAt });
    const requests = calls.length;
    const eventId = `evt_lapse_open_capture_${seq}`;

    expect(await post('payment_intent.canceled', pi, eventId)).toBe(200);
    await jobRan(eventId);

    await failedExpired(capture);
    expect((await stack.worker.ledger.interactions(capture)).some((h) => h.source === 'webhook' && h.provider_event_id === eventId)).toBe(true);
    expect(await applied('capture')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes("webhook shows the payment's open modification done") && l.includes(capture))).toBe(true);
    // The lapse is the webhook's own adjustment of the authorization, recorded once.
    expect((await oneLapse(authorization, canceledAt)).psp_event_id).toBe(eventId);
    // Settled on Stripe's word alone: no inquiry, no second capture of a PaymentIntent Stripe cancelled.
    expect(calls.slice(requests)).toEqual([]);

    // Stripe sends the event again: the capture stays as it is, reported once; the lapse once.
    await (await stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`)))!.remove();
    expect(await post('payment_intent.canceled', pi, eventId)).toBe(200);
    await jobRan(eventId);
    await failedExpired(capture);
    await oneLapse(authorization, canceledAt);
    expect(await applied('capture')).toBe(before + 1);
  });

  it('the lapse webhook naming another Connect account than the gateway acts for is skipped at intake: the open capture does not move', async () => {
    const before = await otherAccountSkips();
    const { pi, modification: capture } = await timedOut('capture', AUTHORIZED, false);
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: now() - 60 });
    const eventId = `evt_lapse_other_account_${seq}`;

    expect(await post('payment_intent.canceled', pi, eventId, 'acct_1OtherAccount0000')).toBe(200);

    expect(await otherAccountSkips()).toBe(before + 1);
    await noJob(eventId);
    expect((await stack.worker.ledger.get(capture))?.state).toBe('UNKNOWN');
    expect(eventsOf(capture)).toEqual([]);
  });

  it('a lapse webhook contradicting a capture that SUCCEEDED (impossible at Stripe: a captured PaymentIntent is succeeded) leaves it SUCCEEDED, reported once; counted contradicted, a warning', async () => {
    const labels = { gateway: 'stripe', command: 'capture', outcome: 'contradicted' };
    const contradicted = await metricValue('pb_webhook_open_modification_matches_total', labels);
    const orderId = `order-stripe-lapse-${process.pid}-${++seq}`;
    const authorization = await delivered('authorize', orderId, 'pm_card_visa', AUTHORIZED);
    const pi = intents.get((await stack.worker.ledger.get(authorization.id))!.gatewayReference!)!;
    answered.add(pi.id);
    const capture = await delivered('capture', orderId, authorization.id, AUTHORIZED);
    expect(capture.state).toBe('SUCCEEDED');
    const eventId = `evt_lapse_after_success_${seq}`;

    expect(await post('payment_intent.canceled', { ...pi, status: 'canceled', cancellation_reason: 'automatic', canceled_at: now() }, eventId)).toBe(200);
    await jobRan(eventId);

    expect((await stack.worker.ledger.get(capture.id))?.state).toBe('SUCCEEDED');
    await eventually(() => eventsOf(capture.id, 'SUCCESS').length === 1);
    expect(eventsOf(capture.id)).toHaveLength(1);
    expect(await metricValue('pb_webhook_open_modification_matches_total', labels)).toBe(contradicted + 1);
    expect(logs.lines.some((l) => l.includes('final failure') && l.includes(capture.id))).toBe(true);
  });

  it.each(['requested_by_customer', 'abandoned', 'duplicate', 'fraudulent'])(
    'a PaymentIntent cancelled for %p (a person, not the lapse): the capture FAILS with no authorization_expired, and no lapse is recorded',
    async (reason) => {
      const { orderId, authorization, pi } = await lapsedAuthorization();
      Object.assign(pi, { cancellation_reason: reason });

      const capture = await delivered('capture', orderId, authorization, AUTHORIZED);

      expect(capture.state).toBe('FAILED');
      await eventually(() => eventsOf(capture.id, 'FAIL').length === 1);
      expect(eventsOf(capture.id, 'FAIL')[0].reason).toBe('payment_intent_unexpected_state');
      expect((await stack.worker.adjustmentStore.forOperation(authorization)).filter((a) => a.kind === 'authorization_expired')).toEqual([]);
    },
  );
});

/** One poller pass over operation `id` only (the other tests' operations keep their own schedules), due now. */
async function pollOnce(id: string): Promise<unknown> {
  const { ledger } = stack.worker;
  const op = (await ledger.get(id))!;
  await ledger.transition(id, op.state, { event: 'test' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
  const scoped: Ledger = Object.assign(Object.create(ledger) as Ledger, {
    idsInState: async (...args: Parameters<Ledger['idsInState']>) => (await ledger.idsInState(...args)).filter((other) => other === id),
  });
  const poller = new Poller({
    config: stack.config,
    ledger: scoped,
    router: new ConfiguredGatewayRouter(createGatewayClients(stack.config)),
    recorder: stack.worker.recorder,
    logger: logs.logger,
    deliveryQueue: stack.worker.deliveryQueue,
  });
  return poller.runOnce();
}

/**
 * A Stripe account is often shared with other integrations (Checkout Sessions, Billing invoices, Payment Links, the
 * Dashboard, another plugin): their PaymentIntents' events reach the bridge's endpoint too. Through the real web
 * process and worker on a real Redis, signed by Stripe's own SDK: one about an object that carries no mark of ours and
 * that the ledger does not know is acknowledged and skipped at the route (`not_ours`), never queued, so never retried
 * into the failed set; one of ours (our metadata) that comes before its operation is recorded is queued and retried
 * until the operation is there; one without our metadata about a PaymentIntent an operation of ours acted on, or caused
 * by a request of ours, is queued as before.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { postStripeSigned, stripeWebhookGateway, succeededOperation, useWebhookStack } from '../../support/webhook-stack';

jest.setTimeout(30_000);

const SECRET = 'whsec_stripe_not_ours_test_0123456789abcdef';
const AMOUNT = 4200;
/** The endpoint's API version, as Stripe renders the event in it. */
const API_VERSION = '2023-08-16';

const webLogs = captureLogger('info');
const stack = useWebhookStack(
  { stripe: stripeWebhookGateway(SECRET) },
  {
    webLogger: webLogs.logger,
    workerLogger: captureLogger('warn').logger,
    // Short retries, so that a job waiting for its operation is retried a few times within the test.
    config: { 'delivery.backoff_base_ms': 100, 'delivery.backoff_max_ms': 300 },
  },
);

let seq = 0;
// Ids short of card-number length: a long run of digits is masked in log lines. Each file runs in a namespace of its own.
const run = `p${process.pid}`;

/** An event as Stripe sends it; `request` as Stripe documents it (`idempotency_key` null unless the request sent one). */
function post(type: string, object: Record<string, unknown>, eventId: string, idempotencyKey: string | null = null): Promise<Response> {
  const event = {
    id: eventId,
    object: 'event',
    api_version: API_VERSION,
    created: Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: idempotencyKey === null ? null : `req_${eventId}`, idempotency_key: idempotencyKey },
    type,
  };
  return postStripeSigned(stack, 'stripe', JSON.stringify(event), SECRET);
}

/** A PaymentIntent as a Checkout Session leaves it paid: automatic capture, and none of our metadata. */
function checkoutPaymentIntent(id: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    object: 'payment_intent',
    amount: AMOUNT,
    amount_capturable: 0,
    amount_received: AMOUNT,
    capture_method: 'automatic',
    currency: 'eur',
    invoice: null,
    latest_charge: `ch_${id.slice(3)}`,
    metadata: {},
    status: 'succeeded',
    ...fields,
  };
}

const skippedNotOurs = (): Promise<number> => metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'not_ours' });
const job = (eventId: string) => stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`));
const lines = (): Array<Record<string, unknown>> => webLogs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('Stripe events of another integration sharing the account', () => {
  it("acknowledges (200) a Checkout Session's payment_intent.succeeded and skips it (not_ours, an info line naming the event and its api_version): never queued, never in the failed set", async () => {
    const before = await skippedNotOurs();
    const failedBefore = await stack.outcomes.getFailedCount();
    const pi = `pi_checkout_${run}`;
    const eventId = `evt_checkout_${run}_${++seq}`;

    const res = await post('payment_intent.succeeded', checkoutPaymentIntent(pi), eventId);

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true });
    expect(await skippedNotOurs()).toBe(before + 1);
    expect(await job(eventId)).toBeUndefined();
    const line = lines().find((l) => l.event_id === eventId);
    expect(line).toMatchObject({
      level: 'info',
      gateway: 'stripe',
      reason: 'not_ours',
      event_type: 'payment_intent.succeeded',
      api_version: API_VERSION,
      psp_reference: pi,
    });
    expect(String(line?.message)).toContain('acknowledged and skipped');

    // Billing's PaymentIntent (its invoice) likewise; within the minute, counted without another line.
    const billingEvent = `evt_billing_${run}_${++seq}`;
    const billing = checkoutPaymentIntent(`pi_billing_${run}`, { invoice: `in_${run}`, description: 'Subscription creation' });
    expect((await post('payment_intent.succeeded', billing, billingEvent)).status).toBe(200);
    expect(await skippedNotOurs()).toBe(before + 2);
    expect(await job(billingEvent)).toBeUndefined();
    expect(lines().some((l) => l.event_id === billingEvent)).toBe(false);
    expect(await stack.outcomes.getFailedCount()).toBe(failedBefore);
  });

  it('acknowledges and skips a dispute of a payment the ledger does not know (another integration’s charge)', async () => {
    const before = await skippedNotOurs();
    const eventId = `evt_dispute_${run}_${++seq}`;
    const dispute = {
      id: `dp_${run}`,
      object: 'dispute',
      amount: AMOUNT,
      currency: 'eur',
      payment_intent: `pi_disputed_${run}`,
      charge: `ch_disputed_${run}`,
      status: 'needs_response',
      reason: 'fraudulent',
    };

    expect((await post('charge.dispute.created', dispute, eventId)).status).toBe(200);

    expect(await skippedNotOurs()).toBe(before + 1);
    expect(await job(eventId)).toBeUndefined();
  });
});

describe('Stripe events about objects of ours are still queued', () => {
  it('queues an event of ours (our metadata) that arrives before its operation is recorded, retries it, and applies it once the operation is there', async () => {
    const before = await skippedNotOurs();
    const cmd = channelCommand('authorize', {}, { gateway: 'stripe', amount: AMOUNT, currency: 'EUR', order_id: `order-not-ours-${++seq}` });
    const id = cmd.payment.operation_reference!;
    const pi = `pi_early_${run}`;
    const eventId = `evt_early_${run}_${seq}`;
    const held = {
      ...checkoutPaymentIntent(pi),
      capture_method: 'manual',
      amount_capturable: AMOUNT,
      amount_received: 0,
      status: 'requires_capture',
      metadata: { operation_id: id },
    };

    // The webhook before our own create answer: no operation of that id yet, the PaymentIntent indexed nowhere.
    expect((await post('payment_intent.amount_capturable_updated', held, eventId)).status).toBe(200);

    expect(await skippedNotOurs()).toBe(before);
    await eventually(async () => ((await job(eventId))?.attemptsMade ?? 0) >= 2);
    expect(await (await job(eventId))?.getState()).not.toBe('failed');

    await stack.worker.ledger.create(id, cmd);
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    await eventually(async () => (await (await job(eventId))?.getState()) === 'completed');
  });

  it("queues an event without our metadata about a PaymentIntent an operation of ours acted on (a storefront's, which our validate read)", async () => {
    const before = await skippedNotOurs();
    const pi = `pi_storefront_${run}`;
    // The validate's answer indexed the PaymentIntent to it.
    await succeededOperation(stack.worker, 'validate', { gateway: 'stripe', gateway_key: pi, amount: AMOUNT, currency: 'EUR' }, pi);
    const eventId = `evt_storefront_${run}_${++seq}`;
    const lapsed = { ...checkoutPaymentIntent(pi), capture_method: 'manual', amount_received: 0, status: 'canceled', cancellation_reason: 'automatic' };

    expect((await post('payment_intent.canceled', lapsed, eventId)).status).toBe(200);

    expect(await skippedNotOurs()).toBe(before);
    expect(await job(eventId)).toBeDefined();
  });

  it('queues an event without our metadata caused by a request of ours (a cancel, which takes no metadata) before its answer is recorded', async () => {
    const before = await skippedNotOurs();
    const pi = `pi_cancelled_${run}`;
    const cmd = channelCommand('cancel', {}, { gateway: 'stripe', gateway_key: pi, amount: AMOUNT, currency: 'EUR' });
    const id = cmd.payment.operation_reference!;
    await stack.worker.ledger.create(id, cmd);
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const eventId = `evt_our_cancel_${run}_${++seq}`;
    const canceled = { ...checkoutPaymentIntent(pi), capture_method: 'manual', amount_received: 0, status: 'canceled', cancellation_reason: null };

    // Stripe names the request's Idempotency-Key, which is the cancel's operation id.
    expect((await post('payment_intent.canceled', canceled, eventId, id)).status).toBe(200);

    expect(await skippedNotOurs()).toBe(before);
    expect(await job(eventId)).toBeDefined();
  });
});

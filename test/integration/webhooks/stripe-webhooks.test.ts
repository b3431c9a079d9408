/**
 * Stripe webhooks through the real path on a real Redis: signed by Stripe's own SDK
 * (`webhooks.generateTestHeaderString`), posted to the web process, applied by the worker, reported to the OMS.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { pendingOperation, postStripeSigned, stripeWebhookGateway, useWebhookStack } from '../../support/webhook-stack';

const SECRET = 'whsec_stripe_webhooks_test_0123456789abcdef';
const AMOUNT = 2599;

const webLogs = captureLogger('info');
/** What the worker told the bus: each notification's `payment`. */
const notified: Array<Record<string, unknown>> = [];
const stack = useWebhookStack(
  { stripe: stripeWebhookGateway(SECRET) },
  {
    webLogger: webLogs.logger,
    workerLogger: captureLogger('warn').logger,
    notify: async (_method, params) => void notified.push((params as { payment: Record<string, unknown> }).payment),
  },
);

let seq = 0;

/** A manual-capture PaymentIntent as Stripe sends it in an event, carrying our operation id. */
function paymentIntent(id: string, operationId: string, status: string): Record<string, unknown> {
  return {
    id,
    object: 'payment_intent',
    amount: AMOUNT,
    amount_capturable: status === 'requires_capture' ? AMOUNT : 0,
    amount_received: 0,
    capture_method: 'manual',
    currency: 'eur',
    metadata: { operation_id: operationId },
    status,
  };
}

async function post(
  type: string,
  object: Record<string, unknown>,
  eventId: string,
  livemode?: boolean,
  extra: { account?: string; created?: number } = {},
): Promise<Response> {
  const event = { id: eventId, object: 'event', api_version: '2099-01-01', created: Math.floor(Date.now() / 1000), type, data: { object }, ...extra };
  const body = JSON.stringify(livemode === undefined ? event : { ...event, livemode });
  return postStripeSigned(stack, 'stripe', body, SECRET);
}

describe('Stripe webhooks', () => {
  it('acknowledge (200) an event whose PaymentIntent status the bridge does not know, count it as skipped and log it; the operation does not move', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'unreadable' });
    const pi = `pi_unknown_status_${Date.now()}`;
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'stripe', amount: AMOUNT, currency: 'EUR', order_id: `order-stripe-${++seq}` }, pi);

    const res = await post('payment_intent.amount_capturable_updated', paymentIntent(pi, id, 'requires_reauthorization'), 'evt_unknown_status_0001');

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true });
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'unreadable' })).toBe(before + 1);
    const line = webLogs.lines.find((l) => l.includes('webhook item acknowledged and skipped') && l.includes('evt_unknown_status_0001'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({
      level: 'warn',
      gateway: 'stripe',
      reason: 'unreadable',
      event_id: 'evt_unknown_status_0001',
      event_type: 'payment_intent.amount_capturable_updated',
      psp_status: 'requires_reauthorization',
      psp_reference: pi,
    });
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');
  });

  it('acknowledge (200) and skip a live mode event on a test key gateway (other_environment, a warn line): the operation it names does not move; the same event in test mode settles it', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'other_environment' });
    const pi = `pi_live_mode_${Date.now()}`;
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'stripe', amount: AMOUNT, currency: 'EUR', order_id: `order-stripe-${++seq}` }, pi);

    const res = await post('payment_intent.amount_capturable_updated', paymentIntent(pi, id, 'requires_capture'), 'evt_live_mode_0001', true);

    expect(res.status).toBe(200);
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'other_environment' })).toBe(before + 1);
    const line = webLogs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event_id === 'evt_live_mode_0001');
    expect(line).toMatchObject({ level: 'warn', gateway: 'stripe', reason: 'other_environment', field: 'livemode', psp_reference: pi });
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');

    expect((await post('payment_intent.amount_capturable_updated', paymentIntent(pi, id, 'requires_capture'), 'evt_test_mode_0001', false)).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });

  it("acknowledge (200) and skip a connected account's event at a gateway of the platform's own account (other_account, an info line): the operation it names does not move", async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'other_account' });
    const pi = `pi_other_account_${Date.now()}`;
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'stripe', amount: AMOUNT, currency: 'EUR', order_id: `order-stripe-${++seq}` }, pi);
    const eventId = `evt_other_account_${seq}`;

    const res = await post('payment_intent.amount_capturable_updated', paymentIntent(pi, id, 'requires_capture'), eventId, undefined, {
      account: 'acct_1SiblingAccount',
    });

    expect(res.status).toBe(200);
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'other_account' })).toBe(before + 1);
    const line = webLogs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event_id === eventId);
    expect(line).toMatchObject({ level: 'info', gateway: 'stripe', reason: 'other_account', account: 'acct_1SiblingAccount', psp_reference: pi });
    expect(await stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`))).toBeUndefined();
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');
  });

  it('apply payment_intent.succeeded delivered twice once, and leave the sale SUCCEEDED when an older payment_intent.processing arrives after it', async () => {
    const pi = `pi_twice_${Date.now()}`;
    const id = await pendingOperation(stack.worker, 'sale', { gateway: 'stripe', amount: AMOUNT, currency: 'EUR', order_id: `order-stripe-${++seq}` }, pi);
    const sale = (status: string): Record<string, unknown> => ({
      ...paymentIntent(pi, id, status),
      capture_method: 'automatic',
      amount_received: status === 'succeeded' ? AMOUNT : 0,
    });
    const created = Math.floor(Date.now() / 1000);
    const successes = (): number => notified.filter((p) => p.operation_reference === id && p.status === 'SUCCESS').length;

    expect((await post('payment_intent.succeeded', sale('succeeded'), `evt_twice_${seq}`, undefined, { created })).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    await eventually(() => successes() === 1);
    expect((await post('payment_intent.succeeded', sale('succeeded'), `evt_twice_${seq}`, undefined, { created })).status).toBe(200);
    expect((await post('payment_intent.processing', sale('processing'), `evt_older_processing_${seq}`, undefined, { created: created - 5 })).status).toBe(200);

    await eventually(async () => (await (await stack.outcomes.getJob(bullJobId(`wh.stripe.evt_older_processing_${seq}`)))?.getState()) === 'completed');
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(successes()).toBe(1);
    expect(notified.filter((p) => p.operation_reference === id)).toHaveLength(1);
  });

  it('keep a processing payment PENDING when payment_intent.requires_action arrives after payment_intent.processing, then settle it with payment_intent.amount_capturable_updated', async () => {
    const before = await metricValue('pb_webhook_stale_actions_total', { gateway: 'stripe', gateway_status: 'requires_action' });
    const pi = `pi_out_of_order_${Date.now()}`;
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'stripe', amount: AMOUNT, currency: 'EUR', order_id: `order-stripe-${++seq}` }, pi);

    // Stripe sent requires_action first, processing next: processing arrived first (PENDING), requires_action now.
    expect((await post('payment_intent.requires_action', paymentIntent(pi, id, 'requires_action'), `evt_stale_action_${seq}`)).status).toBe(200);

    await eventually(async () => (await stack.worker.ledger.interactions(id)).some((h) => h.event === 'webhook_action_stale'));
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');
    expect(await metricValue('pb_webhook_stale_actions_total', { gateway: 'stripe', gateway_status: 'requires_action' })).toBe(before + 1);
    expect(notified.some((p) => p.operation_reference === id && p.status === 'ACTION_REQUIRED')).toBe(false);

    expect((await post('payment_intent.amount_capturable_updated', paymentIntent(pi, id, 'requires_capture'), `evt_after_stale_${seq}`)).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });

  it('settle a revalidate whose answer was lost (UNKNOWN) with its new PaymentIntent as the new gateway key, in the ledger and in the event', async () => {
    const oldPi = `pi_old_${Date.now()}`;
    const newPi = `pi_new_${Date.now()}`;
    const cmd = channelCommand('revalidate', {}, { gateway: 'stripe', gateway_key: oldPi, amount: AMOUNT, currency: 'EUR', order_id: `order-stripe-${++seq}` });
    const id = cmd.payment.operation_reference!;
    await stack.worker.ledger.create(id, cmd);
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    // The answer timed out: outcome unknown, the status inquiry far away, so only the webhook moves it.
    await stack.worker.ledger.transition(id, 'UNKNOWN', { event: 'outcome' }, { nextCheckAt: Date.now() + 600_000, pollStep: 0 });

    expect((await post('payment_intent.amount_capturable_updated', paymentIntent(newPi, id, 'requires_capture'), `evt_revalidated_${seq}`)).status).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    const record = await stack.worker.ledger.get(id);
    expect(record).toMatchObject({ gatewayReference: newPi, newGatewayKey: newPi });
    await eventually(async () => notified.some((p) => p.operation_reference === id && p.status === 'SUCCESS'));
    expect(notified.find((p) => p.operation_reference === id && p.status === 'SUCCESS')).toMatchObject({
      gateway_command: 'revalidate',
      new_gateway_key: newPi,
    });
  });
});

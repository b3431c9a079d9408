import { PaymentCommand } from '../../../src/contracts/payment-command';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { shardKeysOf, shardOfAnchor } from '../../../src/redis/key-layout';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import {
  adjustedNotifications,
  adyenWebhookGateway,
  pendingOperation,
  postAdyenBatch,
  postSimulatorSigned,
  postStripeSigned,
  received,
  signedAdyenItem,
  simulatorWebhookGateway,
  stripeWebhookGateway,
  succeededOperation,
  useBusWebhookStack,
  useStatusInquiryPsp,
} from '../../support/webhook-stack';

/**
 * A webhook reporting the failure of an operation the OMS was told SUCCEEDED, through the real path (signed
 * webhook → outcome worker → status inquiry at the PSP → adjustment → bus). The PSP is a local HTTP server
 * answering the gateways' status inquiries with what each test sets: Stripe's PaymentIntent search, the
 * simulator's `GET /v1/operations/:reference`.
 */

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const STRIPE_SECRET = 'whsec_failure_after_success_0123456789';
const SIM_SECRET = 'whsec-sim-failure-after-success-0123456789';
const CLIENT_ID = 'failure-after-success-test';
const CLIENT_SECRET = 'failure-after-success-client-secret-0123';
const CONFIRM_MS = 300;

const psp = useStatusInquiryPsp();
const { answers, inquiries, requests } = psp;
const stack = useBusWebhookStack(
  () => ({
    adyen: adyenWebhookGateway('TestMerchant', ADYEN_HMAC, psp.url),
    stripe: stripeWebhookGateway(STRIPE_SECRET, psp.url),
    simulator: simulatorWebhookGateway(SIM_SECRET, psp.url),
  }),
  {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    config: { 'delivery.late_failure_confirm_ms': CONFIRM_MS, 'delivery.backoff_base_ms': 50, 'delivery.backoff_max_ms': 200 },
  },
);

let seq = 0;

/** An operation that SUCCEEDED at `gateway` with PSP reference `reference`, its outcome event delivered. */
async function succeeded(command: PaymentCommand['command'], gateway: string, reference: string): Promise<OperationRecord> {
  const after = await succeededOperation(stack.worker, command, { gateway, order_id: `order-fas-${process.pid}-${++seq}` }, reference);
  expect(after.state).toBe('SUCCEEDED');
  await eventually(async () => received(stack.twin.notifications, `${after.id}.SUCCEEDED`));
  return after;
}

const adjustedFor = (operationId: string) => adjustedNotifications(stack.twin.notifications, stack.config, operationId);

function paymentIntent(id: string, operationId: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, object: 'payment_intent', status, amount: 5000, currency: 'eur', capture_method: 'manual', metadata: { operation_id: operationId }, ...extra };
}

async function postStripe(type: string, object: Record<string, unknown>, eventId: string, created = Math.floor(Date.now() / 1000)): Promise<void> {
  const body = JSON.stringify({ id: eventId, object: 'event', type, created, data: { object } });
  const res = await postStripeSigned(stack, 'stripe', body, STRIPE_SECRET);
  expect(res.status).toBe(200);
}

async function postSimulator(type: string, object: Record<string, unknown>, eventId: string): Promise<void> {
  const body = JSON.stringify({ id: eventId, type, created: Math.floor(Date.now() / 1000), data: { object } });
  const res = await postSimulatorSigned(stack, 'simulator', body, SIM_SECRET);
  expect(res.status).toBe(200);
}

/**
 * Waits until a webhook's failure of a SUCCEEDED operation was handled at `gateway` with `outcome` and `done` holds
 * (what the test's own webhook leaves: its event at the bus, its history entry). The count alone is the file's, not
 * the test's: an earlier test's job asked again late moves it too, and the event reaches the bus through the outbox
 * after the count.
 */
async function finished(gateway: string, outcome: string, before: number, done: () => boolean | Promise<boolean> = () => true): Promise<void> {
  await eventually(async () => (await metricValue('pb_webhook_failures_after_success_total', { gateway, outcome })) > before && (await done()), 15000);
  // Anything sent after it (a repeated webhook's event) would reach the bus within moments.
  await new Promise((r) => setTimeout(r, 300));
}

/**
 * Waits until a webhook's failure of a SUCCEEDED operation was put off at `gateway`, to be asked about again
 * (`waiting`), and `done` holds (the test's own inquiry, where it makes one): an earlier test's job put off until a
 * search index catches up is asked again late, and moves the count too.
 */
async function askedAgain(gateway: string, before: number, done: () => boolean | Promise<boolean> = () => true): Promise<void> {
  await eventually(
    async () => (await metricValue('pb_webhook_failures_after_success_total', { gateway, outcome: 'waiting' })) > before && (await done()),
    15000,
  );
}

/** Whether the history of operation `id` holds an entry `event`. */
const inHistory = (id: string, event: string) => async () => (await history(id)).includes(event);

async function history(id: string): Promise<string[]> {
  return (await stack.worker.ledger.interactions(id)).map((i) => i.event);
}

describe('a webhook failure of an operation the OMS was told succeeded', () => {
  it('a Stripe payment_intent.canceled the PSP confirms (cancelled in the Dashboard) is a failed_after_success adjustment, sent once; the authorization stays SUCCEEDED and leaves the expiry and orphan indexes', async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_dash_${seq}`);
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', auth.id)).toBe(true);
    expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(true);
    const pi = paymentIntent(auth.gatewayReference!, auth.id, 'canceled', { cancellation_reason: 'requested_by_customer', canceled_at: 1_796_000_100 });
    answers.set(auth.id, pi);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'confirmed' });
    const released = await metricValue('pb_authorizations_released_total', { gateway: 'stripe', kind: 'failed_after_success' });
    await postStripe('payment_intent.canceled', pi, `evt_fas_dash_${auth.id}`);
    await postStripe('payment_intent.canceled', pi, `evt_fas_dash_${auth.id}`);
    await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
    await finished('stripe', 'confirmed', before, () => adjustedFor(auth.id).length >= 1);
    expect(adjustedFor(auth.id)).toHaveLength(1);
    expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'failed_after_success',
      direction: 'none',
      amount: 5000,
      currency: 'EUR',
      reason: 'requested_by_customer',
      psp_reference: auth.gatewayReference,
      // Dated by the PSP's time of the cancel (its canceled_at), not left undated.
      occurred_at: new Date(1_796_000_100_000).toISOString(),
    });
    expect(inquiries).toContain(auth.id);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
    // The PSP holds nothing any more: no expiry notice to the OMS, no orphan void of it later.
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', auth.id)).toBe(false);
    expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(false);
    expect(await metricValue('pb_authorizations_released_total', { gateway: 'stripe', kind: 'failed_after_success' })).toBe(released + 1);
  });

  it("Stripe's own cancellation of an uncaptured authorization (cancellation_reason automatic) is its lapse: an authorization_expired adjustment, sent once, on the signed webhook; the authorization stays SUCCEEDED and leaves the expiry and orphan indexes", async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_lapse_${seq}`);
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', auth.id)).toBe(true);
    const pi = paymentIntent(auth.gatewayReference!, auth.id, 'canceled', { cancellation_reason: 'automatic', amount_received: 0, canceled_at: 1_796_000_000 });
    const released = await metricValue('pb_authorizations_released_total', { gateway: 'stripe', kind: 'authorization_expired' });
    await postStripe('payment_intent.canceled', pi, `evt_fas_lapse_${auth.id}`);
    await postStripe('payment_intent.canceled', pi, `evt_fas_lapse_${auth.id}`);
    await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
    await new Promise((r) => setTimeout(r, 300));
    expect(adjustedFor(auth.id)).toHaveLength(1);
    expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'authorization_expired',
      direction: 'none',
      amount: 5000,
      currency: 'EUR',
      reason: 'automatic',
      psp_reference: auth.gatewayReference,
      occurred_at: new Date(1_796_000_000_000).toISOString(),
    });
    // A cancelled PaymentIntent never moves again: Stripe's signed word is enough, nothing is asked.
    expect(inquiries).not.toContain(auth.id);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', auth.id)).toBe(false);
    expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(false);
    // Counted once the adjustment is recorded, which its OMS event may overtake.
    await eventually(
      async () => (await metricValue('pb_authorizations_released_total', { gateway: 'stripe', kind: 'authorization_expired' })) === released + 1,
    );
  });

  it('a stale failure webhook, while the PSP (an inquiry that reads the object itself) says the authorization succeeded, reports nothing and is recorded in the history as stale', async () => {
    const auth = await succeeded('authorize', 'simulator', `auth_fas_stale_${seq}`);
    const authorized = { id: auth.gatewayReference, object: 'authorization', status: 'authorized', amount: 5000, currency: 'EUR', reference: auth.id };
    answers.set(auth.id, authorized);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'simulator', outcome: 'stale' });
    await postSimulator('authorization.failed', { ...authorized, status: 'declined', decline_code: 'do_not_honor' }, `evt_fas_stale_${auth.id}`);
    await finished('simulator', 'stale', before, inHistory(auth.id, 'webhook_failure_stale'));
    expect(inquiries).toContain(auth.id);
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(await history(auth.id)).toContain('webhook_failure_stale');
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
  });

  it('a Stripe payment_failed created before the success that moved the authorization to SUCCEEDED (the shopper tried again; the events came out of order) is stale at once: nothing asked, nothing reported; one of the same second is asked about, as before', async () => {
    const reference = `pi_fas_time_${++seq}`;
    const id = await pendingOperation(
      stack.worker,
      'authorize',
      { gateway: 'stripe', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: `order-fas-${process.pid}-${seq}` },
      reference,
    );
    const succeededAt = Math.floor(Date.now() / 1000) - 60;
    await postStripe(
      'payment_intent.amount_capturable_updated',
      paymentIntent(reference, id, 'requires_capture', { amount_capturable: 5000 }),
      `evt_fas_time_ok_${id}`,
      succeededAt,
    );
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED', 15000);
    expect((await stack.worker.ledger.get(id))?.pspSucceededAt).toBe(succeededAt * 1000);
    const declined = paymentIntent(reference, id, 'requires_payment_method', { last_payment_error: { code: 'card_declined' } });
    const stale = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'stale' });
    await postStripe('payment_intent.payment_failed', declined, `evt_fas_time_older_${id}`, succeededAt - 20);
    await finished('stripe', 'stale', stale, inHistory(id, 'webhook_failure_stale'));
    expect(inquiries).not.toContain(id);
    expect(adjustedFor(id)).toHaveLength(0);
    expect((await stack.worker.ledger.interactions(id)).find((i) => i.event === 'webhook_failure_stale')).toMatchObject({
      decided_by: 'psp_time',
      psp_status: 'requires_payment_method',
      failed_at: new Date((succeededAt - 20) * 1000).toISOString(),
      psp_succeeded_at: new Date(succeededAt * 1000).toISOString(),
    });
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    // In the success's own second the PSP's times cannot order them: the PSP is asked, as without them.
    answers.set(id, paymentIntent(reference, id, 'requires_capture', { amount_capturable: 5000 }));
    const waiting = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'waiting' });
    await postStripe('payment_intent.payment_failed', declined, `evt_fas_time_same_${id}`, succeededAt);
    await askedAgain('stripe', waiting, () => inquiries.includes(id));
    expect(inquiries).toContain(id);
    expect(await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'stale' })).toBe(stale + 1);
  });

  it('a Stripe PaymentIntent search still showing the authorization uncancelled (requires_capture) is not believed while its index may lag: put off, nothing recorded as stale, nothing reported', async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_lag_${seq}`);
    // The search index has not caught up with the cancellation the webhook reports.
    answers.set(auth.id, paymentIntent(auth.gatewayReference!, auth.id, 'requires_capture', { amount_capturable: 5000 }));
    const waiting = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'waiting' });
    const stale = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'stale' });
    const canceled = paymentIntent(auth.gatewayReference!, auth.id, 'canceled', { cancellation_reason: 'requested_by_customer' });
    await postStripe('payment_intent.canceled', canceled, `evt_fas_lag_${auth.id}`);
    await askedAgain('stripe', waiting, () => inquiries.includes(auth.id));
    await new Promise((r) => setTimeout(r, 300));
    expect(inquiries).toContain(auth.id);
    expect(await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'stale' })).toBe(stale);
    expect(await history(auth.id)).not.toContain('webhook_failure_stale');
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
  });

  it('the cancellation of an authorization the bridge is voiding is expected: no inquiry, no adjustment', async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_void_${seq}`);
    // The bridge's own void of it, recorded (not failed): the PSP's cancellation is that void seen from Stripe.
    const voidCmd = channelCommand(
      'cancel',
      {},
      { gateway: 'stripe', gateway_account: 'acct-1', order_id: auth.payment.order_id, gateway_key: auth.id, amount: 5000, currency: 'EUR' },
    );
    await stack.worker.ledger.create(
      voidOperationId(auth.id),
      { ...voidCmd, payment: { ...voidCmd.payment, operation_reference: voidOperationId(auth.id) } },
      Date.now(),
      {
        event: 'attempt',
      },
    );
    answers.set(auth.id, paymentIntent(auth.gatewayReference!, auth.id, 'canceled', { cancellation_reason: 'requested_by_customer' }));
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'own_void' });
    await postStripe('payment_intent.canceled', paymentIntent(auth.gatewayReference!, auth.id, 'canceled'), `evt_fas_void_${auth.id}`);
    await finished('stripe', 'own_void', before, inHistory(auth.id, 'webhook_failure_expected'));
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(inquiries).not.toContain(auth.id);
    expect(await history(auth.id)).toContain('webhook_failure_expected');
  });

  it("the cancellation of an authorization the OMS's own cancel closed is expected: no inquiry, no adjustment", async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_oms_${seq}`);
    const cancel = channelCommand(
      'cancel',
      {},
      { gateway: 'stripe', gateway_account: 'acct-1', order_id: auth.payment.order_id, gateway_key: auth.id, amount: 5000, currency: 'EUR' },
    );
    const { record } = await stack.worker.ledger.create(cancel.payment.operation_reference!, cancel, Date.now(), { event: 'attempt' });
    await stack.worker.recorder.apply(record!, { status: 'SUCCESS', gatewayStatus: 'canceled', gatewayReference: auth.gatewayReference }, 'response');
    expect((await stack.worker.ledger.get(auth.id))?.closedBy).toBe(cancel.payment.operation_reference);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'own_void' });
    await postStripe('payment_intent.canceled', paymentIntent(auth.gatewayReference!, auth.id, 'canceled'), `evt_fas_oms_${auth.id}`);
    await finished('stripe', 'own_void', before, inHistory(auth.id, 'webhook_failure_expected'));
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(inquiries).not.toContain(auth.id);
  });

  /** The OMS's cancel of `auth`, sent and left UNKNOWN (its answer lost): what the PSP's cancellation may be the effect of. */
  async function cancelStuckUnknown(auth: OperationRecord): Promise<OperationRecord> {
    const cancel = channelCommand(
      'cancel',
      {},
      { gateway: 'stripe', gateway_account: 'acct-1', order_id: auth.payment.order_id, gateway_key: auth.gatewayReference, amount: 5000, currency: 'EUR' },
    );
    const id = cancel.payment.operation_reference!;
    await stack.worker.ledger.create(id, cancel, Date.now(), { event: 'attempt' });
    await stack.worker.ledger.transition(id, 'UNKNOWN', { event: 'outcome', source: 'response' });
    const stuck = await stack.worker.ledger.get(id);
    expect(stuck?.state).toBe('UNKNOWN');
    return stuck!;
  }

  it("the cancellation of an authorization while the OMS's cancel of it is UNKNOWN waits for that cancel: once it succeeds, expected, never an adjustment", async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_unknown_${seq}`);
    const cancel = await cancelStuckUnknown(auth);
    answers.set(auth.id, paymentIntent(auth.gatewayReference!, auth.id, 'canceled', { cancellation_reason: 'requested_by_customer' }));
    const waitingBefore = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'waiting' });
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'own_void' });
    await postStripe('payment_intent.canceled', paymentIntent(auth.gatewayReference!, auth.id, 'canceled'), `evt_fas_unknown_${auth.id}`);
    // Past the confirmation delay, the cancel still in flight: asked again, nothing reported, the PSP not asked.
    await askedAgain('stripe', waitingBefore);
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(inquiries).not.toContain(auth.id);
    await stack.worker.recorder.apply(cancel, { status: 'SUCCESS', gatewayStatus: 'canceled', gatewayReference: auth.gatewayReference }, 'inquiry');
    await finished('stripe', 'own_void', before, inHistory(auth.id, 'webhook_failure_expected'));
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(inquiries).not.toContain(auth.id);
    expect(await history(auth.id)).toContain('webhook_failure_expected');
  });

  it('the cancellation of an authorization whose OMS cancel then failed is news: the PSP is asked and it becomes a failed_after_success adjustment', async () => {
    const auth = await succeeded('authorize', 'stripe', `pi_fas_cfail_${seq}`);
    const cancel = await cancelStuckUnknown(auth);
    const pi = paymentIntent(auth.gatewayReference!, auth.id, 'canceled', { cancellation_reason: 'fraudulent' });
    answers.set(auth.id, pi);
    const waitingBefore = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'waiting' });
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'stripe', outcome: 'confirmed' });
    await postStripe('payment_intent.canceled', pi, `evt_fas_cfail_${auth.id}`);
    await askedAgain('stripe', waitingBefore);
    expect(adjustedFor(auth.id)).toHaveLength(0);
    await stack.worker.recorder.apply(cancel, { status: 'FAIL', gatewayStatus: 'failed', reason: 'payment_intent_unexpected_state' }, 'inquiry');
    await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
    await finished('stripe', 'confirmed', before);
    expect(inquiries).toContain(auth.id);
    expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({ kind: 'failed_after_success', reason: 'fraudulent' });
  });

  it('an Adyen AUTHORISATION refused after success is reported on the signed webhook: the inquiry would only replay the request, so it is never sent', async () => {
    const auth = await succeeded('authorize', 'adyen', `ADYFAS${String(seq).padStart(10, '0')}`);
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'adyen', outcome: 'webhook_only' });
    const refused = signedAdyenItem(
      {
        eventCode: 'AUTHORISATION',
        success: 'false',
        pspReference: auth.gatewayReference!,
        merchantReference: auth.id,
        merchantAccountCode: 'TestMerchant',
        amount: { value: 5000, currency: 'EUR' },
      },
      ADYEN_HMAC,
    );
    expect((await postAdyenBatch(stack, 'adyen', [refused])).status).toBe(200);
    await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
    await finished('adyen', 'webhook_only', before, () => adjustedFor(auth.id).length >= 1);
    expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'failed_after_success',
      direction: 'none',
      amount: 5000,
    });
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
  });

  /**
   * An Adyen authorization that SUCCEEDED on its AUTHORISATION webhook (3-D Secure, an asynchronous method): the
   * `/payments` answer left it PENDING with no PSP reference, Adyen's notification gave it one.
   */
  async function authorisedByWebhook(): Promise<{ id: string; reference: string }> {
    const cmd = channelCommand('authorize', {}, { gateway: 'adyen', amount: 5000, currency: 'EUR', order_id: `order-fas-${process.pid}-${++seq}` });
    const id = cmd.payment.operation_reference!;
    await stack.worker.ledger.create(id, cmd);
    await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await stack.worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { nextCheckAt: Date.now() + 600_000, pollStep: 0 });
    const reference = `ADYFASW${String(seq).padStart(9, '0')}`;
    const item = {
      eventCode: 'AUTHORISATION',
      pspReference: reference,
      merchantReference: id,
      merchantAccountCode: 'TestMerchant',
      amount: { value: 5000, currency: 'EUR' },
    };
    expect((await postAdyenBatch(stack, 'adyen', [signedAdyenItem(item, ADYEN_HMAC)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED', 15000);
    await eventually(async () => received(stack.twin.notifications, `${id}.SUCCEEDED`));
    return { id, reference };
  }

  it.each([
    ['CANCELLATION', undefined],
    ['CANCEL_OR_REFUND', 'cancel'],
  ])(
    'an Adyen %s made in the Customer Area (its own pspReference, originalReference the payment) of an authorization authorised by webhook is its failed_after_success, on the signed webhook, once',
    async (eventCode, action) => {
      const auth = await authorisedByWebhook();
      const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'adyen', outcome: 'webhook_only' });
      const parked = await metricValue('pb_webhook_parked_total', { gateway: 'adyen', outcome: 'parked' });
      const fields = {
        eventCode,
        pspReference: `ADYFASC${String(seq).padStart(9, '0')}`,
        originalReference: auth.reference,
        merchantReference: auth.id,
        merchantAccountCode: 'TestMerchant',
        amount: { value: 5000, currency: 'EUR' },
      };
      const item = signedAdyenItem(fields, ADYEN_HMAC);
      // Adyen's cancel-or-refund says what it did (not part of the HMAC's fields).
      if (action !== undefined) (item.NotificationRequestItem as { additionalData: Record<string, string> }).additionalData['modification.action'] = action;
      expect((await postAdyenBatch(stack, 'adyen', [item])).status).toBe(200);
      expect((await postAdyenBatch(stack, 'adyen', [item])).status).toBe(200);
      await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
      await finished('adyen', 'webhook_only', before, () => adjustedFor(auth.id).length >= 1);
      expect(adjustedFor(auth.id)).toHaveLength(1);
      expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
        kind: 'failed_after_success',
        direction: 'none',
        amount: 5000,
        currency: 'EUR',
        psp_reference: fields.pspReference,
      });
      expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
      expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
      expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(false);
      // No cancel of ours will ever hold the cancel's own reference: nothing is parked under it for nobody.
      expect(await metricValue('pb_webhook_parked_total', { gateway: 'adyen', outcome: 'parked' })).toBe(parked);
      const name = `adyen:${fields.pspReference}`;
      expect(await stack.worker.redis.exists(shardKeysOf(stack.config.redis.keyPrefix)[shardOfAnchor(name)].parkedOutcomes(name))).toBe(0);
    },
  );

  it('a failure the PSP cannot confirm yet (its inquiry fails, then answers) is asked again and reported once confirmed', async () => {
    const auth = await succeeded('authorize', 'simulator', `auth_fas_retry_${seq}`);
    answers.set(auth.id, 503);
    const declined = {
      id: auth.gatewayReference,
      object: 'authorization',
      status: 'declined',
      decline_code: 'do_not_honor',
      amount: 5000,
      currency: 'EUR',
      reference: auth.id,
    };
    const waitingBefore = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'simulator', outcome: 'waiting' });
    const before = await metricValue('pb_webhook_failures_after_success_total', { gateway: 'simulator', outcome: 'confirmed' });
    await postSimulator('authorization.failed', declined, `evt_fas_retry_${auth.id}`);
    await askedAgain('simulator', waitingBefore);
    expect(adjustedFor(auth.id)).toHaveLength(0);
    answers.set(auth.id, declined);
    await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
    await finished('simulator', 'confirmed', before);
    expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({ kind: 'failed_after_success', reason: 'do_not_honor' });
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
  });
});

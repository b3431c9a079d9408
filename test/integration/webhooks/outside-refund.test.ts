/**
 * A refund the PSP made that no refund of the bridge asked for, through the real path (signed webhook → route →
 * outcome worker → ledger → adjustment → OMS event), on the real Redis:
 * - Adyen `REFUND` of a payment made in the Customer Area: `originalReference` the payment's pspReference, its own
 *   `pspReference`, a `merchantReference` typed there (Webhooks v1);
 * - Adyen `CANCEL_OR_REFUND` of an authorization with `modification.action` `refund`, or without the action once a
 *   capture of it succeeded ("Refund the payment – in case it has already been captured");
 * - a Stripe Refund made in the Dashboard (`refund.created` / `refund.updated`, no metadata of ours, `payment_intent`
 *   ours).
 * Each is one `refund_outside_bridge` adjustment of the payment (direction debit, the PSP's amount and currency, the
 * PSP's refund reference) and one `adjusted` event, however often it is delivered; never while a refund of ours on the
 * payment is open (it may be that one).
 */
import Stripe from 'stripe';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OperationRecord } from '../../../src/ledger/ledger';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, postAdyenBatch, signedAdyenItem, succeededOperation, useWebhookStack } from '../../support/webhook-stack';

jest.setTimeout(60_000);

const HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'OutsideRefundMerchant';
const STRIPE_SECRET = 'whsec_outside_refund_0123456789abcdef';

const log = captureLogger('info');
const adjusted: Array<{ payment: Record<string, unknown>; adjustment: Record<string, unknown> }> = [];
const stack = useWebhookStack(
  {
    adyen: adyenWebhookGateway(MERCHANT, HMAC),
    stripe: { type: 'stripe', base_url: 'http://127.0.0.1:1', api_key: 'sk_test_unused', webhook_secret: STRIPE_SECRET },
  },
  {
    webLogger: log.logger,
    config: { 'delivery.backoff_base_ms': 150, 'delivery.backoff_max_ms': 300 },
    notify: async (_method, params) => {
      const p = params as { payment: Record<string, unknown>; adjustment?: Record<string, unknown> };
      if (p.adjustment) adjusted.push({ payment: p.payment, adjustment: p.adjustment });
    },
  },
);
const stripe = new Stripe('sk_test_unit_only');

let seq = 0;

async function succeeded(command: 'authorize' | 'sale', gateway: string, reference: string): Promise<OperationRecord> {
  const op = await succeededOperation(stack.worker, command, { gateway, order_id: `order-outside-${Date.now()}-${++seq}` }, reference);
  expect(op.state).toBe('SUCCEEDED');
  return op;
}

/** An operation of `command` on payment `auth`, registered among its dependents, left in `state`. */
async function dependent(auth: OperationRecord, command: 'capture' | 'refund', state: 'SUCCEEDED' | 'PENDING', amount: number): Promise<string> {
  const cmd = channelCommand(command, {}, { gateway: auth.payment.gateway, gateway_account: 'acct-1', gateway_key: auth.id, amount, currency: 'EUR' });
  const id = cmd.payment.operation_reference!;
  await stack.worker.ledger.create(id, cmd, Date.now(), { event: 'attempt' });
  await stack.worker.ledger.authorizationView(auth.id, id);
  if (state === 'SUCCEEDED') await stack.worker.ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, { confirmedAmount: amount, confirmedCurrency: 'EUR' });
  else await stack.worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { nextCheckAt: Date.now() + 600_000, pollStep: 0 });
  return id;
}

/** Adyen's notification of a refund or cancel-or-refund of payment `original` that the bridge did not ask for, or of its failure or reversal. */
async function postAdyen(
  eventCode: 'REFUND' | 'CANCEL_OR_REFUND' | 'REFUND_FAILED' | 'REFUNDED_REVERSED',
  original: string,
  pspReference: string,
  value: number,
  action?: string,
): Promise<number> {
  const item = signedAdyenItem(
    // A reference typed in the Customer Area: no operation of ours, not even of an operation id's shape.
    {
      eventCode,
      merchantReference: 'goodwill refund #42',
      pspReference,
      originalReference: original,
      merchantAccountCode: MERCHANT,
      amount: { value, currency: 'EUR' },
    },
    HMAC,
  );
  const fields = item.NotificationRequestItem as { additionalData: Record<string, string> };
  // Not covered by the HMAC: Adyen adds it to a CANCEL_OR_REFUND.
  if (action !== undefined) fields.additionalData['modification.action'] = action;
  return (await postAdyenBatch(stack, 'adyen', [item])).status;
}

async function postStripe(type: string, object: Record<string, unknown>, eventId: string): Promise<number> {
  const body = JSON.stringify({ id: eventId, object: 'event', api_version: '2099-01-01', created: Math.floor(Date.now() / 1000), type, data: { object } });
  const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_SECRET });
  return (
    await fetch(`${stack.web.server.url}/webhooks/stripe`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
    })
  ).status;
}

const eventsOf = (id: string) => adjusted.filter((e) => e.payment.operation_reference === id);
const settle = () => new Promise((r) => setTimeout(r, 600));
const reported = (gateway: string) => metricValue('pb_webhook_outside_refunds_total', { gateway, outcome: 'reported' });

describe('a refund the PSP made that no refund of the bridge asked for', () => {
  it('Adyen REFUND made in the Customer Area: one refund_outside_bridge adjustment of the authorization (debit, as Adyen reports it) and one event, however often delivered', async () => {
    const auth = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00001');
    const before = await reported('adyen');
    expect(await postAdyen('REFUND', 'OUTSIDEAUTH00001', 'OUTSIDEREFUND001', 1200)).toBe(200);

    await eventually(async () => eventsOf(auth.id).length === 1);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 1200,
      currency: 'EUR',
      gateway: 'adyen',
      psp_reference: 'OUTSIDEREFUND001',
      source: 'webhook',
    });
    expect(await reported('adyen')).toBe(before + 1);
    expect(log.lines.some((l) => l.includes('reported as refund_outside_bridge') && l.includes(auth.id))).toBe(true);
    // The payment itself does not move.
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');

    // Adyen delivers it again: nothing new. A second refund of the same payment is a fact of its own.
    expect(await postAdyen('REFUND', 'OUTSIDEAUTH00001', 'OUTSIDEREFUND001', 1200)).toBe(200);
    expect(await postAdyen('REFUND', 'OUTSIDEAUTH00001', 'OUTSIDEREFUND002', 1200)).toBe(200);
    await eventually(async () => eventsOf(auth.id).length === 2);
    await settle();
    expect(eventsOf(auth.id).map((e) => e.adjustment.psp_reference)).toEqual(['OUTSIDEREFUND001', 'OUTSIDEREFUND002']);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(2);
  });

  it('Adyen REFUND of a sale: a refund_outside_bridge adjustment of the sale', async () => {
    const sale = await succeeded('sale', 'adyen', 'OUTSIDESALE00001');
    expect(await postAdyen('REFUND', 'OUTSIDESALE00001', 'OUTSIDEREFUND003', 700)).toBe(200);
    await eventually(async () => eventsOf(sale.id).length === 1);
    expect(eventsOf(sale.id)[0].adjustment).toMatchObject({ kind: 'refund_outside_bridge', direction: 'debit', amount: 700 });
  });

  it('Adyen CANCEL_OR_REFUND of an authorization: a refund when its action says so, or without the action once a capture of it succeeded', async () => {
    const refunded = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00002');
    expect(await postAdyen('CANCEL_OR_REFUND', 'OUTSIDEAUTH00002', 'OUTSIDECOR000001', 5000, 'refund')).toBe(200);
    await eventually(async () => eventsOf(refunded.id).length === 1);
    expect(eventsOf(refunded.id)[0].adjustment).toMatchObject({ kind: 'refund_outside_bridge', direction: 'debit', psp_reference: 'OUTSIDECOR000001' });

    const captured = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00003');
    await dependent(captured, 'capture', 'SUCCEEDED', 5000);
    expect(await postAdyen('CANCEL_OR_REFUND', 'OUTSIDEAUTH00003', 'OUTSIDECOR000002', 5000)).toBe(200);
    await eventually(async () => eventsOf(captured.id).length === 1);
    expect(eventsOf(captured.id)[0].adjustment).toMatchObject({ kind: 'refund_outside_bridge', direction: 'debit', psp_reference: 'OUTSIDECOR000002' });
  });

  it("Adyen CANCEL_OR_REFUND of an authorization partly captured: the amount it gave back (captured less refunded), not the payment's it states (kept in reason)", async () => {
    const auth = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00007');
    await dependent(auth, 'capture', 'SUCCEEDED', 3000);
    await dependent(auth, 'refund', 'SUCCEEDED', 500);
    const before = await metricValue('pb_webhook_outside_refund_payment_amounts_total', { gateway: 'adyen', amount: 'left' });
    expect(await postAdyen('CANCEL_OR_REFUND', 'OUTSIDEAUTH00007', 'OUTSIDECOR000004', auth.payment.amount, 'refund')).toBe(200);
    await eventually(async () => eventsOf(auth.id).length === 1);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 2500,
      currency: 'EUR',
      reason: `payment_amount_${auth.payment.amount}_EUR`,
      psp_reference: 'OUTSIDECOR000004',
    });
    expect(await metricValue('pb_webhook_outside_refund_payment_amounts_total', { gateway: 'adyen', amount: 'left' })).toBe(before + 1);
  });

  it("never a refund of ours (named by its reference), nor an authorization's CANCEL_OR_REFUND without the action while nothing of it was captured (a cancel)", async () => {
    const auth = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00005');
    const ours = await dependent(auth, 'refund', 'PENDING', 1200);
    const item = signedAdyenItem(
      {
        eventCode: 'REFUND',
        merchantReference: ours,
        pspReference: 'OURREFUND0000001',
        originalReference: 'OUTSIDEAUTH00005',
        merchantAccountCode: MERCHANT,
        amount: { value: 1200, currency: 'EUR' },
      },
      HMAC,
    );
    expect((await postAdyenBatch(stack, 'adyen', [item])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(ours))?.state === 'SUCCEEDED');

    const uncaptured = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00006');
    expect(await postAdyen('CANCEL_OR_REFUND', 'OUTSIDEAUTH00006', 'OUTSIDECOR000003', 5000)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.interactions(uncaptured.id)).some((h) => h.event === 'outcome_not_for_command'));
    await settle();
    expect(eventsOf(auth.id)).toHaveLength(0);
    expect(eventsOf(uncaptured.id)).toHaveLength(0);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(0);
  });

  it('not while a refund of ours on the payment is open (it may be that one): reported once that refund settles otherwise', async () => {
    const auth = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00004');
    const ours = await dependent(auth, 'refund', 'PENDING', 1200);
    const waiting = await metricValue('pb_webhook_outside_refunds_total', { gateway: 'adyen', outcome: 'waiting' });
    expect(await postAdyen('REFUND', 'OUTSIDEAUTH00004', 'OUTSIDEREFUND004', 1200)).toBe(200);

    await eventually(async () => (await metricValue('pb_webhook_outside_refunds_total', { gateway: 'adyen', outcome: 'waiting' })) > waiting);
    expect(eventsOf(auth.id)).toHaveLength(0);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(0);

    // Ours failed (the PSP refused it): the refund Adyen reports is not ours after all.
    await stack.worker.ledger.transition(ours, 'FAILED', { event: 'outcome' }, {});
    await eventually(async () => eventsOf(auth.id).length === 1);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({ kind: 'refund_outside_bridge', psp_reference: 'OUTSIDEREFUND004' });
  });

  it('a Stripe Refund made in the Dashboard: one refund_outside_bridge adjustment of the PaymentIntent, whichever of its events come', async () => {
    const pi = `pi_outside_${Date.now()}`;
    const auth = await succeeded('sale', 'stripe', pi);
    const before = await reported('stripe');
    const refund = { id: `re_outside_${Date.now()}`, object: 'refund', amount: 900, currency: 'eur', payment_intent: pi, status: 'succeeded', metadata: {} };

    expect(await postStripe('refund.created', refund, `evt_outside_created_${seq}`)).toBe(200);
    expect(await postStripe('refund.updated', refund, `evt_outside_updated_${seq}`)).toBe(200);
    await eventually(async () => eventsOf(auth.id).length === 1);
    await settle();
    expect(eventsOf(auth.id)).toHaveLength(1);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 900,
      currency: 'EUR',
      gateway: 'stripe',
      psp_reference: refund.id,
    });
    expect(await reported('stripe')).toBe(before + 1);
  });

  it("a Stripe Dashboard refund of an authorization a capture of ours captured: the authorization's refund_outside_bridge (the capture's answer indexed the PaymentIntent to the capture)", async () => {
    const pi = `pi_outside_captured_${Date.now()}`;
    const auth = await succeeded('authorize', 'stripe', pi);
    const capture = channelCommand('capture', {}, { gateway: 'stripe', gateway_account: 'acct-1', gateway_key: auth.id, amount: 5000, currency: 'EUR' });
    const captureId = capture.payment.operation_reference!;
    await stack.worker.ledger.create(captureId, capture, Date.now(), { event: 'attempt' });
    await stack.worker.ledger.authorizationView(auth.id, captureId);
    await stack.worker.ledger.transition(captureId, 'SENT', { event: 'attempt' }, {});
    const sent = (await stack.worker.ledger.get(captureId))!;
    // Stripe answers a capture with the PaymentIntent: the reference index now names the capture.
    await stack.worker.recorder.apply(sent, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: pi, amount: 5000, currency: 'EUR' }, 'response');
    expect(await stack.worker.ledger.findByReference('stripe', pi)).toBe(captureId);

    const refund = {
      id: `re_outside_captured_${Date.now()}`,
      object: 'refund',
      amount: 2000,
      currency: 'eur',
      payment_intent: pi,
      status: 'succeeded',
      metadata: {},
    };
    expect(await postStripe('refund.created', refund, `evt_outside_captured_${Date.now()}`)).toBe(200);
    await eventually(async () => eventsOf(auth.id).length === 1);
    expect(eventsOf(auth.id)[0].adjustment).toMatchObject({
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 2000,
      currency: 'EUR',
      psp_reference: refund.id,
    });
    expect(eventsOf(captureId)).toHaveLength(0);
    expect((await stack.worker.ledger.get(captureId))?.state).toBe('SUCCEEDED');
  });

  it("a Dashboard refund of a PaymentIntent that is no payment of ours (another integration's): acknowledged, counted, nothing retried", async () => {
    const before = await metricValue('pb_webhook_outside_refunds_total', { gateway: 'stripe', outcome: 'not_ours' });
    const refund = {
      id: `re_theirs_${Date.now()}`,
      object: 'refund',
      amount: 900,
      currency: 'eur',
      payment_intent: 'pi_not_ours_0001',
      status: 'succeeded',
      metadata: {},
    };
    expect(await postStripe('refund.created', refund, `evt_theirs_${Date.now()}`)).toBe(200);
    await eventually(async () => (await metricValue('pb_webhook_outside_refunds_total', { gateway: 'stripe', outcome: 'not_ours' })) === before + 1);
    expect(log.lines.some((l) => l.includes('no operation of ours: nothing to do') && l.includes(refund.id))).toBe(true);
  });

  describe('that refund failing or coming back later', () => {
    const failures = (gateway: string, outcome: string) => metricValue('pb_webhook_outside_refund_failures_total', { gateway, outcome });

    it('Adyen REFUND_FAILED and REFUNDED_REVERSED of a Customer Area refund reported: one adjustment of the payment each (credit, its refund reference), however often delivered', async () => {
      const auth = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00010');
      await dependent(auth, 'capture', 'SUCCEEDED', 5000);
      const before = await failures('adyen', 'reported');
      expect(await postAdyen('REFUND', 'OUTSIDEAUTH00010', 'OUTSIDEREFUND010', 1200)).toBe(200);
      await eventually(async () => eventsOf(auth.id).length === 1);
      expect(await postAdyen('REFUND_FAILED', 'OUTSIDEAUTH00010', 'OUTSIDEREFUND010', 1200)).toBe(200);
      await eventually(async () => eventsOf(auth.id).length === 2);
      expect(eventsOf(auth.id)[1].adjustment).toMatchObject({
        kind: 'refund_failed',
        direction: 'credit',
        amount: 1200,
        currency: 'EUR',
        gateway: 'adyen',
        psp_reference: 'OUTSIDEREFUND010',
        source: 'webhook',
      });
      expect(await failures('adyen', 'reported')).toBe(before + 1);
      expect(log.lines.some((l) => l.includes('failed or came back') && l.includes(auth.id) && l.includes('OUTSIDEREFUND010'))).toBe(true);
      // Delivered again: nothing new.
      expect(await postAdyen('REFUND_FAILED', 'OUTSIDEAUTH00010', 'OUTSIDEREFUND010', 1200)).toBe(200);

      expect(await postAdyen('REFUND', 'OUTSIDEAUTH00010', 'OUTSIDEREFUND011', 800)).toBe(200);
      await eventually(async () => eventsOf(auth.id).length === 3);
      expect(await postAdyen('REFUNDED_REVERSED', 'OUTSIDEAUTH00010', 'OUTSIDEREFUND011', 800)).toBe(200);
      await eventually(async () => eventsOf(auth.id).length === 4);
      await settle();
      expect(eventsOf(auth.id).map((e) => [e.adjustment.kind, e.adjustment.direction, e.adjustment.psp_reference])).toEqual([
        ['refund_outside_bridge', 'debit', 'OUTSIDEREFUND010'],
        ['refund_failed', 'credit', 'OUTSIDEREFUND010'],
        ['refund_outside_bridge', 'debit', 'OUTSIDEREFUND011'],
        ['refund_reversed', 'credit', 'OUTSIDEREFUND011'],
      ]);
      expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
    });

    it('a Stripe Dashboard Refund that failed after it succeeded: one refund_failed adjustment of the PaymentIntent, whichever of its events come, even when the failure comes first', async () => {
      const pi = `pi_outside_fail_${Date.now()}`;
      const auth = await succeeded('sale', 'stripe', pi);
      const refund = { id: `re_outside_fail_${Date.now()}`, object: 'refund', amount: 900, currency: 'eur', payment_intent: pi, metadata: {} };
      const waiting = await failures('stripe', 'waiting');
      // The failure first: that refund is not reported yet, so its failure waits for it.
      const failed = { ...refund, status: 'failed', failure_reason: 'expired_or_canceled_card' };
      expect(await postStripe('refund.failed', failed, `evt_outside_failed_${seq}`)).toBe(200);
      await eventually(async () => (await failures('stripe', 'waiting')) > waiting);
      expect(eventsOf(auth.id)).toHaveLength(0);

      expect(await postStripe('refund.created', { ...refund, status: 'succeeded' }, `evt_outside_fail_created_${seq}`)).toBe(200);
      expect(await postStripe('refund.updated', failed, `evt_outside_fail_updated_${seq}`)).toBe(200);
      expect(await postStripe('charge.refund.updated', failed, `evt_outside_fail_charge_${seq}`)).toBe(200);
      await eventually(async () => eventsOf(auth.id).length === 2);
      await settle();
      expect(eventsOf(auth.id).map((e) => e.adjustment)).toEqual([
        expect.objectContaining({ kind: 'refund_outside_bridge', direction: 'debit', amount: 900, psp_reference: refund.id }),
        expect.objectContaining({
          kind: 'refund_failed',
          direction: 'credit',
          amount: 900,
          currency: 'EUR',
          psp_reference: refund.id,
          reason: 'expired_or_canceled_card',
        }),
      ]);
    });

    it('never for a refund of ours: its own adjustment, which marks it undone', async () => {
      const auth = await succeeded('authorize', 'adyen', 'OUTSIDEAUTH00011');
      const ours = await dependent(auth, 'refund', 'SUCCEEDED', 1200);
      await stack.worker.ledger.transition(ours, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: 'OURREFUND0000011' });
      const item = signedAdyenItem(
        {
          eventCode: 'REFUND_FAILED',
          merchantReference: ours,
          pspReference: 'OURREFUND0000011',
          originalReference: 'OUTSIDEAUTH00011',
          merchantAccountCode: MERCHANT,
          amount: { value: 1200, currency: 'EUR' },
        },
        HMAC,
      );
      expect((await postAdyenBatch(stack, 'adyen', [item])).status).toBe(200);
      await eventually(async () => (await stack.worker.adjustmentStore.forOperation(ours)).length === 1);
      expect((await stack.worker.ledger.get(ours))?.undoneBy).toBeDefined();
      expect(eventsOf(auth.id)).toHaveLength(0);
    });
  });
});

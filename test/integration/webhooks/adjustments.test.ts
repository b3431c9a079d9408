import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { adyenWebhookAuthorization } from '../../../src/gateways/adyen';
import { OperationRecord } from '../../../src/ledger/ledger';
import { RoutingRecord } from '../../../src/ledger/routing-record';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { lineEventId } from '../../../src/reconciliation-run/reconciliation-ledger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import {
  adjustedNotifications,
  adyenWebhookGateway,
  postSimulatorSigned,
  postStripeSigned,
  received,
  simulatorWebhookGateway,
  stripeWebhookGateway,
  succeededOperation,
  useBusWebhookStack,
} from '../../support/webhook-stack';

/**
 * Late PSP facts through the real path: signed webhook → webhook route → outcome worker → adjustment →
 * outbox → event sender → the bus twin's delegate URL.
 */

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const STRIPE_SECRET = 'whsec_adjustments_test_0123456789abcdef';
const SIM_SECRET = 'whsec-sim-adjustments-test-0123456789';
const CLIENT_ID = 'adjustments-test';
const CLIENT_SECRET = 'adjustments-test-client-secret-0123';

const stack = useBusWebhookStack(
  {
    adyen: adyenWebhookGateway('TestMerchant', ADYEN_HMAC),
    stripe: stripeWebhookGateway(STRIPE_SECRET),
    simulator: simulatorWebhookGateway(SIM_SECRET),
  },
  { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
);
const sdk = new HmacValidator();

let orderSeq = 0;

/** An operation that SUCCEEDED at `gateway` with PSP reference `reference`, its outcome event delivered. */
async function succeeded(
  command: PaymentCommand['command'],
  gateway: string,
  reference: string,
  order = `order-adj-${Date.now()}-${++orderSeq}`,
): Promise<OperationRecord> {
  const after = await succeededOperation(stack.worker, command, { gateway, order_id: order }, reference);
  expect(after.state).toBe('SUCCEEDED');
  await eventually(async () => received(stack.twin.notifications, `${after.id}.SUCCEEDED`));
  return after;
}

const adjustedFor = (operationId: string) => adjustedNotifications(stack.twin.notifications, stack.config, operationId);

function adyenNotification(item: Record<string, unknown>): string {
  const signed = { ...item, additionalData: { ...((item.additionalData as Record<string, string>) ?? {}) } };
  (signed.additionalData as Record<string, string>).hmacSignature = sdk.calculateHmac(signed as never, ADYEN_HMAC);
  return JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: signed }] });
}

/** An Adyen `EXPIRE` of a EUR 50.00 authorization, as the spec's example: the amount originally authorised. */
function adyenExpire(pspReference: string, merchantReference: string, eventDate: string): string {
  return adyenNotification({
    pspReference,
    merchantAccountCode: 'TestMerchant',
    merchantReference,
    amount: { value: 5000, currency: 'EUR' },
    eventCode: 'EXPIRE',
    eventDate,
    reason: '',
    success: 'true',
  });
}

/** An Adyen `CHARGEBACK` (EUR 42.00 lost, reason code 10.4) of the payment `originalReference`, named by operation `merchantReference`. */
function adyenChargeback(pspReference: string, originalReference: string, merchantReference: string): string {
  return adyenNotification({
    pspReference,
    originalReference,
    merchantAccountCode: 'TestMerchant',
    merchantReference,
    amount: { value: 4200, currency: 'EUR' },
    eventCode: 'CHARGEBACK',
    eventDate: '2026-11-20T10:00:00+01:00',
    success: 'true',
    reason: 'Other Fraud-Card Absent Environment',
    additionalData: { chargebackReasonCode: '10.4', disputeStatus: 'Lost' },
  });
}

async function postAdyen(body: string): Promise<Response> {
  return fetch(`${stack.web.server.url}/webhooks/adyen`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: adyenWebhookAuthorization(stack.config.gateways.adyen) },
  });
}

async function postStripe(event: Record<string, unknown>): Promise<Response> {
  return postStripeSigned(stack, 'stripe', JSON.stringify(event), STRIPE_SECRET);
}

async function postSimulator(event: Record<string, unknown>): Promise<Response> {
  return postSimulatorSigned(stack, 'simulator', JSON.stringify(event), SIM_SECRET);
}

const settle = () => new Promise((r) => setTimeout(r, 400));

describe('late PSP facts become adjustments with their own OMS event', () => {
  it('an Adyen CHARGEBACK after a SUCCEEDED capture reaches the bus once as an adjusted event, even delivered twice; the states do not move', async () => {
    const auth = await succeeded('authorize', 'adyen', 'ADYENPAY00000001');
    const capture = await succeeded('capture', 'adyen', 'ADYENCAP00000001', auth.payment.order_id);
    const before = await metricValue('pb_adjustments_total', { gateway: 'adyen', kind: 'chargeback' });
    const body = adyenChargeback('ADYENDSP00000001', 'ADYENPAY00000001', auth.id);
    expect((await postAdyen(body)).status).toBe(200);
    expect((await postAdyen(body)).status).toBe(200);
    await eventually(async () => adjustedFor(auth.id).length >= 1);
    await settle();
    const sent = adjustedFor(auth.id);
    expect(sent).toHaveLength(1);
    const params = sent[0].params as { payment: Record<string, unknown>; adjustment: Record<string, unknown> };
    expect(params.adjustment).toMatchObject({
      kind: 'chargeback',
      direction: 'debit',
      amount: 4200,
      currency: 'EUR',
      reason: '10.4',
      gateway: 'adyen',
      psp_reference: 'ADYENDSP00000001',
      occurred_at: '2026-11-20T09:00:00.000Z',
    });
    expect(params.payment).toMatchObject({
      operation_reference: auth.id,
      order_id: auth.payment.order_id,
      gateway: 'adyen',
      operation_state: 'SUCCEEDED',
      amount: 5000,
    });
    expect(params.payment.event_id).toMatch(new RegExp(`^${auth.id}\\.adj\\.adj_[0-9a-f]{24}$`));
    expect(typeof params.payment.sequence).toBe('number');
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
    expect((await stack.worker.ledger.get(capture.id))?.state).toBe('SUCCEEDED');
    const stored = await stack.worker.adjustmentStore.forOperation(auth.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ kind: 'chargeback', amount: 4200, currency: 'EUR', pspEventId: 'ADYENDSP00000001:CHARGEBACK:true' });
    expect((await stack.worker.ledger.interactions(auth.id)).filter((h) => h.event === 'adjustment')).toHaveLength(1);
    expect(await metricValue('pb_adjustments_total', { gateway: 'adyen', kind: 'chargeback' })).toBe(before + 1);
  });

  it('an Adyen CHARGEBACK that reconciliation recorded first from the settlement line reaches the bus once, as reconciliation told it; the webhook, delivered twice, records nothing more', async () => {
    const auth = await succeeded('authorize', 'adyen', 'ADYENPAY00000009');
    await succeeded('capture', 'adyen', 'ADYENCAP00000009', auth.payment.order_id);
    const before = await metricValue('pb_adjustments_found_recorded_total', { gateway: 'adyen', kind: 'chargeback' });
    // What the reconciliation runner records for the settlement details report's Chargeback line.
    const line = 'ADYENPAY00000009:Chargeback:ADYENDSP00000009:12';
    const recorded = await stack.worker.adjustments.recordAdjustment(auth, {
      kind: 'chargeback',
      direction: 'debit',
      amount: 4200,
      currency: 'EUR',
      reason: 'psp_Chargeback',
      pspReference: 'ADYENDSP00000009',
      occurredAt: Date.parse('2026-11-20T09:00:00Z'),
      gateway: 'adyen',
      pspEventId: lineEventId(line),
      source: 'reconciliation',
    });
    expect(recorded.created).toBe(true);
    await eventually(async () => adjustedFor(auth.id).length >= 1);
    const body = adyenChargeback('ADYENDSP00000009', 'ADYENPAY00000009', auth.id);
    expect((await postAdyen(body)).status).toBe(200);
    expect((await postAdyen(body)).status).toBe(200);
    await eventually(async () => (await metricValue('pb_adjustments_found_recorded_total', { gateway: 'adyen', kind: 'chargeback' })) === before + 1);
    await settle();
    const sent = adjustedFor(auth.id);
    expect(sent).toHaveLength(1);
    expect((sent[0].params as { adjustment: Record<string, unknown> }).adjustment).toMatchObject({
      kind: 'chargeback',
      amount: 4200,
      source: 'reconciliation',
    });
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toEqual([recorded.adjustment]);
    expect((await stack.worker.ledger.interactions(auth.id)).filter((h) => h.event === 'adjustment')).toHaveLength(1);
  });

  it('an Adyen EXPIRE of a SUCCEEDED authorization is an authorization_expired adjustment sent once; the authorization leaves the expiry and orphan indexes and stays SUCCEEDED', async () => {
    const auth = await succeeded('authorize', 'adyen', 'ADYENPAY0000000E');
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', auth.id)).toBe(true);
    expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(true);
    const before = await metricValue('pb_adjustments_total', { gateway: 'adyen', kind: 'authorization_expired' });
    // As the spec's example: the payment's pspReference, no originalReference, the amount originally authorised.
    const body = adyenExpire('ADYENPAY0000000E', auth.id, '2026-11-27T11:19:48+01:00');
    expect((await postAdyen(body)).status).toBe(200);
    expect((await postAdyen(body)).status).toBe(200);
    await eventually(async () => adjustedFor(auth.id).length >= 1);
    await settle();
    expect(adjustedFor(auth.id)).toHaveLength(1);
    expect((adjustedFor(auth.id)[0].params as { adjustment: Record<string, unknown> }).adjustment).toMatchObject({
      kind: 'authorization_expired',
      direction: 'none',
      amount: 5000,
      currency: 'EUR',
      psp_reference: 'ADYENPAY0000000E',
      occurred_at: '2026-11-27T10:19:48.000Z',
    });
    expect(await metricValue('pb_adjustments_total', { gateway: 'adyen', kind: 'authorization_expired' })).toBe(before + 1);
    expect(await stack.worker.ledger.inAuthorizationIndex('expiry', auth.id)).toBe(false);
    expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(false);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');
  });

  it('an Adyen EXPIRE after a partial capture reports what lapsed: the amount originally authorised, as Adyen sends it, less what the captures took', async () => {
    const order = `order-adj-lapse-${Date.now()}`;
    const auth = await succeeded('authorize', 'adyen', 'ADYENPAY0000001E', order);
    const captureCmd = channelCommand(
      'capture',
      {},
      { gateway: 'adyen', gateway_account: 'acct-1', order_id: order, gateway_key: auth.id, amount: 1800, currency: 'EUR' },
    );
    const capture = captureCmd.payment.operation_reference!;
    await stack.worker.ledger.create(capture, captureCmd, Date.now(), { event: 'attempt' });
    await stack.worker.ledger.authorizationView(auth.id, capture);
    await stack.worker.ledger.transition(capture, 'SUCCEEDED', { event: 'outcome' }, { confirmedAmount: 1800, confirmedCurrency: 'EUR' });
    const body = adyenExpire('ADYENPAY0000001E', auth.id, '2026-11-28T11:19:48+01:00');
    expect((await postAdyen(body)).status).toBe(200);
    await eventually(async () => adjustedFor(auth.id).length >= 1);
    expect((adjustedFor(auth.id)[0].params as { adjustment: Record<string, unknown> }).adjustment).toMatchObject({
      kind: 'authorization_expired',
      amount: 3200,
      currency: 'EUR',
    });
  });

  it("an Adyen EXPIRE of a converted authorization takes off its captures in Adyen's currency: what each was asked at the locked rate, or confirmed", async () => {
    const order = `order-adj-lapse-fx-${Date.now()}`;
    // USD 55.50 ordered, EUR 50.00 held by Adyen (converted at 0.9009); a capture of USD 20.00 went out as EUR 18.02.
    const fx = (amount: number): RoutingRecord => ({
      gateway: 'adyen',
      requested: 'adyen',
      candidates: ['adyen'],
      index: 0,
      decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['converted'] }],
      amount,
      currency: 'EUR',
    });
    const authCmd = channelCommand('authorize', {}, { gateway: 'adyen', gateway_account: 'acct-1', order_id: order, amount: 5550, currency: 'USD' });
    const auth = authCmd.payment.operation_reference!;
    await stack.worker.ledger.create(auth, authCmd, Date.now(), { event: 'attempt' });
    await stack.worker.ledger.transition(
      auth,
      'SUCCEEDED',
      { event: 'outcome' },
      { gatewayReference: 'ADYENPAY0000003E', routing: fx(5000), confirmedAmount: 5000, confirmedCurrency: 'EUR' },
    );
    const capture = async (amount: number, sent: number, confirmed: boolean): Promise<void> => {
      const cmd = channelCommand('capture', {}, { gateway: 'adyen', gateway_account: 'acct-1', order_id: order, gateway_key: auth, amount, currency: 'USD' });
      const id = cmd.payment.operation_reference!;
      await stack.worker.ledger.create(id, cmd, Date.now(), { event: 'attempt' });
      await stack.worker.ledger.authorizationView(auth, id);
      await stack.worker.ledger.transition(
        id,
        'SUCCEEDED',
        { event: 'outcome' },
        { routing: fx(sent), ...(confirmed ? { confirmedAmount: sent, confirmedCurrency: 'EUR' } : {}) },
      );
    };
    await capture(2000, 1802, true);
    await capture(1000, 901, false);
    expect((await postAdyen(adyenExpire('ADYENPAY0000003E', auth, '2026-11-29T11:19:48+01:00'))).status).toBe(200);
    await eventually(async () => adjustedFor(auth).length >= 1);
    expect((adjustedFor(auth)[0].params as { adjustment: Record<string, unknown> }).adjustment).toMatchObject({
      kind: 'authorization_expired',
      amount: 5000 - 1802 - 901,
      currency: 'EUR',
    });
  });

  it('an Adyen REFUND_FAILED after a SUCCEEDED refund is a refund_failed adjustment; the refund stays SUCCEEDED', async () => {
    const refund = await succeeded('refund', 'adyen', 'ADYENREF00000002');
    const body = adyenNotification({
      pspReference: 'ADYENREF00000002',
      originalReference: 'ADYENPAY00000002',
      merchantAccountCode: 'TestMerchant',
      merchantReference: refund.id,
      amount: { value: 5000, currency: 'EUR' },
      eventCode: 'REFUND_FAILED',
      success: 'true',
      reason: 'Refund failed by scheme',
    });
    expect((await postAdyen(body)).status).toBe(200);
    await eventually(async () => adjustedFor(refund.id).length >= 1);
    const params = adjustedFor(refund.id)[0].params as { adjustment: Record<string, unknown> };
    expect(params.adjustment).toMatchObject({ kind: 'refund_failed', direction: 'credit', amount: 5000, currency: 'EUR' });
    expect((await stack.worker.ledger.get(refund.id))?.state).toBe('SUCCEEDED');
    expect(await stack.worker.events.load(`${refund.id}.FAILED`)).toBeNull();
  });

  it('a Stripe refund that fails after it succeeded and a charge.dispute.funds_withdrawn are adjustments, sent once each', async () => {
    const sale = await succeeded('sale', 'stripe', 'pi_adjustments_0001');
    const refund = await succeeded('refund', 'stripe', 're_adjustments_0001', sale.payment.order_id);
    const refundFailed = {
      id: 'evt_refund_failed_0001',
      object: 'event',
      type: 'refund.updated',
      created: 1764400000,
      data: {
        object: {
          id: 're_adjustments_0001',
          object: 'refund',
          status: 'failed',
          amount: 5000,
          currency: 'eur',
          payment_intent: 'pi_adjustments_0001',
          failure_reason: 'expired_or_canceled_card',
          metadata: { operation_id: refund.id },
        },
      },
    };
    const dispute = {
      id: 'evt_dispute_withdrawn_0001',
      object: 'event',
      type: 'charge.dispute.funds_withdrawn',
      created: 1764400100,
      data: {
        object: {
          id: 'dp_adjustments_0001',
          object: 'dispute',
          amount: 5000,
          currency: 'eur',
          charge: 'ch_adjustments_0001',
          payment_intent: 'pi_adjustments_0001',
          reason: 'fraudulent',
          status: 'needs_response',
          metadata: {},
        },
      },
    };
    for (const event of [refundFailed, refundFailed, dispute, dispute]) expect((await postStripe(event)).status).toBe(200);
    await eventually(async () => adjustedFor(refund.id).length >= 1 && adjustedFor(sale.id).length >= 1);
    await settle();
    expect(adjustedFor(refund.id)).toHaveLength(1);
    expect(adjustedFor(sale.id)).toHaveLength(1);
    expect((adjustedFor(refund.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'refund_failed',
      amount: 5000,
      currency: 'EUR',
      reason: 'expired_or_canceled_card',
      psp_reference: 're_adjustments_0001',
    });
    expect((adjustedFor(sale.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'chargeback',
      direction: 'debit',
      amount: 5000,
      currency: 'EUR',
      reason: 'fraudulent',
      psp_reference: 'dp_adjustments_0001',
    });
    expect((await stack.worker.ledger.get(refund.id))?.state).toBe('SUCCEEDED');
    expect((await stack.worker.ledger.get(sale.id))?.state).toBe('SUCCEEDED');
  });

  it('one Stripe refund failing after it succeeded, told by each event Stripe sends of it (refund.updated, refund.failed, charge.refund.updated: other event ids), is one refund_failed adjustment', async () => {
    const sale = await succeeded('sale', 'stripe', 'pi_adjustments_0002');
    const refund = await succeeded('refund', 'stripe', 're_adjustments_0002', sale.payment.order_id);
    const failed = {
      id: 're_adjustments_0002',
      object: 'refund',
      status: 'failed',
      amount: 5000,
      created: 1764399000,
      currency: 'eur',
      payment_intent: 'pi_adjustments_0002',
      failure_reason: 'expired_or_canceled_card',
      metadata: { operation_id: refund.id },
    };
    // Stripe makes each event with the change: the same second here (it may be a second apart).
    const types = ['refund.updated', 'refund.failed', 'charge.refund.updated'];
    for (const [k, type] of types.entries()) {
      const event = { id: `evt_refund_failed_each_${k}`, object: 'event', type, created: 1764400000 + k, data: { object: failed } };
      expect((await postStripe(event)).status).toBe(200);
    }
    await eventually(async () => adjustedFor(refund.id).length >= 1);
    await settle();
    expect(adjustedFor(refund.id)).toHaveLength(1);
    expect((adjustedFor(refund.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'refund_failed',
      psp_reference: 're_adjustments_0002',
    });
  });

  it('a refund failure while the refund is still PENDING is its FAIL outcome, not an adjustment', async () => {
    const cmd = channelCommand(
      'refund',
      {},
      { gateway: 'simulator', gateway_account: 'acct-1', order_id: `order-adj-pending-${Date.now()}`, amount: 700, currency: 'EUR' },
    );
    const id = cmd.payment.operation_reference!;
    const { record } = await stack.worker.ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await stack.worker.recorder.apply(record!, { status: 'PENDING', gatewayStatus: 'pending', gatewayReference: 're_sim_pending_1' }, 'response');
    const res = await postSimulator({
      id: 'evt_sim_refund_failed_1',
      type: 'refund.failed',
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          id: 're_sim_pending_1',
          object: 'refund',
          status: 'failed',
          amount: 700,
          currency: 'EUR',
          reference: id,
          authorization: 'auth_x',
          failure_reason: 'declined',
        },
      },
    });
    expect(res.status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'FAILED');
    expect((await stack.worker.ledger.get(id))?.reason).toBe('declined');
    expect(await stack.worker.adjustmentStore.forOperation(id)).toHaveLength(0);
  });

  it('refuses a late fact arriving on another gateway than the operation is routed to', async () => {
    const auth = await succeeded('authorize', 'adyen', 'ADYENPAY00000009');
    const res = await postSimulator({
      id: 'evt_sim_cb_wrong_gw',
      type: 'chargeback.created',
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          id: 'cb_wrong',
          object: 'chargeback',
          status: 'charged_back',
          amount: 5000,
          currency: 'EUR',
          reference: auth.id,
          authorization: 'auth_x',
          reason: 'fraudulent',
        },
      },
    });
    expect(res.status).toBe(200);
    await settle();
    await settle();
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(0);
    expect(adjustedFor(auth.id)).toHaveLength(0);
  });
});

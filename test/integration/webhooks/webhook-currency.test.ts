/**
 * A signed webhook whose currency is no ISO 4217 code, through the real path (web process → outcome worker →
 * adjustment → OMS event) on a real Redis: acknowledged, refused at parse time on a warn line naming the field
 * and the reason (never the value) and counted, never recorded or sent; the webhook behind it is applied.
 */
import { stripeSignatureHeader } from '../../../src/gateways/stripe/stripe-webhook';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, postAdyenBatch, signedAdyenItem, stripeWebhookGateway, succeededOperation, useWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const STRIPE_SECRET = 'whsec_currency_test_0123456789abcdef';
const MERCHANT = 'TestMerchant';

const notified: Array<{ method: string; params: unknown }> = [];
const webLogs = captureLogger('info');
const stack = useWebhookStack(
  {
    adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC),
    stripe: stripeWebhookGateway(STRIPE_SECRET),
  },
  { webLogger: webLogs.logger, workerLogger: captureLogger('warn').logger, notify: async (method, params) => void notified.push({ method, params }) },
);

let seq = 0;
const orderId = (): string => `order-currency-${Date.now()}-${++seq}`;

/** The adjustments the OMS was sent about `operationId`. */
function adjustedFor(operationId: string): Array<Record<string, unknown>> {
  return notified
    .filter((n) => n.method === stack.config.serviceBus.methods.notifications.adjusted)
    .map((n) => n.params as { payment: { operation_reference?: string }; adjustment: Record<string, unknown> })
    .filter((p) => p.payment.operation_reference === operationId)
    .map((p) => p.adjustment);
}

/** The web process's warn line about the skipped item naming `reference`, parsed. */
function skipLine(reference: string): Record<string, unknown> | undefined {
  const line = webLogs.lines.find((l) => l.includes('webhook item acknowledged and skipped') && l.includes(reference));
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}

async function postStripe(event: Record<string, unknown>): Promise<number> {
  const body = JSON.stringify(event);
  const signature = stripeSignatureHeader(Buffer.from(body), Math.floor(Date.now() / 1000), STRIPE_SECRET);
  const res = await fetch(`${stack.web.server.url}/webhooks/stripe`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  });
  await res.text();
  return res.status;
}

describe('a webhook whose currency is no ISO 4217 code', () => {
  it('Adyen CHARGEBACK in "EURO": acknowledged, skipped naming the field, no adjustment or event; the CHARGEBACK posted behind it is recorded and sent', async () => {
    const auth = await succeededOperation(stack.worker, 'authorize', { gateway: 'adyen', order_id: orderId() }, 'CURPAY0000000001');
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unreadable' });
    const chargeback = (pspReference: string, currency: string): Record<string, unknown> =>
      signedAdyenItem(
        {
          eventCode: 'CHARGEBACK',
          pspReference,
          originalReference: 'CURPAY0000000001',
          merchantReference: auth.id,
          merchantAccountCode: MERCHANT,
          amount: { value: 4200, currency },
        },
        ADYEN_HMAC,
      );

    expect(await postAdyenBatch(stack, 'adyen', [chargeback('CURBAD0000000001', 'EURO')])).toEqual({ status: 200, body: '[accepted]' });
    expect(await postAdyenBatch(stack, 'adyen', [chargeback('CURGOOD000000001', 'EUR')])).toEqual({ status: 200, body: '[accepted]' });

    await eventually(async () => adjustedFor(auth.id).length >= 1);
    const stored = await stack.worker.adjustmentStore.forOperation(auth.id);
    expect(stored.map((a) => [a.kind, a.pspReference, a.amount, a.currency])).toEqual([['chargeback', 'CURGOOD000000001', 4200, 'EUR']]);
    expect(adjustedFor(auth.id)).toEqual([expect.objectContaining({ kind: 'chargeback', psp_reference: 'CURGOOD000000001', currency: 'EUR' })]);

    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unreadable' })).toBe(before + 1);
    expect(skipLine('CURBAD0000000001')).toMatchObject({
      level: 'warn',
      gateway: 'adyen',
      reason: 'unreadable',
      event_type: 'CHARGEBACK',
      psp_reference: 'CURBAD0000000001',
      field: 'notificationItems[0].NotificationRequestItem.amount.currency',
      problem: 'is not an ISO 4217 currency code (a string of 4 characters)',
    });
    expect(webLogs.lines.some((l) => l.includes('EURO'))).toBe(false);
  });

  it('Stripe charge.dispute.funds_withdrawn in "euro": skipped naming data.object.currency; the dispute event behind it is recorded and sent', async () => {
    const sale = await succeededOperation(stack.worker, 'sale', { gateway: 'stripe', order_id: orderId() }, 'pi_currency_0001');
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'unreadable' });
    const dispute = (id: string, currency: string): Record<string, unknown> => ({
      id: `evt_${id}`,
      object: 'event',
      type: 'charge.dispute.funds_withdrawn',
      created: Math.floor(Date.now() / 1000),
      data: { object: { id, object: 'dispute', amount: 5000, currency, payment_intent: 'pi_currency_0001', reason: 'fraudulent', status: 'needs_response' } },
    });

    expect(await postStripe(dispute('dp_currency_bad_0001', 'euro'))).toBe(200);
    expect(await postStripe(dispute('dp_currency_good_0001', 'eur'))).toBe(200);

    await eventually(async () => adjustedFor(sale.id).length >= 1);
    const stored = await stack.worker.adjustmentStore.forOperation(sale.id);
    expect(stored.map((a) => [a.kind, a.pspReference, a.currency])).toEqual([['chargeback', 'dp_currency_good_0001', 'EUR']]);
    expect(adjustedFor(sale.id)).toEqual([expect.objectContaining({ psp_reference: 'dp_currency_good_0001', currency: 'EUR' })]);
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'stripe', reason: 'unreadable' })).toBe(before + 1);
    expect(skipLine('dp_currency_bad_0001')).toMatchObject({
      level: 'warn',
      reason: 'unreadable',
      event_id: 'evt_dp_currency_bad_0001',
      field: 'data.object.currency',
    });
  });
});

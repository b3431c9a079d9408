/**
 * A Cybersource partial approval (`payments.payments.partial.approval`) by webhook, signed as Cybersource
 * signs webhooks and applied by the worker on a real Redis: like the synchronous PARTIAL_AUTHORIZED answer,
 * it settles the open authorization SUCCEEDED and the OMS hears the amount Cybersource approved, beside
 * the amount asked and the discrepancy.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { cybersourceNotification, cybersourceWebhookGateway, pendingOperation, postCybersourceSigned, useWebhookStack } from '../../support/webhook-stack';

const WEBHOOK_KEY = Buffer.from('partial-approval-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';

const notified: Record<string, unknown>[] = [];
const stack = useWebhookStack(
  { cybs: cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY) },
  { webLogger: captureLogger('warn').logger, notify: async (_method, params) => void notified.push(params) },
);

describe('a Cybersource partial approval by webhook', () => {
  it('settles the open authorization SUCCEEDED with the approved amount, and the OMS is told it with the amount asked and the discrepancy', async () => {
    const counted = await metricValue('pb_webhook_partial_approvals_total', { gateway: 'cybs' });
    const paymentId = '7000000000000000000101';
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'cybs', amount: 10000, currency: 'USD' }, paymentId);

    const body = cybersourceNotification('payments.payments.partial.approval', id, paymentId, ORGANIZATION, {
      authorizedAmount: '60.00',
      totalAmount: '100.00',
      currency: 'USD',
    });
    expect(await postCybersourceSigned(stack, 'cybs', body, WEBHOOK_KEY)).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    expect(await stack.worker.ledger.get(id)).toMatchObject({ confirmedAmount: 6000, confirmedCurrency: 'USD' });
    await eventually(async () => notified.some((p) => (p as { payment?: { operation_reference?: string } }).payment?.operation_reference === id));
    const sent = notified.find((p) => (p as { payment?: { operation_reference?: string } }).payment?.operation_reference === id) as {
      payment: Record<string, unknown>;
    };
    expect(sent.payment).toMatchObject({ status: 'SUCCESS', amount: 6000, requested_amount: 10000 });
    expect(sent.payment.discrepancy).toBeTruthy();
    expect(await metricValue('pb_webhook_partial_approvals_total', { gateway: 'cybs' })).toBe(counted + 1);
  });
});

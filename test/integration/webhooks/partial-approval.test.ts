/**
 * A Cybersource partial approval (`payments.payments.partial.approval`) by webhook, signed as Cybersource
 * signs webhooks and applied by the worker on a real Redis: like the synchronous PARTIAL_AUTHORIZED answer,
 * it settles the open authorization SUCCEEDED and the OMS hears the amount Cybersource approved, beside
 * the amount asked and the discrepancy.
 */
import { createHmac } from 'node:crypto';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const WEBHOOK_KEY = Buffer.from('partial-approval-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';

let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
const notified: Record<string, unknown>[] = [];

beforeAll(async () => {
  config = testConfig({
    gateways: {
      cybs: {
        type: 'cybersource',
        base_url: 'http://127.0.0.1:1',
        merchant_id: ORGANIZATION,
        key_id: '08c94330-f618-42a3-b09d-e1e43be5efda',
        shared_secret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
        webhook_secret: WEBHOOK_KEY,
      },
    },
  });
  const routes = createGatewayClients(config);
  const logs = captureLogger('warn');
  web = await startWebProcess(config, logs.logger, { webhooks: routes });
  worker = await startWorkerProcess(config, logs.logger, { routes, notifier: { notify: async (_method, params) => void notified.push(params) } });
});

afterAll(async () => {
  await web.stop();
  await worker.stop();
  await purgeNamespace(config).catch(() => undefined);
});

describe('a Cybersource partial approval by webhook', () => {
  it('settles the open authorization SUCCEEDED with the approved amount, and the OMS is told it with the amount asked and the discrepancy', async () => {
    const counted = await metricValue('pb_webhook_partial_approvals_total', { gateway: 'cybs' });
    const paymentId = '7000000000000000000101';
    const cmd = channelCommand('authorize', {}, { gateway: 'cybs', amount: 10000, currency: 'USD' });
    const id = cmd.payment.operation_reference!;
    await worker.ledger.create(id, cmd);
    await worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { gatewayReference: paymentId, nextCheckAt: Date.now() + 600_000, pollStep: 0 });

    const body = JSON.stringify({
      notificationId: `n-${id}`,
      retryNumber: 0,
      eventType: 'payments.payments.partial.approval',
      eventDate: new Date().toISOString(),
      payload: [
        {
          data: {
            id: paymentId,
            type: 'payments',
            clientReferenceInformation: { code: id },
            orderInformation: { amountDetails: { authorizedAmount: '60.00', totalAmount: '100.00', currency: 'USD' } },
          },
          organizationId: ORGANIZATION,
        },
      ],
    });
    const t = String(Date.now());
    const sig = createHmac('sha256', Buffer.from(WEBHOOK_KEY, 'base64')).update(`${t}.${body}`, 'utf8').digest('base64');
    const headers = { 'content-type': 'application/json', 'v-c-signature': `t=${t};keyId=key-1;sig=${sig}` };
    expect((await fetch(`${web.server.url}/webhooks/cybs`, { method: 'POST', body, headers })).status).toBe(200);

    await eventually(async () => (await worker.ledger.get(id))?.state === 'SUCCEEDED');
    expect(await worker.ledger.get(id)).toMatchObject({ confirmedAmount: 6000, confirmedCurrency: 'USD' });
    await eventually(async () => notified.some((p) => (p as { payment?: { operation_reference?: string } }).payment?.operation_reference === id));
    const sent = notified.find((p) => (p as { payment?: { operation_reference?: string } }).payment?.operation_reference === id) as {
      payment: Record<string, unknown>;
    };
    expect(sent.payment).toMatchObject({ status: 'SUCCESS', amount: 6000, requested_amount: 10000 });
    expect(sent.payment.discrepancy).toBeTruthy();
    expect(await metricValue('pb_webhook_partial_approvals_total', { gateway: 'cybs' })).toBe(counted + 1);
  });
});

/**
 * A Cybersource Decision Manager review accepted (`risk.casemanagement.decision.accept`), signed as
 * Cybersource signs webhooks and posted to the web process, applied by the worker on a real Redis. It
 * completes an authorization held for review; a sale held for review was authorized and not captured, so
 * the OMS must not hear "sold": the sale stays PENDING.
 */
import { createHmac } from 'node:crypto';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { CommandType } from '../../../src/contracts/payment-command';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const WEBHOOK_KEY = Buffer.from('review-accepted-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';

let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
const logs = captureLogger('info');

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
  web = await startWebProcess(config, logs.logger, { webhooks: routes });
  worker = await startWorkerProcess(config, logs.logger, { routes, notifier: { notify: async () => undefined } });
});

afterAll(async () => {
  await web.stop();
  await worker.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** An operation of `command` held for review: PENDING after Cybersource answered AUTHORIZED_PENDING_REVIEW. */
async function heldForReview(command: CommandType, paymentId: string): Promise<string> {
  const cmd = channelCommand(command, {}, { gateway: 'cybs', amount: 10221, currency: 'USD' });
  const id = cmd.payment.operation_reference!;
  await worker.ledger.create(id, cmd);
  await worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { gatewayReference: paymentId, nextCheckAt: Date.now() + 600_000, pollStep: 0 });
  return id;
}

/** The accept notification for `id`, signed with the webhook key (base64 HMAC-SHA256 of `t.body`). */
async function postAccept(id: string, paymentId: string): Promise<number> {
  const body = JSON.stringify({
    notificationId: `n-${id}`,
    retryNumber: 0,
    eventType: 'risk.casemanagement.decision.accept',
    eventDate: new Date().toISOString(),
    payload: [{ data: { id: paymentId, type: 'payments', clientReferenceInformation: { code: id } }, organizationId: ORGANIZATION }],
  });
  const t = String(Date.now());
  const sig = createHmac('sha256', Buffer.from(WEBHOOK_KEY, 'base64')).update(`${t}.${body}`, 'utf8').digest('base64');
  const headers = { 'content-type': 'application/json', 'v-c-signature': `t=${t};keyId=key-1;sig=${sig}` };
  return (await fetch(`${web.server.url}/webhooks/cybs`, { method: 'POST', body, headers })).status;
}

describe('a Cybersource review accepted', () => {
  it('completes an authorization held for review, and leaves a sale held for review PENDING (authorized, never captured)', async () => {
    const authorization = await heldForReview('authorize', '7000000000000000000001');
    const sale = await heldForReview('sale', '7000000000000000000002');
    expect(await postAccept(authorization, '7000000000000000000001')).toBe(200);
    expect(await postAccept(sale, '7000000000000000000002')).toBe(200);

    await eventually(async () => (await worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    await eventually(async () => (await worker.ledger.interactions(sale)).some((h) => h.source === 'webhook'));
    expect((await worker.ledger.get(sale))?.state).toBe('PENDING');
  });
});

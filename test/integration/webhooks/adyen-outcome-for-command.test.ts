/**
 * Adyen names the payment in `merchantReference`: a modification made outside the bridge (a cancel in the
 * Customer Area, a capture failing) names the authorization. Signed as Adyen signs notifications, posted to
 * the web process and applied by the worker on a real Redis: such an item is recorded in the authorization's
 * history and never settles it, while the outcomes of the bridge's own operations still do.
 */
import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { Config } from '../../../src/config/config';
import { CommandType } from '../../../src/contracts/payment-command';
import { adyenWebhookAuthorization } from '../../../src/gateways/adyen';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'TestMerchant';
const AMOUNT = 5000;

let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
const logs = captureLogger('info');
const sdk = new HmacValidator();

beforeAll(async () => {
  config = testConfig({
    gateways: {
      adyen: {
        type: 'adyen',
        base_url: 'http://127.0.0.1:1',
        api_key: 'adyen-key-unused',
        merchant_account: MERCHANT,
        key_id: 'adyen-hook-user',
        shared_secret: 'adyen-hook-password-0123',
        webhook_secret: ADYEN_HMAC,
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

let seq = 0;

/** An operation of `command` at Adyen, PENDING after Adyen answered `received` (or a Pending resultCode). */
async function pending(command: CommandType, pspReference: string): Promise<string> {
  const cmd = channelCommand(command, {}, { gateway: 'adyen', amount: AMOUNT, currency: 'EUR', order_id: `order-ofc-${Date.now()}-${++seq}` });
  const id = cmd.payment.operation_reference!;
  await worker.ledger.create(id, cmd);
  await worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { gatewayReference: pspReference, nextCheckAt: Date.now() + 600_000, pollStep: 0 });
  return id;
}

/** One signed notification item `eventCode` naming `merchantReference`, posted with Basic auth. */
async function post(eventCode: string, merchantReference: string, pspReference: string, originalReference?: string): Promise<number> {
  const item: Record<string, unknown> = {
    pspReference,
    ...(originalReference !== undefined ? { originalReference } : {}),
    merchantAccountCode: MERCHANT,
    merchantReference,
    amount: { value: AMOUNT, currency: 'EUR' },
    eventCode,
    success: 'true',
    eventDate: new Date().toISOString(),
    additionalData: {},
  };
  (item.additionalData as Record<string, string>).hmacSignature = sdk.calculateHmac(item as never, ADYEN_HMAC);
  const body = JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] });
  const headers = { 'content-type': 'application/json', authorization: adyenWebhookAuthorization(config.gateways.adyen) };
  return (await fetch(`${web.server.url}/webhooks/adyen`, { method: 'POST', body, headers })).status;
}

async function recordedNotForCommand(id: string, eventCode: string): Promise<boolean> {
  return (await worker.ledger.interactions(id)).some((h) => h.event === 'outcome_not_for_command' && h.gateway_status === eventCode);
}

describe('an Adyen notification naming an operation of another command', () => {
  it('a CANCELLATION naming a PENDING authorization is recorded in its history and leaves it PENDING (it is the cancel of it, not its success)', async () => {
    const before = await metricValue('pb_webhook_outcomes_not_for_command_total', { gateway: 'adyen', gateway_status: 'CANCELLATION', command: 'authorize' });
    const authorization = await pending('authorize', 'AUTHPSP000000001');
    expect(await post('CANCELLATION', authorization, 'CANCPSP000000001', 'AUTHPSP000000001')).toBe(200);

    await eventually(() => recordedNotForCommand(authorization, 'CANCELLATION'));
    expect((await worker.ledger.get(authorization))?.state).toBe('PENDING');
    expect(await metricValue('pb_webhook_outcomes_not_for_command_total', { gateway: 'adyen', gateway_status: 'CANCELLATION', command: 'authorize' })).toBe(
      before + 1,
    );
    expect(logs.lines.some((l) => l.includes("not this operation's command's outcome") && l.includes(authorization))).toBe(true);
  });

  it('a CAPTURE_FAILED naming a PENDING authorization does not fail it: history and a capture_failed adjustment, the state stays PENDING', async () => {
    const authorization = await pending('authorize', 'AUTHPSP000000002');
    expect(await post('CAPTURE_FAILED', authorization, 'CAPTPSP000000002', 'AUTHPSP000000002')).toBe(200);

    await eventually(async () => (await worker.adjustmentStore.forOperation(authorization)).some((a) => a.kind === 'capture_failed'));
    expect(await recordedNotForCommand(authorization, 'CAPTURE_FAILED')).toBe(true);
    expect((await worker.ledger.get(authorization))?.state).toBe('PENDING');
  });

  it("still settles the bridge's own operations: an AUTHORISATION its authorization, a CANCELLATION its cancel", async () => {
    const authorization = await pending('authorize', 'AUTHPSP000000003');
    const cancel = await pending('cancel', 'CANCPSP000000003');
    expect(await post('AUTHORISATION', authorization, 'AUTHPSP000000003')).toBe(200);
    expect(await post('CANCELLATION', cancel, 'CANCPSP000000003', 'AUTHPSP000000003')).toBe(200);

    await eventually(async () => (await worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    await eventually(async () => (await worker.ledger.get(cancel))?.state === 'SUCCEEDED');
  });
});

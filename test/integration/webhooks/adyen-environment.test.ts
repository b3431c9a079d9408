/**
 * An Adyen notification says which environment it comes from (`live`: "true" from the live environment, "false"
 * from the test one). Through the real web route and worker: one from the other environment than the gateway's
 * `base_url` (a test webhook pointed at a live endpoint, or the reverse) is acknowledged with `[accepted]`, so that
 * Adyen's queue for the endpoint moves on, and its items are skipped (`other_environment`, a warn line): it never
 * touches the operation it names. The same notification from the gateway's own environment is applied.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, pendingOperation, postAdyenBatch, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

const HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'EnvironmentMerchant';

const webLogs = captureLogger('info');
// Adyen's test Checkout host, so the environment is known; no call reaches it (no command, no warm pool).
const stack = useWebhookStack(
  { adyen: { ...adyenWebhookGateway(MERCHANT, HMAC), base_url: 'https://checkout-test.adyen.com/v71', warm_sockets: 0 } },
  { webLogger: webLogs.logger },
);

function authorisation(id: string, pspReference: string): Record<string, unknown> {
  return signedAdyenItem(
    { eventCode: 'AUTHORISATION', merchantReference: id, pspReference, merchantAccountCode: MERCHANT, amount: { value: 2500, currency: 'EUR' } },
    HMAC,
  );
}

describe("an Adyen notification from the other environment than base_url's", () => {
  it('is acknowledged and skipped (other_environment, a warn line), never touching the operation it names; from the test environment it is applied', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'other_environment' });
    const pspReference = 'ENVLIVE000000001';
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'adyen', amount: 2500, currency: 'EUR' }, pspReference);

    expect(await postAdyenBatch(stack, 'adyen', [authorisation(id, pspReference)], 'true')).toEqual({ status: 200, body: '[accepted]' });
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'other_environment' })).toBe(before + 1);
    const line = webLogs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reason === 'other_environment');
    expect(line).toMatchObject({ level: 'warn', gateway: 'adyen', field: 'live', account: MERCHANT, event_type: 'AUTHORISATION' });
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');

    expect(await postAdyenBatch(stack, 'adyen', [authorisation(id, pspReference)], 'false')).toEqual({ status: 200, body: '[accepted]' });
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });
});

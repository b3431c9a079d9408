/**
 * Adyen wants every notification accepted before any business logic and retries an unaccepted batch whole.
 * Signed batches posted to the web process and applied by the worker on a real Redis: an item the bridge
 * does not know is acknowledged and skipped on its own (counted, logged), and the items beside it settle
 * their operations.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, pendingOperation, postAdyenBatch, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'TestMerchant';
const AMOUNT = 5000;

const webLogs = captureLogger('info');
const stack = useWebhookStack({ adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC) }, { webLogger: webLogs.logger, workerLogger: captureLogger('warn').logger });

let seq = 0;

/** An authorization at Adyen, PENDING (a Pending resultCode). */
function pendingAuthorization(pspReference: string): Promise<string> {
  return pendingOperation(
    stack.worker,
    'authorize',
    { gateway: 'adyen', amount: AMOUNT, currency: 'EUR', order_id: `order-batch-${Date.now()}-${++seq}` },
    pspReference,
  );
}

/** One notification item, signed with the gateway's HMAC key. */
function item(fields: { eventCode: string; merchantReference: string; pspReference: string; account?: string; success?: string }): Record<string, unknown> {
  const { account, ...rest } = fields;
  return signedAdyenItem({ ...rest, merchantAccountCode: account ?? MERCHANT, amount: { value: AMOUNT, currency: 'EUR' } }, ADYEN_HMAC);
}

const post = (items: Record<string, unknown>[]) => postAdyenBatch(stack, 'adyen', items);

describe('an Adyen batch', () => {
  it('with an unknown event code beside a known one is accepted ([accepted]); the known item settles its operation, the unknown one is counted and logged', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unknown_event_type' });
    const authorization = await pendingAuthorization('BATCHPSP00000001');
    const answer = await post([
      item({ eventCode: 'BRAND_NEW_EVENT', merchantReference: 'not-ours', pspReference: 'NEWEVENT00000001' }),
      item({ eventCode: 'AUTHORISATION', merchantReference: authorization, pspReference: 'BATCHPSP00000001' }),
    ]);
    expect(answer).toEqual({ status: 200, body: '[accepted]' });

    await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unknown_event_type' })).toBe(before + 1);
    const line = webLogs.lines.find((l) => l.includes('webhook item acknowledged and skipped') && l.includes('NEWEVENT00000001'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'warn', gateway: 'adyen', reason: 'unknown_event_type', event_type: 'BRAND_NEW_EVENT' });
  });

  it('with a success flag Adyen never sends is accepted too: that item alone is skipped as unreadable', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unreadable' });
    const authorization = await pendingAuthorization('BATCHPSP00000002');
    const answer = await post([
      item({ eventCode: 'AUTHORISATION', merchantReference: authorization, pspReference: 'BATCHPSP00000002' }),
      item({ eventCode: 'CAPTURE', merchantReference: 'not-ours', pspReference: 'BADFLAG000000002', success: 'maybe' }),
    ]);
    expect(answer.status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unreadable' })).toBe(before + 1);
  });

  it('with an item whose amount.value is no integer, signed by Adyen as sent, is accepted: that item alone is skipped as unreadable naming the field', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unreadable' });
    const authorization = await pendingAuthorization('BATCHPSP00000004');
    const malformed = signedAdyenItem(
      {
        eventCode: 'CAPTURE',
        merchantReference: 'not-ours',
        pspReference: 'BADAMOUNT0000004',
        merchantAccountCode: MERCHANT,
        amount: { value: 4321.5, currency: 'EUR' },
      },
      ADYEN_HMAC,
    );
    const answer = await post([malformed, item({ eventCode: 'AUTHORISATION', merchantReference: authorization, pspReference: 'BATCHPSP00000004' })]);
    expect(answer).toEqual({ status: 200, body: '[accepted]' });

    await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'unreadable' })).toBe(before + 1);
    const line = webLogs.lines.find((l) => l.includes('webhook item acknowledged and skipped') && l.includes('BADAMOUNT0000004'));
    expect(JSON.parse(line!)).toMatchObject({
      level: 'warn',
      gateway: 'adyen',
      reason: 'unreadable',
      field: 'notificationItems[0].NotificationRequestItem.amount.value',
      problem: 'is not a whole number of minor units',
    });
    expect(line).not.toContain('4321');
  });

  it('with an item not signed as sent (its amount changed after signing) is still refused whole: 401, nothing applied', async () => {
    const authorization = await pendingAuthorization('BATCHPSP00000005');
    const tampered = signedAdyenItem(
      {
        eventCode: 'CAPTURE',
        merchantReference: 'not-ours',
        pspReference: 'BADAMOUNT0000005',
        merchantAccountCode: MERCHANT,
        amount: { value: 4321, currency: 'EUR' },
      },
      ADYEN_HMAC,
    );
    ((tampered.NotificationRequestItem as Record<string, unknown>).amount as Record<string, unknown>).value = 4321.5;
    const answer = await post([tampered, item({ eventCode: 'AUTHORISATION', merchantReference: authorization, pspReference: 'BATCHPSP00000005' })]);
    expect(answer.status).toBe(401);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('PENDING');
  });

  it("from a company-level webhook, [ours, a sibling merchant account's], is accepted: ours settles its operation, the sibling's is skipped as other_account", async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'other_account' });
    const authorization = await pendingAuthorization('BATCHPSP00000003');
    const answer = await post([
      item({ eventCode: 'AUTHORISATION', merchantReference: authorization, pspReference: 'BATCHPSP00000003' }),
      item({ eventCode: 'AUTHORISATION', merchantReference: 'sibling-order-1', pspReference: 'SIBLING000000003', account: 'SiblingMerchant' }),
    ]);
    expect(answer).toEqual({ status: 200, body: '[accepted]' });

    await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'adyen', reason: 'other_account' })).toBe(before + 1);
    const line = webLogs.lines.find((l) => l.includes('SIBLING000000003'));
    expect(JSON.parse(line!)).toMatchObject({ gateway: 'adyen', reason: 'other_account', account: 'SiblingMerchant' });
  });
});

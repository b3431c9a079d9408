/**
 * Adyen's docs make Basic authentication an optional extra set up on the webhook in the Customer Area; the HMAC
 * signature is the documented verification. Through the web process: an Adyen endpoint without Basic
 * credentials configured takes a notification on its HMAC alone and refuses a wrong HMAC; one with Basic
 * credentials still requires them.
 */
import { captureLogger } from '../../support/capture-logger';
import { adyenWebhookGateway, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'HmacOnlyMerchant';

const stack = useWebhookStack(
  { adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC), adyenhmac: { ...adyenWebhookGateway(MERCHANT, ADYEN_HMAC), key_id: '', shared_secret: '' } },
  { webLogger: captureLogger('info').logger },
);

let seq = 0;

describe('an Adyen webhook endpoint without Basic credentials configured', () => {
  /** Posts one signed CAPTURE item (HMAC under `key`) to `/webhooks/<name>` with `headers`. */
  async function post(name: string, key: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    const item = signedAdyenItem(
      {
        eventCode: 'CAPTURE',
        merchantReference: 'not-ours-hmac-only',
        pspReference: `HMACONLY${String(++seq).padStart(8, '0')}`,
        merchantAccountCode: MERCHANT,
        amount: { value: 1, currency: 'EUR' },
      },
      key,
    );
    const body = JSON.stringify({ live: 'false', notificationItems: [item] });
    const res = await fetch(`${stack.web.server.url}/webhooks/${name}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.status, body: await res.text() };
  }

  it('accepts a notification on its HMAC alone, and refuses one whose HMAC is wrong', async () => {
    expect(await post('adyenhmac', ADYEN_HMAC, {})).toEqual({ status: 200, body: '[accepted]' });
    expect((await post('adyenhmac', 'AB'.repeat(32), {})).status).toBe(401);
  });

  it('while the endpoint with Basic credentials still refuses a correctly signed notification without them, or with wrong ones', async () => {
    expect((await post('adyen', ADYEN_HMAC, {})).status).toBe(401);
    expect((await post('adyen', ADYEN_HMAC, { authorization: `Basic ${Buffer.from('adyen-hook-user:wrong').toString('base64')}` })).status).toBe(401);
  });
});

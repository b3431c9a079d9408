import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { configWarnings } from '../../../../src/config/cross-field-rules';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { adyenTransformer, adyenWebhookAuthorization } from '../../../../src/gateways/adyen';
import { SkippedWebhookItem } from '../../../../src/gateways/gateway-adapter';
import { adyenEnvironment, adyenSigningString, adyenWebhookAuthWarnings, parseNotificationEntries } from '../../../../src/gateways/adyen/adyen-webhook';
import { adyenGateway } from '../../../../src/gateways/adyen/adyen-gateway';
import { voidRefusedAsCaptured } from '../../../../src/gateways/gateway-registry';
import { specPath } from '../../../support/prism';
import { testConfig } from '../../../support/test-config';
import { gateway } from './adyen-test-support';

type Item = Record<string, unknown> & { additionalData?: Record<string, string> };
interface Notification {
  live: string;
  notificationItems: Array<{ NotificationRequestItem: Item }>;
}

const t = adyenTransformer;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const sdk = new HmacValidator();
const now = new Date('2026-01-01T00:00:00Z');
const auth = { authorization: adyenWebhookAuthorization(gateway), 'content-type': 'application/json' };

const examples: Array<[string, Notification]> = (() => {
  const spec = JSON.parse(readFileSync(specPath('adyen-webhooks-v1.json'), 'utf8')) as { components: { examples: Record<string, { value: unknown }> } };
  return Object.entries(spec.components.examples)
    .filter(([, e]) => typeof e.value === 'object' && e.value !== null && 'notificationItems' in e.value)
    .map(([name, e]) => [name, e.value as Notification]);
})();

/**
 * The example with every item signed by Adyen's own SDK under `key` (its placeholder hmacSignature replaced),
 * for our merchant account (the examples name `YOUR_MERCHANT_ACCOUNT`) unless `account` says otherwise.
 */
function signedBySdk(n: Notification, key = gateway.webhookSecret, account = gateway.merchantAccount): Notification {
  const copy = JSON.parse(JSON.stringify(n)) as Notification;
  for (const { NotificationRequestItem: item } of copy.notificationItems) {
    item.merchantAccountCode = account;
    const additional = { ...(item.additionalData ?? {}) };
    delete additional.hmacSignature;
    item.additionalData = { ...additional, hmacSignature: sdk.calculateHmac(item as never, key) };
  }
  return copy;
}

function raw(n: Notification): Buffer {
  return Buffer.from(JSON.stringify(n), 'utf8');
}

/** The spec's example, its items naming our merchant account (the spec's name `YOUR_MERCHANT_ACCOUNT`). */
function example(name: string): Notification {
  const found = examples.find(([n]) => n === name);
  if (!found) throw new Error(`no example ${name}`);
  const copy = JSON.parse(JSON.stringify(found[1])) as Notification;
  for (const { NotificationRequestItem: item } of copy.notificationItems) item.merchantAccountCode = gateway.merchantAccount;
  return copy;
}

function withReference(n: Notification, merchantReference: string): Notification {
  const copy = JSON.parse(JSON.stringify(n)) as Notification;
  copy.notificationItems[0].NotificationRequestItem.merchantReference = merchantReference;
  return copy;
}

describe('Adyen webhook verification', () => {
  it('has the spec examples to sign', () => {
    expect(examples.length).toBeGreaterThan(30);
  });

  it.each(examples)('accepts the %s example signed by Adyen SDK', (_name, n) => {
    expect(t.verifyWebhook(raw(signedBySdk(n)), auth, gateway, now)).toBe(true);
    expect(() => t.parseWebhook(raw(signedBySdk(n)), gateway)).not.toThrow();
  });

  it.each(examples)('signs the %s example exactly as Adyen SDK validates it', (_name, n) => {
    const items = (parseNotificationEntries(raw(n)) ?? []).map((entry) => entry.signed);
    expect(items.length).toBeGreaterThan(0);
    n.notificationItems.forEach(({ NotificationRequestItem: item }, i) => {
      const ours = createHmac('sha256', Buffer.from(gateway.webhookSecret, 'hex')).update(adyenSigningString(items[i])).digest('base64');
      expect(sdk.validateHMAC({ ...item, additionalData: { ...(item.additionalData ?? {}), hmacSignature: ours } } as never, gateway.webhookSecret)).toBe(true);
    });
  });

  it('accepts a notification signed with the previous key during a rotation', () => {
    expect(t.verifyWebhook(raw(signedBySdk(example('post-CAPTURE-capture'), gateway.webhookSecretPrevious)), auth, gateway, now)).toBe(true);
  });

  it('refuses a notification signed with another key', () => {
    const other = 'FF'.repeat(32);
    expect(t.verifyWebhook(raw(signedBySdk(example('post-CAPTURE-capture'), other)), auth, gateway, now)).toBe(false);
  });

  it.each([
    ['amount', (i: Item) => (i.amount = { currency: 'EUR', value: 1 })],
    ['success flag', (i: Item) => (i.success = 'false')],
    ['event code', (i: Item) => (i.eventCode = 'REFUND')],
    ['merchant reference', (i: Item) => (i.merchantReference = 'someone-else')],
  ])('refuses a notification whose signed %s was changed after signing', (_what, tamper) => {
    const n = signedBySdk(example('post-AUTHORISATION-authorisation'));
    tamper(n.notificationItems[0].NotificationRequestItem);
    expect(t.verifyWebhook(raw(n), auth, gateway, now)).toBe(false);
  });

  // Adyen's library test vector (key 44782DEF…, signing string 7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true)
  // and the documented check: compute the base64 HMAC-SHA256 and compare it with additionalData.hmacSignature
  // (https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures). A string that is not that
  // signature does not match, even where a lenient base64 decoder reads the same bytes from it.
  it.each([
    ['with text after its padding', (sig: string) => `${sig}AAAA`],
    ['with its last character changed in the bits base64 leaves unused', (sig: string) => `${sig.slice(0, 42)}${B64[B64.indexOf(sig[42]) ^ 1]}=`],
    ['without its padding', (sig: string) => sig.replace(/=+$/, '')],
    ['with a space before it', (sig: string) => ` ${sig}`],
  ])("refuses a signature that is not the documented signature's text: %s", (_what, alter) => {
    const item: Item = {
      amount: { value: 1130, currency: 'EUR' },
      eventCode: 'AUTHORISATION',
      merchantAccountCode: gateway.merchantAccount,
      merchantReference: 'TestPayment-1407325143704',
      pspReference: '7914073381342284',
      success: 'true',
    };
    const signature = sdk.calculateHmac(item as never, gateway.webhookSecret);
    const body = (sig: string): Buffer =>
      raw({ live: 'false', notificationItems: [{ NotificationRequestItem: { ...item, additionalData: { hmacSignature: sig } } }] });
    expect(signature).toHaveLength(44);
    expect(t.verifyWebhook(body(signature), auth, gateway, now)).toBe(true);
    const altered = alter(signature);
    expect(altered).not.toBe(signature);
    expect(Buffer.from(altered, 'base64').equals(Buffer.from(signature, 'base64'))).toBe(true);
    expect(t.verifyWebhook(body(altered), auth, gateway, now)).toBe(false);
  });

  it('refuses an unsigned notification, which the SDK itself rejects by throwing', () => {
    const n = JSON.parse(JSON.stringify(example('post-CAPTURE-capture'))) as Notification;
    expect(t.verifyWebhook(raw(n), auth, gateway, now)).toBe(false);
    expect(() => sdk.validateHMAC(n.notificationItems[0].NotificationRequestItem as never, gateway.webhookSecret)).toThrow();
  });

  it('refuses a batch in which one item is not signed correctly', () => {
    const good = signedBySdk(example('post-CAPTURE-capture'));
    const bad = signedBySdk(example('post-REFUND-refund'), 'AB'.repeat(32));
    const batch: Notification = { live: 'false', notificationItems: [...good.notificationItems, ...bad.notificationItems] };
    expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(false);
  });

  it('refuses a signed notification without the Basic credentials, or with wrong ones', () => {
    const body = raw(signedBySdk(example('post-CAPTURE-capture')));
    expect(t.verifyWebhook(body, {}, gateway, now)).toBe(false);
    expect(t.verifyWebhook(body, { Authorization: `Basic ${Buffer.from('adyen-hook:wrong').toString('base64')}` }, gateway, now)).toBe(false);
    expect(t.verifyWebhook(body, { Authorization: adyenWebhookAuthorization(gateway) }, gateway, now)).toBe(true);
  });

  it('accepts the Basic scheme in any case (auth schemes are case-insensitive) but not another scheme or altered credentials', () => {
    const body = raw(signedBySdk(example('post-CAPTURE-capture')));
    const credentials = adyenWebhookAuthorization(gateway).slice('Basic '.length);
    for (const scheme of ['basic', 'BASIC', 'bAsIc']) {
      expect(t.verifyWebhook(body, { authorization: `${scheme} ${credentials}` }, gateway, now)).toBe(true);
    }
    expect(t.verifyWebhook(body, { authorization: `Basic  ${credentials}` }, gateway, now)).toBe(true);
    expect(t.verifyWebhook(body, { authorization: `Bearer ${credentials}` }, gateway, now)).toBe(false);
    expect(t.verifyWebhook(body, { authorization: `Basic${credentials}` }, gateway, now)).toBe(false);
    expect(t.verifyWebhook(body, { authorization: `basic ${credentials.toLowerCase()}` }, gateway, now)).toBe(false);
    expect(t.verifyWebhook(body, { authorization: credentials }, gateway, now)).toBe(false);
  });

  describe('without Basic credentials configured (Basic auth is optional at Adyen)', () => {
    const bare = { ...gateway, keyId: '', sharedSecret: '' };

    it('accepts a correctly signed notification on its HMAC alone, whatever Authorization header comes with it', () => {
      const body = raw(signedBySdk(example('post-CAPTURE-capture')));
      expect(t.verifyWebhook(body, { 'content-type': 'application/json' }, bare, now)).toBe(true);
      expect(t.verifyWebhook(body, { authorization: 'Basic Og==' }, bare, now)).toBe(true);
      expect(t.verifyWebhook(body, { authorization: adyenWebhookAuthorization(gateway) }, bare, now)).toBe(true);
    });

    it('still refuses a notification whose HMAC is wrong or missing, or one item of a batch not signed', () => {
      expect(t.verifyWebhook(raw(signedBySdk(example('post-CAPTURE-capture'), 'AB'.repeat(32))), {}, bare, now)).toBe(false);
      const unsigned = example('post-CAPTURE-capture');
      delete unsigned.notificationItems[0].NotificationRequestItem.additionalData;
      expect(t.verifyWebhook(raw(unsigned), {}, bare, now)).toBe(false);
      const good = signedBySdk(example('post-CAPTURE-capture'));
      const bad = signedBySdk(example('post-REFUND-refund'), 'AB'.repeat(32));
      expect(t.verifyWebhook(raw({ live: 'false', notificationItems: [...good.notificationItems, ...bad.notificationItems] }), {}, bare, now)).toBe(false);
    });

    it('says so: a warning naming key_id (logged at start, shown by check-config and the doctor)', () => {
      expect(adyenWebhookAuthWarnings(bare)).toEqual([['key_id', expect.stringContaining('HMAC signature alone')]]);
      expect(adyenWebhookAuthWarnings(gateway)).toEqual([]);
      const hook = {
        type: 'adyen',
        base_url: 'https://checkout-test.adyen.com/v71',
        api_key: 'AQE-unit',
        merchant_account: 'Acme',
        webhook_secret: gateway.webhookSecret,
      };
      const warned = (extra: Record<string, string>) => configWarnings(testConfig({ gateways: { ady: { ...hook, ...extra } } })).map(([key]) => key);
      expect(warned({})).toEqual(['gateways.ady.key_id']);
      expect(warned({ key_id: 'hook-user', shared_secret: 'hook-password-0123456789' })).toEqual([]);
    });
  });

  it('with only one Basic credential configured, requires Basic auth, which nothing passes: every webhook refused, and a warning names the empty key', () => {
    const body = raw(signedBySdk(example('post-CAPTURE-capture')));
    for (const [half, empty] of [
      [{ ...gateway, sharedSecret: '' }, 'shared_secret'],
      [{ ...gateway, keyId: '' }, 'key_id'],
    ] as const) {
      expect(t.verifyWebhook(body, {}, half, now)).toBe(false);
      expect(t.verifyWebhook(body, { authorization: adyenWebhookAuthorization(half) }, half, now)).toBe(false);
      expect(adyenWebhookAuthWarnings(half)).toEqual([[empty, expect.stringContaining('every webhook is refused')]]);
    }
  });

  it('with Basic credentials configured, refuses a notification with a wrong HMAC even with the right credentials', () => {
    const body = raw(signedBySdk(example('post-CAPTURE-capture'), 'AB'.repeat(32)));
    expect(t.verifyWebhook(body, auth, gateway, now)).toBe(false);
  });

  it('verifies a correctly signed item for another merchant account (a company-level webhook), and skips it when read, reporting other_account', () => {
    const other = signedBySdk(example('post-CAPTURE-capture'), gateway.webhookSecret, 'SomeoneElsesAccount');
    expect(t.verifyWebhook(raw(other), auth, gateway, now)).toBe(true);
    const skipped: SkippedWebhookItem[] = [];
    expect(t.parseWebhook(raw(other), gateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([expect.objectContaining({ reason: 'other_account', account: 'SomeoneElsesAccount', eventType: 'CAPTURE' })]);
  });

  describe('the environment a notification comes from (`live`: "true" from the live environment, "false" from the test one)', () => {
    const LIVE_BASE = 'https://1797a841fbb37ca7-AdyenDemo-checkout-live.adyenpayments.com/checkout/v71';
    const capture = (live: string): Buffer => raw({ ...signedBySdk(example('post-CAPTURE-capture')), live });

    it("skips every item of a notification from the other environment than base_url's (other_environment), though its HMAC verifies", () => {
      const skipped: SkippedWebhookItem[] = [];
      expect(t.verifyWebhook(capture('true'), auth, gateway, now)).toBe(true);
      expect(t.parseWebhook(capture('true'), gateway, (item) => skipped.push(item))).toEqual([]);
      expect(skipped).toEqual([
        expect.objectContaining({
          reason: 'other_environment',
          eventType: 'CAPTURE',
          account: gateway.merchantAccount,
          field: 'live',
          problem: expect.stringContaining('test'),
        }),
      ]);
      skipped.length = 0;
      expect(t.parseWebhook(capture('false'), { ...gateway, baseUrl: LIVE_BASE }, (item) => skipped.push(item))).toEqual([]);
      expect(skipped.map((i) => i.reason)).toEqual(['other_environment']);
    });

    it("reads a notification from base_url's own environment, and does not check one whose base_url is no Adyen host or that says no environment", () => {
      expect(t.parseWebhook(capture('false'), gateway)).toHaveLength(1);
      expect(t.parseWebhook(capture('true'), { ...gateway, baseUrl: LIVE_BASE })).toHaveLength(1);
      expect(t.parseWebhook(capture('true'), { ...gateway, baseUrl: 'http://127.0.0.1:4010' })).toHaveLength(1);
      const { live: _live, ...unsaid } = signedBySdk(example('post-CAPTURE-capture'));
      expect(t.parseWebhook(raw(unsaid as Notification), gateway)).toHaveLength(1);
    });

    it.each([
      ['https://checkout-test.adyen.com/v71', 'test'],
      ['https://pal-test.adyen.com/pal/servlet/StoredValue/v46', 'test'],
      [LIVE_BASE, 'live'],
      ['https://1797a841fbb37ca7-AdyenDemo-checkout-live-us.adyenpayments.com/checkout/v71', 'live'],
      ['https://1797a841fbb37ca7-AdyenDemo-pal-live.adyenpayments.com/pal/servlet/StoredValue/v46', 'live'],
      ['https://pal-live.adyen.com/pal/servlet/Payment/v68', 'live'],
      ['http://127.0.0.1:4010', undefined],
      ['https://adyen.example.com/v71', undefined],
    ])('places base_url %s in Adyen environment %s', (baseUrl, environment) => {
      expect(adyenEnvironment(baseUrl)).toBe(environment);
    });

    it("makes certify's check notification in base_url's environment", () => {
      const live = { ...gateway, baseUrl: LIVE_BASE };
      const note = adyenGateway.certification.checkNotification(live, 'op-certify-1', now);
      expect((JSON.parse(note.body.toString('utf8')) as Notification).live).toBe('true');
      expect((JSON.parse(adyenGateway.certification.checkNotification(gateway, 'op-certify-1', now).body.toString('utf8')) as Notification).live).toBe('false');
    });
  });

  it('reads nothing as ours when no merchant account is configured', () => {
    const skipped: SkippedWebhookItem[] = [];
    expect(t.parseWebhook(raw(signedBySdk(example('post-CAPTURE-capture'))), { ...gateway, merchantAccount: '' }, (item) => skipped.push(item))).toEqual([]);
    expect(skipped.map((i) => i.reason)).toEqual(['other_account']);
  });

  it("verifies a batch [ours, a sibling account's] and reads only our item", () => {
    const good = signedBySdk(example('post-CAPTURE-capture'));
    const other = signedBySdk(example('post-REFUND-refund'), gateway.webhookSecret, 'SomeoneElsesAccount');
    const batch: Notification = { live: 'false', notificationItems: [...good.notificationItems, ...other.notificationItems] };
    expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(true);
    const events = t.parseWebhook(raw(batch), gateway);
    expect(events.map((e) => [e.account, e.outcome.gatewayStatus])).toEqual([[gateway.merchantAccount, 'CAPTURE']]);
  });

  it("refuses a batch in which a sibling account's item is not correctly signed", () => {
    const good = signedBySdk(example('post-CAPTURE-capture'));
    const other = signedBySdk(example('post-REFUND-refund'), '0'.repeat(64), 'SomeoneElsesAccount');
    const batch: Notification = { live: 'false', notificationItems: [...good.notificationItems, ...other.notificationItems] };
    expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(false);
  });

  it('refuses a signature moved to another split of the same fields at a colon (originalReference "B:C" vs pspReference "A:B" + "C")', () => {
    // What Adyen's SDK signs for a notification whose reference holds a colon (the plain join)...
    const base = JSON.parse(JSON.stringify(example('post-CAPTURE-capture'))) as Notification;
    Object.assign(base.notificationItems[0].NotificationRequestItem, { pspReference: 'AAAA', originalReference: 'BBBB:CCCC' });
    const signed = signedBySdk(base);
    // ...and the attacker's split of the same string, signature kept: it names another payment.
    const resplit = JSON.parse(JSON.stringify(signed)) as Notification;
    Object.assign(resplit.notificationItems[0].NotificationRequestItem, { pspReference: 'AAAA:BBBB', originalReference: 'CCCC' });
    const [a, b] = [signed, resplit].map((n) => sdk.getDataToSign(n.notificationItems[0].NotificationRequestItem as never));
    expect(b).toBe(a);
    expect(sdk.validateHMAC(resplit.notificationItems[0].NotificationRequestItem as never, gateway.webhookSecret)).toBe(true);
    expect(t.verifyWebhook(raw(resplit), auth, gateway, now)).toBe(false);
  });

  it("accepts a merchantReference holding ':' and '\\' signed by Adyen's SDK (the plain join), and signs the SDK's very string", () => {
    const base = JSON.parse(JSON.stringify(example('post-CAPTURE-capture'))) as Notification;
    Object.assign(base.notificationItems[0].NotificationRequestItem, { merchantReference: 'order:42\\a' });
    const signed = signedBySdk(base);
    expect(t.verifyWebhook(raw(signed), auth, gateway, now)).toBe(true);
    const items = (parseNotificationEntries(raw(signed)) ?? []).map((entry) => entry.signed);
    expect(adyenSigningString(items[0])).toBe(sdk.getDataToSign(signed.notificationItems[0].NotificationRequestItem as never));
  });

  it("refuses a ':' in any signed field but merchantReference, even signed by Adyen's SDK (the string would split two ways)", () => {
    for (const field of ['pspReference', 'originalReference', 'eventCode'] as const) {
      const base = JSON.parse(JSON.stringify(example('post-CAPTURE-capture'))) as Notification;
      Object.assign(base.notificationItems[0].NotificationRequestItem, { [field]: 'AAAA:BBBB' });
      expect(t.verifyWebhook(raw(signedBySdk(base)), auth, gateway, now)).toBe(false);
    }
  });

  it('refuses bodies that are not notifications', () => {
    for (const body of ['', 'not json', '[]', '{"live":"false","notificationItems":[]}', '{"notificationItems":[{"x":1}]}']) {
      expect(t.verifyWebhook(Buffer.from(body), auth, gateway, now)).toBe(false);
    }
  });
});

describe('Adyen webhook events', () => {
  it('maps a successful authorisation to SUCCESS for the operation named by merchantReference', () => {
    const events = t.parseWebhook(raw(withReference(signedBySdk(example('post-AUTHORISATION-authorisation')), 'op-authorize-1')), gateway);
    expect(events).toEqual([
      {
        eventId: 'QFQTPCQ8HXSKGK82:AUTHORISATION:true',
        operationId: 'op-authorize-1',
        gatewayReference: 'QFQTPCQ8HXSKGK82',
        account: 'UnitMerchantAccount',
        outcome: {
          status: 'SUCCESS',
          gatewayStatus: 'AUTHORISATION',
          gatewayReference: 'QFQTPCQ8HXSKGK82',
          amount: 1000,
          currency: 'EUR',
          // Adyen's example names the stored method (tokenization.* additionalData): token on first use.
          storedToken: 'YOUR_SHOPPER_REFERENCE:M5N7TQ4TG5PFWR50',
          settles: ['authorize', 'sale', 'revalidate'],
          // The example's eventDate: when Adyen authorised it.
          authorizedAt: 1609459200000,
          occurredAt: 1609459200000,
        },
        // The stored method's id inside the token: the route takes it as Adyen's, should it read as a card number, only
        // for an item naming an operation of ours.
        storedTokenIds: ['M5N7TQ4TG5PFWR50'],
      },
    ]);
  });

  it("reads the network transaction id of a successful AUTHORISATION (additionalData.networkTxReference, NotificationAdditionalData), as a /payments answer's; none for a refusal, another event or a value of no id's shape", () => {
    const n = example('post-AUTHORISATION-authorisation');
    // The spec's AUTHORISATION item with the key its additionalData schema documents ("The network transaction reference
    // from the scheme, when available"), the value as the Checkout spec's own example has it.
    Object.assign(n.notificationItems[0].NotificationRequestItem, { paymentMethod: 'visa' });
    n.notificationItems[0].NotificationRequestItem.additionalData!.networkTxReference = '777718270854480';
    const [event] = t.parseWebhook(raw(withReference(signedBySdk(n), 'op-authorize-1')), gateway);
    expect(event.outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'AUTHORISATION', networkTransactionId: '777718270854480' });

    const refused = JSON.parse(JSON.stringify(n)) as Notification;
    Object.assign(refused.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Refused' });
    expect(t.parseWebhook(raw(signedBySdk(refused)), gateway)[0].outcome.networkTransactionId).toBeUndefined();
    const capture = example('post-CAPTURE-capture');
    capture.notificationItems[0].NotificationRequestItem.additionalData = { networkTxReference: '777718270854480' };
    expect(t.parseWebhook(raw(signedBySdk(capture)), gateway)[0].outcome.networkTransactionId).toBeUndefined();
    for (const value of ['', 'not an id!', 'x'.repeat(65)]) {
      const odd = JSON.parse(JSON.stringify(n)) as Notification;
      odd.notificationItems[0].NotificationRequestItem.additionalData!.networkTxReference = value;
      expect(t.parseWebhook(raw(signedBySdk(odd)), gateway)[0].outcome.networkTransactionId).toBeUndefined();
    }
  });

  it('a CANCELLATION refused (success false) is never read as a void refused because the payment is captured: it states no cause nor captured amount', () => {
    // Adyen answers a cancel `received` and settles it by this webhook; its `reason` is free text. A capture made in the
    // Customer Area or by automatic capture is told by the payment's own CAPTURE webhook, not by the cancel's failure.
    const refused = example('post-CANCELLATION-cancellation');
    Object.assign(refused.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Transaction already captured' });
    const [event] = t.parseWebhook(raw(signedBySdk(refused)), gateway);
    expect(event.outcome.status).toBe('FAIL');
    expect(event.outcome.pspCaptured).toBeUndefined();
    expect(voidRefusedAsCaptured('adyen', event.outcome)).toBeNull();
    expect(adyenGateway.voidRefusedAsCaptured).toBeUndefined();
  });

  it("reads the card an authorisation stored from the notification's additionalData (cardSummary, expiryDate M/YYYY, paymentMethod), as a /payments answer's", () => {
    const n = example('post-AUTHORISATION-authorisation');
    // The spec's AUTHORISATION item, with the card fields its additionalData schema documents, for a card.
    Object.assign(n.notificationItems[0].NotificationRequestItem, { paymentMethod: 'mc' });
    Object.assign(n.notificationItems[0].NotificationRequestItem.additionalData!, { cardSummary: '0004', expiryDate: '8/2031', cardBin: '555555' });
    const [event] = t.parseWebhook(raw(signedBySdk(n)), gateway);
    expect(event.outcome).toMatchObject({ status: 'SUCCESS', storedToken: 'YOUR_SHOPPER_REFERENCE:M5N7TQ4TG5PFWR50' });
    expect(event.outcome.storedCard).toEqual({ brand: 'mc', lastFour: '0004', expiryMonth: 8, expiryYear: 2031 });
    expect(JSON.stringify(event)).not.toMatch(/555555/);

    // An older account's stored method (recurring.recurringDetailReference), the brand only in additionalData.
    const older = example('post-AUTHORISATION-authorisation');
    const item = older.notificationItems[0].NotificationRequestItem;
    delete item.paymentMethod;
    item.additionalData = {
      'recurring.recurringDetailReference': '8416039902646530',
      'recurring.shopperReference': 'shopper-0042',
      paymentMethod: 'visa',
      cardSummary: '1111',
      expiryDate: '03/2030',
    };
    expect(t.parseWebhook(raw(signedBySdk(older)), gateway)[0].outcome.storedCard).toEqual({
      brand: 'visa',
      lastFour: '1111',
      expiryMonth: 3,
      expiryYear: 2030,
    });

    // A card used but not stored (no stored method's id), a refusal, and the spec's ACH example (a brand, no card): none.
    const notStored = JSON.parse(JSON.stringify(n)) as Notification;
    const additional = notStored.notificationItems[0].NotificationRequestItem.additionalData!;
    for (const key of Object.keys(additional)) if (key.startsWith('tokenization.')) delete additional[key];
    expect(t.parseWebhook(raw(signedBySdk(notStored)), gateway)[0].outcome.storedCard).toBeUndefined();
    const refused = JSON.parse(JSON.stringify(n)) as Notification;
    Object.assign(refused.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Refused' });
    expect(t.parseWebhook(raw(signedBySdk(refused)), gateway)[0].outcome.storedCard).toBeUndefined();
    expect(t.parseWebhook(raw(signedBySdk(example('post-AUTHORISATION-authorisation'))), gateway)[0].outcome.storedCard).toBeUndefined();
  });

  it('reads when Adyen authorised it from eventDate, however late the notification is delivered; nothing for a refusal or a capture', () => {
    const late = JSON.parse(JSON.stringify(example('post-AUTHORISATION-authorisation'))) as Notification;
    // The spec's eventDate format: ISO 8601 with its offset.
    Object.assign(late.notificationItems[0].NotificationRequestItem, { eventDate: '2021-07-17T13:42:40+01:00' });
    expect(t.parseWebhook(raw(signedBySdk(late)), gateway)[0].outcome.authorizedAt).toBe(Date.parse('2021-07-17T12:42:40Z'));
    const refused = JSON.parse(JSON.stringify(late)) as Notification;
    Object.assign(refused.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Refused' });
    expect(t.parseWebhook(raw(signedBySdk(refused)), gateway)[0].outcome.authorizedAt).toBeUndefined();
    expect(t.parseWebhook(raw(signedBySdk(example('post-CAPTURE-capture'))), gateway)[0].outcome.authorizedAt).toBeUndefined();
    const undated = JSON.parse(JSON.stringify(late)) as Notification;
    Object.assign(undated.notificationItems[0].NotificationRequestItem, { eventDate: 'not a date' });
    expect(t.parseWebhook(raw(signedBySdk(undated)), gateway)[0].outcome.authorizedAt).toBeUndefined();
  });

  // Webhooks v1 NotificationRequestItem.eventDate: "The time when the event was generated. Format: ISO 8601;
  // yyyy-MM-DDThh:mm:ssTZD" (example 2021-07-17T13:42:40+01:00): a time with its offset, nothing else.
  describe('eventDate, the PSP time of the event', () => {
    function dated(eventDate: string): number | undefined {
      const n = JSON.parse(JSON.stringify(example('post-AUTHORISATION-authorisation'))) as Notification;
      Object.assign(n.notificationItems[0].NotificationRequestItem, { eventDate });
      return t.parseWebhook(raw(signedBySdk(n)), gateway)[0].outcome.occurredAt;
    }

    it('reads ISO 8601 with its offset (Z, ±hh:mm, ±hhmm), a fraction of a second too, as the instant it names', () => {
      expect(dated('2021-07-17T13:42:40+01:00')).toBe(Date.parse('2021-07-17T12:42:40Z'));
      expect(dated('2021-07-17T13:42:40-05:30')).toBe(Date.parse('2021-07-17T19:12:40Z'));
      expect(dated('2021-07-17T13:42:40+0100')).toBe(Date.parse('2021-07-17T12:42:40Z'));
      expect(dated('2021-07-17T13:42:40Z')).toBe(Date.parse('2021-07-17T13:42:40Z'));
      expect(dated('2021-07-17T13:42:40.123456+02:00')).toBe(Date.parse('2021-07-17T11:42:40.123Z'));
      expect(dated('2024-02-29T23:59:59+00:00')).toBe(Date.parse('2024-02-29T23:59:59Z'));
    });

    it("reads no time from one without its offset (never in the server's zone), another format, or a date that does not exist", () => {
      for (const eventDate of [
        '2021-07-17T13:42:40',
        '2021-07-17',
        'Sat, 17 Jul 2021 13:42:40 GMT',
        '2021-07-17 13:42:40+01:00',
        '2021-02-30T10:00:00+01:00',
        '2023-02-29T10:00:00Z',
        '2021-07-17T24:00:00Z',
        '2021-07-17T13:60:00Z',
        '2021-07-17T13:42:40+25:00',
      ])
        expect([eventDate, dated(eventDate)]).toEqual([eventDate, undefined]);
    });

    it('reads no time outside the PSP times (1970 to the end of year 9999)', () => {
      for (const eventDate of ['+010000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '0070-01-01T00:00:00Z'])
        expect([eventDate, dated(eventDate)]).toEqual([eventDate, undefined]);
      expect(dated('9999-12-31T23:59:59Z')).toBe(Date.UTC(9999, 11, 31, 23, 59, 59));
    });

    it('dates a late fact the same way: a dispute step without its offset carries no time', () => {
      const n = JSON.parse(JSON.stringify(example('post-CHARGEBACK-chargeback'))) as Notification;
      Object.assign(n.notificationItems[0].NotificationRequestItem, { eventDate: '2021-07-17T13:42:40' });
      expect(t.parseWebhook(raw(signedBySdk(n)), gateway)[0].adjustment?.occurredAt).toBeUndefined();
      Object.assign(n.notificationItems[0].NotificationRequestItem, { eventDate: '2021-07-17T13:42:40+01:00' });
      expect(t.parseWebhook(raw(signedBySdk(n)), gateway)[0].adjustment?.occurredAt).toBe(Date.parse('2021-07-17T12:42:40Z'));
    });
  });

  it('maps a refused authorisation to FAIL with Adyen reason, under a different event id', () => {
    const n = example('post-AUTHORISATION-authorisation');
    const refused = JSON.parse(JSON.stringify(n)) as Notification;
    Object.assign(refused.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Refused' });
    const [event] = t.parseWebhook(raw(refused), gateway);
    expect(event.outcome).toMatchObject({ status: 'FAIL', reason: 'Refused' });
    expect(event.eventId).toBe('QFQTPCQ8HXSKGK82:AUTHORISATION:false');
  });

  it.each([
    ['post-CAPTURE-capture', 'SUCCESS'],
    ['post-CAPTURE_FAILED-capture_failed', 'FAIL'],
    ['post-CANCELLATION-cancellation', 'SUCCESS'],
    ['post-CANCEL_OR_REFUND-cancel_or_refund', 'SUCCESS'],
    ['post-REFUND-refund', 'FAIL'],
    ['post-REFUND_FAILED-refund_failed', 'FAIL'],
    ['post-AUTHORISATION_ADJUSTMENT-authorisation_adjustment', 'SUCCESS'],
  ])('maps the %s example (success flag as documented) to %s', (name, status) => {
    const [event] = t.parseWebhook(raw(example(name)), gateway);
    expect(event.outcome.status).toBe(status);
    if (status === 'FAIL') expect(event.outcome.reason).toBeTruthy();
  });

  it.each([
    ['post-AUTHORISATION-authorisation', ['authorize', 'sale', 'revalidate']],
    ['post-CAPTURE-capture', ['capture']],
    ['post-CAPTURE_FAILED-capture_failed', ['capture']],
    ['post-CANCELLATION-cancellation', ['cancel']],
    // The example's modification.action is "cancel".
    ['post-CANCEL_OR_REFUND-cancel_or_refund', ['cancel']],
    ['post-REFUND-refund', ['refund']],
    ['post-REFUND_FAILED-refund_failed', ['refund']],
    ['post-AUTHORISATION_ADJUSTMENT-authorisation_adjustment', ['validate']],
  ])('says the %s outcome settles only %j, whatever operation merchantReference names', (name, commands) => {
    const [event] = t.parseWebhook(raw(withReference(example(name), 'op-authorize-1')), gateway);
    expect(event.operationId).toBe('op-authorize-1');
    expect(event.outcome.settles).toEqual(commands);
  });

  it.each([
    ['post-CAPTURE-capture', true],
    ['post-CAPTURE_FAILED-capture_failed', true],
    ['post-CANCELLATION-cancellation', true],
    ['post-CANCEL_OR_REFUND-cancel_or_refund', true],
    ['post-REFUND-refund', true],
    ['post-REFUND_FAILED-refund_failed', true],
    ['post-AUTHORISATION_ADJUSTMENT-authorisation_adjustment', true],
    ['post-AUTHORISATION-authorisation', false],
    ['post-TECHNICAL_CANCEL-technical_cancel', false],
  ])("says whether the %s outcome's reference is its modification's own (%s): what finds it when merchantReference names the payment", (name, modification) => {
    const [event] = t.parseWebhook(raw(withReference(example(name), 'op-authorize-1')), gateway);
    const item = example(name).notificationItems[0].NotificationRequestItem;
    expect(event.outcome.referenceIsModification).toBe(modification ? true : undefined);
    if (modification) expect(event.outcome.gatewayReference).toBe(item.pspReference);
  });

  it.each([
    ['post-REFUND-refund', true],
    ['post-CANCEL_OR_REFUND-cancel_or_refund', true],
    ['post-CAPTURE-capture', false],
    ['post-CANCELLATION-cancellation', false],
    ['post-REFUND_FAILED-refund_failed', true],
    ['post-REFUNDED_REVERSED-refunded_reversed', true],
  ])(
    'names the refunded payment of a %s by its originalReference (%s): what finds the payment when nothing of ours names the refund (or its failure)',
    (name, refund) => {
      const notification = example(name);
      const item = notification.notificationItems[0].NotificationRequestItem;
      Object.assign(item, { originalReference: 'PAYMENTPSP000001', merchantReference: 'refund made in the Customer Area' });
      const [event] = t.parseWebhook(raw(notification), gateway);
      expect(event.paymentReference).toBe(refund ? 'PAYMENTPSP000001' : undefined);
    },
  );

  it("gives a re-capture after CAPTURE_FAILED (reason Transaction Recaptured) an id of its own, not the capture's first success's, which Adyen's resends of it share", () => {
    const capture = example('post-CAPTURE-capture');
    const item = capture.notificationItems[0].NotificationRequestItem;
    const [first] = t.parseWebhook(raw(capture), gateway);
    const recapture = JSON.parse(JSON.stringify(capture)) as Notification;
    Object.assign(recapture.notificationItems[0].NotificationRequestItem, { reason: 'Transaction Recaptured', eventDate: '2026-02-03T10:00:00+01:00' });
    const [again] = t.parseWebhook(raw(recapture), gateway);
    const [resent] = t.parseWebhook(raw(recapture), gateway);
    expect(first.eventId).toBe(`${String(item.pspReference)}:CAPTURE:true`);
    expect(again.eventId).not.toBe(first.eventId);
    expect(resent.eventId).toBe(again.eventId);
    expect(again.outcome.status).toBe('SUCCESS');
  });

  it('reads a capture the card scheme rejected as expired ("… (capture expired)": final, never re-captured) as the capture\'s FAIL authorization_expired, reauthorize; the capture_failed adjustment keeps Adyen\'s text; other reasons as they are', () => {
    const text = 'Capture rejected by card scheme: raw error message from the scheme (capture expired).';
    for (const [name, success] of [
      ['post-CAPTURE_FAILED-capture_failed', 'true'],
      ['post-CAPTURE-capture', 'false'],
    ] as const) {
      const n = example(name);
      Object.assign(n.notificationItems[0].NotificationRequestItem, { success, reason: text });
      const [event] = t.parseWebhook(raw(n), gateway);
      expect([name, event.outcome]).toEqual([
        name,
        expect.objectContaining({
          status: 'FAIL',
          reason: 'authorization_expired',
          decline: expect.objectContaining({ category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'reauthorize' }),
        }),
      ]);
      if (name === 'post-CAPTURE_FAILED-capture_failed') expect(event.adjustment).toMatchObject({ kind: 'capture_failed', reason: text });
    }
    const technical = example('post-CAPTURE_FAILED-capture_failed');
    Object.assign(technical.notificationItems[0].NotificationRequestItem, { reason: 'Capture rejected by card scheme because of a technical issue.' });
    expect(t.parseWebhook(raw(technical), gateway)[0].outcome.reason).toBe('Capture rejected by card scheme because of a technical issue.');
  });

  it('reads a capture or refund the card scheme rejected for an account configuration error ("Capture rejected by card scheme: <the scheme\'s message> (account configuration error)") as Adyen documents it: invalid_request, contact_support, Adyen\'s text kept', () => {
    const text = 'Capture rejected by card scheme: 30 : Format error (account configuration error)';
    for (const [name, success] of [
      ['post-CAPTURE_FAILED-capture_failed', 'true'],
      ['post-REFUND_FAILED-refund_failed', 'true'],
      ['post-CAPTURE-capture', 'false'],
    ] as const) {
      const n = example(name);
      Object.assign(n.notificationItems[0].NotificationRequestItem, { success, reason: text });
      const [event] = t.parseWebhook(raw(n), gateway);
      expect([name, event.outcome]).toEqual([
        name,
        expect.objectContaining({
          status: 'FAIL',
          reason: text,
          // The code is Adyen's text as every code is kept, cut to 64 characters; `reason` holds it whole.
          decline: expect.objectContaining({ category: 'invalid_request', gateway_code: text.slice(0, 64), suggested_action: 'contact_support' }),
        }),
      ]);
    }
    // Adyen's other template with the scheme's raw message in the middle, "(incorrect request)", on a capture or a refund:
    // its own row (never the table's fallback `unknown`), not retried by Adyen, so not held.
    const incorrect = 'Capture rejected by card scheme: 30 : Format error (incorrect request)';
    for (const name of ['post-CAPTURE_FAILED-capture_failed', 'post-REFUND_FAILED-refund_failed'] as const) {
      const n = example(name);
      Object.assign(n.notificationItems[0].NotificationRequestItem, { reason: incorrect });
      const { outcome } = t.parseWebhook(raw(n), gateway)[0];
      expect([name, outcome]).toEqual([
        name,
        expect.objectContaining({
          status: 'FAIL',
          reason: incorrect,
          decline: expect.objectContaining({ category: 'invalid_request', gateway_code: incorrect.slice(0, 64), suggested_action: 'contact_support' }),
        }),
      ]);
      expect(outcome.retriedByPsp).toBeUndefined();
    }
    // Another scheme rejection keeps reading by the table (its fallback for a text it does not list).
    const other = example('post-CAPTURE_FAILED-capture_failed');
    Object.assign(other.notificationItems[0].NotificationRequestItem, { reason: 'Capture rejected by card scheme: 30 : Format error (something new)' });
    expect(t.parseWebhook(raw(other), gateway)[0].outcome.decline?.category).toBe('unknown');
  });

  it('marks a CAPTURE_FAILED or REFUND_FAILED for a technical issue as one Adyen retries itself (retriedByPsp: its amount stays held), and no other reason', () => {
    const failed = (reason?: string) => {
      const n = example('post-CAPTURE_FAILED-capture_failed');
      const item: Record<string, unknown> = n.notificationItems[0].NotificationRequestItem;
      if (reason === undefined) delete item.reason;
      else item.reason = reason;
      return t.parseWebhook(raw(n), gateway)[0].outcome;
    };
    const technical = 'Capture rejected by card scheme because of a technical issue.';
    expect(failed(technical)).toMatchObject({
      status: 'FAIL',
      reason: technical,
      retriedByPsp: true,
      decline: { category: 'processing_error', suggested_action: 'none' },
    });
    // However Adyen spells it (case, spacing, the final full stop), the hold and the decline agree: nothing for the OMS to do.
    for (const spelled of ['capture rejected by card scheme because of a technical issue', ' Capture rejected by card scheme because of  a technical issue ']) {
      expect(failed(spelled)).toMatchObject({
        retriedByPsp: true,
        decline: { category: 'processing_error', suggested_action: 'none', gateway_code: spelled.trim() },
      });
    }
    for (const other of [
      'Capture rejected by card scheme because the shopper cancelled the recurring payment through their bank.',
      'Capture rejected by card scheme: 30 : Format error (account configuration error)',
      'Capture rejected by card scheme: 30 : Format error (capture expired)',
      undefined,
    ]) {
      expect([other, failed(other).retriedByPsp]).toEqual([other, undefined]);
    }
    // A REFUND_FAILED for the same reason is retried by Adyen too ("Captures and refunds are treated the same by card
    // schemes, so these failures apply equally to both"): held; Adyen's example reason ("Refund Failed") is not.
    const refund = example('post-REFUND_FAILED-refund_failed');
    expect(t.parseWebhook(raw(refund), gateway)[0].outcome.retriedByPsp).toBeUndefined();
    Object.assign(refund.notificationItems[0].NotificationRequestItem, { reason: technical });
    expect(t.parseWebhook(raw(refund), gateway)[0].outcome).toMatchObject({ status: 'FAIL', retriedByPsp: true, decline: { suggested_action: 'none' } });
  });

  it('gives a second CAPTURE_FAILED of one capture (its own eventDate: the re-capture failed again) an id of its own, which Adyen resends of it share', () => {
    const failed = example('post-CAPTURE_FAILED-capture_failed');
    const item = failed.notificationItems[0].NotificationRequestItem;
    Object.assign(item, { eventDate: '2026-02-03T10:00:00+01:00' });
    const again = JSON.parse(JSON.stringify(failed)) as Notification;
    Object.assign(again.notificationItems[0].NotificationRequestItem, { eventDate: '2026-02-03T11:00:00+01:00' });
    const [first] = t.parseWebhook(raw(failed), gateway);
    const [resent] = t.parseWebhook(raw(failed), gateway);
    const [second] = t.parseWebhook(raw(again), gateway);
    expect(first.eventId).toBe(`${String(item.pspReference)}:CAPTURE_FAILED:true:2026-02-03T10:00:00+01:00`);
    expect(resent.eventId).toBe(first.eventId);
    expect(second.eventId).not.toBe(first.eventId);
    const undated = JSON.parse(JSON.stringify(failed)) as Notification;
    delete (undated.notificationItems[0].NotificationRequestItem as { eventDate?: string }).eventDate;
    expect(t.parseWebhook(raw(undated), gateway)[0].eventId).toBe(`${String(item.pspReference)}:CAPTURE_FAILED:true`);
  });

  it('names the id releases before dated CAPTURE_FAILED ids gave the item (formerEventId), so a fact one recorded under it is found; an undated one, whose id never changed, and other events name none', () => {
    const failed = example('post-CAPTURE_FAILED-capture_failed');
    const item = failed.notificationItems[0].NotificationRequestItem;
    Object.assign(item, { eventDate: '2026-02-03T10:00:00+01:00' });
    expect(t.parseWebhook(raw(failed), gateway)[0].formerEventId).toBe(`${String(item.pspReference)}:CAPTURE_FAILED:true`);
    const undated = JSON.parse(JSON.stringify(failed)) as Notification;
    delete (undated.notificationItems[0].NotificationRequestItem as { eventDate?: string }).eventDate;
    expect(t.parseWebhook(raw(undated), gateway)[0].formerEventId).toBeUndefined();
    expect(t.parseWebhook(raw(example('post-CAPTURE-capture')), gateway)[0].formerEventId).toBeUndefined();
  });

  it('marks a re-capture (reason Transaction Auto-recaptured) as one, with its eventDate, so its order against the CAPTURE_FAILED it follows is known; a first capture is none', () => {
    const capture = example('post-CAPTURE-capture');
    const [first] = t.parseWebhook(raw(capture), gateway);
    const recapture = JSON.parse(JSON.stringify(capture)) as Notification;
    Object.assign(recapture.notificationItems[0].NotificationRequestItem, { reason: 'Transaction Auto-recaptured', eventDate: '2026-02-03T10:00:00+01:00' });
    const [again] = t.parseWebhook(raw(recapture), gateway);
    expect(first.recapture).toBeUndefined();
    expect(again.recapture).toEqual({ occurredAt: Date.parse('2026-02-03T09:00:00Z') });
  });

  it('reads when Adyen did a plain CAPTURE from its eventDate, as a re-capture and a CAPTURE_FAILED carry theirs, so a success is ordered against a failure of it', () => {
    const capture = JSON.parse(JSON.stringify(example('post-CAPTURE-capture'))) as Notification;
    Object.assign(capture.notificationItems[0].NotificationRequestItem, { eventDate: '2026-02-03T11:00:00+01:00' });
    const [plain] = t.parseWebhook(raw(capture), gateway);
    expect(plain.recapture).toBeUndefined();
    expect(plain.outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'CAPTURE', occurredAt: Date.parse('2026-02-03T10:00:00Z') });
    // The failure's time is its adjustment's, and its outcome's: a failure is ordered against a success recorded.
    const failed = JSON.parse(JSON.stringify(example('post-CAPTURE_FAILED-capture_failed'))) as Notification;
    Object.assign(failed.notificationItems[0].NotificationRequestItem, { eventDate: '2026-02-03T10:00:00+01:00' });
    const [failure] = t.parseWebhook(raw(failed), gateway);
    expect(failure.adjustment?.occurredAt).toBe(Date.parse('2026-02-03T09:00:00Z'));
    expect(failure.outcome.occurredAt).toBe(Date.parse('2026-02-03T09:00:00Z'));
    // A capture refused (success false) is dated the same way; an authorisation refused too, and authorised nothing.
    const refused = JSON.parse(JSON.stringify(capture)) as Notification;
    Object.assign(refused.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Insufficient balance' });
    expect(t.parseWebhook(raw(refused), gateway)[0].outcome).toMatchObject({ status: 'FAIL', occurredAt: Date.parse('2026-02-03T10:00:00Z') });
    const declined = JSON.parse(JSON.stringify(example('post-AUTHORISATION-authorisation'))) as Notification;
    Object.assign(declined.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Refused', eventDate: '2026-02-03T08:00:00Z' });
    const [refusal] = t.parseWebhook(raw(declined), gateway);
    expect(refusal.outcome).toMatchObject({ status: 'FAIL', occurredAt: Date.parse('2026-02-03T08:00:00Z') });
    expect(refusal.outcome.authorizedAt).toBeUndefined();
    const undated = JSON.parse(JSON.stringify(capture)) as Notification;
    Object.assign(undated.notificationItems[0].NotificationRequestItem, { eventDate: 'not a date' });
    expect(t.parseWebhook(raw(undated), gateway)[0].outcome.occurredAt).toBeUndefined();
  });

  it('skips events that are neither the outcome of a command we send nor a late fact about a payment', () => {
    expect(t.parseWebhook(raw(example('post-REPORT_AVAILABLE-report_available')), gateway)).toEqual([]);
  });

  it('leaves the operation to be found by pspReference when the reference is a digest', () => {
    const [event] = t.parseWebhook(raw(withReference(example('post-CAPTURE-capture'), `pbh-${'a'.repeat(64)}`)), gateway);
    expect(event.operationId).toBeUndefined();
    expect(event.gatewayReference).toBe('QFQTPCQ8HXSKGK82');
  });

  // Webhooks v1 TECHNICAL_CANCEL example: pspReference 8515208516304269 is the technical cancel's (POST /cancels by
  // merchant reference), originalReference 8313547924770610 the payment it cancelled
  // (https://docs.adyen.com/api-explorer/Webhooks/1/post/TECHNICAL_CANCEL, https://docs.adyen.com/online-payments/cancel).
  it("names the payment a TECHNICAL_CANCEL cancelled by its originalReference, not by the cancel request's pspReference", () => {
    const [event] = t.parseWebhook(raw(example('post-TECHNICAL_CANCEL-technical_cancel')), gateway);
    expect(event.outcome).toMatchObject({ status: 'FAIL', gatewayStatus: 'TECHNICAL_CANCEL', gatewayReference: '8313547924770610' });
    expect(event.gatewayReference).toBe('8313547924770610');
    // Found by that reference when merchantReference names no operation of ours; Adyen's resends share its id.
    const [digested] = t.parseWebhook(raw(withReference(example('post-TECHNICAL_CANCEL-technical_cancel'), `pbh-${'a'.repeat(64)}`)), gateway);
    expect(digested.operationId).toBeUndefined();
    expect(digested.gatewayReference).toBe('8313547924770610');
    expect(event.eventId).toBe('8515208516304269:TECHNICAL_CANCEL:true');
  });

  // Webhooks v1 CANCEL_OR_REFUND: additionalData "modification.action" (the spec's example: "cancel") says whether
  // Adyen cancelled the payment (not captured yet) or refunded it (captured): https://docs.adyen.com/online-payments/classic-integrations/modify-payments/cancel-or-refund
  it("settles with a CANCEL_OR_REFUND only the command Adyen says it performed (modification.action): a refund is no cancel's outcome, nor a cancel a refund's", () => {
    const withAction = (action: string | undefined): Notification => {
      const n = example('post-CANCEL_OR_REFUND-cancel_or_refund');
      const item = n.notificationItems[0].NotificationRequestItem;
      const additional = { ...(item.additionalData ?? {}) };
      delete additional['modification.action'];
      item.additionalData = action === undefined ? additional : { ...additional, 'modification.action': action };
      return signedBySdk(n);
    };
    const [cancelled] = t.parseWebhook(raw(withAction('cancel')), gateway);
    expect(cancelled.outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'CANCEL_OR_REFUND', settles: ['cancel'], referenceIsModification: true });
    expect(t.parseWebhook(raw(withAction('refund')), gateway)[0].outcome.settles).toEqual(['refund']);
    expect(t.parseWebhook(raw(withAction('Refund')), gateway)[0].outcome.settles).toEqual(['refund']);
    // Failed, it is still the outcome of that one command only.
    const failed = withAction('refund');
    Object.assign(failed.notificationItems[0].NotificationRequestItem, { success: 'false', reason: 'Modification in different currency than authorisation' });
    expect(t.parseWebhook(raw(signedBySdk(failed)), gateway)[0].outcome).toMatchObject({ status: 'FAIL', settles: ['refund'] });
    // Without the field (or with one Adyen does not document), either may be what it settles.
    expect(t.parseWebhook(raw(withAction(undefined)), gateway)[0].outcome.settles).toEqual(['cancel', 'refund']);
    expect(t.parseWebhook(raw(withAction('capture')), gateway)[0].outcome.settles).toEqual(['cancel', 'refund']);
  });

  it('skips an item with an unknown event code or success flag on its own, reports it, and keeps the other items of the batch', () => {
    const batch = JSON.parse(JSON.stringify(example('post-CAPTURE-capture'))) as Notification;
    const good = batch.notificationItems[0].NotificationRequestItem;
    const unknownCode = { ...good, pspReference: 'NEWEVENT00000001', eventCode: 'BRAND_NEW_EVENT' };
    const badFlag = { ...good, pspReference: 'BADFLAG000000001', success: 'maybe' };
    batch.notificationItems = [{ NotificationRequestItem: unknownCode }, { NotificationRequestItem: good }, { NotificationRequestItem: badFlag }];
    const skipped: SkippedWebhookItem[] = [];
    const events = t.parseWebhook(raw(batch), gateway, (item) => skipped.push(item));
    expect(events.map((e) => e.eventId)).toEqual([`${String(good.pspReference)}:CAPTURE:true`]);
    expect(skipped).toEqual([
      { reason: 'unknown_event_type', eventType: 'BRAND_NEW_EVENT', reference: 'NEWEVENT00000001', account: good.merchantAccountCode },
      {
        reason: 'unreadable',
        eventType: 'CAPTURE',
        reference: 'BADFLAG000000001',
        account: good.merchantAccountCode,
        field: 'notificationItems[2].NotificationRequestItem.success',
        problem: 'is neither "true" nor "false"',
      },
    ]);
  });

  describe('notices about a payment: a manual review decided, a recurring contract created', () => {
    it("reads MANUAL_REVIEW_REJECT and _ACCEPT (the spec's examples) as the review's decision of the payment named, no outcome and no money", () => {
      const [rejected] = t.parseWebhook(raw(withReference(signedBySdk(example('post-MANUAL_REVIEW_REJECT-manual_review_reject')), 'op-reviewed-1')), gateway);
      expect(rejected).toEqual({
        eventId: 'QFQTPCQ8HXSKGK82:MANUAL_REVIEW_REJECT:true',
        operationId: 'op-reviewed-1',
        // The payment: its originalReference.
        gatewayReference: '9913140798220028',
        account: 'UnitMerchantAccount',
        outcome: { status: 'PENDING', gatewayStatus: 'MANUAL_REVIEW_REJECT', gatewayReference: '9913140798220028', settles: [] },
        reviewDecision: 'rejected',
      });
      const [accepted] = t.parseWebhook(raw(signedBySdk(example('post-MANUAL_REVIEW_ACCEPT-manual_review_accept'))), gateway);
      expect(accepted).toMatchObject({ reviewDecision: 'accepted', outcome: { status: 'PENDING', settles: [] } });
      expect(accepted.adjustment).toBeUndefined();
      // success "false" decides nothing.
      const undecided = example('post-MANUAL_REVIEW_REJECT-manual_review_reject');
      undecided.notificationItems[0].NotificationRequestItem.success = 'false';
      expect(t.parseWebhook(raw(signedBySdk(undecided)), gateway)).toEqual([]);
    });

    it("reads RECURRING_CONTRACT (the spec's example) as the token it stored: its pspReference, filed under additionalData.shopperReference, for the payment its originalReference names", () => {
      const [contract] = t.parseWebhook(raw(withReference(signedBySdk(example('post-RECURRING_CONTRACT-recurring_contract')), 'op-stored-1')), gateway);
      expect(contract).toMatchObject({
        operationId: 'op-stored-1',
        gatewayReference: 'INITIAL_PAYMENT_PSP_REFERENCE',
        account: 'UnitMerchantAccount',
        outcome: { status: 'PENDING', gatewayStatus: 'RECURRING_CONTRACT', gatewayReference: 'INITIAL_PAYMENT_PSP_REFERENCE', settles: [] },
        storedToken: 'YOUR_SHOPPER_REFERENCE:M5N7TQ4TG5PFWR50',
        storedTokenIds: ['M5N7TQ4TG5PFWR50'],
      });
      // The token (its pspReference) is in no id or reference: those reach logs and history. It tells this contract
      // from another of the payment as `eventIdSecret`, which the route digests with a key; an unkeyed digest of it,
      // what releases before appended to the id, is only the former id a resend they queued is found by.
      expect(contract.eventId).toBe('INITIAL_PAYMENT_PSP_REFERENCE:RECURRING_CONTRACT:true');
      expect(contract.eventIdSecret).toBe('M5N7TQ4TG5PFWR50');
      const unkeyed = createHash('sha256').update('M5N7TQ4TG5PFWR50').digest('hex').slice(0, 16);
      expect(contract.formerEventId).toBe(`INITIAL_PAYMENT_PSP_REFERENCE:RECURRING_CONTRACT:true:${unkeyed}`);
      expect(JSON.stringify({ ...contract, storedToken: undefined, storedTokenIds: undefined, eventIdSecret: undefined })).not.toContain('M5N7TQ4TG5PFWR50');
      expect(JSON.stringify({ ...contract, formerEventId: undefined })).not.toContain(unkeyed);

      // Without the shopper it is filed under, Adyen cannot charge it: skipped, naming the field.
      const noShopper = example('post-RECURRING_CONTRACT-recurring_contract');
      const additional = noShopper.notificationItems[0].NotificationRequestItem.additionalData!;
      delete additional.shopperReference;
      delete additional['recurring.shopperReference'];
      const skipped: SkippedWebhookItem[] = [];
      expect(t.parseWebhook(raw(signedBySdk(noShopper)), gateway, (s) => skipped.push(s))).toEqual([]);
      expect(skipped).toEqual([
        expect.objectContaining({ reason: 'unreadable', field: 'notificationItems[0].NotificationRequestItem.additionalData.shopperReference' }),
      ]);
    });

    it('never names a RECURRING_CONTRACT skipped by its pspReference (the stored token, logged by the skip line), but by the payment it was stored with', () => {
      const token = 'M5N7TQ4TG5PFWR50';
      const variants: Array<[string, (n: Notification) => Notification, Parameters<typeof t.parseWebhook>[1]?]> = [
        ['other_account', (n) => signedBySdk(n, gateway.webhookSecret, 'AnotherMerchantAccount')],
        ['other_environment', (n) => ({ ...signedBySdk(n), live: 'true' })],
        [
          'success unreadable',
          (n) => {
            n.notificationItems[0].NotificationRequestItem.success = 'TRUE';
            return signedBySdk(n);
          },
        ],
        [
          'currency unreadable',
          (n) => {
            n.notificationItems[0].NotificationRequestItem.amount = { value: 0, currency: 'US1' };
            return signedBySdk(n);
          },
        ],
        [
          'amount unreadable',
          (n) => {
            n.notificationItems[0].NotificationRequestItem.amount = { value: '0', currency: 'USD' };
            return signedBySdk(n);
          },
        ],
      ];
      for (const [what, change] of variants) {
        const skipped: SkippedWebhookItem[] = [];
        expect(t.parseWebhook(raw(change(example('post-RECURRING_CONTRACT-recurring_contract'))), gateway, (s) => skipped.push(s))).toEqual([]);
        expect([what, skipped.length]).toEqual([what, 1]);
        expect([what, skipped[0].reference]).toEqual([what, 'INITIAL_PAYMENT_PSP_REFERENCE']);
        expect([what, JSON.stringify(skipped)]).not.toEqual([what, expect.stringContaining(token)]);
      }
      // Without originalReference, originalPsp names the payment; without either, nothing does.
      const bare = example('post-RECURRING_CONTRACT-recurring_contract');
      delete bare.notificationItems[0].NotificationRequestItem.originalReference;
      const skipped: SkippedWebhookItem[] = [];
      t.parseWebhook(raw(signedBySdk(bare, gateway.webhookSecret, 'AnotherMerchantAccount')), gateway, (s) => skipped.push(s));
      delete bare.notificationItems[0].NotificationRequestItem.originalPsp;
      t.parseWebhook(raw(signedBySdk(bare, gateway.webhookSecret, 'AnotherMerchantAccount')), gateway, (s) => skipped.push(s));
      expect(skipped.map((s) => s.reference)).toEqual(['PSP_REFERENCE', undefined]);
      // Every other event is named by its own pspReference, as before.
      const other: SkippedWebhookItem[] = [];
      t.parseWebhook(raw(signedBySdk(example('post-CANCELLATION-cancellation'), gateway.webhookSecret, 'AnotherMerchantAccount')), gateway, (s) =>
        other.push(s),
      );
      expect(other[0].reference).toBe(example('post-CANCELLATION-cancellation').notificationItems[0].NotificationRequestItem.pspReference);
    });

    it('tells what a CANCELLATION or CANCEL_OR_REFUND success did to the payment (additionalData.modification.action), for one no operation of ours claims', () => {
      const [cancellation] = t.parseWebhook(raw(signedBySdk(example('post-CANCELLATION-cancellation'))), gateway);
      expect(cancellation.outcome.pspReversal).toBe('cancel');
      const reversal = example('post-CANCEL_OR_REFUND-cancel_or_refund');
      const item = reversal.notificationItems[0].NotificationRequestItem;
      const read = (action?: string) => {
        const copy = JSON.parse(JSON.stringify(reversal)) as Notification;
        const additional = (copy.notificationItems[0].NotificationRequestItem.additionalData ??= {});
        if (action === undefined) delete additional['modification.action'];
        else additional['modification.action'] = action;
        return t.parseWebhook(raw(signedBySdk(copy)), gateway)[0].outcome.pspReversal;
      };
      expect(item.eventCode).toBe('CANCEL_OR_REFUND');
      expect(read('cancel')).toBe('cancel');
      expect(read('refund')).toBe('refund');
      expect(read()).toBe('cancel_or_refund');
      const refused = JSON.parse(JSON.stringify(reversal)) as Notification;
      refused.notificationItems[0].NotificationRequestItem.success = 'false';
      expect(t.parseWebhook(raw(signedBySdk(refused)), gateway)[0].outcome.pspReversal).toBeUndefined();
    });
  });

  describe('a currency that is no ISO 4217 code', () => {
    /** The example with its first item's currency set to `currency`, every item signed by Adyen's SDK. */
    function withCurrency(name: string, currency: unknown): Notification {
      const n = example(name);
      (n.notificationItems[0].NotificationRequestItem.amount as Record<string, unknown>).currency = currency;
      return signedBySdk(n);
    }

    it.each([
      ['post-AUTHORISATION-authorisation', 'EURO'],
      ['post-CAPTURE-capture', 'eu'],
      ['post-CHARGEBACK-chargeback', 'XXX1'],
      ['post-REFUND_FAILED-refund_failed', ''],
      ['post-REFUNDED_REVERSED-refunded_reversed', 'XXX'],
      ['post-CHARGEBACK-chargeback', 978],
    ])('%s with currency %p: the item is refused naming the field, no outcome or adjustment', (name, currency) => {
      const n = withCurrency(name, currency);
      // Signed as Adyen's own libraries sign it (a number as its digits): the item is refused, not the batch.
      expect(t.verifyWebhook(raw(n), auth, gateway, now)).toBe(true);
      const skipped: SkippedWebhookItem[] = [];
      expect(t.parseWebhook(raw(n), gateway, (item) => skipped.push(item))).toEqual([]);
      expect(skipped).toEqual([
        expect.objectContaining({
          reason: 'unreadable',
          field: 'notificationItems[0].NotificationRequestItem.amount.currency',
          problem: expect.stringContaining('is not an ISO 4217 currency code') as unknown,
        }),
      ]);
    });

    it('refuses that item alone: the next item of its batch is read', () => {
      const batch = example('post-CHARGEBACK-chargeback');
      const good = batch.notificationItems[0].NotificationRequestItem;
      const bad = { ...good, pspReference: 'BADCURRENCY00001', amount: { value: 1000, currency: 'EURO' } };
      batch.notificationItems = [{ NotificationRequestItem: bad }, { NotificationRequestItem: good }];
      const skipped: SkippedWebhookItem[] = [];
      const events = t.parseWebhook(raw(signedBySdk(batch)), gateway, (item) => skipped.push(item));
      expect(events).toHaveLength(1);
      expect(events[0].adjustment).toMatchObject({ kind: 'chargeback', currency: String((good.amount as { currency: string }).currency) });
      expect(skipped).toEqual([
        expect.objectContaining({ reference: 'BADCURRENCY00001', field: 'notificationItems[0].NotificationRequestItem.amount.currency' }),
      ]);
    });

    it('reads an ISO 4217 code, in any case, upper-cased; an active code our table leaves out is kept without an amount', () => {
      const [lower] = t.parseWebhook(raw(withCurrency('post-CHARGEBACK-chargeback', 'eur')), gateway);
      expect(lower.adjustment).toMatchObject({ currency: 'EUR' });
      const [fund] = t.parseWebhook(raw(withCurrency('post-CHARGEBACK-chargeback', 'CHE')), gateway);
      expect(fund.adjustment?.currency).toBe('CHE');
      expect(fund.adjustment?.amount).toBeUndefined();
    });
  });

  describe('a malformed item whose HMAC verifies over what was sent', () => {
    /** `item` signed as it stands by Adyen's SDK (which joins the eight values: a number as its digits, an absent one empty). */
    function signedAsIs(item: Item, key = gateway.webhookSecret): Item {
      const copy = JSON.parse(JSON.stringify(item)) as Item;
      const additional = { ...(copy.additionalData ?? {}) };
      delete additional.hmacSignature;
      copy.additionalData = { ...additional, hmacSignature: sdk.calculateHmac(copy as never, key) };
      return copy;
    }

    /** [a good capture, the same capture changed by `malform` under pspReference MALFORMED0000001], each signed as sent. */
    function batchWith(malform: (i: Item) => void, key = gateway.webhookSecret): { batch: Notification; good: Item } {
      const good = signedBySdk(example('post-CAPTURE-capture')).notificationItems[0].NotificationRequestItem;
      const bad = JSON.parse(JSON.stringify(good)) as Item;
      bad.pspReference = 'MALFORMED0000001';
      malform(bad);
      return { batch: { live: 'false', notificationItems: [{ NotificationRequestItem: good }, { NotificationRequestItem: signedAsIs(bad, key) }] }, good };
    }

    const setAmountValue = (value: unknown) => (i: Item) => ((i.amount as Record<string, unknown>).value = value);

    it.each<[string, (i: Item) => void, string]>([
      ['amount.value 12.5', setAmountValue(12.5), 'amount.value'],
      ['amount.value "1000"', setAmountValue('1000'), 'amount.value'],
      ['amount.value 1e21', setAmountValue(1e21), 'amount.value'],
      ['amount.value 2^64', setAmountValue(2 ** 64), 'amount.value'],
      ['amount.value -0.01', setAmountValue(-0.01), 'amount.value'],
      ['amount.value absent', (i) => delete (i.amount as Record<string, unknown>).value, 'amount.value'],
      ['amount a string', (i) => (i.amount = '1000 EUR'), 'amount'],
      ['amount.currency true', (i) => ((i.amount as Record<string, unknown>).currency = true), 'amount.currency'],
      ['success true (a boolean)', (i) => (i.success = true), 'success'],
      ['success "maybe"', (i) => (i.success = 'maybe'), 'success'],
      ['eventCode absent', (i) => delete i.eventCode, 'eventCode'],
      ['merchantReference 42', (i) => (i.merchantReference = 42), 'merchantReference'],
      ['originalReference 42', (i) => (i.originalReference = 42), 'originalReference'],
    ])('%s: the batch verifies, that item alone is skipped as unreadable naming the field, the good item is read', (_what, malform, field) => {
      const { batch, good } = batchWith(malform);
      expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(true);
      const skipped: SkippedWebhookItem[] = [];
      const events = t.parseWebhook(raw(batch), gateway, (item) => skipped.push(item));
      expect(events.map((e) => e.eventId)).toEqual([`${String(good.pspReference)}:CAPTURE:true`]);
      expect(skipped).toEqual([
        expect.objectContaining({
          reason: 'unreadable',
          reference: 'MALFORMED0000001',
          account: gateway.merchantAccount,
          field: `notificationItems[1].NotificationRequestItem.${field}`,
          problem: expect.any(String) as unknown,
        }),
      ]);
    });

    it('a missing pspReference or merchantAccountCode: skipped as unreadable naming it, the good item is read', () => {
      for (const key of ['pspReference', 'merchantAccountCode']) {
        const { batch } = batchWith((i) => delete i[key]);
        expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(true);
        const skipped: SkippedWebhookItem[] = [];
        expect(t.parseWebhook(raw(batch), gateway, (item) => skipped.push(item))).toHaveLength(1);
        expect(skipped).toEqual([expect.objectContaining({ reason: 'unreadable', field: `notificationItems[1].NotificationRequestItem.${key}` })]);
      }
    });

    it('names the problem, never the value', () => {
      const { batch } = batchWith(setAmountValue(98765.4321));
      const skipped: SkippedWebhookItem[] = [];
      t.parseWebhook(raw(batch), gateway, (item) => skipped.push(item));
      expect(skipped[0].problem).toMatch(/whole number/);
      expect(JSON.stringify(skipped)).not.toContain('98765');
    });

    it('an unreadable eventDate is no reason to refuse anything: the item is read without a time', () => {
      const { batch } = batchWith((i) => (i.eventDate = 12345));
      batch.notificationItems[1].NotificationRequestItem = { ...batch.notificationItems[1].NotificationRequestItem, eventDate: 'yesterday' };
      expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(true);
      expect(t.parseWebhook(raw(batch), gateway)).toHaveLength(2);
    });

    it('is still refused, and its batch with it, when its HMAC does not verify over what was sent', () => {
      expect(t.verifyWebhook(raw(batchWith(setAmountValue(12.5), 'AB'.repeat(32)).batch), auth, gateway, now)).toBe(false);
      const tampered = batchWith(setAmountValue(12.5)).batch;
      (tampered.notificationItems[1].NotificationRequestItem.amount as Record<string, unknown>).value = 13.5;
      expect(t.verifyWebhook(raw(tampered), auth, gateway, now)).toBe(false);
    });

    it.each([
      ['an object whose toString member is no function', '{"toString":1}'],
      ['arrays nested 100 000 deep', `${'['.repeat(100_000)}1${']'.repeat(100_000)}`],
    ])('a value no library can join (%s): the batch is refused as unsigned, never thrown on; read, that item alone is skipped', (_what, value) => {
      const { batch } = batchWith((i) => (i.merchantReference = '@@value@@'));
      const body = Buffer.from(JSON.stringify(batch).replace('"@@value@@"', value));
      // Before the signature is known good: anyone may post this, and it must be a 401, not a 500.
      expect(t.verifyWebhook(body, auth, gateway, now)).toBe(false);
      const skipped: SkippedWebhookItem[] = [];
      expect(t.parseWebhook(body, gateway, (item) => skipped.push(item))).toHaveLength(1);
      expect(skipped).toEqual([expect.objectContaining({ reason: 'unreadable', field: 'notificationItems[1].NotificationRequestItem.merchantReference' })]);
    });

    it('a negative amount.value: the item is read, without an amount (no operation moves less than nothing)', () => {
      const { batch } = batchWith(setAmountValue(-2500));
      expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(true);
      const events = t.parseWebhook(raw(batch), gateway);
      expect(events).toHaveLength(2);
      expect(events[1].outcome).toMatchObject({ status: 'SUCCESS', currency: 'EUR' });
      expect(events[1].outcome.amount).toBeUndefined();
    });

    it('is refused, with its batch, when additionalData is no object: it carries no signature to check', () => {
      const { batch } = batchWith(() => undefined);
      (batch.notificationItems[1].NotificationRequestItem as Record<string, unknown>).additionalData = 'hmacSignature';
      expect(t.verifyWebhook(raw(batch), auth, gateway, now)).toBe(false);
    });
  });

  it('still refuses to read a body that is not a notification at all', () => {
    expect(() => t.parseWebhook(Buffer.from('{"live":"false"}'), gateway)).toThrow(GatewayError);
  });

  it('acknowledges with 200 [accepted]', () => {
    expect(t.webhookAck()).toEqual({ status: 200, body: '[accepted]', contentType: 'text/plain' });
  });
});

import { createHmac } from 'node:crypto';
import { GatewayDefinition } from '../gateway-definition';
import { MIN_SECRET_LENGTH, minLengthProblem } from '../secret-format';
import { ADYEN_CURRENCIES } from './adyen-currencies';
import { ADYEN_DECLINES, ADYEN_RAW_RESPONSES } from './adyen-declines';
import { adyenFacts } from './adyen-facts';
import { adyenReconciliation } from './adyen-reconciliation';
import { ADYEN_STORED_STATUS } from './adyen-responses';
import { ADYEN_EVENT_CODES, ADYEN_MODIFICATION_STATUSES, ADYEN_RESULT_CODES } from './adyen-status-map';
import { adyenTransformer } from './adyen-transformer';
import { storedTokenProblem } from './adyen-stored-token';
import { CommandValidationError } from '../../errors/command-validation-error';
import { adyenEnvironment, adyenSigningString, adyenWebhookAuthWarnings, adyenWebhookAuthorization, basicAuthConfigured } from './adyen-webhook';

const DAY_MS = 86_400_000;

/** The HMAC key is hex (Customer Area ▸ Webhooks ▸ HMAC key, 64 hex digits); at least 32 digits. */
function hmacKeyProblem(secret: string): string | null {
  if (!/^[0-9a-fA-F]+$/.test(secret) || secret.length % 2 !== 0) return 'is not an Adyen HMAC key (hex digits, even length)';
  return secret.length < 2 * MIN_SECRET_LENGTH ? `is too weak: an Adyen HMAC key of at least ${2 * MIN_SECRET_LENGTH} hex digits is required` : null;
}

const ADYEN_SETTINGS = {
  apiKey: { secret: true, required: true, description: 'API key of the API credential (Customer Area ▸ Developers ▸ API credentials), sent as X-API-Key' },
  merchantAccount: {
    secret: false,
    required: true,
    description:
      'the merchant account code every request names; webhook items naming another (`merchantAccountCode`, e.g. from a company-level webhook) are acknowledged and skipped',
  },
  webhookSecret: { secret: true, check: hmacKeyProblem, description: "the webhook's HMAC key (hex); empty: every webhook refused" },
  webhookSecretPrevious: { secret: true, check: hmacKeyProblem, description: 'the previous HMAC key, still accepted while it rotates' },
  keyId: {
    secret: false,
    notSecretBecause: "it is the webhook's Basic-auth user name; the password is shared_secret",
    description:
      "the webhook's Basic-auth user name (Customer Area ▸ Webhooks ▸ Authentication, optional at Adyen); set with shared_secret, webhooks need Basic auth as well as their HMAC; both empty: the HMAC alone (warned at start)",
  },
  sharedSecret: {
    secret: true,
    check: (value: string) => minLengthProblem(value, 'the webhook Basic-auth password needs '),
    description: "the webhook's Basic-auth password (with key_id; both empty: no Basic auth, the HMAC alone)",
  },
  reportUsername: {
    secret: false,
    description:
      'the report user (`report@Company.<company account>`, Customer Area ▸ Developers ▸ API credentials, role Merchant report download) that downloads the Settlement details report for reconciliation; empty: `payment-bridge reconcile` cannot read Adyen',
  },
  reportPassword: { secret: true, description: "the report user's password (Basic auth on report downloads)" },
  authorisationType: {
    secret: false,
    check: (value: string) => (value === '' || value === 'PreAuth' || value === 'FinalAuth' ? null : 'must be PreAuth, FinalAuth or empty'),
    description:
      "`additionalData.authorisationType` of authorizations: PreAuth (their amount and validity can be adjusted; `validate` needs it, as Adyen adjusts only pre-authorised payments: it restates the amount the authorization holds, never the validate's own amount) or FinalAuth; empty: the account's default, and `validate` is refused",
  },
  reportBaseUrl: {
    secret: false,
    description:
      'where reports are downloaded (`<report_base_url>/reports/download/MerchantAccount/<merchant_account>/<file>`); empty: https://ca-test.adyen.com for the test Checkout base_url, https://ca-live.adyen.com for a live one',
  },
} as const;

/** Adyen (Checkout API v71, standard webhooks). */
export const adyenGateway: GatewayDefinition<'adyen', typeof ADYEN_SETTINGS> = {
  type: 'adyen',
  title: 'Adyen',
  transformer: adyenTransformer,
  settings: ADYEN_SETTINGS,
  testDouble: false,
  webhookAccount: (gateway) => gateway.merchantAccount,
  configWarnings: adyenWebhookAuthWarnings,
  // A storedPaymentMethodId is filed under a merchant account's shopper; client-side encrypted data (card,
  // wallet and gift card tokens) is encrypted with the key of the API credential's client key. A
  // shopper_reference is the merchant's own name (any account files a new token under it): it binds only
  // beside a stored token, whose gateway_key keeps the payment in the vault already.
  methodBinding: { vaultKeys: ['apiKey', 'merchantAccount'] },
  // "Get a list of available payment methods" (Checkout API POST /paymentMethods, merchantAccount required):
  // read-only. 401: the API key is refused; 403: the key may not act for this merchant account.
  credentialCheck: {
    describe: 'POST /paymentMethods',
    credential: 'the API key and merchant account',
    keys: ['apiKey', 'merchantAccount'],
    request: (gateway) => ({
      method: 'POST',
      path: '/paymentMethods',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ merchantAccount: gateway.merchantAccount }),
    }),
  },
  certification: {
    // A stored card (`<shopperReference>:<storedPaymentMethodId>`) of the merchant's own test account: --token.
    testTokens: { currency: 'EUR' },
    // `REPORT_AVAILABLE` names no payment: acknowledged, nothing touched.
    checkNotification: (gateway, reference, now) => {
      const id = `certify${Math.floor(now.getTime() / 1000)}`;
      const item = {
        amount: { currency: 'EUR', value: 0 },
        eventCode: 'REPORT_AVAILABLE',
        eventDate: now.toISOString(),
        merchantAccountCode: gateway.merchantAccount,
        merchantReference: reference,
        pspReference: id,
        reason: `certify round trip ${id}`,
        success: 'true',
        additionalData: {} as Record<string, string>,
      };
      item.additionalData.hmacSignature = createHmac('sha256', Buffer.from(gateway.webhookSecret, 'hex'))
        .update(adyenSigningString(item), 'utf8')
        .digest('base64');
      // From the environment base_url is in, as Adyen's own would be (one from the other is skipped).
      const live = adyenEnvironment(gateway.baseUrl) === 'live' ? 'true' : 'false';
      const body = Buffer.from(JSON.stringify({ live, notificationItems: [{ NotificationRequestItem: item }] }));
      // Basic auth only where the gateway asks for it, as Adyen sends it only when set up on the webhook.
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (basicAuthConfigured(gateway)) headers.authorization = adyenWebhookAuthorization(gateway);
      return { body, headers };
    },
    // A Basic authentication refused is answered as a wrong HMAC is: one 401 `invalid signature`.
    alsoAuthenticatedBy: (gateway) => (basicAuthConfigured(gateway) ? ['key_id', 'shared_secret'] : []),
  },
  currencies: ADYEN_CURRENCIES,
  declines: ADYEN_DECLINES,
  extraDeclineTables: [
    {
      heading: '## Raw acquirer responses',
      intro:
        'When Adyen sends `additionalData.refusalReasonRaw` and the refusal reason is a generic one (category `do_not_honor`), its leading code refines the category; `gateway_code` is then `<refusalReasonCode>:<raw code>` (e.g. `2:51`). Sources:',
      table: ADYEN_RAW_RESPONSES,
    },
  ],
  facts: adyenFacts,
  // `created`: a stored card's 201, which carries no status of Adyen's (adyen-responses.ts).
  // No `voidRefusedAsCaptured`: a cancel is answered `received` and settled by its CANCELLATION webhook, whose
  // `success: false` names no cause (a free-text `reason`) and no captured amount; a capture made in the Customer Area or
  // by automatic capture is told by its own CAPTURE webhook, not by the cancel's failure.
  pspStatuses: [...ADYEN_RESULT_CODES, ...ADYEN_MODIFICATION_STATUSES, ...ADYEN_EVENT_CODES, ADYEN_STORED_STATUS],
  // "Which payment methods support separate authorisation and capture?" (https://www.adyen.help/hc/en-us/articles/115001179684):
  // Adyen expires an authorisation after 28 days for all major card networks except Cartes Bancaires (12 days);
  // PayPal captures are guaranteed 3 days.
  authorizationValidityMs: { default: 28 * DAY_MS, cartebancaire: 12 * DAY_MS, cartes_bancaires: 12 * DAY_MS, paypal: 3 * DAY_MS },
  conformanceFixture: 'test/conformance/fixtures/adyen.ts',
  reconciliation: adyenReconciliation,
  // A stored card is charged with its shopperReference (parseStoredToken refuses the charge without one).
  checkMerchantInitiatedCharge: (payment) => {
    const problem = storedTokenProblem(payment.gateway_key, payment);
    if (problem) throw new CommandValidationError(problem.field, problem.reason);
  },
};

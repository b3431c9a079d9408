import { GatewayDefinition } from '../gateway-definition';
import { MIN_SECRET_LENGTH } from '../secret-format';
import { CYBERSOURCE_CURRENCIES } from './cybersource-currencies';
import { CYBERSOURCE_DECLINES } from './cybersource-declines';
import { cybersourceFacts } from './cybersource-facts';
import { cybersourceReconciliation } from './cybersource-reconciliation';
import { buildCredentialCheckRequest } from './cybersource-requests';
import { CYBERSOURCE_STATUSES, CYBERSOURCE_TOKEN_STATES } from './cybersource-status-map';
import { cybersourceTransformer } from './cybersource-transformer';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES, webhookSignature } from './cybersource-webhook';
import { mlePrivateKeyProblem } from './cybersource-mle';

const DAY_MS = 86_400_000;

/** The webhook digital signature key is base64; at least 16 bytes decoded. */
function signatureKeyProblem(secret: string): string | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length % 4 !== 0) return 'is not a base64 Cybersource digital signature key';
  return Buffer.from(secret, 'base64').length < MIN_SECRET_LENGTH ? `is too weak: at least ${MIN_SECRET_LENGTH} bytes once decoded` : null;
}

/**
 * A webhook key held without its id, `[key under gateways.<name>, what]`: `v-c-signature` names the key that signed
 * a notification, and a key of no id is tried whatever a notification names (as before the id was configurable), so
 * the keyId is not checked. Logged at every start and shown by check-config and the doctor.
 */
export function cybersourceWebhookKeyWarnings(gateway: {
  webhookSecret: string;
  webhookKeyId: string;
  webhookSecretPrevious: string;
  webhookKeyIdPrevious: string;
}): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (gateway.webhookSecret !== '' && gateway.webhookKeyId === '')
    out.push([
      'webhook_key_id',
      "is empty while webhook_secret is set: the key is tried for every notification, whatever keyId it names; set it to the digital signature key's keyId so a notification is checked with the key it names only",
    ]);
  if (gateway.webhookSecretPrevious !== '' && gateway.webhookKeyIdPrevious === '')
    out.push([
      'webhook_key_id_previous',
      'is empty while webhook_secret_previous is set: the previous key is tried for every notification, whatever keyId it names',
    ]);
  return out;
}

const CYBERSOURCE_SETTINGS = {
  merchantId: {
    secret: false,
    required: true,
    description: 'the merchant id (organization id) the HTTP Signature names and every webhook must name (`organizationId`)',
  },
  keyId: {
    secret: false,
    required: true,
    notSecretBecause: 'it is the public id of the shared-secret key pair, sent in clear in every Signature header',
    description: 'the key id of the REST shared-secret key pair (Business Center ▸ Key Management)',
  },
  sharedSecret: {
    secret: true,
    required: true,
    description: 'the shared secret of that key pair (base64), which signs every request (HTTP Signature, HMAC-SHA256)',
  },
  webhookSecret: { secret: true, check: signatureKeyProblem, description: 'the webhook digital signature key (base64); empty: every webhook refused' },
  webhookSecretPrevious: { secret: true, check: signatureKeyProblem, description: 'the previous digital signature key, still accepted while it rotates' },
  webhookKeyId: {
    secret: false,
    notSecretBecause: "it is the public id of the webhook digital signature key, sent in clear in every notification's v-c-signature",
    description:
      'the id of the webhook digital signature key (`keyInformation.keyId` beside `keyInformation.key` when the key was created): a notification is checked with the key its `v-c-signature` `keyId` names, and one naming a key not held here is refused (401, `unknown_key_id`); empty while webhook_secret is set: that key is tried whatever keyId a notification names (warned at start)',
  },
  webhookKeyIdPrevious: {
    secret: false,
    notSecretBecause: "it is the public id of the previous webhook digital signature key, sent in clear in every notification's v-c-signature",
    description: 'the id of the previous digital signature key (webhook_secret_previous), accepted while it rotates',
  },
  merchantAccount: { secret: false, description: 'the Token Management profile id (`profile-id` header of tokenize)' },
  webhookPrivateKey: {
    secret: true,
    check: mlePrivateKeyProblem,
    description:
      'the private key (PEM, RSA 2048+) of the message-level encryption key pair whose certificate Cybersource encrypts payment webhooks for; empty: an encrypted webhook is refused (422) until it is set',
  },
} as const;

/** Cybersource (REST API 2020-02-17: pts/v2, tss/v2, tms/v1). */
export const cybersourceGateway: GatewayDefinition<'cybersource', typeof CYBERSOURCE_SETTINGS> = {
  type: 'cybersource',
  title: 'Cybersource',
  transformer: cybersourceTransformer,
  settings: CYBERSOURCE_SETTINGS,
  flags: {
    // "Void" (developer.cybersource.com): "when you void a capture, a hold remains on the authorized funds. If you
    // are not going to re-capture the authorization, and if your processor supports authorization reversal after
    // void (ARAV), you should request an authorization reversal". Whether it does is the merchant account's, so
    // the operator says it.
    reverseAfterVoid: {
      description:
        "the processor supports authorization reversal after void (ARAV): after a cancel's void of the capture (or sale) that took the whole authorization, the bridge reverses the authorization's full amount (`POST /pts/v2/payments/{id}/reversals`, a cancel of its own, `payment.orphan_reversal: void_left_hold`); false: the hold stays until the issuer lets it expire (the cancel's event says `hold: left`)",
    },
  },
  testDouble: false,
  // cybersource-requests.ts cancelRequest: a cancel of a sale, or of an authorization its captures took in full,
  // is a void. One whose outcome says the authorization was reversed (REVERSED, payments.reversals.*) voided
  // nothing: a capture that succeeded while that reversal was in flight was not undone by it. Nor did the
  // reversal of what partial captures left: the recorder reads that from the ledger (`voidedByCancel`), whatever
  // the outcome's status (a status inquiry's names no reversal).
  cancelVoided: (outcome) => !/revers/i.test(outcome.gatewayStatus ?? ''),
  // "Void a Capture" and "Void a Refund": each by its own transaction id, refused (400 NOT_VOIDABLE) once settled.
  voidsOwnTransactions: ['capture', 'refund'],
  webhookAccount: (gateway) => gateway.merchantId,
  configWarnings: cybersourceWebhookKeyWarnings,
  // A Flex transient token is made for the merchant id whose capture context the storefront used; a TMS
  // token lives in that merchant's vault. The key pair (keyId) is the credential acting for it.
  methodBinding: { vaultKeys: ['merchantId', 'keyId'] },
  credentialCheck: {
    describe: 'POST /tss/v2/searches',
    credential: 'the HTTP Signature key pair and merchant id',
    keys: ['merchantId', 'keyId', 'sharedSecret'],
    request: () => buildCredentialCheckRequest(),
  },
  certification: {
    // A TMS customer id of the merchant's own test account: --token.
    testTokens: { currency: 'USD' },
    // A non-payment event type: acknowledged, nothing touched.
    checkNotification: (gateway, _reference, now) => {
      const id = `certify${Math.floor(now.getTime() / 1000)}`;
      const body = Buffer.from(
        JSON.stringify({ notificationId: id, retryNumber: 0, eventType: 'certify.round_trip', eventDate: now.toISOString(), payload: [] }),
      );
      const t = String(now.getTime());
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'v-c-signature': `t=${t};keyId=${gateway.webhookKeyId};sig=${webhookSignature(body, t, gateway.webhookSecret)}`,
        },
      };
    },
  },
  currencies: CYBERSOURCE_CURRENCIES,
  declines: CYBERSOURCE_DECLINES,
  facts: cybersourceFacts,
  // An authorization reversal (our cancel) of an authorization captured and settled is refused 400
  // `TRANSACTION_ALREADY_SETTLED` (the reversal's documented reasons); the answer states no captured amount, so no refund
  // is sized on it. `TRANSACTION_ALREADY_REVERSED_OR_SETTLED` does not say which, and `AUTH_ALREADY_REVERSED` is no capture.
  voidRefusedAsCaptured: (outcome) => (outcome.reason === 'TRANSACTION_ALREADY_SETTLED' ? {} : null),
  pspStatuses: [...CYBERSOURCE_STATUSES, ...CYBERSOURCE_TOKEN_STATES, ...CYBERSOURCE_WEBHOOK_EVENT_TYPES],
  // "Understanding authorizations" (https://developer.cybersource.com/docs/cybs/en-us/payments/developer/all/rest/payments/UnderstandAuth.html):
  // most authorizations expire between five and seven days, set by the issuing bank, which does not tell
  // Cybersource: the short end, 5 days (a warning a day early costs nothing).
  authorizationValidityMs: { default: 5 * DAY_MS },
  conformanceFixture: 'test/conformance/fixtures/cybersource.ts',
  reconciliation: cybersourceReconciliation,
};

import { GatewayDefinition } from '../gateway-definition';
import { adyenGateway } from '../adyen/adyen-gateway';
import { ADYEN_EVENT_CODES } from '../adyen/adyen-status-map';
import { adyenWebhookAuthWarnings } from '../adyen/adyen-webhook';
import { ADYEN_SV_CURRENCIES } from './adyen-stored-value-currencies';
import { ADYEN_SV_DECLINES } from './adyen-stored-value-declines';
import { adyenStoredValueFacts } from './adyen-stored-value-facts';
import { ADYEN_SV_RESULT_CODES } from './adyen-stored-value-status-map';
import { adyenStoredValueTransformer } from './adyen-stored-value-transformer';

const DAY_MS = 86_400_000;

/**
 * The same credentials as Adyen Checkout (an API credential of the merchant account, with the Stored
 * Value role), and the same webhook scheme: a Stored Value gateway usually shares both with the `adyen`
 * gateway that redeems its cards.
 */
const ADYEN_SV_SETTINGS = {
  apiKey: {
    secret: true,
    required: true,
    description: 'API key of the API credential (Customer Area ▸ Developers ▸ API credentials; needs the Stored Value role), sent as X-API-Key',
  },
  merchantAccount: { ...adyenGateway.settings.merchantAccount },
  webhookSecret: { ...adyenGateway.settings.webhookSecret },
  webhookSecretPrevious: { ...adyenGateway.settings.webhookSecretPrevious },
  keyId: { ...adyenGateway.settings.keyId },
  sharedSecret: { ...adyenGateway.settings.sharedSecret },
} as const;

/** Adyen Stored Value API v46: gift cards and other stored value cards (docs/payment-methods/stored-value.md). */
export const adyenStoredValueGateway: GatewayDefinition<'adyen-stored-value', typeof ADYEN_SV_SETTINGS> = {
  type: 'adyen-stored-value',
  title: 'Adyen Stored Value',
  transformer: adyenStoredValueTransformer,
  settings: ADYEN_SV_SETTINGS,
  flags: {
    // Adyen's issue guide: "If you are building a new Stored Value API integration, issuing SVS gift cards is not
    // supported. If you have an existing Stored Value API integration and have issued SVS gift cards, you can continue
    // doing so" (https://docs.adyen.com/payment-methods/gift-cards/stored-value-api/issue). Which one a merchant account
    // has is Adyen's to say, so the operator says it.
    issueSvs: {
      description:
        "the merchant account's Stored Value API integration already issued SVS cards (Adyen lets only such integrations go on issuing them): an `issue` with `submethod: svs` is sent; false: refused unsent (`ADYEN_SV_ISSUE_INVALID` naming `payment.method_details.submethod`), as Adyen supports no SVS issuing for a new integration",
    },
  },
  testDouble: false,
  webhookAccount: (gateway) => gateway.merchantAccount,
  configWarnings: adyenWebhookAuthWarnings,
  // A stored value card's token is the merchant account's, as Adyen's checkout tokens are.
  methodBinding: { vaultKeys: ['apiKey', 'merchantAccount'] },
  // The Stored Value API has no read-only call: a balance check of a card that does not exist changes
  // nothing anywhere, and answers 401/403 when the key or the merchant account is refused (a 200 Refused or
  // a 422 otherwise, both proving the credentials). The brand is svs: Adyen's balance check takes givex only for
  // in-person payments (https://docs.adyen.com/payment-methods/gift-cards/stored-value-api/check-balance).
  credentialCheck: {
    describe: 'POST /checkBalance',
    credential: 'the API key and merchant account',
    keys: ['apiKey', 'merchantAccount'],
    request: (gateway) => ({
      method: 'POST',
      path: '/checkBalance',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        merchantAccount: gateway.merchantAccount,
        reference: 'payment-bridge-doctor',
        paymentMethod: { type: 'svs' },
        recurringDetailReference: 'payment-bridge-doctor',
        shopperReference: 'payment-bridge-doctor',
      }),
    }),
  },
  certification: {
    // Gift card test numbers come from the card provider's test programme: --token.
    testTokens: { currency: 'EUR' },
    checkNotification: (gateway, reference, now) => adyenGateway.certification.checkNotification(gateway, reference, now),
    alsoAuthenticatedBy: (gateway) => adyenGateway.certification.alsoAuthenticatedBy?.(gateway) ?? [],
  },
  currencies: ADYEN_SV_CURRENCIES,
  declines: ADYEN_SV_DECLINES,
  facts: adyenStoredValueFacts,
  // Its webhooks are Adyen's standard notifications, read by Adyen's parser: their event codes are its statuses too.
  pspStatuses: [...ADYEN_SV_RESULT_CODES, ...ADYEN_EVENT_CODES],
  // Stored value transactions are final at once (no authorisation is held); a void is possible within 24
  // hours ("Void transaction: undo a Stored Value API transaction from the last 24 hours",
  // https://docs.adyen.com/payment-methods/gift-cards/stored-value-api).
  authorizationValidityMs: { default: DAY_MS },
  // The same window, one for every provider (the guide's per-provider table says which transactions, not how long):
  // "lets you undo transactions made with this API in the past 24 hours"
  // (https://docs.adyen.com/payment-methods/gift-cards/stored-value-api/void).
  storedValueVoidWindowMs: DAY_MS,
  conformanceFixture: 'test/conformance/fixtures/adyen-stored-value.ts',
};

import type { BoundMethodField } from '../../contracts/payment-method';
import type { Payment } from '../../contracts/payment-command';
import { GatewayDefinition } from '../gateway-definition';
import { MIN_SECRET_LENGTH } from '../secret-format';
import { STRIPE_CURRENCIES } from './stripe-currencies';
import { STRIPE_DECLINES } from './stripe-declines';
import { STRIPE_DISPUTE_STATUSES, stripeDisputeGatewayStatus } from './stripe-adjustments';
import { stripeFacts } from './stripe-facts';
import { merchantInitiatedCustomer } from './stripe-methods';
import { customAttribute } from './stripe-references';
import { stripeReconciliation } from './stripe-reconciliation';
import { PAYMENT_INTENT_STATUSES, REFUND_STATUSES, SETUP_INTENT_STATUSES } from './stripe-status-map';
import { stripeTransformer } from './stripe-transformer';
import { stripeSignatureHeader } from './stripe-webhook';
import { STRIPE_API_VERSION } from './stripe-requests';
import { stripeKeyMode } from './stripe-mode';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The endpoint's signing secret `whsec_…`, at least 16 characters after the prefix. */
function webhookSecretProblem(secret: string): string | null {
  if (!secret.startsWith('whsec_')) return 'is not a Stripe webhook signing secret (whsec_…)';
  return secret.length - 'whsec_'.length < MIN_SECRET_LENGTH ? `is too weak: at least ${MIN_SECRET_LENGTH} characters after whsec_` : null;
}

/** A Connect account id as Stripe writes it (`acct_` and its alphabet): it goes into the `Stripe-Account` header. */
function connectAccountProblem(account: string): string | null {
  return /^acct_[A-Za-z0-9]{1,255}$/.test(account) ? null : 'is not a Stripe Connect account id (acct_…)';
}

/** The Customer the command names (`stripe_customer`, `cus_…`): an object of one Stripe account. */
function stripeBoundReference(payment: Payment): BoundMethodField | null {
  return customAttribute(payment, 'stripe_customer') !== undefined ? 'payment.custom_attributes.stripe_customer' : null;
}

const STRIPE_SETTINGS = {
  apiKey: {
    secret: true,
    required: true,
    description: 'secret key `sk_…` or restricted key `rk_…` (Dashboard ▸ Developers ▸ API keys), sent as a Bearer token',
  },
  webhookSecret: { secret: true, check: webhookSecretProblem, description: "the webhook endpoint's signing secret `whsec_…`; empty: every webhook refused" },
  webhookSecretPrevious: { secret: true, check: webhookSecretProblem, description: 'the previous signing secret, still accepted while it rotates' },
  merchantAccount: {
    secret: false,
    check: connectAccountProblem,
    description:
      "the Connect account id `acct_…` to act as (direct charges): sent as `Stripe-Account` on every API call, and the account its webhooks must name (a Connect endpoint's events); empty: the key's own account, no header, only events that name no account",
  },
} as const;

/** Stripe (PaymentIntents API). */
export const stripeGateway: GatewayDefinition<'stripe', typeof STRIPE_SETTINGS> = {
  type: 'stripe',
  title: 'Stripe',
  transformer: stripeTransformer,
  settings: STRIPE_SETTINGS,
  testDouble: false,
  webhookAccount: (gateway) => gateway.merchantAccount,
  // A PaymentMethod (`pm_…`) and a card token (`tok_…`) live in the account that made them: the key's own,
  // or the Connect account it acts as (`Stripe-Account`).
  // So does a Customer (`stripe_customer`), which every PaymentIntent and SetupIntent sends when given.
  methodBinding: { vaultKeys: ['apiKey', 'merchantAccount'], boundReference: stripeBoundReference },
  // "Retrieve balance" (https://docs.stripe.com/api/balance/balance_retrieve): read-only.
  credentialCheck: {
    // With `merchant_account`, read as that Connect account (`Stripe-Account`): it also proves the key may act for it.
    describe: 'GET /v1/balance',
    credential: 'the API key',
    keys: ['apiKey'],
    // Pinned like every other call: the account's default version moves with a Dashboard upgrade.
    request: () => ({ method: 'GET', path: '/v1/balance', headers: { 'stripe-version': STRIPE_API_VERSION } }),
  },
  certification: {
    // Stripe's test PaymentMethods (https://docs.stripe.com/testing).
    testTokens: { token: 'pm_card_visa', declineToken: 'pm_card_chargeDeclined', currency: 'USD' },
    // `balance.available` names no operation: acknowledged, nothing touched.
    checkNotification: (gateway, _reference, now) => {
      const seconds = Math.floor(now.getTime() / 1000);
      const body = Buffer.from(
        JSON.stringify({
          id: `evt_certify${seconds}`,
          object: 'event',
          type: 'balance.available',
          created: seconds,
          // In the key's mode, as Stripe's own would be (a test mode one when the key names none).
          livemode: stripeKeyMode(gateway.apiKey) === 'live',
          data: { object: { object: 'balance', available: [], pending: [] } },
        }),
      );
      return { body, headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(body, seconds, gateway.webhookSecret) } };
    },
  },
  currencies: STRIPE_CURRENCIES,
  declines: STRIPE_DECLINES,
  facts: stripeFacts,
  // A cancel of a PaymentIntent `succeeded` (captured: in the Dashboard, or created with capture_method automatic) is
  // refused 400 `payment_intent_unexpected_state`, the PaymentIntent in the error with its `amount_received`; the status
  // inquiry of a cancel whose answer was lost reads the same PaymentIntent `succeeded` (a FAIL of the cancel).
  voidRefusedAsCaptured: (outcome) => (outcome.gatewayStatus === 'succeeded' ? (outcome.pspCaptured ? { captured: outcome.pspCaptured } : {}) : null),
  pspStatuses: [...PAYMENT_INTENT_STATUSES, ...SETUP_INTENT_STATUSES, ...REFUND_STATUSES, ...STRIPE_DISPUTE_STATUSES.map(stripeDisputeGatewayStatus)],
  // "Place a hold on a payment method" (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method) and
  // "Place an extended hold on an online card payment" (https://docs.stripe.com/payments/extended-authorization):
  // online card authorizations 7 days for most networks, Visa merchant-initiated ones (a re-authorization, a
  // recurring charge) "exactly 4 days and 18 hours", in-person (Terminal, `card_present`) 2 days (Visa 5 since
  // April 2024: the short end is kept); extended authorizations up to 30 days (opt-in per payment: configure
  // `authorizations.validity_ms` `stripe.card`). An authorization whose answer names its charge's
  // `capture_before` expires then instead (`GatewayOutcome.captureBefore`).
  authorizationValidityMs: { default: 7 * DAY_MS, card: 7 * DAY_MS, visa_mit: 4 * DAY_MS + 18 * HOUR_MS, card_present: 2 * DAY_MS },
  conformanceFixture: 'test/conformance/fixtures/stripe.ts',
  reconciliation: stripeReconciliation,
  checkMerchantInitiatedCharge: (payment) => void merchantInitiatedCustomer(payment),
};

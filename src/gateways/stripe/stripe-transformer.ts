import type { GatewayConfig } from '../gateway-config';
import { CommandType } from '../../contracts/payment-command';
import { withDecline, withDeclines } from '../gateway-declines';
import { STRIPE_DECLINES } from './stripe-declines';
import {
  GatewayOutcome,
  GatewayRequest,
  GatewayResponse,
  GatewayTransformer,
  OperationContext,
  SkippedWebhookItem,
  WebhookAck,
  WebhookEvent,
} from '../gateway-adapter';
import { SEARCHED_COMMANDS, STRIPE_SEARCH_LAG_MS, buildStripeRequest, buildStripeStatusRequest } from './stripe-requests';
import { parseStripeResponse, parseStripeStatusResponse, stripeStatusNextPage } from './stripe-responses';
import { parseStripeWebhook, verifyStripeWebhook } from './stripe-webhook';

const SUPPORTED: readonly CommandType[] = ['authorize', 'sale', 'capture', 'cancel', 'refund', 'validate', 'revalidate', 'tokenize'];

/**
 * Stripe (API version 2023-08-16): PaymentIntents, Refunds and PaymentMethods, form-encoded with bracket
 * notation, `Idempotency-Key` = our operation id on every POST and `metadata[operation_id]` on what can
 * carry it. See `stripe-requests.ts` for the request of each command and the status inquiries.
 *
 * Gateway configuration: `base_url` (https://api.stripe.com), `api_key` (secret key `sk_…`, sent as
 * `Authorization: Bearer`; its prefix names its mode, test or live, and a webhook event of the other is skipped,
 * see `parseStripeWebhook`), `webhook_secret` and `webhook_secret_previous` (`whsec_…`; the previous one
 * verifies during a secret roll), `merchant_account` (a Connect account `acct_…`; empty: the key's own
 * account). With `merchant_account`, every call (PaymentIntents, Refunds, SetupIntents, searches and
 * retrievals, reconciliation lists, exchange rates, the doctor's balance read) carries `Stripe-Account` and
 * acts on that connected account (direct charges), the account whose Connect events alone the webhook reads
 * (their `account`; another's is skipped as `other_account`, and the scope check refuses it too): without the
 * header the platform key would create the PaymentIntents on the platform, whose events name no account and are
 * skipped.
 */
export const stripeTransformer: GatewayTransformer = {
  type: 'stripe',
  supports: SUPPORTED,

  buildRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
    return buildStripeRequest(ctx, gateway);
  },

  parseResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return withDecline(parseStripeResponse(ctx, response, gateway.name), STRIPE_DECLINES);
  },

  buildStatusRequest(ctx: OperationContext): GatewayRequest {
    return buildStripeStatusRequest(ctx);
  },

  inquiryLagMs(command: CommandType): number {
    return SEARCHED_COMMANDS.has(command) ? STRIPE_SEARCH_LAG_MS : 0;
  },

  resendReplays: true,

  parseStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome | null {
    const outcome = parseStripeStatusResponse(ctx, response, gateway.name);
    return outcome === null ? null : withDecline(outcome, STRIPE_DECLINES);
  },

  nextStatusPage(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayRequest | null {
    return stripeStatusNextPage(ctx, response, gateway.name);
  },

  authenticate(request: GatewayRequest, gateway: GatewayConfig): GatewayRequest {
    const headers = { ...request.headers, authorization: `Bearer ${gateway.apiKey}` };
    return { ...request, headers: gateway.merchantAccount === '' ? headers : { ...headers, 'stripe-account': gateway.merchantAccount } };
  },

  verifyWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig, now: Date): boolean {
    return verifyStripeWebhook(rawBody, headers, [gateway.webhookSecret, gateway.webhookSecretPrevious], now);
  },

  parseWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped?: (item: SkippedWebhookItem) => void): WebhookEvent[] {
    return withDeclines(parseStripeWebhook(rawBody, gateway, skipped), STRIPE_DECLINES);
  },

  webhookAck(): WebhookAck {
    return { status: 200, body: JSON.stringify({ received: true }), contentType: 'application/json' };
  },
};

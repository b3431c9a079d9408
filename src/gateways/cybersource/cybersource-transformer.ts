import type { GatewayConfig } from '../gateway-config';
import { CommandType } from '../../contracts/payment-command';
import { withDecline, withDeclines } from '../gateway-declines';
import { CYBERSOURCE_DECLINES } from './cybersource-declines';
import {
  GatewayOutcome,
  GatewayRequest,
  GatewayResponse,
  GatewayTransformer,
  OperationContext,
  SkippedWebhookItem,
  StatusAnswer,
  WebhookAck,
  WebhookEvent,
} from '../gateway-adapter';
import { httpSignatureHeaders } from './cybersource-http-signature';
import { buildCybersourceCompletionRequest, buildCybersourceRequest, buildSearchRequest, buildTransactionDetailsRequest } from './cybersource-requests';
import { ActionResult } from '../../contracts/three-ds';
import { wantsPayerAuthentication } from './cybersource-payer-auth';
import {
  cybersourceDetailsToAsk,
  parseCybersourceDetailsAmount,
  parseCybersourceResponse,
  parseCybersourceSearchResponse,
  withRefundVoidAction,
} from './cybersource-responses';
import { CybersourceWebhookKey, parseCybersourceWebhook, unheldWebhookKeyId, verifyCybersourceWebhook } from './cybersource-webhook';

const SUPPORTED: readonly CommandType[] = ['authorize', 'sale', 'capture', 'cancel', 'refund', 'validate', 'revalidate', 'tokenize'];

/**
 * `host` and the path prefix of the gateway's `base_url` (`https://apitest.cybersource.com` → host
 * `apitest.cybersource.com`, prefix ``): the signature covers the request target exactly as sent.
 */
function origin(baseUrl: string): { host: string; prefix: string } {
  const url = new URL(baseUrl);
  return { host: url.host, prefix: url.pathname.replace(/\/+$/, '') };
}

/**
 * Cybersource REST (pts/v2 payments, tss/v2 transaction search, tms/v1 tokens), API of 2020-02-17.
 *
 * Duplicates: that API documents no idempotency-key header, and none is invented. Every state-changing
 * request carries the operation id as `clientReferenceInformation.code` (the merchant reference), and an
 * operation whose outcome is unknown is looked up by it (`POST /tss/v2/searches`) before any resend: a
 * search with no transaction of exactly that reference, once the attempt is older than the search's lag
 * ({@link CYBERSOURCE_SEARCH_LAG_MS}), means the request never landed (a summary of another reference is
 * never this operation's answer), and a search that fails is retried, never a miss. Tokenize (TMS) has no merchant reference; its
 * search finds nothing, and a resend links the same instrument identifier again, which creates no money
 * effect.
 *
 * Amounts found by an inquiry: a search summary names the amount asked (`totalAmount`), not the amount
 * authorized. When it says an authorization was approved in part (status `PARTIAL_AUTHORIZED`, reason
 * code 110), or says nothing either way, the inquiry's follow-up (`statusFollowUp`) reads the amount
 * authorized from the transaction's details (`GET /tss/v2/transactions/{id}`); otherwise one request.
 *
 * Gateway configuration: `base_url`, `merchant_id` (`v-c-merchant-id`), `key_id` and `shared_secret`
 * (base64, the REST shared-secret key), `merchant_account` (the TMS profile id), `webhook_secret` and
 * `webhook_secret_previous` (base64 digital signature keys of the webhook subscription) with their ids
 * `webhook_key_id` and `webhook_key_id_previous`.
 */
/**
 * How long the transaction search may miss a transaction Cybersource holds, ms. The search reads an index
 * filled after the fact (a new transaction's details can take minutes: "retry the API call 5 minutes
 * later"); 15 minutes is also how long Cybersource refuses a repeated authorization reference
 * (`DUPLICATE_REQUEST`). A younger miss is asked about again, never resent: no idempotency key protects a
 * second capture or refund.
 */
export const CYBERSOURCE_SEARCH_LAG_MS = 15 * 60 * 1000;

/**
 * How far back the status inquiry's search reaches, ms: its query asks for `submitTimeUtc` from 7 days before
 * the start of today (UTC), so a transaction of 7 days ago is always in it and one older may not be. A miss of an
 * older attempt proves nothing ({@link buildSearchRequest}).
 */
export const CYBERSOURCE_SEARCH_HORIZON_MS = 7 * 24 * 60 * 60 * 1000;

/** The webhook digital signature keys the gateway holds, by id: the current one and, during a rotation, the previous. */
function webhookKeys(gateway: GatewayConfig): CybersourceWebhookKey[] {
  return [
    { keyId: gateway.webhookKeyId, keyBase64: gateway.webhookSecret },
    { keyId: gateway.webhookKeyIdPrevious, keyBase64: gateway.webhookSecretPrevious },
  ];
}

export const cybersourceTransformer: GatewayTransformer = {
  type: 'cybersource',
  supports: SUPPORTED,
  // The 2020-02-17 API takes no idempotency key: a resend after an attempt with no recorded end asks first. Not a
  // tokenize nor a validate (a Transaction Details GET): their search never finds them, and sent again they move no
  // money (a second payment instrument, a second read): resent as before.
  resendIsNewRequest(command: CommandType): boolean {
    return command !== 'tokenize' && command !== 'validate';
  },

  buildRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
    return buildCybersourceRequest(ctx, gateway);
  },

  parseResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return withRefundVoidAction(ctx, withDecline(parseCybersourceResponse(ctx, response, gateway.name), CYBERSOURCE_DECLINES));
  },

  inquiryHorizonMs(command: CommandType): number {
    // Tokenize's search never finds it, and a resend moves no money: no horizon.
    return command === 'tokenize' ? 0 : CYBERSOURCE_SEARCH_HORIZON_MS;
  },

  buildStatusRequest(ctx: OperationContext): GatewayRequest {
    return buildSearchRequest(ctx);
  },

  inquiryLagMs(command: CommandType): number {
    // Tokenize carries no merchant reference (its search never finds it) and a resend moves no money.
    return command === 'tokenize' ? 0 : CYBERSOURCE_SEARCH_LAG_MS;
  },

  parseStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome | null {
    const outcome = parseCybersourceSearchResponse(ctx, response, gateway.name);
    if (outcome === null) return null;
    // A challenge still open is still waiting for the customer, not a refusal (cybersource-payer-auth.ts).
    if (
      outcome.gatewayStatus === 'PENDING_AUTHENTICATION' &&
      (ctx.command === 'authorize' || ctx.command === 'sale') &&
      wantsPayerAuthentication(ctx.payment, gateway)
    ) {
      const { reason: _reason, ...waiting } = outcome;
      return { ...waiting, status: 'ACTION_REQUIRED' };
    }
    return withRefundVoidAction(ctx, withDecline(outcome, CYBERSOURCE_DECLINES));
  },

  // A search summary names the amount asked; a partial authorization's amount held is in its details.
  statusFollowUp: {
    buildRequest(ctx: OperationContext, first: StatusAnswer, gateway: GatewayConfig): GatewayRequest | null {
      const id = cybersourceDetailsToAsk(ctx, first, gateway.name);
      return id === null ? null : buildTransactionDetailsRequest(id, gateway.name);
    },
    parseResponse(ctx: OperationContext, first: StatusAnswer, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
      return parseCybersourceDetailsAmount(ctx, first, response, gateway.name);
    },
  },

  authenticate(request: GatewayRequest, gateway: GatewayConfig, now: Date): GatewayRequest {
    const { host, prefix } = origin(gateway.baseUrl);
    const signed = httpSignatureHeaders({
      method: request.method,
      target: `${prefix}${request.path}`,
      host,
      date: now.toUTCString(),
      merchantId: gateway.merchantId,
      keyId: gateway.keyId,
      sharedSecretBase64: gateway.sharedSecret,
      body: request.body,
    });
    return { ...request, headers: { ...request.headers, ...signed } };
  },

  verifyWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig): boolean {
    return verifyCybersourceWebhook(rawBody, headers, webhookKeys(gateway));
  },

  unheldWebhookKey(headers: Record<string, string>, gateway: GatewayConfig): string | undefined {
    return unheldWebhookKeyId(headers, webhookKeys(gateway));
  },

  parseWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped?: (item: SkippedWebhookItem) => void): WebhookEvent[] {
    return withDeclines(parseCybersourceWebhook(rawBody, gateway.name, skipped, gateway.webhookPrivateKey, gateway.merchantId), CYBERSOURCE_DECLINES);
  },

  webhookAck(): WebhookAck {
    // Cybersource retries any answer that is not 2xx; it reads no body.
    return { status: 200, body: '', contentType: 'text/plain' };
  },

  buildActionCompletionRequest(ctx: OperationContext, result: ActionResult, gateway: GatewayConfig): GatewayRequest {
    return buildCybersourceCompletionRequest(ctx, result, gateway);
  },
};

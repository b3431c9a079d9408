import type { GatewayConfig } from '../gateway-config';
import { CommandType } from '../../contracts/payment-command';
import { withDeclines } from '../gateway-declines';
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
import { adyenWebhookAck, parseAdyenWebhook, verifyAdyenWebhook } from '../adyen/adyen-webhook';
import { ADYEN_SV_DECLINES, adyenSvDecline } from './adyen-stored-value-declines';
import { buildAdyenSvRequest } from './adyen-stored-value-requests';
import { parseAdyenSvResponse, parseAdyenSvStatusResponse } from './adyen-stored-value-responses';

/**
 * Adyen Stored Value API v46: gift card balance, reload, issue, status, merge, void and refund to the card
 * (requests: `adyen-stored-value-requests.ts`; statuses: `adyen-stored-value-status-map.ts`). Every answer
 * is final (no PENDING), so every command supports a status inquiry (the request again, same key).
 *
 * Webhooks: the Stored Value API settles nothing by webhook; the merchant account's standard notifications
 * (same HMAC and Basic-auth scheme as Checkout, `adyen-webhook.ts`) are verified and read the same way, so a
 * notification that does name one of this gateway's operations is handled like any Adyen one.
 */
export const ADYEN_SV_SUPPORTED_COMMANDS: readonly CommandType[] = Object.freeze([
  'balance_inquiry',
  'reload',
  'issue',
  'activate',
  'deactivate',
  'merge_balance',
  'cancel',
  'refund',
] as const);

export const adyenStoredValueTransformer: GatewayTransformer = Object.freeze({
  type: 'adyen-stored-value' as const,
  supports: ADYEN_SV_SUPPORTED_COMMANDS,

  buildRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
    return buildAdyenSvRequest(ctx, gateway);
  },

  parseResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return adyenSvDecline(parseAdyenSvResponse(ctx, response, gateway));
  },

  // The inquiry is the request sent again under its key: Adyen replays its stored answer.
  inquiryReplaysRequest: true,
  // So is a resend after an attempt with no recorded end: its refusal counts only with the key echoed.
  readsUnfinishedResendAsReplay: true,
  // /checkBalance reads the card: its replay is a read however late (Stored Value settles nothing by webhook).
  replayPerformsNothing: ['balance_inquiry'] as const,

  buildStatusRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
    return buildAdyenSvRequest(ctx, gateway);
  },

  parseStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return adyenSvDecline(parseAdyenSvStatusResponse(ctx, response, gateway));
  },

  authenticate(request: GatewayRequest, gateway: GatewayConfig): GatewayRequest {
    return { ...request, headers: { ...request.headers, 'X-API-Key': gateway.apiKey } };
  },

  verifyWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig): boolean {
    return verifyAdyenWebhook(rawBody, headers, gateway);
  },

  parseWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped?: (item: SkippedWebhookItem) => void): WebhookEvent[] {
    return withDeclines(parseAdyenWebhook(rawBody, gateway, skipped), ADYEN_SV_DECLINES);
  },

  webhookAck(): WebhookAck {
    return adyenWebhookAck();
  },
});

import type { GatewayConfig } from '../gateway-config';
import { CommandType } from '../../contracts/payment-command';
import { assertNever } from '../assert-never';
import { withDeclines } from '../gateway-declines';
import { ADYEN_DECLINES, adyenDecline } from './adyen-declines';
import {
  GatewayOutcome,
  GatewayRequest,
  GatewayResponse,
  GatewayTransformer,
  InquirySupport,
  OperationContext,
  SkippedWebhookItem,
  WebhookAck,
  WebhookEvent,
} from '../gateway-adapter';
import { buildAdyenRequest } from './adyen-requests';
import { parseAdyenResponse, parseAdyenStatusResponse } from './adyen-responses';
import { adyenWebhookAck, parseAdyenWebhook, verifyAdyenWebhook } from './adyen-webhook';

/**
 * Adyen Checkout API v71. `base_url` includes the version, e.g. `https://checkout-test.adyen.com/v71`.
 * Requests: see `adyen-requests.ts`; statuses: `adyen-status-map.ts`; errors: `adyen-errors.ts`;
 * webhooks: `adyen-webhook.ts`.
 *
 * Status inquiry: Checkout has no lookup of a payment or modification, by pspReference or by our
 * reference. The inquiry therefore sends the original request again with the same `Idempotency-Key`:
 * Adyen keeps the answer to an idempotent request (at least 31 days; the legacy page said 7) and replays
 * it for an identical request, so an operation that landed returns its original answer and nothing
 * happens twice. If the original never reached Adyen, this request performs it now, and its answer is the
 * outcome: either way the operation is resolved exactly once. No answer of Adyen's means "never landed": a
 * 404 comes from a route or an edge, and reads as `outcome_unknown` (asked again; never resent elsewhere).
 * Adyen's "API idempotency" page: "If the Adyen payments platform already processed the request, the response to
 * the first attempt will be returned without duplication"; keys are "valid for a minimum period of 31 days after
 * first submission" (its legacy page: 7). A key it never executed is no replay to it: the request is processed as
 * a new one. So the inquiry is a send, and is withheld where a send is not allowed
 * (`replayWithheldReason`, `src/delivery/resend-window.ts`): past 7 days after creation, and past
 * `delivery.max_age_ms` (the bridge gave up; the OMS was told UNRESOLVED). Such an operation is left to its
 * webhook (AUTHORISATION for what Adyen did) and to reconciliation.
 *
 * Modifications (capture, cancel, refund, and validate's amount update) are different: Adyen only
 * acknowledges them (`received`) and settles them by webhook (CAPTURE, CANCELLATION, REFUND,
 * AUTHORISATION_ADJUSTMENT, with `success` true or false) or in its settlement reports. Replaying the
 * request reads `received` again and tells nothing, so they declare `inquiry: 'webhook-only'`: they wait
 * PENDING for the webhook (an alert past `poller.webhook_wait_alert_ms`), never failed for the silence.
 * One whose request timed out (UNKNOWN) is sent again with the same `Idempotency-Key`, which is Adyen's
 * documented way to retry safely after a timeout: within the key's validity (at least 31 days; the bridge
 * resends within 7) Adyen performs the modification at most once and replays its stored answer for the
 * repeat.
 */
export const ADYEN_SUPPORTED_COMMANDS: readonly CommandType[] = Object.freeze([
  'authorize',
  'sale',
  'capture',
  'cancel',
  'refund',
  'validate',
  'revalidate',
  'tokenize',
] as const);

/** Whether Adyen can be asked about an operation of `command` (see the transformer's comment). */
export function adyenInquiry(command: CommandType): InquirySupport {
  switch (command) {
    case 'authorize':
    case 'sale':
    case 'revalidate':
    case 'tokenize':
      return 'supported';
    case 'capture':
    case 'cancel':
    case 'refund':
    case 'validate':
      return 'webhook-only';
    // Not carried by Checkout (the adyen-stored-value gateway carries them); nothing to ask about.
    case 'balance_inquiry':
    case 'reload':
    case 'issue':
    case 'activate':
    case 'deactivate':
    case 'merge_balance':
      return 'supported';
    default:
      return assertNever(command, 'command');
  }
}

export const adyenTransformer: GatewayTransformer = Object.freeze({
  type: 'adyen' as const,
  supports: ADYEN_SUPPORTED_COMMANDS,

  inquiry(command: CommandType): InquirySupport {
    return adyenInquiry(command);
  },

  buildRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
    return buildAdyenRequest(ctx, gateway);
  },

  parseResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return adyenDecline(parseAdyenResponse(ctx, response, gateway), response.body);
  },

  // The inquiry is the request sent again under its key: Adyen replays its stored answer.
  inquiryReplaysRequest: true,

  buildStatusRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
    return buildAdyenRequest(ctx, gateway);
  },

  parseStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return adyenDecline(parseAdyenStatusResponse(ctx, response, gateway), response.body);
  },

  authenticate(request: GatewayRequest, gateway: GatewayConfig): GatewayRequest {
    return { ...request, headers: { ...request.headers, 'X-API-Key': gateway.apiKey } };
  },

  verifyWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig): boolean {
    return verifyAdyenWebhook(rawBody, headers, gateway);
  },

  parseWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped?: (item: SkippedWebhookItem) => void): WebhookEvent[] {
    return withDeclines(parseAdyenWebhook(rawBody, gateway, skipped), ADYEN_DECLINES);
  },

  webhookAck(): WebhookAck {
    return adyenWebhookAck();
  },
});

import type { GatewayConfig } from '../gateway-config';
import { CommandType } from '../../contracts/payment-command';
import { withDecline, withDeclines } from '../gateway-declines';
import { SIMULATOR_DECLINES } from './simulator-declines';
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
import { buildSimulatorRequest, buildSimulatorStatusRequest } from './simulator-requests';
import { parseSimulatorResponse, parseSimulatorStatusResponse } from './simulator-responses';
import { parseSimulatorWebhook, verifySimulatorWebhook } from './simulator-webhook';

const SUPPORTED: readonly CommandType[] = [
  'authorize',
  'sale',
  'capture',
  'cancel',
  'refund',
  'validate',
  'revalidate',
  'tokenize',
  // Stored value (gift) cards; redemption is an authorize or sale with the card's gc_… token.
  'balance_inquiry',
  'reload',
  'issue',
  'activate',
  'deactivate',
  'merge_balance',
];

/**
 * Our PSP simulator (`harness/twins/psp-simulator/`): REST + JSON, amounts in minor units, Stripe-like
 * idempotency (`Idempotency-Key` = our operation id on every POST), status inquiry by that key
 * (`GET /v1/operations/:reference`), webhooks signed with `Simulator-Signature`.
 *
 * Gateway configuration: `base_url`, `api_key` (sent as `Authorization: Bearer`), `webhook_secret` and
 * `webhook_secret_previous` (HMAC keys of the webhooks; the previous one covers a rotation).
 */
export const simulatorTransformer: GatewayTransformer = {
  type: 'simulator',
  supports: SUPPORTED,

  buildRequest(ctx: OperationContext): GatewayRequest {
    return buildSimulatorRequest(ctx);
  },

  parseResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
    return withDecline(parseSimulatorResponse(ctx, response, gateway.name), SIMULATOR_DECLINES);
  },

  buildStatusRequest(ctx: OperationContext): GatewayRequest {
    return buildSimulatorStatusRequest(ctx);
  },

  parseStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome | null {
    const outcome = parseSimulatorStatusResponse(ctx, response, gateway.name);
    return outcome === null ? null : withDecline(outcome, SIMULATOR_DECLINES);
  },

  authenticate(request: GatewayRequest, gateway: GatewayConfig): GatewayRequest {
    return { ...request, headers: { ...request.headers, authorization: `Bearer ${gateway.apiKey}` } };
  },

  verifyWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig, now: Date): boolean {
    return verifySimulatorWebhook(rawBody, headers, [gateway.webhookSecret, gateway.webhookSecretPrevious], now);
  },

  parseWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped?: (item: SkippedWebhookItem) => void): WebhookEvent[] {
    return withDeclines(parseSimulatorWebhook(rawBody, gateway.name, skipped), SIMULATOR_DECLINES);
  },

  webhookAck(): WebhookAck {
    return { status: 200, body: JSON.stringify({ received: true }), contentType: 'application/json' };
  },
};

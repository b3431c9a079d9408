import { GatewayConfig } from '../config/config';
import { GatewayTransformer } from '../gateways/gateway-adapter';
import { SecretSlot } from '../web/signature-keys';

/**
 * Verifies a webhook with the gateway's own verifier and says which secret signed it: `current`
 * (`webhook_secret`), `previous` (`webhook_secret_previous`, kept during a rotation), or undefined (refuse).
 * Without a previous secret this is one verification; during a rotation a current signature is still one
 * and only a previous one costs a second. A batch (Adyen) signed partly with each counts as `previous`.
 */
export function matchWebhookSecret(
  transformer: GatewayTransformer,
  rawBody: Buffer,
  headers: Record<string, string>,
  gateway: GatewayConfig,
  now: Date,
): SecretSlot | undefined {
  if (gateway.webhookSecretPrevious === '') return transformer.verifyWebhook(rawBody, headers, gateway, now) ? 'current' : undefined;
  if (transformer.verifyWebhook(rawBody, headers, { ...gateway, webhookSecretPrevious: '' }, now)) return 'current';
  return transformer.verifyWebhook(rawBody, headers, gateway, now) ? 'previous' : undefined;
}

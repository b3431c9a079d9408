export { adyenTransformer, ADYEN_SUPPORTED_COMMANDS } from './adyen-transformer';
export { adyenWebhookAuthorization } from './adyen-webhook';

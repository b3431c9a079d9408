export { adyenStoredValueTransformer, ADYEN_SV_SUPPORTED_COMMANDS } from './adyen-stored-value-transformer';
export { adyenStoredValueGateway } from './adyen-stored-value-gateway';

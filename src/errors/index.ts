export { PaymentBridgeError } from './payment-bridge-error';
export { ConfigError } from './config-error';
export { CommandValidationError } from './command-validation-error';
export { DependencyUnavailableError } from './dependency-unavailable-error';
export { GatewayError, GatewayErrorKind } from './gateway-error';
export { MoneyRefusalError, MoneyRefusal } from './money-refusal-error';
export { COMMAND_REFUSED, commandRefused } from './command-refused';
export { errorClassOf, isDependencyOutage } from './dependency-outage';

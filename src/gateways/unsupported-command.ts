import { GatewayError } from '../errors/gateway-error';

/**
 * A command a gateway does not carry reached its request builder (delivery fails such a command with
 * `UNSUPPORTED_COMMAND` before any request, see `GatewayTransformer.supports`): a terminal `invalid_request`,
 * never sent. Used for the stored value card commands in the card gateways' exhaustive switches.
 */
export function unsupportedCommand(command: string, gateway: string): never {
  throw new GatewayError('invalid_request', gateway, `command ${command} is not carried by this gateway`, { gatewayCode: 'UNSUPPORTED_COMMAND' });
}

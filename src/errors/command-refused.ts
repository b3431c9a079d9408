import { CommandValidationError } from './command-validation-error';
import { errorClassOf } from './dependency-outage';
import { GatewayError } from './gateway-error';

/** `gatewayCode` (and so the OMS event's reason) of a command a gateway transformer refused to build. */
export const COMMAND_REFUSED = 'COMMAND_REFUSED';

/**
 * A transformer's refusal to build a request (a malformed Stripe id or Adyen reference, a revalidate
 * without a payment method), as a terminal `invalid_request` GatewayError: the same command can never be
 * built, so retrying it would loop forever. GatewayErrors pass through unchanged; anything else keeps the
 * field and reason (CommandValidationError never quotes the value) or only the error's class.
 */
export function commandRefused(err: unknown, gateway: string): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof CommandValidationError) {
    return new GatewayError('invalid_request', gateway, `${err.field} ${err.reason}`, { gatewayCode: COMMAND_REFUSED, field: err.field, cause: err });
  }
  return new GatewayError('invalid_request', gateway, `the request could not be built (${errorClassOf(err)})`, { gatewayCode: COMMAND_REFUSED, cause: err });
}

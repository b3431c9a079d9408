import { CommandType } from '../contracts/payment-command';
import { GatewayOutcome } from '../gateways/gateway-adapter';

/**
 * A webhook outcome as the outcome of an operation of `command`: for a revalidate that did not fail, with the
 * new gateway key its PSP's answer would have carried, the reference of the authorization it made (what
 * every gateway's revalidate answers: capture and cancel use it next). A webhook cannot tell it: Stripe's
 * event is a manual-capture PaymentIntent, read as an authorization whichever command created it, and Adyen's
 * `AUTHORISATION` names no command either; the operation the outcome settles knows its command. A key the
 * outcome carries is kept.
 */
export function withRevalidateKey(command: CommandType, outcome: GatewayOutcome): GatewayOutcome {
  if (command !== 'revalidate' || outcome.status === 'FAIL' || outcome.newGatewayKey !== undefined || outcome.gatewayReference === undefined) return outcome;
  return { ...outcome, newGatewayKey: outcome.gatewayReference };
}

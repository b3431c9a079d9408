import { GatewayRoute } from '../gateways/gateway-route';
import { OperationRecord } from '../ledger/ledger';

/** The router's refusal when the operation's gateway is missing from the configuration: held, not failed. */
export const UNKNOWN_GATEWAY = 'UNKNOWN_GATEWAY';

/**
 * Picks the gateway for an operation. Today: the gateway the command names, as configured. The seam for
 * routing rules (transaction type, currency, merchant agreement, caps with fallback) is here.
 * `refused: UNKNOWN_GATEWAY` means our configuration lacks it (recoverable: see `ConfigHold`); any other
 * refusal fails the operation.
 */
export interface GatewayRouter {
  route(op: OperationRecord): GatewayRoute | { refused: string };
}

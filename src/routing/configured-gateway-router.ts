import { GatewayRoute } from '../gateways/gateway-route';
import { GatewayRouter, UNKNOWN_GATEWAY } from './gateway-router';
import { OperationRecord } from '../ledger/ledger';

/**
 * Routes an operation to the gateway its command names (`payment.gateway`), if configured. Routing rules
 * by transaction type, currency and merchant agreement plug in here later, in front of this default.
 * A gateway missing from the configuration is `UNKNOWN_GATEWAY`: delivery holds it (see `ConfigHold`).
 */
export class ConfiguredGatewayRouter implements GatewayRouter {
  constructor(private readonly routes: ReadonlyMap<string, GatewayRoute>) {}

  route(op: OperationRecord): GatewayRoute | { refused: string } {
    return this.routes.get(op.payment.gateway) ?? { refused: UNKNOWN_GATEWAY };
  }
}

import { GatewayRoute } from '../gateways/gateway-route';
import { GatewayRouter, UNKNOWN_GATEWAY } from './gateway-router';
import { OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';

/**
 * Routes an operation to its gateway, if configured: the one the orchestration decided and recorded on the
 * operation (`routing.gateway`: rules, agreements, failover), else the one its command names
 * (`payment.gateway`). The decision itself is made by the orchestration pipeline (src/orchestration/).
 * A gateway missing from the configuration is `UNKNOWN_GATEWAY`: delivery holds it (see `ConfigHold`).
 */
export class ConfiguredGatewayRouter implements GatewayRouter {
  constructor(private readonly routes: ReadonlyMap<string, GatewayRoute>) {}

  route(op: OperationRecord): GatewayRoute | { refused: string } {
    return this.routes.get(gatewayOf(op)) ?? { refused: UNKNOWN_GATEWAY };
  }
}

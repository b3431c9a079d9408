import type { GatewayConfig } from './gateway-config';
import { GatewayRequest, GatewayResponse, GatewayTransformer } from './gateway-adapter';

/** Sends one request to a gateway (the shared thin client, `GatewayClient`); transport failures are GatewayErrors. */
export interface GatewaySender {
  send(request: GatewayRequest): Promise<GatewayResponse>;
}

/** A configured gateway with its transformer and its client (one keep-alive pool each): everything needed to talk to it. */
export interface GatewayRoute {
  gateway: GatewayConfig;
  transformer: GatewayTransformer;
  client: GatewaySender;
}

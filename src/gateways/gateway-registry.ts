import { Config, GatewayType } from '../config/config';
import { Logger } from '../logging/logger';
import { adyenTransformer } from './adyen/adyen-transformer';
import { assertNever } from './assert-never';
import { cybersourceTransformer } from './cybersource/cybersource-transformer';
import { GatewayClient } from './gateway-client';
import { GatewayTransformer } from './gateway-adapter';
import { GatewayRoute } from './gateway-route';
import { simulatorTransformer } from './simulator/simulator-transformer';
import { stripeTransformer } from './stripe/stripe-transformer';

/** The transformer of a gateway type. Exhaustive: a new type does not compile until it is added here. */
export function transformerFor(type: GatewayType): GatewayTransformer {
  switch (type) {
    case 'simulator':
      return simulatorTransformer;
    case 'stripe':
      return stripeTransformer;
    case 'adyen':
      return adyenTransformer;
    case 'cybersource':
      return cybersourceTransformer;
    default:
      return assertNever(type);
  }
}


export interface GatewayClientsOptions {
  /** Debug lines of every gateway call, bodies redacted. Default: silent. */
  logger?: Logger;
  /** Clock for request signatures. Default `() => new Date()`. */
  now?: () => Date;
  /** Trusted CA certificates, replacing the system roots (tests with local TLS servers). Default: system roots. */
  ca?: string | Buffer;
}

/** One route per configured gateway, keyed by the gateway's name as the bus spells it. */
export function createGatewayClients(config: Config, options: GatewayClientsOptions = {}): Map<string, GatewayRoute> {
  const routes = new Map<string, GatewayRoute>();
  for (const [name, gateway] of Object.entries(config.gateways)) {
    const transformer = transformerFor(gateway.type);
    const client = new GatewayClient(gateway, transformer, {
      proxy: config.proxy,
      now: options.now,
      logger: options.logger?.child({ gateway: name }),
      ca: options.ca,
    });
    routes.set(name, { gateway, transformer, client });
  }
  return routes;
}

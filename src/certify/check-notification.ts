import { GatewayConfig } from '../config/config';
import { CheckNotification } from '../gateways/gateway-definition';
import { gatewayDefinition } from '../gateways/gateway-registry';

export type { CheckNotification } from '../gateways/gateway-definition';

/**
 * A harmless notification for the certify webhook round trip: the gateway's own (its definition's
 * `certification.checkNotification`), signed with the configured webhook secret by the PSP's documented
 * scheme, of a kind the bridge acknowledges without touching any operation (Stripe `balance.available`,
 * Adyen `REPORT_AVAILABLE`, a non-payment Cybersource event type, a simulator notification naming
 * certify's own authorization, which the ledger does not hold).
 * @param reference certify's operation id, echoed where the PSP's format has a merchant reference.
 */
export function checkNotification(gateway: GatewayConfig, reference: string, now: Date): CheckNotification {
  return gatewayDefinition(gateway.type).certification.checkNotification(gateway, reference, now);
}

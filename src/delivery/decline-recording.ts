import { Config } from '../config/config';
import { Decline, declineOf } from '../errors/decline';
import { GatewayOutcome } from '../gateways/gateway-adapter';
import { bridgeDecline, outcomeDecline } from '../gateways/gateway-declines';
import { declineTableFor } from '../gateways/gateway-registry';
import { OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

const declines = counter('pb_declines_total', 'Operations failed, by gateway type and normalized decline category.', ['gateway_type', 'category']);
const unmapped = counter(
  'pb_decline_unmapped_total',
  'FAIL outcomes whose PSP code no decline table knows (category unknown): extend src/gateways/<name>/<name>-declines.ts.',
  ['gateway_type'],
);

/** The gateway type the operation is routed to, or `bridge` when the configuration has no such gateway. */
function gatewayTypeOf(op: OperationRecord, config: Config): string {
  return config.gateways[op.payment.gateway]?.type ?? 'bridge';
}

/** The decline of a FAIL outcome: the transformer's, else derived from the gateway's table. */
export function declineOfOutcome(op: OperationRecord, outcome: GatewayOutcome, config: Config): Decline {
  if (outcome.decline !== undefined) return outcome.decline;
  const type = config.gateways[op.payment.gateway]?.type;
  return type === undefined ? declineOf('unknown', outcome.reason ?? outcome.gatewayStatus) : outcomeDecline(declineTableFor(type), outcome);
}

/** The decline of a failure of ours, unless the caller (a terminal gateway error) has the PSP's one. */
export function declineOfFailure(reason: string, decline: Decline | undefined): Decline {
  return decline ?? bridgeDecline(reason);
}

/**
 * Counts a decline about to be recorded and, for a code no table knows, says so at warn with the raw code
 * (the fallback is never silent: the line tells which row to add).
 */
export function noteDecline(op: OperationRecord, decline: Decline, config: Config, logger: Logger): void {
  const type = gatewayTypeOf(op, config);
  declines.inc({ gateway_type: type, category: decline.category });
  if (decline.category !== 'unknown') return;
  unmapped.inc({ gateway_type: type });
  logger.warn('decline code not in the gateway decline table: reported as category unknown', {
    operation_id: op.id,
    gateway: op.payment.gateway,
    gateway_type: type,
    gateway_code: decline.gateway_code,
  });
}

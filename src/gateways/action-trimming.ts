import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { BoundedAction, MAX_ACTION_BYTES, boundedAction } from './customer-action';
import { GatewayOutcome } from './gateway-adapter';

const trimmed = counter(
  'pb_customer_actions_trimmed_total',
  'Customer actions a PSP sent above 32 KiB of JSON, by gateway and the part dropped before the action was queued, stored or sent to the OMS (psp_action | url | client_secret | other)',
  ['gateway', 'part'],
);

/**
 * `outcome` with its customer action bounded ({@link boundedAction}), and what was dropped when anything was;
 * the same outcome when it fits. The one bound every path applies before an action is queued (the webhook
 * route), stored in the ledger or sent to the OMS (the outcome recorder, whatever found the outcome: the
 * gateway's answer, a status inquiry, a webhook). Pure.
 */
export function withBoundedAction(outcome: GatewayOutcome): { outcome: GatewayOutcome; trimmed?: BoundedAction } {
  if (outcome.action === undefined) return { outcome };
  const bounded = boundedAction(outcome.action);
  if (bounded.action === outcome.action) return { outcome };
  return { outcome: { ...outcome, action: bounded.action }, trimmed: bounded };
}

/**
 * Counts an action {@link withBoundedAction} trimmed (`pb_customer_actions_trimmed_total{gateway,part}`, one
 * per part dropped) and says so in a warn line naming the operation (or what the webhook named): the storefront
 * gets less than the PSP sent (no `psp_action`: it falls back to the `url`, or to the PSP's library with the
 * client secret). Never the action's content.
 */
export function noteTrimmedAction(
  logger: Logger,
  bounded: BoundedAction,
  where: { gateway: string; source: string; operationId?: string; gatewayReference?: string; eventId?: string },
): void {
  for (const part of bounded.dropped) trimmed.inc({ gateway: where.gateway, part });
  logger.warn(`customer action above ${MAX_ACTION_BYTES} bytes: parts dropped before it is queued, stored or sent`, {
    operation_id: where.operationId,
    gateway: where.gateway,
    source: where.source,
    ...(where.gatewayReference !== undefined ? { gateway_reference: where.gatewayReference } : {}),
    ...(where.eventId !== undefined ? { event_id: where.eventId } : {}),
    action_kind: bounded.action.kind,
    action_bytes: bounded.bytes,
    dropped: bounded.dropped,
  });
}

import { counter, gauge } from '../metrics/metrics-registry';
import { OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';

/** Operations that became UNRESOLVED, by gateway and command (an alert rule: `increase(...) > 0`). */
const unresolvedTotal = counter('pb_operations_unresolved_total', 'Operations given up on without a final PSP answer (state UNRESOLVED).', [
  'gateway',
  'command',
]);
/** UNRESOLVED operations that a later PSP fact settled, by gateway, command and final status. */
const unresolvedSettledTotal = counter('pb_operations_unresolved_settled_total', 'UNRESOLVED operations settled later by a PSP fact.', [
  'gateway',
  'command',
  'status',
]);
/** UNRESOLVED operations in the ledger now (set by each poll run): an alert rule can use `> 0`. */
export const unresolvedGauge = gauge('pb_operations_unresolved', 'Operations in state UNRESOLVED right now (as of the last poll run).');
/** Webhook-only operations PENDING past `poller.webhook_wait_alert_ms`, by gateway and command (once each). */
const awaitingWebhookTotal = counter(
  'pb_operations_awaiting_webhook_alerts_total',
  'PENDING operations that settle only by webhook, alerted once past poller.webhook_wait_alert_ms.',
  ['gateway', 'command'],
);

/** The error line operators alert on (`alert: payment_unresolved`) and the counter, when an operation becomes UNRESOLVED. */
export function alertUnresolved(logger: Logger, op: OperationRecord, cause: string, details: Record<string, unknown> = {}): void {
  unresolvedTotal.inc({ gateway: op.payment.gateway, command: op.command });
  logger.error('operation UNRESOLVED: no final answer from the gateway; the OMS is told UNRESOLVED and a later PSP fact will settle it', {
    alert: 'payment_unresolved',
    operation_id: op.id,
    gateway: op.payment.gateway,
    command: op.command,
    state_before: op.state,
    cause,
    ...details,
  });
}

/** An UNRESOLVED operation settled by a later PSP fact: a warning (operators close the alert) and a counter. */
export function noteUnresolvedSettled(logger: Logger, op: OperationRecord, state: string, source: string): void {
  unresolvedSettledTotal.inc({ gateway: op.payment.gateway, command: op.command, status: state });
  logger.warn('UNRESOLVED operation settled by a later PSP fact', { operation_id: op.id, gateway: op.payment.gateway, command: op.command, state, source });
}

/** The once-per-operation alert for a webhook-only operation still PENDING past its allowed wait. */
export function alertAwaitingWebhook(logger: Logger, op: OperationRecord, ageMs: number): void {
  awaitingWebhookTotal.inc({ gateway: op.payment.gateway, command: op.command });
  logger.error('operation still waiting for the PSP webhook that settles it, past poller.webhook_wait_alert_ms; check the webhook setup or reconcile', {
    alert: 'payment_awaiting_webhook',
    operation_id: op.id,
    gateway: op.payment.gateway,
    command: op.command,
    age_ms: ageMs,
  });
}

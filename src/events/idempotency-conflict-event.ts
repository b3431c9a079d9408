import { Config } from '../config/config';
import { PaymentCommand } from '../contracts/payment-command';
import { bridgeDecline } from '../gateways/gateway-declines';
import { PaymentEvent, notificationFor, eventAnchor } from './payment-event';
import { withoutMethodToken } from '../contracts/payment-method';

/** The event `reason` (and dead-letter reason) of a command refused as an idempotency conflict. */
export const IDEMPOTENCY_CONFLICT = 'idempotency_conflict';

/**
 * The FAIL notification for a command refused because its operation id is already taken by a command with
 * other money fields. It reports the refused command (its own amount, currency, lines), never the original
 * operation, which stays untouched. Its id, `<operation id>.idempotency-conflict.<digest hex>`, cannot
 * collide with the original operation's events (`<operation id>.<STATE>`, `.refund-pending`), and the same
 * conflicting command redelivered maps to the same event (recorded once). Pure.
 * @param digest the refused command's digest (`commandDigest`).
 */
export function idempotencyConflictEvent(operationId: string, command: PaymentCommand, digest: string, config: Config): PaymentEvent {
  const eventId = `${operationId}.idempotency-conflict.${digest.replace(/^v\d+:/, '')}`;
  return {
    eventId,
    ...eventAnchor(command.payment),
    method: config.serviceBus.methods.notifications[notificationFor(command.command)],
    params: {
      payment: {
        ...withoutMethodToken(command.payment),
        operation_reference: operationId,
        status: 'FAIL',
        reason: IDEMPOTENCY_CONFLICT,
        field: 'payment.operation_reference',
        decline: bridgeDecline(IDEMPOTENCY_CONFLICT),
        requested_amount: command.payment.amount,
        requested_currency: command.payment.currency,
        gateway_command: command.command,
        gateway_response: { status: null, reference: null },
        gateway_response_time: 0,
        new_gateway_key: null,
        event_id: eventId,
      },
    },
  };
}

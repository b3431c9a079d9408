import { Config } from '../config/config';
import { OperationRecord } from '../ledger/ledger';
import { PaymentEvent, eventAnchor } from './payment-event';
import { reportedMoney } from './psp-discrepancy';

/**
 * The notice that an authorization expires soon (method `service_bus.method.authorization_expiring`), sent
 * once per authorization: event id `<authorization id>.expiring`, in the payment's event order. It names the
 * authorization (`operation_reference`, the PSP's `gateway_reference`), the order, the gateway, when it
 * expires (`expires_at`, ISO 8601 UTC) and what can still be captured (`amount_capturable`, minor units, in
 * `currency`): the authorized amount, since any succeeded capture closes the authorization's tracking.
 * `null` when the record carries no expiry.
 */
export function authorizationExpiringEvent(auth: OperationRecord, config: Config): PaymentEvent | null {
  if (auth.expiresAt === undefined) return null;
  const eventId = `${auth.id}.expiring`;
  const p = auth.payment;
  const held = reportedMoney(auth).reported;
  return {
    eventId,
    ...eventAnchor(p),
    method: config.serviceBus.methods.notifications.authorization_expiring,
    params: {
      payment: {
        gateway: p.gateway,
        gateway_account: p.gateway_account,
        gateway_key: auth.newGatewayKey ?? auth.gatewayReference ?? p.gateway_key,
        ...(p.order_id !== undefined ? { order_id: p.order_id } : {}),
        operation_reference: auth.id,
        gateway_command: auth.command,
        gateway_reference: auth.gatewayReference ?? null,
        status: 'EXPIRING',
        expires_at: new Date(auth.expiresAt).toISOString(),
        // What the PSP holds (its confirmed figure, a partial authorization's included), not what was asked.
        amount: held.amount,
        amount_capturable: held.amount,
        currency: held.currency,
        event_id: eventId,
      },
    },
  };
}

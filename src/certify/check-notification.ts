import { createHmac } from 'node:crypto';
import { GatewayConfig } from '../config/config';
import { assertNever } from '../gateways/assert-never';
import { adyenSigningString, adyenWebhookAuthorization } from '../gateways/adyen/adyen-webhook';
import { webhookSignature as cybersourceSignature } from '../gateways/cybersource/cybersource-webhook';
import { simulatorWebhookSignature } from '../gateways/simulator/simulator-webhook';
import { stripeSignatureHeader } from '../gateways/stripe/stripe-webhook';

/** A webhook notification signed exactly as the gateway's PSP signs one, ready to POST. */
export interface CheckNotification {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * A harmless notification for the certify webhook round trip: signed with the configured webhook secret
 * by the PSP's documented scheme, and of a kind the bridge acknowledges without touching any operation
 * (Stripe `balance.available`, Adyen `REPORT_AVAILABLE`, a non-payment Cybersource event type). The
 * simulator's notifications always name an operation: its one names `reference` (certify's own
 * authorization, which the ledger does not hold), so it changes nothing either.
 * @param reference certify's operation id, echoed where the PSP's format has a merchant reference.
 */
export function checkNotification(gateway: GatewayConfig, reference: string, now: Date): CheckNotification {
  const seconds = Math.floor(now.getTime() / 1000);
  const id = `certify${seconds}`;
  switch (gateway.type) {
    case 'stripe': {
      const body = Buffer.from(
        JSON.stringify({ id: `evt_${id}`, object: 'event', type: 'balance.available', created: seconds, livemode: false, data: { object: { object: 'balance', available: [], pending: [] } } }),
      );
      return { body, headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(body, seconds, gateway.webhookSecret) } };
    }
    case 'adyen': {
      const item = {
        amount: { currency: 'EUR', value: 0 },
        eventCode: 'REPORT_AVAILABLE',
        eventDate: now.toISOString(),
        merchantAccountCode: gateway.merchantAccount,
        merchantReference: reference,
        pspReference: id,
        reason: `certify round trip ${id}`,
        success: 'true',
        additionalData: {} as Record<string, string>,
      };
      item.additionalData.hmacSignature = createHmac('sha256', Buffer.from(gateway.webhookSecret, 'hex')).update(adyenSigningString(item), 'utf8').digest('base64');
      const body = Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] }));
      return { body, headers: { 'content-type': 'application/json', authorization: adyenWebhookAuthorization(gateway) } };
    }
    case 'cybersource': {
      const body = Buffer.from(JSON.stringify({ notificationId: id, retryNumber: 0, eventType: 'certify.round_trip', eventDate: now.toISOString(), payload: [] }));
      const t = String(now.getTime());
      return { body, headers: { 'content-type': 'application/json', 'v-c-signature': `t=${t};keyId=${gateway.keyId};sig=${cybersourceSignature(body, t, gateway.webhookSecret)}` } };
    }
    case 'simulator': {
      const body = Buffer.from(JSON.stringify({ id: `evt_${id}`, type: 'authorization.succeeded', created: seconds, data: { object: { id: `auth_${id}`, reference, status: 'authorized' } } }));
      return { body, headers: { 'content-type': 'application/json', 'simulator-signature': `t=${seconds},v1=${simulatorWebhookSignature(body, seconds, gateway.webhookSecret)}` } };
    }
    default:
      return assertNever(gateway.type, 'gateway type');
  }
}

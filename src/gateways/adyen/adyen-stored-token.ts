import { GatewayError } from '../../errors/gateway-error';
import { Payment } from '../../contracts/payment-command';

/**
 * The key the OMS keeps for a card stored at Adyen. Adyen charges a stored card only with both the
 * `storedPaymentMethodId` and the `shopperReference` it was stored under, so the key we hand out
 * (tokenize's `new_gateway_key`) carries both: `<shopperReference>:<storedPaymentMethodId>`. A bare
 * storedPaymentMethodId (stored elsewhere, e.g. by Drop-in at checkout) works too when the payment's
 * `custom_attributes.shopper_reference` names the shopper.
 */
export interface AdyenStoredToken {
  shopperReference: string;
  storedPaymentMethodId: string;
}

/** Adyen's minimum length of a shopperReference. */
const MIN_SHOPPER_REFERENCE = 3;

/**
 * A custom attribute by name, from either shape the bus may send: an object (`{ shopper_reference: "…" }`)
 * or a list of `{ attribute_code | code | name | key, value }` entries. Only string values count.
 */
export function customAttribute(payment: Payment, name: string): string | undefined {
  const attrs = payment.custom_attributes;
  if (!attrs) return undefined;
  if (Array.isArray(attrs)) {
    for (const entry of attrs) {
      const label = entry.attribute_code ?? entry.code ?? entry.name ?? entry.key;
      if (label === name && typeof entry.value === 'string') return entry.value;
    }
    return undefined;
  }
  const value = attrs[name];
  return typeof value === 'string' ? value : undefined;
}

/** The key handed to the OMS for a stored card. */
export function formatStoredToken(token: AdyenStoredToken): string {
  return `${token.shopperReference}:${token.storedPaymentMethodId}`;
}

/**
 * Reads a stored-card key (see the file comment). The storedPaymentMethodId never holds `:`, so the key
 * splits at its last one. Throws `invalid_request` (reason `ADYEN_STORED_TOKEN_INCOMPLETE`) when the
 * shopper cannot be told: nothing was sent, and a resend would not help.
 */
export function parseStoredToken(key: string, payment: Payment, gateway: string): AdyenStoredToken {
  const cut = key.lastIndexOf(':');
  const shopperReference = cut > 0 ? key.slice(0, cut) : customAttribute(payment, 'shopper_reference');
  const storedPaymentMethodId = cut > 0 ? key.slice(cut + 1) : key;
  if (!storedPaymentMethodId || !shopperReference || shopperReference.length < MIN_SHOPPER_REFERENCE) {
    throw new GatewayError(
      'invalid_request',
      gateway,
      'a stored Adyen card needs <shopperReference>:<storedPaymentMethodId> or custom_attributes.shopper_reference',
      {
        gatewayCode: 'ADYEN_STORED_TOKEN_INCOMPLETE',
      },
    );
  }
  return { shopperReference, storedPaymentMethodId };
}

/**
 * The shopperReference a new stored card is filed under: `custom_attributes.shopper_reference` when the
 * channel names the shopper, else the operation id (one shopper per token: the key carries it anyway).
 */
export function shopperReferenceForNewToken(payment: Payment, operationId: string): string {
  const named = customAttribute(payment, 'shopper_reference');
  return named && named.length >= MIN_SHOPPER_REFERENCE ? named : operationId;
}

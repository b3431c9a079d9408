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

/** A stored-card key's parts: the storedPaymentMethodId never holds `:`, so the key splits at its last one. */
function storedTokenParts(key: string, payment: Payment): { shopperReference?: string; storedPaymentMethodId: string; shopperInKey: boolean } {
  const cut = key.lastIndexOf(':');
  if (cut > 0) return { shopperReference: key.slice(0, cut), storedPaymentMethodId: key.slice(cut + 1), shopperInKey: true };
  return { shopperReference: customAttribute(payment, 'shopper_reference'), storedPaymentMethodId: key, shopperInKey: false };
}

/** What a stored-card key lacks for Adyen to charge the card: the field of the payment to fix and why. */
export interface StoredTokenProblem {
  field: 'payment.gateway_key' | 'payment.custom_attributes.shopper_reference';
  reason: string;
}

/**
 * What `key` (the payment's `gateway_key`) lacks for Adyen to charge its stored card, or null when it names
 * both the storedPaymentMethodId and the shopperReference it was stored under (see the file comment): the
 * rule {@link parseStoredToken} applies at a charge, and a recurring schedule at its creation.
 */
export function storedTokenProblem(key: string, payment: Payment): StoredTokenProblem | null {
  const { shopperReference, storedPaymentMethodId, shopperInKey } = storedTokenParts(key, payment);
  if (!storedPaymentMethodId) return { field: 'payment.gateway_key', reason: 'names no storedPaymentMethodId (<shopperReference>:<storedPaymentMethodId>)' };
  if (!shopperReference) {
    return {
      field: 'payment.custom_attributes.shopper_reference',
      reason:
        'is required: Adyen charges a stored card only with the shopperReference it was stored under, and the gateway_key names none (<shopperReference>:<storedPaymentMethodId>)',
    };
  }
  if (shopperReference.length < MIN_SHOPPER_REFERENCE) {
    return {
      field: shopperInKey ? 'payment.gateway_key' : 'payment.custom_attributes.shopper_reference',
      reason: `names a shopperReference shorter than Adyen's minimum of ${MIN_SHOPPER_REFERENCE} characters`,
    };
  }
  return null;
}

/**
 * Reads a stored-card key (see the file comment). Throws `invalid_request` (reason
 * `ADYEN_STORED_TOKEN_INCOMPLETE`, the field of {@link storedTokenProblem}) when the shopper cannot be told:
 * nothing was sent, and a resend would not help.
 */
export function parseStoredToken(key: string, payment: Payment, gateway: string): AdyenStoredToken {
  const problem = storedTokenProblem(key, payment);
  if (problem) {
    throw new GatewayError(
      'invalid_request',
      gateway,
      'a stored Adyen card needs <shopperReference>:<storedPaymentMethodId> or custom_attributes.shopper_reference',
      { gatewayCode: 'ADYEN_STORED_TOKEN_INCOMPLETE', field: problem.field },
    );
  }
  const { shopperReference, storedPaymentMethodId } = storedTokenParts(key, payment);
  return { shopperReference: shopperReference as string, storedPaymentMethodId };
}

/**
 * The shopperReference a new stored card is filed under: `custom_attributes.shopper_reference` when the
 * channel names the shopper, else the operation id (one shopper per token: the key carries it anyway).
 */
export function shopperReferenceForNewToken(payment: Payment, operationId: string): string {
  const named = customAttribute(payment, 'shopper_reference');
  return named && named.length >= MIN_SHOPPER_REFERENCE ? named : operationId;
}

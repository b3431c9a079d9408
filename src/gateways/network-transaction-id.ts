import { hasNetworkTransactionIdShape } from '../logging/network-transaction-id-field';

export { NETWORK_TRANSACTION_ID_FIELD } from '../logging/network-transaction-id-field';

/**
 * The network transaction id a PSP's field holds (the card scheme's id of the payment: Visa's Transaction
 * Identifier, Mastercard's Trace ID…, what a later merchant-initiated payment of the same stored credential quotes):
 * a string of letters and digits (trimmed), up to 64 characters; `undefined` for anything else (absent, null as
 * Stripe sends for brands without one, a number, other text). Never invents one. Pure.
 */
export function networkTransactionIdOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const id = value.trim();
  return hasNetworkTransactionIdShape(id) ? id : undefined;
}

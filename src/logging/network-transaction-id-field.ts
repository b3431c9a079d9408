/**
 * The one field name a card scheme's transaction id is carried under (the record, the history, the event's
 * `payment.network_transaction_id`), and its shape. The id is no card data, but a Visa one is 15 digits and may pass
 * the Luhn check: the log redactor and the export keep a value of this shape whole under this name only
 * (docs/EVENTS.md, "network_transaction_id"); the same digits anywhere else are masked or refused as ever.
 */
export const NETWORK_TRANSACTION_ID_FIELD = 'network_transaction_id';

/**
 * Letters and digits only, as every scheme writes its id (Visa 15 digits, Mastercard 9 to 15 characters), and no
 * longer than the command's own `recurring.network_transaction_id` (64).
 */
const SHAPE = /^[A-Za-z0-9]{1,64}$/;

/** Whether `value` is a string of a network transaction id's shape. */
export function hasNetworkTransactionIdShape(value: unknown): value is string {
  return typeof value === 'string' && SHAPE.test(value);
}

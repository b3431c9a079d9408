/**
 * The one field name a card scheme's transaction id is carried under (the record, the history, the event's
 * `payment.network_transaction_id`), and its shape. The id is no card data, but a Visa one is 15 digits and may pass
 * the Luhn check: the log redactor keeps a {@link PspNetworkTransactionId} whole (the bridge's own history entry), and
 * the export keeps the record's, the history's and the event's own field whole (docs/EVENTS.md,
 * "network_transaction_id"); the same digits anywhere else, a channel's command under the same name included, are
 * masked or refused as ever.
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

/**
 * A network transaction id a PSP's answer named (`GatewayOutcome.networkTransactionId`), as the bridge writes it in its
 * own history entry: the log redactor passes it whole, as it does a `HashDigest`, where a plain string under the same
 * name (a channel's `payment.recurring.network_transaction_id`, a `custom_attributes` member) is scanned as ever. Made
 * only by the outcome recorder from the PSP's answer, never from a command. JSON and template strings write the id.
 */
export class PspNetworkTransactionId {
  private constructor(
    /** The id, of the shape `hasNetworkTransactionIdShape` checks. */
    readonly id: string,
  ) {}

  /** `id` wrapped, or undefined when it is not of an id's shape. */
  static of(id: string): PspNetworkTransactionId | undefined {
    return hasNetworkTransactionIdShape(id) ? new PspNetworkTransactionId(id) : undefined;
  }

  toJSON(): string {
    return this.id;
  }

  toString(): string {
    return this.id;
  }
}

/**
 * Stored value (gift) card commands. A gift card is always named by a token (`payment.gateway_key`: the
 * PSP's stored-card reference, or the simulator's `gc_…`), never by its number or PIN: both are card data,
 * refused at intake like a card number or CVV (see `card-data-policy.ts` and `logging/redact.ts`).
 *
 * | command | what it does | money |
 * | --- | --- | --- |
 * | `balance_inquiry` | reads the card's balance; the event carries `balance` | none (`amount` 0 or the amount the shopper wants to pay) |
 * | `reload` | adds `amount` to the card | credit |
 * | `issue` | issues a new card (with `amount` as its first balance); `new_gateway_key` is its token | credit |
 * | `activate` / `deactivate` | changes the card's status | none |
 * | `merge_balance` | moves the whole balance of `stored_value.source_gateway_key` onto the card | none for the merchant |
 *
 * Redemption is `authorize` / `sale` with `method_details.method: giftcard`; its void is `cancel` and the
 * refund to the card is `refund` (see docs/payment-methods/stored-value.md).
 */
export const STORED_VALUE_COMMAND_TYPES = ['balance_inquiry', 'reload', 'issue', 'activate', 'deactivate', 'merge_balance'] as const;
export type StoredValueCommandType = (typeof STORED_VALUE_COMMAND_TYPES)[number];

/** `method_details.method` of a gift card redemption (an `authorize` or `sale` paid with a stored value card). */
export const GIFT_CARD_METHOD = 'giftcard';

/** Whether `command` is one of the stored value card commands (which card gateways do not carry). */
export function isStoredValueCommand(command: string): command is StoredValueCommandType {
  return (STORED_VALUE_COMMAND_TYPES as readonly string[]).includes(command);
}

/**
 * Whether the amount a PSP confirms for `command` is the card's balance rather than the operation's amount
 * (a balance inquiry moves no money: what comes back is what is on the card, not a discrepancy).
 */
export function confirmsBalance(command: string): boolean {
  return command === 'balance_inquiry';
}

/** `payment.stored_value`: what some stored value commands need beyond the card token. */
export interface StoredValueDetails {
  /** `merge_balance`: the token of the card whose balance moves onto `gateway_key`. */
  source_gateway_key?: string;
}

import { CardDetails, cardExpiryMonth, cardExpiryYear } from '../contracts/payment-command';
import type { OperationRecord } from '../ledger/ledger';
import type { StoredCard } from '../gateways/stored-card';

/** The event's `stored_card.discrepancy` (and `reason` when it has none): the PSP stored another card than the OMS described. */
export const CARD_MISMATCH = 'card_mismatch';

/** The command's card fields a PSP-confirmed stored card can contradict. */
export type StoredCardField = 'last_four_digits' | 'expiration_month' | 'expiration_year';

/**
 * The fields of the card the OMS described (`method_details.card`) that the PSP confirmed otherwise, in a
 * fixed order; empty when they agree or either side is silent on a field. The brand is not compared: each
 * PSP names brands its own way (`mc`, `mastercard`, `002`). Pure.
 */
export function storedCardMismatches(sent: CardDetails | undefined, confirmed: StoredCard): StoredCardField[] {
  if (!sent) return [];
  const fields: StoredCardField[] = [];
  if (confirmed.lastFour !== undefined && typeof sent.last_four_digits === 'string' && sent.last_four_digits.trim() !== confirmed.lastFour) {
    fields.push('last_four_digits');
  }
  // The OMS may send the expiry as integers or as the MIB's strings ("03", "31"): compared as numbers.
  const month = cardExpiryMonth(sent);
  if (confirmed.expiryMonth !== undefined && month !== undefined && month !== confirmed.expiryMonth) {
    fields.push('expiration_month');
  }
  const year = cardExpiryYear(sent);
  if (confirmed.expiryYear !== undefined && year !== undefined && year !== confirmed.expiryYear) {
    fields.push('expiration_year');
  }
  return fields;
}

/**
 * The event's `payment.stored_card` for an operation whose stored card the PSP described: the PSP's
 * figures in the OMS's own names (`method_details.card`'s), and, when they contradict the card the command
 * described, `discrepancy: "card_mismatch"` with `mismatched_fields`. `undefined` when the PSP described
 * none. Pure.
 */
export function storedCardReport(op: Pick<OperationRecord, 'storedCard' | 'payment'>): Record<string, unknown> | undefined {
  const card = op.storedCard;
  if (!card) return undefined;
  const report: Record<string, unknown> = {};
  if (card.brand !== undefined) report.brand = card.brand;
  if (card.lastFour !== undefined) report.last_four_digits = card.lastFour;
  if (card.expiryMonth !== undefined) report.expiration_month = card.expiryMonth;
  if (card.expiryYear !== undefined) report.expiration_year = card.expiryYear;
  const mismatched = storedCardMismatches(op.payment.method_details?.card, card);
  if (mismatched.length > 0) {
    report.discrepancy = CARD_MISMATCH;
    report.mismatched_fields = mismatched;
  }
  return report;
}

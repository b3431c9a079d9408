import { isKnownCurrency } from '../../../src/money/currencies';
import { MAX_MINOR_AMOUNT } from '../../../src/money/minor-units';

/**
 * The simulator's stored value (gift) cards: a balance per card token (`gc_…`), in one currency.
 *
 * A token the simulator has not seen is a card whose balance is the number its token ends with
 * (`gc_demo_5000` holds 5000 minor units; `gc_empty` holds 0), in the currency of its first request, so
 * tests and the demo need no set-up; `POST /_control/gift-cards {token, balance, currency, active?}` sets one.
 *
 * Redemption is an ordinary authorization (`POST /v1/authorizations`) with the card as `payment_method`:
 * it holds the amount on the card at once (declined `insufficient_funds` when the card holds less,
 * `gift_card_inactive`, `currency_mismatch`); a cancel gives the hold back, a refund credits the card.
 */
export interface GiftCard {
  token: string;
  balance: number;
  currency: string;
  active: boolean;
}

/** Results of the stored value endpoints (`object: gift_card_…`). `amount` is the operation's; `balance` the card's after it. */
export interface GiftCardView {
  id: string;
  object: 'gift_card_balance' | 'gift_card_load' | 'gift_card_issue' | 'gift_card_status' | 'gift_card_merge';
  /** `succeeded`; a status change answers the card's new status, `active` or `inactive`. */
  status: 'succeeded' | 'active' | 'inactive';
  gift_card: string;
  amount: number;
  balance: number;
  currency: string;
  reference: string;
  created: number;
}

/** Whether a payment method names a gift card. */
export function isGiftCardToken(paymentMethod: string): boolean {
  return paymentMethod.startsWith('gc_');
}

function initialBalance(token: string): number {
  const m = /_(\d{1,12})$/.exec(token);
  const n = m ? Number(m[1]) : 0;
  return n <= MAX_MINOR_AMOUNT ? n : 0;
}

export class GiftCards {
  private readonly cards = new Map<string, GiftCard>();

  /** The card, created on first use (see the file comment). */
  card(token: string, currency: string): GiftCard {
    let card = this.cards.get(token);
    if (!card) {
      card = { token, balance: initialBalance(token), currency, active: true };
      this.cards.set(token, card);
    }
    return card;
  }

  /** Sets a card (control API). */
  set(token: string, balance: number, currency: string, active = true): GiftCard {
    const card = { token, balance, currency, active };
    this.cards.set(token, card);
    return card;
  }

  /** Why the card cannot pay `amount` in `currency` (a decline code), or undefined after holding it. */
  hold(token: string, amount: number, currency: string): string | undefined {
    const card = this.card(token, currency);
    if (!card.active) return 'gift_card_inactive';
    if (card.currency !== currency) return 'currency_mismatch';
    if (card.balance < amount) return 'insufficient_funds';
    card.balance -= amount;
    return undefined;
  }

  /** Gives `amount` back to the card (a cancelled hold, a refund). */
  credit(token: string, amount: number): void {
    const card = this.cards.get(token);
    if (card) card.balance += amount;
  }

  clear(): void {
    this.cards.clear();
  }

  /** Validates a control body; the card, or what is wrong. */
  static control(body: Record<string, unknown>): { token: string; balance: number; currency: string; active: boolean } | string {
    const { token, balance, currency, active } = body;
    if (typeof token !== 'string' || !isGiftCardToken(token)) return 'token must be a gc_… string';
    if (typeof balance !== 'number' || !Number.isSafeInteger(balance) || balance < 0) return 'balance must be a non-negative integer of minor units';
    if (typeof currency !== 'string' || !isKnownCurrency(currency)) return 'currency must be an ISO 4217 code';
    if (active !== undefined && typeof active !== 'boolean') return 'active must be a boolean';
    return { token, balance, currency, active: active !== false };
  }
}

import { CommandValidationError } from '../errors/command-validation-error';
import { MAX_MINOR_AMOUNT } from '../money/minor-units';
import type { PaymentCommand } from './payment-command';

/**
 * Split tender on the canonical command: an `authorize` or `sale` whose `payment.tenders` lists a gift card
 * part and a card part pays one order with both. `payment.amount` is the order's total; the gift card pays
 * its `amount`, the card only the remainder (`amount - gift card amount`, which may be 0: then no card is
 * charged). The envelope's `gateway`, `gateway_account` and `gateway_key` are the card tender's (routing,
 * rate limits and validation profiles apply to the card part as to any card payment).
 *
 * A `refund` with `payment.split_tender: true` refunds a split tender order: its `gateway_key` is the split's
 * id (the order's operation reference, as the split's events report it), and the bridge spreads the amount
 * over the tenders in the configured order (`split_tender.refund_order`, card first by default).
 *
 * See docs/payment-methods/stored-value.md.
 */

/** One tender of a split payment. Amounts are integers of minor units of the payment's currency. */
export interface Tender {
  /** `gift_card`: a stored value card named by its token; `card`: the card paying the remainder. */
  type: 'gift_card' | 'card';
  gateway: string;
  gateway_account: string;
  /** The PSP's token of the card or gift card (never its number or PIN). */
  gateway_key: string;
  /** The gift card part (required on `gift_card`); on `card`, optional, and then it must be the remainder. */
  amount?: number;
  /** The gift card's brand (`givex`, `svs`, … as the PSP names it); becomes `method_details.submethod`. */
  brand?: string;
}

/** Commands that may carry `payment.tenders`. */
export const SPLIT_TENDER_COMMANDS = ['authorize', 'sale'] as const;

const REFERENCE_KEY = { type: 'string', minLength: 1, maxLength: 255, not: { enum: ['.', '..'] } } as const;

/** JSON Schema of `payment.tenders` (cross-field rules are in {@link checkTenders}). */
export const tendersSchema = {
  type: 'array',
  minItems: 2,
  maxItems: 2,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'gateway', 'gateway_account', 'gateway_key'],
    properties: {
      type: { enum: ['gift_card', 'card'] },
      gateway: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' },
      gateway_account: { type: 'string', minLength: 1, maxLength: 128 },
      gateway_key: REFERENCE_KEY,
      amount: { type: 'integer', minimum: 0, maximum: MAX_MINOR_AMOUNT },
      brand: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    },
  },
} as const;

/** JSON Schema of `payment.split_tender` (the refund of a split tender order). */
export const splitTenderFlagSchema = { const: true } as const;

/**
 * Fields of `payment` a split tender cannot honour, each with why (the refusal's reason). A split's steps are
 * commands of their own built from its plan (`split-tender-plan.ts`): the card part names the card by its token
 * (`gateway_key`) and nothing else about how it pays, so these would be dropped on the way to the PSP. They are
 * refused at intake, naming the field, rather than lost. An empty list (`lines: []`) carries nothing and passes.
 */
export const FIELDS_NOT_CARRIED_BY_SPLITS = {
  payment_method:
    'is not carried by a split tender: its card part is paid by the stored token in payment.gateway_key (payment.tenders[].gateway_key); send a one-time method, wallet or redirect method as an authorize or sale of its own',
  three_ds: 'is not carried by a split tender: its card part is authorized without a customer action, so 3-D Secure cannot be asked for',
  recurring: 'is not carried by a split tender: its parts are payments the customer makes, never merchant-initiated charges',
  // The gift card pays an amount, not lines: which lines each part pays is not defined, and the order's lines
  // would not add up to either part's amount.
  lines:
    'is not carried by a split tender: the gift card pays an amount, not lines, so no part can carry the order lines (they would not add up to its amount); send the split without lines',
} as const satisfies Partial<Record<keyof PaymentCommand['payment'], string>>;

/** Whether a field of `payment` carries anything a split would have to pass on (an empty list carries nothing). */
function carried(value: unknown): boolean {
  return value !== undefined && !(Array.isArray(value) && value.length === 0);
}

/** The gift card and card tenders of a split command (after {@link checkTenders}). */
export function tendersOf(command: PaymentCommand): { giftCard: Tender; card: Tender } | null {
  const tenders = command.payment.tenders;
  if (!tenders) return null;
  const giftCard = tenders.find((t) => t.type === 'gift_card');
  const card = tenders.find((t) => t.type === 'card');
  return giftCard && card ? { giftCard, card } : null;
}

/** Whether a (valid) command starts a split tender. */
export function isSplitTender(command: PaymentCommand): boolean {
  return command.payment.tenders !== undefined && (SPLIT_TENDER_COMMANDS as readonly string[]).includes(command.command);
}

/** Whether a (valid) command refunds a split tender order. */
export function isSplitTenderRefund(command: PaymentCommand): boolean {
  return command.command === 'refund' && command.payment.split_tender === true;
}

/**
 * Cross-field rules of split tender commands, after the schema. Money that does not add up never moves; a field
 * the split cannot carry to the PSP ({@link FIELDS_NOT_CARRIED_BY_SPLITS}) is refused, never dropped.
 * @throws CommandValidationError naming the field.
 */
export function checkTenders(command: PaymentCommand): void {
  const p = command.payment;
  if (p.split_tender !== undefined && command.command !== 'refund') {
    throw new CommandValidationError('payment.split_tender', 'is only allowed on a refund (of a split tender order)');
  }
  const tenders = p.tenders;
  if (!tenders) return;
  if (!(SPLIT_TENDER_COMMANDS as readonly string[]).includes(command.command)) {
    throw new CommandValidationError('payment.tenders', 'is only allowed on authorize and sale');
  }
  if (p.splits) throw new CommandValidationError('payment.tenders', 'cannot be combined with payment.splits');
  for (const [field, reason] of Object.entries(FIELDS_NOT_CARRIED_BY_SPLITS)) {
    if (carried(p[field as keyof typeof FIELDS_NOT_CARRIED_BY_SPLITS])) throw new CommandValidationError(`payment.${field}`, reason);
  }
  const gi = tenders.findIndex((t) => t.type === 'gift_card');
  const ci = tenders.findIndex((t) => t.type === 'card');
  if (gi < 0 || ci < 0) throw new CommandValidationError('payment.tenders', 'must hold one gift_card tender and one card tender');
  const giftCard = tenders[gi];
  const card = tenders[ci];
  if (giftCard.amount === undefined || giftCard.amount < 1) {
    throw new CommandValidationError(`payment.tenders[${gi}].amount`, 'is required on the gift_card tender and must be at least 1');
  }
  if (giftCard.amount > p.amount) {
    throw new CommandValidationError(`payment.tenders[${gi}].amount`, `is more than payment.amount (${p.amount})`);
  }
  const remainder = p.amount - giftCard.amount;
  if (card.amount !== undefined && card.amount !== remainder) {
    throw new CommandValidationError(`payment.tenders[${ci}].amount`, `must be the remainder, payment.amount less the gift card part (${remainder})`);
  }
  if (card.brand !== undefined) throw new CommandValidationError(`payment.tenders[${ci}].brand`, 'is only allowed on the gift_card tender');
  for (const field of ['gateway', 'gateway_account', 'gateway_key'] as const) {
    if (card[field] !== p[field]) {
      throw new CommandValidationError(`payment.tenders[${ci}].${field}`, `must equal payment.${field} (the envelope names the card tender)`);
    }
  }
}

import { PaymentCommand } from '../payment-command';
import { CommandValidationError } from '../../errors/command-validation-error';
import { CardSummary, ContractLine, canonicalLines, cardDetailsOf, defineContract, defined } from './channel-contract';
import { cardSummary, currency, dateTime, freeMap, gateway, idPart, minor, orderLine, positiveMinor, pspToken, text } from './schema-parts';

/**
 * `pos.sale.v1`: a store terminal's card-present sale. The terminal read the card and holds a PSP token for
 * it (never the card number); `offline` marks a sale the terminal approved while offline
 * (store-and-forward), sent once it is back online.
 */
export const POS_SALE = 'pos.sale.v1';

export interface PosSale {
  contract: typeof POS_SALE;
  store_id: string;
  terminal_id: string;
  /** The terminal's transaction number: unique per store and terminal. */
  transaction_number: string;
  receipt_number?: string;
  operator_id?: string;
  occurred_at: string;
  /** `YYYY-MM-DD`, the store's trading day. */
  business_date?: string;
  currency: string;
  /** What is charged to the card, minor units, tip and cashback included. */
  amount: number;
  tip_amount?: number;
  cashback_amount?: number;
  tax_amount?: number;
  tender: {
    type: 'credit' | 'debit' | 'contactless' | 'mobile_wallet' | 'prepaid';
    entry_mode?: 'chip' | 'contactless' | 'swipe' | 'manual_key_entry' | 'fallback';
    gateway: string;
    gateway_account: string;
    /** Card-present token from the terminal (the command's `gateway_key`). */
    token: string;
    card?: CardSummary;
  };
  /** Approved by the terminal while offline (store-and-forward). Default false. */
  offline?: boolean;
  /** The terminal's offline approval code, for an offline sale. */
  offline_approval_code?: string;
  lines?: ContractLine[];
  note?: string;
  custom_attributes?: Record<string, string>;
}

const schema = {
  $id: POS_SALE,
  type: 'object',
  additionalProperties: false,
  required: ['contract', 'store_id', 'terminal_id', 'transaction_number', 'occurred_at', 'currency', 'amount', 'tender'],
  properties: {
    contract: { const: POS_SALE },
    store_id: idPart(32),
    terminal_id: idPart(32),
    transaction_number: idPart(40),
    receipt_number: idPart(40),
    operator_id: idPart(32),
    occurred_at: dateTime,
    business_date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
    currency,
    amount: positiveMinor,
    tip_amount: minor,
    cashback_amount: minor,
    tax_amount: minor,
    tender: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'gateway', 'gateway_account', 'token'],
      properties: {
        type: { enum: ['credit', 'debit', 'contactless', 'mobile_wallet', 'prepaid'] },
        entry_mode: { enum: ['chip', 'contactless', 'swipe', 'manual_key_entry', 'fallback'] },
        gateway,
        gateway_account: text(128),
        token: pspToken,
        card: cardSummary,
      },
    },
    offline: { type: 'boolean' },
    offline_approval_code: idPart(12),
    lines: { type: 'array', maxItems: 500, items: orderLine },
    note: { type: 'string', maxLength: 1000 },
    custom_attributes: freeMap,
  },
} as const;

/**
 * Maps a POS sale to a `sale` of `amount` (tip and cashback included) on the tender's gateway and account.
 * Operation reference and order id: `pos.<store_id>.<terminal_id>.<transaction_number>` (the ids hold no
 * `.`, so no two sales share one): a sale forwarded twice (store-and-forward retries) is one operation.
 * The method is `card` with the tender type as submethod; the store, terminal, receipt, operator, entry
 * mode, offline flag and approval code, tip and cashback travel in `custom_attributes`.
 */
export const posSale = defineContract<PosSale>({
  name: POS_SALE,
  channel: 'pos',
  schema,
  freeTextFields: ['note', 'custom_attributes', 'lines[].name'],
  accountPath: 'tender.gateway_account',
  summary: { amount: 'amount', currency: 'currency', orderId: 'transaction_number', gateway: 'tender.gateway', command: () => 'sale' },
  check(s) {
    const extras = BigInt(s.tip_amount ?? 0) + BigInt(s.cashback_amount ?? 0);
    if (extras > BigInt(s.amount)) {
      throw new CommandValidationError(
        s.tip_amount ? 'tip_amount' : 'cashback_amount',
        'with cashback_amount and tip_amount must not exceed amount (they are part of it)',
      );
    }
    if (s.offline_approval_code !== undefined && s.offline !== true) {
      throw new CommandValidationError('offline_approval_code', 'is only allowed on an offline sale (offline: true)');
    }
  },
  toCommand(s, receivedAt): PaymentCommand {
    const key = `${s.store_id}.${s.terminal_id}.${s.transaction_number}`;
    const money = (v: number | undefined) => (v === undefined ? undefined : String(v));
    return {
      version: 1,
      command: 'sale',
      channel: 'pos',
      received_at: receivedAt,
      payment: defined({
        gateway: s.tender.gateway,
        gateway_account: s.tender.gateway_account,
        gateway_key: s.tender.token,
        amount: s.amount,
        currency: s.currency,
        order_id: `pos.${key}`,
        operation_reference: `pos.${key}`,
        lines: canonicalLines(s.lines),
        method_details: defined({ method: 'card', submethod: s.tender.type, card: cardDetailsOf(s.tender.card) }),
        custom_attributes: defined({
          ...s.custom_attributes,
          contract: POS_SALE,
          store_id: s.store_id,
          terminal_id: s.terminal_id,
          transaction_number: s.transaction_number,
          receipt_number: s.receipt_number,
          operator_id: s.operator_id,
          business_date: s.business_date,
          entry_mode: s.tender.entry_mode,
          offline: s.offline === true ? 'true' : 'false',
          offline_approval_code: s.offline_approval_code,
          tip_amount: money(s.tip_amount),
          cashback_amount: money(s.cashback_amount),
          note: s.note,
        }),
      }),
    };
  },
});

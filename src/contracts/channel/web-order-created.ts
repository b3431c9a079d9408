import { PaymentCommand } from '../payment-command';
import { ContractLine, PaymentMethodPayload, canonicalLines, cardDetailsOf, byCaptureMethod, defineContract, defined } from './channel-contract';
import { CommandValidationError } from '../../errors/command-validation-error';
import { FIELDS_NOT_CARRIED_BY_SPLITS } from '../split-tender-command';
import {
  currency,
  customer,
  dateTime,
  freeMap,
  gateway,
  idPart,
  minor,
  orderId,
  orderLine,
  paymentMethod,
  positiveMinor,
  pspToken,
  text,
} from './schema-parts';

/** `web.order_created.v1`: the web checkout's event when a customer places an order and pays with a PSP token. */
export const WEB_ORDER_CREATED = 'web.order_created.v1';

export interface WebOrderCreated {
  contract: typeof WEB_ORDER_CREATED;
  event_id: string;
  occurred_at: string;
  /** `manual` (default): authorize now, capture at shipping; `automatic`: charge now (sale). */
  capture_method?: 'manual' | 'automatic';
  order: {
    order_id: string;
    currency: string;
    /** What the customer pays, minor units: the amount authorized. */
    total_amount: number;
    subtotal_amount?: number;
    tax_amount?: number;
    shipping_amount?: number;
    discount_amount?: number;
    customer?: { customer_id?: string; email?: string; name?: string; locale?: string };
    lines?: ContractLine[];
    note?: string;
    gift_message?: string;
    custom_attributes?: Record<string, string>;
  };
  payment_method: PaymentMethodPayload;
  /**
   * Split tender: a gift card pays `amount` of the order, `payment_method` the rest (the order's total less
   * the gift card part). The gift card is named by its PSP token, never by its number or PIN.
   */
  gift_card?: { gateway: string; gateway_account: string; token: string; brand?: string; amount: number };
}

/** `gift_card` of `web.order_created.v1`. */
const giftCard = {
  type: 'object',
  additionalProperties: false,
  required: ['gateway', 'gateway_account', 'token', 'amount'],
  properties: {
    gateway,
    gateway_account: text(128),
    token: pspToken,
    brand: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    amount: positiveMinor,
  },
} as const;

const schema = {
  $id: WEB_ORDER_CREATED,
  type: 'object',
  additionalProperties: false,
  required: ['contract', 'event_id', 'occurred_at', 'order', 'payment_method'],
  properties: {
    contract: { const: WEB_ORDER_CREATED },
    event_id: idPart(64),
    occurred_at: dateTime,
    capture_method: { enum: ['manual', 'automatic'] },
    order: {
      type: 'object',
      additionalProperties: false,
      required: ['order_id', 'currency', 'total_amount'],
      properties: {
        order_id: orderId,
        currency,
        total_amount: positiveMinor,
        subtotal_amount: minor,
        tax_amount: minor,
        shipping_amount: minor,
        discount_amount: minor,
        customer,
        lines: { type: 'array', maxItems: 500, items: orderLine },
        note: { type: 'string', maxLength: 2000 },
        gift_message: { type: 'string', maxLength: 1000 },
        custom_attributes: freeMap,
      },
    },
    payment_method: paymentMethod,
    gift_card: giftCard,
  },
} as const;

/**
 * Maps an order_created event to an `authorize` (capture_method `manual`, the default) or a `sale`
 * (`automatic`) of `order.total_amount`, on the token's gateway and account. The operation reference is
 * `web-order.<order_id>`: the same order sent twice (a retried event, a new event id) is one operation,
 * and the same order id with other money is an idempotency conflict. Lines map one to one (refused, naming
 * `order.lines`, with a `gift_card`: a split tender cannot carry them); the note, gift
 * message, customer id and custom attributes travel in `custom_attributes` (free text: card numbers
 * there are masked). The customer's e-mail and name are not forwarded.
 */
export const webOrderCreated = defineContract<WebOrderCreated>({
  name: WEB_ORDER_CREATED,
  channel: 'web',
  schema,
  freeTextFields: ['order.note', 'order.gift_message', 'order.custom_attributes', 'order.lines[].name'],
  accountPath: 'payment_method.gateway_account',
  summary: { amount: 'order.total_amount', currency: 'order.currency', orderId: 'order.order_id', gateway: 'payment_method.gateway', command: byCaptureMethod },
  check(e) {
    if (e.gift_card && e.gift_card.amount > e.order.total_amount) {
      throw new CommandValidationError('gift_card.amount', `is more than order.total_amount (${e.order.total_amount})`);
    }
    // Named in the contract's terms: the canonical check would name payment.lines, a field the sender never wrote.
    if (e.gift_card && (e.order.lines?.length ?? 0) > 0) {
      throw new CommandValidationError('order.lines', `${FIELDS_NOT_CARRIED_BY_SPLITS.lines} (the order has a gift_card)`);
    }
  },
  toCommand(e, receivedAt): PaymentCommand {
    const o = e.order;
    const card = cardDetailsOf(e.payment_method.card);
    const gc = e.gift_card;
    return {
      version: 1,
      command: e.capture_method === 'automatic' ? 'sale' : 'authorize',
      channel: 'web',
      received_at: receivedAt,
      payment: defined({
        gateway: e.payment_method.gateway,
        gateway_account: e.payment_method.gateway_account,
        gateway_key: e.payment_method.token,
        amount: o.total_amount,
        currency: o.currency,
        order_id: o.order_id,
        operation_reference: `web-order.${o.order_id}`,
        lines: canonicalLines(o.lines),
        method_details: defined({ method: e.payment_method.type ?? 'card', card }),
        // A gift card pays part of it: a split tender (the envelope names the card tender).
        tenders: gc
          ? [
              defined({
                type: 'gift_card' as const,
                gateway: gc.gateway,
                gateway_account: gc.gateway_account,
                gateway_key: gc.token,
                brand: gc.brand,
                amount: gc.amount,
              }),
              {
                type: 'card' as const,
                gateway: e.payment_method.gateway,
                gateway_account: e.payment_method.gateway_account,
                gateway_key: e.payment_method.token,
              },
            ]
          : undefined,
        custom_attributes: defined({
          ...o.custom_attributes,
          contract: WEB_ORDER_CREATED,
          event_id: e.event_id,
          customer_id: o.customer?.customer_id,
          note: o.note,
          gift_message: o.gift_message,
        }),
      }),
    };
  },
});

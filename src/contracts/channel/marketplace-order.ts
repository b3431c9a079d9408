import { PaymentCommand, PaymentSplit } from '../payment-command';
import { CommandValidationError } from '../../errors/command-validation-error';
import { ContractLine, PaymentMethodPayload, canonicalLines, cardDetailsOf, byCaptureMethod, defineContract, defined } from './channel-contract';
import { currency, customer, dateTime, freeMap, idPart, minor, orderId, orderLine, paymentMethod, positiveMinor, text } from './schema-parts';

/**
 * `marketplace.order.v1`: a marketplace's order, paid once by the customer and split between its sellers
 * (sub-merchants) and the marketplace's own fee, as marketplace platforms and split-payment PSP products
 * describe it: per seller an amount and a sub-merchant account, plus the marketplace's commission; the
 * parts add up to the total.
 */
export const MARKETPLACE_ORDER = 'marketplace.order.v1';

export interface MarketplaceOrder {
  contract: typeof MARKETPLACE_ORDER;
  marketplace_order_id: string;
  occurred_at: string;
  currency: string;
  /** What the customer pays, minor units. */
  total_amount: number;
  /** The marketplace's commission, minor units. */
  marketplace_fee: number;
  capture_method?: 'manual' | 'automatic';
  payment_method: PaymentMethodPayload;
  splits: Array<{ seller_id: string; sub_merchant_account: string; amount: number; seller_order_id?: string; description?: string }>;
  customer?: { customer_id?: string; email?: string; name?: string; locale?: string };
  lines?: Array<ContractLine & { seller_id?: string }>;
  note?: string;
  custom_attributes?: Record<string, string>;
}

const schema = {
  $id: MARKETPLACE_ORDER,
  type: 'object',
  additionalProperties: false,
  required: ['contract', 'marketplace_order_id', 'occurred_at', 'currency', 'total_amount', 'marketplace_fee', 'payment_method', 'splits'],
  properties: {
    contract: { const: MARKETPLACE_ORDER },
    marketplace_order_id: orderId,
    occurred_at: dateTime,
    currency,
    total_amount: positiveMinor,
    marketplace_fee: minor,
    capture_method: { enum: ['manual', 'automatic'] },
    payment_method: paymentMethod,
    splits: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['seller_id', 'sub_merchant_account', 'amount'],
        properties: {
          seller_id: idPart(64),
          sub_merchant_account: text(128),
          amount: minor,
          seller_order_id: orderId,
          description: { type: 'string', maxLength: 255 },
        },
      },
    },
    customer,
    lines: {
      type: 'array',
      maxItems: 500,
      items: { ...orderLine, properties: { ...orderLine.properties, seller_id: idPart(64) } },
    },
    note: { type: 'string', maxLength: 2000 },
    custom_attributes: freeMap,
  },
} as const;

/**
 * Maps a marketplace order to an `authorize` (default) or a `sale` (`capture_method: automatic`) of
 * `total_amount`, operation reference `mkp-order.<marketplace_order_id>`, with `payment.splits`: one
 * `seller` part per split (account = the sub-merchant account, reference = the seller id) and one
 * `marketplace_fee` part. Refused unless the parts add up to the total exactly, each seller appears once
 * and every line's seller has a split: money that does not add up is never authorized.
 */
export const marketplaceOrder = defineContract<MarketplaceOrder>({
  name: MARKETPLACE_ORDER,
  channel: 'marketplace',
  schema,
  freeTextFields: ['note', 'custom_attributes', 'lines[].name', 'splits[].description'],
  accountPath: 'payment_method.gateway_account',
  summary: { amount: 'total_amount', currency: 'currency', orderId: 'marketplace_order_id', gateway: 'payment_method.gateway', command: byCaptureMethod },
  check(o) {
    const sellers = new Set<string>();
    o.splits.forEach((s, i) => {
      if (sellers.has(s.seller_id))
        throw new CommandValidationError(`splits[${i}].seller_id`, 'names a seller that already has a split (one split per seller)');
      sellers.add(s.seller_id);
    });
    const parts = o.splits.reduce((sum, s) => sum + BigInt(s.amount), BigInt(o.marketplace_fee));
    if (parts !== BigInt(o.total_amount)) {
      throw new CommandValidationError('splits', `amounts plus marketplace_fee add up to ${parts} minor units, not total_amount (${o.total_amount})`);
    }
    (o.lines ?? []).forEach((l, i) => {
      if (l.seller_id !== undefined && !sellers.has(l.seller_id)) throw new CommandValidationError(`lines[${i}].seller_id`, 'names a seller without a split');
    });
  },
  toCommand(o, receivedAt): PaymentCommand {
    const splits: PaymentSplit[] = o.splits.map((s) => ({ type: 'seller', account: s.sub_merchant_account, reference: s.seller_id, amount: s.amount }));
    splits.push({ type: 'marketplace_fee', amount: o.marketplace_fee });
    return {
      version: 1,
      command: o.capture_method === 'automatic' ? 'sale' : 'authorize',
      channel: 'marketplace',
      received_at: receivedAt,
      payment: defined({
        gateway: o.payment_method.gateway,
        gateway_account: o.payment_method.gateway_account,
        gateway_key: o.payment_method.token,
        amount: o.total_amount,
        currency: o.currency,
        order_id: o.marketplace_order_id,
        operation_reference: `mkp-order.${o.marketplace_order_id}`,
        splits,
        lines: canonicalLines(o.lines),
        method_details: defined({ method: o.payment_method.type ?? 'card', card: cardDetailsOf(o.payment_method.card) }),
        custom_attributes: defined({
          ...o.custom_attributes,
          contract: MARKETPLACE_ORDER,
          customer_id: o.customer?.customer_id,
          note: o.note,
        }),
      }),
    };
  },
});

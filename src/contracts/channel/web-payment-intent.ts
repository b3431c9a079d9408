import { PaymentCommand } from '../payment-command';
import { PaymentMethodPayload, cardDetailsOf, byCaptureMethod, defineContract, defined } from './channel-contract';
import { currency, customer, dateTime, freeMap, idPart, orderId, paymentMethod, positiveMinor } from './schema-parts';

/**
 * `web.payment_intent.v1`: the web checkout's intent to take a payment with a PSP token, shaped like a
 * PaymentIntent (`amount`, `currency`, `capture_method`, `metadata`): authorize it and capture later, or
 * capture at once.
 */
export const WEB_PAYMENT_INTENT = 'web.payment_intent.v1';

export interface WebPaymentIntent {
  contract: typeof WEB_PAYMENT_INTENT;
  intent_id: string;
  created_at?: string;
  order_id?: string;
  /** Minor units, at least 1. */
  amount: number;
  currency: string;
  /** `manual`: authorize only; `automatic`: authorize and capture (sale). */
  capture_method: 'manual' | 'automatic';
  payment_method: PaymentMethodPayload;
  customer?: { customer_id?: string; email?: string; name?: string; locale?: string };
  description?: string;
  metadata?: Record<string, string>;
}

const schema = {
  $id: WEB_PAYMENT_INTENT,
  type: 'object',
  additionalProperties: false,
  required: ['contract', 'intent_id', 'amount', 'currency', 'capture_method', 'payment_method'],
  properties: {
    contract: { const: WEB_PAYMENT_INTENT },
    intent_id: idPart(64),
    created_at: dateTime,
    order_id: orderId,
    amount: positiveMinor,
    currency,
    capture_method: { enum: ['manual', 'automatic'] },
    payment_method: paymentMethod,
    customer,
    description: { type: 'string', maxLength: 1000 },
    metadata: freeMap,
  },
} as const;

/**
 * Maps a payment intent to an `authorize` (`capture_method: manual`) or a `sale` (`automatic`) of
 * `amount`, operation reference `web-intent.<intent_id>` (one intent is one operation, however often it
 * is sent). `order_id` is carried when given. The description, metadata and customer id travel in
 * `custom_attributes` (free text: card numbers there are masked).
 */
export const webPaymentIntent = defineContract<WebPaymentIntent>({
  name: WEB_PAYMENT_INTENT,
  channel: 'web',
  schema,
  freeTextFields: ['description', 'metadata'],
  accountPath: 'payment_method.gateway_account',
  summary: { amount: 'amount', currency: 'currency', orderId: 'order_id', gateway: 'payment_method.gateway', command: byCaptureMethod },
  toCommand(i, receivedAt): PaymentCommand {
    return {
      version: 1,
      command: i.capture_method === 'automatic' ? 'sale' : 'authorize',
      channel: 'web',
      received_at: receivedAt,
      payment: defined({
        gateway: i.payment_method.gateway,
        gateway_account: i.payment_method.gateway_account,
        gateway_key: i.payment_method.token,
        amount: i.amount,
        currency: i.currency,
        order_id: i.order_id,
        operation_reference: `web-intent.${i.intent_id}`,
        method_details: defined({ method: i.payment_method.type ?? 'card', card: cardDetailsOf(i.payment_method.card) }),
        custom_attributes: defined({
          ...i.metadata,
          contract: WEB_PAYMENT_INTENT,
          intent_id: i.intent_id,
          customer_id: i.customer?.customer_id,
          description: i.description,
        }),
      }),
    };
  },
});

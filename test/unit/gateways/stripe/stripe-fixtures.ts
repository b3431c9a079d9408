import { GatewayConfig } from '../../../../src/config/config';
import { CommandType, Payment } from '../../../../src/contracts/payment-command';
import { GatewayResponse, OperationContext } from '../../../../src/gateways/gateway-adapter';

/**
 * Stripe objects shaped as the API reference (2023-08-16) documents them, for unit and conformance tests.
 * Ids are Stripe's documentation style; no card numbers anywhere.
 */

export const WEBHOOK_SECRET = 'whsec_test_stripe_unit_0123456789';
export const PREVIOUS_WEBHOOK_SECRET = 'whsec_test_stripe_previous_987654';

export const stripeGateway: GatewayConfig = {
  name: 'stripe-test',
  type: 'stripe',
  baseUrl: 'https://api.stripe.com',
  apiKey: 'sk_test_51Nunit0123456789abcdef',
  webhookSecret: WEBHOOK_SECRET,
  webhookSecretPrevious: PREVIOUS_WEBHOOK_SECRET,
  merchantAccount: '',
  merchantId: '',
  keyId: '',
  sharedSecret: '',
  reportUsername: '',
  reportPassword: '',
  reportBaseUrl: '',
  authorisationType: '',
  webhookPrivateKey: '',
  webhookKeyId: '',
  webhookKeyIdPrevious: '',
  timeoutMs: 10000,
  maxSockets: 256,
};

export const PI_ID = 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY';
export const NEW_PI_ID = 'pi_3NgB9x2eZvKYlo2C1aBcDeFg';
export const PM_ID = 'pm_1NgB1q2eZvKYlo2CmTlPgL8w';
export const CUSTOMER_ID = 'cus_OTbK4yAhPz9Xr1';
export const REFUND_ID = 're_3NgB1r2eZvKYlo2C0pQrStUv';
export const SETUP_INTENT_ID = 'seti_1NgB1s2eZvKYlo2CgH7kQw3e';

/** The gateway_key each command receives from the OMS. */
function keyFor(command: CommandType): string {
  return command === 'authorize' || command === 'sale' || command === 'tokenize' ? PM_ID : PI_ID;
}

export function stripeContext(command: CommandType, payment: Partial<Payment> = {}): OperationContext {
  return {
    operationId: `op-stripe-${command}-0001`,
    command,
    payment: {
      gateway: 'stripe-test',
      gateway_account: 'acct_default',
      gateway_key: keyFor(command),
      amount: 2599,
      currency: 'EUR',
      order_id: 'ORD-10042',
      custom_attributes: { stripe_customer: CUSTOMER_ID, stripe_payment_method: PM_ID },
      ...payment,
    },
  };
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): GatewayResponse {
  return { status, headers: { 'content-type': 'application/json', 'request-id': 'req_unit', ...headers }, body: JSON.stringify(body), elapsedMs: 3 };
}

/** A PaymentIntent object (API reference example, trimmed to the fields we read plus a few). */
export function paymentIntent(ctx: OperationContext, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: PI_ID,
    object: 'payment_intent',
    amount: ctx.payment.amount,
    amount_capturable: 0,
    amount_received: 0,
    capture_method: 'manual',
    client_secret: null,
    confirmation_method: 'automatic',
    created: 1692600000,
    currency: ctx.payment.currency.toLowerCase(),
    customer: null,
    last_payment_error: null,
    latest_charge: 'ch_3NgB1r2eZvKYlo2C0abcdefg',
    livemode: false,
    metadata: { operation_id: ctx.operationId, order_id: ctx.payment.order_id ?? '' },
    payment_method: PM_ID,
    payment_method_types: ['card'],
    status: 'requires_capture',
    cancellation_reason: null,
    ...fields,
  };
}

export function refund(ctx: OperationContext, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: REFUND_ID,
    object: 'refund',
    amount: ctx.payment.amount,
    charge: 'ch_3NgB1r2eZvKYlo2C0abcdefg',
    created: 1692600500,
    currency: ctx.payment.currency.toLowerCase(),
    metadata: { operation_id: ctx.operationId, order_id: ctx.payment.order_id ?? '' },
    payment_intent: PI_ID,
    reason: null,
    status: 'succeeded',
    ...fields,
  };
}

export function paymentMethod(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: PM_ID,
    object: 'payment_method',
    billing_details: { address: null, email: null, name: null, phone: null },
    card: { brand: 'visa', country: 'US', exp_month: 8, exp_year: 2030, funding: 'credit', last4: '4242' },
    created: 1692600000,
    customer: CUSTOMER_ID,
    livemode: false,
    metadata: {},
    type: 'card',
    ...fields,
  };
}

/** A SetupIntent as Stripe documents it (API 2023-08-16), confirmed off-session for the tokenize `ctx`. */
export function setupIntent(ctx: OperationContext, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: SETUP_INTENT_ID,
    object: 'setup_intent',
    cancellation_reason: null,
    client_secret: `${SETUP_INTENT_ID}_secret_unitTestOnly`,
    created: 1692600000,
    customer: CUSTOMER_ID,
    last_setup_error: null,
    livemode: false,
    metadata: { operation_id: ctx.operationId },
    next_action: null,
    payment_method: PM_ID,
    payment_method_types: ['card'],
    status: 'succeeded',
    usage: 'off_session',
    ...fields,
  };
}

/** The documented success body for the request built for `ctx`. */
export function successBody(ctx: OperationContext): unknown {
  switch (ctx.command) {
    case 'authorize':
    case 'validate':
      return paymentIntent(ctx, { amount_capturable: ctx.payment.amount });
    case 'revalidate':
      return paymentIntent(ctx, { id: NEW_PI_ID, amount_capturable: ctx.payment.amount, customer: CUSTOMER_ID });
    case 'sale':
      return paymentIntent(ctx, { status: 'succeeded', capture_method: 'automatic', amount_received: ctx.payment.amount });
    case 'capture':
      return paymentIntent(ctx, { status: 'succeeded', amount_received: ctx.payment.amount });
    case 'cancel':
      return paymentIntent(ctx, { status: 'canceled', cancellation_reason: 'requested_by_customer' });
    case 'refund':
      return refund(ctx);
    case 'tokenize':
      // The request expands the payment method (its card is what the event reports).
      return setupIntent(ctx, { payment_method: paymentMethod() });
  }
}

/** A card decline of a confirmed PaymentIntent: 402 card_error with the PaymentIntent it left behind. */
export function declineBody(ctx: OperationContext): unknown {
  return {
    error: {
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
      doc_url: 'https://stripe.com/docs/error-codes/card-declined',
      payment_intent: paymentIntent(ctx, {
        status: 'requires_payment_method',
        last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
      }),
    },
  };
}

export function errorBody(type: string, code?: string, extra: Record<string, unknown> = {}): unknown {
  return { error: { type, ...(code ? { code } : {}), message: 'An error occurred.', ...extra } };
}

/** A Stripe event envelope around `object`. */
export function stripeEvent(type: string, object: unknown, id = 'evt_1NgB1s2eZvKYlo2CkQ7z8Xyz'): Record<string, unknown> {
  return {
    id,
    object: 'event',
    api_version: '2023-08-16',
    created: 1692600100,
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: 'req_unit', idempotency_key: 'op-stripe-authorize-0001' },
    type,
  };
}

export { stripeTransformer } from './stripe-transformer';
export { buildExchangeRateRequest, parseExchangeRates, plainDecimal } from './stripe-exchange-rates';
export type { StripeExchangeRates } from './stripe-exchange-rates';
export { verifyStripeWebhook, parseStripeWebhook, parseStripeSignatureHeader, stripeSignatureHeader, STRIPE_WEBHOOK_TOLERANCE_S } from './stripe-webhook';
export { PAYMENT_INTENT_STATUSES, REFUND_STATUSES, paymentIntentOutcome, refundOutcome } from './stripe-status-map';
export type { PaymentIntentStatus, RefundStatus } from './stripe-status-map';
export { classifyStripeError } from './stripe-errors';
export { STRIPE_API_VERSION } from './stripe-requests';

import { isStoredValueCommand } from '../../contracts/stored-value';
import { unsupportedCommand } from '../unsupported-command';
import { CommandValidationError } from '../../errors/command-validation-error';
import { STRIPE_DEFAULT_GATEWAY, StripeMethodGateway, stripeMethodFields } from './stripe-methods';
import { assertNever } from '../assert-never';
import { GatewayRequest, OperationContext, idempotencyKeyOf } from '../gateway-adapter';
import type { CommandType } from '../../contracts/payment-command';
import { wantsStoredToken } from '../../contracts/payment-method';
import { stripeCurrency, toStripeAmount } from './stripe-amount';
import { encodeStripeForm, StripeFormValue } from './stripe-form';
import { revalidatePaymentMethod, stripeCustomer, stripeId } from './stripe-references';

/** The Stripe API version every request pins, so response shapes do not move under us. */
export const STRIPE_API_VERSION = '2023-08-16';

/** Metadata key that carries our operation id on PaymentIntents and Refunds (status inquiry finds it). */
export const OPERATION_ID_METADATA = 'operation_id';

/**
 * Metadata key a capture request adds to the PaymentIntent with the capture's operation id: Stripe stores it with the
 * capture itself, so the PaymentIntent's events and records after it name the capture that took the money.
 */
export const CAPTURE_OPERATION_ID_METADATA = 'capture_operation_id';

/**
 * Metadata key that carries an attempt's own Idempotency-Key when it is not the operation id (the attempt after a
 * failover, `<operation id>.failover<n>`): two gateway entries may share one Stripe account, where the first attempt's
 * PaymentIntent carries the same `operation_id`; the status search of the later attempt matches this key instead.
 */
export const ATTEMPT_KEY_METADATA = 'attempt_key';

/**
 * Largest page Stripe lists ("Limit can range between 1 and 100", List all refunds): a PaymentIntent's refunds past
 * the first 100 are read on through `starting_after` (`stripeStatusNextPage`).
 */
const LIST_LIMIT = 100;

function post(ctx: OperationContext, path: string, fields: { [key: string]: StripeFormValue }): GatewayRequest {
  return {
    method: 'POST',
    path,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'idempotency-key': idempotencyKeyOf(ctx),
      'stripe-version': STRIPE_API_VERSION,
    },
    body: encodeStripeForm(fields),
  };
}

function get(path: string): GatewayRequest {
  return { method: 'GET', path, headers: { 'stripe-version': STRIPE_API_VERSION } };
}

function metadata(ctx: OperationContext, key = OPERATION_ID_METADATA): { [key: string]: StripeFormValue } {
  const attempt = idempotencyKeyOf(ctx);
  return { [key]: ctx.operationId, order_id: ctx.payment.order_id, ...(attempt !== ctx.operationId ? { [ATTEMPT_KEY_METADATA]: attempt } : {}) };
}

/**
 * A confirmed PaymentIntent on the payment's method (see `stripeMethodFields`: stored card, one-time card,
 * wallet, Klarna, crypto; token on first use). revalidate re-authorizes the stored PaymentMethod off-session.
 */
function paymentIntent(ctx: OperationContext, gateway: StripeMethodGateway, capture: 'manual' | 'automatic'): GatewayRequest {
  const { payment } = ctx;
  const method =
    ctx.command === 'revalidate'
      ? {
          payment_method: revalidatePaymentMethod(payment),
          customer: stripeCustomer(payment),
          off_session: true,
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        }
      : stripeMethodFields(payment, gateway, capture, false);
  return post(ctx, '/v1/payment_intents', {
    amount: toStripeAmount(payment.amount, payment.currency),
    currency: stripeCurrency(payment.currency),
    capture_method: capture,
    confirm: true,
    ...method,
    metadata: metadata(ctx),
    ...expansions(ctx, capture),
  });
}

/**
 * What a PaymentIntent's answer expands: the charge, which carries the authorization's own expiry
 * (`payment_method_details.card.capture_before`), for a manual capture; the PaymentMethod, whose `card`
 * describes the card stored (brand, last4, expiry), when the payment stores its method.
 */
function expansions(ctx: OperationContext, capture: 'manual' | 'automatic'): { expand?: string[] } {
  const expand = [
    ...(capture === 'manual' ? ['latest_charge'] : []),
    ...(ctx.command !== 'revalidate' && wantsStoredToken(ctx.payment) ? ['payment_method'] : []),
  ];
  return expand.length > 0 ? { expand } : {};
}

function intentPath(ctx: OperationContext): string {
  return `/v1/payment_intents/${stripeId(ctx.payment.gateway_key, 'payment.gateway_key')}`;
}

/**
 * The one request per command:
 * - authorize / sale: a confirmed PaymentIntent (capture manual / automatic) on `gateway_key` (a `pm_…`).
 * - capture: `/capture` with `amount_to_capture` (partial allowed); cancel: `/cancel`.
 * - refund: `POST /v1/refunds` on the PaymentIntent with `amount` (partial allowed).
 * - validate: `GET` the PaymentIntent (`gateway_key`).
 * - revalidate: a new off-session manual-capture PaymentIntent on the stored PaymentMethod; its id is the
 *   new gateway key.
 * - tokenize: a confirmed off-session SetupIntent for the PaymentMethod (`gateway_key`) and the Customer
 *   in custom attribute `stripe_customer`: Stripe's way to save a method for later payments (it runs the
 *   checks and authentication attaching the method directly skips); once it succeeds the PaymentMethod is
 *   attached and reusable, and its id (still `pm_…`) is the token.
 */
export function buildStripeRequest(ctx: OperationContext, gateway: StripeMethodGateway = STRIPE_DEFAULT_GATEWAY): GatewayRequest {
  const { payment } = ctx;
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, 'stripe');
  switch (ctx.command) {
    case 'authorize':
      return paymentIntent(ctx, gateway, 'manual');
    case 'sale':
      return paymentIntent(ctx, gateway, 'automatic');
    case 'revalidate':
      return paymentIntent(ctx, gateway, 'manual');
    case 'capture':
      return post(ctx, `${intentPath(ctx)}/capture`, {
        amount_to_capture: toStripeAmount(payment.amount, payment.currency),
        metadata: { [CAPTURE_OPERATION_ID_METADATA]: ctx.operationId },
      });
    case 'cancel':
      // The cancel endpoint takes no metadata: the idempotency key is the only trace of our id.
      return post(ctx, `${intentPath(ctx)}/cancel`, {});
    case 'refund':
      return post(ctx, '/v1/refunds', {
        payment_intent: stripeId(payment.gateway_key, 'payment.gateway_key'),
        amount: toStripeAmount(payment.amount, payment.currency),
        metadata: metadata(ctx),
      });
    case 'validate':
      return get(intentPath(ctx));
    case 'tokenize': {
      const customer = stripeCustomer(payment);
      if (customer === undefined) throw new CommandValidationError('payment.custom_attributes.stripe_customer', 'tokenize needs the Stripe Customer id');
      return post(ctx, '/v1/setup_intents', {
        customer,
        payment_method: stripeId(payment.gateway_key, 'payment.gateway_key'),
        confirm: true,
        usage: 'off_session',
        // The method confirms here, without a redirect the bridge could not follow.
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        metadata: metadata(ctx),
        // The PaymentMethod's `card` describes the card stored (brand, last4, expiry): the event reports it.
        expand: ['payment_method'],
      });
    }
    default:
      return assertNever(ctx.command, 'command');
  }
}

/** Stripe's search query for our operation id; quotes and backslashes escaped as its query language wants. */
export function operationSearchQuery(operationId: string): string {
  const quoted = operationId.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return `metadata['${OPERATION_ID_METADATA}']:'${quoted}'`;
}

/**
 * How long Stripe's search may miss a PaymentIntent it holds, ms: "under normal operating conditions, data
 * is searchable in less than a minute. Occasionally, propagation of new or updated data can be up to an hour
 * behind during outages" (Stripe API reference, search). Until then a miss only means "safe to resend"
 * (the resend carries the same Idempotency-Key and Stripe answers it from its 24 h cache), never "it never
 * landed": no failover on it.
 */
export const STRIPE_SEARCH_LAG_MS = 60 * 60 * 1000;

/** The commands whose status inquiry is a search (`STRIPE_SEARCH_LAG_MS`). */
export const SEARCHED_COMMANDS: ReadonlySet<CommandType> = new Set<CommandType>(['authorize', 'sale', 'revalidate']);

/**
 * Status inquiry, by what the command left behind:
 * - authorize / sale / revalidate: search PaymentIntents by `metadata['operation_id']` (its index lags:
 *   {@link STRIPE_SEARCH_LAG_MS}); an attempt after a failover is the one whose `metadata['attempt_key']` is its key.
 * - capture / cancel / validate: the PaymentIntent itself (`gateway_key`).
 * - refund: the PaymentIntent's refunds, matched by `metadata.operation_id`, page by page (`refundListPage`).
 * - tokenize: the PaymentMethod, attached (the SetupIntent succeeded) or not.
 */
export function buildStripeStatusRequest(ctx: OperationContext): GatewayRequest {
  const { payment } = ctx;
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, 'stripe');
  switch (ctx.command) {
    case 'authorize':
    case 'sale':
    case 'revalidate':
      return operationSearchPage(ctx);
    case 'capture':
    case 'cancel':
    case 'validate':
      return get(intentPath(ctx));
    case 'refund':
      return refundListPage(ctx);
    case 'tokenize':
      return get(`/v1/payment_methods/${stripeId(payment.gateway_key, 'payment.gateway_key')}`);
    default:
      return assertNever(ctx.command, 'command');
  }
}

/**
 * A page of the PaymentIntents that carry the operation's id, 100 a page (Stripe's most; its default is 10): the first,
 * or the one `page` names (the `next_page` cursor of the page before: "Search PaymentIntents", `page`). Every attempt
 * of the operation (a failover's, a resend's after its key expired) is a PaymentIntent of its own under that id.
 */
export function operationSearchPage(ctx: OperationContext, page?: string): GatewayRequest {
  const cursor = page === undefined ? '' : `&page=${encodeURIComponent(page)}`;
  return get(`/v1/payment_intents/search?query=${encodeURIComponent(operationSearchQuery(ctx.operationId))}&limit=100${cursor}`);
}

/**
 * A page of the refunds of the refund's PaymentIntent, newest first: the first, or the one after the refund
 * `startingAfter` (the last of the page before: "List all refunds", `starting_after`).
 */
export function refundListPage(ctx: OperationContext, startingAfter?: string): GatewayRequest {
  const after = startingAfter === undefined ? '' : `&starting_after=${encodeURIComponent(startingAfter)}`;
  return get(`/v1/refunds?payment_intent=${stripeId(ctx.payment.gateway_key, 'payment.gateway_key')}&limit=${LIST_LIMIT}${after}`);
}

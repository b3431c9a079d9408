import { assertNever } from '../assert-never';
import { GatewayRequest, OperationContext, idempotencyKeyOf } from '../gateway-adapter';
import { pathSegment } from '../path-segment';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' } as const;

function authorizationPath(gatewayKey: string, action = ''): string {
  return `/v1/authorizations/${pathSegment(gatewayKey, 'payment.gateway_key', 'simulator')}${action}`;
}

function giftCardPath(gatewayKey: string, action: string): string {
  return `/v1/gift_cards/${pathSegment(gatewayKey, 'payment.gateway_key', 'simulator')}${action}`;
}

/** A POST carrying the attempt's `Idempotency-Key` (the simulator refuses a POST without one). */
function post(ctx: OperationContext, path: string, body: Record<string, unknown>): GatewayRequest {
  return {
    method: 'POST',
    path,
    headers: { ...JSON_HEADERS, 'idempotency-key': idempotencyKeyOf(ctx) },
    body: JSON.stringify(body),
  };
}

/**
 * The simulator request for one command. Amounts are integers of minor units, as the simulator takes them;
 * `reference` is always our operation id, so the status inquiry (`GET /v1/operations/:reference`) and
 * webhooks find the operation again. `payment_method` is `gateway_key` (a `pm_…`, `tok_…` or a gift card's `gc_…`).
 */
export function buildSimulatorRequest(ctx: OperationContext): GatewayRequest {
  const { payment, operationId: reference } = ctx;
  switch (ctx.command) {
    case 'authorize':
    case 'sale':
      return post(ctx, '/v1/authorizations', {
        amount: payment.amount,
        currency: payment.currency,
        payment_method: payment.gateway_key,
        reference,
        capture: ctx.command === 'sale',
      });
    case 'validate':
      return { method: 'GET', path: authorizationPath(payment.gateway_key), headers: { accept: 'application/json' } };
    case 'revalidate':
      return post(ctx, authorizationPath(payment.gateway_key, '/reauthorize'), { amount: payment.amount, reference });
    case 'capture':
      return post(ctx, authorizationPath(payment.gateway_key, '/captures'), { amount: payment.amount, reference });
    case 'cancel':
      return post(ctx, authorizationPath(payment.gateway_key, '/cancel'), { reference });
    case 'refund':
      return post(ctx, authorizationPath(payment.gateway_key, '/refunds'), { amount: payment.amount, reference });
    case 'tokenize':
      return post(ctx, '/v1/tokens', { payment_method: payment.gateway_key, reference });
    // Stored value cards: `gateway_key` is the card's `gc_…` token.
    case 'balance_inquiry':
      return post(ctx, giftCardPath(payment.gateway_key, '/balance'), {
        currency: payment.currency,
        reference,
        ...(payment.amount > 0 ? { amount: payment.amount } : {}),
      });
    case 'reload':
      return post(ctx, giftCardPath(payment.gateway_key, '/loads'), { amount: payment.amount, currency: payment.currency, reference });
    case 'issue':
      return post(ctx, '/v1/gift_cards', { currency: payment.currency, reference, ...(payment.amount > 0 ? { amount: payment.amount } : {}) });
    case 'activate':
    case 'deactivate':
      return post(ctx, giftCardPath(payment.gateway_key, '/status'), {
        status: ctx.command === 'activate' ? 'active' : 'inactive',
        currency: payment.currency,
        reference,
      });
    case 'merge_balance':
      return post(ctx, giftCardPath(payment.gateway_key, '/merge'), {
        source: payment.stored_value?.source_gateway_key ?? '',
        currency: payment.currency,
        reference,
      });
    default:
      return assertNever(ctx.command, 'command');
  }
}

/** Status inquiry by our operation id (the idempotency key): the stored result, or 404 if it never landed. */
export function buildSimulatorStatusRequest(ctx: OperationContext): GatewayRequest {
  return { method: 'GET', path: `/v1/operations/${encodeURIComponent(ctx.operationId)}`, headers: { accept: 'application/json' } };
}

import { isStoredValueCommand } from '../../contracts/stored-value';
import { unsupportedCommand } from '../unsupported-command';
import { assertNever } from '../assert-never';
import { GatewayRequest, OperationContext } from '../gateway-adapter';
import { pathSegment } from '../path-segment';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' } as const;

function authorizationPath(gatewayKey: string, action = ''): string {
  return `/v1/authorizations/${pathSegment(gatewayKey, 'payment.gateway_key', 'simulator')}${action}`;
}

/** A POST carrying the operation id as its `Idempotency-Key` (the simulator refuses a POST without one). */
function post(ctx: OperationContext, path: string, body: Record<string, unknown>): GatewayRequest {
  return {
    method: 'POST',
    path,
    headers: { ...JSON_HEADERS, 'idempotency-key': ctx.operationId },
    body: JSON.stringify(body),
  };
}

/**
 * The simulator request for one command. Amounts are integers of minor units, as the simulator takes them;
 * `reference` is always our operation id, so the status inquiry (`GET /v1/operations/:reference`) and
 * webhooks find the operation again. `payment_method` is `gateway_key` (a `pm_…` or `tok_…`).
 */
export function buildSimulatorRequest(ctx: OperationContext): GatewayRequest {
  const { payment, operationId: reference } = ctx;
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, 'simulator');
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
    default:
      return assertNever(ctx.command, 'command');
  }
}

/** Status inquiry by our operation id (the idempotency key): the stored result, or 404 if it never landed. */
export function buildSimulatorStatusRequest(ctx: OperationContext): GatewayRequest {
  return { method: 'GET', path: `/v1/operations/${encodeURIComponent(ctx.operationId)}`, headers: { accept: 'application/json' } };
}

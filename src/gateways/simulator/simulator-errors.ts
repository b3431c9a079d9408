import { GatewayError, GatewayErrorKind } from '../../errors/gateway-error';
import { GatewayResponse } from '../gateway-adapter';
import { retryAfterMs } from '../../http/retry-after';

/**
 * Classifies a non-2xx simulator answer from the HTTP status and the simulator's `error.code`, never from
 * message text.
 *
 * - 400 → `invalid_request` (a missing Idempotency-Key or a malformed body: our bug).
 * - 401, 403 → `authentication`; 404 → `not_found`.
 * - 409 → `server_error`: a request with the same key is still in flight; retrying with the same key
 *   later either replays its stored answer or runs it once.
 * - 422 `idempotency_conflict` → `idempotency_conflict` (never resend with a new key).
 * - 422 with any other code (`amount_exceeds_authorized`, `amount_exceeds_captured`,
 *   `authorization_captured`, `authorization_cancelled`, `authorization_declined`, `authorization_pending`,
 *   `authorization_requires_action`,
 *   `invalid_payment_method`) is a business refusal of a well-formed request: not an error but a FAIL outcome with the
 *   code as reason (see `simulatorRefusalCode`). A 422 without a code is `invalid_request`.
 * - 429 → `rate_limited` with `Retry-After`; 5xx → `server_error`; anything else → `invalid_request`.
 */

/** The simulator's error code in a body: `{error: {code}}`. */
export function simulatorErrorCode(body: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const error = (json as Record<string, unknown>).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as Record<string, unknown>).code;
  return typeof code === 'string' && code.length > 0 ? code : undefined;
}

/** Whether a 422 code refuses a business operation (a FAIL outcome, not an error). */
export function isRefusalCode(code: string | undefined): code is string {
  return code !== undefined && code !== 'idempotency_conflict';
}

/** The code of a 422 that refuses a business operation (a FAIL outcome, not an error); else undefined. */
export function simulatorRefusalCode(response: GatewayResponse): string | undefined {
  if (response.status !== 422) return undefined;
  const code = simulatorErrorCode(response.body);
  return isRefusalCode(code) ? code : undefined;
}

/** The `GatewayError` for a non-2xx simulator response that is not a business refusal. */
export function classifySimulatorError(response: GatewayResponse, gateway: string): GatewayError {
  const code = simulatorErrorCode(response.body);
  const status = response.status;
  const fail = (kind: GatewayErrorKind, extra: { retryAfterMs?: number } = {}): GatewayError =>
    new GatewayError(kind, gateway, `HTTP ${status}${code ? ` ${code}` : ''}`, { httpStatus: status, gatewayCode: code, ...extra });
  if (status === 401 || status === 403) return fail('authentication');
  if (status === 404) return fail('not_found');
  if (status === 409) return fail('server_error');
  if (status === 422) return fail(code === 'idempotency_conflict' ? 'idempotency_conflict' : 'invalid_request');
  if (status === 429) return fail('rate_limited', { retryAfterMs: retryAfterMs(response.headers) });
  if (status >= 500) return fail('server_error');
  return fail('invalid_request');
}

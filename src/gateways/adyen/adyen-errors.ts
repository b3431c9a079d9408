import { GatewayError } from '../../errors/gateway-error';
import { GatewayResponse } from '../gateway-adapter';
import { retryAfterMs } from '../../http/retry-after';

/**
 * Classification of Adyen error answers, from the HTTP status, Adyen's `errorCode` and the
 * `Transient-Error` header, never from `message` text (Adyen's ServiceError: status, errorCode,
 * errorType, message, pspReference).
 */

/** Adyen's error code for an idempotency key whose first request is still running or is done. */
export const ADYEN_IDEMPOTENCY_IN_USE = '704';

/** The fields of Adyen's `ServiceError` we read. */
export interface AdyenServiceError {
  status?: number;
  errorCode?: string;
  errorType?: string;
  pspReference?: string;
}

function header(response: GatewayResponse, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(response.headers)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/**
 * `Transient-Error: true`: Adyen did not process the request (no connection to the issuer, or the first
 * request with this idempotency key is still running); the same key may be sent again.
 */
export function isTransient(response: GatewayResponse): boolean {
  return (header(response, 'transient-error') ?? '').trim().toLowerCase() === 'true';
}

/** The ServiceError body, or `{}` when the body is not one (a proxy's HTML page, an empty 502). */
export function serviceError(response: GatewayResponse): AdyenServiceError {
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const o = parsed as Record<string, unknown>;
    return {
      status: typeof o.status === 'number' ? o.status : undefined,
      errorCode: typeof o.errorCode === 'string' ? o.errorCode : undefined,
      errorType: typeof o.errorType === 'string' ? o.errorType : undefined,
      pspReference: typeof o.pspReference === 'string' ? o.pspReference : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * A non-2xx Adyen answer as a `GatewayError` (Adyen's "HTTP status codes" page,
 * https://docs.adyen.com/development-resources/response-handling, and its API idempotency page):
 *
 * | answer | kind |
 * | --- | --- |
 * | 401, 403 (errorType `security`: bad key, merchant account not allowed) | `authentication` |
 * | 429 | `rate_limited` (with `Retry-After`) |
 * | 404 | `not_found` |
 * | 409 (any errorCode: "the request is already processed or in progress"), 422 errorCode 704, with `Transient-Error: true` (the first request is still running) | `server_error` |
 * | 409, 422 errorCode 704, otherwise | `idempotency_conflict` (a resend so refused: an earlier attempt landed) |
 * | other 400, 422 (validation) | `invalid_request` |
 * | 5xx errorType `validation`, without `Transient-Error: true` ("Our servers may return a 500 status code also when the request is incorrect") | `invalid_request` |
 * | other 5xx | `server_error` (retry with the same key; Adyen replays what it stored for the key) |
 * | anything else | `invalid_request` |
 *
 * Declines are not errors: they are 200 answers with resultCode `Refused` (see the status map).
 */
export function classifyAdyenError(response: GatewayResponse, gateway: string): GatewayError {
  const body = serviceError(response);
  const status = response.status;
  const details = { httpStatus: status, gatewayCode: body.errorCode };
  const transient = isTransient(response);
  if (status === 401 || status === 403)
    return new GatewayError('authentication', gateway, `credentials refused (HTTP ${status}, errorCode ${body.errorCode ?? '-'})`, details);
  if (status === 429) return new GatewayError('rate_limited', gateway, 'rate limited (HTTP 429)', { ...details, retryAfterMs: retryAfterMs(response.headers) });
  if (status === 404) return new GatewayError('not_found', gateway, 'not found (HTTP 404)', details);
  // 409 is Adyen's answer for a request "already processed or in progress" whatever its errorCode: never a refusal of
  // the request itself, which would fail an operation whose earlier attempt may have moved money.
  if (status === 409 || (status === 422 && body.errorCode === ADYEN_IDEMPOTENCY_IN_USE)) {
    return transient
      ? new GatewayError('server_error', gateway, 'the first request with this idempotency key is still being processed', details)
      : new GatewayError('idempotency_conflict', gateway, `idempotency key refused (HTTP ${status}, errorCode ${body.errorCode ?? '-'})`, details);
  }
  // A 5xx may be Adyen refusing an incorrect request (a mandatory field missing): errorType says so, and sending it
  // again, the same, would be refused again.
  if (status >= 500 && body.errorType === 'validation' && !transient)
    return new GatewayError('invalid_request', gateway, `request refused (HTTP ${status}, errorType validation, errorCode ${body.errorCode ?? '-'})`, details);
  if (status >= 500)
    return new GatewayError(
      'server_error',
      gateway,
      `server error (HTTP ${status}, errorCode ${body.errorCode ?? '-'}${transient ? ', transient' : ''})`,
      details,
    );
  return new GatewayError('invalid_request', gateway, `request refused (HTTP ${status}, errorCode ${body.errorCode ?? '-'})`, details);
}

/**
 * A 404 answering a status inquiry, which for Adyen is the original request sent again under its
 * `Idempotency-Key` (Checkout and Stored Value have no lookup). The replay addresses `/payments` (no payment
 * named) or a payment Adyen authorised for us, so a 404 there comes from a route or an edge (a proxy, a wrong
 * `base_url`), not from Adyen saying the operation never happened: the request may have landed. `outcome_unknown` (retryable, asked
 * again later), never "no trace", which would let delivery resend it elsewhere (a second live payment).
 */
export function replayNotFound(response: GatewayResponse, gateway: string): GatewayError {
  return new GatewayError('outcome_unknown', gateway, 'the status inquiry (the request replayed under its idempotency key) answered HTTP 404', {
    httpStatus: response.status,
    gatewayCode: serviceError(response).errorCode,
  });
}

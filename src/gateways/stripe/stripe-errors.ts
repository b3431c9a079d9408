import { GatewayError, GatewayErrorKind } from '../../errors/gateway-error';
import { GatewayResponse } from '../gateway-adapter';
import { retryAfterMs } from '../../http/retry-after';

/**
 * Classifies a non-2xx Stripe answer from the HTTP status, Stripe's `error.type` / `error.code` /
 * `error.decline_code` and the `Stripe-Should-Retry` header, never from message text.
 *
 * - 401 → `authentication`; 403 (restricted key lacks a permission) → `authentication`.
 * - 429 (`rate_limit`) → `rate_limited`, `Retry-After` honoured when sent.
 * - `idempotency_error` → `idempotency_conflict` (our key reused with other parameters, a 400), except a 409 or
 *   `idempotency_key_in_use`: a request with our key is still running ("409 Conflict: The request conflicts with
 *   another request"; no result is saved, "You can retry these requests") → `server_error`, retried later with the
 *   same key (`outcome_unknown` with `Stripe-Should-Retry: false`).
 * - `Stripe-Should-Retry: true` → `server_error` (retryable); `false` → `outcome_unknown` on a 409, 424 or
 *   5xx (the request began and may have acted), else not retryable (declined for a `card_error`, else
 *   `invalid_request`).
 * - 5xx / `api_error` answering a write (`call` `write`, a POST): `outcome_unknown`, asked about before any resend.
 *   Stripe saves a POST's 500 under its idempotency key once the endpoint began, replays it to every retry, and
 *   says to treat it as indeterminate ("Advanced error handling", https://docs.stripe.com/error-low-level): a blind
 *   resend outliving the key (24 h) would run the request again (a second charge or refund, a capture refused as
 *   made). Answering a read (`read`, a GET): `server_error`, a read is simply asked again. Such an answer replayed
 *   to a resend (`Idempotent-Replayed: true`, https://docs.stripe.com/error-low-level#sending-idempotency-keys:
 *   Stripe's stored answer, "the idempotency-cached response to a 500 won't change") carries `pspHasRequest`:
 *   Stripe holds the request, so a miss is never followed by another resend, which would only replay it (a resend
 *   and an inquiry each poll, for as long as the key lives); the poll schedule bounds it (UNRESOLVED).
 * - `card_error` (402) → `declined`, gatewayCode = decline_code, else code (parseResponse makes it FAIL).
 * - `code` `rate_limit` or `lock_timeout` on any status (Stripe's SDKs read a 400 `rate_limit` as a rate
 *   limit; the error codes page says to retry a `lock_timeout`) → `rate_limited`: nothing was done, retry later.
 * - 424 External Dependency Failed ("a failure in a dependency external to Stripe", https://docs.stripe.com/api/errors)
 *   → `outcome_unknown`: the request reached Stripe and began, so what it did is asked about, never failed.
 * - 404 → `not_found`; 409 (lock timeout, our own request still running) → `server_error`; other 4xx →
 *   `invalid_request`.
 */

/** What the answered request was: a `write` (a POST, which may have acted) or a `read` (a GET, which changed nothing). */
export type StripeCall = 'write' | 'read';

export interface StripeErrorBody {
  type?: string;
  code?: string;
  declineCode?: string;
  /** The PaymentIntent the error is about (a declined confirm returns it). */
  paymentIntent?: Record<string, unknown>;
}

/** Business refusals of a well-formed request: a FAIL outcome with the code as reason, not an error. */
export const STRIPE_REFUSAL_CODES: readonly string[] = [
  'payment_intent_unexpected_state',
  'charge_already_captured',
  'charge_already_refunded',
  'charge_expired_for_capture',
  'charge_disputed',
  'amount_too_large',
];

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Stripe's `{error: {type, code, decline_code, payment_intent}}`, tolerant of any body. */
export function stripeErrorBody(body: string): StripeErrorBody {
  let json: unknown;
  try {
    json = JSON.parse(body) as unknown;
  } catch {
    return {};
  }
  if (typeof json !== 'object' || json === null) return {};
  const error = (json as Record<string, unknown>).error;
  if (typeof error !== 'object' || error === null) return {};
  const e = error as Record<string, unknown>;
  const pi = e.payment_intent;
  return {
    type: str(e.type),
    code: str(e.code),
    declineCode: str(e.decline_code),
    paymentIntent: typeof pi === 'object' && pi !== null ? (pi as Record<string, unknown>) : undefined,
  };
}

export function header(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  return Object.entries(headers)
    .find(([k]) => k.toLowerCase() === lower)?.[1]
    ?.trim();
}

/** The refusal code of a response that is a business "no" (FAIL outcome), else undefined. */
export function stripeRefusalCode(response: GatewayResponse): string | undefined {
  if (response.status < 400 || response.status >= 500) return undefined;
  const err = stripeErrorBody(response.body);
  if (err.type === 'card_error') return err.declineCode ?? err.code ?? 'card_declined';
  if (err.type === 'invalid_request_error' && err.code !== undefined && STRIPE_REFUSAL_CODES.includes(err.code)) return err.code;
  return undefined;
}

/** The `GatewayError` for a non-2xx Stripe response to a `call` (a write unless said). */
export function classifyStripeError(response: GatewayResponse, gateway: string, call: StripeCall = 'write'): GatewayError {
  const err = stripeErrorBody(response.body);
  const status = response.status;
  const gatewayCode = err.declineCode ?? err.code ?? err.type;
  // A write's unknown outcome answered from Stripe's idempotency layer: the request is held under our key (its
  // endpoint began) and every resend within the key's life gets this same answer, so it is asked about, never resent.
  const held = call === 'write' && header(response.headers, 'idempotent-replayed') === 'true';
  const fail = (kind: GatewayErrorKind, extra: { retryAfterMs?: number } = {}): GatewayError =>
    new GatewayError(kind, gateway, `HTTP ${status}${err.type ? ` ${err.type}` : ''}${gatewayCode && gatewayCode !== err.type ? ` ${gatewayCode}` : ''}`, {
      httpStatus: status,
      gatewayCode,
      ...extra,
      ...(kind === 'outcome_unknown' && held ? { pspHasRequest: true } : {}),
    });
  if (status === 401 || status === 403) return fail('authentication');
  if (status === 429) return fail('rate_limited', { retryAfterMs: retryAfterMs(response.headers) });
  const shouldRetry = header(response.headers, 'stripe-should-retry');
  if (err.type === 'idempotency_error' || err.code === 'idempotency_key_in_use') {
    // Still running under our key: it may yet act, so never a failure; "do not retry" leaves it to be asked about.
    if (status === 409 || err.code === 'idempotency_key_in_use') return fail(shouldRetry === 'false' ? 'outcome_unknown' : 'server_error');
    return fail('idempotency_conflict');
  }
  if (shouldRetry === 'true') return fail('server_error');
  // On a 5xx "do not retry" still leaves the result indeterminate (Stripe's "Advanced error handling": treat
  // a 500 as indeterminate): ask what happened rather than tell the OMS it failed. So on a 409: the request it
  // conflicts with holds our idempotency key, so it is an attempt of ours, which may yet move money.
  if (shouldRetry === 'false') {
    return fail(status >= 500 || status === 424 || status === 409 ? 'outcome_unknown' : err.type === 'card_error' ? 'declined' : 'invalid_request');
  }
  // Refused before it was processed (the rate limiter runs ahead of the idempotency layer; a locked object is
  // not touched): the same request, later.
  if (err.code === 'rate_limit' || err.code === 'lock_timeout') return fail('rate_limited', { retryAfterMs: retryAfterMs(response.headers) });
  // Not "the request was wrong": a dependency beyond Stripe (a card network, a bank) failed mid-request.
  if (status === 424) return fail('outcome_unknown');
  if (err.type === 'card_error') return fail('declined');
  if (status === 404) return fail('not_found');
  // Indeterminate for a write (see above): its replayed 500 would hide what Stripe did, so it is asked about.
  if (status >= 500 || err.type === 'api_error') return fail(call === 'write' ? 'outcome_unknown' : 'server_error');
  if (status === 409) return fail('server_error');
  return fail('invalid_request');
}

import { GatewayError, GatewayErrorKind } from '../../errors/gateway-error';
import { GatewayResponse } from '../gateway-adapter';
import { retryAfterMs } from '../../http/retry-after';

/**
 * Classifies a Cybersource error answer into our one taxonomy, from the HTTP status and Cybersource's own
 * codes (`reason` on /pts and /tss, `errors[].type` on /tms), never from message text.
 *
 * - 400 `reason` (the /pts "Possible values"): malformed requests are `invalid_request`; business refusals
 *   of an otherwise valid request (already reversed, exceeds the authorization, card type not accepted…)
 *   are `declined` with the reason as the OMS's reason; `PROCESSOR_UNAVAILABLE` is `server_error`.
 *   `DUPLICATE_REQUEST` (reason code 104: the merchant reference matches another transaction sent in the
 *   last 15 minutes) means Cybersource already has a request under our reference, which is our operation
 *   id: the first attempt landed and may have moved money. So it is not a refusal of the operation but
 *   `outcome_unknown` with `pspHasRequest`: the operation stays UNKNOWN and is asked about (Transaction
 *   Search, whose index may lag behind) until the answer shows, never resent on a search miss.
 * - 401 → `authentication`; 403 and 424 (TMS: profile not permitted / not found) → `authentication`
 *   (an operator fixes the credentials or the profile, the backlog drains).
 * - 404, 410 → `not_found` (of a search: `server_error`, see below); 409 → `idempotency_conflict`; 429 → `rate_limited` with `Retry-After`.
 * - 5xx → `server_error`, except `SERVER_TIMEOUT` / `SERVICE_TIMEOUT` and 504: Cybersource documents that
 *   the request was received and may have been processed ("do not resend until you have reviewed the
 *   transaction status"), so they are `outcome_unknown`: a status inquiry comes before any resend.
 */

/** Documented 400 `reason` values of /pts/v2 (payments, captures, reversals, refunds, voids; `NOT_SUPPORTED` from later versions). */
export const CYBERSOURCE_400_REASONS = [
  'MISSING_FIELD',
  'INVALID_DATA',
  'DUPLICATE_REQUEST',
  'INVALID_CARD',
  'CARD_TYPE_NOT_ACCEPTED',
  'INVALID_MERCHANT_CONFIGURATION',
  'PROCESSOR_UNAVAILABLE',
  'INVALID_AMOUNT',
  'INVALID_CARD_TYPE',
  'INVALID_PAYMENT_ID',
  'DEBIT_CARD_USEAGE_EXCEEDD_LIMIT',
  'AUTH_ALREADY_REVERSED',
  'TRANSACTION_ALREADY_SETTLED',
  'MISSING_AUTH',
  'TRANSACTION_ALREADY_REVERSED_OR_SETTLED',
  'EXCEEDS_AUTH_AMOUNT',
  'CAPTURE_ALREADY_VOIDED',
  'ACCOUNT_NOT_ALLOWED_CREDIT',
  'NOT_VOIDABLE',
  // Captures and voids (cybersource-rest-client PtsV2PaymentsCapturesPost400Response, PtsV2PaymentsVoidsPost400Response):
  // the processor or account does not offer it (a second partial capture, a void).
  'NOT_SUPPORTED',
  // Payer Authentication (its "HTTP Status Codes"): the cardholder could not be authenticated.
  'CONSUMER_AUTHENTICATION_FAILED',
] as const;
export type Cybersource400Reason = (typeof CYBERSOURCE_400_REASONS)[number];

/**
 * Documented 502 `reason` values (the API reference's `PtsV2PaymentsPost502Response`; `PROCESSOR_TIMEOUT` is
 * listed there though not in the 2020-02-17 spec's enum; `SYSTEM_TIMEOUT` is the Payer Authentication guide's, "HTTP
 * Status Codes": "The request was received but there was a server timeout").
 */
export const CYBERSOURCE_502_REASONS = [
  'SYSTEM_ERROR',
  'SERVER_TIMEOUT',
  'SERVICE_TIMEOUT',
  'INVALID_OR_MISSING_CONFIG',
  'PROCESSOR_TIMEOUT',
  'SYSTEM_TIMEOUT',
] as const;
export type Cybersource502Reason = (typeof CYBERSOURCE_502_REASONS)[number];

/** The error kind of a documented 400 reason. Exhaustive. */
export function kindOf400Reason(reason: Cybersource400Reason): GatewayErrorKind {
  switch (reason) {
    case 'MISSING_FIELD':
    case 'INVALID_DATA':
    case 'INVALID_AMOUNT':
    case 'INVALID_PAYMENT_ID':
    case 'INVALID_MERCHANT_CONFIGURATION':
      return 'invalid_request';
    case 'DUPLICATE_REQUEST':
      return 'outcome_unknown';
    case 'PROCESSOR_UNAVAILABLE':
      return 'server_error';
    case 'INVALID_CARD':
    case 'CARD_TYPE_NOT_ACCEPTED':
    case 'INVALID_CARD_TYPE':
    case 'DEBIT_CARD_USEAGE_EXCEEDD_LIMIT':
    case 'AUTH_ALREADY_REVERSED':
    case 'TRANSACTION_ALREADY_SETTLED':
    case 'MISSING_AUTH':
    case 'TRANSACTION_ALREADY_REVERSED_OR_SETTLED':
    case 'EXCEEDS_AUTH_AMOUNT':
    case 'CAPTURE_ALREADY_VOIDED':
    case 'ACCOUNT_NOT_ALLOWED_CREDIT':
    case 'NOT_VOIDABLE':
    case 'NOT_SUPPORTED':
    case 'CONSUMER_AUTHENTICATION_FAILED':
      return 'declined';
  }
}

/** The error kind of a documented 502 reason. Exhaustive. */
export function kindOf502Reason(reason: Cybersource502Reason): GatewayErrorKind {
  switch (reason) {
    // Refused on our configuration before any processing: sending again changes nothing until it is fixed.
    case 'INVALID_OR_MISSING_CONFIG':
      return 'server_error';
    // The request got past Cybersource (to the processor, for PROCESSOR_TIMEOUT), or failed somewhere in it
    // (SYSTEM_ERROR, "general system failure"), and may have moved money: ask before sending again, as
    // Cybersource takes no idempotency key.
    case 'SYSTEM_ERROR':
    case 'SERVER_TIMEOUT':
    case 'SERVICE_TIMEOUT':
    case 'PROCESSOR_TIMEOUT':
    case 'SYSTEM_TIMEOUT':
      return 'outcome_unknown';
  }
}

/** TMS `errors[].type` values that refuse the token itself (the transient token is unknown or gone). */
const TMS_DECLINE_TYPES: ReadonlySet<string> = new Set(['instrumentIdentifierNotFound', 'instrumentIdentifierGone', 'notFound']);

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** Cybersource's own error code in a body: /pts `reason`, /tss `errorInformation.reason`, /tms `errors[0].type`. */
export function cybersourceErrorCode(body: string): string | undefined {
  const json = parseJson(body);
  const reason = field(json, 'reason') ?? field(field(json, 'errorInformation'), 'reason');
  if (typeof reason === 'string') return reason;
  const errors = field(json, 'errors');
  const type = Array.isArray(errors) ? field(errors[0], 'type') : undefined;
  return typeof type === 'string' ? type : undefined;
}

function isOneOf<T extends string>(list: readonly T[], value: string | undefined): value is T {
  return value !== undefined && (list as readonly string[]).includes(value);
}

/**
 * The `GatewayError` for a non-2xx Cybersource response. `read`: the answer of a search, which moves no
 * money: a 5xx there is a plain server error whatever the request it was, and so is a 404 or 410. The
 * search answers 201 (with `totalCount` 0 when nothing matches), 400 or 502 (2020-02-17 spec): a 404 is the
 * search itself not reached as documented (a proxy, a path, an outage), retried, never `not_found`, which
 * a status inquiry would take for "the request never landed" and resend.
 */
export function classifyCybersourceError(response: GatewayResponse, gateway: string, { read = false }: { read?: boolean } = {}): GatewayError {
  const code = cybersourceErrorCode(response.body);
  const details = { httpStatus: response.status, gatewayCode: code };
  const fail = (kind: GatewayErrorKind, extra: { retryAfterMs?: number; pspHasRequest?: boolean } = {}): GatewayError =>
    new GatewayError(kind, gateway, `HTTP ${response.status}${code ? ` ${code}` : ''}`, { ...details, ...extra });
  const status = response.status;
  if (status === 400) {
    if (code === 'DUPLICATE_REQUEST') return fail(kindOf400Reason(code), { pspHasRequest: true });
    if (isOneOf(CYBERSOURCE_400_REASONS, code)) return fail(kindOf400Reason(code));
    if (code !== undefined && TMS_DECLINE_TYPES.has(code)) return fail('declined');
    return fail('invalid_request');
  }
  if (status === 401 || status === 403 || status === 424) return fail('authentication');
  if (status === 404 || status === 410) return fail(read ? 'server_error' : 'not_found');
  if (status === 409) return fail('idempotency_conflict');
  if (status === 429) return fail('rate_limited', { retryAfterMs: retryAfterMs(response.headers) });
  if (status === 504) return fail('outcome_unknown');
  if (status >= 500) {
    if (read) return fail('server_error');
    if (isOneOf(CYBERSOURCE_502_REASONS, code)) return fail(kindOf502Reason(code));
    // Undocumented (the payments API documents 502 only): the request may have been processed, and a resend
    // without an idempotency key could move the money twice, so it is looked up first.
    return fail('outcome_unknown');
  }
  return fail('invalid_request');
}

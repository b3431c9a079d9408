import { PaymentBridgeError } from './payment-bridge-error';
import { MAX_ERROR_GATEWAY_CODE_CHARS, MAX_ERROR_MESSAGE_CHARS, boundedSafeText } from './psp-text';

/**
 * How a gateway call failed, classified once at the boundary from the HTTP status, the gateway's own
 * error code and the transport error, never from message text.
 *
 * - `declined`: the PSP said no (terminal; `declineCode` goes to the OMS as the reason).
 * - `invalid_request`: we sent something the PSP rejects (terminal; a bug or bad data).
 * - `authentication`: credentials refused (retryable: an operator fixes the key, the backlog drains).
 * - `rate_limited`: 429 (retryable, honour `retryAfterMs`).
 * - `server_error`: 5xx or the PSP asked for a retry (retryable with the same idempotency key).
 * - `idempotency_conflict`: same key, different parameters (terminal; never resend with a new key).
 * - `not_sent`: the request never left (connect refused, DNS, TLS): retryable, nothing happened.
 * - `outcome_unknown`: the request left but no answer came (timeout, reset), or the PSP answered that it
 *   already holds a request under this reference (`details.pspHasRequest`, e.g. Cybersource
 *   `DUPLICATE_REQUEST`): the money effect may have happened; resolve by status inquiry before any resend.
 * - `not_found`: the PSP does not know the object (status inquiry: the attempt never landed).
 */
export type GatewayErrorKind =
  'declined' | 'invalid_request' | 'authentication' | 'rate_limited' | 'server_error' | 'idempotency_conflict' | 'not_sent' | 'outcome_unknown' | 'not_found';

const RETRYABLE: Readonly<Record<GatewayErrorKind, boolean>> = {
  declined: false,
  invalid_request: false,
  authentication: true,
  rate_limited: true,
  server_error: true,
  idempotency_conflict: false,
  not_sent: true,
  outcome_unknown: true,
  not_found: false,
};

/** What a `GatewayError` carries besides its kind and message. */
export interface GatewayErrorDetails {
  httpStatus?: number;
  /**
   * The gateway's own error or decline code, kept for the OMS event's `reason`: cut at
   * `MAX_ERROR_GATEWAY_CODE_CHARS` characters and card numbers masked, whatever the PSP sent.
   */
  gatewayCode?: string;
  retryAfterMs?: number;
  /** The field of our command (or of the PSP's answer) at fault, when the refusal is about one. */
  field?: string;
  /**
   * The PSP said it already has a request under this operation's reference (a duplicate answer): the
   * request landed, so a status inquiry that finds nothing is lagging, not proof it never landed, and
   * must not lead to a resend.
   */
  pspHasRequest?: boolean;
  /**
   * The PSP answered every request of the call: what failed is the bridge's own limit (a status walk stopped at its
   * page cap), not the PSP. Such an error never counts against the gateway's circuit breaker nor its health: the PSP
   * is up. Set where the error is raised; the kind and `retryable` still decide what delivery does next.
   */
  pspAnswered?: boolean;
  cause?: unknown;
}

/**
 * A gateway call's failure. Its message and gateway code often quote the PSP's answer, which may hold anything:
 * both are cut (`MAX_ERROR_MESSAGE_CHARS`, `MAX_ERROR_GATEWAY_CODE_CHARS`) and have card numbers, bearer
 * credentials and registered secrets masked here, once, so no PSP text reaches a log line, the operation's
 * record or the OMS's event whole.
 */
export class GatewayError extends PaymentBridgeError {
  readonly retryable: boolean;
  readonly code: string;
  readonly details: GatewayErrorDetails;

  constructor(
    readonly kind: GatewayErrorKind,
    readonly gateway: string,
    message: string,
    details: GatewayErrorDetails = {},
  ) {
    super(`${gateway}: ${boundedSafeText(message, MAX_ERROR_MESSAGE_CHARS)}`, { cause: details.cause });
    this.retryable = RETRYABLE[kind];
    this.code = `GATEWAY_${kind.toUpperCase()}`;
    this.details =
      details.gatewayCode === undefined ? details : { ...details, gatewayCode: boundedSafeText(details.gatewayCode, MAX_ERROR_GATEWAY_CODE_CHARS, false) };
  }
}

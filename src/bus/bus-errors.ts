import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { PaymentBridgeError } from '../errors/payment-bridge-error';
import { busText } from './bus-text';

/**
 * The bus or the OAuth server could not be reached or answered 5xx/429. Retryable. Carries the URL we
 * called (without credentials) and a short reason (`ECONNREFUSED`, `TIMEOUT`, `HTTP 503`) so operators
 * see at once which setting to check.
 */
export class PeerUnavailableError extends DependencyUnavailableError {
  constructor(
    dependency: 'bus' | 'oauth',
    /** The URL called, userinfo stripped. */
    readonly url: string,
    /** Transport error code or `HTTP <status>`; never taken from a message text. */
    readonly reason: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(dependency, `cannot reach ${peerName(dependency)} at ${url} (${reason})`, options);
  }
}

/**
 * The OAuth server refused our client credentials (401, or 400 `invalid_client`/`unauthorized_client`),
 * or the bus refused a freshly issued token (401) or its scope (403 `insufficient_scope`, RFC 6750 §3.1).
 * Not retryable: an operator must fix the configuration.
 */
export class BusAuthenticationError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'BUS_AUTHENTICATION';

  constructor(
    message: string,
    /** HTTP status of the refusal. */
    readonly httpStatus: number,
    /** OAuth `error` code when the server sent one, e.g. `invalid_client`, or the bus's Bearer challenge's (`insufficient_scope`). */
    readonly oauthError?: string,
  ) {
    super(message);
  }
}

/**
 * The bus or the OAuth server rejected the request itself (a 4xx other than 401/429, or an answer that is
 * not the JSON it must be). Not retryable: sending the same again gets the same answer.
 */
export class BusRequestError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'BUS_REQUEST_REJECTED';

  constructor(
    message: string,
    /** HTTP status of the answer. */
    readonly httpStatus: number,
    /**
     * Who refused: the bus (default) or the OAuth server. A token request the OAuth server refuses (400
     * `invalid_scope`, `invalid_grant`, …) is a configuration fault, the same for every call: never a refusal of
     * what the call carried.
     */
    readonly peer: 'bus' | 'oauth' = 'bus',
  ) {
    super(message);
  }
}

/** The bus answered a JSON-RPC call with an `error` object. Not retryable. */
export class BusRpcError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'BUS_RPC_ERROR';
  /** The bus's own error message, made safe ({@link busText}: masked, at most 256 characters and a length note). */
  readonly rpcMessage: string;

  constructor(
    /** The JSON-RPC error code, e.g. -32602 (0 when the answer's was no integer). */
    readonly rpcCode: number,
    /** The bus's own error message, as it sent it. */
    message: string,
  ) {
    const safe = busText(message);
    super(`bus JSON-RPC error ${rpcCode}: ${safe}`);
    this.rpcMessage = safe;
  }
}

/** Registration or unregistration failed. `message` is one line that says what to fix. */
export class RegistrationError extends PaymentBridgeError {
  readonly code = 'REGISTRATION_FAILED';

  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `url` without user info, query or fragment, for messages and logs. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function peerName(dependency: 'bus' | 'oauth'): string {
  return dependency === 'bus' ? 'the bus' : 'the OAuth server';
}

import { BusRequestError, BusRpcError, displayUrl } from './bus-errors';
import { busText } from './bus-text';

/**
 * Reading the bus's answers to our calls (`BusClient`), pure: an answer is the bus's to choose, and whatever
 * it holds (not JSON, megabytes, nesting thousands deep, a card number or our token quoted in its error) ends in
 * a value or an error of the taxonomy whose text is ours or made safe (`busText`). The HTTP client reads at
 * most 8 MiB of it (`MAX_RESPONSE_BYTES`) within the call's deadline.
 */

/** What the readers need of a response: its status and body. */
export interface BusAnswer {
  status: number;
  body: string;
}

/**
 * The `result` of the JSON-RPC response to our request posted to `url`. Refused: an answer that is no
 * JSON-RPC 2.0 response, one with neither `result` nor `error`, and a non-2xx status (`BusRequestError`); a
 * JSON-RPC error is a `BusRpcError`, whatever the status. The answer's `id` is not checked: it is the answer to
 * this HTTP request whatever it says (a bus that does not echo the id still answered us), and refusing it
 * would leave a deployment unregistered for a cosmetic fault.
 */
export function readRpcAnswer(answer: BusAnswer, url: string): unknown {
  const parsed = parseJson(answer.body);
  if (!isObject(parsed) || parsed.jsonrpc !== '2.0') {
    throw new BusRequestError(
      `the bus at ${displayUrl(url)} answered HTTP ${answer.status} without a JSON-RPC response: check service_bus.url and service_bus.rpc_path`,
      answer.status,
    );
  }
  if (isObject(parsed.error)) throw rpcError(parsed.error);
  if (answer.status < 200 || answer.status >= 300) throw busStatusError(url, answer.status);
  if (!('result' in parsed)) {
    throw new BusRequestError(
      `the bus at ${displayUrl(url)} answered without a result or an error: check service_bus.url and service_bus.rpc_path`,
      answer.status,
    );
  }
  return parsed.result;
}

/**
 * Whether the bus took a notification posted to `url`: any 2xx answer unless it carries a JSON-RPC error
 * (`BusRpcError`); another status is a `BusRequestError` (the caller has handled 401, 429 and 5xx).
 */
export function readNotifyAnswer(answer: BusAnswer, url: string): void {
  if (answer.status < 200 || answer.status >= 300) throw busStatusError(url, answer.status);
  // An answer that cannot hold an `error` member (not even \u-escaped) is not parsed: the common case, on every event.
  if (!answer.body.includes('error') && !answer.body.includes('\\u')) return;
  const parsed = parseJson(answer.body);
  if (isObject(parsed) && isObject(parsed.error)) throw rpcError(parsed.error);
}

/** The range of a JSON-RPC error code we read (32-bit, as implementations hold it); a card number is far beyond. */
const MIN_RPC_CODE = -(2 ** 31);
const MAX_RPC_CODE = 2 ** 31 - 1;

/**
 * A JSON-RPC `error` object as a `BusRpcError`: its code when it is an integer (JSON-RPC 2.0 §5.1) of 32 bits,
 * else 0 (no code: not one of the content refusals an event is set aside for, so retried; and never a card
 * number sent as a code in the error's message); its message made safe.
 */
export function rpcError(error: Record<string, unknown>): BusRpcError {
  const { code } = error;
  const rpcCode = typeof code === 'number' && Number.isInteger(code) && code >= MIN_RPC_CODE && code <= MAX_RPC_CODE ? code : 0;
  return new BusRpcError(rpcCode, typeof error.message === 'string' ? error.message : '(no message)');
}

/** An RFC 6750 §3 error code (`invalid_token`, `insufficient_scope`), of a length a code has. */
const BEARER_ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;
/** An RFC 6749 §3.3 scope (space-separated NQCHAR tokens), of a length an operator can read in a message. */
const SCOPE_VALUE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/** Longest `WWW-Authenticate` value read, characters: a challenge naming a code and a scope is far shorter. */
const MAX_CHALLENGE_CHARS = 4096;
/** An RFC 9110 §5.6.2 token: an auth-scheme or an auth-param's name, or its unquoted value. */
const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
/** `= value` after an auth-param's name (RFC 9110 §11.2): a token, or a quoted-string with its `\` escapes. */
const PARAM_VALUE = /[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+\-.^_`|~0-9A-Za-z]+))/y;
/** White space and the commas between challenges and between auth-params. */
const LIST_GAP = /[ \t,]*/y;
/**
 * A token68 after an auth-scheme (RFC 9110 §11.3: `Negotiate YII…==`, `Basic dXNlcg==`), ending its challenge: the
 * `=` padding would otherwise read as a param's `=` without a value and stop the reading before a later Bearer.
 */
const TOKEN68 = /[ \t]+[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/y;

/**
 * The auth-params of the first `Bearer` challenge of a `WWW-Authenticate` value (RFC 9110 §11.6.1: a list of
 * challenges, each a scheme and its params, and several header lines arrive joined by commas), names in lower
 * case, the first of a repeated name kept. A quoted value is read whole, escapes included, so text inside it
 * (a description that says `scope=…`) is never taken for a param; another scheme's params are never the
 * Bearer's. Reading stops where the value stops parsing (an unterminated quote, a stray character).
 */
function bearerParams(header: string): Map<string, string> | undefined {
  const text = header.slice(0, MAX_CHALLENGE_CHARS);
  let params: Map<string, string> | undefined;
  let at = 0;
  const sticky = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m) at = re.lastIndex;
    return m;
  };
  for (let inBearer = false; ;) {
    sticky(LIST_GAP);
    if (at >= text.length) return params;
    const name = sticky(TOKEN);
    if (!name) return params;
    const value = sticky(PARAM_VALUE);
    if (value) {
      const key = name[0].toLowerCase();
      if (inBearer && params && !params.has(key)) params.set(key, value[1] !== undefined ? value[1].replace(/\\(.)/g, '$1') : value[2]);
      continue;
    }
    // A scheme (or a token68, which Bearer challenges do not carry): the Bearer challenge's params end here.
    if (inBearer) return params;
    inBearer = name[0].toLowerCase() === 'bearer';
    if (inBearer) params = new Map();
    // The scheme's token68, if it has one: skipped; a Bearer challenge (RFC 6750 §3) carries params only.
    if (sticky(TOKEN68) && inBearer) return params;
  }
}

/**
 * The `error` code and `scope` of the bus's Bearer challenge (`WWW-Authenticate: Bearer error="insufficient_scope",
 * scope="…"`, RFC 6750 §3), each only when it is one (a scope of at most 128 characters, made safe by `busText`);
 * `{}` when the answer carries no Bearer challenge. The challenge may follow another (`DPoP algs="ES256", Bearer …`);
 * only its own params are read (`bearerParams`), never the `error_description`: it is the bus's free text.
 */
export function bearerChallenge(headers: Record<string, string>): { error?: string; scope?: string } {
  const header = headers['www-authenticate'];
  const params = typeof header === 'string' ? bearerParams(header) : undefined;
  if (!params) return {};
  const error = params.get('error');
  const scope = params.get('scope');
  return {
    ...(error !== undefined && BEARER_ERROR_CODE.test(error) ? { error } : {}),
    ...(scope !== undefined && scope.length <= 128 && SCOPE_VALUE.test(scope) ? { scope: busText(scope) } : {}),
  };
}

/** A status the bus refused the request with, naming the URL (never the bus's words). */
export function busStatusError(url: string, status: number): BusRequestError {
  return new BusRequestError(`the bus at ${displayUrl(url)} refused the request (HTTP ${status}): check service_bus.url and its paths`, status);
}

function parseJson(text: string): unknown {
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { randomUUID } from 'node:crypto';
import { Config } from '../config/config';
import { OutboundClient, OutboundRequestError, OutboundResponse } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError, displayUrl } from './bus-errors';
import { retryAfterMs } from '../http/retry-after';
import { jsonRpcRequest } from './json-rpc';
import { AccessTokenSource } from './oauth-token-provider';

/**
 * Calls to the bus with a Bearer token: `call()` for JSON-RPC requests on `service_bus.url + rpc_path`
 * (register, unregister), `notify()` for payment events as JSON-RPC notifications on the delegate URL
 * (`service_bus.url + delegate_path`). On HTTP 401 the token is invalidated and the call retried once.
 *
 * Failures: `PeerUnavailableError` (a retryable `DependencyUnavailableError('bus', …)`: unreachable,
 * timeout, 5xx, 429), `BusRpcError` (a JSON-RPC error answer), `BusAuthenticationError` (401 again with a
 * fresh token), `BusRequestError` (another 4xx or a malformed answer); the last three are not retryable.
 * Token failures come from the `AccessTokenSource` unchanged.
 */
/** Keep-alive sockets to the bus when `inflight.max` is lower (OutboundClient's own default). */
const MIN_BUS_SOCKETS = 64;

export class BusClient {
  private readonly http: OutboundClient;
  private readonly rpcUrl: string;
  private readonly delegateUrl: string;

  constructor(
    config: Config,
    private readonly tokens: AccessTokenSource,
    private readonly logger: Logger = silentLogger(),
  ) {
    const bus = config.serviceBus;
    // A worker sends each event inline, inside its command's in-flight slot: a pool smaller than the commands
    // in flight (inflight.max) would queue them behind the bus's round trip (64 sockets at a 100 ms bus are
    // 640 events/s). Idle sockets close with the keep-alive pool, so a web process does not hold more.
    this.http = new OutboundClient({ timeoutMs: bus.timeoutMs, proxy: config.proxy, maxSockets: Math.max(MIN_BUS_SOCKETS, config.inflight.max) });
    this.rpcUrl = `${bus.url}${bus.rpcPath}`;
    this.delegateUrl = `${bus.url}${bus.delegatePath}`;
  }

  /** Sends a JSON-RPC request and resolves with its `result`. */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const body = JSON.stringify(jsonRpcRequest(method, params, randomUUID()));
    const response = await this.post(this.rpcUrl, body);
    const answer = parseJson(response.body);
    if (!isObject(answer) || answer.jsonrpc !== '2.0') {
      throw new BusRequestError(
        `the bus at ${displayUrl(this.rpcUrl)} answered HTTP ${response.status} without a JSON-RPC response: check service_bus.url and service_bus.rpc_path`,
        response.status,
      );
    }
    if (isObject(answer.error)) {
      const code = typeof answer.error.code === 'number' ? answer.error.code : 0;
      const message = typeof answer.error.message === 'string' ? answer.error.message : '(no message)';
      throw new BusRpcError(code, message);
    }
    if (response.status >= 300) throw this.statusError(this.rpcUrl, response.status);
    return answer.result;
  }

  /** Sends a JSON-RPC notification (no id) to the delegate URL; resolves once the bus accepted it (2xx). */
  async notify(method: string, params: Record<string, unknown>): Promise<void> {
    await this.notifyEncoded(JSON.stringify(jsonRpcRequest(method, params)));
  }

  /** `notify` with the notification already serialised (a JSON-RPC request without id, as `notify` writes it). */
  async notifyEncoded(body: string): Promise<void> {
    const response = await this.post(this.delegateUrl, body);
    if (response.status >= 300) throw this.statusError(this.delegateUrl, response.status);
    // A JSON-RPC error in a 2xx answer is still a refusal: the OMS did not take the event. An answer that
    // cannot hold an `error` member (not even \u-escaped) is not parsed: the common case, on every event.
    if (!response.body.includes('error') && !response.body.includes('\\u')) return;
    const answer = parseJson(response.body);
    if (isObject(answer) && isObject(answer.error)) {
      const code = typeof answer.error.code === 'number' ? answer.error.code : 0;
      const message = typeof answer.error.message === 'string' ? answer.error.message : '(no message)';
      throw new BusRpcError(code, message);
    }
  }

  /**
   * Posts `body` with the current token; on 401 invalidates it and retries once with a fresh one. Returns
   * any answer that is not 401, 429 or 5xx; those, and transport failures, are thrown as classified errors.
   */
  private async post(url: string, body: string): Promise<OutboundResponse> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.getToken();
      const response = await this.send(url, body, token);
      if (response.status === 401) {
        this.tokens.invalidate(token);
        if (attempt === 1) {
          this.logger.info('bus refused the access token; fetching a new one and retrying once', { url: displayUrl(url) });
          continue;
        }
        throw new BusAuthenticationError(
          `the bus at ${displayUrl(url)} refused a freshly issued access token (HTTP 401): check that mom_client.client_id may call the bus and that mom_client.oauth_server_url is the bus's OAuth server`,
          401,
        );
      }
      if (response.status >= 500 || response.status === 429) {
        throw new PeerUnavailableError('bus', displayUrl(url), `HTTP ${response.status}`, { retryAfterMs: retryAfterMs(response.headers) });
      }
      return response;
    }
  }

  private async send(url: string, body: string, token: string): Promise<OutboundResponse> {
    try {
      return await this.http.send({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
        body,
      });
    } catch (err) {
      if (!(err instanceof OutboundRequestError)) throw err;
      this.logger.debug('bus call failed', { url: displayUrl(url), error_code: err.failure.code });
      throw new PeerUnavailableError('bus', displayUrl(url), err.failure.code);
    }
  }

  private statusError(url: string, status: number): BusRequestError {
    return new BusRequestError(`the bus at ${displayUrl(url)} refused the request (HTTP ${status}): check service_bus.url and its paths`, status);
  }
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

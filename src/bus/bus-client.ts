import { randomUUID } from 'node:crypto';
import { Config } from '../config/config';
import { separateConnectTimeout } from '../http/outbound-http';
import { OutboundClient, OutboundRequestError, OutboundResponse } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { BusAuthenticationError, PeerUnavailableError, displayUrl } from './bus-errors';
import { bearerChallenge, readNotifyAnswer, readRpcAnswer } from './bus-answers';
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
 * fresh token, or 403 with the Bearer challenge `insufficient_scope`), `BusRequestError` (another 4xx, or a malformed answer: no JSON-RPC, no
 * `result`); the last three are not retryable. Answers are read by `bus-answers.ts`.
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
    this.http = new OutboundClient({
      timeoutMs: bus.timeoutMs,
      // A black-holed bus fails each event in this time, not the whole deadline (it is retried either way).
      connectTimeoutMs: separateConnectTimeout(bus.connectTimeoutMs, bus.timeoutMs),
      proxy: config.proxy,
      maxSockets: Math.max(MIN_BUS_SOCKETS, config.inflight.max),
    });
    this.rpcUrl = `${bus.url}${bus.rpcPath}`;
    this.delegateUrl = `${bus.url}${bus.delegatePath}`;
  }

  /** Sends a JSON-RPC request and resolves with its `result` (read by `readRpcAnswer`). */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = randomUUID();
    const response = await this.post(this.rpcUrl, JSON.stringify(jsonRpcRequest(method, params, id)));
    return readRpcAnswer(response, this.rpcUrl);
  }

  /** Sends a JSON-RPC notification (no id) to the delegate URL; resolves once the bus accepted it (2xx). */
  async notify(method: string, params: Record<string, unknown>): Promise<void> {
    await this.notifyEncoded(JSON.stringify(jsonRpcRequest(method, params)));
  }

  /**
   * `notify` with the notification already serialised (a JSON-RPC request without id, as `notify` writes it).
   * A JSON-RPC error in a 2xx answer is still a refusal: the OMS did not take the event (`readNotifyAnswer`).
   */
  async notifyEncoded(body: string): Promise<void> {
    readNotifyAnswer(await this.post(this.delegateUrl, body), this.delegateUrl);
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
        const { error } = bearerChallenge(response.headers);
        throw new BusAuthenticationError(
          `the bus at ${displayUrl(url)} refused a freshly issued access token (HTTP 401${error ? ` ${error}` : ''}): check that mom_client.client_id may call the bus and that mom_client.oauth_server_url is the bus's OAuth server`,
          401,
          error,
        );
      }
      if (response.status === 403) {
        // RFC 6750 §3.1: the token is good but lacks the scope this call needs; a new token of the same scope would
        // not help, and the fault is the configured scope, not the URL.
        const { error, scope } = bearerChallenge(response.headers);
        if (error === 'insufficient_scope') {
          throw new BusAuthenticationError(
            `the bus at ${displayUrl(url)} refused the access token's scope (HTTP 403 insufficient_scope): check mom_client.scope${scope ? ` (the bus asks for scope "${scope}")` : ''}`,
            403,
            error,
          );
        }
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
}

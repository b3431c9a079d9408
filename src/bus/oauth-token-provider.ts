import { Config } from '../config/config';
import { OutboundClient, OutboundRequestError, OutboundResponse } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { registerRecentToken, registerSecret } from '../logging/redact';
import { retryAfterMs } from '../http/retry-after';
import { BusAuthenticationError, BusRequestError, PeerUnavailableError, displayUrl } from './bus-errors';

/** Where bus calls get their Bearer token. `OAuthTokenProvider` is the real one; tests may pass their own. */
export interface AccessTokenSource {
  /** A currently valid access token. */
  getToken(): Promise<string>;
  /**
   * Forgets the cached token so the next `getToken()` fetches a new one (after the bus answered 401).
   * With `rejected`, only forgets it if it is still that token, so concurrent 401s cause one refresh.
   */
  invalidate(rejected?: string): void;
}

export interface OAuthTokenProviderOptions {
  /** Clock, milliseconds since the epoch. Default `Date.now`; tests pass their own. */
  now?: () => number;
  /** Timeout of one token request, milliseconds. Default `config.serviceBus.timeoutMs`. */
  timeoutMs?: number;
}

/** Lifetime assumed when the server sends no `expires_in`, seconds. */
const DEFAULT_LIFETIME_S = 300;

/** OAuth `error` codes that mean our client id or secret is wrong. */
const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set(['invalid_client', 'unauthorized_client']);

/**
 * OAuth 2.0 client-credentials tokens for calls to the bus (`mom_client.*`). Caches the token and fetches
 * a new one `mom_client.refresh_margin_s` seconds before it expires; concurrent callers share one request.
 * Every token is registered with the log redactor (the 16 most recent stay registered). Failures: `BusAuthenticationError` (bad credentials, not
 * retryable), `PeerUnavailableError` (a `DependencyUnavailableError('oauth', …)`: unreachable, timeout,
 * 5xx, 429; retryable), `BusRequestError` (any other refusal or a malformed answer; not retryable).
 */
export class OAuthTokenProvider implements AccessTokenSource {
  /**
   * Our own keep-alive client (TLS 1.2 floor, proxy, whole-call deadline). simple-oauth2 was dropped: it
   * deep-clones its HTTP options, agent included, and a cloned agent never hands a freed socket to the
   * next request, so after `maxSockets` quick fetches every further one waited until the server closed a
   * socket (a burst of 401s from the bus could stall every bus call).
   */
  private readonly http: OutboundClient;
  private readonly tokenUrl: string;
  private readonly displayTokenUrl: string;
  private readonly authorization: string;
  private readonly now: () => number;
  private cached: { token: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  /** Bumped by `invalidate()`, so a fetch started before it does not re-cache a token it may have made stale. */
  private generation = 0;
  /** Token requests made so far (for metrics and tests). */
  fetchCount = 0;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger = silentLogger(),
    options: OAuthTokenProviderOptions = {},
  ) {
    const { momClient } = config;
    registerSecret(momClient.clientSecret);
    this.tokenUrl = new URL(`${momClient.oauthServerUrl}${momClient.tokenPath}`).toString();
    this.displayTokenUrl = displayUrl(this.tokenUrl);
    this.now = options.now ?? Date.now;
    const timeoutMs = options.timeoutMs ?? config.serviceBus.timeoutMs;
    this.http = new OutboundClient({ timeoutMs, proxy: config.proxy, maxSockets: 4 });
    // RFC 6749 §2.3.1: client id and secret are form-encoded, then joined and base64-encoded.
    this.authorization = `Basic ${Buffer.from(`${formEncode(momClient.clientId)}:${formEncode(momClient.clientSecret)}`).toString('base64')}`;
    registerSecret(this.authorization.slice('Basic '.length));
  }

  async getToken(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return this.cached.token;
    if (!this.inFlight) {
      const generation = this.generation;
      this.inFlight = this.fetchToken(generation).finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  invalidate(rejected?: string): void {
    // A 401 for a token already dropped or replaced asks for a refresh that has happened or is under way;
    // bumping the generation again would keep that refresh's token out of the cache and fetch once more.
    if (rejected !== undefined && this.cached?.token !== rejected) return;
    this.cached = undefined;
    this.generation += 1;
  }

  private async fetchToken(generation: number): Promise<string> {
    this.fetchCount += 1;
    const scope = this.config.momClient.scope;
    const { clientAuth, clientId, clientSecret } = this.config.momClient;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      ...(scope ? { scope } : {}),
      // RFC 6749 §2.3.1 allows the credentials in the body for servers that do not read Basic; never both.
      ...(clientAuth === 'body' ? { client_id: clientId, client_secret: clientSecret } : {}),
    });
    let response: OutboundResponse;
    try {
      response = await this.http.send({
        method: 'POST',
        url: this.tokenUrl,
        headers: {
          ...(clientAuth === 'header' ? { authorization: this.authorization } : {}),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
      });
    } catch (err) {
      if (!(err instanceof OutboundRequestError)) throw err;
      throw new PeerUnavailableError('oauth', this.displayTokenUrl, err.failure.code);
    }
    const raw = parseJsonObject(response.body);
    if (response.status < 200 || response.status >= 300 || raw === undefined) throw this.classify(response.status, raw, response.headers);
    const token = raw.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new BusRequestError(
        `the OAuth server at ${this.displayTokenUrl} answered without an access_token: check mom_client.oauth_server_url and mom_client.token_path`,
        response.status,
      );
    }
    registerRecentToken(token);
    const lifetimeS = typeof raw.expires_in === 'number' && raw.expires_in > 0 ? raw.expires_in : DEFAULT_LIFETIME_S;
    const fetchedAt = this.now();
    if (generation === this.generation) {
      // At most half the lifetime early: a token living no longer than the margin would otherwise be stale
      // on arrival, and every bus call would fetch a new one.
      const marginS = Math.min(this.config.momClient.refreshMarginS, lifetimeS / 2);
      this.cached = { token, refreshAt: fetchedAt + (lifetimeS - marginS) * 1000 };
    }
    this.logger.debug('OAuth access token obtained', { expires_in_s: lifetimeS, token_url: this.displayTokenUrl });
    return token;
  }

  /** A refusal or a malformed answer in our taxonomy: by HTTP status and OAuth error code, never by message text. */
  private classify(status: number, body: Record<string, unknown> | undefined, headers: Record<string, string>): Error {
    const oauthError = typeof body?.error === 'string' ? body.error : undefined;
    if (status === 401 || (status === 400 && oauthError !== undefined && CREDENTIAL_ERRORS.has(oauthError))) {
      return new BusAuthenticationError(
        `the OAuth server at ${this.displayTokenUrl} refused the client credentials (HTTP ${status}${oauthError ? ` ${oauthError}` : ''}): check mom_client.client_id and mom_client.client_secret`,
        status,
        oauthError,
      );
    }
    if (status >= 500 || status === 429) {
      return new PeerUnavailableError('oauth', this.displayTokenUrl, `HTTP ${status}`, { retryAfterMs: retryAfterMs(headers) });
    }
    if (status < 400) {
      return new BusRequestError(
        `the OAuth server at ${this.displayTokenUrl} answered HTTP ${status} without a JSON token: check mom_client.oauth_server_url and mom_client.token_path`,
        status,
      );
    }
    return new BusRequestError(
      `the OAuth server at ${this.displayTokenUrl} refused the token request (HTTP ${status}${oauthError ? ` ${oauthError}` : ''}): check mom_client.token_path and mom_client.scope`,
      status,
    );
  }
}

/** `application/x-www-form-urlencoded` encoding of one value (space as `+`), as RFC 6749 asks for credentials. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

import { ClientCredentials } from 'simple-oauth2';
import { Config } from '../config/config';
import { createAgents, transportErrorCode } from '../http/outbound-http';
import { Logger, silentLogger } from '../logging/logger';
import { registerRecentToken, registerSecret } from '../logging/redact';
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
  private readonly client: ClientCredentials;
  private readonly tokenUrl: string;
  private readonly now: () => number;
  private readonly timeoutMs: number;
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
    // Resolve the token URL ourselves: wreck's baseUrl would drop a path prefix of oauth_server_url.
    const full = new URL(`${momClient.oauthServerUrl}${momClient.tokenPath}`);
    this.tokenUrl = displayUrl(full.toString());
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? config.serviceBus.timeoutMs;
    const agents = createAgents({ timeoutMs: this.timeoutMs, proxy: config.proxy, maxSockets: 4 });
    this.client = new ClientCredentials({
      client: { id: momClient.clientId, secret: momClient.clientSecret },
      auth: { tokenHost: full.origin, tokenPath: full.pathname },
      options: { authorizationMethod: 'header' },
      // Given here, not per call: simple-oauth2 deep-clones per-call options, which breaks an agent that
      // holds sockets. Wreck's own timeout covers connect, answer and body.
      http: { timeout: this.timeoutMs, agent: full.protocol === 'https:' ? agents.httpsAgent : agents.httpAgent },
    });
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
    if (rejected !== undefined && this.cached && this.cached.token !== rejected) return;
    this.cached = undefined;
    this.generation += 1;
  }

  private async fetchToken(generation: number): Promise<string> {
    this.fetchCount += 1;
    const scope = this.config.momClient.scope;
    let raw: Record<string, unknown>;
    try {
      const accessToken = await this.client.getToken(scope ? { scope } : {});
      raw = accessToken.token;
    } catch (err) {
      throw this.classify(err);
    }
    const token = raw.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new BusRequestError(`the OAuth server at ${this.tokenUrl} answered without an access_token: check mom_client.oauth_server_url and mom_client.token_path`, 200);
    }
    registerRecentToken(token);
    const lifetimeS = typeof raw.expires_in === 'number' && raw.expires_in > 0 ? raw.expires_in : DEFAULT_LIFETIME_S;
    const fetchedAt = this.now();
    if (generation === this.generation) {
      this.cached = { token, refreshAt: fetchedAt + (lifetimeS - this.config.momClient.refreshMarginS) * 1000 };
    }
    this.logger.debug('OAuth access token obtained', { expires_in_s: lifetimeS, token_url: this.tokenUrl });
    return token;
  }

  /** Maps a wreck/Boom failure to our taxonomy: by HTTP status and OAuth error code, never by message text. */
  private classify(err: unknown): Error {
    const status = responseStatus(err);
    if (status === undefined) {
      // Wreck reports its own timeout as a Boom 504 without a response.
      const code = isBoomStatus(err, 504) ? 'TIMEOUT' : transportErrorCode(boomData(err) ?? err);
      return new PeerUnavailableError('oauth', this.tokenUrl, code);
    }
    const oauthError = responseOAuthError(err);
    if (status === 401 || (status === 400 && oauthError !== undefined && CREDENTIAL_ERRORS.has(oauthError))) {
      return new BusAuthenticationError(
        `the OAuth server at ${this.tokenUrl} refused the client credentials (HTTP ${status}${oauthError ? ` ${oauthError}` : ''}): check mom_client.client_id and mom_client.client_secret`,
        status,
        oauthError,
      );
    }
    if (status >= 500 || status === 429) return new PeerUnavailableError('oauth', this.tokenUrl, `HTTP ${status}`);
    if (status < 400) {
      return new BusRequestError(`the OAuth server at ${this.tokenUrl} answered HTTP ${status} without a JSON token: check mom_client.oauth_server_url and mom_client.token_path`, status);
    }
    return new BusRequestError(
      `the OAuth server at ${this.tokenUrl} refused the token request (HTTP ${status}${oauthError ? ` ${oauthError}` : ''}): check mom_client.token_path and mom_client.scope`,
      status,
    );
  }
}

function boomData(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { data?: unknown }).data : undefined;
}

function isBoomStatus(err: unknown, status: number): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const output = (err as { output?: { statusCode?: unknown } }).output;
  return output?.statusCode === status;
}

/** Status of the server's answer, when there was one (wreck attaches the response as `data.res`). */
function responseStatus(err: unknown): number | undefined {
  const data = boomData(err);
  if (typeof data !== 'object' || data === null) return undefined;
  const res = (data as { res?: { statusCode?: unknown } }).res;
  return typeof res?.statusCode === 'number' ? res.statusCode : undefined;
}

function responseOAuthError(err: unknown): string | undefined {
  const data = boomData(err);
  if (typeof data !== 'object' || data === null) return undefined;
  let payload = (data as { payload?: unknown }).payload;
  if (Buffer.isBuffer(payload)) {
    try {
      payload = JSON.parse(payload.toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const error = (payload as { error?: unknown }).error;
  return typeof error === 'string' ? error : undefined;
}

import { Config } from '../config/config';
import { separateConnectTimeout } from '../http/outbound-http';
import { OutboundClient, OutboundRequestError, OutboundResponse } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { registerRecentToken, registerSecret } from '../logging/redact';
import { retryAfterMs } from '../http/retry-after';
import { BusAuthenticationError, BusRequestError, PeerUnavailableError, displayUrl } from './bus-errors';
import { MAX_ACCESS_TOKEN_CHARS, busText } from './bus-text';

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

/**
 * Longest lifetime we plan a token with, seconds (a day). `expires_in` is the server's word (RFC 6749 §5.1),
 * but one of 10^12 (milliseconds sent as seconds, a bug, a hostile server) would keep a token for ever: never
 * refreshed unless the bus answers 401, so a key rotated or a client revoked at the OAuth server would go
 * unnoticed for as long as the bus kept taking the old token, and times that far out are beyond what a Date
 * (8.64e15 ms) or a timer (2^31-1 ms, about 24.8 days) holds. Client-credentials tokens live minutes to hours;
 * a day is far above that, so a server's honest answer is never cut, and a token is asked for at least once
 * a day. A longer one is planned with this (`pb_bus_token_lifetime_clamped_total`, a warn line per token);
 * a 401 still brings a new token at once.
 */
export const MAX_TOKEN_LIFETIME_S = 24 * 60 * 60;

/**
 * Shortest lifetime we plan a token with, seconds. A token is refreshed at half its lifetime at the latest, so
 * an `expires_in` of 0.5 (a misconfigured server, milliseconds meant as minutes) would have every process ask
 * for a token four times a second for as long as the bus calls go on: a flood against the OAuth server, one
 * it may well answer by refusing us. Client-credentials servers issue tokens for minutes to hours; 30 s is far
 * below that, so an honest answer is never raised. A shorter one is planned with this (refreshed after 15 s,
 * `pb_bus_token_lifetime_clamped_total{bound="floor"}`, a warn line per token); should the token really stop
 * working sooner, the bus answers 401 and that still brings a new token at once, so nothing waits on the floor.
 */
export const MIN_TOKEN_LIFETIME_S = 30;

/**
 * Wait after a failed early refresh before the next one, milliseconds (longer when the server's
 * `Retry-After` asks for it): meanwhile the still-valid token is served without asking again. Also how long a
 * refusal of the token request (400 `invalid_scope`, 401 `invalid_client`, …) is rethrown without asking again
 * when no valid token is in hand.
 */
export const REFRESH_RETRY_MS = 5000;

const refreshFailuresTotal = () =>
  counter(
    'pb_bus_token_refresh_failures_total',
    'Failed OAuth token requests for bus calls: outcome=kept_token (an early refresh failed; the cached token, valid until it expires, is served meanwhile) or no_token (no valid token to fall back on: the bus call fails)',
    ['outcome'],
  );

const lifetimeClampedTotal = () =>
  counter(
    'pb_bus_token_lifetime_clamped_total',
    "OAuth tokens for bus calls whose expires_in was out of bounds, planned with the bound (refreshed then, or at the bus's first 401): bound=ceiling beyond MAX_TOKEN_LIFETIME_S (a day), bound=floor under MIN_TOKEN_LIFETIME_S (30 s)",
    ['bound'],
  );

/** OAuth `error` codes that mean our client id or secret is wrong. */
const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set(['invalid_client', 'unauthorized_client']);

/**
 * OAuth 2.0 client-credentials tokens for calls to the bus (`mom_client.*`). Caches the token and fetches
 * a new one `mom_client.refresh_margin_s` seconds before it expires; concurrent callers share one request.
 * When that early refresh fails, the cached token is still valid (RFC 6749 §5.1 `expires_in`): it is served
 * until it expires, the refresh tried again after {@link REFRESH_RETRY_MS} (one warn line per failure
 * streak, `pb_bus_token_refresh_failures_total{outcome="kept_token"}`). With no valid token, a refusal (not an
 * outage) is rethrown for {@link REFRESH_RETRY_MS} without asking again (`outcome="no_token"`, counted once).
 * Every token is registered with the log redactor (the 16 most recent stay registered). Failures: `BusAuthenticationError` (bad credentials, not
 * retryable), `PeerUnavailableError` (a `DependencyUnavailableError('oauth', …)`: unreachable, timeout,
 * 5xx, 429; retryable), `BusRequestError` (any other refusal or a malformed answer; not retryable).
 */
export class OAuthTokenProvider implements AccessTokenSource {
  /**
   * Our own keep-alive client (TLS 1.2 floor, proxy, whole-call deadline, `service_bus.connect_timeout_ms`). simple-oauth2 was dropped: it
   * deep-clones its HTTP options, agent included, and a cloned agent never hands a freed socket to the
   * next request, so after `maxSockets` quick fetches every further one waited until the server closed a
   * socket (a burst of 401s from the bus could stall every bus call).
   */
  private readonly http: OutboundClient;
  private readonly tokenUrl: string;
  private readonly displayTokenUrl: string;
  private readonly now: () => number;
  private cached: { token: string; refreshAt: number; expiresAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  /** Bumped by `invalidate()`, so a fetch started before it does not re-cache a token it may have made stale. */
  private generation = 0;
  /** After a failed early refresh: no new attempt before this time (ms since the epoch); the cached token serves. */
  private refreshRetryAt = 0;
  /** Failed token requests since the last success (one warn line per streak). */
  private failureStreak = 0;
  /**
   * After the OAuth server refused the token request with no valid token in hand: that refusal, rethrown
   * without asking again until `until` (ms since the epoch; {@link REFRESH_RETRY_MS} on).
   */
  private refused: { err: unknown; until: number } | undefined;
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
    this.http = new OutboundClient({
      timeoutMs,
      connectTimeoutMs: separateConnectTimeout(config.serviceBus.connectTimeoutMs, timeoutMs),
      proxy: config.proxy,
      maxSockets: 4,
    });
    registerSecret(basicCredentials(momClient));
  }

  async getToken(): Promise<string> {
    const cached = this.cached;
    const now = this.now();
    if (cached && now < cached.refreshAt) return cached.token;
    // Inside the refresh margin the token still works: it is what a failed refresh falls back on.
    const fallback = cached && now < cached.expiresAt ? cached : undefined;
    if (fallback && now < this.refreshRetryAt) return fallback.token;
    // A refusal is configuration, retried until fixed by every bus call (each event's send, registration): asked
    // again once per REFRESH_RETRY_MS, not once per call, or a backlog of events would hammer the OAuth server.
    if (!fallback && this.refused && now < this.refused.until) throw this.refused.err;
    if (!this.inFlight) {
      const generation = this.generation;
      this.inFlight = this.fetchToken(generation)
        .then(
          (token) => this.fetched(token),
          (err: unknown) => this.failed(err),
        )
        .finally(() => {
          this.inFlight = undefined;
        });
    }
    try {
      return await this.inFlight;
    } catch (err) {
      // Not if a 401 invalidated it meanwhile: the bus has said it no longer takes it.
      if (fallback && this.cached === fallback && this.now() < fallback.expiresAt) return fallback.token;
      throw err;
    }
  }

  invalidate(rejected?: string): void {
    // A 401 for a token already dropped or replaced asks for a refresh that has happened or is under way;
    // bumping the generation again would keep that refresh's token out of the cache and fetch once more.
    if (rejected !== undefined && this.cached?.token !== rejected) return;
    this.cached = undefined;
    this.generation += 1;
  }

  private fetched(token: string): string {
    if (this.failureStreak > 0) {
      this.logger.info('OAuth token refresh succeeded again', { failures: this.failureStreak, token_url: this.displayTokenUrl });
    }
    this.failureStreak = 0;
    this.refreshRetryAt = 0;
    this.refused = undefined;
    return token;
  }

  /** Counts a failed token request once (not once per waiting caller), and sets the retry time when a valid token remains. */
  private failed(err: unknown): never {
    this.failureStreak += 1;
    const now = this.now();
    const cached = this.cached;
    if (cached && now < cached.expiresAt) {
      refreshFailuresTotal().inc({ outcome: 'kept_token' });
      const asked = err instanceof PeerUnavailableError ? err.retryAfterMs : 0;
      this.refreshRetryAt = now + Math.max(REFRESH_RETRY_MS, asked);
      if (this.failureStreak === 1) {
        this.logger.warn('OAuth token refresh failed; using the current token until it expires and retrying', {
          error: (err as Error).message,
          expires_in_s: Math.round((cached.expiresAt - now) / 1000),
          retry_in_ms: this.refreshRetryAt - now,
          token_url: this.displayTokenUrl,
        });
      }
    } else {
      refreshFailuresTotal().inc({ outcome: 'no_token' });
      // Not an outage (unreachable, 5xx, 429: retried with the caller's back-off and the server's Retry-After).
      if (!(err instanceof PeerUnavailableError)) this.refused = { err, until: now + REFRESH_RETRY_MS };
    }
    throw err;
  }

  private async fetchToken(generation: number): Promise<string> {
    this.fetchCount += 1;
    const request = tokenRequest(this.config.momClient);
    // The token's lifetime counts from when the server answered, at the latest: from our request is safe.
    const requestedAt = this.now();
    let response: OutboundResponse;
    try {
      response = await this.http.send({ method: 'POST', url: this.tokenUrl, headers: request.headers, body: request.body });
    } catch (err) {
      if (!(err instanceof OutboundRequestError)) throw err;
      throw new PeerUnavailableError('oauth', this.displayTokenUrl, err.failure.code);
    }
    const { token, lifetimeS, clampedFromS } = readTokenAnswer(response, this.displayTokenUrl);
    registerRecentToken(token);
    if (clampedFromS !== undefined) {
      const bound = clampedFromS < lifetimeS ? 'floor' : 'ceiling';
      lifetimeClampedTotal().inc({ bound });
      this.logger.warn(bound === 'floor' ? 'OAuth token lifetime under 30 s; planning with 30 s' : 'OAuth token lifetime beyond a day; planning with a day', {
        expires_in_s: clampedFromS,
        planned_s: lifetimeS,
        bound,
        token_url: this.displayTokenUrl,
      });
    }
    const fetchedAt = this.now();
    if (generation === this.generation) {
      // At most half the lifetime early: a token living no longer than the margin would otherwise be stale
      // on arrival, and every bus call would fetch a new one.
      const marginS = Math.min(this.config.momClient.refreshMarginS, lifetimeS / 2);
      this.cached = { token, refreshAt: fetchedAt + (lifetimeS - marginS) * 1000, expiresAt: requestedAt + lifetimeS * 1000 };
    }
    this.logger.debug('OAuth access token obtained', { expires_in_s: lifetimeS, token_url: this.displayTokenUrl });
    return token;
  }
}

/** An access token as RFC 6749 (appendix A.12) defines it: printable ASCII, so it goes in a header as it is. */
const ACCESS_TOKEN = /^[\x20-\x7E]+$/;
/** An OAuth `error` code (RFC 6749 §5.2: printable ASCII but the double quote and the backslash), of a length a code has. */
const OAUTH_ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
/** A lifetime sent as a string of digits (some servers write `"expires_in": "3599"`); any longer is no number of seconds. */
const DIGITS = /^\d{1,32}$/;
/** The one token type we can use, compared case-insensitively (RFC 6749 §5.1); ASCII only without the `u` flag. */
const BEARER = /^bearer$/i;
/**
 * A `token_type` a refusal may quote: a type name as RFC 6749 §7.1 and appendix A.13 write one (`DPoP`, `mac`,
 * `N_A`), short. Anything else (a URI, a long text, what could be a token) is only described.
 */
const TOKEN_TYPE_NAME = /^[A-Za-z0-9._-]{1,20}$/;

/**
 * The token answer of the OAuth server at `tokenUrl` (for messages), pure: the access token and its lifetime
 * (seconds: `expires_in` when it is a positive finite number or a string of digits, within
 * {@link MIN_TOKEN_LIFETIME_S} and {@link MAX_TOKEN_LIFETIME_S}, with `clampedFromS` saying the server's value
 * when it was outside them; else {@link DEFAULT_LIFETIME_S}: absent, zero, negative, not finite, no number),
 * or the refusal in our taxonomy. A token that could not be sent as it is in
 * an `Authorization` header (longer than {@link MAX_ACCESS_TOKEN_CHARS}, or holding anything but printable
 * ASCII: a line break would be refused by the HTTP client as "cannot reach the bus", a long one by the bus
 * with 431) is refused here (`BusRequestError`), never quoted. So is a token whose `token_type` is present and
 * not `Bearer` (case-insensitive, RFC 6749 §5.1): we send the token as `Authorization: Bearer` (RFC 6750), and a
 * `DPoP` or `mac` token sent so is refused by the bus (or, worse, a proof-of-possession token taken without its
 * proof). A missing (or null) `token_type` is accepted, though §5.1 makes it REQUIRED: many servers omit it, and
 * a Bearer token is what they mean. The server's `error` code is quoted only when it is one ({@link oauthErrorCode}).
 */
export function readTokenAnswer(
  response: { status: number; body: string; headers: Record<string, string> },
  tokenUrl: string,
): { token: string; lifetimeS: number; clampedFromS?: number } {
  const raw = parseJsonObject(response.body);
  if (response.status < 200 || response.status >= 300 || raw === undefined) throw classify(response.status, raw, response.headers, tokenUrl);
  const token = raw.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new BusRequestError(
      `the OAuth server at ${tokenUrl} answered without an access_token: check mom_client.oauth_server_url and mom_client.token_path`,
      response.status,
      'oauth',
    );
  }
  if (token.length > MAX_ACCESS_TOKEN_CHARS || !ACCESS_TOKEN.test(token)) {
    throw new BusRequestError(
      `the OAuth server at ${tokenUrl} answered with an access_token no HTTP header can carry (${token.length} characters${token.length > MAX_ACCESS_TOKEN_CHARS ? '' : ', not all printable ASCII'}): check mom_client.oauth_server_url and mom_client.token_path`,
      response.status,
      'oauth',
    );
  }
  const tokenType = raw.token_type;
  if (tokenType !== undefined && tokenType !== null && !(typeof tokenType === 'string' && BEARER.test(tokenType))) {
    throw new BusRequestError(
      `the OAuth server at ${tokenUrl} answered with token_type ${tokenTypeText(tokenType, token)}, not Bearer: the bus client sends its token as a Bearer token (RFC 6750) and cannot use another type; check mom_client.oauth_server_url and mom_client.token_path`,
      response.status,
      'oauth',
    );
  }
  const expiresIn = typeof raw.expires_in === 'string' && DIGITS.test(raw.expires_in) ? Number(raw.expires_in) : raw.expires_in;
  const lifetimeS = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_LIFETIME_S;
  if (lifetimeS > MAX_TOKEN_LIFETIME_S) return { token, lifetimeS: MAX_TOKEN_LIFETIME_S, clampedFromS: lifetimeS };
  if (lifetimeS < MIN_TOKEN_LIFETIME_S) return { token, lifetimeS: MIN_TOKEN_LIFETIME_S, clampedFromS: lifetimeS };
  return { token, lifetimeS };
}

/**
 * A refused `token_type` as a message names it: a short type name quoted (card numbers masked, `busText`), else
 * only what it is, never its text (it could be the token itself, or megabytes).
 */
function tokenTypeText(value: unknown, token: string): string {
  if (typeof value === 'string') {
    return TOKEN_TYPE_NAME.test(value) && value !== token ? JSON.stringify(busText(value)) : `(a string of ${value.length} characters)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `(a ${typeof value})`;
  return Array.isArray(value) ? '(an array)' : '(an object)';
}

/** The OAuth server's `error` member when it is an OAuth error code, made safe (`busText`); else undefined. */
export function oauthErrorCode(value: unknown): string | undefined {
  return typeof value === 'string' && OAUTH_ERROR_CODE.test(value) ? busText(value) : undefined;
}

/** A refusal or a malformed answer in our taxonomy: by HTTP status and OAuth error code, never by message text. */
function classify(status: number, body: Record<string, unknown> | undefined, headers: Record<string, string>, tokenUrl: string): Error {
  const oauthError = oauthErrorCode(body?.error);
  if (status === 401 || (status === 400 && oauthError !== undefined && CREDENTIAL_ERRORS.has(oauthError))) {
    return new BusAuthenticationError(
      `the OAuth server at ${tokenUrl} refused the client credentials (HTTP ${status}${oauthError ? ` ${oauthError}` : ''}): check mom_client.client_id and mom_client.client_secret`,
      status,
      oauthError,
    );
  }
  if (status >= 500 || status === 429) {
    return new PeerUnavailableError('oauth', tokenUrl, `HTTP ${status}`, { retryAfterMs: retryAfterMs(headers) });
  }
  if (status < 400) {
    return new BusRequestError(
      `the OAuth server at ${tokenUrl} answered HTTP ${status} without a JSON token: check mom_client.oauth_server_url and mom_client.token_path`,
      status,
      'oauth',
    );
  }
  return new BusRequestError(
    `the OAuth server at ${tokenUrl} refused the token request (HTTP ${status}${oauthError ? ` ${oauthError}` : ''}): check mom_client.token_path and mom_client.scope`,
    status,
    'oauth',
  );
}

/**
 * The client-credentials token request (RFC 6749 §4.4.2) as the bus client sends it: the form and the headers,
 * the credentials in an HTTP Basic header or, with `mom_client.client_auth: body`, in the form (§2.3.1; never
 * both). The doctor sends the same, so its check proves what the bus client will do.
 */
export function tokenRequest(momClient: Config['momClient']): { headers: Record<string, string>; body: string } {
  const { clientAuth, clientId, clientSecret, scope } = momClient;
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    ...(scope ? { scope } : {}),
    ...(clientAuth === 'body' ? { client_id: clientId, client_secret: clientSecret } : {}),
  });
  return {
    headers: {
      ...(clientAuth === 'header' ? { authorization: `Basic ${basicCredentials(momClient)}` } : {}),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: form.toString(),
  };
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded, then joined and base64-encoded. */
function basicCredentials(momClient: Config['momClient']): string {
  return Buffer.from(`${formEncode(momClient.clientId)}:${formEncode(momClient.clientSecret)}`).toString('base64');
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

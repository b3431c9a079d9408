import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { BusAuthenticationError, BusRequestError, PeerUnavailableError } from '../../../src/bus/bus-errors';
import { MAX_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S, OAuthTokenProvider, REFRESH_RETRY_MS } from '../../../src/bus/oauth-token-provider';
import { DependencyUnavailableError } from '../../../src/errors';
import { createLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { testConfig } from '../../support/test-config';

/**
 * A token endpoint that answers after `delayMs` with a new token each time (lifetime `expires_in`), or with
 * 503 while `failing`; counts the requests.
 */
async function tokenEndpoint(options: { delayMs?: number; expiresInS?: number } = {}): Promise<{
  url: string;
  requests: () => number;
  setFailing(failing: boolean): void;
  close(): Promise<void>;
}> {
  let requests = 0;
  let failing = false;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      setTimeout(() => {
        if (failing) {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            access_token: `tok-${requests}-${Math.random().toString(36).slice(2)}`,
            token_type: 'Bearer',
            expires_in: options.expiresInS ?? 3600,
          }),
        );
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    setFailing: (f) => (failing = f),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CLIENT_ID = 'oauth-test-client';
const CLIENT_SECRET = 'oauth-test-secret-4f1c9a7b2d';

describe('OAuthTokenProvider', () => {
  let twin: BusTwin;
  let closedPortUrl: string;
  let hanging: http.Server;
  let hangingUrl: string;

  beforeAll(async () => {
    twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    // A port that was listening and is now closed: connections are refused.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    // A server that accepts the request and never answers.
    hanging = http.createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await twin.stop();
    hanging.closeAllConnections();
    await new Promise<void>((r) => hanging.close(() => r()));
  });

  const config = (overrides: Record<string, unknown> = {}) =>
    testConfig({
      'mom_client.oauth_server_url': twin.url,
      'mom_client.client_id': CLIENT_ID,
      'mom_client.client_secret': CLIENT_SECRET,
      ...overrides,
    });

  it('fetches a token once and serves many calls from the cache', async () => {
    const provider = new OAuthTokenProvider(config());
    const before = twin.tokensIssued;
    const first = await provider.getToken();
    for (let i = 0; i < 20; i++) expect(await provider.getToken()).toBe(first);
    expect(twin.tokensIssued - before).toBe(1);
    expect(provider.fetchCount).toBe(1);
  });

  it('shares one in-flight token request among concurrent callers', async () => {
    const provider = new OAuthTokenProvider(config());
    const before = twin.tokensIssued;
    const tokens = await Promise.all(Array.from({ length: 25 }, () => provider.getToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(twin.tokensIssued - before).toBe(1);
  });

  it('refreshes the token the configured margin before it expires', async () => {
    let now = 1_000_000;
    const provider = new OAuthTokenProvider(config({ 'mom_client.refresh_margin_s': 60 }), undefined, { now: () => now });
    const first = await provider.getToken();
    now += (3600 - 61) * 1000; // still more than the margin before expiry
    expect(await provider.getToken()).toBe(first);
    now += 2000; // now inside the margin
    const second = await provider.getToken();
    expect(second).not.toBe(first);
    expect(provider.fetchCount).toBe(2);
  });

  it('caches a token that lives no longer than the refresh margin for half its lifetime, instead of fetching one per call', async () => {
    const shortLived = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenTtlS: 40 });
    try {
      let now = 1_000_000;
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': shortLived.url, 'mom_client.refresh_margin_s': 60 }), undefined, {
        now: () => now,
      });
      const first = await provider.getToken();
      expect(await provider.getToken()).toBe(first);
      now += 19_000;
      expect(await provider.getToken()).toBe(first);
      now += 2000; // past half of its 40 s
      expect(await provider.getToken()).not.toBe(first);
      expect(provider.fetchCount).toBe(2);
    } finally {
      await shortLived.stop();
    }
  });

  it('fetches a new token after invalidate(), but ignores an invalidate() for a token it already replaced', async () => {
    const provider = new OAuthTokenProvider(config());
    const first = await provider.getToken();
    provider.invalidate(first);
    const second = await provider.getToken();
    expect(second).not.toBe(first);
    provider.invalidate(first);
    expect(await provider.getToken()).toBe(second);
    expect(provider.fetchCount).toBe(2);
  });

  it('refreshes once for a burst of staggered 401s for the same token, and caches the refreshed token', async () => {
    const endpoint = await tokenEndpoint({ delayMs: 150 });
    try {
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': endpoint.url }));
      const rejected = await provider.getToken();
      // Ten bus calls that sent the same token get their 401 one after another while the refresh is under
      // way; each invalidates that token and asks again, as BusClient does.
      const retries: Promise<string>[] = [];
      for (let i = 0; i < 10; i++) {
        provider.invalidate(rejected);
        retries.push(provider.getToken());
        await sleep(20);
      }
      const fresh = await Promise.all(retries);
      expect(new Set(fresh).size).toBe(1);
      expect(fresh[0]).not.toBe(rejected);
      expect(await provider.getToken()).toBe(fresh[0]);
      expect(provider.fetchCount).toBe(2);
      expect(endpoint.requests()).toBe(2);
    } finally {
      await endpoint.close();
    }
  });

  it('serves the cached token while it is valid when the early refresh fails, retries after a backoff, warns once per failure streak, and fails once it expired', async () => {
    const endpoint = await tokenEndpoint({ expiresInS: 3600 });
    const { logger, lines } = captureLogger('info');
    try {
      let now = 1_000_000;
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': endpoint.url, 'mom_client.refresh_margin_s': 60 }), logger, {
        now: () => now,
      });
      const kept = () => metricValue('pb_bus_token_refresh_failures_total', { outcome: 'kept_token' });
      const keptBefore = await kept();
      const first = await provider.getToken();
      endpoint.setFailing(true);
      now += (3600 - 30) * 1000; // inside the margin, 30 s before it expires
      expect(await provider.getToken()).toBe(first);
      expect(endpoint.requests()).toBe(2);
      // Within the backoff: the cached token, no new request.
      for (let i = 0; i < 5; i++) expect(await provider.getToken()).toBe(first);
      expect(endpoint.requests()).toBe(2);
      now += REFRESH_RETRY_MS;
      expect(await provider.getToken()).toBe(first);
      expect(endpoint.requests()).toBe(3);
      expect(await kept()).toBe(keptBefore + 2);
      const warnings = lines.filter((l) => l.includes('OAuth token refresh failed'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('"level":"warn"');
      expect(warnings[0]).toContain('HTTP 503');
      expect(warnings[0]).not.toContain(first);

      endpoint.setFailing(false);
      now += REFRESH_RETRY_MS;
      const second = await provider.getToken();
      expect(second).not.toBe(first);
      expect(lines.some((l) => l.includes('OAuth token refresh succeeded again'))).toBe(true);

      // A new streak warns again; once the token has expired there is nothing to fall back on.
      endpoint.setFailing(true);
      now += (3600 - 30) * 1000;
      expect(await provider.getToken()).toBe(second);
      expect(lines.filter((l) => l.includes('OAuth token refresh failed'))).toHaveLength(2);
      now += 30_000;
      await expect(provider.getToken()).rejects.toBeInstanceOf(PeerUnavailableError);
    } finally {
      await endpoint.close();
    }
  });

  it('plans a token whose expires_in is beyond a day with a day: refreshed then, a 401 still refreshes at once; counted and warned once per token', async () => {
    const endpoint = await tokenEndpoint({ expiresInS: 1e12 });
    const { logger, lines } = captureLogger('info');
    try {
      let now = 1_000_000;
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': endpoint.url, 'mom_client.refresh_margin_s': 60 }), logger, {
        now: () => now,
      });
      const clamped = () => metricValue('pb_bus_token_lifetime_clamped_total');
      const before = await clamped();
      const first = await provider.getToken();
      for (let i = 0; i < 5; i++) expect(await provider.getToken()).toBe(first);
      expect(await clamped()).toBe(before + 1);
      const warnings = lines.filter((l) => l.includes('OAuth token lifetime beyond a day'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('"level":"warn"');
      expect(warnings[0]).toContain(`"planned_s":${MAX_TOKEN_LIFETIME_S}`);
      expect(warnings[0]).not.toContain(first);

      now += (MAX_TOKEN_LIFETIME_S - 61) * 1000;
      expect(await provider.getToken()).toBe(first);
      now += 2000; // inside the margin of the day
      const second = await provider.getToken();
      expect(second).not.toBe(first);
      // The bus refused it early: a new one at once, as for any token.
      provider.invalidate(second);
      expect(await provider.getToken()).not.toBe(second);
      expect(endpoint.requests()).toBe(3);
      expect(await clamped()).toBe(before + 3);
      expect(lines.filter((l) => l.includes('OAuth token lifetime beyond a day'))).toHaveLength(3);
    } finally {
      await endpoint.close();
    }
  });

  it('plans a token whose expires_in is under 30 s with 30 s: a server answering 0.5 s gets one token request over 2 s of calls, not eight; a 401 still refreshes at once', async () => {
    const endpoint = await tokenEndpoint({ expiresInS: 0.5 });
    const { logger, lines } = captureLogger('info');
    try {
      // The real clock: the flood this prevents is one of timers running out, a refresh every quarter second.
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': endpoint.url, 'mom_client.refresh_margin_s': 60 }), logger);
      const floored = () => metricValue('pb_bus_token_lifetime_clamped_total', { bound: 'floor' });
      const before = await floored();
      const first = await provider.getToken();
      const started = Date.now();
      while (Date.now() - started < 2000) {
        expect(await provider.getToken()).toBe(first);
        await sleep(20);
      }
      expect(endpoint.requests()).toBe(1);
      expect(await floored()).toBe(before + 1);
      const warnings = lines.filter((l) => l.includes('OAuth token lifetime under 30 s; planning with 30 s'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('"level":"warn"');
      expect(warnings[0]).toContain('"expires_in_s":0.5');
      expect(warnings[0]).toContain(`"planned_s":${MIN_TOKEN_LIFETIME_S}`);
      expect(warnings[0]).toContain('"bound":"floor"');
      expect(warnings[0]).not.toContain(first);
      // The bus refused it (it did live half a second): a new one at once, as for any token.
      provider.invalidate(first);
      expect(await provider.getToken()).not.toBe(first);
      expect(endpoint.requests()).toBe(2);
    } finally {
      await endpoint.close();
    }
  });

  it('plans a lifetime of a day and less as the server says, without a warning', async () => {
    const endpoint = await tokenEndpoint({ expiresInS: MAX_TOKEN_LIFETIME_S });
    const { logger, lines } = captureLogger('info');
    try {
      let now = 1_000_000;
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': endpoint.url, 'mom_client.refresh_margin_s': 60 }), logger, {
        now: () => now,
      });
      const first = await provider.getToken();
      now += (MAX_TOKEN_LIFETIME_S - 61) * 1000;
      expect(await provider.getToken()).toBe(first);
      now += 2000;
      expect(await provider.getToken()).not.toBe(first);
      expect(lines.filter((l) => l.includes('OAuth token lifetime beyond a day'))).toHaveLength(0);
    } finally {
      await endpoint.close();
    }
  });

  it('does not fall back on a token the bus rejected when the refresh fails', async () => {
    const endpoint = await tokenEndpoint();
    try {
      let now = 1_000_000;
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': endpoint.url, 'mom_client.refresh_margin_s': 60 }), undefined, {
        now: () => now,
      });
      const first = await provider.getToken();
      endpoint.setFailing(true);
      now += (3600 - 30) * 1000;
      expect(await provider.getToken()).toBe(first);
      provider.invalidate(first);
      await expect(provider.getToken()).rejects.toBeInstanceOf(PeerUnavailableError);
    } finally {
      await endpoint.close();
    }
  });

  it('sends the scope when one is configured', async () => {
    const provider = new OAuthTokenProvider(config({ 'mom_client.scope': 'bus.delegate' }));
    await expect(provider.getToken()).resolves.toMatch(/^[0-9a-f]{48}$/);
  });

  it('authenticates with HTTP Basic by default, and with client_id and client_secret in the form when mom_client.client_auth is body (never both)', async () => {
    const seen: Array<{ authorization?: string; form: URLSearchParams }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ authorization: req.headers.authorization, form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'a'.repeat(48), token_type: 'Bearer', expires_in: 3600 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': url })).getToken();
      await new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': url, 'mom_client.client_auth': 'body' })).getToken();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const [basic, body] = seen;
    expect(basic.authorization).toBe(`Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`);
    expect(basic.form.get('client_secret')).toBeNull();
    expect(body.authorization).toBeUndefined();
    expect(Object.fromEntries(body.form)).toEqual({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  });

  it('reports a wrong client secret as a non-retryable error naming mom_client settings', async () => {
    const provider = new OAuthTokenProvider(config({ 'mom_client.client_secret': 'not-the-right-secret' }));
    const err = await provider.getToken().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusAuthenticationError);
    const authError = err as BusAuthenticationError;
    expect(authError.retryable).toBe(false);
    expect(authError.httpStatus).toBe(401);
    expect(authError.oauthError).toBe('invalid_client');
    expect(authError.message).toContain('check mom_client.client_id and mom_client.client_secret');
    expect(authError.message).not.toContain('not-the-right-secret');
  });

  it('asks a server that refused the token request (400 invalid_scope) again once per REFRESH_RETRY_MS, not once per bus call, and at once after that', async () => {
    let requests = 0;
    let refusing = true;
    const server = http.createServer((req, res) => {
      requests += 1;
      req.resume();
      req.on('end', () => {
        if (refusing) res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_scope' }));
        else
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: 'tok-after-fix', token_type: 'Bearer', expires_in: 3600 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      let now = 1_000_000;
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': url }), undefined, { now: () => now });
      const noToken = () => metricValue('pb_bus_token_refresh_failures_total', { outcome: 'no_token' });
      const before = await noToken();
      // A backlog of events, each send asking for a token: one request, the same refusal for every one.
      for (let i = 0; i < 20; i++) {
        const err = await provider.getToken().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BusRequestError);
        expect((err as Error).message).toContain('invalid_scope');
      }
      expect(requests).toBe(1);
      expect(await noToken()).toBe(before + 1);
      now += REFRESH_RETRY_MS;
      await expect(provider.getToken()).rejects.toBeInstanceOf(BusRequestError);
      expect(requests).toBe(2);
      // Fixed at the OAuth server: the next ask after the wait gets a token.
      refusing = false;
      now += REFRESH_RETRY_MS;
      expect(await provider.getToken()).toBe('tok-after-fix');
      expect(requests).toBe(3);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reports an unreachable OAuth server as a retryable DependencyUnavailableError with the transport code', async () => {
    const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': closedPortUrl }));
    const err = await provider.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect(err).toBeInstanceOf(PeerUnavailableError);
    const unavailable = err as PeerUnavailableError;
    expect(unavailable.dependency).toBe('oauth');
    expect(unavailable.retryable).toBe(true);
    expect(unavailable.reason).toBe('ECONNREFUSED');
    expect(unavailable.message).toContain(`${closedPortUrl}/oauth/token`);
  });

  it('gives up on a silent OAuth server after the configured timeout', async () => {
    const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': hangingUrl, 'service_bus.timeout_ms': 200 }));
    const err = await provider.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerUnavailableError);
    expect((err as PeerUnavailableError).reason).toBe('TIMEOUT');
  });

  it('reports a wrong token path as a non-retryable request error', async () => {
    const provider = new OAuthTokenProvider(config({ 'mom_client.token_path': '/no/such/path' }));
    const err = await provider.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRequestError);
    expect((err as BusRequestError).httpStatus).toBe(404);
    expect((err as BusRequestError).retryable).toBe(false);
  });

  it('never lets the client secret or the token reach the log output', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger({ level: 'debug', stream });
    const provider = new OAuthTokenProvider(config(), logger);
    const token = await provider.getToken();
    logger.info('diagnostic dump', { token, secret_copy: `x${CLIENT_SECRET}`, note: `Bearer ${token}` });
    await new Promise((r) => setImmediate(r));
    const output = lines.join('');
    expect(output).toContain('OAuth access token obtained');
    expect(output).not.toContain(token);
    expect(output).not.toContain(CLIENT_SECRET);
  });

  it('completes six token fetches in quick succession against a server that keeps its connections open (no stall on a full socket pool)', async () => {
    // Keep-alive for a minute, answer at once: a client that does not reuse or release its pooled sockets
    // waits on the fifth fetch until the server closes one (or times out).
    let connections = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ access_token: `tok-${Math.random().toString(36).slice(2)}`, token_type: 'bearer', expires_in: 300 });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    server.keepAliveTimeout = 60_000;
    server.on('connection', () => (connections += 1));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const provider = new OAuthTokenProvider(
        config({ 'mom_client.oauth_server_url': `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
        undefined,
        { timeoutMs: 2000 },
      );
      const started = Date.now();
      const tokens: string[] = [];
      for (let i = 0; i < 6; i++) {
        const t0 = Date.now();
        tokens.push(await provider.getToken());
        expect(Date.now() - t0).toBeLessThan(1000);
        provider.invalidate();
      }
      expect(new Set(tokens).size).toBe(6);
      expect(Date.now() - started).toBeLessThan(2000);
      // The pooled keep-alive socket is reused, not one new connection per fetch.
      expect(connections).toBeLessThanOrEqual(4);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

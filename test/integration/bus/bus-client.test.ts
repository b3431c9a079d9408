import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { BusClient } from '../../../src/bus/bus-client';
import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError } from '../../../src/bus/bus-errors';
import { contentRejection } from '../../../src/events/event-rejection';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
import { DependencyUnavailableError } from '../../../src/errors';
import { createLogger } from '../../../src/logging/logger';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { pbBackoffStrategy } from '../../../src/queueing/backoff-strategy';
import { testConfig } from '../../support/test-config';

const CLIENT_ID = 'bus-client-test';
const CLIENT_SECRET = 'bus-client-secret-9d2e71aa';

describe('BusClient', () => {
  let twin: BusTwin;
  let teapot: http.Server;
  let teapotUrl: string;
  let closedPortUrl: string;

  beforeAll(async () => {
    twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    // A bus that answers every call with 403: a refusal that retrying cannot fix.
    teapot = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden'));
    });
    await new Promise<void>((r) => teapot.listen(0, '127.0.0.1', r));
    teapotUrl = `http://127.0.0.1:${(teapot.address() as AddressInfo).port}`;
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
  });

  afterEach(() => twin.reset());

  afterAll(async () => {
    await twin.stop();
    teapot.closeAllConnections();
    await new Promise<void>((r) => teapot.close(() => r()));
  });

  const setup = (overrides: Record<string, unknown> = {}, logStream?: Writable) => {
    const config = testConfig({
      'service_bus.url': twin.url,
      'mom_client.oauth_server_url': twin.url,
      'mom_client.client_id': CLIENT_ID,
      'mom_client.client_secret': CLIENT_SECRET,
      ...overrides,
    });
    const logger = logStream ? createLogger({ level: 'debug', stream: logStream }) : undefined;
    const tokens = new OAuthTokenProvider(config, logger);
    return { config, tokens, client: new BusClient(config, tokens, logger) };
  };

  it('delivers notifications to the delegate URL in order with a Bearer token', async () => {
    const { client } = setup();
    for (let i = 1; i <= 5; i++) await client.notify('magento.payment.captured', { payment: { order_id: `o-${i}` }, sequence: i });
    const received = await twin.waitForNotifications(5);
    expect(received.map((n) => n.method)).toEqual(Array(5).fill('magento.payment.captured'));
    expect(received.map((n) => n.params.sequence)).toEqual([1, 2, 3, 4, 5]);
  });

  it('uses one token for many calls', async () => {
    const { client } = setup();
    const before = twin.tokensIssued;
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.notify('magento.payment.sold', { n: i })));
    expect(twin.tokensIssued - before).toBe(1);
    expect(twin.notifications).toHaveLength(20);
  });

  it('sends as many notifications at once as commands may be in flight (inflight.max), not a fixed pool of 64', async () => {
    // A bus that holds every delegate call until `concurrent` are open at once (or a second passed), then answers them all:
    // the worker's fast path awaits each event's send inside its command's in-flight slot, so a smaller pool than
    // inflight.max would queue the commands behind the bus's round trip.
    const concurrent = 200;
    let open = 0;
    let highest = 0;
    const held: http.ServerResponse[] = [];
    const release = () => held.splice(0).forEach((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const holding = http.createServer((req, res) => {
      req.resume();
      open += 1;
      highest = Math.max(highest, open);
      res.on('finish', () => (open -= 1));
      held.push(res);
      if (open >= concurrent) release();
    });
    await new Promise<void>((r) => holding.listen(0, '127.0.0.1', r));
    const timer = setInterval(release, 1000);
    try {
      const { client } = setup({
        'service_bus.url': `http://127.0.0.1:${(holding.address() as AddressInfo).port}`,
        'inflight.max': 256,
        'service_bus.timeout_ms': 30_000,
      });
      await Promise.all(Array.from({ length: concurrent }, (_, i) => client.notify('magento.payment.authorized', { n: i })));
      expect(highest).toBe(concurrent);
    } finally {
      clearInterval(timer);
      holding.closeAllConnections();
      await new Promise<void>((r) => holding.close(() => r()));
    }
  });

  it('refreshes a revoked token once and then succeeds', async () => {
    const { client, tokens } = setup();
    await client.notify('magento.payment.validated', { n: 1 });
    const before = twin.tokensIssued;
    const fetchesBefore = tokens.fetchCount;
    twin.revokeTokens();
    await client.notify('magento.payment.validated', { n: 2 });
    expect(twin.tokensIssued - before).toBe(1);
    expect(tokens.fetchCount - fetchesBefore).toBe(1);
    expect(twin.notifications.map((n) => n.params.n)).toEqual([1, 2]);
  });

  it('returns the result of a JSON-RPC call', async () => {
    const { client, config } = setup();
    const result = await client.call(config.serviceBus.methods.register, {
      id: 'pb-1',
      url: 'http://127.0.0.1:9/bus',
      secret: 'registration-secret-1',
      subscribes: [],
    });
    expect(result).toEqual({});
    expect(twin.registrations.get('pb-1')?.url).toBe('http://127.0.0.1:9/bus');
  });

  it('turns a JSON-RPC error answer into a non-retryable BusRpcError', async () => {
    const { client } = setup();
    const err = await client.call('magento.no.such.method', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRpcError);
    expect((err as BusRpcError).rpcCode).toBe(-32601);
    expect((err as BusRpcError).retryable).toBe(false);
  });

  it('reports a delegate that is down as a retryable DependencyUnavailableError', async () => {
    const { client } = setup();
    twin.setDelegateDown(true);
    const err = await client.notify('magento.payment.refunded', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect((err as PeerUnavailableError).dependency).toBe('bus');
    expect((err as PeerUnavailableError).reason).toBe('HTTP 503');
    expect((err as PeerUnavailableError).retryable).toBe(true);
    twin.setDelegateDown(false);
    await client.notify('magento.payment.refunded', {});
    expect(twin.notifications).toHaveLength(1);
  });

  it("carries a busy bus's Retry-After on the retryable error, and the queue backoff waits at least that long", async () => {
    // A delegate that sheds load: 429 with Retry-After: 7 (delay-seconds), the OAuth server is the twin.
    const busy = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(429, { 'retry-after': '7', 'content-type': 'text/plain' }).end('slow down'));
    });
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const { client } = setup({ 'service_bus.url': `http://127.0.0.1:${(busy.address() as AddressInfo).port}` });
      const err = await client.notify('magento.payment.captured', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PeerUnavailableError);
      expect((err as PeerUnavailableError).reason).toBe('HTTP 429');
      expect((err as PeerUnavailableError).retryAfterMs).toBe(7000);
      const strategy = pbBackoffStrategy({ baseMs: 100, maxMs: 60_000 });
      expect(strategy(1, 'pb-backoff', err as Error)).toBeGreaterThanOrEqual(7000);
    } finally {
      busy.closeAllConnections();
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  it('reports an unreachable bus as a retryable error naming the transport code', async () => {
    const { client } = setup({ 'service_bus.url': closedPortUrl });
    const err = await client.notify('magento.payment.sold', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerUnavailableError);
    expect((err as PeerUnavailableError).reason).toBe('ECONNREFUSED');
    expect((err as PeerUnavailableError).retryable).toBe(true);
  });

  it('reports another 4xx answer as a non-retryable BusRequestError', async () => {
    const { client } = setup({ 'service_bus.url': teapotUrl });
    const err = await client.notify('magento.payment.sold', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRequestError);
    expect((err as BusRequestError).httpStatus).toBe(403);
    expect((err as BusRequestError).retryable).toBe(false);
  });

  /** A bus answering every call with `status` and `headers` (its OAuth server is the twin's); counts the calls. */
  async function refusingBus(
    status: number,
    headers: Record<string, string | string[]>,
  ): Promise<{ url: string; calls: () => number; close: () => Promise<void> }> {
    let calls = 0;
    const server = http.createServer((req, res) => {
      calls += 1;
      req.resume();
      req.on('end', () => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end('{}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      calls: () => calls,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      },
    };
  }

  it('names the missing scope when the bus answers 403 with the Bearer challenge insufficient_scope (RFC 6750 §3.1): a configuration error, not a URL one, never an event refusal', async () => {
    const bus = await refusingBus(403, {
      'www-authenticate': 'Bearer realm="bus", error="insufficient_scope", error_description="needs more", scope="bus:delegate bus:register"',
    });
    try {
      const { client, config } = setup({ 'service_bus.url': bus.url });
      const err = await client.notify('magento.payment.captured', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusAuthenticationError);
      expect(err).toMatchObject({ httpStatus: 403, oauthError: 'insufficient_scope', retryable: false });
      expect((err as Error).message).toBe(
        `the bus at ${bus.url}${config.serviceBus.delegatePath} refused the access token's scope (HTTP 403 insufficient_scope): check mom_client.scope (the bus asks for scope "bus:delegate bus:register")`,
      );
      expect((err as Error).message).not.toContain('needs more');
      expect(contentRejection(err)).toBeNull();
      // A new token of the same scope would not help: one call, no retry.
      expect(bus.calls()).toBe(1);
    } finally {
      await bus.close();
    }
  });

  it('reads the Bearer challenge of a 403 that offers another scheme first (two WWW-Authenticate lines, RFC 9110 §11.6.1)', async () => {
    const bus = await refusingBus(403, {
      'www-authenticate': ['DPoP algs="ES256 PS256", error="invalid_dpop_proof"', 'Bearer realm="bus", error="insufficient_scope", scope="bus:delegate"'],
    });
    try {
      const { client } = setup({ 'service_bus.url': bus.url });
      const err = await client.notify('magento.payment.captured', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusAuthenticationError);
      expect(err).toMatchObject({ httpStatus: 403, oauthError: 'insufficient_scope' });
      expect((err as Error).message).toContain('check mom_client.scope (the bus asks for scope "bus:delegate")');
    } finally {
      await bus.close();
    }
  });

  it('retries a 401 once with a fresh token, then stops with a non-retryable error naming the Bearer error (no loop)', async () => {
    const bus = await refusingBus(401, { 'www-authenticate': 'Bearer realm="bus", error="invalid_token"' });
    try {
      const { client, tokens } = setup({ 'service_bus.url': bus.url });
      const fetches = tokens.fetchCount;
      const err = await client.notify('magento.payment.captured', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusAuthenticationError);
      expect(err).toMatchObject({ httpStatus: 401, oauthError: 'invalid_token', retryable: false });
      expect((err as Error).message).toContain('(HTTP 401 invalid_token)');
      expect(bus.calls()).toBe(2);
      expect(tokens.fetchCount - fetches).toBe(2);
    } finally {
      await bus.close();
    }
  });

  it('never writes the client secret or the access token to the log', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const { client, tokens } = setup({}, stream);
    await client.notify('magento.payment.captured', { n: 1 });
    twin.revokeTokens();
    await client.notify('magento.payment.captured', { n: 2 });
    const token = await tokens.getToken();
    await new Promise((r) => setImmediate(r));
    const output = lines.join('');
    expect(output).toContain('fetching a new one');
    expect(output).not.toContain(token);
    expect(output).not.toContain(CLIENT_SECRET);
  });
});

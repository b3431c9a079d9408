import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { BusClient } from '../../../src/bus/bus-client';
import { PeerUnavailableError } from '../../../src/bus/bus-errors';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
import { createLogger } from '../../../src/logging/logger';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { blackHole } from '../../support/black-hole';
import { testConfig } from '../../support/test-config';
import { rejectionOf } from '../../support/thrown';
import { startConnectProxy } from '../http/connect-proxy';

jest.setTimeout(60000);

const CLIENT_ID = 'bus-transport-test';
const CLIENT_SECRET = 'bus-transport-secret-4f8a21cc';

/** The bus and the OAuth server calls against the outbound rules: connect bound, proxy. */
describe('bus and OAuth outbound transport', () => {
  let twin: BusTwin;

  beforeAll(async () => {
    twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });

  afterEach(() => twin.reset());

  afterAll(async () => {
    await twin.stop();
  });

  const config = (overrides: Record<string, unknown> = {}) =>
    testConfig({
      'service_bus.url': twin.url,
      'mom_client.oauth_server_url': twin.url,
      'mom_client.client_id': CLIENT_ID,
      'mom_client.client_secret': CLIENT_SECRET,
      // A call deadline far past the connect bound: only the connect bound can end these calls early.
      'service_bus.timeout_ms': 20000,
      ...overrides,
    });

  it('fails a token request to a black-holed OAuth server by the connect timeout (2 s by default), not the 20 s call deadline', async () => {
    const hole = await blackHole();
    try {
      const provider = new OAuthTokenProvider(config({ 'mom_client.oauth_server_url': `http://127.0.0.1:${hole.port}` }));
      const started = performance.now();

      const err = await rejectionOf(provider.getToken(), PeerUnavailableError);

      expect(err.reason).toBe('ECONNECTTIMEOUT');
      expect(err.retryable).toBe(true);
      expect(performance.now() - started).toBeLessThan(10000);
    } finally {
      hole.close();
    }
  });

  it('fails an event to a black-holed bus by the connect timeout, not the call deadline', async () => {
    const hole = await blackHole();
    try {
      const c = config({ 'service_bus.url': `http://127.0.0.1:${hole.port}` });
      const client = new BusClient(c, new OAuthTokenProvider(c));
      const started = performance.now();

      const err = await rejectionOf(client.notify('magento.payment.captured', { n: 1 }), PeerUnavailableError);

      expect(err.reason).toBe('ECONNECTTIMEOUT');
      expect(performance.now() - started).toBeLessThan(10000);
    } finally {
      hole.close();
    }
  });

  it('takes service_bus.connect_timeout_ms for both the bus and its OAuth server', async () => {
    // 4 s: past the 2 s default and short of the 20 s deadline, so each failure's time shows which bound ended it
    // (a timer never fires early: the lower bound is what tells the configured value from the default).
    const CONNECT_MS = 4000;
    const hole = await blackHole();
    try {
      expect(config().serviceBus.connectTimeoutMs).toBe(2000);
      const timed = async (call: () => Promise<unknown>): Promise<{ err: PeerUnavailableError; elapsed: number }> => {
        const started = performance.now();
        const err = await rejectionOf(call(), PeerUnavailableError);
        return { err, elapsed: performance.now() - started };
      };

      const oauthDown = config({ 'mom_client.oauth_server_url': `http://127.0.0.1:${hole.port}`, 'service_bus.connect_timeout_ms': CONNECT_MS });
      expect(oauthDown.serviceBus.connectTimeoutMs).toBe(CONNECT_MS);
      const oauth = await timed(() => new OAuthTokenProvider(oauthDown).getToken());

      const busDown = config({ 'service_bus.url': `http://127.0.0.1:${hole.port}`, 'service_bus.connect_timeout_ms': CONNECT_MS });
      const tokens = new OAuthTokenProvider(busDown);
      await tokens.getToken(); // the token from the twin first: the timed call is the bus call alone
      const bus = await timed(() => new BusClient(busDown, tokens).notify('magento.payment.captured', { n: 1 }));

      for (const { err, elapsed } of [oauth, bus]) {
        expect(err.reason).toBe('ECONNECTTIMEOUT');
        expect(elapsed).toBeGreaterThanOrEqual(CONNECT_MS - 100);
        expect(elapsed).toBeLessThan(15000);
      }
    } finally {
      hole.close();
    }
  });

  it('sends the token request and the bus call through the configured proxy', async () => {
    const proxy = await startConnectProxy();
    try {
      const c = config({ 'proxy.host': '127.0.0.1', 'proxy.port': proxy.port });
      const client = new BusClient(c, new OAuthTokenProvider(c));

      await client.notify('magento.payment.captured', { n: 1 });

      expect(proxy.forwarded).toEqual([`${twin.url}/oauth/token`, `${twin.url}/delegate/oms`]);
      expect(twin.notifications).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('puts neither the access token nor the client secret in the error or the log lines of a failed call', async () => {
    // A bus that reads the whole request (Authorization header included) and drops the connection.
    const dropping = http.createServer((req) => req.on('end', () => req.socket.destroy()).resume());
    await new Promise<void>((r) => dropping.listen(0, '127.0.0.1', r));
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      stream: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    try {
      const c = config({ 'service_bus.url': `http://127.0.0.1:${(dropping.address() as AddressInfo).port}` });
      const tokens = new OAuthTokenProvider(c, logger);
      const client = new BusClient(c, tokens, logger);
      const token = await tokens.getToken();

      const err = await rejectionOf(client.notify('magento.payment.captured', { n: 1 }), PeerUnavailableError);
      await new Promise((r) => setImmediate(r));

      expect(err.retryable).toBe(true);
      const seen = [err.message, String(err.stack), JSON.stringify(err), String((err as { cause?: unknown }).cause), ...lines].join('\n');
      expect(lines.join('')).toContain('bus call failed');
      expect(seen).not.toContain(token);
      expect(seen).not.toContain(CLIENT_SECRET);
      expect(seen).not.toContain(Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'));
    } finally {
      dropping.closeAllConnections();
      await new Promise<void>((r) => dropping.close(() => r()));
    }
  });

  it('fails a token request through a black-holed proxy by the connect timeout', async () => {
    const hole = await blackHole();
    try {
      const provider = new OAuthTokenProvider(config({ 'proxy.host': '127.0.0.1', 'proxy.port': hole.port }));

      const err = await rejectionOf(provider.getToken(), PeerUnavailableError);

      expect(err.reason).toBe('ECONNECTTIMEOUT');
    } finally {
      hole.close();
    }
  });
});

import { BusClient } from '../../../src/bus/bus-client';
import { PeerUnavailableError } from '../../../src/bus/bus-errors';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
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
    const hole = await blackHole();
    try {
      const c = config({ 'mom_client.oauth_server_url': `http://127.0.0.1:${hole.port}`, 'service_bus.connect_timeout_ms': 200 });
      expect(c.serviceBus.connectTimeoutMs).toBe(200);
      expect(config().serviceBus.connectTimeoutMs).toBe(2000);

      const err = await rejectionOf(new OAuthTokenProvider(c).getToken(), PeerUnavailableError);

      expect(err.reason).toBe('ECONNECTTIMEOUT');
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

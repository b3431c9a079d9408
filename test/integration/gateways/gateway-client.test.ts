import http from 'node:http';
import https from 'node:https';
import net, { AddressInfo } from 'node:net';
import { GatewayConfig } from '../../../src/config/config';
import { GatewayError } from '../../../src/errors';
import { GatewayClient } from '../../../src/gateways/gateway-client';
import { createGatewayClients, transformerFor } from '../../../src/gateways/gateway-registry';
import { GatewayRequest, GatewayTransformer } from '../../../src/gateways/gateway-adapter';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';
import { startConnectProxy, TestProxy } from '../http/connect-proxy';
import { makeSelfSignedCert, TestCert } from '../http/tls-cert';
import { rejectionOf } from '../../support/thrown';

const DIRECT = { host: '', port: 0 };

function gatewayConfig(baseUrl: string, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    name: 'testpsp',
    type: 'simulator',
    baseUrl,
    apiKey: 'sk_test_secret_key_123',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 2000,
    maxSockets: 8,
    ...overrides,
  };
}

function unused(): never {
  throw new Error('not used by the transport tests');
}

/** Only `authenticate` matters to the client: it adds a bearer header stamped with `now`. */
const transformer: GatewayTransformer = {
  type: 'simulator',
  supports: ['capture'],
  buildRequest: unused,
  parseResponse: unused,
  buildStatusRequest: unused,
  parseStatusResponse: unused,
  authenticate: (request, gateway, now) => ({
    ...request,
    headers: { ...request.headers, authorization: `Bearer ${gateway.apiKey}`, 'x-date': now.toISOString() },
  }),
  verifyWebhook: unused,
  parseWebhook: unused,
  webhookAck: unused,
};

const post: GatewayRequest = {
  method: 'POST',
  path: '/v1/charges?x=1',
  headers: { 'content-type': 'application/json' },
  body: '{"amount":1000,"currency":"EUR"}',
};

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local server: records requests, counts connections, and answers with `handler`. */
async function startServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
  tls?: https.ServerOptions,
): Promise<{ url: string; port: number; seen: Seen[]; connections: () => number; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let connections = 0;
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  const sockets = new Set<net.Socket>();
  server.on(tls ? 'secureConnection' : 'connection', () => connections++);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
  res.writeHead(201, { 'Content-Type': 'application/json', 'X-Request-Id': 'req_1' });
  res.end('{"id":"ch_1","status":"succeeded"}');
};

const failure = (promise: Promise<unknown>): Promise<GatewayError> => rejectionOf(promise, GatewayError);

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let cert: TestCert;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  cert = makeSelfSignedCert();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe('GatewayClient over plain http', () => {
  it('sends the authenticated request to base URL plus path and returns status, lower-case headers and the raw body', async () => {
    const server = await startServer(ok);
    cleanups.push(server.close);
    const now = new Date('2026-01-02T03:04:05.000Z');
    const client = new GatewayClient(gatewayConfig(`${server.url}/api`), transformer, { proxy: DIRECT, now: () => now });

    const response = await client.send(post);

    expect(response.status).toBe(201);
    expect(response.body).toBe('{"id":"ch_1","status":"succeeded"}');
    expect(response.headers['x-request-id']).toBe('req_1');
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.elapsedMs).toBeGreaterThan(0);
    expect(server.seen[0]).toMatchObject({ method: 'POST', url: '/api/v1/charges?x=1', body: post.body });
    expect(server.seen[0].headers.authorization).toBe('Bearer sk_test_secret_key_123');
    expect(server.seen[0].headers['x-date']).toBe('2026-01-02T03:04:05.000Z');
  });

  it('returns error statuses as responses for the transformer to classify', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(402, { 'Content-Type': 'application/json' });
      res.end('{"error":{"code":"card_declined"}}');
    });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT });

    const response = await client.send(post);

    expect(response.status).toBe(402);
    expect(response.body).toContain('card_declined');
  });

  it('reuses one keep-alive socket for sequential calls', async () => {
    const server = await startServer(ok);
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT });

    for (let i = 0; i < 5; i++) await client.send(post);

    expect(server.seen).toHaveLength(5);
    expect(server.connections()).toBe(1);
  });

  it('classifies a refused connection as not_sent', async () => {
    const port = await closedPort();
    const client = new GatewayClient(gatewayConfig(`http://127.0.0.1:${port}`), transformer, { proxy: DIRECT });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('classifies an unresolvable host name as not_sent', async () => {
    const client = new GatewayClient(gatewayConfig('http://no-such-host.invalid'), transformer, { proxy: DIRECT });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
  });

  it('classifies a server that reads the request and never answers as outcome_unknown', async () => {
    const server = await startServer(() => undefined);
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url, { timeoutMs: 300 }), transformer, { proxy: DIRECT });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('outcome_unknown');
    expect(server.seen).toHaveLength(1);
  });

  it('classifies a server that destroys the socket after reading the request as outcome_unknown', async () => {
    const server = await startServer((req) => req.socket.destroy());
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('outcome_unknown');
    expect(server.seen).toHaveLength(1);
  });

  it('logs calls at debug with the API key and card numbers redacted', async () => {
    const server = await startServer(ok);
    cleanups.push(server.close);
    const { logger, lines } = captureLogger('debug');
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT, logger });

    await client.send({ ...post, body: '{"amount":1000,"note":"4111111111111111"}' });

    expect(lines.some((l) => l.includes('"status":201'))).toBe(true);
    expect(lines.join('\n')).not.toContain('4111111111111111');
    expect(lines.join('\n')).not.toContain('sk_test_secret_key_123');
  });

  it("logs a Stripe form request at debug with its wallet token and the customer's e-mail, phone and address masked", async () => {
    const server = await startServer(ok);
    cleanups.push(server.close);
    const { logger, lines } = captureLogger('debug');
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT, logger });
    const stripe = transformerFor('stripe');
    const stripeGateway = gatewayConfig(server.url, { type: 'stripe' });
    const shopper = {
      email: 'ada@example.com',
      telephone: '+4930123456',
      country: 'DE',
      billing_address: { street: 'Unter den Linden', house_number: '77', city: 'Berlin', postal_code: '10117', country: 'DE' },
    };
    const payment = { gateway: 'stripe', gateway_account: 'a', amount: 2599, currency: 'EUR', order_id: 'ORD-1' };
    const wallet = stripe.buildRequest(
      {
        operationId: 'op-wallet-1',
        command: 'sale',
        payment: { ...payment, gateway_key: 'order-1', payment_method: { type: 'google_pay', token: 'tok_1NgWalletToken0001' } },
      },
      stripeGateway,
    );
    const klarna = stripe.buildRequest(
      {
        operationId: 'op-klarna-1',
        command: 'authorize',
        payment: { ...payment, gateway_key: 'pm_1', payment_method: { type: 'klarna', return_url: 'https://shop.example/back', shopper } },
      },
      stripeGateway,
    );
    expect(wallet.headers['content-type']).toBe('application/x-www-form-urlencoded');

    await client.send(wallet);
    await client.send(klarna);

    const logged = lines.filter((l) => l.includes('"gateway call"')).join('\n');
    expect(logged).toContain('op-klarna-1');
    for (const value of [
      'tok_1NgWalletToken0001',
      'ada@example.com',
      'ada%40example.com',
      '4930123456',
      'Unter den Linden',
      'Linden%2077',
      'Berlin',
      '10117',
    ]) {
      expect(logged).not.toContain(value);
    }
  });
});

describe('GatewayClient over TLS', () => {
  it('accepts a TLS 1.2 server whose certificate is trusted through ca', async () => {
    const server = await startServer(ok, { cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT, ca: cert.cert });

    const response = await client.send(post);

    expect(response.status).toBe(201);
  });

  it('refuses a server offering only TLS 1.1 with not_sent, before any request reaches it', async () => {
    const server = await startServer(ok, {
      cert: cert.cert,
      key: cert.key,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT, ca: cert.cert });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
    expect(server.seen).toHaveLength(0);
  });

  it('refuses an untrusted self-signed certificate with not_sent', async () => {
    const server = await startServer(ok, { cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: DIRECT });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
    expect(server.seen).toHaveLength(0);
  });

  it('classifies a TLS handshake that never completes as not_sent when the deadline fires', async () => {
    // Accepts TCP and swallows the ClientHello: the connection is open but nothing was sent to a PSP.
    const silent = net.createServer((s) => s.resume());
    const sockets = new Set<net.Socket>();
    silent.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as AddressInfo).port;
    const client = new GatewayClient(gatewayConfig(`https://127.0.0.1:${port}`, { timeoutMs: 300 }), transformer, {
      proxy: DIRECT,
    });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
  });
});

describe('GatewayClient through a proxy', () => {
  let proxy: TestProxy;

  beforeEach(async () => {
    proxy = await startConnectProxy();
    cleanups.push(() => proxy.close());
  });

  it('tunnels https through CONNECT and reaches the target with TLS verified end to end', async () => {
    const server = await startServer(ok, { cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, {
      proxy: { host: '127.0.0.1', port: proxy.port },
      ca: cert.cert,
    });

    await client.send(post);
    await client.send(post);

    expect(server.seen).toHaveLength(2);
    expect(proxy.tunnels).toEqual([`127.0.0.1:${server.port}`]);
    expect(proxy.forwarded).toHaveLength(0);
  });

  it('keeps the TLS 1.2 floor inside the tunnel: a TLS 1.1 target behind the proxy is not_sent', async () => {
    const server = await startServer(ok, {
      cert: cert.cert,
      key: cert.key,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, {
      proxy: { host: '127.0.0.1', port: proxy.port },
      ca: cert.cert,
    });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
    expect(proxy.tunnels).toHaveLength(1);
    expect(server.seen).toHaveLength(0);
  });

  it('forwards plain http through the proxy', async () => {
    const server = await startServer(ok);
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, { proxy: { host: '127.0.0.1', port: proxy.port } });

    const response = await client.send(post);

    expect(response.status).toBe(201);
    expect(proxy.forwarded).toEqual([`${server.url}/v1/charges?x=1`]);
    expect(server.seen).toHaveLength(1);
  });

  it('classifies a proxy refusing CONNECT as not_sent rather than as the gateway answering 403', async () => {
    const refusing = await startConnectProxy({ refuseConnect: true });
    cleanups.push(() => refusing.close());
    const server = await startServer(ok, { cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const client = new GatewayClient(gatewayConfig(server.url), transformer, {
      proxy: { host: '127.0.0.1', port: refusing.port },
      ca: cert.cert,
    });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
    expect(refusing.tunnels).toHaveLength(1);
    expect(server.seen).toHaveLength(0);
  });

  it('classifies an unreachable proxy as not_sent', async () => {
    const port = await closedPort();
    const client = new GatewayClient(gatewayConfig('https://127.0.0.1:9'), transformer, { proxy: { host: '127.0.0.1', port } });

    const err = await failure(client.send(post));

    expect(err.kind).toBe('not_sent');
  });
});

describe('gateway registry', () => {
  it('maps every gateway type to the transformer of that type', () => {
    for (const type of ['simulator', 'stripe', 'adyen', 'cybersource'] as const) {
      expect(transformerFor(type).type).toBe(type);
    }
  });

  it('builds one route per configured gateway, keyed by name, whose client reaches the gateway', async () => {
    const server = await startServer(ok);
    cleanups.push(server.close);
    const config = testConfig({
      gateways: {
        sim: { type: 'simulator', base_url: server.url, api_key: 'sim-key-123' },
        card: { type: 'stripe', base_url: server.url, api_key: 'sk_test_123' },
        eu: { type: 'adyen', base_url: server.url, api_key: 'adyen-key', merchant_account: 'AcmeEU' },
        us: { type: 'cybersource', base_url: server.url, merchant_id: 'm', key_id: 'k', shared_secret: Buffer.from('s').toString('base64') },
      },
    });

    const routes = createGatewayClients(config);

    expect([...routes.keys()].sort()).toEqual(['card', 'eu', 'sim', 'us']);
    for (const [name, route] of routes) {
      expect(route.gateway.name).toBe(name);
      expect(route.transformer.type).toBe(route.gateway.type);
    }
    const response = await routes.get('sim')?.client.send({ method: 'GET', path: '/ping', headers: {} });
    expect(response?.status).toBe(201);
    expect(server.seen[0].url).toBe('/ping');
  });
});

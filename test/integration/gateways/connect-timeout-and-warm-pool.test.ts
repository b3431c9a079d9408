import http from 'node:http';
import https from 'node:https';
import net, { AddressInfo } from 'node:net';
import { GatewayConfig } from '../../../src/config/config';
import { GatewayError } from '../../../src/errors';
import { GatewayClient } from '../../../src/gateways/gateway-client';
import { GatewayRequest, GatewayTransformer } from '../../../src/gateways/gateway-adapter';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { testConfig } from '../../support/test-config';
import { rejectionOf } from '../../support/thrown';
import { blackHole } from '../../support/black-hole';
import { eventually } from '../../support/tcp-proxy';
import { startConnectProxy } from '../http/connect-proxy';
import { makeSelfSignedCert } from '../http/tls-cert';

jest.setTimeout(60000);

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
    timeoutMs: 10000,
    maxSockets: 8,
    ...overrides,
  };
}

function unused(): never {
  throw new Error('not used by the transport tests');
}

const transformer: GatewayTransformer = {
  type: 'simulator',
  supports: ['capture'],
  buildRequest: unused,
  parseResponse: unused,
  buildStatusRequest: unused,
  parseStatusResponse: unused,
  authenticate: (request) => ({ ...request, headers: { ...request.headers, authorization: 'Bearer sk_test_secret_key_123' } }),
  verifyWebhook: unused,
  parseWebhook: unused,
  webhookAck: unused,
};

const post: GatewayRequest = { method: 'POST', path: '/v1/charges', headers: { 'content-type': 'application/json' }, body: '{"amount":1000}' };

const failure = (promise: Promise<unknown>): Promise<GatewayError> => rejectionOf(promise, GatewayError);

describe('connect timeout', () => {
  it('fails a call to a black-holed address as not_sent (retryable) after the connect timeout, long before the call deadline', async () => {
    const hole = await blackHole();
    try {
      const client = new GatewayClient(gatewayConfig(`http://127.0.0.1:${hole.port}`, { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: DIRECT,
      });
      const started = performance.now();

      const err = await failure(client.send(post));
      const elapsed = performance.now() - started;

      expect(err.kind).toBe('not_sent');
      expect(err.retryable).toBe(true);
      expect(err.message).toContain('ECONNECTTIMEOUT');
      // The 20 s deadline did not decide it: the connect timeout did.
      expect(elapsed).toBeLessThan(20000);
    } finally {
      hole.close();
    }
  });

  it('bounds the TLS handshake too: a peer that accepts TCP and never answers the ClientHello is not_sent by the connect timeout', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const client = new GatewayClient(gatewayConfig(`https://127.0.0.1:${port}`, { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: DIRECT,
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('not_sent');
      expect(err.message).toContain('ECONNECTTIMEOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('does not cut a slow answer on an established connection: past the connect timeout it is the deadline that decides, as outcome_unknown', async () => {
    const sockets = new Set<net.Socket>();
    const slow = http.createServer(() => undefined); // reads the request, never answers
    slow.on('connection', (s: net.Socket) => sockets.add(s));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const port = (slow.address() as AddressInfo).port;
    try {
      const client = new GatewayClient(gatewayConfig(`http://127.0.0.1:${port}`, { timeoutMs: 800, connectTimeoutMs: 200 }), transformer, {
        proxy: DIRECT,
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('outcome_unknown');
      expect(err.message).toContain('TIMEOUT');
      expect(err.message).not.toContain('ECONNECTTIMEOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });

  it('is configured per gateway as connect_timeout_ms, 2000 ms by default, next to the 10 s call timeout', () => {
    const config = testConfig({
      gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sk_test_0123456789abcdef', webhook_secret: 'whsec_0123456789abcdef' } },
    });

    expect(config.gateways.sim.connectTimeoutMs).toBe(2000);
    expect(config.gateways.sim.timeoutMs).toBe(10000);
    expect(config.gateways.sim.warmSockets).toBe(16);
  });
});

/** A TCP server that accepts and reads but never answers (a stalled proxy, or a TLS peer that never answers the ClientHello). */
async function silentServer(): Promise<{ port: number; accepted: () => number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('connect timeout through a proxy', () => {
  it('fails an https call through a black-holed proxy as not_sent after the connect timeout, not the call deadline', async () => {
    const hole = await blackHole();
    try {
      const client = new GatewayClient(gatewayConfig('https://127.0.0.1:9', { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: { host: '127.0.0.1', port: hole.port },
      });
      const started = performance.now();

      const err = await failure(client.send(post));

      expect(err.kind).toBe('not_sent');
      expect(err.message).toContain('ECONNECTTIMEOUT');
      expect(performance.now() - started).toBeLessThan(20000);
    } finally {
      hole.close();
    }
  });

  it('fails a plain http call through a black-holed proxy as not_sent after the connect timeout', async () => {
    const hole = await blackHole();
    try {
      const client = new GatewayClient(gatewayConfig('http://127.0.0.1:9', { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: { host: '127.0.0.1', port: hole.port },
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('not_sent');
      expect(err.message).toContain('ECONNECTTIMEOUT');
    } finally {
      hole.close();
    }
  });

  it("bounds the proxy's answer to CONNECT: a proxy that accepts TCP and never answers is not_sent by the connect timeout", async () => {
    const stalled = await silentServer();
    try {
      const client = new GatewayClient(gatewayConfig('https://127.0.0.1:9', { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: { host: '127.0.0.1', port: stalled.port },
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('not_sent');
      expect(err.message).toContain('ECONNECTTIMEOUT');
    } finally {
      await stalled.close();
    }
  });

  it('closes what a missed bound leaves: the connection to a proxy that never answered CONNECT, the tunnel of a handshake that never finished', async () => {
    const stalled = await silentServer();
    const proxy = await startConnectProxy();
    const silent = await silentServer();
    try {
      const viaStalled = new GatewayClient(gatewayConfig('https://127.0.0.1:9', { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: { host: '127.0.0.1', port: stalled.port },
      });
      const viaTunnel = new GatewayClient(gatewayConfig(`https://127.0.0.1:${silent.port}`, { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: { host: '127.0.0.1', port: proxy.port },
      });

      expect((await failure(viaStalled.send(post))).message).toContain('ECONNECTTIMEOUT');
      expect((await failure(viaTunnel.send(post))).message).toContain('ECONNECTTIMEOUT');

      // Left open, each call would keep a socket at the proxy (and a tunnel to the PSP) until the proxy gave up.
      expect(stalled.accepted()).toBe(1);
      expect(silent.accepted()).toBe(1);
      await eventually(() => stalled.open() === 0 && silent.open() === 0, 5000);
    } finally {
      await silent.close();
      await proxy.close();
      await stalled.close();
    }
  });

  it('bounds the TLS handshake inside the tunnel: a target that never answers the ClientHello is not_sent by the connect timeout', async () => {
    const proxy = await startConnectProxy();
    const silent = await silentServer();
    try {
      const client = new GatewayClient(gatewayConfig(`https://127.0.0.1:${silent.port}`, { timeoutMs: 20000, connectTimeoutMs: 300 }), transformer, {
        proxy: { host: '127.0.0.1', port: proxy.port },
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('not_sent');
      expect(err.message).toContain('ECONNECTTIMEOUT');
      expect(proxy.tunnels).toEqual([`127.0.0.1:${silent.port}`]);
    } finally {
      await silent.close();
      await proxy.close();
    }
  });

  it('does not cut a slow answer through the proxy: past the connect timeout it is the deadline that decides, as outcome_unknown', async () => {
    const proxy = await startConnectProxy();
    const sockets = new Set<net.Socket>();
    const slow = http.createServer(() => undefined); // reads the request, never answers
    slow.on('connection', (s: net.Socket) => sockets.add(s));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const port = (slow.address() as AddressInfo).port;
    try {
      const client = new GatewayClient(gatewayConfig(`http://127.0.0.1:${port}`, { timeoutMs: 800, connectTimeoutMs: 200 }), transformer, {
        proxy: { host: '127.0.0.1', port: proxy.port },
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('outcome_unknown');
      expect(err.message).toContain('TIMEOUT');
      expect(err.message).not.toContain('ECONNECTTIMEOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
      await proxy.close();
    }
  });
  it('leaves an https call through the tunnel to the deadline once the handshake is done: a silent target is outcome_unknown', async () => {
    const cert = makeSelfSignedCert();
    const proxy = await startConnectProxy();
    const sockets = new Set<net.Socket>();
    const slow = https.createServer({ cert: cert.cert, key: cert.key }, () => undefined); // reads the request, never answers
    slow.on('connection', (s: net.Socket) => sockets.add(s));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const port = (slow.address() as AddressInfo).port;
    try {
      const client = new GatewayClient(gatewayConfig(`https://127.0.0.1:${port}`, { timeoutMs: 800, connectTimeoutMs: 200 }), transformer, {
        proxy: { host: '127.0.0.1', port: proxy.port },
        ca: cert.cert,
      });

      const err = await failure(client.send(post));

      expect(err.kind).toBe('outcome_unknown');
      expect(err.message).toContain('TIMEOUT');
      expect(err.message).not.toContain('ECONNECTTIMEOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
      await proxy.close();
    }
  });
});

describe('warm keep-alive pool', () => {
  it('opens warm_sockets connections at start with HEAD on the base URL and serves the next call on one of them', async () => {
    let connections = 0;
    const methods: string[] = [];
    const server = http.createServer((req, res) => {
      methods.push(req.method ?? '');
      req.resume();
      req.on('end', () => {
        // As a PSP's front end answers: with a length, so the connection stays open.
        const body = req.method === 'HEAD' ? '' : '{"id":"ch_1"}';
        res.writeHead(req.method === 'HEAD' ? 404 : 201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    const sockets = new Set<net.Socket>();
    server.on('connection', (s: net.Socket) => {
      connections += 1;
      sockets.add(s);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = new GatewayClient(gatewayConfig(`http://127.0.0.1:${port}`, { warmSockets: 4, name: 'warmpsp' }), transformer, { proxy: DIRECT });
    try {
      const warmed = await client.startKeepWarm();

      expect(warmed).toEqual({ sent: 4, failed: 0 });
      expect(connections).toBe(4);
      expect(methods).toEqual(['HEAD', 'HEAD', 'HEAD', 'HEAD']);
      expect(client.poolSockets()).toEqual({ busy: 0, idle: 4 });
      expect(await metricValue('pb_gateway_pool_sockets', { gateway: 'warmpsp', state: 'idle' })).toBe(4);

      const response = await client.send(post);
      expect(response.status).toBe(201);
      expect(connections).toBe(4); // no new connect on the command's time

      // Topping up replaces what the peer closed while idle.
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 100));
      await client.warm();
      expect(client.poolSockets().idle).toBe(4);
      expect(connections).toBe(8);
    } finally {
      client.stopKeepWarm();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('reports a PSP it cannot reach while warming without throwing (the worker starts anyway)', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new GatewayClient(gatewayConfig(`http://127.0.0.1:${port}`, { warmSockets: 3 }), transformer, { proxy: DIRECT });
    try {
      await expect(client.startKeepWarm()).resolves.toEqual({ sent: 3, failed: 3, firstError: 'ECONNREFUSED' });
    } finally {
      client.stopKeepWarm();
    }
  });
});

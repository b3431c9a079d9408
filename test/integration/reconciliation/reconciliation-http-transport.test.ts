import http from 'node:http';
import https from 'node:https';
import net, { AddressInfo } from 'node:net';
import { GatewayError } from '../../../src/errors/gateway-error';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import { adyenReportGateway } from '../../support/adyen-report-gateway';
import { adyenGateway } from '../../../src/gateways/adyen/adyen-gateway';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { blackHole } from '../../support/black-hole';
import { rejectionOf } from '../../support/thrown';
import { startConnectProxy } from '../http/connect-proxy';
import { makeSelfSignedCert, TestCert } from '../http/tls-cert';

jest.setTimeout(60000);

// Reconciliation's own calls (the API `send` and the report downloads `lines`) against the outbound rules:
// connect bound, classification by how far the request got, TLS floor, the proxy (CONNECT for https).

const DIRECT = { host: '', port: 0 };

function gatewayConfig(baseUrl: string, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return adyenReportGateway({ baseUrl, timeoutMs: 20000, connectTimeoutMs: 300, ...overrides });
}

/** Reads every line of `iterable`; the error it ends with. */
async function readAll(iterable: AsyncIterable<string>): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of iterable) lines.push(line);
  return lines;
}

let cert: TestCert;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(() => {
  cert = makeSelfSignedCert();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A report host: `handler` answers; every socket is destroyed at cleanup. */
async function startHost(handler: http.RequestListener, tls?: https.ServerOptions): Promise<{ url: string; port: number; seen: string[] }> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const listener: http.RequestListener = (req, res) => {
    seen.push(req.url ?? '');
    handler(req, res);
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  server.on('connection', (s: net.Socket) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, port, seen };
}

const report: http.RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/csv' });
  res.end('Company Account,Merchant Account\nAcme,Acme\n');
};

describe('reconciliation calls: connect bound and classification', () => {
  it('fails a report download from a black-holed host as not_sent by the gateway connect timeout, not the call deadline', async () => {
    const hole = await blackHole();
    cleanups.push(hole.close);
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, {
      proxy: DIRECT,
      timeoutMs: 20000,
    });
    cleanups.push(client.close);
    const started = performance.now();

    const err = await rejectionOf(readAll(client.lines({ path: `http://127.0.0.1:${hole.port}/reports/batch_1.csv` })), GatewayError);

    expect(err.kind).toBe('not_sent');
    expect(err.message).toContain('ECONNECTTIMEOUT');
    expect(performance.now() - started).toBeLessThan(10000);
  });

  it('fails an API call to a black-holed base URL as not_sent by the gateway connect timeout', async () => {
    const hole = await blackHole();
    cleanups.push(hole.close);
    const client = createReconciliationHttp(gatewayConfig(`http://127.0.0.1:${hole.port}`), adyenGateway.transformer, { proxy: DIRECT, timeoutMs: 20000 });
    cleanups.push(client.close);

    const err = await rejectionOf(client.send({ method: 'GET', path: '/payments/x' }), GatewayError);

    expect(err.kind).toBe('not_sent');
    expect(err.message).toContain('ECONNECTTIMEOUT');
  });

  it('classifies a report host that took the request and never answered as outcome_unknown, not not_sent', async () => {
    const host = await startHost(() => undefined);
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, { proxy: DIRECT, timeoutMs: 500 });
    cleanups.push(client.close);

    const err = await rejectionOf(readAll(client.lines({ path: `${host.url}/reports/batch_1.csv` })), GatewayError);

    expect(err.kind).toBe('outcome_unknown');
    expect(err.message).toContain('TIMEOUT');
    expect(host.seen).toEqual(['/reports/batch_1.csv']);
  });

  it('refuses a report host offering only TLS 1.1 as not_sent, before the request reaches it', async () => {
    const host = await startHost(report, { cert: cert.cert, key: cert.key, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, {
      proxy: DIRECT,
      timeoutMs: 5000,
      ca: cert.cert,
    });
    cleanups.push(client.close);

    const err = await rejectionOf(readAll(client.lines({ path: `${host.url}/reports/batch_1.csv` })), GatewayError);

    expect(err.kind).toBe('not_sent');
    expect(host.seen).toHaveLength(0);
  });

  it('refuses a report host whose certificate is not trusted as not_sent', async () => {
    const host = await startHost(report, { cert: cert.cert, key: cert.key });
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, { proxy: DIRECT, timeoutMs: 5000 });
    cleanups.push(client.close);

    const err = await rejectionOf(readAll(client.lines({ path: `${host.url}/reports/batch_1.csv` })), GatewayError);

    expect(err.kind).toBe('not_sent');
    expect(host.seen).toHaveLength(0);
  });
});

describe('reconciliation calls through the proxy', () => {
  it('downloads an https report through a CONNECT tunnel, TLS verified end to end', async () => {
    const proxy = await startConnectProxy();
    cleanups.push(() => proxy.close());
    const host = await startHost(report, { cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' });
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, {
      proxy: { host: '127.0.0.1', port: proxy.port },
      timeoutMs: 5000,
      ca: cert.cert,
    });
    cleanups.push(client.close);

    const lines = await readAll(client.lines({ path: `${host.url}/reports/batch_1.csv` }));

    expect(lines).toEqual(['Company Account,Merchant Account', 'Acme,Acme']);
    expect(proxy.tunnels).toEqual([`127.0.0.1:${host.port}`]);
    expect(proxy.forwarded).toHaveLength(0);
  });

  it('sends the API calls through the proxy too', async () => {
    const proxy = await startConnectProxy();
    cleanups.push(() => proxy.close());
    const host = await startHost((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const client = createReconciliationHttp(gatewayConfig(host.url), adyenGateway.transformer, {
      proxy: { host: '127.0.0.1', port: proxy.port },
      timeoutMs: 5000,
    });
    cleanups.push(client.close);

    const response = await client.send({ method: 'GET', path: '/payments/x' });

    expect(response.status).toBe(200);
    expect(proxy.forwarded).toEqual([`${host.url}/payments/x`]);
  });

  it("takes a proxy's refusal of the tunnel for what it is (not_sent), not for the report host answering 403", async () => {
    const proxy = await startConnectProxy({ refuseConnect: true });
    cleanups.push(() => proxy.close());
    const host = await startHost(report, { cert: cert.cert, key: cert.key });
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, {
      proxy: { host: '127.0.0.1', port: proxy.port },
      timeoutMs: 5000,
      ca: cert.cert,
    });
    cleanups.push(client.close);

    const err = await rejectionOf(readAll(client.lines({ path: `${host.url}/reports/batch_1.csv` })), GatewayError);

    expect(err.kind).toBe('not_sent');
    expect(err.message).toContain('the proxy refused the tunnel');
    expect(host.seen).toHaveLength(0);
  });

  it('keeps the download deadline when no connect bound applies: a black-holed proxy fails by timeout_ms as not_sent', async () => {
    const hole = await blackHole();
    cleanups.push(hole.close);
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71', { connectTimeoutMs: undefined }), adyenGateway.transformer, {
      proxy: { host: '127.0.0.1', port: hole.port },
      timeoutMs: 500,
    });
    cleanups.push(client.close);
    const read = readAll(client.lines({ path: 'https://127.0.0.1:9/reports/batch_1.csv' })).then(
      () => 'resolved',
      (err: unknown) => err,
    );
    // Without the bound the read waits for the proxy's socket: the race names that outcome instead of the test timing out.
    const outcome = await Promise.race([read, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000).unref())]);

    expect(outcome).toBeInstanceOf(GatewayError);
    expect((outcome as GatewayError).kind).toBe('not_sent');
    expect((outcome as GatewayError).message).toContain('TIMEOUT');
    expect((outcome as GatewayError).message).not.toContain('ECONNECTTIMEOUT');
  });

  it('fails a report download through a black-holed proxy as not_sent by the connect timeout', async () => {
    const hole = await blackHole();
    cleanups.push(hole.close);
    const client = createReconciliationHttp(gatewayConfig('https://checkout-test.adyen.com/v71'), adyenGateway.transformer, {
      proxy: { host: '127.0.0.1', port: hole.port },
      timeoutMs: 20000,
    });
    cleanups.push(client.close);

    const err = await rejectionOf(readAll(client.lines({ path: 'https://127.0.0.1:9/reports/batch_1.csv' })), GatewayError);

    expect(err.kind).toBe('not_sent');
    expect(err.message).toContain('ECONNECTTIMEOUT');
  });
});

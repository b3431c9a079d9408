import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { createOutboundHttp, closeOutboundHttp } from '../../../src/http/axios-http';
import { transportErrorCode } from '../../../src/http/outbound-http';
import { blackHole } from '../../support/black-hole';
import { startConnectProxy } from './connect-proxy';

jest.setTimeout(30000);

/** The doctor's and certify's axios client: a new connection bounded by its connect timeout, as the gateway clients'. */
describe('createOutboundHttp connect timeout', () => {
  it('fails a connect to a black-holed address at connectTimeoutMs with ECONNECTTIMEOUT, not at the call timeout', async () => {
    const hole = await blackHole();
    const http = createOutboundHttp({ timeoutMs: 8000, connectTimeoutMs: 300, maxSockets: 1, proxy: { host: '', port: 0 } });
    try {
      const started = performance.now();
      const err = await http.request({ method: 'GET', url: `http://127.0.0.1:${hole.port}/` }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect(transportErrorCode(err)).toBe('ECONNECTTIMEOUT');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      // The 8 s call timeout did not decide it.
      expect(elapsed).toBeLessThan(4000);
    } finally {
      closeOutboundHttp(http);
      hole.close();
    }
  });

  it('bounds the connect to a black-holed proxy too', async () => {
    const hole = await blackHole();
    const http = createOutboundHttp({ timeoutMs: 8000, connectTimeoutMs: 300, maxSockets: 1, proxy: { host: '127.0.0.1', port: hole.port } });
    try {
      const started = performance.now();
      const err = await http.request({ method: 'GET', url: 'https://127.0.0.1:9/' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(transportErrorCode(err)).toBe('ECONNECTTIMEOUT');
      expect(performance.now() - started).toBeLessThan(4000);
    } finally {
      closeOutboundHttp(http);
      hole.close();
    }
  });

  it("never takes a proxy's refusal of the tunnel for the target's answer (EPROXYREFUSED, not the proxy's 403)", async () => {
    const proxy = await startConnectProxy({ refuseConnect: true });
    const http = createOutboundHttp({ timeoutMs: 5000, maxSockets: 1, proxy: { host: '127.0.0.1', port: proxy.port } });
    try {
      const outcome = await http.request({ method: 'GET', url: 'https://127.0.0.1:9/' }).then(
        (res) => `answered ${res.status}`,
        (e: unknown) => transportErrorCode(e),
      );
      expect(outcome).toBe('EPROXYREFUSED');
    } finally {
      closeOutboundHttp(http);
      await proxy.close();
    }
  });

  it('keeps the call timeout a wall clock: without a connect bound a black-holed connect ends at timeoutMs', async () => {
    const hole = await blackHole();
    const http = createOutboundHttp({ timeoutMs: 1000, maxSockets: 1, proxy: { host: '', port: 0 } });
    try {
      const started = performance.now();
      const err = await http.request({ method: 'GET', url: `http://127.0.0.1:${hole.port}/` }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(transportErrorCode(err)).toBe('ECONNABORTED');
      expect(performance.now() - started).toBeLessThan(3000);
    } finally {
      closeOutboundHttp(http);
      hole.close();
    }
  });

  it('keeps the call timeout a wall clock: a peer trickling its answer ends at timeoutMs', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const tick = setInterval(() => res.write('x'), 100);
      res.on('close', () => clearInterval(tick));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const http = createOutboundHttp({ timeoutMs: 1000, connectTimeoutMs: 300, maxSockets: 1, proxy: { host: '', port: 0 } });
    try {
      const started = performance.now();
      const err = await http.request({ method: 'GET', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(transportErrorCode(err)).toBe('ECONNABORTED');
      expect(performance.now() - started).toBeLessThan(3000);
    } finally {
      closeOutboundHttp(http);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

import { createOutboundHttp, closeOutboundHttp } from '../../../src/http/axios-http';
import { transportErrorCode } from '../../../src/http/outbound-http';
import { blackHole } from '../../support/black-hole';

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
});

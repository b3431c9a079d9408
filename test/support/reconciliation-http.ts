import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { GatewayError, GatewayErrorKind } from '../../src/errors/gateway-error';
import { GatewayConfig } from '../../src/gateways/gateway-config';
import { gatewayDefinition } from '../../src/gateways/gateway-registry';
import { ReconciliationHttp } from '../../src/reconciliation/psp-record';

/**
 * A plain `ReconciliationHttp` for the readers' tests (loopback servers, Prism): each request
 * authenticated by the gateway's own transformer, report files streamed line by line. Test-only: the
 * product's implementation goes through the gateway client (pool, proxy, timeouts).
 */

function kindOf(status: number): GatewayErrorKind {
  if (status === 401 || status === 403) return 'authentication';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'server_error' : 'invalid_request';
}

/** Every request it sent, method and path only (what the tests assert on). */
export interface RecordingHttp extends ReconciliationHttp {
  readonly sent: { method: string; path: string; body?: string; headers: Record<string, string>; status?: number; responseHeaders?: Record<string, string> }[];
}

export function testReconciliationHttp(gateway: GatewayConfig, now: () => Date = () => new Date()): RecordingHttp {
  const transformer = gatewayDefinition(gateway.type).transformer;
  const sent: RecordingHttp['sent'] = [];
  return {
    sent,
    async send(request) {
      const authed = transformer.authenticate(
        { method: request.method, path: request.path, headers: { ...(request.headers ?? {}) }, body: request.body },
        gateway,
        now(),
      );
      const entry: RecordingHttp['sent'][number] = { method: authed.method, path: authed.path, body: authed.body, headers: authed.headers };
      sent.push(entry);
      const res = await fetch(`${gateway.baseUrl}${authed.path}`, { method: authed.method, headers: authed.headers, body: authed.body });
      entry.status = res.status;
      entry.responseHeaders = Object.fromEntries(res.headers.entries());
      return { status: res.status, body: await res.text() };
    },
    async *lines(request) {
      const url = /^https?:\/\//.test(request.path) ? request.path : `${gateway.baseUrl}${request.path}`;
      sent.push({ method: 'GET', path: request.path, headers: request.headers ?? {} });
      const res = await fetch(url, { headers: request.headers ?? {} });
      if (!res.ok || res.body === null) {
        await res.body?.cancel();
        throw new GatewayError(kindOf(res.status), gateway.name, `report download answered HTTP ${res.status}`, { httpStatus: res.status });
      }
      const input = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      const rl = createInterface({ input, crlfDelay: Infinity });
      try {
        for await (const line of rl) yield line;
      } finally {
        rl.close();
        input.destroy();
      }
    },
  };
}

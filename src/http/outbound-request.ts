import http from 'node:http';
import https from 'node:https';
import { DirectPools } from './direct-pools';
import { CallState, DEFAULT_MAX_SOCKETS, OutboundHttpOptions, classifyTransportFailure, createAgents, trackedTransport } from './outbound-http';
import { MAX_RESPONSE_BYTES, OutboundRequest, OutboundRequestError, OutboundResponse, RESPONSE_TOO_LARGE } from './outbound-types';

export { MAX_RESPONSE_BYTES, OutboundRequestError, RESPONSE_TOO_LARGE } from './outbound-types';
export type { OutboundRequest, OutboundResponse } from './outbound-types';

/**
 * The hot-path HTTP client of the gateways and the bus. Direct calls (no proxy configured) go through
 * undici pools (`DirectPools`: about half the CPU per request of Node's `http.request`); calls through a
 * proxy take Node's own `http.request` on the keep-alive agents of `createAgents`, whose proxy agents do
 * the CONNECT tunnel (https) or the forwarding (http). Either way: TLS 1.2 floor, one whole-call deadline,
 * a separate connect bound, the same phase tracking and failure classification. Bodies are text; nothing
 * is parsed or transformed here.
 */
export class OutboundClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  /** Direct transport; undefined when a proxy is configured (every call then takes the agents). */
  private readonly direct: DirectPools | undefined;

  /** @param options `timeoutMs` is the whole-call deadline (connect to last byte), milliseconds. */
  constructor(private readonly options: OutboundHttpOptions) {
    ({ httpAgent: this.httpAgent, httpsAgent: this.httpsAgent } = createAgents(options));
    if (!options.proxy?.host) {
      this.direct = new DirectPools({
        timeoutMs: options.timeoutMs,
        connectTimeoutMs: options.connectTimeoutMs,
        maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS,
        ca: options.ca,
      });
    }
  }

  /**
   * Sends `request`; resolves with the response whatever its status. Rejects with `OutboundRequestError`
   * (`not_sent` or `outcome_unknown`) when no complete response came before the deadline.
   */
  send(request: OutboundRequest): Promise<OutboundResponse> {
    if (this.direct) {
      const { origin, path } = splitUrl(request.url);
      return this.direct.send(origin, path, request);
    }
    return this.viaAgents(request);
  }

  private viaAgents(request: OutboundRequest): Promise<OutboundResponse> {
    const target = new URL(request.url);
    const secure = target.protocol === 'https:';
    const state: CallState = { phase: 'connecting', timedOut: false, proxyRefused: false };
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const started = performance.now();
    return new Promise<OutboundResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        reject(new OutboundRequestError(classifyTransportFailure(err, state), { cause: err }));
      };
      const req = trackedTransport(state, this.options.connectTimeoutMs).request(
        {
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          path: `${target.pathname}${target.search}`,
          method: request.method,
          headers,
          agent: secure ? this.httpsAgent : this.httpAgent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(Object.assign(new Error('response body too large'), { code: RESPONSE_TOO_LARGE }));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('aborted', () => fail(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(deadline);
            resolve(responseOf(res, chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'), performance.now() - started));
          });
        },
      );
      const deadline = setTimeout(() => {
        state.timedOut = true;
        req.destroy(Object.assign(new Error('deadline exceeded'), { code: 'TIMEOUT' }));
        fail(new Error('deadline exceeded'));
      }, this.options.timeoutMs);
      req.on('error', fail);
      req.end(request.body);
    });
  }

  /** Sockets of this client's pools: `busy` carrying a request, `idle` kept alive for the next one. */
  poolSockets(): { busy: number; idle: number } {
    const count = (lists: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(lists).reduce((n, list) => n + (list?.length ?? 0), 0);
    const direct = this.direct?.poolSockets() ?? { busy: 0, idle: 0 };
    return {
      busy: direct.busy + count(this.httpAgent.sockets) + count(this.httpsAgent.sockets),
      idle: direct.idle + count(this.httpAgent.freeSockets) + count(this.httpsAgent.freeSockets),
    };
  }

  /**
   * Brings the pool to `count` open keep-alive connections to `url`'s origin: one `HEAD url` per socket not
   * busy, all at once, so idle sockets are reused (and their idle timer at the peer restarts) and missing
   * ones are opened (connect and TLS handshake done now, not on a command's time). The answers' statuses
   * do not matter: any answer leaves the socket in the pool. Never rejects.
   */
  async warm(url: string, count: number): Promise<{ sent: number; failed: number; firstError?: string }> {
    const wanted = Math.max(0, Math.min(count, this.options.maxSockets ?? 64) - this.poolSockets().busy);
    const results = await Promise.allSettled(Array.from({ length: wanted }, () => this.send({ method: 'HEAD', url, headers: {} })));
    // The agent takes a socket back on the tick after its response ended: count the pool after that.
    await new Promise((resolve) => setImmediate(resolve));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    const first = failures[0]?.reason as unknown;
    return { sent: wanted, failed: failures.length, firstError: first instanceof OutboundRequestError ? first.failure.code : undefined };
  }

  /** Closes idle keep-alive sockets (shutdown, tests). */
  close(): void {
    this.direct?.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * The response, its headers built on first read: Node parses the header lines into `res.headers` only when
 * asked, and most callers (every successful gateway call and bus notification) never read them.
 */
function responseOf(res: http.IncomingMessage, body: string, elapsedMs: number): OutboundResponse {
  let headers: Record<string, string> | undefined;
  return {
    status: res.statusCode ?? 0,
    get headers(): Record<string, string> {
      headers ??= flattenHeaders(res.headers);
      return headers;
    },
    set headers(value: Record<string, string>) {
      headers = value;
    },
    body,
    elapsedMs,
  };
}

/** Characters a path may hold for it to be sent as written: anything else (and dot segments) goes through `URL`. */
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~%!$&()*+,;=:@/?]*$/;
const DOT_SEGMENT = /\/(?:\.|%2e)/i;

/**
 * `url`'s origin (`http://host:port`, the pool's key) and its path with the query. The common case, a plain
 * path, is a split at the first `/` after the authority; anything unusual (dot segments, characters `URL`
 * would escape, a fragment, user info) is left to `URL`, so the request line is what `new URL` makes of it.
 */
export function splitUrl(url: string): { origin: string; path: string } {
  const authority = url.indexOf('//') + 2;
  const slash = url.indexOf('/', authority);
  if (authority > 2 && slash > 0 && !url.includes('@', authority)) {
    const path = url.slice(slash);
    if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) {
      const origin = url.slice(0, slash);
      if (/^https?:$/.test(origin.slice(0, authority - 2))) return { origin, path };
    }
  }
  const target = new URL(url);
  return { origin: target.origin, path: `${target.pathname}${target.search}` };
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

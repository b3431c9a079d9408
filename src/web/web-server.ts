import http, { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { IpRanges } from '../net/ip-ranges';
import { ConnectionGuard } from './connection-guard';
import { isDiscarding } from './read-body';

const clientErrors = counter(
  'pb_http_client_errors_total',
  'Requests the web server closed before a handler saw them, by kind (timeout: headers or body too slow; headers_too_large; malformed; tls: handshake failed or too slow)',
  ['kind'],
);

/** One route family of the `web` process (intake, webhooks, health, metrics). */
export interface WebRoute {
  /** Whether this route serves `path` (method checks belong to the handler: it answers 405 itself). */
  matches(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export interface WebServer {
  server: http.Server;
  /** Base URL, e.g. `http://127.0.0.1:8080` (`https://` with TLS). */
  url: string;
  /** Open connections now (after the caps). */
  openConnections(): number;
  /**
   * Stops taking connections and closes the server. Without `drain`, every connection is dropped at once. With it,
   * the idle keep-alive connections are closed at once (they would hold the close open until their idle limit) and
   * the requests under way go on: `drain` gets a promise settled once they are all answered, and whatever it
   * returns (it bounds its own wait), the connections left are dropped. Their answers carry `Connection: close`.
   */
  close(drain?: (answered: Promise<void>) => Promise<unknown>): Promise<void>;
}

/** Caps and timeouts against slow or greedy clients; the `edge.*` keys, see `EdgeConfig` for each. */
export interface EdgeLimits {
  /** Open connections held at most. */
  readonly maxConnections: number;
  /** Open connections one peer address holds at most (trusted proxies exempt). */
  readonly maxConnectionsPerIp: number;
  /** Time to send the complete headers, milliseconds (also the TLS handshake's limit). */
  readonly headersTimeoutMs: number;
  /** Time to send the complete request, headers and body, milliseconds. */
  readonly requestTimeoutMs: number;
  /** Idle time of a keep-alive connection between requests, milliseconds. */
  readonly keepAliveTimeoutMs: number;
  /** CIDRs of the proxies in front of us (exempt from the per-address cap). */
  readonly trustedProxies: readonly string[];
}

/** The `edge.*` defaults, for servers started without a configuration (tests, tools). */
export const DEFAULT_EDGE_LIMITS: EdgeLimits = {
  maxConnections: 4000,
  maxConnectionsPerIp: 512,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 30_000,
  trustedProxies: [],
};

/** Certificate material of a TLS listener (PEM). */
export interface WebTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** When set, clients must present a certificate signed by one of these CAs (mutual TLS). */
  ca?: string | Buffer;
}

export interface WebServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Default {@link DEFAULT_EDGE_LIMITS}. */
  limits?: EdgeLimits;
  /** Serve https (TLS 1.2 or newer) instead of http. */
  tls?: WebTls;
  /**
   * Headers every answer of this listener carries, the server's own 404 and 500 and an allowlist's 403
   * included (a handler may still set one of these names itself). Default none.
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * The largest body any route of this listener reads (`http.body_limit_bytes`). A request that declares a
   * larger Content-Length with `Expect: 100-continue` is not asked for its body (no 100 Continue: its route
   * refuses it, 413, without a byte sent) and its answer closes the connection. Default: every such request
   * gets its 100 Continue, as Node's server does.
   */
  bodyLimitBytes?: number;
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Headers of the generic error answers the web role writes itself on any listener (404 of an unknown path,
 * 500 of a failed handler, 403 of an allowlist): not sniffed as anything but JSON, and never kept by a
 * cache (a 403 depends on the client's address, a 500 on the moment). Harmless on any JSON answer, so the
 * intake's and the webhooks' listener carry them too; the page headers (CSP, framing) stay the console's.
 */
export const ERROR_HEADERS: Readonly<Record<string, string>> = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };

/** Writes a generic error answer `{ "error": message }` with {@link ERROR_HEADERS}. */
export function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, { ...ERROR_HEADERS, ...headers });
}

/** Canned answers for a request the parser gave up on, as Node's own default handler writes them. */
const CLIENT_ERROR_RESPONSES: Readonly<Record<string, string>> = {
  timeout: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  headers_too_large: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  malformed: 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
};

function clientErrorKind(code: string | undefined): string {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'timeout';
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  return 'malformed';
}

/**
 * The `web` process' HTTP(S) server: routes by path prefix, never lets a handler error crash the process
 * (it answers 500 and logs), keeps connections alive for the bus and the PSPs, and holds its edge: caps on
 * open connections (total, per peer address), a deadline for the headers (slowloris), one for the whole
 * request (slow bodies), an idle limit for keep-alive connections and, with TLS, for the handshake.
 */
export async function startWebServer(routes: WebRoute[], options: WebServerOptions): Promise<WebServer> {
  const limits = options.limits ?? DEFAULT_EDGE_LIMITS;
  const listenerHeaders = Object.entries(options.headers ?? {});
  /** Requests not answered yet; `closing` once the server stops. */
  const underWay = new Set<ServerResponse>();
  /** What ends each request under way, by connection: its close ends them all (see the listener). */
  const bySocket = new WeakMap<Duplex, Set<() => void>>();
  let closing = false;
  let allAnswered: (() => void) | null = null;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    // A response queued behind a pipelined request whose answer closed the connection (Connection: close) is
    // never sent and gets no 'close' of its own: its connection's close ends it too, or it would stay under way
    // (in memory for the process's life, and holding every stop's drain to its bound).
    const socket = req.socket;
    let onSocket = bySocket.get(socket);
    if (!onSocket) {
      const ends = new Set<() => void>();
      bySocket.set(socket, ends);
      socket.once('close', () => {
        for (const end of [...ends]) end();
      });
      onSocket = ends;
    }
    const ends = onSocket;
    const answered = (): void => {
      ends.delete(answered);
      if (!underWay.delete(res)) return;
      if (underWay.size === 0) allAnswered?.();
    };
    underWay.add(res);
    ends.add(answered);
    res.once('close', answered);
    // Answered while the server closes: the client opens its next connection elsewhere.
    if (closing) res.setHeader('connection', 'close');
    // Set before any route runs, so whatever answers (a route, the 404 below, an allowlist's 403, the 500)
    // carries them; writeHead merges its own headers over these.
    for (const [name, value] of listenerHeaders) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.find((r) => r.matches(path));
    if (!route) {
      sendError(res, 404, 'not found');
      return;
    }
    route.handle(req, res, path).catch((err: Error) => {
      options.logger.error('request handler failed', { path, error: err.message, stack: err.stack });
      if (!res.headersSent) sendError(res, 500, 'internal error');
      else res.destroy();
    });
  };
  const serverOptions: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks both deadlines on this interval (default 30 s): a slow socket is closed at most this late.
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const server: http.Server = options.tls
    ? https.createServer(
        {
          ...serverOptions,
          cert: options.tls.cert,
          key: options.tls.key,
          minVersion: 'TLSv1.2',
          handshakeTimeout: limits.headersTimeoutMs,
          ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
        },
        listener,
      )
    : http.createServer(serverOptions, listener);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  const bodyLimit = options.bodyLimitBytes;
  if (bodyLimit !== undefined)
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = Number(req.headers['content-length']);
      // A body refused on its declared length need not be sent at all; whatever answers (the route's 413, a
      // 403, a 404) closes the connection, since the body it did not ask for is no next request.
      if (Number.isFinite(declared) && declared > bodyLimit) res.setHeader('connection', 'close');
      else res.writeContinue();
      listener(req, res);
    });
  const guard = new ConnectionGuard(
    { maxConnections: limits.maxConnections, maxConnectionsPerIp: limits.maxConnectionsPerIp, trustedProxies: new IpRanges(limits.trustedProxies) },
    options.logger,
  );
  // On a TLS server `connection` is the raw TCP socket, before the handshake: capped before any work.
  server.on('connection', guard.onConnection);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (isDiscarding(socket)) {
      // Answered 413 already; the client ended its side with its body unfinished (counted by the reader).
      socket.destroy();
      return;
    }
    const kind = clientErrorKind(err.code);
    clientErrors.inc({ kind });
    // Answer only when no response of ours has started on this socket (Node's own rule for this event).
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    const canAnswer = kind !== 'reset' && socket.writable && !inFlight?.headersSent;
    if (canAnswer) socket.write(CLIENT_ERROR_RESPONSES[kind]);
    socket.destroy();
  });
  if (options.tls)
    server.on('tlsClientError', (_err: Error, socket: Duplex) => {
      clientErrors.inc({ kind: 'tls' });
      socket.destroy();
    });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    openConnections: () => guard.openConnections,
    close: async (drain) => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if (drain) {
        server.closeIdleConnections();
        for (const res of underWay) if (!res.headersSent) res.setHeader('connection', 'close');
        const answered = underWay.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (allAnswered = resolve));
        await drain(answered);
      }
      server.closeAllConnections();
      guard.destroyAll();
      await closed;
    },
  };
}

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';

/** Options of every outbound HTTP client (bus, OAuth server, gateways). */
export interface OutboundHttpOptions {
  /** Base URL requests are relative to. */
  baseURL?: string;
  /** Whole-call timeout, milliseconds. Required: no outbound call may wait forever. */
  timeoutMs: number;
  /**
   * How long a new connection may take to be established (TCP connect, and the TLS handshake for https),
   * milliseconds, counted from the moment the request gets its socket (time queued for a free pool slot is
   * not counted). A connect that misses it fails as `not_sent` with code `ECONNECTTIMEOUT`: a black-holed
   * address frees its slot in this time instead of the whole-call deadline. Default: the whole-call
   * timeout (no separate bound). Through a proxy it bounds the connect to the proxy, its answer to CONNECT and
   * the TLS handshake inside the tunnel, together (`createAgents`).
   */
  connectTimeoutMs?: number;
  /** Keep-alive sockets per host. Default {@link DEFAULT_MAX_SOCKETS} (64). */
  maxSockets?: number;
  /** Optional forward proxy (CONNECT for https). Empty host: direct. */
  proxy?: { host: string; port: number };
  /** Trusted CA certificates, replacing the system roots (tests with a local TLS server). Default: system roots. */
  ca?: string | Buffer;
}

/**
 * `HttpsProxyAgent` applies its constructor's TLS options to the proxy connection only: the TLS session to
 * the target, inside the tunnel, is built from the request's options, which carry neither our `ca` nor the
 * TLS 1.2 floor. This subclass adds them to every tunnelled handshake, and bounds the tunnel's set-up by the
 * connect timeout ({@link boundedProxyConnect}).
 */
class TlsFloorProxyAgent extends HttpsProxyAgent<string> {
  constructor(
    proxyUrl: string,
    options: ConstructorParameters<typeof HttpsProxyAgent<string>>[1],
    private readonly targetTls: tls.ConnectionOptions,
    private readonly connectTimeoutMs: number | undefined,
  ) {
    super(proxyUrl, options);
  }

  override connect(req: http.ClientRequest, opts: Parameters<HttpsProxyAgent<string>['connect']>[1]): ReturnType<HttpsProxyAgent<string>['connect']> {
    return boundedProxyConnect(this, () => super.connect(req, { ...opts, ...this.targetTls } as typeof opts), this.connectTimeoutMs);
  }
}

/** `HttpProxyAgent` (plain http targets) with its connect to the proxy bounded by the connect timeout. */
class BoundedHttpProxyAgent extends HttpProxyAgent<string> {
  constructor(
    proxyUrl: string,
    options: ConstructorParameters<typeof HttpProxyAgent<string>>[1],
    private readonly connectTimeoutMs: number | undefined,
  ) {
    super(proxyUrl, options);
  }

  override connect(
    req: Parameters<HttpProxyAgent<string>['connect']>[0],
    opts: Parameters<HttpProxyAgent<string>['connect']>[1],
  ): ReturnType<HttpProxyAgent<string>['connect']> {
    return boundedProxyConnect(this, () => super.connect(req, opts), this.connectTimeoutMs);
  }
}

/** The error of a connection not established within the connect timeout (`not_sent`, `classifyTransportFailure`). */
function connectTimeoutError(ms: number): Error {
  return Object.assign(new Error(`connect timeout after ${ms} ms`), { code: 'ECONNECTTIMEOUT' });
}

/**
 * Runs a proxy agent's `connect` within `ms`: the TCP connect to the proxy and, for a tunnel, the proxy's answer to
 * CONNECT; then the TLS handshake with the target inside the tunnel gets what is left of `ms`. The request only
 * gets its socket once the agent's `connect` resolves, so `trackedTransport`'s own bound never sees a proxy's
 * connect: without this a black-holed or stalled proxy held every call until its whole-call deadline. Both
 * agents open their socket to the proxy from `connectOpts` before their first `await`; a signal of this call's
 * own, set for that synchronous moment only, lets the bound destroy that socket rather than leave it connecting.
 */
function boundedProxyConnect(
  agent: { connectOpts: net.TcpNetConnectOpts & tls.ConnectionOptions },
  connect: () => Promise<net.Socket>,
  ms: number | undefined,
): Promise<net.Socket> {
  if (ms === undefined) return connect();
  const controller = new AbortController();
  const shared = agent.connectOpts;
  agent.connectOpts = { ...shared, signal: controller.signal };
  let pending: Promise<net.Socket>;
  try {
    pending = connect();
  } finally {
    agent.connectOpts = shared;
  }
  const started = performance.now();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, ms);
  return pending.then(
    (socket) => {
      clearTimeout(timer);
      if (socket instanceof tls.TLSSocket) boundHandshake(socket, ms, Math.max(1, ms - (performance.now() - started)));
      return socket;
    },
    (err: unknown) => {
      clearTimeout(timer);
      throw timedOut ? connectTimeoutError(ms) : err;
    },
  );
}

/** Destroys a tunnelled TLS socket with `ECONNECTTIMEOUT` unless its handshake is done within `remainingMs`. */
function boundHandshake(socket: tls.TLSSocket, ms: number, remainingMs: number): void {
  const timer = setTimeout(() => socket.destroy(connectTimeoutError(ms)), remainingMs);
  const done = () => clearTimeout(timer);
  socket.once('secureConnect', done);
  socket.once('close', done);
}

/**
 * `connectTimeoutMs` when it is shorter than the call's `timeoutMs`, else undefined: a connect bound at or past
 * the call deadline would never fire first, and the deadline alone then bounds the call.
 */
export function separateConnectTimeout(connectTimeoutMs: number | undefined, timeoutMs: number): number | undefined {
  return connectTimeoutMs !== undefined && connectTimeoutMs < timeoutMs ? connectTimeoutMs : undefined;
}

/** Keep-alive connections per host when `OutboundHttpOptions.maxSockets` is not given (both transports). */
export const DEFAULT_MAX_SOCKETS = 64;

/**
 * Keep-alive agents with TLS 1.2 as the floor, optionally tunnelled through a proxy. `https-proxy-agent`
 * does CONNECT tunnelling properly (axios' own `proxy` option does not for https targets); the subclass
 * above keeps TLS verification, `ca` and the TLS 1.2 floor end to end inside the tunnel; both proxy agents
 * bound the tunnel's set-up by `connectTimeoutMs`.
 */
export function createAgents(options: OutboundHttpOptions): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
  const tlsFloor: tls.ConnectionOptions = { minVersion: 'TLSv1.2', ca: options.ca };
  if (options.proxy && options.proxy.host) {
    const proxyUrl = `http://${options.proxy.host}:${options.proxy.port}`;
    return {
      httpAgent: new BoundedHttpProxyAgent(proxyUrl, { keepAlive: true, maxSockets }, options.connectTimeoutMs),
      httpsAgent: new TlsFloorProxyAgent(proxyUrl, { keepAlive: true, maxSockets }, tlsFloor, options.connectTimeoutMs),
    };
  }
  return {
    httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
    httpsAgent: new https.Agent({ keepAlive: true, maxSockets, ...tlsFloor }),
  };
}

/** How far one outbound request got. `sent`: its socket reached the peer, so the peer may have acted. */
export type RequestPhase = 'connecting' | 'sent';

/** Per-call record kept by `trackedTransport`: the input of `classifyTransportFailure`. */
export interface CallState {
  phase: RequestPhase;
  /** Set by the caller when its whole-call deadline fired. */
  timedOut: boolean;
  /** Set when an https tunnel was refused by the proxy (its answer never reaches the caller). */
  proxyRefused: boolean;
  /** Set when the connect timeout fired: the connection was never established. */
  connectTimedOut?: boolean;
}

type RequestFn = (options: https.RequestOptions, callback: (res: http.IncomingMessage) => void) => http.ClientRequest;

/**
 * An axios `transport` (per-request option) that is Node's own `request` plus socket tracking into
 * `state`: the request is `sent` once its socket is connected to the peer, i.e. on `secureConnect` for
 * https (through the proxy tunnel when there is one), on `connect` for plain http (to the proxy when there
 * is one), or at once on a reused keep-alive socket. It also catches a proxy that refuses CONNECT:
 * `https-proxy-agent` hands the proxy's own answer (403, 502…) to the request on a plain socket, and
 * that answer must never be mistaken for the peer's.
 */
export function trackedTransport(state: CallState, connectTimeoutMs?: number): { request: RequestFn } {
  return {
    request: (options, callback) => {
      const secure = options.protocol === 'https:';
      const request: RequestFn = secure ? https.request : http.request;
      const req = request(options, (res) => {
        if (secure && !(res.socket instanceof tls.TLSSocket)) {
          state.proxyRefused = true;
          res.resume();
          req.destroy(Object.assign(new Error(`proxy refused the tunnel with status ${res.statusCode ?? 0}`), { code: 'EPROXYREFUSED' }));
          return;
        }
        callback(res);
      });
      req.on('socket', (socket: net.Socket) => {
        if (connectTimeoutMs !== undefined && !req.reusedSocket && socket.connecting) boundConnect(req, socket, state, connectTimeoutMs);
        if (req.reusedSocket) {
          state.phase = 'sent';
        } else if (socket instanceof tls.TLSSocket) {
          socket.once('secureConnect', () => (state.phase = 'sent'));
        } else if (!secure) {
          if (socket.connecting) socket.once('connect', () => (state.phase = 'sent'));
          else state.phase = 'sent';
        }
      });
      return req;
    },
  };
}

/**
 * Destroys `req` with `ECONNECTTIMEOUT` unless `socket` is connected (and, for TLS, its handshake done)
 * within `ms`. Only a socket still connecting is bounded: a reused one or a proxy's tunnel has no connect
 * left to wait for.
 */
function boundConnect(req: http.ClientRequest, socket: net.Socket, state: CallState, ms: number): void {
  const timer = setTimeout(() => {
    state.connectTimedOut = true;
    req.destroy(connectTimeoutError(ms));
  }, ms);
  const done = () => clearTimeout(timer);
  socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', done);
  socket.once('close', done);
}

/** A transport failure in the error taxonomy's words. */
export interface TransportFailure {
  /** `not_sent`: nothing reached the peer, resending is safe. `outcome_unknown`: it may have acted. */
  kind: 'not_sent' | 'outcome_unknown';
  /** The transport error code (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, `TIMEOUT`…), `UNKNOWN` if none. */
  code: string;
  /** Short text for error messages and logs; built from the code, never from a message. */
  description: string;
}

/** Codes that can only arise before a request left: name lookup, routing, connect, TLS setup. */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNECTTIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EPROXYREFUSED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The transport error code of `err`, looking through axios' wrapper and Node's AggregateError. */
export function transportErrorCode(err: unknown): string {
  // Duck-typed, not `instanceof Error`: errors from Node core may come from another realm (jest's sandbox).
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, errors, cause } = current as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === 'string' && code !== 'ERR_CANCELED' && code !== 'ERR_BAD_REQUEST') return code;
    current = Array.isArray(errors) && errors.length > 0 ? (errors[0] as unknown) : cause;
  }
  return 'UNKNOWN';
}

/**
 * Classifies a failed outbound call. The phase decides: before the socket reached the peer nothing can
 * have happened there (`not_sent`); after it, a timeout, reset or hang-up leaves the outcome unknown. The
 * never-sent codes (DNS, refused, TLS setup) are `not_sent` in any case, as they cannot follow a connect.
 */
export function classifyTransportFailure(err: unknown, state: CallState): TransportFailure {
  if (state.proxyRefused) return { kind: 'not_sent', code: 'EPROXYREFUSED', description: 'the proxy refused the tunnel' };
  const code = state.connectTimedOut ? 'ECONNECTTIMEOUT' : state.timedOut ? 'TIMEOUT' : transportErrorCode(err);
  const tlsSetup = code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
  if (NEVER_SENT_CODES.has(code) || tlsSetup || state.phase === 'connecting') {
    return { kind: 'not_sent', code, description: `not sent: ${code} before the connection was established` };
  }
  return { kind: 'outcome_unknown', code, description: `outcome unknown: ${code} after the request was sent` };
}

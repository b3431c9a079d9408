import { setFlagsFromString } from 'node:v8';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import { CallState, classifyTransportFailure } from './outbound-http';
import { MAX_RESPONSE_BYTES, OutboundRequest, RESPONSE_TOO_LARGE, OutboundRequestError, OutboundResponse } from './outbound-types';

/** Options of the direct (no proxy) pools; see `OutboundHttpOptions` for each. */
export interface DirectPoolOptions {
  /** Whole-call deadline, milliseconds. */
  timeoutMs: number;
  /** Bound on a new connection (TCP connect, and the TLS handshake for https), milliseconds. Default: `timeoutMs`. */
  connectTimeoutMs?: number;
  /** Connections per origin. */
  maxSockets: number;
  /** Trusted CA certificates, replacing the system roots. Default: system roots. */
  ca?: string | Buffer;
}

// undici parses HTTP with llhttp compiled to WebAssembly, on the first connection. V8's optimizing tier
// compiles it again on background threads whose malloc arenas keep 10-30 MiB of a worker's RSS; the
// baseline compiler alone keeps it to ~6 MiB more than Node's own client, and the parser is too small a
// share of the CPU for the difference to show (harness/bench/http-client-bench.ts). It only concerns
// WebAssembly, which nothing else in the product compiles.
setFlagsFromString('--liftoff-only');

// Only the pool (its client and parser): the package's index also loads fetch, WebSocket and caches, ~4 MiB
// more per process that nothing here uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Pool = require('undici/lib/dispatcher/pool') as typeof UndiciPool;
type Pool = UndiciPool;

/**
 * How long an idle connection is kept when the peer's answer carries no `Keep-Alive: timeout` hint,
 * milliseconds. Longer than the keep-warm interval (30 s by default), so warm connections stay open between
 * two warm-ups as Node's agent kept them (until the peer closes them). A hint from the peer wins (less 2 s,
 * so we never send on a connection the peer is closing).
 */
const IDLE_KEEP_ALIVE_MS = 65_000;

/**
 * The direct (no proxy) transport of `OutboundClient`: one undici `Pool` of keep-alive connections per origin,
 * TLS 1.2 as the floor. undici's dispatcher costs about half the CPU per request of Node's `http.request` on
 * an agent (harness/bench/http-client-bench.ts), which is most of what the bridge spends on its two calls per
 * command. Behaviour is the same as the Node transport's: one whole-call deadline, a separate connect bound
 * (`ECONNECTTIMEOUT`, `not_sent`), `sent` from the moment the request is written on a connected socket, the
 * same failure classification.
 */
export class DirectPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: DirectPoolOptions) {}

  /** Sends `request` to `origin` + `path`; same contract as `OutboundClient.send`. */
  send(origin: string, path: string, request: OutboundRequest): Promise<OutboundResponse> {
    const pool = this.pools.get(origin) ?? this.open(origin);
    return new Promise<OutboundResponse>((resolve, reject) => {
      new Call(pool, path, request, this.options.timeoutMs, resolve, reject);
    });
  }

  /** Connections of all pools: `busy` carrying a request (or connecting), `idle` kept alive for the next one. */
  poolSockets(): { busy: number; idle: number } {
    let busy = 0;
    let idle = 0;
    for (const pool of this.pools.values()) {
      const { connected, free } = pool.stats;
      busy += connected - free;
      idle += free;
    }
    return { busy, idle };
  }

  /** Closes every connection now, idle or busy (shutdown, tests). */
  close(): void {
    for (const pool of this.pools.values()) pool.destroy().catch(() => undefined);
    this.pools.clear();
  }

  private open(origin: string): Pool {
    const pool = new Pool(origin, {
      connections: this.options.maxSockets,
      pipelining: 1,
      // The whole-call deadline is ours (one timer per call); undici's own per-phase timers are off.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: IDLE_KEEP_ALIVE_MS,
      keepAliveMaxTimeout: 600_000,
      connect: { timeout: this.options.connectTimeoutMs ?? this.options.timeoutMs, minVersion: 'TLSv1.2', ca: this.options.ca },
    });
    this.pools.set(origin, pool);
    return pool;
  }
}

/** undici's code for a connection not established within `connect.timeout`. */
const UNDICI_CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT';

/** One call: the dispatch handler, the deadline and the call's phase, in one object (no closures per call). */
class Call implements Dispatcher.DispatchHandlers {
  private readonly state: CallState = { phase: 'connecting', timedOut: false, proxyRefused: false };
  private readonly started = performance.now();
  private readonly deadline: NodeJS.Timeout;
  private abort: ((err?: Error) => void) | undefined;
  private settled = false;
  private status = 0;
  private rawHeaders: Buffer[] | string[] | null = null;
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    pool: Pool,
    path: string,
    request: OutboundRequest,
    timeoutMs: number,
    private readonly resolve: (response: OutboundResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.deadline = setTimeout(() => this.onDeadline(), timeoutMs);
    pool.dispatch(
      {
        path,
        method: request.method as Dispatcher.HttpMethod,
        headers: request.headers,
        body: request.body ?? null,
        // undici closes a connection after a HEAD by default; our warm-up HEADs exist to keep it.
        reset: false,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.settled) {
      // The deadline fired while the request waited for its connection: it must not leave now.
      abort(Object.assign(new Error('deadline exceeded'), { code: 'TIMEOUT' }));
      return;
    }
    this.abort = abort;
    this.state.phase = 'sent';
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null): boolean {
    if (statusCode < 200) return true; // 1xx: the answer is still to come
    this.status = statusCode;
    this.rawHeaders = rawHeaders;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > MAX_RESPONSE_BYTES) {
      this.abort?.(Object.assign(new Error('response body too large'), { code: RESPONSE_TOO_LARGE }));
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    const { chunks, rawHeaders } = this;
    let headers: Record<string, string> | undefined;
    const response: OutboundResponse = {
      status: this.status,
      // Built on first read: the callers read headers on their error paths only (Retry-After…). An own
      // accessor, so a spread or JSON.stringify of the response still carries them.
      get headers(): Record<string, string> {
        return (headers ??= flattenRawHeaders(rawHeaders));
      },
      set headers(value: Record<string, string>) {
        headers = value;
      },
      body: chunks.length === 0 ? '' : chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      elapsedMs: performance.now() - this.started,
    };
    // undici frees the connection on the event loop's next check phase (a setImmediate it queues right after
    // this callback returns). Answering on an immediate queued after that one (hence the microtask) means the
    // caller's next call finds this connection free instead of opening another one.
    queueMicrotask(() => setImmediate(this.resolve, response));
  }

  onError(err: Error): void {
    if (this.settled) return;
    if ((err as { code?: unknown }).code === UNDICI_CONNECT_TIMEOUT) this.state.connectTimedOut = true;
    this.fail(err);
  }

  private onDeadline(): void {
    if (this.settled) return;
    this.state.timedOut = true;
    const err = Object.assign(new Error('deadline exceeded'), { code: 'TIMEOUT' });
    this.fail(err);
    this.abort?.(err);
  }

  private fail(err: unknown): void {
    this.settled = true;
    clearTimeout(this.deadline);
    this.reject(new OutboundRequestError(classifyTransportFailure(err, this.state), { cause: err }));
  }
}

/** Raw header pairs as a record: lower-case names, repeated headers joined with ", " (header text is latin1). */
function flattenRawHeaders(raw: Buffer[] | string[] | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === null) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString('latin1').toLowerCase();
    const value = raw[i + 1].toString('latin1');
    const previous = out[name];
    out[name] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return out;
}

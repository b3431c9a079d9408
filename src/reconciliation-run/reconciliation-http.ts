import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import type { GatewayConfig } from '../gateways/gateway-config';
import type { GatewayRequest, GatewayTransformer } from '../gateways/gateway-adapter';
import { GatewayError } from '../errors';
import { CallState, classifyTransportFailure, createAgents, separateConnectTimeout, trackedTransport } from '../http/outbound-http';
import { OutboundClient, OutboundRequestError } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { redact } from '../logging/redact';
import { boundedSafeText } from '../errors/psp-text';
import type { ReconciliationHttp } from '../reconciliation/psp-record';
import { reconciliationDownloadsPastDeadline } from './reconciliation-metrics';

/** Longest line `lines()` accepts, characters (1 MiB): a report line longer than that is a broken report. */
export const MAX_REPORT_LINE = 1 << 20;

export interface ReconciliationHttpOptions {
  /** Outbound proxy from the configuration; empty host: direct. */
  proxy: { host: string; port: number };
  /**
   * `send`: the whole-call deadline; `lines`: the deadline for the response headers and then for each
   * chunk of the body (a large report may take minutes, but never stalls longer than this), milliseconds.
   */
  timeoutMs: number;
  /**
   * `lines`: the whole download's deadline, milliseconds (`reconciliation.download_deadline_ms`): the time from the
   * request to the last byte, less the time the caller spends on the lines it was given (the host's time, not the
   * run's). A host sending one small chunk just inside `timeoutMs` each time would otherwise hold the run, and its
   * lock, for ever. Default: none.
   */
  downloadDeadlineMs?: number;
  /** Trusted CA certificates, replacing the system roots (tests with a local TLS server). Default: system roots. */
  ca?: string | Buffer;
  now?: () => Date;
  logger?: Logger;
}

/**
 * The HTTP reconciliation readers use, with the same agents as every outbound call (keep-alive, TLS 1.2
 * floor, the configured proxy and CA). `send`: the gateway's `base_url` and authentication (the
 * transformer's `authenticate`; headers the reader passes win). `lines`: streamed; on `base_url` authenticated
 * like `send`, on an absolute URL the reader names (a report host) with the reader's own headers only (a
 * report user's credentials), never the API key. Its own small pool: a long report download never takes a socket from the payment path.
 * Both bound a new connection by the gateway's `connect_timeout_ms` (through the proxy too) and classify a failure by
 * how far the request got, as the gateway client does (`not_sent` before the connection, `outcome_unknown` after).
 */
export function createReconciliationHttp(
  gateway: GatewayConfig,
  transformer: GatewayTransformer,
  options: ReconciliationHttpOptions,
): ReconciliationHttp & { close(): void } {
  const connectTimeoutMs = separateConnectTimeout(gateway.connectTimeoutMs, options.timeoutMs);
  const agentOptions = { timeoutMs: options.timeoutMs, connectTimeoutMs, maxSockets: 4, proxy: options.proxy, ca: options.ca };
  const client = new OutboundClient(agentOptions);
  const { httpAgent, httpsAgent } = createAgents(agentOptions);
  const now = options.now ?? (() => new Date());
  const logger = options.logger ?? silentLogger();
  const sign = (request: GatewayRequest, given: Record<string, string> | undefined): GatewayRequest => {
    const signed = transformer.authenticate(request, gateway, now());
    return { ...signed, headers: { ...signed.headers, ...(given ?? {}) } };
  };
  return {
    async send(request) {
      const signed = sign(
        { method: request.method, path: request.path, headers: { accept: 'application/json', ...(request.headers ?? {}) }, body: request.body },
        request.headers,
      );
      try {
        const response = await client.send({ method: signed.method, url: `${gateway.baseUrl}${signed.path}`, headers: signed.headers, body: signed.body });
        logger.debug('reconciliation call', {
          gateway: gateway.name,
          method: signed.method,
          path: redact(signed.path),
          status: response.status,
          elapsed_ms: response.elapsedMs,
        });
        return { status: response.status, body: response.body };
      } catch (err) {
        if (!(err instanceof OutboundRequestError)) throw err;
        throw new GatewayError(err.failure.kind, gateway.name, `${signed.method} ${redact(signed.path)}: ${err.failure.description}`, { cause: err });
      }
    },
    lines(request) {
      const stream = {
        httpAgent,
        httpsAgent,
        timeoutMs: options.timeoutMs,
        connectTimeoutMs,
        downloadDeadlineMs: options.downloadDeadlineMs,
        gateway: gateway.name,
        logger,
      };
      // An absolute URL is another host (Adyen's Customer Area): only the reader's own headers (the report
      // user's Basic auth) go there, never the API credentials the transformer would add.
      if (/^https?:\/\//i.test(request.path)) return streamLines(request.path, { ...(request.headers ?? {}) }, stream);
      const signed = sign({ method: 'GET', path: request.path, headers: {} }, request.headers);
      return streamLines(`${gateway.baseUrl}${signed.path}`, signed.headers, stream);
    },
    close() {
      client.close();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/**
 * Opens the GET and resolves with the response once its headers arrive (within `timeoutMs`, a new connection
 * within `connectTimeoutMs`). Rejects with an `OutboundRequestError` classified by how far the request got: a
 * proxy's refusal of the tunnel is `not_sent` (`EPROXYREFUSED`), never the report host's answer.
 */
function open(
  url: URL,
  headers: Record<string, string>,
  opts: { httpAgent: http.Agent; httpsAgent: https.Agent; timeoutMs: number; connectTimeoutMs: number | undefined },
): Promise<http.IncomingMessage> {
  const secure = url.protocol === 'https:';
  const state: CallState = { phase: 'connecting', timedOut: false, proxyRefused: false };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new OutboundRequestError(classifyTransportFailure(err, state), { cause: err }));
    };
    const req = trackedTransport(state, opts.connectTimeoutMs).request(
      {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers,
        agent: secure ? opts.httpsAgent : opts.httpAgent,
      },
      (res) => {
        if (settled) return void res.destroy();
        settled = true;
        clearTimeout(timer);
        resolve(res);
      },
    );
    // Rejected here, not on the request's error: a request still waiting for its socket (a proxy's connect)
    // reports its destruction only once it gets one.
    const timer = setTimeout(() => {
      state.timedOut = true;
      const err = Object.assign(new Error(`no response within ${opts.timeoutMs} ms`), { code: 'TIMEOUT' });
      req.destroy(err);
      fail(err);
    }, opts.timeoutMs);
    req.on('error', fail);
    req.end();
  });
}

/**
 * The body of a GET, line by line (`\n` or `\r\n`, the last line without one included), read as it arrives:
 * memory holds one chunk and one partial line, whatever the report's size. A non-2xx answer, a stall
 * longer than `timeoutMs` (the host's: not while the caller holds a line), a download past `downloadDeadlineMs` (retryable `outcome_unknown`, counted and logged)
 * or a line over `MAX_REPORT_LINE` ends the iteration with an error.
 */
async function* streamLines(
  target: string,
  headers: Record<string, string>,
  opts: {
    httpAgent: http.Agent;
    httpsAgent: https.Agent;
    timeoutMs: number;
    connectTimeoutMs: number | undefined;
    downloadDeadlineMs: number | undefined;
    gateway: string;
    logger: Logger;
  },
): AsyncGenerator<string> {
  const url = new URL(target);
  const where = `GET ${redact(url.pathname)}`;
  const started = performance.now();
  // The host's time so far: the clock stops while the caller holds a line (its page's Redis work is not the host's).
  let hostMs = 0;
  let since = started;
  let res: http.IncomingMessage;
  try {
    res = await open(url, headers, opts);
  } catch (err) {
    if (!(err instanceof OutboundRequestError)) throw err;
    throw new GatewayError(err.failure.kind, opts.gateway, `${where}: ${err.failure.description}`, { cause: err });
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    let sample = '';
    // Bounded like the report's own body: a host that sends the status and then stalls must not hold the run.
    const stall = setTimeout(() => res.destroy(), opts.timeoutMs);
    try {
      for await (const chunk of res) {
        sample += (chunk as Buffer).toString('utf8');
        if (sample.length > 512) break;
      }
    } catch {
      // Stalled or cut off: the status alone classifies the answer.
    } finally {
      clearTimeout(stall);
      res.destroy();
    }
    const kind =
      status === 401 || status === 403
        ? 'authentication'
        : status === 404
          ? 'not_found'
          : status === 429
            ? 'rate_limited'
            : status >= 500
              ? 'server_error'
              : 'invalid_request';
    throw new GatewayError(kind, opts.gateway, `${where}: HTTP ${status} ${boundedSafeText(sample, 200, false)}`, { httpStatus: status });
  }
  let idle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => res.destroy(Object.assign(new Error(`report stalled for ${opts.timeoutMs} ms`), { code: 'TIMEOUT' })), opts.timeoutMs);
  };
  const deadlineMs = opts.downloadDeadlineMs;
  let deadline: NodeJS.Timeout | undefined;
  let pastDeadline = false;
  // Both clocks, the stall bound's and the deadline's, stop while the caller holds a line: its page's work is not the
  // host's stall.
  const resumeHostClock = (): void => {
    since = performance.now();
    arm();
    if (deadlineMs === undefined) return;
    deadline = setTimeout(
      () => {
        pastDeadline = true;
        res.destroy(Object.assign(new Error(`download past its deadline of ${deadlineMs} ms`), { code: 'EDEADLINE' }));
      },
      Math.max(0, deadlineMs - hostMs),
    );
  };
  const stopHostClock = (): void => {
    clearTimeout(idle);
    clearTimeout(deadline);
    hostMs += performance.now() - since;
  };
  let linesRead = 0;
  const decoder = new StringDecoder('utf8');
  let partial = '';
  // The headers' wait counts: the clock started with the request.
  hostMs = performance.now() - started;
  resumeHostClock();
  try {
    for await (const chunk of res) {
      arm();
      partial += decoder.write(chunk as Buffer);
      let start = 0;
      let nl = partial.indexOf('\n', start);
      while (nl !== -1) {
        const end = nl > start && partial.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        linesRead += 1;
        stopHostClock();
        yield partial.slice(start, end);
        resumeHostClock();
        start = nl + 1;
        nl = partial.indexOf('\n', start);
      }
      partial = partial.slice(start);
      if (partial.length > MAX_REPORT_LINE)
        throw new GatewayError('invalid_request', opts.gateway, `${where}: a report line is longer than ${MAX_REPORT_LINE} characters`);
    }
    stopHostClock();
    partial += decoder.end();
    if (partial.length > 0) yield partial.endsWith('\r') ? partial.slice(0, -1) : partial;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (pastDeadline) {
      reconciliationDownloadsPastDeadline.inc({ gateway: opts.gateway });
      opts.logger.warn('reconciliation report download past reconciliation.download_deadline_ms; the run fails and resumes from its last page', {
        gateway: opts.gateway,
        path: redact(url.pathname),
        deadline_ms: deadlineMs,
        elapsed_ms: Math.round(performance.now() - started),
        lines_read: linesRead,
      });
      throw new GatewayError(
        'outcome_unknown',
        opts.gateway,
        `${where}: the download passed its deadline, reconciliation.download_deadline_ms (${deadlineMs} ms), after ${linesRead} lines`,
        { cause: err },
      );
    }
    throw new GatewayError('outcome_unknown', opts.gateway, `${where}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(idle);
    clearTimeout(deadline);
    res.destroy();
  }
}

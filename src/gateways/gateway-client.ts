import type { GatewayConfig } from './gateway-config';
import { GatewayError } from '../errors';
import { separateConnectTimeout } from '../http/outbound-http';
import { OutboundClient, OutboundRequestError, OutboundResponse } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { redact } from '../logging/redact';
import { redactBody } from '../logging/redact-body';
import { headerValue } from '../http/header-value';
import { gauge } from '../metrics/metrics-registry';
import { GatewayRequest, GatewayResponse, GatewayTransformer } from './gateway-adapter';

export interface GatewayClientOptions {
  /** Outbound proxy from the configuration; empty host: direct connections. */
  proxy: { host: string; port: number };
  /** Clock handed to `transformer.authenticate` (signatures carry a date). Default `() => new Date()`. */
  now?: () => Date;
  /** Debug lines per call, bodies redacted. Default: silent. */
  logger?: Logger;
  /** Trusted CA certificates, replacing the system roots (tests with a local TLS server). Default: system roots. */
  ca?: string | Buffer;
}

/**
 * The thin client every gateway shares: one keep-alive pool per gateway, authentication by the
 * transformer, and transport failures classified once into `not_sent` / `outcome_unknown`.
 *
 * How "never reached the PSP" is told from "may have reached it": each call follows its socket. A
 * request counts as sent once its socket is connected to the PSP: `secureConnect` for https (the TLS
 * handshake, through the proxy tunnel when there is one), `connect` for plain http (to the proxy when
 * there is one: what it forwards is beyond our sight), or immediately on a reused keep-alive socket.
 * Any failure before that point is `not_sent` (nothing left); any failure after it, including the
 * whole-call timeout, is `outcome_unknown`. One wall-clock deadline (`gateway.timeoutMs`) covers the
 * whole call; a connect that is still pending when it fires is therefore `not_sent`. A shorter connect
 * timeout (`gateway.connectTimeoutMs`) bounds establishing a new connection alone: a black-holed address
 * fails as `not_sent` (`ECONNECTTIMEOUT`) in that time, and its slot is free again; through a proxy it
 * bounds the proxy's connect, its CONNECT answer and the TLS handshake inside the tunnel.
 *
 * The pool is kept warm (`startKeepWarm`): `gateway.warmSockets` connections opened at start and topped
 * up on an interval, so commands do not pay the connect and TLS handshake.
 */
export class GatewayClient {
  private readonly http: OutboundClient;
  private warmTimer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;
  private readonly logger: Logger;

  constructor(
    readonly gateway: GatewayConfig,
    readonly transformer: GatewayTransformer,
    options: GatewayClientOptions,
  ) {
    this.http = new OutboundClient({
      timeoutMs: gateway.timeoutMs,
      connectTimeoutMs: separateConnectTimeout(gateway.connectTimeoutMs, gateway.timeoutMs),
      maxSockets: gateway.maxSockets,
      proxy: options.proxy,
      ca: options.ca,
    });
    this.now = options.now ?? (() => new Date());
    this.logger = options.logger ?? silentLogger();
  }

  /**
   * Opens (or refreshes) the warm keep-alive connections now: `HEAD` on the gateway's base URL, which needs
   * no credentials and moves no money (its status is ignored). Logs how it went; never rejects.
   */
  async warm(): Promise<{ sent: number; failed: number }> {
    const count = this.gateway.warmSockets ?? DEFAULT_WARM_SOCKETS;
    if (count === 0) return { sent: 0, failed: 0 };
    const result = await this.http.warm(`${this.gateway.baseUrl}/`, count);
    this.observePool();
    if (result.failed > 0) {
      this.logger.warn('gateway pool: warm-up connections failed', {
        gateway: this.gateway.name,
        sent: result.sent,
        failed: result.failed,
        error_code: result.firstError,
      });
    }
    return result;
  }

  /**
   * Warms the pool now and then every `gateway.keepWarmIntervalMs` (default 30 s): sockets the peer closed
   * while idle are replaced, idle ones used so the peer's idle timer restarts. The timer does not keep
   * the process alive; `stopKeepWarm` ends it.
   */
  startKeepWarm(): Promise<{ sent: number; failed: number }> {
    this.stopKeepWarm();
    if ((this.gateway.warmSockets ?? DEFAULT_WARM_SOCKETS) === 0) return Promise.resolve({ sent: 0, failed: 0 });
    this.warmTimer = setInterval(() => void this.warm(), this.gateway.keepWarmIntervalMs ?? DEFAULT_KEEP_WARM_INTERVAL_MS);
    this.warmTimer.unref();
    return this.warm().then((result) => {
      this.logger.info('gateway pool warmed', { gateway: this.gateway.name, ...result, ...this.http.poolSockets() });
      return result;
    });
  }

  /** Stops the keep-warm timer (idle connections close on the peer's idle timeout or at exit). */
  stopKeepWarm(): void {
    if (this.warmTimer) clearInterval(this.warmTimer);
    this.warmTimer = undefined;
  }

  /** Sockets of this gateway's pool (busy, idle). */
  poolSockets(): { busy: number; idle: number } {
    return this.http.poolSockets();
  }

  private observePool(): void {
    const { busy, idle } = this.http.poolSockets();
    poolGauge().set({ gateway: this.gateway.name, state: 'busy' }, busy);
    poolGauge().set({ gateway: this.gateway.name, state: 'idle' }, idle);
  }

  /**
   * Authenticates `request` at `now()`, sends it to `gateway.baseUrl + request.path` and returns the
   * response whatever its status (the transformer classifies statuses). Throws `GatewayError` with kind
   * `not_sent` or `outcome_unknown` when no response came.
   */
  async send(request: GatewayRequest): Promise<GatewayResponse> {
    const signed = this.transformer.authenticate(request, this.gateway, this.now());
    const url = `${this.gateway.baseUrl}${signed.path}`;
    let response: OutboundResponse;
    try {
      response = await this.http.send({ method: signed.method, url, headers: signed.headers, body: signed.body });
    } catch (err) {
      if (!(err instanceof OutboundRequestError)) throw err;
      const { failure } = err;
      this.logger.debug('gateway call failed', {
        gateway: this.gateway.name,
        method: signed.method,
        path: redact(signed.path),
        kind: failure.kind,
        error_code: failure.code,
      });
      throw new GatewayError(failure.kind, this.gateway.name, `${signed.method} ${signed.path}: ${failure.description}`, {
        cause: err,
      });
    }
    const { elapsedMs } = response;
    // The client's response as it is: its headers stay unbuilt until a transformer reads them (only error answers do).
    const result: GatewayResponse = response;
    // Hot path: parsing and redacting both bodies costs more than the call's own bookkeeping, so only
    // build the line when someone reads it.
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug('gateway call', {
        gateway: this.gateway.name,
        method: signed.method,
        path: redact(signed.path),
        status: result.status,
        elapsed_ms: elapsedMs,
        request_body: redactBody(signed.body, headerValue(signed.headers, 'content-type')),
        response_body: redactBody(result.body),
      });
    }
    return result;
  }
}

/** Warm connections per gateway when the configuration does not say. */
const DEFAULT_WARM_SOCKETS = 16;
/** How often the warm pool is topped up when the configuration does not say, milliseconds. */
const DEFAULT_KEEP_WARM_INTERVAL_MS = 30000;

/** `pb_gateway_pool_sockets{gateway,state}`: keep-alive sockets per gateway, `busy` or `idle`, as of the last warm-up. */
function poolGauge() {
  return gauge('pb_gateway_pool_sockets', 'Keep-alive sockets of each gateway pool (busy, idle), as of the last keep-warm check', [
    'gateway',
    'state',
  ] as const);
}

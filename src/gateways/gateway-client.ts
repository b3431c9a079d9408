import type { GatewayConfig } from './gateway-config';
import { GatewayError } from '../errors';
import { OutboundClient, OutboundRequestError, OutboundResponse } from '../http/outbound-request';
import { Logger, silentLogger } from '../logging/logger';
import { redact } from '../logging/redact';
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
 * whole call; a connect that is still pending when it fires is therefore `not_sent`.
 */
export class GatewayClient {
  private readonly http: OutboundClient;
  private readonly now: () => Date;
  private readonly logger: Logger;

  constructor(
    readonly gateway: GatewayConfig,
    readonly transformer: GatewayTransformer,
    options: GatewayClientOptions,
  ) {
    this.http = new OutboundClient({
      timeoutMs: gateway.timeoutMs,
      maxSockets: gateway.maxSockets,
      proxy: options.proxy,
      ca: options.ca,
    });
    this.now = options.now ?? (() => new Date());
    this.logger = options.logger ?? silentLogger();
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
    const result: GatewayResponse = { status: response.status, headers: response.headers, body: response.body, elapsedMs };
    // Hot path: parsing and redacting both bodies costs more than the call's own bookkeeping, so only
    // build the line when someone reads it.
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug('gateway call', {
        gateway: this.gateway.name,
        method: signed.method,
        path: redact(signed.path),
        status: result.status,
        elapsed_ms: elapsedMs,
        request_body: redactBody(signed.body),
        response_body: redactBody(result.body),
      });
    }
    return result;
  }
}

/** A body for a debug line: JSON redacted field by field, anything else as redacted text. */
function redactBody(body: string | undefined): unknown {
  if (body === undefined || body === '') return undefined;
  try {
    return redact(JSON.parse(body) as unknown);
  } catch {
    return redact(body);
  }
}

import { GatewayConfig } from '../config/config';
import { GatewayError } from '../errors/gateway-error';
import { credentialKeysOf } from '../gateways/gateway-registry';
import { ConfigProblemKind, configProblems } from '../health/config-problems';
import { OutboundRequestError } from '../http/outbound-request';
import { LogThrottle } from '../logging/log-throttle';
import { Logger } from '../logging/logger';
import { counter, gauge, histogram } from '../metrics/metrics-registry';

/** What a gateway call is for. */
export type GatewayCall = 'send' | 'inquiry';

const requests = counter(
  'pb_gateway_requests_total',
  'Gateway calls, by gateway, call (send, inquiry) and result (ok, or the error kind: declined, invalid_request, authentication, rate_limited, server_error, idempotency_conflict, not_sent, outcome_unknown, not_found)',
  ['gateway', 'call', 'result'],
);
const duration = histogram(
  'pb_gateway_request_duration_seconds',
  'Gateway call duration (send to answer or failure), seconds, by gateway, call and result',
  ['gateway', 'call', 'result'],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
const breakerState = gauge('pb_gateway_breaker_state', "A gateway's circuit breaker in this process: 0 closed, 1 open, 2 half-open (one probe in flight)", [
  'gateway',
]);
const breakerTransitions = counter('pb_gateway_breaker_transitions_total', 'Circuit breaker state changes, by gateway and new state', ['gateway', 'to']);
const recovery = histogram(
  'pb_recovery_seconds',
  'Recovery time: from the last failed call of an outage (breaker opened or its probe failed) to the first success that closed the breaker, seconds, by dependency',
  ['dependency'],
  [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60],
);

const STATE_VALUE = { closed: 0, open: 1, 'half-open': 2 } as const;
export type BreakerState = keyof typeof STATE_VALUE;

/** Result label of a failed call: the GatewayError kind, `unexpected` for anything else (a bug). */
export function resultOf(err: unknown): string {
  return err instanceof GatewayError ? err.kind : 'unexpected';
}

/**
 * Counts one gateway call and its duration; a normal answer (`ok`, or a PSP decision such as a decline)
 * also clears the gateway's open configuration problems: its credentials, certificate and host work.
 * @param startedMs `performance.now()` when the call started.
 */
export function noteGatewayCall(gateway: string, call: GatewayCall, result: string, startedMs: number): void {
  requests.inc({ gateway, call, result });
  duration.observe({ gateway, call, result }, (performance.now() - startedMs) / 1000);
  if (result === 'ok' || result === 'declined' || result === 'invalid_request' || result === 'not_found') configProblems.clearGateway(gateway);
}

/** TLS verification failures: the peer's certificate is not trusted (not a transient network error). */
const UNTRUSTED_CERTIFICATE = /^(CERT_|UNABLE_TO_(GET|VERIFY)_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

/** The permanent misconfiguration a retryable gateway failure reveals, with the key to fix; null when it is transient. */
export function misconfigurationOf(err: GatewayError, gateway: GatewayConfig | undefined): { kind: ConfigProblemKind; key: string } | null {
  const base = `gateways.${err.gateway}`;
  if (err.kind === 'authentication') {
    // The keys its definition's credential check proves (src/gateways/<name>/<name>-gateway.ts).
    const keys = gateway ? credentialKeysOf({ name: err.gateway, type: gateway.type }) : [`${base}.api_key`];
    return { kind: 'credentials_refused', key: keys.join(', ') };
  }
  if (err.kind !== 'not_sent' || !(err.cause instanceof OutboundRequestError)) return null;
  const { code } = err.cause.failure;
  if (code === 'ENOTFOUND') return { kind: 'unknown_host', key: `${base}.base_url` };
  if (UNTRUSTED_CERTIFICATE.test(code)) return { kind: 'untrusted_certificate', key: `${base}.base_url (or the trust store: NODE_EXTRA_CA_CERTS)` };
  return null;
}

/**
 * What an operator sees of a gateway's trouble: retryable failures (one warning per gateway and kind per
 * minute, with the count suppressed), breaker changes (one line per gateway and state per minute), and a
 * permanent misconfiguration said as such (an error naming the key; `/readyz` not ready until it clears).
 */
export class GatewayHealth {
  private readonly throttle: LogThrottle;
  private readonly lastOpenedAt = new Map<string, number>();

  constructor(
    logger: Logger,
    private readonly gateways: Readonly<Record<string, GatewayConfig>>,
    /** Window of the rate-limited lines, ms. Default 60 000. */
    windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.throttle = new LogThrottle(logger, windowMs, now);
  }

  /** A retryable failure of a call for `operationId` (which is logged, not a label). */
  retryableFailure(err: GatewayError, operationId: string): void {
    const problem = misconfigurationOf(err, this.gateways[err.gateway]);
    const meta = { gateway: err.gateway, kind: err.kind, http_status: err.details.httpStatus, error: err.message, operation_id: operationId };
    if (problem) {
      configProblems.report(problem.kind, err.gateway, problem.key);
      const message = `configuration problem: ${problem.kind.replace(/_/g, ' ')} for gateway ${err.gateway}; fix ${problem.key} (retries will not help; /readyz reports not ready)`;
      this.throttle.log('error', `config:${problem.kind}:${err.gateway}`, message, { ...meta, problem: problem.kind, key: problem.key });
      return;
    }
    this.throttle.warn(`retry:${err.gateway}:${err.kind}`, 'gateway call failed; retrying (rate-limited: one line per gateway and kind per minute)', meta);
  }

  /** A breaker changed state. */
  breakerChanged(gateway: string, from: BreakerState, to: BreakerState): void {
    breakerState.set({ gateway }, STATE_VALUE[to]);
    breakerTransitions.inc({ gateway, to });
    const at = this.now();
    if (to === 'open') this.lastOpenedAt.set(gateway, at);
    if (to === 'closed') {
      const openedAt = this.lastOpenedAt.get(gateway);
      if (openedAt !== undefined) recovery.observe({ dependency: gateway }, (at - openedAt) / 1000);
      this.lastOpenedAt.delete(gateway);
    }
    const message =
      to === 'open'
        ? `gateway ${gateway} breaker open: calls wait`
        : to === 'half-open'
          ? `gateway ${gateway} breaker half-open: one probe`
          : `gateway ${gateway} breaker closed: calls flow again`;
    this.throttle.log(to === 'closed' ? 'info' : 'warn', `breaker:${gateway}:${to}`, message, { gateway, from, to });
  }

  /** A new breaker starts closed: its gauge says so from the start. */
  breakerCreated(gateway: string): void {
    breakerState.set({ gateway }, 0);
  }
}

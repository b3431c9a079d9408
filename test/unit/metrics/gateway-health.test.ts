import { CircuitBreaker } from '../../../src/delivery/circuit-breaker';
import { GatewayHealth, misconfigurationOf } from '../../../src/delivery/gateway-health';
import { GatewayError } from '../../../src/errors/gateway-error';
import { configProblems } from '../../../src/health/config-problems';
import { OutboundRequestError } from '../../../src/http/outbound-request';
import { metricValue, metricsRegistry } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';

const config = testConfig({
  gateways: {
    stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_x' },
    cyber: { type: 'cybersource', base_url: 'https://apitest.cybersource.com', ...requiredCredentials('cybersource') },
  },
});

function transportError(gateway: string, code: string): GatewayError {
  const cause = new OutboundRequestError({ kind: 'not_sent', code, description: `not sent: ${code}` });
  return new GatewayError('not_sent', gateway, `POST /x: not sent: ${code}`, { cause });
}

afterEach(() => configProblems.reset());

describe('CircuitBreaker state changes', () => {
  it('reports closed → open → half-open → closed to its listener, and nothing while closed stays closed', () => {
    let now = 0;
    const changes: string[] = [];
    const b = new CircuitBreaker(
      2,
      1000,
      () => now,
      (from, to) => changes.push(`${from}>${to}`),
    );
    b.success();
    b.failure();
    expect(changes).toEqual([]);
    b.failure();
    now = 1000;
    expect(b.permit()).toEqual({ allowed: true });
    b.failure(); // the probe fails: open again
    now = 2000;
    b.permit();
    b.success();
    expect(changes).toEqual(['closed>open', 'open>half-open', 'half-open>open', 'open>half-open', 'half-open>closed']);
  });
});

describe('GatewayHealth', () => {
  it('sets the breaker gauge, counts transitions and observes recovery from the last failed probe to the close', async () => {
    let now = 10_000;
    const logs = captureLogger('info');
    const health = new GatewayHealth(logs.logger, config.gateways, 60_000, () => now);
    const recoveriesBefore = await histogramCount('pb_recovery_seconds', 'gw-recovery');
    health.breakerCreated('gw-recovery');
    expect(await metricValue('pb_gateway_breaker_state', { gateway: 'gw-recovery' })).toBe(0);
    health.breakerChanged('gw-recovery', 'closed', 'open');
    expect(await metricValue('pb_gateway_breaker_state', { gateway: 'gw-recovery' })).toBe(1);
    now += 1000;
    health.breakerChanged('gw-recovery', 'open', 'half-open');
    expect(await metricValue('pb_gateway_breaker_state', { gateway: 'gw-recovery' })).toBe(2);
    health.breakerChanged('gw-recovery', 'half-open', 'open');
    now += 1200;
    health.breakerChanged('gw-recovery', 'open', 'half-open');
    health.breakerChanged('gw-recovery', 'half-open', 'closed');
    expect(await metricValue('pb_gateway_breaker_state', { gateway: 'gw-recovery' })).toBe(0);
    expect(await metricValue('pb_gateway_breaker_transitions_total', { gateway: 'gw-recovery', to: 'open' })).toBe(2);
    expect(await histogramCount('pb_recovery_seconds', 'gw-recovery')).toBe(recoveriesBefore + 1);
    expect(await metricsRegistry.metrics()).toMatch(/pb_recovery_seconds_sum\{dependency="gw-recovery"\} 1\.2/);
    // One line per gateway and state per window: the second "open" is rate-limited.
    expect(logs.lines.filter((l) => l.includes('breaker open'))).toHaveLength(1);
    expect(logs.lines.filter((l) => l.includes('breaker closed'))).toHaveLength(1);
  });

  it('warns about retryable failures at most once per gateway and kind per window, with the suppressed count', () => {
    let now = 0;
    const logs = captureLogger('info');
    const health = new GatewayHealth(logs.logger, config.gateways, 60_000, () => now);
    for (let i = 0; i < 50; i += 1) health.retryableFailure(new GatewayError('server_error', 'stripe', '503', { httpStatus: 503 }), `op-${i}`);
    expect(logs.lines.filter((l) => l.includes('gateway call failed; retrying'))).toHaveLength(1);
    now = 61_000;
    health.retryableFailure(new GatewayError('server_error', 'stripe', '503', { httpStatus: 503 }), 'op-last');
    const lines = logs.lines.filter((l) => l.includes('gateway call failed; retrying'));
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1])).toMatchObject({ suppressed: 49, gateway: 'stripe', kind: 'server_error' });
  });

  it('says credentials refused (401/403) is a configuration problem naming the keys, and marks it for readiness until the gateway answers', async () => {
    const logs = captureLogger('info');
    const health = new GatewayHealth(logs.logger, config.gateways, 60_000);
    health.retryableFailure(new GatewayError('authentication', 'cyber', '401', { httpStatus: 401 }), 'op-1');
    health.retryableFailure(new GatewayError('authentication', 'cyber', '401', { httpStatus: 401 }), 'op-2');
    const errors = logs.lines.filter((l) => l.includes('"level":"error"'));
    expect(errors).toHaveLength(1);
    expect(JSON.parse(errors[0])).toMatchObject({
      problem: 'credentials_refused',
      key: 'gateways.cyber.merchant_id, gateways.cyber.key_id, gateways.cyber.shared_secret',
    });
    expect(logs.lines.some((l) => l.includes('gateway call failed; retrying'))).toBe(false);
    expect(configProblems.list().map((p) => p.kind)).toEqual(['credentials_refused']);
    expect(await metricValue('pb_config_problems', { kind: 'credentials_refused' })).toBe(1);
    configProblems.clearGateway('cyber');
    expect(configProblems.list()).toEqual([]);
  });
});

describe('misconfigurationOf', () => {
  it('names unknown hosts and untrusted certificates with the key to fix; a refused connection is transient', () => {
    expect(misconfigurationOf(transportError('stripe', 'ENOTFOUND'), config.gateways.stripe)).toEqual({
      kind: 'unknown_host',
      key: 'gateways.stripe.base_url',
    });
    expect(misconfigurationOf(transportError('stripe', 'SELF_SIGNED_CERT_IN_CHAIN'), config.gateways.stripe)?.kind).toBe('untrusted_certificate');
    expect(misconfigurationOf(transportError('stripe', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), config.gateways.stripe)?.kind).toBe('untrusted_certificate');
    expect(misconfigurationOf(transportError('stripe', 'CERT_HAS_EXPIRED'), config.gateways.stripe)?.kind).toBe('untrusted_certificate');
    expect(misconfigurationOf(transportError('stripe', 'ECONNREFUSED'), config.gateways.stripe)).toBeNull();
    expect(misconfigurationOf(new GatewayError('server_error', 'stripe', '503'), config.gateways.stripe)).toBeNull();
    expect(misconfigurationOf(new GatewayError('authentication', 'stripe', '401'), config.gateways.stripe)).toEqual({
      kind: 'credentials_refused',
      key: 'gateways.stripe.api_key',
    });
  });
});

async function histogramCount(name: string, dependency: string): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => (v as { metricName?: string }).metricName === `${name}_count` && (v.labels as Record<string, unknown>).dependency === dependency)
    .reduce((n, v) => n + v.value, 0);
}

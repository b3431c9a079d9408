import { buildConfig } from '../../../src/config/load-config';
import { ConfigError } from '../../../src/errors/config-error';
import { minimalParameters } from '../../support/minimal-parameters';

const minimal = (): Record<string, unknown> => minimalParameters({ gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:8701' } } });

function keyOfError(overrides: Record<string, unknown>): string {
  try {
    buildConfig({ ...minimal(), ...overrides }, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).key;
  }
  throw new Error('expected a ConfigError');
}

describe('edge.* configuration', () => {
  it('defaults: caps, timeouts, no allowlists, no trusted proxies, no TLS, no previous bus secret', () => {
    const config = buildConfig(minimal(), {});
    expect(config.edge).toEqual({
      maxConnections: 4000,
      maxConnectionsPerIp: 512,
      headersTimeoutMs: 10000,
      requestTimeoutMs: 30000,
      keepAliveTimeoutMs: 30000,
      trustedProxies: [],
      allow: { intake: [], webhooks: {}, admin: [] },
      tls: { certFile: '', keyFile: '', caFile: '' },
    });
    expect(config.serviceBus.secretPrevious).toBe('');
  });

  it('reads allowlists and trusted proxies of both IP families', () => {
    const config = buildConfig(
      {
        ...minimal(),
        'edge.trusted_proxies': ['10.0.0.0/8', 'fd00::/8'],
        'edge.allow.intake': ['203.0.113.0/24', '2001:db8::1'],
        'edge.allow.webhooks': { simulator: ['198.51.100.7'], '*': [] },
      },
      {},
    );
    expect(config.edge.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(config.edge.allow.webhooks).toEqual({ simulator: ['198.51.100.7'], '*': [] });
  });

  it.each([
    [{ 'edge.allow.intake': ['203.0.113.0/24', 'bus.example.com'] }, 'edge.allow.intake[1]'],
    [{ 'edge.allow.admin': ['10.0.0.0/33'] }, 'edge.allow.admin[0]'],
    [{ 'edge.trusted_proxies': ['2001:db8::/129'] }, 'edge.trusted_proxies[0]'],
    [{ 'edge.allow.webhooks': { simulator: ['nope'] } }, 'edge.allow.webhooks.simulator[0]'],
    [{ 'edge.allow.webhooks': { stripe: ['10.0.0.1'] } }, 'edge.allow.webhooks.stripe'],
    [{ 'edge.headers_timeout_ms': 40000 }, 'edge.headers_timeout_ms'],
    [{ 'edge.tls.cert_file': '/etc/cert.pem' }, 'edge.tls.key_file'],
    [{ 'edge.tls.key_file': '/etc/key.pem' }, 'edge.tls.cert_file'],
    [{ 'edge.tls.ca_file': '/etc/ca.pem' }, 'edge.tls.ca_file'],
    [{ 'edge.max_connections': 0 }, 'edge.max_connections'],
    [{ 'service_bus.secret_previous': 'short' }, 'service_bus.secret_previous'],
    [{ 'service_bus.secret_previous': '0123456789abcdef' }, 'service_bus.secret_previous'],
    [{ 'service_bus.secret_next': 'short' }, 'service_bus.secret_next'],
    [{ 'service_bus.secret_next': '0123456789abcdef' }, 'service_bus.secret_next'],
    [{ 'service_bus.secret_previous': 'bus-secret-retired-0123456789', 'service_bus.secret_next': 'bus-secret-retired-0123456789' }, 'service_bus.secret_next'],
  ])('refuses %j naming %s', (overrides, key) => {
    expect(keyOfError(overrides)).toBe(key);
  });

  it('takes service_bus.secret_next (default empty) and never says a refused one in its error', () => {
    expect(buildConfig(minimal(), {}).serviceBus.secretNext).toBe('');
    expect(buildConfig({ ...minimal(), 'service_bus.secret_next': 'bus-secret-next-0123456789abcdef' }, {}).serviceBus.secretNext).toBe(
      'bus-secret-next-0123456789abcdef',
    );
    try {
      buildConfig({ ...minimal(), 'service_bus.secret_next': 'short-nxt' }, {});
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as Error).message).not.toContain('short-nxt');
    }
  });
});

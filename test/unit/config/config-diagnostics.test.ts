import { buildConfig } from '../../../src/config/load-config';
import { configWarnings } from '../../../src/config/cross-field-rules';
import { maskedConfig, maskUrlPassword } from '../../../src/config/config-show';
import { editDistance, nearestKey } from '../../../src/config/config-diagnostics';
import { ConfigError } from '../../../src/errors/config-error';
import { minimalParameters } from '../../support/minimal-parameters';

function problems(params: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    buildConfig(params, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).all;
  }
  throw new Error('expected a ConfigError');
}

describe('check-config diagnostics', () => {
  it('names every unset environment variable in one run, each with its key', () => {
    const all = problems({
      ...minimalParameters(),
      'service_bus.secret': '%env(BUS_SECRET)%',
      'mom_client.client_secret': '%env(MOM_SECRET)%',
      'amqp.url': 'amqp://%env(AMQP_USER)%:%env(AMQP_PASS)%@127.0.0.1',
    });
    expect(all).toEqual([
      'service_bus.secret: environment variable BUS_SECRET is not set',
      'mom_client.client_secret: environment variable MOM_SECRET is not set',
      'amqp.url: environment variable AMQP_USER is not set',
      'amqp.url: environment variable AMQP_PASS is not set',
    ]);
  });

  it.each([['%env(bus_secret)%'], ['%env(BUS_SECRET)'], ['%env(float:BUS_SECRET)%'], ['prefix-%env(BUS SECRET)%']])(
    'refuses the malformed reference %s, naming the key and the syntax',
    (value) => {
      const all = problems({ ...minimalParameters(), 'service_bus.secret': value }, { BUS_SECRET: 'x'.repeat(20) });
      expect(all).toEqual([expect.stringMatching(/^service_bus\.secret: has a malformed %env\(\) reference: write %env\(NAME\)%/)]);
    },
  );

  it('lists the allowed values of an enum', () => {
    expect(problems({ ...minimalParameters(), 'log.level': 'verbose' })).toContain('log.level: must be one of: "error", "warn", "info", "debug"');
    expect(problems({ ...minimalParameters(), 'amqp.queue.type': 'mirrored' })).toContain('amqp.queue.type: must be one of: "quorum", "classic"');
  });

  it('suggests the nearest known key for a typo, at the top level and inside a gateway', () => {
    expect(problems({ ...minimalParameters(), 'delivery.backof_max_ms': 10 })).toContain(
      'delivery.backof_max_ms: unknown key (did you mean "delivery.backoff_max_ms"?)',
    );
    const gw = problems({ ...minimalParameters(), gateways: { s: { type: 'stripe', base_url: 'https://api.stripe.com', api_kye: 'x' } } });
    expect(gw).toContain('gateways.s.api_kye: unknown key (did you mean "api_key"?)');
  });

  it('suggests nothing when no key is close', () => {
    expect(problems({ ...minimalParameters(), 'completely.unrelated': 1 })).toContain('completely.unrelated: unknown key');
    expect(nearestKey('zzzzzzzz', ['service_bus.url', 'amqp.url'])).toBeNull();
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('checks rules across keys, naming the key to change', () => {
    const all = problems({
      ...minimalParameters(),
      'delivery.backoff_base_ms': 5000,
      'delivery.backoff_max_ms': 1000,
      'poller.schedule_ms': [1000, 500],
      'amqp.queue.dead_letter': 'same',
      'amqp.queue.commands': 'same',
      'proxy.host': 'proxy.internal',
      'authorizations.orphan_void_after_ms_by_account': { 'ghost:acct': 1 },
    });
    expect(all).toEqual([
      'delivery.backoff_base_ms: (5000) must not exceed delivery.backoff_max_ms (1000)',
      'poller.schedule_ms[1]: (500) is shorter than the step before it (1000): the schedule waits longer and longer',
      'amqp.queue.dead_letter: must differ from amqp.queue.commands (dead letters would be consumed again)',
      'proxy.port: is required when proxy.host is set',
      'authorizations.orphan_void_after_ms_by_account.ghost:acct: names gateway "ghost", which is not configured under gateways',
    ]);
  });

  it('warns about a simulator gateway in a configuration not marked as development', () => {
    const sim = { sim: { type: 'simulator', base_url: 'http://127.0.0.1:8701' } };
    expect(configWarnings(buildConfig({ ...minimalParameters(), gateways: sim }, {}))).toEqual([
      ['gateways.sim.type', expect.stringContaining('moves no money')],
    ]);
    expect(configWarnings(buildConfig({ ...minimalParameters(), gateways: sim, 'security.allow_insecure_http': true }, {}))).toEqual([]);
  });

  it('warns when /metrics answers every client on an address beyond loopback (no edge.allow.admin)', () => {
    const open = (params: Record<string, unknown>) =>
      configWarnings(buildConfig({ ...minimalParameters(), ...params }, {})).filter(([key]) => key === 'edge.allow.admin');
    // Loopback (the defaults): a scraper on the same host or a sidecar; nothing to say.
    expect(open({})).toEqual([]);
    expect(open({ 'http.host': '::1', 'monitoring.host': 'localhost' })).toEqual([]);
    expect(open({ 'http.host': '0.0.0.0' })).toEqual([['edge.allow.admin', expect.stringContaining('http.host 0.0.0.0')]]);
    expect(open({ 'monitoring.host': '10.0.0.5' })).toEqual([['edge.allow.admin', expect.stringContaining('monitoring.host 10.0.0.5')]]);
    expect(open({ 'http.host': '0.0.0.0', 'edge.allow.admin': ['10.0.0.0/8'] })).toEqual([]);
  });
});

describe('check-config --show', () => {
  it('masks every credential, by field and inside URLs, and keeps the rest readable', () => {
    const config = buildConfig({
      ...minimalParameters(),
      'amqp.url': 'amqp://pb:broker-pass-123@127.0.0.1:5672',
      'redis.url': 'redis://:redis-pass-456@127.0.0.1:6379',
      gateways: {
        stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_abcdefgh', webhook_secret: 'whsec_0123456789abcdefgh' },
        cs: { type: 'cybersource', base_url: 'https://apitest.cybersource.com', merchant_id: 'acme', key_id: 'kid-1', shared_secret: 'c2VjcmV0LXNoYXJlZA==' },
      },
    });
    const text = JSON.stringify(maskedConfig(config));
    for (const secret of [
      '0123456789abcdef',
      'client-secret',
      'broker-pass-123',
      'redis-pass-456',
      'sk_test_abcdefgh',
      'whsec_0123456789abcdefgh',
      'kid-1',
      'c2VjcmV0LXNoYXJlZA==',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('amqp://pb:****@127.0.0.1:5672');
    expect(text).toContain('"merchantId":"acme"');
    expect(text).toContain('"webhookSecretPrevious":""');
  });

  it('leaves a URL without a password alone', () => {
    expect(maskUrlPassword('https://api.stripe.com/v1')).toBe('https://api.stripe.com/v1');
    expect(maskUrlPassword('amqp://127.0.0.1')).toBe('amqp://127.0.0.1');
  });
});

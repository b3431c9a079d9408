import { buildConfig } from '../../../src/config/load-config';
import { insecureHttpKeys, warnInsecureHttp } from '../../../src/config/transport-security';
import { ConfigError } from '../../../src/errors/config-error';
import { Logger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { requiredCredentials } from '../../support/gateway-credentials';
import { STRONG_BUS_SECRET, minimalParameters } from '../../support/minimal-parameters';

/** Every URL https, no flag. */
const secure = (): Record<string, unknown> => minimalParameters({ 'service_bus.secret': STRONG_BUS_SECRET });

function refusal(params: Record<string, unknown>): ConfigError {
  try {
    buildConfig(params, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** A logger that records its warnings. */
function recordingLogger(): { logger: Logger; warnings: Array<{ message: string; meta: unknown }> } {
  const warnings: Array<{ message: string; meta: unknown }> = [];
  const logger = { warn: (message: string, meta?: unknown) => warnings.push({ message, meta }) } as unknown as Logger;
  return { logger, warnings };
}

describe('configuration refuses http:// for the bus, its OAuth server, our public URL and real gateways', () => {
  it.each(['service_bus.url', 'mom_client.oauth_server_url', 'service_bus.public_url'])(
    'refuses an http:// %s without security.allow_insecure_http, naming the key',
    (key) => {
      const err = refusal({ ...secure(), [key]: 'http://bus.example.com' });
      expect(err.key).toBe(key);
      expect(err.message).toContain(`"${key}"`);
      expect(err.problem).toContain('security.allow_insecure_http');
      expect(err.all).toHaveLength(1);
    },
  );

  it.each(['stripe', 'adyen', 'cybersource'] as const)('refuses an http:// base_url for a %s gateway, naming gateways.<name>.base_url', (type) => {
    const err = refusal({ ...secure(), gateways: { psp: { type, base_url: 'http://psp.example.com', ...requiredCredentials(type) } } });
    expect(err.key).toBe('gateways.psp.base_url');
  });

  it("refuses an http:// report_base_url (the report user's Basic credentials and the settlement report), naming the key", () => {
    const adyen = { type: 'adyen', base_url: 'https://checkout-test.adyen.com/v71', ...requiredCredentials('adyen') };
    const err = refusal({ ...secure(), gateways: { psp: { ...adyen, report_base_url: 'http://reports.example.com' } } });
    expect(err.key).toBe('gateways.psp.report_base_url');
    expect(insecureHttpKeys(buildConfig({ ...secure(), gateways: { psp: { ...adyen, report_base_url: 'https://reports.example.com' } } }, {}))).toEqual([]);
  });

  it('names every insecure key, not only the first', () => {
    const err = refusal({
      ...secure(),
      'service_bus.url': 'http://bus.example.com',
      'mom_client.oauth_server_url': 'http://oauth.example.com',
      gateways: { stripe: { type: 'stripe', base_url: 'http://127.0.0.1:1', ...requiredCredentials('stripe') } },
    });
    expect(err.all.map((a) => a.split(':')[0])).toEqual(['service_bus.url', 'mom_client.oauth_server_url', 'gateways.stripe.base_url']);
  });

  it('lets the simulator stay on http:// without the flag', () => {
    const config = buildConfig({ ...secure(), gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:8701' } } }, {});
    expect(config.security.allowInsecureHttp).toBe(false);
    expect(insecureHttpKeys(config)).toEqual([]);
  });

  it('loads http:// URLs with security.allow_insecure_http: true and warns once at start naming each key', async () => {
    const config = buildConfig(
      {
        ...secure(),
        'service_bus.url': 'http://127.0.0.1:9000',
        'security.allow_insecure_http': true,
        gateways: {
          sim: { type: 'simulator', base_url: 'http://127.0.0.1:8701' },
          stripe: { type: 'stripe', base_url: 'http://127.0.0.1:12111', ...requiredCredentials('stripe') },
        },
      },
      {},
    );
    expect(config.serviceBus.url).toBe('http://127.0.0.1:9000');
    const { logger, warnings } = recordingLogger();
    warnInsecureHttp(config, logger);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].meta).toEqual({ keys: 'service_bus.url, gateways.stripe.base_url' });
    expect(await metricValue('pb_config_insecure_http_urls')).toBe(2);
  });

  it('does not warn when every URL is https', async () => {
    const { logger, warnings } = recordingLogger();
    warnInsecureHttp(buildConfig(secure(), {}), logger);
    expect(warnings).toEqual([]);
    expect(await metricValue('pb_config_insecure_http_urls')).toBe(0);
  });
});

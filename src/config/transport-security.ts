import { ConfigError } from '../errors/config-error';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { Logger } from '../logging/logger';
import { gauge } from '../metrics/metrics-registry';
import { Config } from './config';

/** The key that lets plain-http URLs through, for development on loopback only. */
export const ALLOW_INSECURE_HTTP_KEY = 'security.allow_insecure_http';

/** True when `url` is plain, unencrypted http. */
export function isClearTextUrl(url: string): boolean {
  return /^http:\/\//i.test(url);
}

/**
 * The configuration keys whose URL is plain http and would carry credentials or payment data in clear:
 * the bus (`service_bus.url`), its OAuth server (`mom_client.oauth_server_url`), our own intake URL as
 * announced to the bus (`service_bus.public_url`: the bus sends signed commands there; behind a
 * TLS-terminating proxy it is the proxy's https URL) and every real gateway's `base_url` and
 * `report_base_url` when set (a test double, our simulator, may stay http). Pure; in key order.
 */
export function insecureHttpKeys(config: Config): string[] {
  const keys: Array<[string, string]> = [
    ['service_bus.url', config.serviceBus.url],
    ['service_bus.public_url', config.serviceBus.publicUrl],
    ['mom_client.oauth_server_url', config.momClient.oauthServerUrl],
  ];
  for (const gw of Object.values(config.gateways)
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))) {
    if (gatewayDefinition(gw.type).testDouble) continue;
    keys.push([`gateways.${gw.name}.base_url`, gw.baseUrl]);
    // The report host gets the report user's credentials and returns the settlement report: the same rule.
    if (gw.reportBaseUrl !== '') keys.push([`gateways.${gw.name}.report_base_url`, gw.reportBaseUrl]);
  }
  return keys.filter(([, url]) => isClearTextUrl(url)).map(([key]) => key);
}

/**
 * Refuses plain-http URLs for the bus, its OAuth server, our public intake URL and real gateways unless
 * `security.allow_insecure_http` is true. Throws a ConfigError naming every offending key.
 */
export function checkTransportSecurity(config: Config): void {
  if (config.security.allowInsecureHttp) return;
  const keys = insecureHttpKeys(config);
  if (keys.length === 0) return;
  const problem = `is http://: credentials and payment data would travel in clear text; use https:// (${ALLOW_INSECURE_HTTP_KEY}: true allows it, for development only)`;
  throw new ConfigError(
    keys[0],
    problem,
    keys.map((k) => `${k}: ${problem}`),
  );
}

/**
 * At start: one warning naming every plain-http key let through by `security.allow_insecure_http`, and
 * the gauge `pb_config_insecure_http_urls` (how many; 0 when none).
 */
export function warnInsecureHttp(config: Config, logger: Logger): void {
  const keys = insecureHttpKeys(config);
  gauge('pb_config_insecure_http_urls', 'Configured URLs that are plain http (allowed by security.allow_insecure_http)').set(keys.length);
  if (keys.length === 0) return;
  logger.warn('insecure http URLs allowed by security.allow_insecure_http: development only, credentials travel in clear text', {
    keys: keys.join(', '),
  });
}

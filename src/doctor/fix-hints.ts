import { Config } from '../config/config';
import { CheckResult } from './check-result';

/**
 * The configuration key a doctor target's address comes from, so every FAIL can name what to change.
 * `gateway <name>` → `gateways.<name>.base_url`, `bus` → `service_bus.url`, and so on.
 */
export function addressKeyOf(target: string): string {
  if (target.startsWith('gateway ')) return `gateways.${target.slice('gateway '.length)}.base_url`;
  switch (target) {
    case 'bus':
      return 'service_bus.url';
    case 'oauth':
      return 'mom_client.oauth_server_url';
    case 'proxy':
      return 'proxy.host / proxy.port';
    case 'intake':
      return 'service_bus.public_url';
    case 'rabbitmq':
      return 'amqp.url';
    case 'redis':
      return 'redis.url';
    default:
      return target;
  }
}

/** The keys holding a target's credentials, by gateway type. */
function credentialKeysOf(target: string, config: Config): string {
  if (!target.startsWith('gateway ')) return 'mom_client.client_id and mom_client.client_secret (and mom_client.token_path, mom_client.scope)';
  const name = target.slice('gateway '.length);
  const type = config.gateways[name]?.type;
  const k = (f: string): string => `gateways.${name}.${f}`;
  switch (type) {
    case 'cybersource':
      return `${k('merchant_id')}, ${k('key_id')} and ${k('shared_secret')}`;
    case 'adyen':
      return `${k('api_key')} and ${k('merchant_account')}`;
    default:
      return k('api_key');
  }
}

/** A fix for a FAIL line that has none yet, from what was checked and where; pure. */
export function fixHintFor(r: CheckResult, config: Config): string {
  const key = addressKeyOf(r.target);
  switch (r.check) {
    case 'dns':
      return `check the host name in ${key} and this machine's resolver (or set proxy.host / proxy.port if outbound traffic must go through a proxy)`;
    case 'tcp':
      return `check the host and port in ${key}, the firewall between here and there, and the proxy settings`;
    case 'tls':
    case 'tls-version':
      return `the server behind ${key} must offer TLS 1.2 or later; check it is the PSP's documented endpoint (not a plain-http port)`;
    case 'certificate':
      return `install the issuing CA (NODE_EXTRA_CA_CERTS=/path/ca.pem for a private CA) or fix the server's certificate chain for ${key}`;
    case 'cert-expiry':
      return `renew the certificate of the server behind ${key}`;
    case 'hostname':
      return `use in ${key} a host name the certificate names`;
    case 'credentials':
      return /http:\/\//.test(r.detail) ? `use https:// in ${key}` : `check ${credentialKeysOf(r.target, config)} (the values come from the environment variables their %env() names)`;
    default:
      return `check ${key}`;
  }
}

/** Every FAIL gets a fix: the check's own, else one derived from what was checked. */
export function withFixHints(results: readonly CheckResult[], config: Config): CheckResult[] {
  return results.map((r) => (r.status === 'FAIL' && !r.fix ? { ...r, fix: fixHintFor(r, config) } : r));
}

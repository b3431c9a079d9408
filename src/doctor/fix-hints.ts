import { Config } from '../config/config';
import { CheckResult } from './check-result';
import { credentialKeysOf as gatewayCredentialKeys } from '../gateways/gateway-registry';

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

/** The keys holding a target's credentials (a gateway's: what its credential check proves). */
function credentialKeysOf(target: string, config: Config): string {
  if (!target.startsWith('gateway ')) return 'mom_client.client_id and mom_client.client_secret (and mom_client.token_path, mom_client.scope)';
  const name = target.slice('gateway '.length);
  const gateway = config.gateways[name];
  // The keys its definition's credential check proves (src/gateways/<name>/<name>-gateway.ts).
  const keys = gateway ? gatewayCredentialKeys(gateway) : [`gateways.${name}.api_key`];
  return keys.length > 1 ? `${keys.slice(0, -1).join(', ')} and ${keys[keys.length - 1]}` : keys[0];
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
      // Only the clear-text refusal; a FAIL detail may quote the URL it called, http:// or not.
      return /^not sent: \S+ is http:\/\//.test(r.detail)
        ? `use https:// in ${key}`
        : `check ${credentialKeysOf(r.target, config)} (the values come from the environment variables their %env() names)`;
    default:
      return `check ${key}`;
  }
}

/** Every FAIL gets a fix: the check's own, else one derived from what was checked. */
export function withFixHints(results: readonly CheckResult[], config: Config): CheckResult[] {
  return results.map((r) => (r.status === 'FAIL' && !r.fix ? { ...r, fix: fixHintFor(r, config) } : r));
}

import { parseCidr } from '../net/ip-ranges';
import type { Config } from './config';
import { MIN_SECRET_LENGTH } from './secret-strength';

/**
 * Checks the `edge.*` block and the bus' previous secret beyond what the schema can say: every allowlist
 * and trusted-proxy entry is a CIDR block or an address, webhook allowlists name configured gateways,
 * the headers timeout fits in the request timeout, TLS certificate and key come together, and a previous
 * bus secret is as strong as a current one. Returns `[key, problem]` for each (a cross-field rule).
 */
export function edgeProblems(config: Config): Array<[key: string, problem: string]> {
  const problems: Array<[string, string]> = [];
  const { edge } = config;
  const cidrs = (key: string, list: readonly string[]) => {
    list.forEach((entry, i) => {
      try {
        parseCidr(entry);
      } catch (err) {
        problems.push([`${key}[${i}]`, (err as Error).message]);
      }
    });
  };
  cidrs('edge.trusted_proxies', edge.trustedProxies);
  cidrs('edge.allow.intake', edge.allow.intake);
  cidrs('edge.allow.admin', edge.allow.admin);
  for (const [name, list] of Object.entries(edge.allow.webhooks)) {
    if (name !== '*' && !(name in config.gateways))
      problems.push([`edge.allow.webhooks.${name}`, 'names no gateway of `gateways` (use `*` for every gateway not listed)']);
    cidrs(`edge.allow.webhooks.${name}`, list);
  }
  if (edge.headersTimeoutMs > edge.requestTimeoutMs)
    problems.push(['edge.headers_timeout_ms', 'must not exceed edge.request_timeout_ms (the request timeout covers the headers too)']);
  if ((edge.tls.certFile === '') !== (edge.tls.keyFile === ''))
    problems.push([
      edge.tls.certFile === '' ? 'edge.tls.cert_file' : 'edge.tls.key_file',
      'is required when the other of edge.tls.cert_file / edge.tls.key_file is set',
    ]);
  if (edge.tls.caFile !== '' && edge.tls.certFile === '')
    problems.push(['edge.tls.ca_file', 'needs edge.tls.cert_file and edge.tls.key_file (client certificates are checked on TLS connections only)']);
  const previous = config.serviceBus.secretPrevious;
  if (previous !== '' && previous.length < MIN_SECRET_LENGTH)
    problems.push(['service_bus.secret_previous', `is too weak: at least ${MIN_SECRET_LENGTH} characters, like service_bus.secret`]);
  if (previous !== '' && previous === config.serviceBus.secret)
    problems.push(['service_bus.secret_previous', 'equals service_bus.secret: set it to the secret being retired, or empty']);
  const next = config.serviceBus.secretNext;
  if (next !== '' && next.length < MIN_SECRET_LENGTH)
    problems.push(['service_bus.secret_next', `is too weak: at least ${MIN_SECRET_LENGTH} characters, like service_bus.secret`]);
  if (next !== '' && next === config.serviceBus.secret)
    problems.push(['service_bus.secret_next', 'equals service_bus.secret: set it to the secret coming next, or empty once it is service_bus.secret']);
  if (next !== '' && next === previous)
    problems.push(['service_bus.secret_next', 'equals service_bus.secret_previous: the secret being retired cannot be the next one']);
  return problems;
}

import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { Config } from '../config/config';
import { ConfigError } from '../errors/config-error';
import { readTlsFiles } from '../web/tls-files';
import { EXPIRY_WARNING_DAYS } from './certificate-checks';
import { CheckResult } from './check-result';

const TARGET = 'web tls';
const DAY_MS = 86_400_000;

/**
 * The web role's own TLS (`edge.tls.*`), when it is configured: the files can be read and the key matches
 * the certificate, the certificate is valid now and for 30 more days, and it names the host of
 * `service_bus.public_url` (a WARN only: a proxy re-encrypting to us may present another name). Reads
 * local files only. Nothing when TLS is not configured (a terminating proxy in front is checked as the
 * public URL's own TLS).
 */
export function edgeTlsChecks(config: Config, now: Date): CheckResult[] {
  if (config.edge.tls.certFile === '') return [];
  const result = (check: string, status: CheckResult['status'], detail: string, fix?: string): CheckResult => ({
    check,
    target: TARGET,
    status,
    detail,
    ...(fix ? { fix } : {}),
  });
  let cert: X509Certificate;
  try {
    const material = readTlsFiles(config.edge.tls);
    if (!material) return [];
    cert = new X509Certificate(material.cert);
  } catch (err) {
    if (err instanceof ConfigError) return [result('tls-files', 'FAIL', err.problem, `fix ${err.key}`)];
    return [result('tls-files', 'FAIL', `edge.tls.cert_file is not a PEM certificate: ${(err as Error).message}`, 'fix edge.tls.cert_file')];
  }
  const out: CheckResult[] = [
    result('tls-files', 'OK', `certificate and key readable and matching${config.edge.tls.caFile ? ', client CA read (mutual TLS)' : ''}`),
  ];
  const validTo = new Date(cert.validTo);
  const validFrom = new Date(cert.validFrom);
  const until = validTo.toISOString().slice(0, 10);
  const daysLeft = Math.floor((validTo.getTime() - now.getTime()) / DAY_MS);
  const renew = 'renew the certificate in edge.tls.cert_file (and its key) and restart the web processes';
  if (validTo.getTime() <= now.getTime()) out.push(result('cert-expiry', 'FAIL', `expired on ${until}`, renew));
  else if (validFrom.getTime() > now.getTime()) out.push(result('cert-expiry', 'FAIL', `not valid before ${validFrom.toISOString().slice(0, 10)}`, renew));
  else if (daysLeft < EXPIRY_WARNING_DAYS) out.push(result('cert-expiry', 'WARN', `expires in ${daysLeft} day(s), on ${until}`));
  else out.push(result('cert-expiry', 'OK', `expires in ${daysLeft} days, on ${until}`));
  const host = new URL(config.serviceBus.publicUrl).hostname.replace(/^\[|\]$/g, '');
  const named = isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
  out.push(
    named
      ? result('hostname', 'OK', `${host} (service_bus.public_url) matches the certificate`)
      : result(
          'hostname',
          'WARN',
          `${host} (service_bus.public_url) is not in the certificate (${cert.subjectAltName ?? cert.subject}): the bus will refuse it unless a proxy presents another certificate`,
        ),
  );
  return out;
}

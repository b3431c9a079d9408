import tls from 'node:tls';
import { MAX_ERROR_MESSAGE_CHARS, MAX_QUOTED_PSP_CHARS, boundedSafeText } from '../errors/psp-text';
import { CheckResult } from './check-result';

/** Days before expiry from which the doctor warns. */
export const EXPIRY_WARNING_DAYS = 30;

/** What a TLS handshake showed, as far as the checks need it. */
export interface TlsObservation {
  /** Negotiated protocol, e.g. `TLSv1.3`; null when unknown. */
  protocol: string | null;
  /** The peer's leaf certificate. */
  certificate: tls.PeerCertificate;
  /** Whether the chain verified against the trusted CAs. */
  authorized: boolean;
  /** OpenSSL's reason when not authorized, e.g. `CERT_HAS_EXPIRED`. */
  authorizationError?: string;
}

const DAY_MS = 86_400_000;

/**
 * A certificate's field as the report quotes it: the peer wrote it (a name of any length, any text), so it is
 * masked and cut (`boundedSafeText`) like any text a PSP sends. Node gives a repeated attribute as an array.
 */
function certText(value: string | string[] | undefined, max: number): string | undefined {
  if (value === undefined) return undefined;
  return boundedSafeText(Array.isArray(value) ? value.join(', ') : String(value), max);
}

/** TLS version, certificate trust, expiry and host name of one target, judged at `now`. Pure. */
export function certificateChecks(targetLabel: string, host: string, seen: TlsObservation, now: Date): CheckResult[] {
  const result = (check: string, status: CheckResult['status'], detail: string): CheckResult => ({ check, target: targetLabel, status, detail });
  const out: CheckResult[] = [];

  const modern = seen.protocol === 'TLSv1.2' || seen.protocol === 'TLSv1.3';
  out.push(
    result(
      'tls-version',
      modern ? 'OK' : 'FAIL',
      modern ? `${seen.protocol} negotiated` : `${seen.protocol ?? 'unknown'} negotiated, TLSv1.2 or later required`,
    ),
  );

  const cert = seen.certificate;
  const issuer = certText(cert.issuer?.CN ?? cert.issuer?.O, MAX_QUOTED_PSP_CHARS) ?? 'unknown issuer';
  out.push(
    seen.authorized
      ? result('certificate', 'OK', `trusted, issued by ${issuer}`)
      : result('certificate', 'FAIL', `not trusted: ${seen.authorizationError ?? 'unknown reason'} (issuer ${issuer})`),
  );

  const validTo = new Date(cert.valid_to);
  const validFrom = new Date(cert.valid_from);
  const daysLeft = Math.floor((validTo.getTime() - now.getTime()) / DAY_MS);
  const until = Number.isNaN(validTo.getTime()) ? 'unknown' : validTo.toISOString().slice(0, 10);
  if (Number.isNaN(validTo.getTime())) out.push(result('cert-expiry', 'FAIL', 'no expiry date in the certificate'));
  else if (validTo.getTime() <= now.getTime()) out.push(result('cert-expiry', 'FAIL', `expired on ${until}`));
  else if (validFrom.getTime() > now.getTime()) out.push(result('cert-expiry', 'FAIL', `not valid before ${validFrom.toISOString().slice(0, 10)}`));
  else if (daysLeft < EXPIRY_WARNING_DAYS) out.push(result('cert-expiry', 'WARN', `expires in ${daysLeft} day(s), on ${until}`));
  else out.push(result('cert-expiry', 'OK', `expires in ${daysLeft} days, on ${until}`));

  const mismatch = tls.checkServerIdentity(host, cert);
  out.push(
    mismatch
      ? result(
          'hostname',
          'FAIL',
          `${host} is not in the certificate (${certText(cert.subjectaltname, MAX_ERROR_MESSAGE_CHARS) ?? `CN=${certText(cert.subject?.CN, MAX_QUOTED_PSP_CHARS) ?? ''}`})`,
        )
      : result('hostname', 'OK', `${host} matches the certificate`),
  );
  return out;
}

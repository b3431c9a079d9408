import { PeerCertificate } from 'node:tls';
import { certificateChecks, TlsObservation } from '../../../src/doctor/certificate-checks';
import { exitCodeOf } from '../../../src/doctor/check-result';
import { formatReport } from '../../../src/doctor/format-report';
import { TEST_PANS, formatPan, panNeedles } from '../../../harness/drills/test-card-numbers';

// Pure pieces of the doctor, judged at a fixed `now` (they need no server).
const NOW = new Date('2026-06-01T00:00:00Z');

function observation(overrides: Partial<PeerCertificate> = {}, seen: Partial<TlsObservation> = {}): TlsObservation {
  const certificate = {
    subject: { CN: 'api.psp.example' },
    issuer: { CN: 'Example CA' },
    subjectaltname: 'DNS:api.psp.example',
    valid_from: 'Jan  1 00:00:00 2026 GMT',
    valid_to: 'Jan  1 00:00:00 2027 GMT',
    ...overrides,
  } as PeerCertificate;
  return { protocol: 'TLSv1.3', certificate, authorized: true, ...seen };
}

const byCheck = (results: ReturnType<typeof certificateChecks>): Record<string, string> =>
  Object.fromEntries(results.map((r) => [r.check, `${r.status} ${r.detail}`]));

describe('certificateChecks', () => {
  it('passes a trusted TLS 1.3 certificate for the host, valid for months', () => {
    expect(byCheck(certificateChecks('gateway psp', 'api.psp.example', observation(), NOW))).toEqual({
      'tls-version': 'OK TLSv1.3 negotiated',
      certificate: 'OK trusted, issued by Example CA',
      'cert-expiry': 'OK expires in 214 days, on 2027-01-01',
      hostname: 'OK api.psp.example matches the certificate',
    });
  });

  it('warns 30 days before expiry and fails once expired', () => {
    const soon = certificateChecks('g', 'api.psp.example', observation({ valid_to: 'Jun 20 00:00:00 2026 GMT' }), NOW);
    const gone = certificateChecks('g', 'api.psp.example', observation({ valid_to: 'May 20 00:00:00 2026 GMT' }), NOW);
    expect(byCheck(soon)['cert-expiry']).toBe('WARN expires in 19 day(s), on 2026-06-20');
    expect(byCheck(gone)['cert-expiry']).toBe('FAIL expired on 2026-05-20');
  });

  it('fails TLS 1.1, an untrusted chain and a certificate for another host', () => {
    const results = byCheck(
      certificateChecks(
        'g',
        'other.example',
        observation({}, { protocol: 'TLSv1.1', authorized: false, authorizationError: 'SELF_SIGNED_CERT_IN_CHAIN' }),
        NOW,
      ),
    );
    expect(results['tls-version']).toBe('FAIL TLSv1.1 negotiated, TLSv1.2 or later required');
    expect(results.certificate).toBe('FAIL not trusted: SELF_SIGNED_CERT_IN_CHAIN (issuer Example CA)');
    expect(results.hostname).toBe('FAIL other.example is not in the certificate (DNS:api.psp.example)');
  });

  it("quotes the certificate's names masked and bounded: a card number or a megabyte in them never reaches the report", () => {
    const MIB = 1024 * 1024;
    const results = certificateChecks(
      'gateway psp',
      'other.example',
      observation(
        {
          issuer: { CN: `CA ${formatPan(TEST_PANS[0], 'spaces')} ${'i'.repeat(MIB)}` } as PeerCertificate['issuer'],
          subjectaltname: `DNS:${TEST_PANS[1]}.example, ${'DNS:x.example, '.repeat(MIB / 8)}`,
        },
        { authorized: false, authorizationError: 'SELF_SIGNED_CERT_IN_CHAIN' },
      ),
      NOW,
    );
    const noSan = certificateChecks(
      'gateway psp',
      'other.example',
      observation({ subjectaltname: undefined, subject: { CN: `${TEST_PANS[2]}${'c'.repeat(MIB)}` } as PeerCertificate['subject'] }),
      NOW,
    );
    const report = JSON.stringify([...results, ...noSan]);
    expect(panNeedles().filter((needle) => report.includes(needle))).toEqual([]);
    for (const r of [...results, ...noSan]) expect(r.detail.length).toBeLessThan(700);
    expect(byCheck(results).certificate).toMatch(/^FAIL not trusted: SELF_SIGNED_CERT_IN_CHAIN \(issuer CA .*… \(\d+ characters\)\)$/);
  });
});

describe('formatReport and exitCodeOf', () => {
  it('aligns columns, counts results and exits 1 only on a FAIL', () => {
    const results = [
      { check: 'dns', target: 'gateway stripe', status: 'OK' as const, detail: 'api.stripe.com → 1.2.3.4' },
      { check: 'cert-expiry', target: 'bus', status: 'WARN' as const, detail: 'expires in 3 day(s)' },
    ];
    expect(formatReport(results)).toBe(
      [
        'CHECK        TARGET          RESULT  DETAIL',
        'dns          gateway stripe  OK      api.stripe.com → 1.2.3.4',
        'cert-expiry  bus             WARN    expires in 3 day(s)',
        '',
        '1 ok, 1 warning(s), 0 failure(s), 0 not checked',
        '',
      ].join('\n'),
    );
    expect(exitCodeOf(results)).toBe(0);
    expect(exitCodeOf([...results, { check: 'tcp', target: 'bus', status: 'FAIL', detail: 'ECONNREFUSED' }])).toBe(1);
  });
});

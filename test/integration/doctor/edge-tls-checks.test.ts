import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { edgeTlsChecks } from '../../../src/doctor/edge-tls-checks';
import { makeSelfSignedCert } from '../http/tls-cert';
import { testConfig } from '../../support/test-config';

let dir: string;
const file = (name: string) => path.join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pb-doctor-edge-'));
  const good = makeSelfSignedCert(365);
  writeFileSync(file('good.pem'), good.cert);
  writeFileSync(file('good.key'), good.key);
  const soon = makeSelfSignedCert(5);
  writeFileSync(file('soon.pem'), soon.cert);
  writeFileSync(file('soon.key'), soon.key);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tlsConfig = (cert: string, key: string, overrides: Record<string, unknown> = {}) =>
  testConfig({ 'edge.tls.cert_file': file(cert), 'edge.tls.key_file': file(key), 'service_bus.public_url': 'https://127.0.0.1:8443/bus', ...overrides });

const byCheck = (results: ReturnType<typeof edgeTlsChecks>) => Object.fromEntries(results.map((r) => [r.check, r]));

describe("doctor: the web role's own TLS (edge.tls.*)", () => {
  it('says nothing when the web role does not do TLS itself', () => {
    expect(edgeTlsChecks(testConfig(), new Date())).toEqual([]);
  });

  it('passes a readable, matching, valid certificate naming the public URL host', () => {
    const r = byCheck(edgeTlsChecks(tlsConfig('good.pem', 'good.key'), new Date()));
    expect(r['tls-files'].status).toBe('OK');
    expect(r['cert-expiry'].status).toBe('OK');
    expect(r.hostname.status).toBe('OK');
  });

  it('warns 30 days before expiry and fails an expired certificate, with the fix', () => {
    expect(byCheck(edgeTlsChecks(tlsConfig('soon.pem', 'soon.key'), new Date()))['cert-expiry'].status).toBe('WARN');
    const expired = byCheck(edgeTlsChecks(tlsConfig('soon.pem', 'soon.key'), new Date(Date.now() + 10 * 86_400_000)))['cert-expiry'];
    expect(expired.status).toBe('FAIL');
    expect(expired.fix).toContain('edge.tls.cert_file');
  });

  it('fails a key that does not match the certificate, or an unreadable file, naming the key', () => {
    const mismatch = edgeTlsChecks(tlsConfig('good.pem', 'soon.key'), new Date());
    expect(mismatch).toHaveLength(1);
    expect(mismatch[0]).toMatchObject({ check: 'tls-files', status: 'FAIL', fix: 'fix edge.tls.key_file' });
    expect(edgeTlsChecks(tlsConfig('missing.pem', 'good.key'), new Date())[0]).toMatchObject({ status: 'FAIL', fix: 'fix edge.tls.cert_file' });
  });

  it('warns when the certificate does not name the host of service_bus.public_url', () => {
    const r = byCheck(edgeTlsChecks(tlsConfig('good.pem', 'good.key', { 'service_bus.public_url': 'https://payments.example.com/bus' }), new Date()));
    expect(r.hostname.status).toBe('WARN');
    expect(r.hostname.detail).toContain('payments.example.com');
  });
});

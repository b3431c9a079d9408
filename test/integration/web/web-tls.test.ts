import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../../src/errors/config-error';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { makeSelfSignedCert } from '../http/tls-cert';
import { testConfig } from '../../support/test-config';

let dir: string;
const file = (name: string) => path.join(dir, name);

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pb-web-tls-'));
  const server = makeSelfSignedCert();
  writeFileSync(file('server.pem'), server.cert);
  writeFileSync(file('server.key'), server.key);
  // A client CA and a client certificate it signed (mutual TLS), and a stranger's self-signed one.
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=bus client CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', file('client.key'), '-out', file('client.csr'), '-subj', '/CN=bus']);
  openssl([
    'x509',
    '-req',
    '-in',
    file('client.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('client.pem'),
    '-days',
    '2',
    '-sha256',
  ]);
  const stranger = makeSelfSignedCert(2, 'DNS:stranger');
  writeFileSync(file('stranger.pem'), stranger.cert);
  writeFileSync(file('stranger.key'), stranger.key);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** GET `path` over https trusting the server's certificate; the status, or the error code. */
function get(url: string, options: https.RequestOptions = {}): Promise<number | string> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/healthz`, { ca: readFileSync(file('server.pem')), agent: false, ...options }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('TLS on the web role (edge.tls.*)', () => {
  let web: WebProcess | undefined;
  let namespaceConfig: ReturnType<typeof testConfig> | undefined;

  afterEach(async () => {
    await web?.stop();
    if (namespaceConfig) await purgeNamespace(namespaceConfig).catch(() => undefined);
    web = undefined;
  });

  it('serves https with the configured certificate and key, TLS 1.2 and 1.3, and refuses TLS 1.1 and plain http', async () => {
    namespaceConfig = testConfig({ 'edge.tls.cert_file': file('server.pem'), 'edge.tls.key_file': file('server.key') });
    web = await startWebProcess(namespaceConfig, silentLogger());
    expect(web.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(web.intakeUrl).toMatch(/^https:/);
    expect(await get(web.server.url)).toBe(200);
    expect(await get(web.server.url, { maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' })).toBe(200);
    expect(await get(web.server.url, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).not.toBe(200);
    // Without trusting the certificate a client refuses it (a real certificate chain would be trusted).
    expect(await get(web.server.url, { ca: undefined })).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const plain = await new Promise<number | string>((resolve) => {
      const req = http.get(web!.server.url.replace('https:', 'http:') + '/healthz', { agent: false }, (res) => resolve(res.statusCode ?? 0));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(plain).not.toBe(200);
  });

  it('with edge.tls.ca_file, only clients presenting a certificate signed by that CA get through (mutual TLS)', async () => {
    namespaceConfig = testConfig({ 'edge.tls.cert_file': file('server.pem'), 'edge.tls.key_file': file('server.key'), 'edge.tls.ca_file': file('ca.pem') });
    web = await startWebProcess(namespaceConfig, silentLogger());
    expect(await get(web.server.url, { cert: readFileSync(file('client.pem')), key: readFileSync(file('client.key')) })).toBe(200);
    expect(await get(web.server.url)).not.toBe(200);
    expect(await get(web.server.url, { cert: readFileSync(file('stranger.pem')), key: readFileSync(file('stranger.key')) })).not.toBe(200);
  });

  it('refuses to start on an unreadable certificate or a key that does not match it, naming the key', async () => {
    const missing = testConfig({ 'edge.tls.cert_file': file('nope.pem'), 'edge.tls.key_file': file('server.key') });
    await expect(startWebProcess(missing, silentLogger())).rejects.toThrow(ConfigError);
    await expect(startWebProcess(missing, silentLogger())).rejects.toThrow('edge.tls.cert_file');
    const mismatched = testConfig({ 'edge.tls.cert_file': file('server.pem'), 'edge.tls.key_file': file('stranger.key') });
    await expect(startWebProcess(mismatched, silentLogger())).rejects.toThrow('edge.tls.key_file');
  });
});

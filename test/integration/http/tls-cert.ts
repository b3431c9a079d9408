import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A self-signed certificate and its key, PEM. */
export interface TestCert {
  cert: string;
  key: string;
}

/**
 * Generates a self-signed certificate for `altNames` (default `127.0.0.1` and `localhost`) with `openssl`, valid `days` days
 * (tests of the expiry warning pass a small number). Takes a fraction of a second.
 */
export function makeSelfSignedCert(days = 365, altNames = 'IP:127.0.0.1,DNS:localhost'): TestCert {
  const dir = mkdtempSync(path.join(tmpdir(), 'pb-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        String(days),
        '-subj',
        '/CN=payment-bridge test',
        '-addext',
        `subjectAltName=${altNames}`,
      ],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

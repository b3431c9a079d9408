import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors/config-error';
import { WebTls } from './web-server';

/** The `edge.tls.*` file paths. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/**
 * Reads the web role's certificate, key and optional client CA (PEM files), or undefined when TLS is not
 * configured (no certificate file). A file that cannot be read stops the start with a ConfigError naming
 * its key; the key's content is never quoted.
 */
export function readTlsFiles(files: TlsFiles): WebTls | undefined {
  if (files.certFile === '') return undefined;
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(key, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  const tls: WebTls = {
    cert: read('edge.tls.cert_file', files.certFile),
    key: read('edge.tls.key_file', files.keyFile),
    ...(files.caFile !== '' ? { ca: read('edge.tls.ca_file', files.caFile) } : {}),
  };
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
  } catch (err) {
    // OpenSSL's reason (e.g. "key values mismatch"), never the material itself.
    throw new ConfigError('edge.tls.key_file', `cannot be used with edge.tls.cert_file: ${(err as Error).message.split('\n')[0]}`);
  }
  return tls;
}

import dns from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import { TlsObservation } from './certificate-checks';

/** An error carrying a transport code, like Node's own (`ECONNREFUSED`…). */
function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Addresses of `host`; an IP literal resolves to itself. */
export async function resolveHost(host: string): Promise<string[]> {
  if (net.isIP(host)) return [host];
  const found = await dns.promises.lookup(host, { all: true });
  return found.map((a) => a.address);
}

/** A connected TCP socket, or an error with code (`ETIMEDOUT` after `timeoutMs` milliseconds). */
export function connectTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(codedError('ETIMEDOUT', `no TCP connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/**
 * A tunnel to `host:port` through an HTTP proxy (CONNECT), as a socket ready for TLS or plain bytes.
 * A refusal is an error with code `EPROXYREFUSED` naming the proxy's status.
 */
export async function connectViaProxy(proxy: { host: string; port: number }, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const socket = await connectTcp(proxy.host, proxy.port, timeoutMs);
  const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => fail(codedError('ETIMEDOUT', `no answer to CONNECT within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const statusLine = buffered.subarray(0, buffered.indexOf('\r\n')).toString('latin1');
      const status = Number(statusLine.split(' ')[1]);
      if (status !== 200) {
        fail(codedError('EPROXYREFUSED', `proxy answered CONNECT with ${status || 'garbage'}`));
        return;
      }
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', fail);
      socket.removeListener('close', onClose);
      resolve(socket);
    };
    const onClose = (): void => fail(codedError('ECONNRESET', 'proxy closed the connection during CONNECT'));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

/**
 * A TLS handshake over `socket`, observing what the peer offers. Verification is not enforced here
 * (the checks judge it from `authorized`), and old protocols are allowed so that a TLS 1.1 peer is
 * reported as such rather than as an opaque handshake failure. The socket is closed afterwards.
 */
export function observeTls(socket: net.Socket, host: string, timeoutMs: number, ca?: string | Buffer): Promise<TlsObservation> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: net.isIP(host) ? undefined : host,
      rejectUnauthorized: false,
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
      ca,
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(codedError('ETIMEDOUT', `no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      const observation: TlsObservation = {
        protocol: secure.getProtocol(),
        certificate: secure.getPeerCertificate(),
        authorized: secure.authorized,
        authorizationError: secure.authorizationError
          ? String((secure.authorizationError as Error & { code?: string }).code ?? secure.authorizationError)
          : undefined,
      };
      secure.end();
      secure.destroy();
      resolve(observation);
    });
    secure.once('error', (err) => {
      clearTimeout(timer);
      secure.destroy();
      reject(err);
    });
  });
}

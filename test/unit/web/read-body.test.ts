import net, { AddressInfo } from 'node:net';
import http from 'node:http';
import { BodyTooLargeError } from '../../../src/errors/body-too-large-error';
import { silentLogger } from '../../../src/logging/logger';
import { BodyReader } from '../../../src/web/read-body';

const LIMIT = 1024;
const reader = new BodyReader({ bodyLimitBytes: LIMIT, discardLimitBytes: 64 * LIMIT, discardTimeoutMs: 1000 }, silentLogger());

/** What the server's read call ended with, per request. */
type Outcome = { body: Buffer } | { error: unknown };

describe('BodyReader on a real HTTP server', () => {
  let server: http.Server;
  let port: number;
  const outcomes: Outcome[] = [];
  let waiters: Array<(o: Outcome) => void> = [];

  const record = (o: Outcome) => {
    outcomes.push(o);
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve(o);
  };
  const nextOutcome = () => new Promise<Outcome>((resolve) => waiters.push(resolve));

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      reader.read(req).then(
        (body: Buffer) => {
          record({ body });
          res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
        },
        (error: unknown) => {
          record({ error });
          res.writeHead(error instanceof BodyTooLargeError ? 413 : 400, { connection: 'close' }).end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends `chunks` (chunked when `contentLength` is undefined) and returns the status and response bytes. */
  function send(chunks: Buffer[], contentLength?: number): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = contentLength === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': contentLength };
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      });
      // The server may answer 413 and close before it has read everything; that is the point.
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
      for (const c of chunks) req.write(c);
      req.end();
    });
  }

  it('returns a body under the limit byte for byte, including bytes that are not UTF-8', async () => {
    const bytes = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0xc3, 0x28, 0x0a, 0x0d, 0x7d]);
    const res = await send([bytes], bytes.length);
    expect(res.status).toBe(200);
    const last = outcomes[outcomes.length - 1] as { body: Buffer };
    expect(last.body.equals(bytes)).toBe(true);
    expect(res.body.equals(bytes)).toBe(true);
  });

  it('joins a body sent in several chunks byte for byte', async () => {
    const parts = [Buffer.from('{"jsonrpc":"2.0",'), Buffer.from('"method":"x",'), Buffer.from('"params":{"é":"€"}}')];
    const res = await send(parts);
    expect(res.status).toBe(200);
    expect(res.body.equals(Buffer.concat(parts))).toBe(true);
  });

  it('accepts a body of exactly the limit', async () => {
    const body = Buffer.alloc(LIMIT, 0x61);
    const res = await send([body.subarray(0, 100), body.subarray(100)]);
    expect(res.status).toBe(200);
    expect(res.body.equals(body)).toBe(true);
  });

  it('returns an empty buffer for an empty body', async () => {
    const res = await send([], 0);
    expect(res.status).toBe(200);
    const last = outcomes[outcomes.length - 1] as { body: Buffer };
    expect(Buffer.isBuffer(last.body)).toBe(true);
    expect(last.body.length).toBe(0);
  });

  it('refuses a declared Content-Length over the limit with BodyTooLargeError', async () => {
    const res = await send([Buffer.alloc(LIMIT + 1, 0x61)], LIMIT + 1);
    expect(res.status).toBe(413);
    const last = outcomes[outcomes.length - 1] as { error: unknown };
    expect(last.error).toBeInstanceOf(BodyTooLargeError);
    expect((last.error as BodyTooLargeError).limit).toBe(LIMIT);
  });

  it('refuses a chunked body that grows over the limit while streaming', async () => {
    const chunk = Buffer.alloc(300, 0x62);
    const res = await send([chunk, chunk, chunk, chunk, chunk]);
    expect(res.status).toBe(413);
    const last = outcomes[outcomes.length - 1] as { error: unknown };
    expect(last.error).toBeInstanceOf(BodyTooLargeError);
    expect((last.error as Error).message).not.toContain('b'.repeat(10));
  });

  it('settles (rejects) when the client goes away mid-body instead of waiting forever', async () => {
    const settled = nextOutcome();
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': 500 }, agent: false });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(10, 0x63), () => {
        // Give the server the first bytes, then vanish.
        setImmediate(() => {
          req.destroy();
          resolve();
        });
      });
    });
    const outcome = await settled;
    expect('error' in outcome).toBe(true);
  });
});

describe('BodyReader: the rest of a refused body', () => {
  const MiB = 1024 * 1024;
  /** `/wide`: bounds far above the bodies sent; `/narrow`: 64 KiB and 300 ms. */
  const wide = new BodyReader({ bodyLimitBytes: LIMIT, discardLimitBytes: 32 * MiB, discardTimeoutMs: 5000 }, silentLogger());
  const narrow = new BodyReader({ bodyLimitBytes: LIMIT, discardLimitBytes: 64 * 1024, discardTimeoutMs: 300 }, silentLogger());
  /** `/none`: no discarding at all (both bounds 0). */
  const none = new BodyReader({ bodyLimitBytes: LIMIT, discardLimitBytes: 0, discardTimeoutMs: 0 }, silentLogger());
  let server: http.Server;
  let port: number;
  /** When each server-side connection closed, in order of arrival. */
  const closedAt: number[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      (req.url === '/narrow' ? narrow : req.url === '/none' ? none : wide).read(req).then(
        () => res.writeHead(200).end(),
        () => res.writeHead(413, { connection: 'close', 'content-type': 'application/json', 'content-length': 21 }).end('{"error":"too large"}'),
      );
    });
    server.on('connection', (socket: net.Socket) => {
      const i = closedAt.push(0) - 1;
      socket.on('close', () => (closedAt[i] = Date.now()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /**
   * A client that writes its whole request (Content-Length `bytes`, `send` of them actually sent) before it reads,
   * on a half-open socket (a FIN does not stop its writes, as with a kernel's socket). Resolves on close.
   */
  function blocking(path: string, bytes: number, send = bytes): Promise<{ text: string; error?: string; written: number }> {
    return new Promise((resolve) => {
      const out: { text: string; error?: string; written: number } = { text: '', written: 0 };
      const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      socket.on('error', (err: NodeJS.ErrnoException) => (out.error ??= err.code));
      socket.on('close', () => resolve(out));
      const slice = Buffer.alloc(64 * 1024, 0x61);
      socket.once('connect', async () => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${bytes}\r\n\r\n`);
        while (out.written < send && out.error === undefined) {
          const piece = slice.subarray(0, Math.min(slice.length, send - out.written));
          out.written += piece.length;
          if (!socket.write(piece)) await new Promise<void>((r) => (socket.once('drain', r), socket.once('close', r)));
        }
        socket.on('data', (d: Buffer) => (out.text += d.toString('latin1')));
        socket.on('end', () => socket.end());
      });
    });
  }

  it('is read to its end and dropped before the connection closes: a client writing it all before reading gets its 413, no reset', async () => {
    const sent = await blocking('/wide', 8 * MiB);
    expect(sent.error).toBeUndefined();
    expect(sent.written).toBe(8 * MiB);
    expect(sent.text).toMatch(/^HTTP\/1\.1 413 [^]*\r\n\r\n\{"error":"too large"\}$/);
  });

  it('past the byte bound: the connection is closed with the client still sending', async () => {
    const sent = await blocking('/narrow', 64 * MiB);
    expect(sent.error).toBeDefined();
    expect(sent.written).toBeLessThan(32 * MiB);
  });

  it('with both bounds 0, crossed by the very chunk that crosses the limit, the 413 is still written before the close', async () => {
    for (const path of ['/none', '/narrow']) {
      // One write far past the limit and the byte bound: the server reads it as one chunk (or a few).
      const sent = await blocking(path, 128 * 1024, 128 * 1024);
      expect(sent.text).toMatch(/^HTTP\/1\.1 413 /);
    }
  });

  it('past the time bound: a client that sends nothing more is closed on its answer plus the bound', async () => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.on('error', () => undefined);
    let answeredAt = 0;
    socket.on('data', () => (answeredAt ||= Date.now()));
    const index = closedAt.length;
    await new Promise<void>((r) => socket.once('connect', r));
    socket.write(`POST /narrow HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n`);
    for (let waited = 0; closedAt[index] === undefined || closedAt[index] === 0; waited += 20) {
      if (waited > 3000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    socket.destroy();
    expect(answeredAt).toBeGreaterThan(0);
    expect(closedAt[index] - answeredAt).toBeGreaterThanOrEqual(250);
    expect(closedAt[index] - answeredAt).toBeLessThan(1500);
  });
});

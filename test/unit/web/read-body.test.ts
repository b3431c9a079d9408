import { AddressInfo } from 'node:net';
import http from 'node:http';
import { BodyTooLargeError } from '../../../src/errors/body-too-large-error';
import { readRawBody } from '../../../src/web/read-body';

const LIMIT = 1024;

/** What the server's readRawBody call ended with, per request. */
type Outcome = { body: Buffer } | { error: unknown };

describe('readRawBody on a real HTTP server', () => {
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
      readRawBody(req, LIMIT).then(
        (body) => {
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

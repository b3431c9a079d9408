import http from 'node:http';
import { AddressInfo } from 'node:net';
import { MAX_RESPONSE_BYTES, OutboundClient, OutboundRequestError } from '../../../src/http/outbound-request';

/** The lean client's own edges; the classification of connect, TLS and proxy failures is covered through GatewayClient. */
describe('OutboundClient', () => {
  let server: http.Server;
  let url: string;
  let client: OutboundClient;
  const seen: { method?: string; headers?: http.IncomingHttpHeaders; body?: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const path = (req.url ?? '').split('?')[0];
        if (path === '/chunked') {
          res.writeHead(201, { 'x-two': ['a', 'b'] });
          res.write('{"part":');
          setTimeout(() => res.end('"two"}'), 5);
        } else if (path === '/stall-body') {
          res.writeHead(200, { 'content-length': '100' });
          res.write('half');
        } else if (path === '/huge') {
          res.writeHead(200);
          const block = Buffer.alloc(1024 * 1024, 'x');
          let sent = 0;
          const more = () => {
            while (sent <= MAX_RESPONSE_BYTES && res.write(block)) sent += block.length;
            if (sent <= MAX_RESPONSE_BYTES) res.once('drain', more);
            else res.end();
          };
          more();
        } else {
          res.end('ok');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new OutboundClient({ timeoutMs: 300 });
  });

  afterAll(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the exact body with its content-length and reads a body that arrives in pieces', async () => {
    const body = '{"amount":1000,"note":"é"}';
    const res = await client.send({ method: 'POST', url: `${url}/chunked?x=1`, headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(201);
    expect(res.body).toBe('{"part":"two"}');
    expect(res.headers['x-two']).toBe('a, b');
    expect(res.elapsedMs).toBeGreaterThan(0);
    const last = seen[seen.length - 1];
    expect(last.body).toBe(body);
    expect(last.headers?.['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('treats a body that stalls past the deadline as outcome_unknown (the peer had the request)', async () => {
    const err = await client.send({ method: 'GET', url: `${url}/stall-body`, headers: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundRequestError);
    expect((err as OutboundRequestError).failure).toMatchObject({ kind: 'outcome_unknown', code: 'TIMEOUT' });
  });

  it('refuses a response body over the cap as outcome_unknown instead of buffering it', async () => {
    const big = new OutboundClient({ timeoutMs: 10_000 });
    const err = await big.send({ method: 'GET', url: `${url}/huge`, headers: {} }).catch((e: unknown) => e);
    big.close();
    expect((err as OutboundRequestError).failure).toMatchObject({ kind: 'outcome_unknown', code: 'ERESPONSETOOLARGE' });
  });
});

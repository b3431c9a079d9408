import http from 'node:http';
import { AddressInfo } from 'node:net';
import { OutboundClient, OutboundRequestError } from '../../../src/http/outbound-request';
import { rejectionOf } from '../../support/thrown';

jest.setTimeout(60000);

const failure = (promise: Promise<unknown>): Promise<OutboundRequestError> => rejectionOf(promise, OutboundRequestError);

/** The direct (no proxy) transport's own edges: what a deadline does to a call still waiting for its connection. */
describe('OutboundClient without a proxy', () => {
  let server: http.Server;
  let url: string;
  const seen: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      req.resume();
      // /hang is read and never answered; /headers answers repeated and empty headers; anything else at once.
      if (req.url === '/headers') {
        res.setHeader('Retry-After', '7');
        res.setHeader('X-Seen', ['a', 'b']);
        res.setHeader('X-Empty', '');
      }
      if (req.url !== '/hang') req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('never sends a call whose deadline fired while it waited for a free connection (not_sent), and the peer never sees it', async () => {
    const client = new OutboundClient({ timeoutMs: 500, maxSockets: 1 });
    try {
      const first = failure(client.send({ method: 'POST', url: `${url}/hang`, headers: {}, body: '{}' }));
      // Queued behind the first on the pool's one connection.
      const second = failure(client.send({ method: 'POST', url: `${url}/queued`, headers: {}, body: '{}' }));

      expect((await first).failure).toMatchObject({ kind: 'outcome_unknown', code: 'TIMEOUT' });
      expect((await second).failure).toMatchObject({ kind: 'not_sent', code: 'TIMEOUT' });
      // The pool reconnects after the first call's connection is dropped: the second must not go out then.
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).not.toContain('/queued');

      // The pool still works afterwards.
      const ok = await client.send({ method: 'GET', url: `${url}/after`, headers: {} });
      expect(ok.body).toBe('ok');
    } finally {
      client.close();
    }
  });

  it('hands over the response headers however the response is read: directly, spread or serialized', async () => {
    const client = new OutboundClient({ timeoutMs: 5000 });
    try {
      const res = await client.send({ method: 'GET', url: `${url}/h`, headers: {} });
      expect(res.headers['content-length']).toBe('2');
      expect({ ...res }.headers['content-length']).toBe('2');
      expect((JSON.parse(JSON.stringify(res)) as { headers: Record<string, string> }).headers['content-length']).toBe('2');
    } finally {
      client.close();
    }
  });

  it('hands over every header of the answer: lower-case names, repeated ones joined, empty values kept', async () => {
    const client = new OutboundClient({ timeoutMs: 5000 });
    try {
      const res = await client.send({ method: 'GET', url: `${url}/headers`, headers: {} });
      expect(res.headers).toMatchObject({ 'retry-after': '7', 'x-seen': 'a, b', 'x-empty': '', 'content-length': '2' });
    } finally {
      client.close();
    }
  });

  it('counts its connections in poolSockets: busy while a call runs, idle after it', async () => {
    const client = new OutboundClient({ timeoutMs: 5000, maxSockets: 4 });
    try {
      await Promise.all([1, 2, 3].map((i) => client.send({ method: 'GET', url: `${url}/p${i}`, headers: {} })));
      await new Promise((resolve) => setImmediate(resolve));
      expect(client.poolSockets()).toEqual({ busy: 0, idle: 3 });
    } finally {
      client.close();
    }
  });
});

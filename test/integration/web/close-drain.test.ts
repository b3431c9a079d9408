/**
 * The web server's close with a drain (the web process's stop): it waits for the requests under way, and only for
 * them. A response Node never sends (queued behind a pipelined request whose answer closed the connection) gets no
 * 'close' event of its own; counted as under way, it held every later stop's drain to its bound (and, in the web
 * process, had the publishes of other requests given up and answered 503), and stayed in memory for the process's life.
 */
import net from 'node:net';
import { IncomingMessage, ServerResponse } from 'node:http';
import { silentLogger } from '../../../src/logging/logger';
import { WebRoute, WebServer, sendJson, startWebServer } from '../../../src/web/web-server';

jest.setTimeout(20_000);

/** Longer than any wait these tests expect: a drain still waiting at this bound was held by a request not under way. */
const DRAIN_BOUND_MS = 5000;

/** Called when a `/slow` request's handler starts: the request is under way from then on. */
let slowStarted: () => void = () => undefined;

/** `/slow` answers after 500 ms, `/refused` at once with `Connection: close` (as the allowlist's 403), anything else at once. */
const routes: WebRoute[] = [
  {
    matches: () => true,
    handle: async (_req: IncomingMessage, res: ServerResponse, path: string) => {
      if (path === '/refused') return sendJson(res, 403, { error: 'forbidden' }, { connection: 'close' });
      if (path === '/slow') {
        slowStarted();
        await new Promise((r) => setTimeout(r, 500));
      }
      sendJson(res, 200, { path });
    },
  },
];

let server: WebServer;

beforeEach(async () => {
  server = await startWebServer(routes, { host: '127.0.0.1', port: 0, logger: silentLogger() });
});

afterEach(async () => {
  await server.close();
});

/** Sends `raw` (requests one after another, pipelined) on a raw socket; what it received once the server closed it. */
async function pipelined(raw: string): Promise<{ socket: net.Socket; received: Promise<string> }> {
  const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(raw);
  return { socket, received: new Promise((r) => socket.once('close', () => r(got))) };
}

/** How long the drain waited for the requests under way (at most DRAIN_BOUND_MS). */
async function drainMs(): Promise<number> {
  const started = Date.now();
  let waited = -1;
  await server.close(async (answered) => {
    await Promise.race([answered, new Promise((r) => setTimeout(r, DRAIN_BOUND_MS))]);
    waited = Date.now() - started;
  });
  return waited;
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

it('a request pipelined behind an answer that closed the connection is not under way at the next stop', async () => {
  const { received } = await pipelined(GET('/refused') + GET('/next'));
  expect(await received).toContain('403 Forbidden');
  expect(await drainMs()).toBeLessThan(1000);
});

it('a request pipelined behind one under way at the stop does not hold the drain once its connection is closed', async () => {
  const started = new Promise<void>((r) => (slowStarted = r));
  const { received } = await pipelined(GET('/slow') + GET('/next'));
  // Under way once its handler runs (a fixed sleep could end first on a loaded machine: then nothing is under way).
  await started;
  const waited = await drainMs();
  // The one under way is answered (with Connection: close); the drain ends with it.
  expect(await received).toMatch(/^HTTP\/1\.1 200 OK\r\nconnection: close\r\n/i);
  expect(waited).toBeLessThan(1500);
});

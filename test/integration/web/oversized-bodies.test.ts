import http from 'node:http';
import net from 'node:net';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

/**
 * A body above `http.body_limit_bytes` gets its 413, with its JSON error body, on both ways in (intake and
 * webhooks), however the client sends it: the server answers at once, then discards (never keeps) the rest of
 * the upload within `http.discard_limit_bytes` and `http.discard_timeout_ms` before it closes, so no client
 * still writing its body sees a reset instead of the answer.
 */

// Room for the generous waits below on a loaded machine.
jest.setTimeout(60_000);

const LIMIT = 4096;
const DISCARD_LIMIT = 16 * 1024 * 1024;
const DISCARD_TIMEOUT_MS = 3000;
const SECRET = 'whsec-oversized-bodies-test-0123456789';
const MiB = 1024 * 1024;

let config: Config;
let web: WebProcess;
const logs = captureLogger('info');

beforeAll(async () => {
  config = testConfig({
    'http.body_limit_bytes': LIMIT,
    'http.discard_limit_bytes': DISCARD_LIMIT,
    'http.discard_timeout_ms': DISCARD_TIMEOUT_MS,
    gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789', webhook_secret: SECRET } },
  });
  web = await startWebProcess(config, logs.logger, { webhooks: createGatewayClients(config) });
});

afterAll(async () => {
  await web?.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/**
 * How a client sends its body: declared Content-Length, chunked, chunked in 4 KiB pieces every 10 ms, or
 * Content-Length with `Expect: 100-continue`.
 */
type Mode = 'length' | 'chunked' | 'slow' | 'expect';

/**
 * `node`: Node's http client, which reads the answer as it writes and stops writing once it has it.
 * `blocking`: a client that writes its whole request before it reads anything (as many PSP and bus HTTP
 * libraries do), on a raw socket that keeps writing after the server's FIN (half-close) as a kernel does.
 */
type Client = 'node' | 'blocking';

interface Sent {
  status?: number;
  text: string;
  /** The answer was read to its end. */
  complete: boolean;
  /** A connection error (ECONNRESET, EPIPE…), and whether it came before the answer was read whole. */
  error?: string;
  errorBeforeAnswer?: boolean;
  /** Body bytes handed to the socket before it closed or the body ended. */
  written: number;
  /** The server asked for the body (100 Continue). */
  continued: boolean;
}

/** One 64 KiB slice shared by every client: the clients hold no copy of what they send. */
const SLICE = Buffer.alloc(64 * 1024, 0x61);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pieces of a body of `bytes`: 64 KiB, or 4 KiB for a slow client. */
function* pieces(bytes: number, mode: Mode): Generator<Buffer> {
  const size = mode === 'slow' ? 4096 : SLICE.length;
  for (let left = bytes; left > 0; left -= size) yield SLICE.subarray(0, Math.min(size, left));
}

/** POSTs `bytes` of body to `path` on a fresh connection; resolves once the connection has closed. */
function post(path: string, bytes: number, mode: Mode, client: Client = 'node'): Promise<Sent> {
  return client === 'node' ? postNode(path, bytes, mode) : postBlocking(path, bytes, mode);
}

function postNode(path: string, bytes: number, mode: Mode): Promise<Sent> {
  return new Promise((resolve) => {
    const sent: Sent = { text: '', complete: false, written: 0, continued: false };
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    if (mode === 'length' || mode === 'expect') headers['content-length'] = bytes;
    if (mode === 'expect') headers.expect = '100-continue';
    const url = new URL(web.server.url);
    const req = http.request({ host: url.hostname, port: Number(url.port), method: 'POST', path, headers, agent: false });
    let closed = false;
    /** Wakes the writer waiting for the socket to drain (or to close). */
    let wake: (() => void) | undefined;
    req.on('drain', () => wake?.());
    req.on('close', () => {
      closed = true;
      wake?.();
    });
    req.on('response', (res) => {
      sent.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d: string) => (sent.text += d));
      res.on('end', () => (sent.complete = true));
      res.on('error', () => undefined);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (sent.error === undefined) {
        sent.error = err.code ?? err.message;
        sent.errorBeforeAnswer = !sent.complete;
      }
    });
    req.on('socket', (socket) => socket.on('close', () => setImmediate(() => resolve(sent))));
    const writeAll = async (): Promise<void> => {
      for (const piece of pieces(bytes, mode)) {
        if (closed || req.destroyed) return;
        sent.written += piece.length;
        if (!req.write(piece)) await new Promise<void>((r) => (wake = r));
        if (mode === 'slow') await sleep(10);
      }
      if (!closed && !req.destroyed) req.end();
    };
    if (mode === 'expect') {
      req.on('continue', () => {
        sent.continued = true;
        void writeAll();
      });
      req.flushHeaders();
    } else void writeAll();
  });
}

function postBlocking(path: string, bytes: number, mode: Mode): Promise<Sent> {
  return new Promise((resolve) => {
    const sent: Sent = { text: '', complete: false, written: 0, continued: false };
    const url = new URL(web.server.url);
    const chunked = mode === 'chunked' || mode === 'slow';
    const socket = net.connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true });
    let raw = '';
    const parse = (): void => {
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = raw.slice(0, end);
      sent.status = Number(head.split(' ')[1]);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      sent.text = raw.slice(end + 4);
      sent.complete = Buffer.byteLength(sent.text) >= length;
    };
    let wake: (() => void) | undefined;
    let failed = false;
    socket.on('drain', () => wake?.());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failed = true;
      wake?.();
      if (sent.error === undefined) {
        sent.error = err.code ?? err.message;
        sent.errorBeforeAnswer = !sent.complete;
      }
    });
    socket.on('close', () => setImmediate(() => resolve(sent)));
    const write = async (data: string | Buffer): Promise<void> => {
      if (!socket.write(data)) await new Promise<void>((r) => (wake = r));
    };
    socket.once('connect', async () => {
      await write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bytes}`}\r\n\r\n`,
      );
      for (const piece of pieces(bytes, mode)) {
        if (failed) return;
        if (chunked) await write(`${piece.length.toString(16)}\r\n`);
        await write(piece);
        if (chunked) await write('\r\n');
        sent.written += piece.length;
        if (mode === 'slow') await sleep(10);
      }
      if (chunked) await write('0\r\n\r\n');
      if (failed) return;
      // Only now does it read the answer (what came meanwhile waited in the socket's buffers).
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        raw += d;
        parse();
      });
      socket.on('end', () => socket.end());
    });
  });
}

const INTAKE = (): string => config.http.intakePath;
const WEBHOOK = '/webhooks/simulator';

/** The answer each route writes for a body above the limit. */
function expectRefusal(path: string, sent: Sent): void {
  expect(sent.status).toBe(413);
  expect(sent.complete).toBe(true);
  const body = JSON.parse(sent.text) as Record<string, unknown>;
  if (path === WEBHOOK) expect(body).toEqual({ error: `body exceeds ${LIMIT} bytes` });
  else expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { field: '(root)' } } });
}

describe('a body above http.body_limit_bytes', () => {
  it('is answered 413 with its JSON body to each of 200 concurrent clients on both routes, none sees a reset, nothing of it is kept', async () => {
    const kinds: Array<[Client, Mode]> = [
      ['blocking', 'length'],
      ['blocking', 'chunked'],
      ['blocking', 'slow'],
      ['node', 'length'],
      ['node', 'chunked'],
      ['node', 'slow'],
    ];
    const plan = Array.from({ length: 200 }, (_, i) => {
      const [client, mode] = kinds[i % kinds.length];
      // Far above the limit and the socket buffers (the clients are still writing when the answer comes), within the discard bound.
      const bytes = mode === 'slow' ? 64 * 1024 + (i % 7) * 4096 : 6 * MiB + (i % 13) * 128 * 1024;
      return { path: Math.floor(i / kinds.length) % 2 === 0 ? INTAKE() : WEBHOOK, client, mode, bytes };
    });
    const webhookBefore = await metricValue('pb_webhooks_refused_total', { gateway: 'simulator', reason: 'body_too_large' });
    const intakeBefore = await metricValue('pb_intake_rejects_total', { code: 'BODY_TOO_LARGE' });
    const outcomes = ['drained', 'closed', 'byte_bound', 'time_bound'] as const;
    const discardsBefore = await Promise.all(outcomes.map((outcome) => metricValue('pb_http_body_discards_total', { outcome })));
    const baseline = process.memoryUsage();
    let peakExternal = baseline.external + baseline.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
    }, 5);
    let results: Sent[];
    try {
      results = await Promise.all(plan.map((p) => post(p.path, p.bytes, p.mode, p.client)));
    } finally {
      clearInterval(sampler);
    }
    const failed = results
      .map((r, i) => ({ ...plan[i], ...r, text: r.text.slice(0, 80) }))
      .filter((r) => r.status !== 413 || !r.complete || r.error !== undefined);
    const discarded = plan.reduce((sum, p) => sum + p.bytes, 0);
    console.log(
      `oversized bodies: ${plan.length} clients, ${(discarded / MiB).toFixed(0)} MiB sent above the limit; ${failed.length} did not get a clean 413 ` +
        `(${failed.filter((f) => f.errorBeforeAnswer).length} reset before the answer, ${failed.filter((f) => f.error !== undefined && !f.errorBeforeAnswer).length} after it: ` +
        `${kinds.map(([client, mode]) => `${client}-${mode} ${failed.filter((f) => f.client === client && f.mode === mode).length}/${plan.filter((p) => p.client === client && p.mode === mode).length}`).join(', ')}); ` +
        `peak external memory +${((peakExternal - baseline.external - baseline.arrayBuffers) / MiB).toFixed(1)} MiB`,
    );
    expect(failed).toEqual([]);
    for (const [i, r] of results.entries()) expectRefusal(plan[i].path, r);
    // Every client that writes before it reads wrote its whole body: the server read it to its end (discarding it) before closing.
    expect(results.filter((r, i) => plan[i].client === 'blocking' && r.written !== plan[i].bytes)).toEqual([]);
    // The discarded bytes are never kept: memory does not grow with them (several hundred MiB went by).
    expect(peakExternal - baseline.external - baseline.arrayBuffers).toBeLessThan(discarded / 8);
    expect(await metricValue('pb_webhooks_refused_total', { gateway: 'simulator', reason: 'body_too_large' })).toBe(
      webhookBefore + plan.filter((p) => p.path === WEBHOOK).length,
    );
    expect(await metricValue('pb_intake_rejects_total', { code: 'BODY_TOO_LARGE' })).toBe(intakeBefore + plan.filter((p) => p.path !== WEBHOOK).length);
    // Each discard ended with the body (or with the client closing once it had its answer), none at a bound.
    const counted = async () =>
      (await Promise.all(outcomes.map((outcome) => metricValue('pb_http_body_discards_total', { outcome })))).map((v, i) => v - discardsBefore[i]);
    // The server sees the last closes a moment after the clients do: a moment a loaded CI machine can stretch past
    // 2 s, so the wait is generous; it ends as soon as every discard is counted. Not met, the exact checks below say
    // which are missing.
    await eventually(async () => (await counted()).reduce((a, b) => a + b, 0) >= plan.length, 15_000, 20).catch(() => undefined);
    const discards = await counted();
    expect(discards[0] + discards[1]).toBe(plan.length);
    expect(discards[0]).toBeGreaterThanOrEqual(plan.filter((p) => p.client === 'blocking').length);
    expect(discards.slice(2)).toEqual([0, 0]);
    expect(logs.lines.some((l) => l.includes('webhook refused: body above http.body_limit_bytes'))).toBe(true);
  });

  it('declared with Expect: 100-continue is answered 413 at once, without asking for the body', async () => {
    for (const path of [INTAKE(), WEBHOOK]) {
      const sent = await post(path, 8 * MiB, 'expect');
      expectRefusal(path, sent);
      expect(sent.continued).toBe(false);
      expect(sent.written).toBe(0);
      expect(sent.error).toBeUndefined();
    }
  });

  it('still asks for a body within the limit sent with Expect: 100-continue', async () => {
    const sent = await post(WEBHOOK, 100, 'expect');
    expect(sent.continued).toBe(true);
    // Read whole, then refused for its (missing) signature: the body was asked for and read.
    expect(sent.status).toBe(401);
    expect(sent.error).toBeUndefined();
  });

  it('past http.discard_limit_bytes the connection is closed, the client still sending (counted, logged): memory and time stay bounded', async () => {
    const before = await metricValue('pb_http_body_discards_total', { outcome: 'byte_bound' });
    // Writes before it reads: the one client the bound costs its answer (a reset), as the bound is there for.
    const sent = await post(WEBHOOK, 16 * DISCARD_LIMIT, 'chunked', 'blocking');
    // Cut well before the end of the body: the server read at most the limit, the bound and what was in flight.
    expect(sent.written).toBeLessThan(4 * DISCARD_LIMIT);
    expect(sent.error).toBeDefined();
    expect(await metricValue('pb_http_body_discards_total', { outcome: 'byte_bound' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('connection closed while still discarding') && l.includes('"bound":"http.discard_limit_bytes"'))).toBe(true);
  });

  it('a black-holing or trickling client holds the socket no longer than http.discard_timeout_ms after its answer', async () => {
    const before = await metricValue('pb_http_body_discards_total', { outcome: 'time_bound' });
    const malformedBefore = await metricValue('pb_http_client_errors_total', { kind: 'malformed' });
    const url = new URL(web.server.url);
    const openBefore = web.server.openConnections();
    const open = (): Promise<{ socket: net.Socket; text: () => string }> =>
      new Promise((resolve, reject) => {
        let text = '';
        // Half-open: the server's FIN after its answer does not end what the client sends (as with a kernel's socket).
        const socket = net.connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true }, () => resolve({ socket, text: () => text }));
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('error', () => undefined);
        socket.once('error', reject);
      });
    // Declares a body above the limit, then sends nothing.
    const silent = await open();
    silent.socket.write(`POST ${WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * MiB}\r\n\r\n`);
    // Crosses the limit, then trickles a byte every 100 ms (never enough for the byte bound).
    const trickler = await open();
    trickler.socket.write(
      `POST ${INTAKE()} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(LIMIT + 1).toString(16)}\r\n${'a'.repeat(LIMIT + 1)}\r\n`,
    );
    const drip = setInterval(() => !trickler.socket.destroyed && trickler.socket.write('1\r\na\r\n'), 100);
    let answeredAt = 0;
    let releasedAt = 0;
    try {
      // The server's side of both connections is what must go: a black hole never closes its own.
      for (const until = Date.now() + DISCARD_TIMEOUT_MS + 5000; Date.now() < until && releasedAt === 0; await sleep(20)) {
        if (answeredAt === 0 && [silent, trickler].every((c) => c.text().includes('\r\n\r\n'))) answeredAt = Date.now();
        if (answeredAt !== 0 && web.server.openConnections() === openBefore) releasedAt = Date.now();
      }
    } finally {
      clearInterval(drip);
      silent.socket.destroy();
      trickler.socket.destroy();
    }
    for (const c of [silent, trickler]) {
      expect(c.text()).toMatch(/^HTTP\/1\.1 413 /);
      expect(c.text().toLowerCase()).toContain('connection: close');
    }
    expect(answeredAt).toBeGreaterThan(0);
    expect(releasedAt - answeredAt).toBeGreaterThanOrEqual(DISCARD_TIMEOUT_MS - 300);
    expect(releasedAt - answeredAt).toBeLessThan(DISCARD_TIMEOUT_MS + 1500);
    expect(await metricValue('pb_http_body_discards_total', { outcome: 'time_bound' })).toBe(before + 2);
    // Neither is a malformed request: their discarding is counted above.
    expect(await metricValue('pb_http_client_errors_total', { kind: 'malformed' })).toBe(malformedBefore);
  });

  it('a client closing its side once it has its 413, its body unfinished, is counted as closed, not as a malformed request', async () => {
    const closedBefore = await metricValue('pb_http_body_discards_total', { outcome: 'closed' });
    const malformedBefore = await metricValue('pb_http_client_errors_total', { kind: 'malformed' });
    const url = new URL(web.server.url);
    const text = await new Promise<string>((resolve) => {
      let got = '';
      // Not half-open: the server's FIN ends this client's side too, its body unfinished.
      const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () =>
        socket.write(`POST ${WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * MiB}\r\n\r\n`),
      );
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(got));
    });
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    // The server sees the close a moment after the client: waited for generously (ends once counted); not met,
    // the exact check below says so.
    await eventually(async () => (await metricValue('pb_http_body_discards_total', { outcome: 'closed' })) > closedBefore, 15_000, 20).catch(() => undefined);
    expect(await metricValue('pb_http_body_discards_total', { outcome: 'closed' })).toBe(closedBefore + 1);
    expect(await metricValue('pb_http_client_errors_total', { kind: 'malformed' })).toBe(malformedBefore);
  });
});

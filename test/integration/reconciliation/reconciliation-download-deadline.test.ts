import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { GatewayError } from '../../../src/errors/gateway-error';
import { adyenReportGateway } from '../../support/adyen-report-gateway';
import { adyenGateway } from '../../../src/gateways/adyen/adyen-gateway';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { captureLogger } from '../../support/capture-logger';

// A report host that trickles: one short line every 100 ms, each well inside the per-chunk stall bound, for ever.
// Only an overall deadline ends such a download.
let server: Server;
let base: string;
const open = new Set<ServerResponse>();

function handle(_req: IncomingMessage, res: ServerResponse): void {
  open.add(res);
  res.writeHead(200, { 'content-type': 'text/csv' });
  let n = 0;
  const tick = setInterval(() => res.write(`line ${n++}\n`), 100);
  res.on('close', () => {
    clearInterval(tick);
    open.delete(res);
  });
}

const gateway = adyenReportGateway({ name: 'adyen-trickle' });

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('reconciliation report download overall deadline', () => {
  it('fails a download that trickles past its deadline as retryable, naming the deadline, counted and logged', async () => {
    const { logger, lines: logLines } = captureLogger('info');
    const before = await metricValue('pb_reconciliation_downloads_past_deadline_total', { gateway: gateway.name });
    // Stall bound 500 ms (never reached: a line every 100 ms), whole download 1 s.
    const http = createReconciliationHttp(gateway, adyenGateway.transformer, {
      proxy: { host: '', port: 0 },
      timeoutMs: 500,
      downloadDeadlineMs: 1000,
      logger,
    });
    const started = Date.now();
    let lines = 0;
    const read = (async () => {
      for await (const line of http.lines({ path: `${base}/reports/download/MerchantAccount/Acme/settlement_detail_report_batch_1.csv` })) {
        void line;
        lines++;
      }
    })();
    // Without a deadline the read never ends: the race names that outcome instead of the test timing out.
    const outcome = await Promise.race([
      read.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 4000).unref()),
    ]);
    const elapsed = Date.now() - started;
    http.close();
    expect(outcome).toBeInstanceOf(GatewayError);
    const err = outcome as GatewayError;
    expect(err.retryable).toBe(true);
    expect(err.kind).toBe('outcome_unknown');
    expect(err.message).toContain('reconciliation.download_deadline_ms');
    expect(err.message).toContain('1000 ms');
    expect(lines).toBeGreaterThan(3);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(2500);
    expect(await metricValue('pb_reconciliation_downloads_past_deadline_total', { gateway: gateway.name })).toBe(before + 1);
    const warn = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).includes('deadline'));
    expect(warn).toMatchObject({ level: 'warn', gateway: gateway.name, deadline_ms: 1000 });
    expect(Number(warn?.lines_read)).toBe(lines);
  });

  it('leaves a download that finishes within its deadline alone', async () => {
    const quick = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.end('a\nb\n');
    });
    await new Promise<void>((resolve) => quick.listen(0, '127.0.0.1', resolve));
    const http = createReconciliationHttp(gateway, adyenGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 500, downloadDeadlineMs: 1000 });
    const got: string[] = [];
    for await (const line of http.lines({ path: `http://127.0.0.1:${(quick.address() as AddressInfo).port}/r.csv` })) got.push(line);
    http.close();
    await new Promise<void>((resolve) => quick.close(() => resolve()));
    expect(got).toEqual(['a', 'b']);
  });

  it("counts the host's time only: a run slow on the lines it was given does not pass the deadline", async () => {
    // A line every 250 ms, the body ending at 1.5 s; the caller spends 300 ms on each, so every line but the first is
    // there before it asks: the host's time is about 0.25 s, the wall time 1.75 s, past the 1 s deadline.
    const quick = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      const rest = ['a', 'b', 'c', 'd', 'e'];
      const tick = setInterval(() => {
        const line = rest.shift();
        if (line === undefined) {
          clearInterval(tick);
          res.end();
        } else res.write(`${line}\n`);
      }, 250);
    });
    await new Promise<void>((resolve) => quick.listen(0, '127.0.0.1', resolve));
    const http = createReconciliationHttp(gateway, adyenGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 5000, downloadDeadlineMs: 1000 });
    const got: string[] = [];
    const started = Date.now();
    try {
      for await (const line of http.lines({ path: `http://127.0.0.1:${(quick.address() as AddressInfo).port}/r.csv` })) {
        got.push(line);
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      http.close();
      await new Promise<void>((resolve) => quick.close(() => resolve()));
    }
    expect(Date.now() - started).toBeGreaterThan(1600);
    expect(got).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('stops the stall bound too while the run works on a line: a slow run is not a stalled host', async () => {
    // The host sends three lines at once and the rest 100 ms later; the caller spends 700 ms on each line, past the
    // 500 ms stall bound, though the host never kept it waiting longer than 100 ms.
    const quick = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.write('a\nb\nc\n');
      setTimeout(() => res.end('d\n'), 100);
    });
    await new Promise<void>((resolve) => quick.listen(0, '127.0.0.1', resolve));
    const http = createReconciliationHttp(gateway, adyenGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 500, downloadDeadlineMs: 1000 });
    const got: string[] = [];
    try {
      for await (const line of http.lines({ path: `http://127.0.0.1:${(quick.address() as AddressInfo).port}/r.csv` })) {
        got.push(line);
        await new Promise((r) => setTimeout(r, 700));
      }
    } finally {
      http.close();
      await new Promise<void>((resolve) => quick.close(() => resolve()));
    }
    expect(got).toEqual(['a', 'b', 'c', 'd']);
  });
});

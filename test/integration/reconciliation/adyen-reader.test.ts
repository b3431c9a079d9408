import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { GatewayError } from '../../../src/errors/gateway-error';
import { adyenRecordReader, ADYEN_PAGE_SIZE } from '../../../src/gateways/adyen/adyen-reconciliation';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import { PspRecordPage, ReconciliationHttp } from '../../../src/reconciliation/psp-record';
import { adyenGateway } from '../../../src/gateways/adyen/adyen-gateway';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';

/**
 * The Adyen reader against a real local HTTP server serving Settlement details reports the way Adyen's
 * report download URL does (`/reports/download/MerchantAccount/<account>/settlement_detail_report_batch_<n>.csv`,
 * Basic auth of the report user, 404 for a batch not generated yet): batch discovery, the window, pages,
 * resume from a cursor, and constant memory on a large report streamed from the server.
 */

const HEADER =
  'Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number,Reserved4,Reserved5,Reserved6,Reserved7,Reserved8,Reserved9,Reserved10';
const USER = 'report@Company.AcmeCompany';
const PASSWORD = 'report-user-password-0123';

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** UTC time as the report writes it (TimeZone column UTC). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function settledLine(batch: number, i: number, at: number): string {
  const psp = `88${pad(batch, 4)}${pad(i, 10)}`;
  // A quoted merchant reference with a comma and, every 50th line, a line break inside the quotes.
  const reference = i % 50 === 0 ? `"ORD-${i},\nnote"` : `"ORD-${i}, web"`;
  return `AcmeCompany,AcmeEU,${psp},${reference},visa,${stamp(at)},UTC,Settled,99${pad(batch, 4)}${pad(i, 10)},EUR,,${Math.floor((1000 + i) / 100)}.${pad((1000 + i) % 100, 2)},1,EUR,,9.70,,0.10,0.05,0.15,visacredit,op-cap-${batch}-${i},${batch},,,,,,,`;
}

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);
// Five daily batches of 40 lines each, batch b covering day b-1 (lines every 30 min from the day's start).
const BATCHES = 5;
const LINES = 40;
const lineTime = (batch: number, i: number) => T0 + (batch - 1) * DAY + i * 30 * 60_000;

function* smallBatch(batch: number): Generator<string> {
  yield HEADER;
  for (let i = 0; i < LINES; i += 1) yield settledLine(batch, i, lineTime(batch, i));
}

const LARGE_LINES = 100_000;
// Wide lines (Adyen's report can carry many optional columns): about 100 MB of CSV in all.
const FILLER = 'x'.repeat(700);
/** Lines of the large report the server has written so far (it writes only as fast as the reader drains). */
let largeLinesWritten = 0;
function* largeBatch(): Generator<string> {
  largeLinesWritten = 0;
  yield HEADER;
  for (let i = 0; i < LARGE_LINES; i += 1) {
    largeLinesWritten += 1;
    yield `${settledLine(1, i, T0 + i * 1000)}${FILLER}`;
  }
}

let server: Server;
let base: string;
const opened: { close(): void }[] = [];

/** The product's reconciliation HTTP (the reader's path in `payment-bridge reconcile`). */
function testReconciliationHttp(gateway: GatewayConfig): ReconciliationHttp {
  const http = createReconciliationHttp(gateway, adyenGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 30_000 });
  opened.push(http);
  return http;
}
const downloads: string[] = [];

function stream(res: ServerResponse, lines: Generator<string>): void {
  res.writeHead(200, { 'content-type': 'text/csv' });
  const pump = (): void => {
    for (;;) {
      const next = lines.next();
      if (next.done) return void res.end();
      if (!res.write(`${next.value}\r\n`)) return void res.once('drain', pump);
    }
  };
  pump();
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  if (req.headers.authorization !== expected) return void res.writeHead(401).end();
  // The report user's credentials only: the API key never travels to the report host.
  if (req.headers['x-api-key'] !== undefined) return void res.writeHead(400).end();
  const m = /^\/reports\/download\/MerchantAccount\/(\w+)\/settlement_detail_report_batch_(\d+)\.csv$/.exec(req.url ?? '');
  if (!m) return void res.writeHead(404).end();
  downloads.push(`${m[1]}:${m[2]}`);
  const batch = Number(m[2]);
  if (m[1] === 'AcmeEU' && batch >= 1 && batch <= BATCHES) return stream(res, smallBatch(batch));
  if (m[1] === 'AcmeLarge' && batch === 1) return stream(res, largeBatch());
  res.writeHead(404).end();
}

function config(merchantAccount: string, password = PASSWORD): GatewayConfig {
  return {
    name: 'adyen-recon',
    type: 'adyen',
    baseUrl: 'https://checkout-test.adyen.com/v71',
    apiKey: 'AQE-test',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount,
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: USER,
    reportPassword: password,
    reportBaseUrl: base,
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 10000,
    maxSockets: 4,
  };
}

async function collect(pages: AsyncIterable<PspRecordPage>, stopAfter = Infinity): Promise<PspRecordPage[]> {
  const out: PspRecordPage[] = [];
  for await (const p of pages) {
    out.push(p);
    if (out.length >= stopAfter) break;
  }
  return out;
}
const ids = (pages: PspRecordPage[]) => pages.flatMap((p) => p.records.map((r) => r.lineId));

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const http of opened) http.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  downloads.length = 0;
});

// Day 3 (batch 3) from 06:00 to day 4 (batch 4) 06:00.
const WINDOW = { from: T0 + 2 * DAY + 6 * 3_600_000, to: T0 + 3 * DAY + 6 * 3_600_000 };

describe('Adyen reader over a local report download server', () => {
  it('finds the batches, reads the lines of the window (quoted fields across lines included), each once', async () => {
    const pages = await collect(adyenRecordReader(config('AcmeEU'), testReconciliationHttp(config('AcmeEU'))).read(WINDOW));
    const records = pages.flatMap((p) => p.records);
    // 06:00 to 20:00 of batch 3 (lines 12..39) and 00:00 to 05:30 of batch 4 (lines 0..11).
    expect(records).toHaveLength(28 + 12);
    expect(records.every((r) => r.occurredAt >= WINDOW.from && r.occurredAt < WINDOW.to)).toBe(true);
    expect(new Set(ids(pages)).size).toBe(records.length);
    expect(records[0]).toMatchObject({ kind: 'capture', operationId: 'op-cap-3-12', merchantReference: 'ORD-12, web', currency: 'EUR', net: 970, fee: 30 });
    expect(records.find((r) => r.operationId === 'op-cap-4-0')?.merchantReference).toBe('ORD-0,\nnote');
    // The newest batch is found by doubling and halving; nothing past it is read as data.
    expect(downloads).toContain('AcmeEU:8');
    expect(JSON.parse(pages[pages.length - 1].cursor)).toEqual({ b: BATCHES + 1, l: 0, last: BATCHES });
  });

  it('resumes from a stored cursor with exactly the lines after it', async () => {
    const gateway = config('AcmeEU');
    const wide = { from: T0, to: T0 + 10 * DAY };
    const full = ids(await collect(adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(wide)));
    expect(full).toHaveLength(BATCHES * LINES);
    const firstTwo = await collect(adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(wide), 2);
    downloads.length = 0;
    const rest = await collect(adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(wide, firstTwo[1].cursor));
    expect([...ids(firstTwo), ...ids(rest)]).toEqual(full);
    // Resuming needs no discovery: it starts at the cursor's batch.
    expect(downloads[0]).toBe(`AcmeEU:${JSON.parse(firstTwo[1].cursor).b}`);
  });

  it('reads nothing when the merchant account has no batch yet', async () => {
    const gateway = config('AcmeNew');
    expect(await collect(adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW))).toEqual([]);
  });

  it('fails with an authentication GatewayError when the report user is refused', async () => {
    const gateway = config('AcmeEU', 'wrong-password-0123');
    const error = await collect(adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).kind).toBe('authentication');
    expect(String(error)).not.toContain('wrong-password');
  });

  it('streams a large report page by page (its first page before the server has written a quarter of it), and resumes mid-report', async () => {
    const gateway = config('AcmeLarge');
    const window = { from: T0, to: T0 + 10 * DAY };
    let writtenAtFirstPage = 0;
    let count = 0;
    let pages = 0;
    let midCursor: string | undefined;
    let afterMid = 0;
    for await (const page of adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(window)) {
      expect(page.records.length).toBeLessThanOrEqual(ADYEN_PAGE_SIZE);
      count += page.records.length;
      pages += 1;
      if (pages === 1) writtenAtFirstPage = largeLinesWritten;
      if (pages === 100) midCursor = page.cursor;
      else if (midCursor !== undefined) afterMid += page.records.length;
    }
    expect(count).toBe(LARGE_LINES);
    // About 100 MB of CSV went through, and the first page came out while the server, which writes only as
    // fast as the socket drains, had written a small part of it: the reader streams rather than buffers
    // the file (a buffering reader gets its first page only after all 100,000 lines). Memory figures are
    // the reconciliation benchmark's job, not a test's.
    expect(writtenAtFirstPage).toBeGreaterThan(0);
    expect(writtenAtFirstPage).toBeLessThan(LARGE_LINES / 4);
    let resumed = 0;
    for await (const page of adyenRecordReader(gateway, testReconciliationHttp(gateway)).read(window, midCursor)) resumed += page.records.length;
    expect(resumed).toBe(afterMid);
    expect(resumed).toBe(LARGE_LINES - 100 * ADYEN_PAGE_SIZE);
  }, 300_000);
});

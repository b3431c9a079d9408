import { NO_CREDENTIALS } from '../../support/gateway-credentials';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { GatewayError } from '../../../src/errors/gateway-error';
import { CYBERSOURCE_PAGE_LIMIT, cybersourceRecordReader, cybersourceSearchRequest } from '../../../src/gateways/cybersource/cybersource-reconciliation';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import { PspRecordPage, ReconciliationHttp } from '../../../src/reconciliation/psp-record';
import { requestViolations, usePrism } from '../../support/prism';
import { cybersourceGateway } from '../../../src/gateways/cybersource/cybersource-gateway';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { testReconciliationHttp as recordingHttp } from '../../support/reconciliation-http';

/**
 * The Cybersource reader against a real local HTTP server answering `POST /tss/v2/searches` as the
 * Transaction Search API does (offset/limit pages, `totalCount`, `_embedded.transactionSummaries`), with
 * HTTP Signature authentication on every search; then its search against Prism serving the official spec.
 */

const WINDOW = { from: Date.parse('2026-11-02T00:00:00Z'), to: Date.parse('2026-11-03T00:00:00Z') };
const TOTAL = 1200;

const summaries = Array.from({ length: TOTAL }, (_, i) => ({
  id: `7${String(i).padStart(21, '0')}`,
  submitTimeUtc: new Date(WINDOW.from + i * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  applicationInformation: { applications: [{ name: i % 3 === 0 ? 'ics_credit' : 'ics_auth', rCode: '1', reasonCode: '100' }] },
  clientReferenceInformation: { code: `op-${i}` },
  orderInformation: { amountDetails: { totalAmount: `${10 + (i % 90)}.50`, currency: 'EUR' } },
  paymentInformation: { card: { suffix: '9876' } },
}));

let server: Server;
const opened: { close(): void }[] = [];

/** The product's reconciliation HTTP (the reader's path in `payment-bridge reconcile`). */
function testReconciliationHttp(g: GatewayConfig): ReconciliationHttp {
  const http = createReconciliationHttp(g, cybersourceGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 30_000 });
  opened.push(http);
  return http;
}
let gateway: GatewayConfig;
let failNext = 0;
const bodies: Record<string, unknown>[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c.toString()));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/tss/v2/searches') return void res.writeHead(404).end();
    if (!/keyid="[^"]+"/.test(String(req.headers.signature)) || req.headers['v-c-merchant-id'] !== 'acme_eu' || !req.headers.digest) {
      return void res.writeHead(401).end();
    }
    if (failNext > 0) {
      failNext -= 1;
      return void res.writeHead(502).end();
    }
    const body = JSON.parse(raw) as { offset: number; limit: number; query: string };
    bodies.push(body as unknown as Record<string, unknown>);
    const page = summaries.slice(body.offset, body.offset + body.limit);
    res
      .writeHead(201, { 'content-type': 'application/hal+json;charset=utf-8' })
      .end(JSON.stringify({ searchId: 'f5b6d5e4', save: false, ...body, count: page.length, totalCount: TOTAL, _embedded: { transactionSummaries: page } }));
  });
}

function config(baseUrl: string): GatewayConfig {
  return {
    ...NO_CREDENTIALS,
    name: 'cybersource-recon',
    type: 'cybersource',
    baseUrl,
    merchantId: 'acme_eu',
    keyId: '08c94330-f618-42a3-b09d-e1e43be5efda',
    sharedSecret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
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
  gateway = config(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  for (const http of opened) http.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  failNext = 0;
  bodies.length = 0;
});

describe('Cybersource reader over a local Transaction Search server', () => {
  it('reads every page of the search, signed, each transaction once', async () => {
    const pages = await collect(cybersourceRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW));
    expect(pages.map((p) => p.records.length)).toEqual([CYBERSOURCE_PAGE_LIMIT, CYBERSOURCE_PAGE_LIMIT, TOTAL - 2 * CYBERSOURCE_PAGE_LIMIT]);
    expect(new Set(ids(pages)).size).toBe(TOTAL);
    expect(bodies.map((b) => b.offset)).toEqual([0, 500, 1000]);
    expect(bodies[0].query).toBe('submitTimeUtc:[2026-11-02T00:00:00Z TO 2026-11-03T00:00:00Z}');
    expect(pages[0].records[0]).toMatchObject({ kind: 'refund', operationId: 'op-0', amount: 1050, currency: 'EUR' });
    expect(JSON.stringify(pages)).not.toContain('9876');
  });

  it('resumes from a stored cursor with exactly the transactions after it', async () => {
    const full = ids(await collect(cybersourceRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW)));
    const first = await collect(cybersourceRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW), 1);
    const rest = await collect(cybersourceRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW, first[0].cursor));
    expect([...ids(first), ...ids(rest)]).toEqual(full);
  });

  it('stops on a failed search with a retryable GatewayError', async () => {
    failNext = 1;
    const error = await collect(cybersourceRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).retryable).toBe(true);
  });
});

describe('Cybersource reader search against the official spec (Prism)', () => {
  const prism = usePrism('cybersource-payments-2020-02-17.json', 120_000);

  it('sends a search the spec accepts', async () => {
    const g = config(prism.url);
    const http = recordingHttp(g);
    await http.send(cybersourceSearchRequest(WINDOW, 500));
    const [sent] = http.sent;
    expect(requestViolations(sent.responseHeaders?.['sl-violations'])).toBeUndefined();
    // Prism answers 500 when its own example breaks the response schema; a refused request is a 4xx.
    expect(sent.status !== undefined && (sent.status < 400 || sent.status >= 500)).toBe(true);
  }, 60_000);
});

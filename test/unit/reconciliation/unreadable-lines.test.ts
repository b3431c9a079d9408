import { GatewayError } from '../../../src/errors/gateway-error';
import { PspRecordError } from '../../../src/errors/psp-record-error';
import { adyenRecordReader } from '../../../src/gateways/adyen/adyen-reconciliation';
import { cybersourceRecordReader } from '../../../src/gateways/cybersource/cybersource-reconciliation';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import { simulatorReader } from '../../../src/gateways/simulator/simulator-reconciliation';
import { stripeRecordReader } from '../../../src/gateways/stripe/stripe-reconciliation';
import { PspRecordPage, ReconciliationHttp } from '../../../src/reconciliation/psp-record';

/**
 * Each reader sets aside a line it cannot read (its page's `unreadable`: where, the field, why, never the
 * value) and reads the lines behind it; what is wrong with the page itself (an HTTP failure, a body that is no
 * answer, a truncated report) still stops the reader, so the run stops there and reads the page again.
 */

const WINDOW = { from: Date.UTC(2026, 10, 2), to: Date.UTC(2026, 10, 3) };
const AT_S = WINDOW.from / 1000 + 3600;

function gateway(name: string, type: string): GatewayConfig {
  return {
    name,
    type,
    baseUrl: 'https://psp.test',
    apiKey: 'key',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: 'AcmeEU',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: 'report@Company.Acme',
    reportPassword: 'report-password',
    reportBaseUrl: 'https://reports.test',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 1000,
    maxSockets: 1,
  } as GatewayConfig;
}

/** HTTP answering `send` with `answers` in turn, and `lines` with `report` for batch 1 (404 for any other). */
function fakeHttp(answers: { status: number; body: string }[], report: string[] = []): ReconciliationHttp {
  return {
    send: () => Promise.resolve(answers.shift() ?? { status: 500, body: '' }),
    lines: ({ path }) =>
      (async function* () {
        if (!path.endsWith('_batch_1.csv')) throw new GatewayError('not_found', 'adyen', 'HTTP 404', { httpStatus: 404 });
        await Promise.resolve();
        yield* report;
      })(),
  };
}

async function collect(pages: AsyncIterable<PspRecordPage>): Promise<PspRecordPage[]> {
  const out: PspRecordPage[] = [];
  for await (const p of pages) out.push(p);
  return out;
}

const ids = (pages: PspRecordPage[]) => pages.flatMap((p) => p.records.map((r) => r.lineId));
const unreadable = (pages: PspRecordPage[]) => pages.flatMap((p) => p.unreadable ?? []);

describe('Stripe reader', () => {
  const bt = (id: string, currency: string) => ({
    id,
    object: 'balance_transaction',
    amount: 1000,
    currency,
    created: AT_S,
    fee: 30,
    net: 970,
    type: 'charge',
  });
  const list = (data: unknown[]) => ({ status: 200, body: JSON.stringify({ object: 'list', data, has_more: false }) });

  it('sets aside a balance transaction in a currency that is no ISO code and reads the ones after it', async () => {
    const pages = await collect(
      stripeRecordReader(gateway('stripe', 'stripe'), fakeHttp([list([bt('txn_1', 'eur'), bt('txn_2', 'euro'), bt('txn_3', 'eur')]), list([])])).read(WINDOW),
    );
    expect(ids(pages)).toEqual(['txn_1', 'txn_3']);
    expect(unreadable(pages)).toEqual([{ line: 'txn_2', field: 'currency', problem: expect.stringContaining('not an ISO 4217 currency code') }]);
    expect(JSON.stringify(unreadable(pages))).not.toContain('euro');
    expect(pages.map((p) => p.cursor)).toEqual([JSON.stringify({ p: 'pi' }), JSON.stringify({ p: 'done' })]);
  });

  it('names a line without its id by its place in the list', async () => {
    const pages = await collect(stripeRecordReader(gateway('stripe', 'stripe'), fakeHttp([list([bt('txn_1', 'eur'), { amount: 5 }]), list([])])).read(WINDOW));
    expect(unreadable(pages)).toEqual([{ line: 'GET /v1/balance_transactions data[1]', field: 'id', problem: 'is missing' }]);
  });

  it('still stops on a page that is no answer: a 5xx, a body that is no JSON', async () => {
    await expect(collect(stripeRecordReader(gateway('stripe', 'stripe'), fakeHttp([{ status: 503, body: '' }])).read(WINDOW))).rejects.toThrow(GatewayError);
    await expect(collect(stripeRecordReader(gateway('stripe', 'stripe'), fakeHttp([{ status: 200, body: '{"data":[' }])).read(WINDOW))).rejects.toThrow(
      PspRecordError,
    );
  });
});

describe('Cybersource reader', () => {
  const summary = (id: string, currency: string) => ({
    id,
    submitTimeUtc: new Date(AT_S * 1000).toISOString(),
    applicationInformation: { applications: [{ name: 'ics_bill', rCode: '1', reasonCode: '100' }] },
    clientReferenceInformation: { code: `op-${id}` },
    orderInformation: { amountDetails: { totalAmount: '10.00', currency } },
  });

  it('sets aside a summary it cannot read and reads the ones after it', async () => {
    const body = { totalCount: 3, _embedded: { transactionSummaries: [summary('1', 'EUR'), summary('2', 'EURO'), summary('3', 'EUR')] } };
    const pages = await collect(
      cybersourceRecordReader(gateway('cybersource', 'cybersource'), fakeHttp([{ status: 201, body: JSON.stringify(body) }])).read(WINDOW),
    );
    expect(ids(pages)).toEqual(['1:ics_bill', '3:ics_bill']);
    expect(unreadable(pages)).toEqual([{ line: '2', field: 'orderInformation.amountDetails.currency', problem: expect.any(String) }]);
    expect(pages.at(-1)?.cursor).toBe(JSON.stringify({ o: 3 }));
  });

  it('still stops on a failed search', async () => {
    await expect(collect(cybersourceRecordReader(gateway('cybersource', 'cybersource'), fakeHttp([{ status: 502, body: '' }])).read(WINDOW))).rejects.toThrow(
      GatewayError,
    );
  });
});

describe('simulator reader', () => {
  const line = (id: string, currency: string) => ({
    id,
    type: 'capture',
    status: 'succeeded',
    payment: `auth_${id}`,
    object_id: `auth_${id}`,
    reference: `op-${id}`,
    amount: 1000,
    currency,
    fee: 39,
    net: 961,
    created_ms: AT_S * 1000,
  });

  it('sets aside a line it cannot read and reads the ones after it', async () => {
    const body = { data: [line('l1', 'EUR'), line('l2', 'EURO'), line('l3', 'EUR')], has_more: false };
    const pages = await collect(simulatorReader(gateway('simulator', 'simulator'), fakeHttp([{ status: 200, body: JSON.stringify(body) }])).read(WINDOW));
    expect(ids(pages)).toEqual(['l1', 'l3']);
    expect(unreadable(pages)).toEqual([{ line: 'l2', field: 'currency', problem: 'is not an ISO 4217 currency code (a string of 4 characters)' }]);
    expect(JSON.stringify(unreadable(pages))).not.toContain('EURO');
  });

  it('names the field and its problem like the other readers, and a line without its id by its place in the page', async () => {
    const body = { data: [line('l1', 'EUR'), { ...line('l2', 'EUR'), amount: 10.5 }, { ...line('', 'EUR'), id: undefined }], has_more: false };
    const pages = await collect(simulatorReader(gateway('simulator', 'simulator'), fakeHttp([{ status: 200, body: JSON.stringify(body) }])).read(WINDOW));
    expect(ids(pages)).toEqual(['l1']);
    expect(unreadable(pages)).toEqual([
      { line: 'l2', field: 'amount', problem: 'is not a whole number of minor units' },
      { line: 'data[2] after the start', field: 'id', problem: 'is missing' },
    ]);
  });

  it('still stops on a page that is no answer', async () => {
    await expect(collect(simulatorReader(gateway('simulator', 'simulator'), fakeHttp([{ status: 500, body: '' }])).read(WINDOW))).rejects.toThrow(GatewayError);
    await expect(collect(simulatorReader(gateway('simulator', 'simulator'), fakeHttp([{ status: 200, body: 'nope' }])).read(WINDOW))).rejects.toThrow(/body/);
  });
});

describe('Adyen reader', () => {
  const HEADER =
    'Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number';
  const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
  const settled = (psp: string, currency: string, at = AT_S * 1000) =>
    `AcmeCompany,AcmeEU,${psp},ORD-1,visa,${stamp(at)},UTC,Settled,99${psp},${currency},,10.00,1,EUR,,9.70,,0.10,0.05,0.15,visacredit,op-${psp},1`;

  it("sets aside a line it cannot read (named by report and line number) and reads the ones after it; another window's is left to it", async () => {
    const report = [
      HEADER,
      settled('1000000000000001', 'EUR'),
      settled('1000000000000002', 'EURO'),
      settled('1000000000000003', 'EUR'),
      settled('1000000000000004', 'EURO', WINDOW.to + 1000),
    ];
    const pages = await collect(adyenRecordReader(gateway('adyen', 'adyen'), fakeHttp([], report)).read(WINDOW));
    expect(ids(pages)).toEqual(['1000000000000001:Settled:991000000000000001:1', '1000000000000003:Settled:991000000000000003:1']);
    expect(unreadable(pages)).toEqual([{ line: 'settlement_detail_report_batch_1.csv:3', field: 'Gross Currency', problem: expect.any(String) }]);
    expect(pages.at(-1)?.cursor).toBe(JSON.stringify({ b: 2, l: 0, last: 1 }));
  });

  it('marks a line whose Creation Date does not read as undated: it cannot tell whose window it is, and every window that reads its batch meets it', async () => {
    const report = [
      HEADER,
      settled('1000000000000001', 'EUR'),
      settled('1000000000000002', 'EUR').replace(stamp(AT_S * 1000), '2026-11-02T25:99'),
      settled('1000000000000003', 'EUR'),
    ];
    const next = { from: WINDOW.to, to: WINDOW.to + (WINDOW.to - WINDOW.from) };
    for (const window of [WINDOW, next]) {
      const pages = await collect(adyenRecordReader(gateway('adyen', 'adyen'), fakeHttp([], report)).read(window));
      expect(unreadable(pages)).toEqual([
        { line: 'settlement_detail_report_batch_1.csv:3', field: 'Creation Date', problem: 'is not YYYY-MM-DD HH:MM:SS', undated: true },
      ]);
    }
    // A line whose time reads is its own window's, never marked.
    const dated = await collect(adyenRecordReader(gateway('adyen', 'adyen'), fakeHttp([], [HEADER, settled('1000000000000004', 'EURO')])).read(WINDOW));
    expect(unreadable(dated)).toEqual([{ line: 'settlement_detail_report_batch_1.csv:2', field: 'Gross Currency', problem: expect.any(String) }]);
  });

  it("finds and reads a batch whose first data line's Creation Date does not read (its batch's time is the next line's)", async () => {
    const report = [HEADER, settled('1000000000000001', 'EUR').replace(stamp(AT_S * 1000), 'yesterday'), settled('1000000000000002', 'EUR')];
    const pages = await collect(adyenRecordReader(gateway('adyen', 'adyen'), fakeHttp([], report)).read(WINDOW));
    expect(ids(pages)).toEqual(['1000000000000002:Settled:991000000000000002:1']);
    expect(unreadable(pages)).toEqual([expect.objectContaining({ line: 'settlement_detail_report_batch_1.csv:2', field: 'Creation Date', undated: true })]);
  });

  it('still stops on a report whose header lacks a column it needs', async () => {
    const report = [HEADER.replace('Gross Currency', 'Currency'), settled('1000000000000001', 'EUR')];
    await expect(collect(adyenRecordReader(gateway('adyen', 'adyen'), fakeHttp([], report)).read(WINDOW))).rejects.toThrow(PspRecordError);
  });
});

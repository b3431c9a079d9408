import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { PspRecordError } from '../../../../src/errors/psp-record-error';
import { ReconciliationHttp } from '../../../../src/reconciliation/psp-record';
import { CsvRecordJoiner, parseCsvRecord } from '../../../../src/gateways/adyen/adyen-csv';
import { adyenGateway } from '../../../../src/gateways/adyen/adyen-gateway';
import {
  adyenCreationTime,
  adyenDecimalToMinor,
  adyenReportBase,
  adyenSettlementReportUrl,
  parseAdyenSettlementHeader,
  parseAdyenSettlementLine,
} from '../../../../src/gateways/adyen/adyen-reconciliation';
import { ADYEN_SETTLEMENT_TYPES, ADYEN_SETTLEMENT_TYPE_MAP } from '../../../../src/gateways/adyen/adyen-settlement-types';
import { GatewayConfig } from '../../../../src/gateways/gateway-config';
import { metricValue } from '../../../../src/metrics/metrics-registry';

/**
 * Adyen's Settlement details report read into PspRecords. The fixture follows the column list and record
 * types Adyen documents ("Settlement detail report structure", "Journal types"); amounts are decimal
 * strings in major units, read exactly into ISO minor units.
 */

const FIXTURE = readFileSync(path.resolve(__dirname, '../../../fixtures/reconciliation/adyen-settlement-detail-report-batch-42.csv'), 'utf8')
  .trimEnd()
  .split('\n');
const header = parseAdyenSettlementHeader('adyen', 'batch 42', FIXTURE[0]);
const line = (n: number) => parseAdyenSettlementLine('adyen', `batch 42:${n + 1}`, header, parseCsvRecord(FIXTURE[n]));
const CET = (iso: string) => Date.parse(`${iso}+01:00`);

describe('CSV records', () => {
  it('splits plain and quoted fields, with commas and doubled quotes inside quotes, and empty fields', () => {
    expect(parseCsvRecord('a,"b,c","say ""hi""",,e')).toEqual(['a', 'b,c', 'say "hi"', '', 'e']);
    expect(parseCsvRecord('')).toEqual(['']);
    expect(parseCsvRecord('"",x')).toEqual(['', 'x']);
  });

  it('joins a quoted field that spans physical lines back into one record', () => {
    const joiner = new CsvRecordJoiner();
    expect(joiner.push('a,"first')).toBeUndefined();
    expect(joiner.open).toBe(true);
    expect(joiner.push('second",c')).toBe('a,"first\nsecond",c');
    expect(parseCsvRecord('a,"first\nsecond",c')).toEqual(['a', 'first\nsecond', 'c']);
    expect(joiner.push('x,y')).toBe('x,y');
  });

  it('never buffers past its limit on a quote that does not close', () => {
    const joiner = new CsvRecordJoiner(20);
    joiner.push('"open');
    expect(() => joiner.push('x'.repeat(30))).toThrow(RangeError);
  });
});

describe('Settlement details record types', () => {
  const expected: Record<string, string> = {
    Settled: 'capture',
    SettledBulk: 'capture',
    Refunded: 'refund',
    RefundedBulk: 'refund',
    Chargeback: 'chargeback',
    SecondChargeback: 'second_chargeback',
    ChargebackReversed: 'chargeback_reversed',
    RefundedReversed: 'refund_reversed',
  };
  it.each(ADYEN_SETTLEMENT_TYPES.map((t) => [t] as const))('maps %s', (type) => {
    const fields = parseCsvRecord(FIXTURE[1]);
    fields[header.index.type] = type;
    const record = parseAdyenSettlementLine('adyen', 'l', header, fields);
    expect(record.kind).toBe(expected[type] ?? 'other');
    expect(record.status).toBe('succeeded');
    expect(record.pspType).toBe(type);
    expect(ADYEN_SETTLEMENT_TYPE_MAP[type]).toBe(record.kind);
  });

  it('keeps a type Adyen added later as other, counted', async () => {
    const before = await metricValue('pb_reconciliation_unmapped_types_total', { psp: 'adyen' });
    const fields = parseCsvRecord(FIXTURE[1]);
    fields[header.index.type] = 'SomethingNew';
    expect(parseAdyenSettlementLine('adyen', 'l', header, fields)).toMatchObject({ kind: 'other', pspType: 'SomethingNew' });
    expect(await metricValue('pb_reconciliation_unmapped_types_total', { psp: 'adyen' })).toBe(before + 1);
  });
});

describe('parseAdyenSettlementLine', () => {
  it('reads a Settled line: gross, net, the fees summed, our capture id from Modification Merchant Reference', () => {
    expect(line(1)).toEqual({
      lineId: '8515131751004933:Settled:8825131751004951:42',
      kind: 'capture',
      status: 'succeeded',
      operationId: 'op-cap-1',
      pspReference: '8515131751004933',
      modificationReference: '8825131751004951',
      merchantReference: 'op-auth-1',
      amount: 10000,
      currency: 'EUR',
      fee: 215,
      net: 9785,
      occurredAt: CET('2026-11-02T10:15:00'),
      pspType: 'Settled',
    });
  });

  it('reads a Refunded line with a negative net', () => {
    expect(line(2)).toMatchObject({ kind: 'refund', operationId: 'op-ref-1', amount: 2500, net: -2512, fee: 12 });
  });

  it('reads a chargeback and its reversal, falling back to Merchant Reference (quoted, with a comma) when there is no modification reference', () => {
    expect(line(3)).toMatchObject({ kind: 'chargeback', amount: 4000, net: -5500, fee: 1500, merchantReference: 'ORD-7, gift', operationId: 'ORD-7, gift' });
    expect(line(4)).toMatchObject({ kind: 'chargeback_reversed', amount: 4000, net: 4000 });
    expect(line(5)).toMatchObject({ kind: 'refund_reversed', operationId: 'op-ref-8', amount: 1000 });
  });

  it('reads a payment settled in another currency: gross in USD, fee and net in EUR', () => {
    expect(line(6)).toMatchObject({ amount: 10893, currency: 'USD', net: 9820, fee: 180, settlementCurrency: 'EUR' });
  });

  it('reads batch-level lines (Fee, MerchantPayout) as other, with their net and no payment reference', () => {
    const fee = line(7);
    expect(fee).toMatchObject({ kind: 'other', amount: 1234, currency: 'EUR', net: -1234, lineId: 'batch:42:batch 42:8' });
    expect(fee.pspReference).toBeUndefined();
    expect(line(8)).toMatchObject({ kind: 'other', pspType: 'MerchantPayout', amount: 100000 });
  });

  it('refuses a header that lacks a documented column, naming it', () => {
    expect(() => parseAdyenSettlementHeader('adyen', 'r', FIXTURE[0].replace('Net Credit (NC)', 'Net Credit'))).toThrow(/Net Credit \(NC\): column is missing/);
  });

  it('reads the header in any column order, with a byte order mark', () => {
    const names = parseCsvRecord(FIXTURE[0]);
    const fields = parseCsvRecord(FIXTURE[1]);
    const order = names.map((_, i) => i).reverse();
    const h = parseAdyenSettlementHeader('adyen', 'r', `\uFEFF${order.map((i) => names[i]).join(',')}`);
    expect(
      parseAdyenSettlementLine(
        'adyen',
        'l',
        h,
        order.map((i) => fields[i]),
      ),
    ).toEqual(line(1));
  });

  it('drops a reference that holds a card number', () => {
    const fields = parseCsvRecord(FIXTURE[1]);
    fields[header.index.merchantReference] = '4111 1111 1111 1111';
    fields[header.modificationMerchantReference] = '';
    const record = parseAdyenSettlementLine('adyen', 'l', header, fields);
    expect(JSON.stringify(record)).not.toContain('4111');
    expect(record.operationId).toBeUndefined();
  });
});

describe('decimal amounts and times', () => {
  it('converts decimal strings to ISO minor units exactly, by string arithmetic', () => {
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '0.29', 'EUR')).toBe(29); // 0.29 * 100 is 28.999999999999996 as a float
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '1234567.89', 'EUR')).toBe(123456789);
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '1500', 'JPY')).toBe(1500);
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '1.250', 'KWD')).toBe(1250);
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '15000.00', 'IDR')).toBe(1500000);
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '-2.5', 'EUR')).toBe(-250);
    expect(adyenDecimalToMinor('adyen', 'l', 'c', '', 'EUR')).toBeUndefined();
  });

  it('refuses a fraction of a minor unit, a malformed number, a currency Adyen does not list, naming the column', () => {
    expect(() => adyenDecimalToMinor('adyen', 'l', 'Gross Credit (GC)', '1.005', 'EUR')).toThrow(/Gross Credit \(GC\)/);
    expect(() => adyenDecimalToMinor('adyen', 'l', 'c', '1,000.00', 'EUR')).toThrow(PspRecordError);
    expect(() => adyenDecimalToMinor('adyen', 'l', 'c', '1e3', 'EUR')).toThrow(PspRecordError);
    expect(() => adyenDecimalToMinor('adyen', 'l', 'c', '10', 'XXX')).toThrow(PspRecordError);
  });

  it.each([['EURO'], ['eu'], ['XXX1'], ['XXX'], ['ZZZ']])('refuses a currency column holding %p, no ISO 4217 code, naming the column', (currency) => {
    for (const [key, column] of [
      ['grossCurrency', 'Gross Currency'],
      ['netCurrency', 'Net Currency'],
    ] as const) {
      const fields = parseCsvRecord(FIXTURE[2]);
      fields[header.index[key]] = currency;
      expect(() => parseAdyenSettlementLine('adyen', 'batch 42:3', header, fields)).toThrow(
        expect.objectContaining({ field: column, message: expect.stringContaining(`batch 42:3: ${column}: is not an ISO 4217 currency code`) }),
      );
    }
  });

  it('reads Creation Date in the report time zone (abbreviations and offsets)', () => {
    expect(adyenCreationTime('adyen', 'l', '2026-07-01 12:00:00', 'CEST')).toBe(Date.parse('2026-07-01T10:00:00Z'));
    expect(adyenCreationTime('adyen', 'l', '2026-01-01 00:30:00', 'CET')).toBe(Date.parse('2025-12-31T23:30:00Z'));
    expect(adyenCreationTime('adyen', 'l', '2026-01-01 00:00:00', 'PST')).toBe(Date.parse('2026-01-01T08:00:00Z'));
    expect(adyenCreationTime('adyen', 'l', '2026-01-01 00:00:00', 'GMT+05:30')).toBe(Date.parse('2025-12-31T18:30:00Z'));
    expect(() => adyenCreationTime('adyen', 'l', '2026-01-01 00:00:00', 'IST')).toThrow(/TimeZone/);
    expect(() => adyenCreationTime('adyen', 'l', '01/01/2026', 'CET')).toThrow(/Creation Date/);
  });
});

describe('report location', () => {
  const base = { merchantAccount: 'AcmeEU', reportBaseUrl: '' } as GatewayConfig;
  it('downloads from the Customer Area of the environment base_url names, or report_base_url', () => {
    expect(adyenReportBase({ ...base, baseUrl: 'https://checkout-test.adyen.com/v71' })).toBe('https://ca-test.adyen.com');
    expect(adyenReportBase({ ...base, baseUrl: 'https://1797a841fbb37ca7-AdyenDemo-checkout-live.adyenpayments.com/checkout/v71' })).toBe(
      'https://ca-live.adyen.com',
    );
    expect(adyenReportBase({ ...base, baseUrl: 'https://x', reportBaseUrl: 'https://reports.example/' })).toBe('https://reports.example');
    expect(adyenSettlementReportUrl({ ...base, baseUrl: 'https://checkout-test.adyen.com/v71' }, 42)).toBe(
      'https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeEU/settlement_detail_report_batch_42.csv',
    );
  });

  it('declares the report user settings and the reader on the Adyen gateway', () => {
    expect(adyenGateway.settings.reportPassword.secret).toBe(true);
    expect(adyenGateway.settings.reportUsername.secret).toBe(false);
    expect(adyenGateway.reconciliation?.source).toMatch(/Settlement details report/);
  });
});

describe('the reader over a report whose quoted field never closes', () => {
  const gateway = {
    name: 'adyen',
    type: 'adyen',
    merchantAccount: 'AcmeEU',
    reportBaseUrl: '',
    baseUrl: 'https://checkout-test.adyen.com/v71',
  } as GatewayConfig;
  /** Batch 1 holds the header, a good line, then a quote opened on line 3 and 1.2 million characters of lines after it. */
  const http: ReconciliationHttp = {
    send: () => Promise.reject(new Error('no request but report downloads')),
    lines: (request) => {
      if (!request.path.endsWith('_batch_1.csv')) throw new GatewayError('not_found', 'adyen', 'HTTP 404', { httpStatus: 404 });
      return (async function* () {
        yield* [FIXTURE[0], FIXTURE[1], `${FIXTURE[2]},"open`];
        for (let i = 0; i < 120; i += 1) yield await Promise.resolve('x'.repeat(10_000));
      })();
    },
  };

  it('stops the run with a PspRecordError naming the report line, never the RangeError of the joiner', async () => {
    const reader = adyenGateway.reconciliation?.reader(gateway, http);
    let thrown: unknown;
    try {
      for await (const page of reader?.read({ from: 0, to: Date.UTC(2100, 0, 1) }) ?? []) void page;
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PspRecordError);
    expect(thrown).toMatchObject({ line: expect.stringMatching(/^settlement_detail_report_batch_1\.csv:\d+$/) as unknown, field: 'line' });
    expect((thrown as Error).message).not.toContain('xxxx');
  });
});

describe('an amount beyond the largest the bridge handles', () => {
  it('is refused naming its column: a card number written as a decimal is no amount of ours', () => {
    expect(() => adyenDecimalToMinor('adyen', 'batch 42:2', 'Gross Credit (GC)', '4111111111111.11', 'EUR')).toThrow(PspRecordError);
    expect(adyenDecimalToMinor('adyen', 'batch 42:2', 'Gross Credit (GC)', '999999999999.99', 'EUR')).toBe(99999999999999);
  });
});

describe('card numbers in the type or batch of a report line', () => {
  it('reports the type as unreadable_type and leaves the batch out of the line id', () => {
    const fields = parseCsvRecord(FIXTURE[1]);
    const at = (column: string) => parseCsvRecord(FIXTURE[0]).indexOf(column);
    fields[at('Type')] = '4111 1111 1111 1111';
    fields[at('Batch Number')] = '5555555555554444';
    const record = parseAdyenSettlementLine('adyen', 'batch 42:2', header, fields);
    expect(record).toMatchObject({ kind: 'other', pspType: 'unreadable_type' });
    expect(record.lineId).not.toMatch(/4111|5555/);
  });
});

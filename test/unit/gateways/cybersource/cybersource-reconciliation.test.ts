import { PspRecordError } from '../../../../src/errors/psp-record-error';
import { cybersourceGateway } from '../../../../src/gateways/cybersource/cybersource-gateway';
import {
  CYBERSOURCE_APPLICATIONS,
  cybersourceApplicationStatus,
  cybersourceRecordReader,
  cybersourceSearchBody,
  isCybersourcePartialApproval,
  parseCybersourceSummary,
} from '../../../../src/gateways/cybersource/cybersource-reconciliation';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { gateway as cybersourceGatewayConfig } from './cybersource-test-fixtures';
import type { PspRecordPage, ReconciliationHttp } from '../../../../src/reconciliation/psp-record';
import { merchantReference } from '../../../../src/gateways/cybersource/cybersource-requests';
import { metricValue } from '../../../../src/metrics/metrics-registry';

/**
 * Cybersource transaction summaries (Transaction Search API, `_embedded.transactionSummaries[]`, shaped as
 * the 2020-02-17 spec and Cybersource's search examples show them) read into PspRecords.
 */

function app(name: string, rCode = '1', reasonCode = '100'): Record<string, string> {
  return {
    name,
    reasonCode,
    rCode,
    rFlag: rCode === '1' ? 'SOK' : 'DECLINED',
    reconciliationId: '02850840187309570',
    rMessage: 'Request was processed successfully.',
  };
}

function summary(applications: Record<string, string>[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '5330579747706214203011',
    submitTimeUtc: '2026-11-02T17:59:34Z',
    merchantId: 'acme_eu',
    applicationInformation: { status: 'TRANSMITTED', reasonCode: '100', rCode: '1', rFlag: 'SOK', applications },
    clientReferenceInformation: { code: 'op-sale-1', applicationName: 'REST API' },
    orderInformation: { billTo: { firstName: 'Jane', lastName: 'Doe', email: 'jane@example.com' }, amountDetails: { totalAmount: '100.00', currency: 'EUR' } },
    paymentInformation: { paymentType: { name: 'CARD', type: 'credit card', method: 'VI' }, card: { suffix: '1111', prefix: '411111', type: '001' } },
    ...overrides,
  };
}

describe('Cybersource services', () => {
  const expected: Record<string, string | null> = {
    ics_auth: 'authorization',
    ics_bill: 'capture',
    ics_credit: 'refund',
    ics_auth_reversal: 'cancel',
    ics_void: 'cancel',
    ics_ecp_debit: 'capture',
    ics_ecp_credit: 'refund',
    ics_pinless_debit: 'capture',
    ics_pinless_debit_reversal: 'cancel',
  };
  it.each(Object.keys(CYBERSOURCE_APPLICATIONS).map((n) => [n] as const))('maps %s', (name) => {
    const records = parseCybersourceSummary('cybersource', summary([app(name)]));
    const want = expected[name] ?? null;
    expect(records.map((r) => r.kind)).toEqual(want === null ? [] : [want]);
  });

  it('keeps a service it does not know as other, counted', async () => {
    const before = await metricValue('pb_reconciliation_unmapped_types_total', { psp: 'cybersource' });
    expect(parseCybersourceSummary('cybersource', summary([app('ics_something_new')]))).toMatchObject([{ kind: 'other', pspType: 'ics_something_new' }]);
    expect(await metricValue('pb_reconciliation_unmapped_types_total', { psp: 'cybersource' })).toBe(before + 1);
  });

  it.each([
    ['1', '100', 'succeeded'],
    ['1', '110', 'succeeded'],
    ['0', '203', 'failed'],
    ['-1', '150', 'failed'],
    ['1', '480', 'pending'],
    ['0', '480', 'pending'],
    ['0', '200', 'pending'],
    ['0', '230', 'pending'],
    [undefined, '100', 'succeeded'],
    [undefined, '204', 'failed'],
    [undefined, undefined, 'pending'],
  ] as const)('reads rCode %s reason %s as %s', (rCode, reason, status) => {
    expect(cybersourceApplicationStatus(rCode, reason)).toBe(status);
  });

  it('reads a soft decline or a review hold named by its reply flag alone as pending, as the status inquiry does', () => {
    expect(cybersourceApplicationStatus('0', undefined, 'DAVSNO')).toBe('pending');
    expect(cybersourceApplicationStatus('0', undefined, 'DCV')).toBe('pending');
    expect(cybersourceApplicationStatus('1', undefined, 'DREVIEW')).toBe('pending');
  });
});

describe('parseCybersourceSummary', () => {
  it('reads a sale as an authorization and a capture, our operation id from the merchant reference', () => {
    expect(parseCybersourceSummary('cybersource', summary([app('ics_auth'), app('ics_bill'), app('ics_score')]))).toEqual([
      {
        lineId: '5330579747706214203011:ics_auth',
        kind: 'authorization',
        status: 'succeeded',
        operationId: 'op-sale-1',
        pspReference: '5330579747706214203011',
        modificationReference: '02850840187309570',
        merchantReference: 'op-sale-1',
        amount: 10000,
        currency: 'EUR',
        occurredAt: Date.parse('2026-11-02T17:59:34Z'),
        pspType: 'ics_auth',
      },
      expect.objectContaining({ lineId: '5330579747706214203011:ics_bill', kind: 'capture', amount: 10000 }),
    ]);
  });

  it('reads a declined authorization as failed', () => {
    expect(parseCybersourceSummary('cybersource', summary([app('ics_auth', '0', '203')]))[0]).toMatchObject({ kind: 'authorization', status: 'failed' });
  });

  it('converts the decimal amount exactly by the currency table (JPY whole, KWD three decimals)', () => {
    const jpy = summary([app('ics_credit')], { orderInformation: { amountDetails: { totalAmount: '1500', currency: 'jpy' } } });
    expect(parseCybersourceSummary('cybersource', jpy)[0]).toMatchObject({ kind: 'refund', amount: 1500, currency: 'JPY' });
    const kwd = summary([app('ics_bill')], { orderInformation: { amountDetails: { totalAmount: '1.250', currency: 'KWD' } } });
    expect(parseCybersourceSummary('cybersource', kwd)[0].amount).toBe(1250);
  });

  it('refuses an amount finer than the currency, naming the summary and field', () => {
    const bad = summary([app('ics_bill')], { orderInformation: { amountDetails: { totalAmount: '10.005', currency: 'EUR' } } });
    expect(() => parseCybersourceSummary('cybersource', bad)).toThrow(PspRecordError);
    expect(() => parseCybersourceSummary('cybersource', bad)).toThrow(/5330579747706214203011: orderInformation.amountDetails.totalAmount/);
  });

  it.each<[unknown]>([['EURO'], ['eu'], ['XXX1'], [978]])(
    'refuses the currency %p, no ISO 4217 code, naming the field, with or without an amount',
    (currency) => {
      for (const amountDetails of [{ totalAmount: '10.00', currency }, { currency }]) {
        const bad = summary([app('ics_auth_reversal')], { orderInformation: { amountDetails } });
        expect(() => parseCybersourceSummary('cybersource', bad)).toThrow(
          expect.objectContaining({ field: 'orderInformation.amountDetails.currency', message: expect.stringContaining('is not an ISO 4217 currency code') }),
        );
      }
    },
  );

  it('reads a reversal without an amount as 0, and refuses a capture without one', () => {
    expect(parseCybersourceSummary('cybersource', summary([app('ics_auth_reversal')], { orderInformation: {} }))[0]).toMatchObject({
      kind: 'cancel',
      amount: 0,
    });
    expect(() => parseCybersourceSummary('cybersource', summary([app('ics_bill')], { orderInformation: {} }))).toThrow(/amountDetails/);
  });

  it('gives no operation id for a digested merchant reference (an id longer than 50 characters)', () => {
    const code = merchantReference(`op-${'x'.repeat(80)}`);
    const [record] = parseCybersourceSummary('cybersource', summary([app('ics_auth')], { clientReferenceInformation: { code } }));
    expect(record.operationId).toBeUndefined();
    expect(record.merchantReference).toBe(code);
  });

  it('carries no card or customer data', () => {
    const text = JSON.stringify(parseCybersourceSummary('cybersource', summary([app('ics_auth'), app('ics_bill')])));
    expect(text).not.toMatch(/1111|411111|Jane|jane@/);
  });

  it('refuses a summary without a time, naming it', () => {
    expect(() => parseCybersourceSummary('cybersource', summary([app('ics_auth')], { submitTimeUtc: 'yesterday' }))).toThrow(/submitTimeUtc/);
    // Strictly "YYYY-MM-DDThh:mm:ssZ": without its Z (read in the server's zone by Date.parse), past year 9999 or off
    // the calendar, it is no time either.
    for (const submitTimeUtc of ['2026-11-02T17:59:34', '+010000-01-01T00:00:00Z', '2026-02-30T00:00:00Z'])
      expect(() => parseCybersourceSummary('cybersource', summary([app('ics_auth')], { submitTimeUtc }))).toThrow(/submitTimeUtc/);
  });
});

describe('search request', () => {
  it('searches submitTimeUtc over the window, oldest first, by offset', () => {
    expect(cybersourceSearchBody({ from: Date.parse('2026-11-01T00:00:00Z'), to: Date.parse('2026-11-02T00:00:00.500Z') }, 500)).toEqual({
      save: false,
      name: 'payment-bridge reconciliation',
      timezone: 'UTC',
      query: 'submitTimeUtc:[2026-11-01T00:00:00Z TO 2026-11-02T00:00:01Z}',
      offset: 500,
      limit: 500,
      sort: 'submitTimeUtc:asc,id:asc',
    });
  });

  it('is declared on the Cybersource gateway', () => {
    expect(cybersourceGateway.reconciliation?.source).toMatch(/tss\/v2\/searches/);
  });
});

describe('a service name that holds a card number', () => {
  it('is reported as unreadable_type in the record and its line id', () => {
    const [record] = parseCybersourceSummary('cybersource', summary([app('ics_4111111111111111')]));
    expect(record).toMatchObject({ kind: 'other', pspType: 'unreadable_type', lineId: '5330579747706214203011:unreadable_type' });
  });
});

describe('Cybersource partial approvals (reason code 110)', () => {
  const WINDOW = { from: Date.parse('2026-11-02T00:00:00Z'), to: Date.parse('2026-11-03T00:00:00Z') };
  /** A sale of 100.00 EUR the issuer approved for 60.00: the summary names only the amount asked. */
  const partial = summary([app('ics_auth', '1', '110'), app('ics_bill')], { id: '5330579747706214203099' });
  const whole = summary([app('ics_auth')], { id: '5330579747706214203011', clientReferenceInformation: { code: 'op-auth-2' } });

  function fakeHttp(details: Record<string, unknown> | null): { http: ReconciliationHttp; sent: string[] } {
    const sent: string[] = [];
    const http: ReconciliationHttp = {
      send: (req: { method: string; path: string }) => {
        sent.push(`${req.method} ${req.path}`);
        if (req.method === 'POST') {
          return Promise.resolve({ status: 201, body: JSON.stringify({ totalCount: 2, _embedded: { transactionSummaries: [partial, whole] } }) });
        }
        return Promise.resolve(details === null ? { status: 404, body: '' } : { status: 200, body: JSON.stringify(details) });
      },
      stream: () => {
        throw new Error('not used');
      },
    } as unknown as ReconciliationHttp;
    return { http, sent };
  }

  async function read(http: ReconciliationHttp): Promise<PspRecordPage[]> {
    const pages: PspRecordPage[] = [];
    for await (const page of cybersourceRecordReader({ ...cybersourceGatewayConfig, name: 'cybersource' }, http).read(WINDOW)) pages.push(page);
    return pages;
  }

  it('knows a partial approval by its reason code, on the summary or a service', () => {
    expect(isCybersourcePartialApproval(partial)).toBe(true);
    expect(isCybersourcePartialApproval(summary([app('ics_auth')], { applicationInformation: { reasonCode: '110', applications: [] } }))).toBe(true);
    expect(isCybersourcePartialApproval(whole)).toBe(false);
  });

  it('reads the amount authorized from the transaction details, for the authorization and its capture, never the amount asked', async () => {
    const details = { id: partial.id, orderInformation: { amountDetails: { totalAmount: '100.00', authorizedAmount: '60.00', currency: 'EUR' } } };
    const { http, sent } = fakeHttp(details);
    const pages = await read(http);
    const records = pages.flatMap((p) => p.records);
    expect(records.map((r) => [r.lineId, r.kind, r.amount, r.currency])).toEqual([
      ['5330579747706214203099:ics_auth', 'authorization', 6000, 'EUR'],
      ['5330579747706214203099:ics_bill', 'capture', 6000, 'EUR'],
      ['5330579747706214203011:ics_auth', 'authorization', 10000, 'EUR'],
    ]);
    // One details request, for the partial approval only.
    expect(sent).toEqual(['POST /tss/v2/searches', 'GET /tss/v2/transactions/5330579747706214203099']);
  });

  it('makes a partial approval whose details name no amount authorized an unreadable line, not a mismatch', async () => {
    const { http } = fakeHttp({ id: partial.id, orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'EUR' } } });
    const [page] = await read(http);
    expect(page.records.map((r) => r.lineId)).toEqual(['5330579747706214203011:ics_auth']);
    expect(page.unreadable).toEqual([
      {
        line: '5330579747706214203099',
        field: 'orderInformation.amountDetails.authorizedAmount',
        problem: 'is missing from the details of a partial approval',
      },
    ]);
  });

  it('stops on details it cannot get (they lag behind the search), for the run to read the page again', async () => {
    const { http } = fakeHttp(null);
    await expect(read(http)).rejects.toBeInstanceOf(GatewayError);
  });
});

import { Ledger } from '../../../src/ledger/ledger';
import { channelCommand } from '../../support/fixtures';
import { useCybersourceStandIn } from '../../support/cybersource-stand-in';

/** 22-digit Cybersource payment ids (no Luhn-valid card-length window). */
const PARTIAL_ID = '6381278241084565908266';
const WHOLE_ID = '7000000000000000000001';

type Json = Record<string, unknown>;

/**
 * A local Cybersource stand-in answering as the 2020-02-17 spec shapes it: a transaction search summary
 * carries `orderInformation.amountDetails.totalAmount` (the amount asked) and no `authorizedAmount`; the
 * transaction's details (`GET /tss/v2/transactions/{id}`) carry `authorizedAmount`. The details of the
 * partial authorization answer 404 until `detailsReady` (Cybersource: a new transaction's details can lag;
 * "retry the API call 5 minutes later").
 */
const psp = { detailsReady: false, searches: 0, details: 0, payments: 0 };
/** Search summaries by merchant reference (several: a resend is a new transaction under the same reference). */
const summaries = new Map<string, Json[]>();

function summary(id: string, status: string, reasonCode: string, submitTimeUtc = '2026-11-29T13:00:00Z'): Json {
  return {
    id,
    submitTimeUtc,
    applicationInformation: { status, rCode: '1', rFlag: 'SOK', reasonCode, applications: [{ name: 'ics_auth', rCode: '1', reasonCode }] },
    orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'USD' } },
  };
}

const standIn = useCybersourceStandIn(({ method, url, body }) => {
  if (method === 'POST' && url === '/tss/v2/searches') {
    psp.searches += 1;
    const reference = /clientReferenceInformation\.code:(\S+)/.exec((JSON.parse(body) as { query: string }).query)?.[1] ?? '';
    const found = summaries.get(reference);
    // Cybersource echoes the merchant reference a summary carries: the inquiry keeps only its own.
    const listed = (found ?? []).map((s) => ({ ...s, clientReferenceInformation: { code: reference } }));
    return { status: 201, body: { totalCount: listed.length, _embedded: { transactionSummaries: listed } } };
  }
  if (method === 'GET' && url === `/tss/v2/transactions/${PARTIAL_ID}`) {
    psp.details += 1;
    if (!psp.detailsReady) return { status: 404, body: { message: 'The requested resource does not exist' } };
    return {
      status: 200,
      body: {
        id: PARTIAL_ID,
        status: 'PARTIAL_AUTHORIZED',
        applicationInformation: { status: 'PARTIAL_AUTHORIZED', rCode: '1', rFlag: 'SOK', reasonCode: '110' },
        orderInformation: { amountDetails: { totalAmount: '100.00', authorizedAmount: '60.00', currency: 'USD' } },
      },
    };
  }
  if (method === 'POST' && url === '/pts/v2/payments') psp.payments += 1;
  return undefined;
});

describe('Cybersource: a status inquiry resolving an authorization whose answer was lost', () => {
  const stack = () => standIn.stack();

  /** An authorization of 100.00 USD that left and whose answer was lost: UNKNOWN, asked about before any resend. */
  async function unknownAuthorization(ledger: Ledger, found: (reference: string) => Json | Json[]): Promise<string> {
    const command = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
    const id = command.payment.operation_reference!;
    const listed = found(id);
    summaries.set(id, Array.isArray(listed) ? listed : [listed]);
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
    return id;
  }

  it('reports the amount Cybersource authorized in part (from the transaction details), waiting out their lag without failing or resending; a whole authorization costs one request', async () => {
    const { ledger, events, service } = stack();
    const partial = await unknownAuthorization(ledger, () => summary(PARTIAL_ID, 'PARTIAL_AUTHORIZED', '110'));
    const whole = await unknownAuthorization(ledger, () => summary(WHOLE_ID, 'AUTHORIZED', '100'));
    let before = { ...psp };

    // The search finds the partial authorization; its details are not there yet: still UNKNOWN, asked again later.
    expect((await service.deliver(partial)).kind).toBe('retry');
    expect((await ledger.get(partial))?.state).toBe('UNKNOWN');
    expect(await events.load(`${partial}.SUCCEEDED`)).toBeNull();
    expect(await events.load(`${partial}.FAILED`)).toBeNull();

    psp.detailsReady = true;
    expect(await service.deliver(partial)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(partial)).toMatchObject({ confirmedAmount: 6000, confirmedCurrency: 'USD' });
    const settled = await events.load(`${partial}.SUCCEEDED`);
    expect(settled?.params.payment).toMatchObject({ status: 'SUCCESS', amount: 6000, requested_amount: 10000, discrepancy: 'amount_mismatch' });
    expect({ searches: psp.searches - before.searches, details: psp.details - before.details, payments: psp.payments - before.payments }).toEqual({
      searches: 2,
      details: 2,
      payments: 0,
    });

    // The summary calls the other approval whole: settled from the search alone.
    before = { ...psp };
    expect(await service.deliver(whole)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const event = await events.load(`${whole}.SUCCEEDED`);
    expect(event?.params.payment).toMatchObject({ status: 'SUCCESS', amount: 10000 });
    expect((event?.params.payment as Json | undefined)?.discrepancy).toBeUndefined();
    expect({ searches: psp.searches - before.searches, details: psp.details - before.details }).toEqual({ searches: 1, details: 0 });
  });

  it('reports an authorization whose first attempt Cybersource approved (its answer lost) as SUCCEEDED, never FAILED, when a newer resend of it was declined', async () => {
    const { ledger, events, service } = stack();
    // Approved at 13:00, the answer lost; resent at 13:20 (past the 15-minute duplicate check) and declined.
    const id = await unknownAuthorization(ledger, () => [
      summary('7000000000000000000009', 'DECLINED', '203', '2026-11-29T13:20:00Z'),
      summary(WHOLE_ID, 'AUTHORIZED', '100'),
    ]);
    const before = { ...psp };

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    // Captures and cancels of it use the live authorization's id, and its validity counts from the approval.
    expect(await ledger.get(id)).toMatchObject({ confirmedAmount: 10000, confirmedCurrency: 'USD', gatewayReference: WHOLE_ID, gatewayStatus: 'AUTHORIZED' });
    expect(await ledger.get(id)).toMatchObject({ pspSucceededAt: Date.parse('2026-11-29T13:00:00Z') });
    expect((await events.load(`${id}.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS', amount: 10000 });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect({ searches: psp.searches - before.searches, payments: psp.payments - before.payments }).toEqual({ searches: 1, payments: 0 });
  });
});

describe('Cybersource: a status inquiry resolving a capture whose answer was lost', () => {
  it('reports a capture whose first attempt Cybersource took (its answer lost) as SUCCEEDED, never FAILED, when a newer resend of it was refused', async () => {
    const { ledger, events, service } = standIn.stack();
    const command = channelCommand('capture', {}, { gateway: 'cybs', gateway_key: '7000000000000000000010', amount: 10000, currency: 'USD' });
    const id = command.payment.operation_reference!;
    // Captured at 13:00 (a 5xx answered it); resent at 13:20 and refused: the first capture used the authorization.
    const captureOf = (transaction: string, rCode: string, reasonCode: string, submitTimeUtc: string): Json => ({
      id: transaction,
      submitTimeUtc,
      ...(rCode === '1' ? { status: 'PENDING' } : {}),
      applicationInformation: { rCode, reasonCode, ...(rCode === '1' ? {} : { rFlag: 'DINVALIDDATA' }), applications: [{ name: 'ics_bill', rCode }] },
      orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'USD' } },
    });
    summaries.set(id, [
      captureOf('7000000000000000000019', '0', '235', '2026-11-29T13:20:00Z'),
      captureOf('7000000000000000000011', '1', '100', '2026-11-29T13:00:00Z'),
    ]);
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
    const before = { ...psp };

    const got = await service.deliver(id);
    expect(got).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({ gatewayReference: '7000000000000000000011', pspSucceededAt: Date.parse('2026-11-29T13:00:00Z') });
    expect((await events.load(`${id}.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS', amount: 10000 });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect({ searches: psp.searches - before.searches, payments: psp.payments - before.payments }).toEqual({ searches: 1, payments: 0 });
  });
});

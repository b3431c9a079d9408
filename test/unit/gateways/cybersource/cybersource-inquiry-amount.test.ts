import { CommandType, Payment } from '../../../../src/contracts/payment-command';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { GatewayOutcome, GatewayResponse, OperationContext, StatusAnswer } from '../../../../src/gateways/gateway-adapter';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { thrownBy } from '../../../support/thrown';
import { PAYMENT_ID, ctx, gateway, response } from './cybersource-test-fixtures';

/**
 * What a status inquiry reports for an authorization Cybersource approved in part. A search summary
 * (`_embedded.transactionSummaries[]`, 2020-02-17 spec) carries `orderInformation.amountDetails.totalAmount`
 * and `currency` only, `totalAmount` being the amount asked; the transaction's details
 * (`GET /tss/v2/transactions/{id}`) carry `authorizedAmount`, "Amount that was authorized". The command
 * asked for 102.21 USD (`ctx`).
 */

type Json = Record<string, unknown>;

/** A summary shaped as the spec's, trimmed to what is read; `applicationInformation` as given. */
const SUBMITTED = Date.parse('2026-11-22T10:05:00Z');

function summary(applicationInformation: Json, amountDetails: Json = { totalAmount: '102.21', currency: 'USD' }, id: unknown = PAYMENT_ID): Json {
  return {
    id,
    submitTimeUtc: '2026-11-22T10:05:00Z',
    clientReferenceInformation: { code: 'op-authorize-1' },
    applicationInformation,
    orderInformation: { amountDetails },
  };
}

const PARTIAL: Json = {
  status: 'PARTIAL_AUTHORIZED',
  rCode: '1',
  rFlag: 'SOK',
  reasonCode: '110',
  applications: [{ name: 'ics_auth', rCode: '1', reasonCode: '110' }],
};
const WHOLE: Json = { status: 'AUTHORIZED', rCode: '1', rFlag: 'SOK', reasonCode: '100', applications: [{ name: 'ics_auth', rCode: '1', reasonCode: '100' }] };

function search(...summaries: Json[]): GatewayResponse {
  return response(201, { searchId: 's1', count: summaries.length, totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
}

/** Transaction Details of the payment, shaped as the spec's 200 schema, trimmed. */
function details(amountDetails: Json, applicationInformation: Json = PARTIAL, id = PAYMENT_ID): GatewayResponse {
  return response(200, {
    id,
    submitTimeUTC: '2026-11-22T10:05:00Z',
    status: applicationInformation.status,
    applicationInformation,
    orderInformation: { amountDetails },
  });
}

/** The first round trip as `inquireStatus` hands it to the follow-up. */
function inquire(c: OperationContext, first: GatewayResponse): StatusAnswer {
  const outcome = t.parseStatusResponse(c, first, gateway);
  if (outcome === null) throw new Error('the search found nothing');
  return { outcome, response: first };
}

const followUp = t.statusFollowUp!;

function authorize(command: CommandType = 'authorize', payment: Partial<Payment> = {}): OperationContext {
  return ctx(command, payment);
}

describe('Cybersource status inquiry: the amount a partial authorization holds', () => {
  it('reads no amount from a PARTIAL_AUTHORIZED summary (its totalAmount is the amount asked) and asks for its transaction details', () => {
    const first = inquire(authorize(), search(summary(PARTIAL)));
    expect(first.outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'PARTIAL_AUTHORIZED',
      gatewayReference: PAYMENT_ID,
      currency: 'USD',
      authorizedAt: SUBMITTED,
      occurredAt: SUBMITTED,
    });
    expect(followUp.buildRequest(authorize(), first, gateway)).toEqual({
      method: 'GET',
      path: `/tss/v2/transactions/${PAYMENT_ID}`,
      headers: { accept: 'application/hal+json;charset=utf-8, application/json;charset=utf-8' },
    });
  });

  it('reports the authorized amount of the details, below the amount asked, as a partial approval', () => {
    const first = inquire(authorize(), search(summary(PARTIAL)));
    const outcome = followUp.parseResponse(authorize(), first, details({ totalAmount: '102.21', authorizedAmount: '60.00', currency: 'USD' }), gateway);
    expect(outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'PARTIAL_AUTHORIZED',
      gatewayReference: PAYMENT_ID,
      amount: 6000,
      currency: 'USD',
      partialApproval: true,
      authorizedAt: SUBMITTED,
      occurredAt: SUBMITTED,
    });
  });

  it('asks for the details when only the reason code says the approval was partial (110), of the request or of its ics_auth', () => {
    const onRequest = { rCode: '1', rFlag: 'SOK', reasonCode: '110' };
    const onAuth = { rCode: '1', rFlag: 'SOK', applications: [{ name: 'ics_auth', rCode: '1', reasonCode: 110 }] };
    for (const app of [onRequest, onAuth]) {
      const first = inquire(authorize(), search(summary(app)));
      expect(first.outcome.amount).toBeUndefined();
      expect(followUp.buildRequest(authorize(), first, gateway)?.path).toBe(`/tss/v2/transactions/${PAYMENT_ID}`);
    }
  });

  it('reads when Cybersource authorized it from the earliest submitTimeUtc of the operation’s transactions, not the newest', () => {
    // A request held for review, then the review's later transaction: the authorization is the first one.
    const held = { ...summary(WHOLE, undefined, '7000000000000000000001'), submitTimeUtc: '2026-11-19T10:05:00Z' };
    expect(inquire(authorize(), search(held, summary(WHOLE))).outcome.authorizedAt).toBe(Date.parse('2026-11-19T10:05:00Z'));
  });

  it('reads the transaction details’ submitTimeUTC (its spelling in the details schema) when the search named no time', () => {
    const untimed = { ...summary(PARTIAL), submitTimeUtc: undefined };
    const first = inquire(authorize(), search(untimed));
    expect(first.outcome.authorizedAt).toBeUndefined();
    const outcome = followUp.parseResponse(authorize(), first, details({ totalAmount: '102.21', authorizedAmount: '60.00', currency: 'USD' }), gateway);
    expect(outcome.authorizedAt).toBe(SUBMITTED);
  });

  it('asks for the details of the newest transaction only', () => {
    const older = { ...summary(WHOLE, undefined, '7000000000000000000001'), submitTimeUtc: '2026-11-22T10:00:00Z' };
    const first = inquire(authorize(), search(older, summary(PARTIAL)));
    expect(followUp.buildRequest(authorize(), first, gateway)?.path).toBe(`/tss/v2/transactions/${PAYMENT_ID}`);
  });

  it('takes no second round trip when the summary says the approval was whole', () => {
    const first = inquire(authorize(), search(summary(WHOLE)));
    expect(first.outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'AUTHORIZED',
      gatewayReference: PAYMENT_ID,
      amount: 10221,
      currency: 'USD',
      authorizedAt: SUBMITTED,
      occurredAt: SUBMITTED,
    });
    expect(followUp.buildRequest(authorize(), first, gateway)).toBeNull();
  });

  it('takes no second round trip for a capture, a refused authorization, or one still waiting for the customer', () => {
    const capture = ctx('capture', {}, 'op-authorize-1');
    expect(followUp.buildRequest(capture, inquire(capture, search(summary({ rCode: '1', rFlag: 'SOK' }))), gateway)).toBeNull();
    const declined = inquire(authorize(), search(summary({ status: 'DECLINED', rCode: '0', rFlag: 'DINSUFFICIENTFUNDS', reasonCode: '204' })));
    expect(followUp.buildRequest(authorize(), declined, gateway)).toBeNull();
    const challenge = inquire(authorize(), search(summary({ status: 'PENDING_AUTHENTICATION', rCode: '0', reasonCode: '475' })));
    expect(followUp.buildRequest(authorize(), challenge, gateway)).toBeNull();
  });

  it('asks for the details when the summary says nothing either way (no status, no reason code)', () => {
    const first = inquire(authorize(), search(summary({ rCode: '1', rFlag: 'SOK' })));
    expect(first.outcome.amount).toBe(10221);
    expect(followUp.buildRequest(authorize(), first, gateway)?.path).toBe(`/tss/v2/transactions/${PAYMENT_ID}`);
    // Its details show the whole amount authorized: the same outcome, no partial approval.
    const whole = followUp.parseResponse(authorize(), first, details({ totalAmount: '102.21', authorizedAmount: '102.21', currency: 'USD' }, WHOLE), gateway);
    expect(whole).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'SOK',
      gatewayReference: PAYMENT_ID,
      amount: 10221,
      currency: 'USD',
      authorizedAt: SUBMITTED,
      occurredAt: SUBMITTED,
    });
  });

  it('keeps the first outcome when details without authorizedAmount say the approval was whole', () => {
    const first = inquire(authorize(), search(summary({ rCode: '1', rFlag: 'SOK' })));
    expect(followUp.parseResponse(authorize(), first, details({ totalAmount: '102.21', currency: 'USD' }, WHOLE), gateway)).toEqual(first.outcome);
  });

  it('refuses as unreadable a partial approval whose details name no authorizedAmount, or one it cannot read exactly', () => {
    const first = inquire(authorize(), search(summary(PARTIAL)));
    for (const amounts of [
      { totalAmount: '102.21', currency: 'USD' },
      { authorizedAmount: '60.001', currency: 'USD' },
      { authorizedAmount: 'sixty', currency: 'USD' },
    ]) {
      const err = thrownBy(() => followUp.parseResponse(authorize(), first, details(amounts), gateway), GatewayError);
      expect(err).toMatchObject({ kind: 'outcome_unknown', retryable: true });
    }
  });

  it('refuses as unreadable details that are not JSON, or that are of another transaction', () => {
    const first = inquire(authorize(), search(summary(PARTIAL)));
    expect(() => followUp.parseResponse(authorize(), first, response(200, '<html>'), gateway)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
    const other = details({ authorizedAmount: '60.00', currency: 'USD' }, PARTIAL, '7000000000000000000001');
    expect(() => followUp.parseResponse(authorize(), first, other, gateway)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
  });

  it('treats a 404 of the details as their lag (retried, the PSP has the request), and classifies other errors as a read', () => {
    const first = inquire(authorize(), search(summary(PARTIAL)));
    const lag = thrownBy(() => followUp.parseResponse(authorize(), first, response(404, ''), gateway), GatewayError);
    expect(lag).toMatchObject({ kind: 'outcome_unknown', retryable: true, details: { httpStatus: 404, pspHasRequest: true } });
    const down = thrownBy(
      () => followUp.parseResponse(authorize(), first, response(502, { status: 'SERVER_ERROR', reason: 'SYSTEM_ERROR' }), gateway),
      GatewayError,
    );
    expect(down).toMatchObject({ kind: 'server_error', retryable: true });
  });

  it('refuses as unreadable a partial summary without a usable transaction id', () => {
    const { id: _id, ...withoutId } = summary(PARTIAL);
    for (const partial of [withoutId, summary(PARTIAL, undefined, ''), summary(PARTIAL, undefined, '..')]) {
      const first = inquire(authorize(), search(partial));
      expect(() => followUp.buildRequest(authorize(), first, gateway)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
    }
  });

  it('reads the authorized amount in exact minor units of a three-decimal currency', () => {
    const kwd = authorize('authorize', { amount: 10000, currency: 'KWD' });
    const first = inquire(kwd, search(summary(PARTIAL, { totalAmount: '10.000', currency: 'KWD' })));
    const outcome: GatewayOutcome = followUp.parseResponse(kwd, first, details({ totalAmount: '10.000', authorizedAmount: '7.125', currency: 'KWD' }), gateway);
    expect(outcome).toMatchObject({ amount: 7125, currency: 'KWD', partialApproval: true });
  });

  it('keeps what a sale and a revalidation add to the first outcome (the sale not yet captured, the new key)', () => {
    const sale = inquire(ctx('sale', {}, 'op-authorize-1'), search(summary(PARTIAL)));
    expect(sale.outcome.status).toBe('PENDING');
    expect(followUp.parseResponse(ctx('sale', {}, 'op-authorize-1'), sale, details({ authorizedAmount: '60.00', currency: 'USD' }), gateway)).toMatchObject({
      status: 'PENDING',
      gatewayStatus: 'PARTIAL_AUTHORIZED (not captured)',
      amount: 6000,
    });
    const revalidate = inquire(ctx('revalidate', {}, 'op-authorize-1'), search(summary(PARTIAL)));
    expect(
      followUp.parseResponse(ctx('revalidate', {}, 'op-authorize-1'), revalidate, details({ authorizedAmount: '60.00', currency: 'USD' }), gateway),
    ).toMatchObject({
      newGatewayKey: PAYMENT_ID,
      amount: 6000,
      partialApproval: true,
    });
  });

  it('asks for the details of the newest summary of its own merchant reference, never of another one', () => {
    const theirs = { ...summary(PARTIAL, undefined, 'THEIRS'), submitTimeUtc: '2026-11-22T10:09:00Z', clientReferenceInformation: { code: 'op-authorize-2' } };
    const first = inquire(authorize(), search(theirs, summary(PARTIAL)));
    expect(followUp.buildRequest(authorize(), first, gateway)?.path).toBe(`/tss/v2/transactions/${PAYMENT_ID}`);
  });

  it('prefers an authorizedAmount the summary itself carries, and then takes no second round trip', () => {
    const first = inquire(authorize(), search(summary(PARTIAL, { totalAmount: '102.21', authorizedAmount: '60.00', currency: 'USD' })));
    expect(first.outcome).toMatchObject({ amount: 6000, currency: 'USD', partialApproval: true });
    expect(followUp.buildRequest(authorize(), first, gateway)).toBeNull();
  });
});

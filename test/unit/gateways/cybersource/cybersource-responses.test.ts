import { declineOf } from '../../../../src/errors/decline';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { thrownBy } from '../../../support/thrown';
import { merchantReference } from '../../../../src/gateways/cybersource/cybersource-requests';
import { metricValue } from '../../../../src/metrics/metrics-registry';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { PAYMENT_ID, ctx, gateway, response } from './cybersource-test-fixtures';

/** Response bodies shaped as the 2020-02-17 spec's 201 schemas, trimmed to what we read. */
const NEW_AUTH_ID = '6950605680120491268584';

/**
 * The transaction summaries a status search lists for an operation of ours under merchant reference `code`: its own
 * (`application`, e.g. ics_bill, accepted, status PENDING, at 10:00 UTC) and a Business Center void of it under the
 * same reference (accepted, at 11:00 UTC), both for `total` USD (a decimal string, as Cybersource writes it).
 */
function ownAndBusinessCenterVoid(code: string, application: string, total: string) {
  const own = {
    id: PAYMENT_ID,
    submitTimeUtc: '2026-11-22T10:00:00Z',
    status: 'PENDING',
    clientReferenceInformation: { code },
    applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: application, rCode: '1' }] },
    orderInformation: { amountDetails: { totalAmount: total, currency: 'USD' } },
  };
  const voidOf = {
    id: NEW_AUTH_ID,
    submitTimeUtc: '2026-11-22T11:00:00Z',
    clientReferenceInformation: { code },
    applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_void', rCode: '1' }] },
    orderInformation: { amountDetails: { totalAmount: total, currency: 'USD' } },
  };
  return { own, voidOf };
}

describe('Cybersource responses', () => {
  it('maps an authorization to SUCCESS with the payment id and the authorized amount', () => {
    const outcome = t.parseResponse(
      ctx('authorize'),
      response(201, {
        _links: { self: { href: `/pts/v2/payments/${PAYMENT_ID}`, method: 'GET' } },
        id: PAYMENT_ID,
        submitTimeUtc: '2026-11-22T10:00:00Z',
        status: 'AUTHORIZED',
        clientReferenceInformation: { code: 'op-authorize-1' },
        orderInformation: { amountDetails: { authorizedAmount: '102.21', currency: 'USD' } },
        processorInformation: { approvalCode: '888888', responseCode: '100' },
      }),
      gateway,
    );
    expect(outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'AUTHORIZED',
      gatewayReference: PAYMENT_ID,
      amount: 10221,
      currency: 'USD',
      authorizedAt: Date.parse('2026-11-22T10:00:00Z'),
      occurredAt: Date.parse('2026-11-22T10:00:00Z'),
    });
  });

  it('reports the smaller amount of a partial authorization', () => {
    const outcome = t.parseResponse(
      ctx('authorize'),
      response(201, {
        id: PAYMENT_ID,
        status: 'PARTIAL_AUTHORIZED',
        orderInformation: { amountDetails: { totalAmount: '102.21', authorizedAmount: '50.00', currency: 'USD' } },
      }),
      gateway,
    );
    expect(outcome.status).toBe('SUCCESS');
    expect(outcome.amount).toBe(5000);
  });

  it('waits (PENDING, no amount) on a PARTIAL_AUTHORIZED answer without authorizedAmount, instead of confirming the amount asked', () => {
    for (const command of ['authorize', 'sale', 'revalidate'] as const) {
      const outcome = t.parseResponse(
        ctx(command),
        response(201, { id: PAYMENT_ID, status: 'PARTIAL_AUTHORIZED', orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } } }),
        gateway,
      );
      expect(outcome).toMatchObject({ status: 'PENDING', gatewayStatus: 'PARTIAL_AUTHORIZED', gatewayReference: PAYMENT_ID, currency: 'USD' });
      expect(outcome.amount).toBeUndefined();
    }
  });

  it('waits (PENDING, no amount) on a PARTIAL_AUTHORIZED whose authorizedAmount cannot be read exactly, instead of a SUCCESS without an amount', async () => {
    // authorizedAmount is a decimal string in the currency's major units (2 decimals for USD): a third
    // significant decimal is no amount of USD, and rounding it would be a guess at what is held.
    const labels = { psp: 'cybersource', reason: 'amount_not_representable' };
    const before = await metricValue('pb_psp_amount_unreadable_total', labels);
    const outcome = t.parseResponse(
      ctx('authorize'),
      response(201, {
        id: PAYMENT_ID,
        status: 'PARTIAL_AUTHORIZED',
        orderInformation: { amountDetails: { totalAmount: '102.21', authorizedAmount: '50.005', currency: 'USD' } },
      }),
      gateway,
    );
    expect(outcome).toMatchObject({ status: 'PENDING', gatewayStatus: 'PARTIAL_AUTHORIZED', gatewayReference: PAYMENT_ID, currency: 'USD' });
    expect(outcome.amount).toBeUndefined();
    expect(await metricValue('pb_psp_amount_unreadable_total', labels)).toBe(before + 1);
  });

  it('fails an AUTHORIZED_RISK_DECLINED (Decision Manager refused after the issuer approved) saying the funds are still held', () => {
    const body = {
      id: PAYMENT_ID,
      status: 'AUTHORIZED_RISK_DECLINED',
      errorInformation: { reason: 'DECISION_PROFILE_REJECT' },
      orderInformation: { amountDetails: { authorizedAmount: '102.21', currency: 'USD' } },
    };
    for (const command of ['authorize', 'sale'] as const) {
      expect(t.parseResponse(ctx(command), response(201, body), gateway)).toMatchObject({
        status: 'FAIL',
        gatewayStatus: 'AUTHORIZED_RISK_DECLINED',
        gatewayReference: PAYMENT_ID,
        reason: 'DECISION_PROFILE_REJECT',
        fundsHeld: 'risk_declined',
        amount: 10221,
      });
    }
    // A plain decline holds nothing.
    expect(t.parseResponse(ctx('authorize'), response(201, { id: PAYMENT_ID, status: 'DECLINED' }), gateway).fundsHeld).toBeUndefined();
  });

  it('maps a 201 DECLINED to FAIL with the decline reason', () => {
    const outcome = t.parseResponse(
      ctx('sale'),
      response(201, { id: PAYMENT_ID, status: 'DECLINED', errorInformation: { reason: 'EXPIRED_CARD', message: 'Expired card.' } }),
      gateway,
    );
    expect(outcome).toEqual({
      status: 'FAIL',
      gatewayStatus: 'DECLINED',
      gatewayReference: PAYMENT_ID,
      reason: 'EXPIRED_CARD',
      decline: declineOf('expired_card', 'EXPIRED_CARD'),
    });
  });

  it('parses JPY and KWD amounts into exact minor units', () => {
    const jpy = t.parseResponse(
      ctx('authorize', { currency: 'JPY', amount: 1500 }),
      response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '1500', currency: 'JPY' } } }),
      gateway,
    );
    expect(jpy.amount).toBe(1500);
    const kwd = t.parseResponse(
      ctx('authorize', { currency: 'KWD', amount: 1234 }),
      response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '1.234', currency: 'KWD' } } }),
      gateway,
    );
    expect(kwd.amount).toBe(1234);
  });

  it('parses a large amount exactly', () => {
    const big = t.parseResponse(
      ctx('authorize'),
      response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '999999999999.99', currency: 'USD' } } }),
      gateway,
    );
    expect(big.amount).toBe(999_999_999_999_99);
  });

  it('keeps the outcome but reports no amount when the amount has more decimals than the currency has', async () => {
    // The authorization happened (AUTHORIZED): leaving it UNKNOWN would hide held money; the unreadable amount is counted.
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'cybersource', reason: 'amount_not_representable' });
    const res = response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '15.5', currency: 'JPY' } } });
    const outcome = t.parseResponse(ctx('authorize', { currency: 'JPY' }), res, gateway);
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'AUTHORIZED', gatewayReference: PAYMENT_ID, currency: 'JPY' });
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'cybersource', reason: 'amount_not_representable' })).toBe(before + 1);
  });

  it('confirms no money in a currency that is no ISO 4217 code (a card number, a word): neither is reported, and it is counted', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'cybersource', reason: 'currency_not_iso' });
    for (const currency of ['4111 1111 1111 1111', 'DOLLARS']) {
      const res = response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '102.21', currency } } });
      expect(t.parseResponse(ctx('authorize'), res, gateway)).toEqual({ status: 'SUCCESS', gatewayStatus: 'AUTHORIZED', gatewayReference: PAYMENT_ID });
      const named = response(201, { id: PAYMENT_ID, status: 'PENDING', orderInformation: { amountDetails: { currency } } });
      expect(t.parseResponse(ctx('capture'), named, gateway).currency).toBeUndefined();
    }
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'cybersource', reason: 'currency_not_iso' })).toBe(before + 4);
  });

  it('confirms no negative amount: the currency kept, counted as amount_negative', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'cybersource', reason: 'amount_negative' });
    const res = response(201, { id: PAYMENT_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '-102.21', currency: 'USD' } } });
    expect(t.parseResponse(ctx('authorize'), res, gateway)).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'AUTHORIZED',
      gatewayReference: PAYMENT_ID,
      currency: 'USD',
    });
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'cybersource', reason: 'amount_negative' })).toBe(before + 1);
  });

  it('returns the new authorization id as the new gateway key of a revalidation', () => {
    const outcome = t.parseResponse(ctx('revalidate'), response(201, { id: NEW_AUTH_ID, status: 'AUTHORIZED' }), gateway);
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID, newGatewayKey: NEW_AUTH_ID });
  });

  it('gives no new gateway key for a declined revalidation', () => {
    const outcome = t.parseResponse(
      ctx('revalidate'),
      response(201, { id: NEW_AUTH_ID, status: 'DECLINED', errorInformation: { reason: 'INSUFFICIENT_FUND' } }),
      gateway,
    );
    expect(outcome.newGatewayKey).toBeUndefined();
    expect(outcome.reason).toBe('INSUFFICIENT_FUND');
  });

  it('maps a PENDING capture to SUCCESS with the captured amount', () => {
    const outcome = t.parseResponse(
      ctx('capture', { amount: 5000 }),
      response(201, { id: NEW_AUTH_ID, status: 'PENDING', orderInformation: { amountDetails: { totalAmount: '50.00', currency: 'USD' } } }),
      gateway,
    );
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'PENDING', gatewayReference: NEW_AUTH_ID, amount: 5000, currency: 'USD' });
  });

  it('maps a REVERSED reversal to SUCCESS with the reversed amount', () => {
    const outcome = t.parseResponse(
      ctx('cancel'),
      response(201, { id: NEW_AUTH_ID, status: 'REVERSED', reversalAmountDetails: { reversedAmount: '102.21', currency: 'USD' } }),
      gateway,
    );
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'REVERSED', gatewayReference: NEW_AUTH_ID, amount: 10221, currency: 'USD' });
  });

  it('maps a PARTIALLY_REVERSED reversal (the 201 status the reversal API documents beside REVERSED) to SUCCESS with the amount it reversed', () => {
    // Remainder left by partial captures: 52.21 of 102.21 reversed, the authorization partly reversed.
    const outcome = t.parseResponse(
      ctx('cancel', { amount: 5221 }),
      response(201, {
        id: NEW_AUTH_ID,
        status: 'PARTIALLY_REVERSED',
        reversalAmountDetails: { reversedAmount: '52.21', originalTransactionAmount: '102.21', currency: 'USD' },
      }),
      gateway,
    );
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'PARTIALLY_REVERSED', gatewayReference: NEW_AUTH_ID, amount: 5221, currency: 'USD' });
    // Not submitted to the processor: the hold stands, as for REVERSED.
    const notSubmitted = { id: NEW_AUTH_ID, status: 'PARTIALLY_REVERSED', authorizationInformation: { reversalSubmitted: 'N' } };
    expect(t.parseResponse(ctx('cancel'), response(201, notSubmitted), gateway)).toMatchObject({ status: 'FAIL', reason: 'reversal_not_submitted' });
  });

  it('asks about a PARTIALLY_REVERSED reversal that names no amount reversed, instead of confirming the amount asked', () => {
    const body = { id: NEW_AUTH_ID, status: 'PARTIALLY_REVERSED', reversalAmountDetails: { originalTransactionAmount: '102.21', currency: 'USD' } };
    expect(thrownBy(() => t.parseResponse(ctx('cancel', { amount: 5221 }), response(201, body), gateway), GatewayError)).toMatchObject({
      kind: 'outcome_unknown',
    });
  });

  it('maps a REVERSED reversal whose reversalSubmitted is N (not submitted: the hold stands) to FAIL', () => {
    const body = { id: NEW_AUTH_ID, status: 'REVERSED', authorizationInformation: { reversalSubmitted: 'N' } };
    expect(t.parseResponse(ctx('cancel'), response(201, body), gateway)).toMatchObject({ status: 'FAIL', reason: 'reversal_not_submitted' });
    const submitted = { ...body, authorizationInformation: { reversalSubmitted: 'Y' } };
    expect(t.parseResponse(ctx('cancel'), response(201, submitted), gateway).status).toBe('SUCCESS');
  });

  it('maps a void answered FAILED (a 201 status the void API documents beside VOIDED) to FAIL: nothing was voided', () => {
    const body = { id: NEW_AUTH_ID, submitTimeUtc: '2026-11-22T10:00:00Z', status: 'FAILED', clientReferenceInformation: { code: 'op-cancel-1' } };
    const outcome = t.parseResponse({ ...ctx('cancel'), captured: { by: 'sale' } }, response(201, body), gateway);
    expect(outcome).toMatchObject({ status: 'FAIL', gatewayStatus: 'FAILED', reason: 'FAILED', gatewayReference: NEW_AUTH_ID });
    expect(outcome.decline?.category).toBe('processing_error');
    // The void of one of our captures by its own id: a refusal, never a void done.
    const named = t.parseResponse({ ...ctx('cancel'), voidOf: { command: 'capture', operationId: 'op-capture-1' } }, response(201, body), gateway);
    expect(named).toMatchObject({ status: 'FAIL', gatewayStatus: 'FAILED' });
  });

  it('reads FAILED (documented for a void only) from any other request as no result: asked about, never a FAIL', () => {
    const body = { id: NEW_AUTH_ID, submitTimeUtc: '2026-11-22T10:00:00Z', status: 'FAILED' };
    // A capture, a refund, an authorization, a reversal (a cancel of what is not captured): their 201 documents no FAILED.
    for (const context of [ctx('capture'), ctx('refund'), ctx('authorize'), ctx('sale'), ctx('cancel')]) {
      expect(thrownBy(() => t.parseResponse(context, response(201, body), gateway), GatewayError)).toMatchObject({ kind: 'outcome_unknown' });
    }
    // Nor is a transaction search summary of an authorization read FAILED: its rCode decides, as before.
    const summary = { ...body, clientReferenceInformation: { code: 'op-authorize-1' }, applicationInformation: { rCode: '1', reasonCode: '100' } };
    const search = response(201, { totalCount: 1, _embedded: { transactionSummaries: [summary] } });
    expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search, gateway)?.status).toBe('SUCCESS');
    // The void of a capture that took the whole authorization: its FAIL.
    const captured = {
      by: 'capture' as const,
      authorized: { amount: 10221, currency: 'USD' },
      captures: [{ id: 'op-capture-1', amount: 10221, reference: PAYMENT_ID }],
    };
    expect(t.parseResponse({ ...ctx('cancel'), captured } as never, response(201, body), gateway)).toMatchObject({ status: 'FAIL', gatewayStatus: 'FAILED' });
  });

  it('reads a void answered CANCELLED (a 201 status the void API documents beside VOIDED and FAILED, saying neither) as PENDING: the status inquiry decides, never a guess', () => {
    const body = { id: NEW_AUTH_ID, submitTimeUtc: '2026-11-22T10:00:00Z', status: 'CANCELLED', clientReferenceInformation: { code: 'op-cancel-1' } };
    const outcome = t.parseResponse({ ...ctx('cancel'), captured: { by: 'sale' } }, response(201, body), gateway);
    expect(outcome).toMatchObject({ status: 'PENDING', gatewayStatus: 'CANCELLED', gatewayReference: NEW_AUTH_ID });
    expect(outcome.reason).toBeUndefined();
    // The void of one of our captures by its own id counts only where VOIDED is said: asked about.
    const named = { ...ctx('cancel'), voidOf: { command: 'capture' as const, operationId: 'op-capture-1' } };
    expect(thrownBy(() => t.parseResponse(named, response(201, body), gateway), GatewayError)).toMatchObject({ kind: 'outcome_unknown' });
    // Documented for a void only: from any other request (a reversal included) no result, asked about.
    for (const context of [ctx('capture'), ctx('refund'), ctx('authorize'), ctx('cancel')]) {
      expect(thrownBy(() => t.parseResponse(context, response(201, body), gateway), GatewayError)).toMatchObject({ kind: 'outcome_unknown' });
    }
    // A search summary of the void saying CANCELLED decides nothing either; of an authorization, its rCode decides.
    const summary = { ...body, applicationInformation: { rCode: '1', reasonCode: '100' } };
    const search = response(201, { totalCount: 1, _embedded: { transactionSummaries: [summary] } });
    expect(t.parseStatusResponse({ ...ctx('cancel'), captured: { by: 'sale' } }, search, gateway)?.status).toBe('PENDING');
    const authSearch = response(201, {
      totalCount: 1,
      _embedded: { transactionSummaries: [{ ...summary, clientReferenceInformation: { code: 'op-authorize-1' } }] },
    });
    expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), authSearch, gateway)?.status).toBe('SUCCESS');
  });

  it.each([
    ['DAGGREJECTED', 'suspected_fraud'],
    ['DAGGDENIED', 'suspected_fraud'],
    ['DSYSREJECTED', 'processing_error'],
    ['DECISION_PROFILE_CHALLENGE', 'authentication_required'],
  ])('gives the documented errorInformation.reason %s its decline category (%s), never unknown', (reason, category) => {
    for (const command of ['authorize', 'refund'] as const) {
      const body = { id: NEW_AUTH_ID, status: 'DECLINED', errorInformation: { reason, message: 'Declined' } };
      const outcome = t.parseResponse(ctx(command), response(201, body), gateway);
      expect(outcome).toMatchObject({ status: 'FAIL', reason });
      expect(outcome.decline?.category).toBe(category);
    }
  });

  it('maps a VOIDED void (a cancel of a sale or capture) to SUCCESS with the amount it voided', () => {
    const outcome = t.parseResponse(
      { ...ctx('cancel'), captured: { by: 'sale' } },
      response(201, {
        id: NEW_AUTH_ID,
        submitTimeUtc: '2026-11-22T10:00:00Z',
        status: 'VOIDED',
        clientReferenceInformation: { code: 'op-cancel-1' },
        voidAmountDetails: { voidAmount: '102.21', originalTransactionAmount: '102.21', currency: 'usd' },
      }),
      gateway,
    );
    expect(outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'VOIDED',
      gatewayReference: NEW_AUTH_ID,
      amount: 10221,
      currency: 'USD',
      occurredAt: Date.parse('2026-11-22T10:00:00Z'),
    });
  });

  it("maps Cybersource's refusal of a void once the batch settled (400 NOT_VOIDABLE) to a FAIL naming it, operation not permitted", () => {
    const outcome = t.parseResponse(
      {
        ...ctx('cancel'),
        captured: { by: 'capture', authorized: { amount: 10221, currency: 'USD' }, captures: [{ id: 'op-capture-1', reference: NEW_AUTH_ID, amount: 10221 }] },
      },
      response(400, {
        submitTimeUtc: '2026-11-22T10:00:00Z',
        status: 'INVALID_REQUEST',
        reason: 'NOT_VOIDABLE',
        message: 'The capture or credit is not voidable because the capture or credit information has already been submitted to your processor',
      }),
      gateway,
    );
    expect(outcome).toMatchObject({
      status: 'FAIL',
      reason: 'NOT_VOIDABLE',
      decline: declineOf('operation_not_permitted', 'NOT_VOIDABLE', 'reverse_with_new_transaction'),
    });
  });

  it('maps a PENDING refund to SUCCESS with the refunded amount', () => {
    const outcome = t.parseResponse(
      ctx('refund', { amount: 1250 }),
      response(201, { id: NEW_AUTH_ID, status: 'PENDING', refundAmountDetails: { refundAmount: '12.50', currency: 'USD' } }),
      gateway,
    );
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'PENDING', gatewayReference: NEW_AUTH_ID, amount: 1250, currency: 'USD' });
  });

  it('validates from the transaction details application status', () => {
    const outcome = t.parseResponse(
      ctx('validate'),
      response(200, {
        id: PAYMENT_ID,
        applicationInformation: { status: 'AUTHORIZED', reasonCode: '100', rCode: '1', rFlag: 'SOK' },
        orderInformation: { amountDetails: { totalAmount: '102.21', authorizedAmount: '102.21', currency: 'USD' } },
      }),
      gateway,
    );
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'AUTHORIZED', gatewayReference: PAYMENT_ID, amount: 10221, currency: 'USD' });
  });

  it('validates from the rCode when the details carry no status, failing a declined one with its rFlag', () => {
    const outcome = t.parseResponse(
      ctx('validate'),
      response(200, { id: PAYMENT_ID, applicationInformation: { reasonCode: '202', rCode: '0', rFlag: 'DCARDEXPIRED' } }),
      gateway,
    );
    expect(outcome).toMatchObject({ status: 'FAIL', gatewayStatus: 'DCARDEXPIRED', reason: 'DCARDEXPIRED' });
  });

  it('reads when Cybersource authorized it from the answer’s submitTimeUtc; none for a review hold or a capture', () => {
    const answer = (status: string): unknown => ({
      id: PAYMENT_ID,
      submitTimeUtc: '2026-11-22T10:00:00Z',
      status,
      orderInformation: { amountDetails: { currency: 'USD' } },
    });
    expect(t.parseResponse(ctx('revalidate'), response(201, answer('AUTHORIZED')), gateway).authorizedAt).toBe(Date.parse('2026-11-22T10:00:00Z'));
    // Held for review: not an authorization yet on our side; the accept that settles it counts from the first attempt.
    expect(t.parseResponse(ctx('authorize'), response(201, answer('AUTHORIZED_PENDING_REVIEW')), gateway).authorizedAt).toBeUndefined();
    expect(t.parseResponse(ctx('capture'), response(201, answer('PENDING')), gateway).authorizedAt).toBeUndefined();
  });

  it('fails validation of an unknown authorization as not_found', () => {
    expect(() => t.parseResponse(ctx('validate'), response(404, { status: 'NOT_FOUND' }), gateway)).toThrow(expect.objectContaining({ kind: 'not_found' }));
  });

  it('returns the ACTIVE payment instrument id as the new gateway key of a tokenization', () => {
    const outcome = t.parseResponse(
      ctx('tokenize'),
      response(201, { id: 'AB695DA801DD1BB6E05341588E0A3BDC', object: 'paymentInstrument', state: 'ACTIVE', card: { type: 'visa' } }),
      gateway,
    );
    expect(outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'ACTIVE',
      gatewayReference: 'AB695DA801DD1BB6E05341588E0A3BDC',
      newGatewayKey: 'AB695DA801DD1BB6E05341588E0A3BDC',
      storedCard: { brand: 'visa' },
    });
  });

  it("reads the stored card of a tokenization from the payment instrument: card type, expiry, last four of the identifier's masked number", () => {
    const instrument = {
      id: 'AB695DA801DD1BB6E05341588E0A3BDC',
      object: 'paymentInstrument',
      state: 'ACTIVE',
      card: { expirationMonth: '09', expirationYear: '2031', type: 'visa' },
      _embedded: { instrumentIdentifier: { id: '7010000000016241111', object: 'instrumentIdentifier', state: 'ACTIVE', card: { number: '411111XXXXXX1111' } } },
    };
    const outcome = t.parseResponse(ctx('tokenize'), response(201, instrument), gateway);
    expect(outcome.storedCard).toEqual({ brand: 'visa', lastFour: '1111', expiryMonth: 9, expiryYear: 2031 });
    expect(JSON.stringify(outcome)).not.toContain('411111');
  });

  it('reads the last four digits of a card a payment stored (TOKEN_CREATE) from paymentInformation.card.suffix', () => {
    const c = ctx('authorize', { payment_method: { type: 'card', token: 'eyJ', store: true } });
    const body = {
      id: PAYMENT_ID,
      status: 'AUTHORIZED',
      tokenInformation: { customer: { id: 'CUST9' } },
      paymentInformation: { card: { suffix: '1111' } },
      orderInformation: { amountDetails: { authorizedAmount: '102.21', currency: 'USD' } },
    };
    expect(t.parseResponse(c, response(201, body), gateway)).toMatchObject({ storedToken: 'CUST9', storedCard: { lastFour: '1111' } });
    // A payment that stores nothing reports no card.
    expect(t.parseResponse(ctx('authorize'), response(201, body), gateway).storedCard).toBeUndefined();
  });

  it('fails a tokenization whose instrument comes back CLOSED', () => {
    expect(t.parseResponse(ctx('tokenize'), response(201, { id: 'X1', state: 'CLOSED' }), gateway)).toMatchObject({ status: 'FAIL', reason: 'CLOSED' });
  });

  it('treats a 2xx whose body is not JSON as an unknown outcome', () => {
    expect(() => t.parseResponse(ctx('capture'), response(201, '<html>'), gateway)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
  });

  describe('status inquiry', () => {
    const summary = (status: string, submitTimeUtc: string, id = PAYMENT_ID): unknown => ({
      id,
      submitTimeUtc,
      clientReferenceInformation: { code: 'op-authorize-1' },
      applicationInformation: { status, rCode: '1', rFlag: 'SOK', reasonCode: '100', applications: [{ name: 'ics_auth', rCode: '1' }] },
      orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
    });

    it('answers null when the search finds nothing', () => {
      expect(t.parseStatusResponse(ctx('authorize'), response(201, { searchId: 's1', count: 0, totalCount: 0, status: 'COMPLETED' }), gateway)).toBeNull();
    });

    it('maps the newest matching transaction', () => {
      const outcome = t.parseStatusResponse(
        ctx('authorize'),
        response(201, {
          searchId: 's1',
          count: 2,
          totalCount: 2,
          _embedded: { transactionSummaries: [summary('DECLINED', '2026-11-22T10:00:00Z', 'OLD'), summary('AUTHORIZED', '2026-11-22T10:05:00Z')] },
        }),
        gateway,
      );
      // Authorized no later than the operation's earliest request (the declined one): the safe bound for its expiry.
      expect(outcome).toEqual({
        status: 'SUCCESS',
        gatewayStatus: 'AUTHORIZED',
        gatewayReference: PAYMENT_ID,
        amount: 10221,
        currency: 'USD',
        authorizedAt: Date.parse('2026-11-22T10:00:00Z'),
        // When the transaction that decides (the newest) happened.
        occurredAt: Date.parse('2026-11-22T10:05:00Z'),
      });
    });

    it('reads an earlier attempt AUTHORIZED under the merchant reference as the authorization, never hidden by a newer attempt DECLINED', () => {
      // The first attempt's answer was lost (a 5xx, a timeout) though Cybersource approved it; the resend (past the 15-minute
      // duplicate check) was declined. The approval is live at the PSP: the OMS must never be told FAILED.
      const search = response(201, {
        totalCount: 2,
        _embedded: { transactionSummaries: [summary('DECLINED', '2026-11-22T10:20:00Z', 'RESENT'), summary('AUTHORIZED', '2026-11-22T10:00:00Z')] },
      });
      for (const command of ['authorize', 'sale', 'revalidate'] as const) {
        const outcome = t.parseStatusResponse(ctx(command, {}, 'op-authorize-1'), search, gateway);
        // A sale's summaries show no capture done: authorized only, it waits (as for a single summary); never FAIL.
        expect(outcome).toMatchObject({ status: command === 'sale' ? 'PENDING' : 'SUCCESS', gatewayReference: PAYMENT_ID, amount: 10221 });
        expect(outcome?.reason).toBeUndefined();
      }
      expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search, gateway)).toEqual({
        status: 'SUCCESS',
        gatewayStatus: 'AUTHORIZED',
        gatewayReference: PAYMENT_ID,
        amount: 10221,
        currency: 'USD',
        authorizedAt: Date.parse('2026-11-22T10:00:00Z'),
        // When the approval that decides happened, not the refusal after it.
        occurredAt: Date.parse('2026-11-22T10:00:00Z'),
      });
      // The revalidation's new key is the live authorization's id.
      expect(t.parseStatusResponse(ctx('revalidate', {}, 'op-authorize-1'), search, gateway)?.newGatewayKey).toBe(PAYMENT_ID);
    });

    it('reads an earlier attempt held for review or approved in part as holding funds over a newer DECLINED; with none holding, the newest still decides', () => {
      const search = (...summaries: unknown[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const declined = summary('DECLINED', '2026-11-22T10:20:00Z', 'RESENT');
      const review = t.parseStatusResponse(
        ctx('authorize', {}, 'op-authorize-1'),
        search(declined, summary('AUTHORIZED_PENDING_REVIEW', '2026-11-22T10:00:00Z')),
        gateway,
      );
      expect(review).toMatchObject({ status: 'PENDING', gatewayStatus: 'AUTHORIZED_PENDING_REVIEW', gatewayReference: PAYMENT_ID });
      const partial = t.parseStatusResponse(
        ctx('authorize', {}, 'op-authorize-1'),
        search(declined, {
          ...(summary('PARTIAL_AUTHORIZED', '2026-11-22T10:00:00Z') as object),
          orderInformation: { amountDetails: { totalAmount: '102.21', authorizedAmount: '60.00', currency: 'USD' } },
        }),
        gateway,
      );
      expect(partial).toMatchObject({ status: 'SUCCESS', gatewayReference: PAYMENT_ID, amount: 6000, partialApproval: true });
      // Two refusals: the newest decides, as before.
      const refused = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(declined, summary('DECLINED', '2026-11-22T10:00:00Z')), gateway);
      expect(refused).toMatchObject({ status: 'FAIL', gatewayReference: 'RESENT', occurredAt: Date.parse('2026-11-22T10:20:00Z') });
      // An attempt that cannot be read (rCode -1: "an error occurred") holds nothing known: it neither hides an approval
      // older than it nor stands over a refusal newer than it.
      const erred = (at: string) => ({
        id: 'ERRED',
        submitTimeUtc: at,
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '-1', rFlag: 'ESYSTEM' },
      });
      const afterApproval = search(erred('2026-11-22T10:20:00Z'), summary('AUTHORIZED', '2026-11-22T10:00:00Z'));
      expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), afterApproval, gateway)).toMatchObject({
        status: 'SUCCESS',
        gatewayReference: PAYMENT_ID,
      });
      const beforeRefusal = search(declined, erred('2026-11-22T10:00:00Z'));
      expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), beforeRefusal, gateway)).toMatchObject({
        status: 'FAIL',
        gatewayReference: 'RESENT',
      });
    });

    it('says so when two attempts under the merchant reference both hold funds (a double authorization), decided by the newest, and counts it', async () => {
      const before = await metricValue('pb_cybersource_inquiry_double_holds_total', { gateway: gateway.name });
      const search = response(201, {
        totalCount: 3,
        _embedded: {
          transactionSummaries: [
            summary('DECLINED', '2026-11-22T10:40:00Z', 'THIRD'),
            summary('AUTHORIZED', '2026-11-22T10:20:00Z', NEW_AUTH_ID),
            summary('AUTHORIZED', '2026-11-22T10:00:00Z'),
          ],
        },
      });
      const outcome = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search, gateway);
      expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID, gatewayStatus: 'AUTHORIZED (2 holding funds)' });
      expect(await metricValue('pb_cybersource_inquiry_double_holds_total', { gateway: gateway.name })).toBe(before + 1);
      // One authorization held for review and then captured by case management (a follow-on ics_bill) is one hold, not two.
      const held = {
        id: PAYMENT_ID,
        submitTimeUtc: '2026-11-22T10:00:00Z',
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', rFlag: 'DREVIEW', reasonCode: '480', applications: [{ name: 'ics_auth', rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      };
      const capture = {
        ...held,
        id: NEW_AUTH_ID,
        submitTimeUtc: '2026-11-22T11:00:00Z',
        applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_bill', rCode: '1' }] },
      };
      const sold = t.parseStatusResponse(
        ctx('sale', {}, 'op-authorize-1'),
        response(201, { totalCount: 2, _embedded: { transactionSummaries: [capture, held] } }),
        gateway,
      );
      expect(sold).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID });
      expect(sold?.gatewayStatus).not.toMatch(/holding funds/);
      expect(await metricValue('pb_cybersource_inquiry_double_holds_total', { gateway: gateway.name })).toBe(before + 1);
    });

    describe('the extra authorizations of a double authorization (outcome.extraHolds, for orphan reversal)', () => {
      const search = (...summaries: unknown[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const older = summary('AUTHORIZED', '2026-11-22T10:00:00Z');
      const newer = summary('AUTHORIZED', '2026-11-22T10:20:00Z', NEW_AUTH_ID);

      it('lists the older of two approvals, with its id and amount, beside the newest that decides', () => {
        const outcome = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(newer, older), gateway);
        expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID });
        expect(outcome?.extraHolds).toEqual([{ pspReference: PAYMENT_ID, amount: 10221, currency: 'USD' }]);
      });

      it('lists an older AUTHORIZED_RISK_DECLINED (still holding funds) beside a newer approval, and counts it a hold', () => {
        const outcome = t.parseStatusResponse(
          ctx('authorize', {}, 'op-authorize-1'),
          search(newer, summary('AUTHORIZED_RISK_DECLINED', '2026-11-22T10:00:00Z')),
          gateway,
        );
        expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID, gatewayStatus: 'AUTHORIZED (2 holding funds)' });
        expect(outcome?.extraHolds).toEqual([{ pspReference: PAYMENT_ID, amount: 10221, currency: 'USD' }]);
      });

      it('lists a newer AUTHORIZED_RISK_DECLINED resend (still holding funds) beside an older approval that decides, and counts it a hold', async () => {
        const before = await metricValue('pb_cybersource_inquiry_double_holds_total', { gateway: gateway.name });
        const outcome = t.parseStatusResponse(
          ctx('authorize', {}, 'op-authorize-1'),
          search(summary('AUTHORIZED_RISK_DECLINED', '2026-11-22T10:20:00Z', NEW_AUTH_ID), older),
          gateway,
        );
        expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: PAYMENT_ID, gatewayStatus: 'AUTHORIZED (2 holding funds)' });
        expect(outcome?.extraHolds).toEqual([{ pspReference: NEW_AUTH_ID, amount: 10221, currency: 'USD' }]);
        expect(await metricValue('pb_cybersource_inquiry_double_holds_total', { gateway: gateway.name })).toBe(before + 1);
      });

      it('lists none beside a release under the merchant reference that names none of them: which holds are live cannot be told', () => {
        const reversal = {
          id: 'REVERSAL',
          submitTimeUtc: '2026-11-22T10:10:00Z',
          clientReferenceInformation: { code: 'op-authorize-1' },
          applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_auth_reversal', rCode: '1' }] },
          orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
        };
        const before = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(newer, reversal, older), gateway);
        expect(before).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID });
        expect(before?.extraHolds).toBeUndefined();
        const after = t.parseStatusResponse(
          ctx('authorize', {}, 'op-authorize-1'),
          search({ ...reversal, submitTimeUtc: '2026-11-22T10:30:00Z' }, newer, older),
          gateway,
        );
        expect(after).toMatchObject({ status: 'PENDING' });
        expect(after?.extraHolds).toBeUndefined();
      });

      it('lists none for a sale (a double charge is captured money: reported only) nor for one approval alone', () => {
        const sold = (s: unknown) => {
          const copy = JSON.parse(JSON.stringify(s)) as { applicationInformation: { applications: unknown[] } };
          copy.applicationInformation.applications.push({ name: 'ics_bill', rCode: '1' });
          return copy;
        };
        const sale = t.parseStatusResponse(ctx('sale', {}, 'op-authorize-1'), search(sold(newer), sold(older)), gateway);
        expect(sale).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID, gatewayStatus: 'AUTHORIZED (2 holding funds)' });
        expect(sale?.extraHolds).toBeUndefined();
        expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(older), gateway)?.extraHolds).toBeUndefined();
      });
    });

    it('releases the approval that decides only by a release not older than it', () => {
      const reversal = {
        id: 'REVERSAL',
        submitTimeUtc: '2026-11-22T10:30:00Z',
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_auth_reversal', rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      };
      const search = (...summaries: unknown[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const declined = summary('DECLINED', '2026-11-22T10:40:00Z', 'RESENT');
      // Approved at 10:00, reversed whole at 10:30 (a Business Center reversal), a resend declined at 10:40: nothing is held.
      const released = t.parseStatusResponse(
        ctx('authorize', {}, 'op-authorize-1'),
        search(declined, reversal, summary('AUTHORIZED', '2026-11-22T10:00:00Z')),
        gateway,
      );
      expect(released).toMatchObject({ status: 'FAIL', reason: 'AUTH_ALREADY_REVERSED', gatewayReference: PAYMENT_ID });
      // A reversal before the approval released something else: the approval stands.
      const earlier = { ...reversal, submitTimeUtc: '2026-11-22T09:00:00Z' };
      const stands = t.parseStatusResponse(
        ctx('authorize', {}, 'op-authorize-1'),
        search(declined, summary('AUTHORIZED', '2026-11-22T10:00:00Z'), earlier),
        gateway,
      );
      expect(stands).toMatchObject({ status: 'SUCCESS', gatewayReference: PAYMENT_ID });
    });

    it('never reads one release beside two authorizations holding funds as the whole release: which of them it released is unknown', () => {
      const reversal = (id: string, at: string) => ({
        id,
        submitTimeUtc: at,
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_auth_reversal', rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      });
      const search = (...summaries: unknown[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const first = summary('AUTHORIZED', '2026-11-22T10:00:00Z');
      const second = summary('AUTHORIZED', '2026-11-22T10:20:00Z', NEW_AUTH_ID);
      // The Business Center reversal of one of them at 10:30 (the RUNBOOK's: every one but the gateway_reference): the
      // search does not say which, and one stays live. Never FAIL (AUTH_ALREADY_REVERSED): the OMS would be told the
      // authorization failed while one holds the customer's funds. It waits for a person.
      const one = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(reversal('R1', '2026-11-22T10:30:00Z'), second, first), gateway);
      expect(one?.status).not.toBe('FAIL');
      expect(one).toMatchObject({ status: 'PENDING' });
      // One reversal older than the newer authorization released the older one: the newer stands.
      const older = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(second, reversal('R1', '2026-11-22T10:10:00Z'), first), gateway);
      expect(older).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID });
      // As many whole releases as authorizations, none older than the first: nothing is held.
      const both = t.parseStatusResponse(
        ctx('authorize', {}, 'op-authorize-1'),
        search(reversal('R2', '2026-11-22T10:35:00Z'), reversal('R1', '2026-11-22T10:30:00Z'), second, first),
        gateway,
      );
      expect(both).toMatchObject({ status: 'FAIL', reason: 'AUTH_ALREADY_REVERSED' });
    });

    it('keeps a sale PENDING while its transactions show no capture (held by a review), and SUCCESS once one does', () => {
      const authorizedOnly = response(201, { totalCount: 1, _embedded: { transactionSummaries: [summary('AUTHORIZED', '2026-11-22T10:05:00Z')] } });
      const sale = ctx('sale', {}, 'op-authorize-1');
      expect(t.parseStatusResponse(sale, authorizedOnly, gateway)?.status).toBe('PENDING');
      const sold = summary('AUTHORIZED', '2026-11-22T10:05:00Z') as { applicationInformation: { applications: unknown[] } };
      sold.applicationInformation.applications.push({ name: 'ics_bill', rCode: '1' });
      const capturedToo = response(201, { totalCount: 1, _embedded: { transactionSummaries: [sold] } });
      expect(t.parseStatusResponse(sale, capturedToo, gateway)?.status).toBe('SUCCESS');
    });

    it('never reads a release of the authorization under its merchant reference (a reversal or void the bridge did not send) as its success', async () => {
      const before = await metricValue('pb_cybersource_inquiry_released_total', { gateway: gateway.name });
      // Held for review (480), then rejected in case management with REVERSE: Decision Manager's reversal carries the
      // payment's merchant reference and is the newest transaction of it; the hold is gone: the authorization's FAIL.
      const held = {
        id: PAYMENT_ID,
        submitTimeUtc: '2026-11-22T10:00:00Z',
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', rFlag: 'DREVIEW', reasonCode: '480', applications: [{ name: 'ics_auth', rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      };
      const reversal = {
        id: NEW_AUTH_ID,
        submitTimeUtc: '2026-11-22T11:00:00Z',
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', rFlag: 'SOK', reasonCode: '100', applications: [{ name: 'ics_auth_reversal', rCode: '1', rFlag: 'SOK' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      };
      const res = response(201, { totalCount: 2, _embedded: { transactionSummaries: [reversal, held] } });
      for (const command of ['authorize', 'sale', 'revalidate'] as const) {
        const outcome = t.parseStatusResponse(ctx(command, {}, 'op-authorize-1'), res, gateway);
        expect(outcome).toMatchObject({ status: 'FAIL', reason: 'AUTH_ALREADY_REVERSED' });
        expect(outcome?.gatewayStatus).toMatch(/released/);
        expect(outcome?.newGatewayKey).toBeUndefined();
      }
      // A void of the sale (its capture undone, Business Center) is no sale either.
      const voided = { ...reversal, applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_void', rCode: '1' }] } };
      const sold = {
        ...held,
        applicationInformation: {
          rCode: '1',
          reasonCode: '100',
          applications: [
            { name: 'ics_auth', rCode: '1' },
            { name: 'ics_bill', rCode: '1' },
          ],
        },
      };
      const saleVoided = response(201, { totalCount: 2, _embedded: { transactionSummaries: [voided, sold] } });
      expect(t.parseStatusResponse(ctx('sale', {}, 'op-authorize-1'), saleVoided, gateway)?.status).toBe('FAIL');
      // A reversal that failed (rCode 0) released nothing: the authorization found stands.
      const refused = {
        ...reversal,
        applicationInformation: { rCode: '0', rFlag: 'DNOAUTH', reasonCode: '233', applications: [{ name: 'ics_auth_reversal', rCode: '0' }] },
      };
      const authorized = { ...held, applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_auth', rCode: '1' }] } };
      const stands = response(201, { totalCount: 2, _embedded: { transactionSummaries: [refused, authorized] } });
      expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), stands, gateway)).toMatchObject({ status: 'SUCCESS', gatewayReference: PAYMENT_ID });
      // A sale held for review and captured by case management's CAPTURE (a follow-on capture): sold, as before.
      const capture = { ...reversal, applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_bill', rCode: '1' }] } };
      const captured = response(201, { totalCount: 2, _embedded: { transactionSummaries: [capture, held] } });
      expect(t.parseStatusResponse(ctx('sale', {}, 'op-authorize-1'), captured, gateway)?.status).toBe('SUCCESS');
      // Counted where an operator looks: the three commands and the voided sale.
      expect(await metricValue('pb_cybersource_inquiry_released_total', { gateway: gateway.name })).toBe(before + 4);
    });

    it('reads a whole release made after the authorization as its FAIL (the PSP refuses any capture of it), a partial or undated one as PENDING', async () => {
      const before = await metricValue('pb_cybersource_inquiry_released_total', { gateway: gateway.name });
      const auth = {
        id: PAYMENT_ID,
        submitTimeUtc: '2026-11-22T10:00:00Z',
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_auth', rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      };
      const reversal = {
        id: NEW_AUTH_ID,
        submitTimeUtc: '2026-11-22T11:00:00Z',
        clientReferenceInformation: { code: 'op-authorize-1' },
        applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_auth_reversal', rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      };
      const search = (...summaries: object[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      // The whole authorization reversed after it was made (a Business Center reversal, Decision Manager's REVERSE): no
      // longer usable (a capture is refused AUTH_ALREADY_REVERSED), nothing held to release.
      for (const command of ['authorize', 'revalidate'] as const) {
        const outcome = t.parseStatusResponse(ctx(command, {}, 'op-authorize-1'), search(reversal, auth), gateway);
        expect(outcome).toMatchObject({ status: 'FAIL', reason: 'AUTH_ALREADY_REVERSED', gatewayReference: PAYMENT_ID });
        expect(outcome?.gatewayStatus).toMatch(/released/);
        expect(outcome?.fundsHeld).toBeUndefined();
        expect(outcome?.newGatewayKey).toBeUndefined();
      }
      // A sale whose capture was voided after it: not sold.
      const sold = {
        ...auth,
        applicationInformation: {
          rCode: '1',
          reasonCode: '100',
          applications: [
            { name: 'ics_auth', rCode: '1' },
            { name: 'ics_bill', rCode: '1' },
          ],
        },
      };
      const voided = { ...reversal, applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: 'ics_void', rCode: '1' }] } };
      expect(t.parseStatusResponse(ctx('sale', {}, 'op-authorize-1'), search(voided, sold), gateway)).toMatchObject({
        status: 'FAIL',
        reason: 'CAPTURE_ALREADY_VOIDED',
      });
      // Part of it reversed, or an amount that cannot be read: the rest may still be held, nothing is decided.
      const partial = { ...reversal, orderInformation: { amountDetails: { totalAmount: '50.00', currency: 'USD' } } };
      const amountless = { ...reversal, orderInformation: undefined };
      for (const release of [partial, amountless]) {
        const outcome = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(release, auth), gateway);
        expect(outcome).toMatchObject({ status: 'PENDING' });
        expect(outcome?.gatewayStatus).toMatch(/released/);
      }
      // A release older than the authorization that decides (an earlier attempt's) released something else: it stands.
      const earlier = { ...reversal, submitTimeUtc: '2026-11-22T09:00:00Z' };
      expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), search(auth, earlier), gateway)).toMatchObject({ status: 'SUCCESS' });
      expect(await metricValue('pb_cybersource_inquiry_released_total', { gateway: gateway.name })).toBe(before + 5);
    });

    it('reads a capture of ours voided after it under its merchant reference (a Business Center void) as its FAIL, dated by the void, never as its success', async () => {
      const before = await metricValue('pb_cybersource_inquiry_voided_total', { gateway: gateway.name });
      const { own: capture, voidOf } = ownAndBusinessCenterVoid('op-capture-1', 'ics_bill', '102.21');
      const search = (...summaries: object[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const asked = ctx('capture', {}, 'op-capture-1');
      // Its void listed (a successful ics_void), or named VOIDED by its status, or the capture's own status VOIDED.
      const statusVoided = { ...voidOf, status: 'VOIDED', applicationInformation: undefined };
      const captureVoided = { ...capture, status: 'VOIDED' };
      for (const res of [search(voidOf, capture), search(statusVoided, capture), search(captureVoided), search(voidOf)]) {
        const outcome = t.parseStatusResponse(asked, res, gateway);
        expect(outcome).toMatchObject({ status: 'FAIL', reason: 'CAPTURE_ALREADY_VOIDED', amount: 10221, currency: 'USD' });
        expect(outcome?.gatewayStatus).toMatch(/voided/);
        expect(outcome?.decline?.category).toBe('operation_not_permitted');
      }
      // Dated by the void: the PSP's time of what undid it.
      expect(t.parseStatusResponse(asked, search(voidOf, capture), gateway)?.occurredAt).toBe(Date.parse('2026-11-22T11:00:00Z'));
      // A void refused (rCode 0) undid nothing; one older than the capture voided an earlier attempt: the capture stands.
      const refused = { ...voidOf, applicationInformation: { rCode: '0', reasonCode: '246', applications: [{ name: 'ics_void', rCode: '0' }] } };
      const earlier = { ...voidOf, submitTimeUtc: '2026-11-22T09:00:00Z' };
      expect(t.parseStatusResponse(asked, search(refused, capture), gateway)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'PENDING' });
      expect(t.parseStatusResponse(asked, search(capture, earlier), gateway)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'PENDING' });
      expect(await metricValue('pb_cybersource_inquiry_voided_total', { gateway: gateway.name })).toBe(before + 5);
    });

    it('reads a refund of ours voided after it under its merchant reference (a Business Center void) as its FAIL, dated by the void, never as its success', async () => {
      const before = await metricValue('pb_cybersource_inquiry_voided_total', { gateway: gateway.name });
      const { own: refund, voidOf } = ownAndBusinessCenterVoid('op-refund-1', 'ics_credit', '40.00');
      const search = (...summaries: object[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const asked = ctx('refund', {}, 'op-refund-1');
      const statusVoided = { ...voidOf, status: 'VOIDED', applicationInformation: undefined };
      const refundVoided = { ...refund, status: 'VOIDED' };
      for (const res of [search(voidOf, refund), search(statusVoided, refund), search(refundVoided), search(voidOf)]) {
        const outcome = t.parseStatusResponse(asked, res, gateway);
        expect(outcome).toMatchObject({ status: 'FAIL', reason: 'REFUND_VOIDED', amount: 4000, currency: 'USD' });
        expect(outcome?.gatewayStatus).toMatch(/voided/);
        expect(outcome?.decline?.category).toBe('operation_not_permitted');
      }
      expect(t.parseStatusResponse(asked, search(voidOf, refund), gateway)?.occurredAt).toBe(Date.parse('2026-11-22T11:00:00Z'));
      // A void refused (rCode 0) undid nothing; one older than the refund voided an earlier attempt: the refund stands.
      const refused = { ...voidOf, applicationInformation: { rCode: '0', reasonCode: '246', applications: [{ name: 'ics_void', rCode: '0' }] } };
      const earlier = { ...voidOf, submitTimeUtc: '2026-11-22T09:00:00Z' };
      expect(t.parseStatusResponse(asked, search(refused, refund), gateway)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'PENDING' });
      expect(t.parseStatusResponse(asked, search(refund, earlier), gateway)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'PENDING' });
      expect(t.parseStatusResponse(asked, search(refund), gateway)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'PENDING' });
      expect(await metricValue('pb_cybersource_inquiry_voided_total', { gateway: gateway.name })).toBe(before + 5);
    });

    describe('a capture or refund resent after its first answer was lost', () => {
      const search = (...summaries: object[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      // The resend refused (rCode 0, e.g. 235 EXCEEDS_AUTH_AMOUNT: the first capture used the authorization), 20 minutes later.
      const refusedResend = (own: Record<string, unknown>, application: string) => ({
        ...own,
        id: 'RESENT',
        submitTimeUtc: '2026-11-22T10:20:00Z',
        status: undefined,
        applicationInformation: { rCode: '0', rFlag: 'DINVALIDDATA', reasonCode: '235', applications: [{ name: application, rCode: '0' }] },
      });
      const cases = [
        { command: 'capture' as const, code: 'op-capture-1', application: 'ics_bill', total: '102.21', amount: 10221, voidedReason: 'CAPTURE_ALREADY_VOIDED' },
        { command: 'refund' as const, code: 'op-refund-1', application: 'ics_credit', total: '40.00', amount: 4000, voidedReason: 'REFUND_VOIDED' },
      ];

      it.each(cases)(
        'reads an earlier successful $command as its SUCCESS, never hidden by a newer refused resend',
        ({ command, code, application, total, amount }) => {
          const { own } = ownAndBusinessCenterVoid(code, application, total);
          const outcome = t.parseStatusResponse(ctx(command, {}, code), search(refusedResend(own, application), own), gateway);
          expect(outcome).toEqual({
            status: 'SUCCESS',
            gatewayStatus: 'PENDING',
            gatewayReference: PAYMENT_ID,
            amount,
            currency: 'USD',
            // When the success that decides happened, not the refusal after it.
            occurredAt: Date.parse('2026-11-22T10:00:00Z'),
          });
          // With no success among them, the newest refusal still decides.
          expect(t.parseStatusResponse(ctx(command, {}, code), search(refusedResend(own, application)), gateway)).toMatchObject({
            status: 'FAIL',
            gatewayReference: 'RESENT',
          });
        },
      );

      it.each(cases)(
        'reads a void made between an earlier successful $command and a newer refused resend as the $command voided',
        ({ command, code, application, total, voidedReason }) => {
          const { own, voidOf } = ownAndBusinessCenterVoid(code, application, total);
          const between = { ...voidOf, submitTimeUtc: '2026-11-22T10:10:00Z' };
          const outcome = t.parseStatusResponse(ctx(command, {}, code), search(refusedResend(own, application), between, own), gateway);
          expect(outcome).toMatchObject({ status: 'FAIL', reason: voidedReason, occurredAt: Date.parse('2026-11-22T10:10:00Z') });
          expect(outcome?.gatewayStatus).toMatch(/voided/);
        },
      );

      it.each(cases)(
        'says so when two attempts of a $command both succeeded (a double $command), decided by the newest, and counts it',
        async ({ command, code, application, total }) => {
          const labels = { gateway: gateway.name, command };
          const before = await metricValue('pb_cybersource_inquiry_double_successes_total', labels);
          const { own } = ownAndBusinessCenterVoid(code, application, total);
          const second = { ...own, id: NEW_AUTH_ID, submitTimeUtc: '2026-11-22T10:20:00Z' };
          const outcome = t.parseStatusResponse(ctx(command, {}, code), search(own, second), gateway);
          expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_AUTH_ID, gatewayStatus: `PENDING (2 ${command}s succeeded)` });
          expect(await metricValue('pb_cybersource_inquiry_double_successes_total', labels)).toBe(before + 1);
          // One success and a refused resend is no double.
          const single = t.parseStatusResponse(ctx(command, {}, code), search(own, refusedResend(own, application)), gateway);
          expect(single?.gatewayStatus).toBe('PENDING');
          expect(await metricValue('pb_cybersource_inquiry_double_successes_total', labels)).toBe(before + 1);
        },
      );

      it.each(cases)(
        'never reads a double $command as voided whole while fewer voids than successful attempts are listed (which one stands cannot be told: it waits)',
        ({ command, code, application, total, voidedReason }) => {
          const { own, voidOf } = ownAndBusinessCenterVoid(code, application, total);
          const second = { ...own, id: 'SECOND', submitTimeUtc: '2026-11-22T10:20:00Z' };
          // One void after both: it undid one of them, the other collected or gave back the money.
          const oneVoid = t.parseStatusResponse(ctx(command, {}, code), search(own, second, voidOf), gateway);
          expect(oneVoid?.status).toBe('PENDING');
          expect(oneVoid?.gatewayStatus).toMatch(/voided/);
          expect(oneVoid?.occurredAt).toBeUndefined();
          // The newer attempt itself shown VOIDED: the older one stands, never FAIL.
          const selfVoided = t.parseStatusResponse(ctx(command, {}, code), search(own, { ...second, status: 'VOIDED' }), gateway);
          expect(selfVoided).toMatchObject({ status: 'SUCCESS', gatewayReference: PAYMENT_ID });
          // As many voids as successful attempts, none older than the first: both undone.
          const twoVoids = t.parseStatusResponse(
            ctx(command, {}, code),
            search(own, second, voidOf, { ...voidOf, id: 'VOID2', submitTimeUtc: '2026-11-22T11:05:00Z' }),
            gateway,
          );
          expect(twoVoids).toMatchObject({ status: 'FAIL', reason: voidedReason });
        },
      );
    });

    it('reads an earlier cancel that succeeded (a reversal REVERSED, a void VOIDED) as its SUCCESS, never hidden by a newer refused resend', () => {
      const search = (...summaries: object[]) => response(201, { totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });
      const done = (status: string, application: string) => ({
        id: PAYMENT_ID,
        submitTimeUtc: '2026-11-22T10:00:00Z',
        status,
        clientReferenceInformation: { code: 'op-cancel-1' },
        applicationInformation: { rCode: '1', reasonCode: '100', applications: [{ name: application, rCode: '1' }] },
        orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
      });
      // The resend, 20 minutes later, refused (rCode 0): what it would undo was undone by the first.
      const refused = (application: string) => ({
        ...done('', application),
        id: 'RESENT',
        submitTimeUtc: '2026-11-22T10:20:00Z',
        status: undefined,
        applicationInformation: { rCode: '0', rFlag: 'DNOTVOIDABLE', reasonCode: '246', applications: [{ name: application, rCode: '0' }] },
      });
      const reversal = ctx('cancel');
      const voidOfCapture = { ...ctx('cancel'), voidOf: { command: 'capture' as const, operationId: 'op-capture-1' } };
      const voidOfSale = { ...ctx('cancel'), captured: { by: 'sale' as const } };
      const cases = [
        { asked: reversal, status: 'REVERSED', application: 'ics_auth_reversal' },
        { asked: voidOfCapture, status: 'VOIDED', application: 'ics_void' },
        { asked: voidOfSale, status: 'VOIDED', application: 'ics_void' },
      ];
      for (const { asked, status, application } of cases) {
        expect(t.parseStatusResponse(asked, search(refused(application), done(status, application)), gateway)).toMatchObject({
          status: 'SUCCESS',
          gatewayStatus: status,
          gatewayReference: PAYMENT_ID,
          occurredAt: Date.parse('2026-11-22T10:00:00Z'),
        });
        // With none done, the newest refusal still decides.
        expect(t.parseStatusResponse(asked, search(refused(application)), gateway)).toMatchObject({ status: 'FAIL', gatewayReference: 'RESENT' });
      }
    });

    it('falls back to the rCode of a summary without a status', () => {
      const res = response(201, {
        totalCount: 1,
        _embedded: {
          transactionSummaries: [
            {
              id: PAYMENT_ID,
              submitTimeUtc: '2026-11-22T10:05:00Z',
              clientReferenceInformation: { code: 'op-capture-1' },
              applicationInformation: { rCode: '-1', rFlag: 'ESYSTEM' },
            },
          ],
        },
      });
      expect(() => t.parseStatusResponse(ctx('capture'), res, gateway)).toThrow(expect.objectContaining({ kind: 'server_error' }));
    });

    const summaryWith = (applicationInformation: Record<string, unknown>, command = 'authorize'): ReturnType<typeof response> =>
      response(201, {
        totalCount: 1,
        _embedded: {
          transactionSummaries: [
            {
              id: PAYMENT_ID,
              submitTimeUtc: '2026-11-22T10:05:00Z',
              clientReferenceInformation: { code: `op-${command}-1` },
              applicationInformation,
              orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
            },
          ],
        },
      });

    it('keeps a transaction held for Decision Manager review (reason code 480) PENDING, whatever its rCode says', () => {
      const accepted = t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '1', reasonCode: '480', rFlag: 'DREVIEW' }), gateway);
      expect(accepted).toMatchObject({ status: 'PENDING', gatewayStatus: 'DREVIEW', gatewayReference: PAYMENT_ID });
      expect(t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', reasonCode: '480' }), gateway)?.status).toBe('PENDING');
    });

    it('reads a soft decline (200 DAVSNO, 230 DCV: approved, funds held) as the synchronous AUTHORIZED_PENDING_REVIEW, not a FAIL', () => {
      const avs = t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', reasonCode: '200', rFlag: 'DAVSNO' }), gateway);
      const cvn = t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', reasonCode: '230', rFlag: 'DCV' }), gateway);
      const sync = t.parseResponse(ctx('authorize'), response(201, { id: PAYMENT_ID, status: 'AUTHORIZED_PENDING_REVIEW' }), gateway);
      expect(sync.status).toBe('PENDING');
      expect(avs).toMatchObject({ status: sync.status, gatewayStatus: 'DAVSNO' });
      expect(avs?.reason).toBeUndefined();
      expect(cvn).toMatchObject({ status: sync.status, gatewayStatus: 'DCV' });
      // Named by the reply flag alone.
      expect(t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', rFlag: 'DAVSNO' }), gateway)?.status).toBe('PENDING');
    });

    it('still fails a hard decline by its rCode, with its reply flag as the reason', () => {
      const hard = t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', reasonCode: '203', rFlag: 'DCARDREFUSED' }), gateway);
      expect(hard).toMatchObject({ status: 'FAIL', reason: 'DCARDREFUSED' });
    });

    it('treats a 404 of the search as a retryable read error, never as the request never having landed', () => {
      const err = thrownBy(
        () => t.parseStatusResponse(ctx('refund'), response(404, { message: 'The requested resource does not exist' }), gateway),
        GatewayError,
      );
      expect(err).toMatchObject({ kind: 'server_error', retryable: true, details: { httpStatus: 404 } });
    });

    it('settles nothing from a summary of another merchant reference: only exact matches count, none is a miss', () => {
      const other = { ...(summary('AUTHORIZED', '2026-11-22T10:09:00Z', 'OTHER') as object), clientReferenceInformation: { code: 'op-refund-10' } };
      const prefix = { ...(summary('AUTHORIZED', '2026-11-22T10:09:00Z', 'PREFIX') as object), clientReferenceInformation: { code: 'op-refund-1 ' } };
      const onlyOthers = response(201, { totalCount: 2, _embedded: { transactionSummaries: [other, prefix] } });
      expect(t.parseStatusResponse(ctx('refund'), onlyOthers, gateway)).toBeNull();
      // Newer than ours, another reference: ours still decides.
      const ours = { ...(summary('DECLINED', '2026-11-22T10:00:00Z') as object), clientReferenceInformation: { code: 'op-refund-1' } };
      const mixed = response(201, { totalCount: 2, _embedded: { transactionSummaries: [other, ours] } });
      expect(t.parseStatusResponse(ctx('refund'), mixed, gateway)).toMatchObject({ status: 'FAIL', gatewayReference: PAYMENT_ID });
    });

    it('matches the digested merchant reference of an operation id longer than 50 characters', () => {
      const longId = `op-${'x'.repeat(60)}`;
      const found = { ...(summary('AUTHORIZED', '2026-11-22T10:00:00Z') as object), clientReferenceInformation: { code: merchantReference(longId) } };
      const res = response(201, { totalCount: 1, _embedded: { transactionSummaries: [found] } });
      expect(t.parseStatusResponse(ctx('authorize', {}, longId), res, gateway)?.status).toBe('SUCCESS');
    });

    it('says the funds are still held when the search finds the authorization AUTHORIZED_RISK_DECLINED', () => {
      const res = response(201, { totalCount: 1, _embedded: { transactionSummaries: [summary('AUTHORIZED_RISK_DECLINED', '2026-11-22T10:05:00Z')] } });
      expect(t.parseStatusResponse(ctx('authorize'), res, gateway)).toMatchObject({ status: 'FAIL', fundsHeld: 'risk_declined', gatewayReference: PAYMENT_ID });
    });

    it('says the funds are still held when an earlier attempt was AUTHORIZED_RISK_DECLINED and a newer resend DECLINED: the hold to release is the earlier one', () => {
      const res = response(201, {
        totalCount: 2,
        _embedded: {
          transactionSummaries: [summary('DECLINED', '2026-11-22T10:20:00Z', 'RESENT'), summary('AUTHORIZED_RISK_DECLINED', '2026-11-22T10:00:00Z')],
        },
      });
      // FAIL either way; without fundsHeld (and the held authorization's id) orphan reversal never releases the earlier hold.
      expect(t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), res, gateway)).toMatchObject({
        status: 'FAIL',
        fundsHeld: 'risk_declined',
        gatewayReference: PAYMENT_ID,
      });
      // A newer attempt that cannot be read (rCode -1) may be anything: never a FAIL over it, asked again as before.
      const erred = response(201, {
        totalCount: 2,
        _embedded: {
          transactionSummaries: [
            {
              id: 'ERRED',
              submitTimeUtc: '2026-11-22T10:20:00Z',
              clientReferenceInformation: { code: 'op-authorize-1' },
              applicationInformation: { rCode: '-1', rFlag: 'ESYSTEM' },
            },
            summary('AUTHORIZED_RISK_DECLINED', '2026-11-22T10:00:00Z'),
          ],
        },
      });
      expect(() => t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), erred, gateway)).toThrow(GatewayError);
      // Two plain refusals still read the newest, holding nothing.
      const refused = response(201, {
        totalCount: 2,
        _embedded: { transactionSummaries: [summary('DECLINED', '2026-11-22T10:20:00Z', 'RESENT'), summary('DECLINED', '2026-11-22T10:00:00Z')] },
      });
      const outcome = t.parseStatusResponse(ctx('authorize', {}, 'op-authorize-1'), refused, gateway);
      expect(outcome).toMatchObject({ status: 'FAIL', gatewayReference: 'RESENT' });
      expect(outcome?.fundsHeld).toBeUndefined();
    });

    it('says the funds are still held when Decision Manager rejected (481 DREJECT) an authorization its ics_auth made', () => {
      const apps = (auth: string) => [
        { name: 'ics_auth', rCode: auth, rFlag: auth === '1' ? 'SOK' : 'DCARDREFUSED' },
        { name: 'ics_decision', rCode: '0', rFlag: 'DREJECT', reasonCode: '481' },
      ];
      for (const command of ['authorize', 'sale'] as const) {
        const authorized = summaryWith({ rCode: '0', reasonCode: '481', rFlag: 'DREJECT', applications: apps('1') }, command);
        expect(t.parseStatusResponse(ctx(command), authorized, gateway)).toMatchObject({ status: 'FAIL', reason: 'DREJECT', fundsHeld: 'risk_declined' });
      }
      // Named by the reply flag alone.
      const byFlag = summaryWith({ rCode: '0', rFlag: 'DREJECT', applications: apps('1') });
      expect(t.parseStatusResponse(ctx('authorize'), byFlag, gateway)?.fundsHeld).toBe('risk_declined');
    });

    it('holds nothing when the rejected transaction shows no authorization made, and takes the hold to stand when it lists no services', () => {
      const declined = [
        { name: 'ics_auth', rCode: '0', rFlag: 'DCARDREFUSED' },
        { name: 'ics_decision', rCode: '0', rFlag: 'DREJECT' },
      ];
      const beforeAuth = [{ name: 'ics_decision', rCode: '0', rFlag: 'DREJECT' }];
      for (const applications of [declined, beforeAuth]) {
        const res = summaryWith({ rCode: '0', reasonCode: '481', rFlag: 'DREJECT', applications });
        const outcome = t.parseStatusResponse(ctx('authorize'), res, gateway);
        expect(outcome).toMatchObject({ status: 'FAIL', reason: 'DREJECT' });
        expect(outcome?.fundsHeld).toBeUndefined();
      }
      // Nothing says whether an authorization was made: a reversal that is refused costs nothing, a hold left stands for days.
      expect(t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', reasonCode: '481', rFlag: 'DREJECT' }), gateway)?.fundsHeld).toBe(
        'risk_declined',
      );
      // Not an authorization's operation: no hold of its own.
      const capture = t.parseStatusResponse(ctx('capture'), summaryWith({ rCode: '0', reasonCode: '481' }, 'capture'), gateway);
      expect(capture).toMatchObject({ status: 'FAIL' });
      expect(capture?.fundsHeld).toBeUndefined();
      // Another decline is no risk reject.
      expect(
        t.parseStatusResponse(ctx('authorize'), summaryWith({ rCode: '0', reasonCode: '203', rFlag: 'DCARDREFUSED' }), gateway)?.fundsHeld,
      ).toBeUndefined();
    });

    it('throws the classified error when the search itself fails', () => {
      expect(() => t.parseStatusResponse(ctx('capture'), response(502, { status: 'SERVER_ERROR', reason: 'SYSTEM_ERROR' }), gateway)).toThrow(
        expect.objectContaining({ kind: 'server_error' }),
      );
    });
  });
});
